"""marshmallow schemas of premium payouts: input (``…Args``) and output. Amounts in integer
cents; IBANs only masked (the file itself is the one place with whole IBANs)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates

from nvsi.payouts.models import BatchStatus, ItemStatus
from nvsi.payouts.moments import InvalidMoment, Moment
from nvsi.schemas import Args, OptionalText


class MomentField(fields.Field):
    """A payment moment written as ``2026-H1`` (30 June) or ``2026-H2`` (31 December)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return Moment.parse(value if isinstance(value, str) else "")
        except InvalidMoment:
            raise ValidationError([str(_l("Geen geldig betaalmoment; gebruik bijvoorbeeld 2026-H1 (30 juni) "
                                          "of 2026-H2 (31 december)."))]) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class OptionalDate(fields.Date):
    """A date (YYYY-MM-DD) where an empty string means "not given"."""

    default_error_messages = {"invalid": _l("Geen geldige datum; gebruik JJJJ-MM-DD, bijvoorbeeld 2026-07-01.")}

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class GenerateArgs(Args):
    """Which moment to generate (or preview), and the requested execution date (default: the
    moment, or today when it has passed, on a weekday)."""

    moment = MomentField(required=True, metadata={"description": "e.g. 2026-H1", "example": "2026-H1"})
    execution_date = OptionalDate(load_default=None, allow_none=True)


class ConfirmArgs(Args):
    """Confirm by hand: the day the bank paid (default: today)."""

    booked_on = OptionalDate(load_default=None, allow_none=True)


class RejectArgs(Args):
    """Reject by hand: the bank's return reason code (optional), a note (required) and the day."""

    reason = OptionalText(load_default=None, allow_none=True,
                          metadata={"description": "ISO 20022 return reason, e.g. AC04 (account closed)"})
    note = fields.String(required=True)
    booked_on = OptionalDate(load_default=None, allow_none=True)

    @validates("reason")
    def _reason(self, value, **_kwargs):
        if value is not None and not re.fullmatch(r"[A-Z0-9]{4}", value):
            raise ValidationError(str(_l("Een redencode heeft vier hoofdletters of cijfers, bijvoorbeeld AC04.")))


class ItemListArgs(Args):
    """Narrow a batch's items to one municipality (slug) and/or one status."""

    tenant = OptionalText(load_default=None, allow_none=True)
    status = OptionalText(load_default=None, allow_none=True)

    @validates("status")
    def _status(self, value, **_kwargs):
        if value is not None and value not in {s.value for s in ItemStatus}:
            raise ValidationError(str(_l("Onbekende status.")))


class BatchSchema(Schema):
    """A payout batch (one payment moment)."""

    id = fields.Integer()
    moment = fields.String(metadata={"example": "2026-H1"})
    moment_date = fields.Date()
    execution_date = fields.Date()
    status = fields.Function(lambda b: b.status.value,
                             metadata={"enum": [s.value for s in BatchStatus]})
    message_id = fields.String()
    payment_info_id = fields.String(metadata={"description": "PmtInfId: a batch-booked debit carries it"})
    item_count = fields.Integer(metadata={"description": "Payments in the file"})
    total_cents = fields.Integer()
    skipped_count = fields.Integer(metadata={"description": "Candidates left out (IBAN missing or invalid)"})
    debtor_name = fields.String()
    debtor_iban = fields.String(metadata={"description": "The NVSI account paid from"})
    file_sha256 = fields.String()
    generated_on = fields.Date()
    created_by_user_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
    settled_at = fields.AwareDateTime(allow_none=True)


class ItemSchema(Schema):
    """One candidate's payment in a batch (IBAN masked)."""

    id = fields.Integer()
    batch_id = fields.Integer()
    moment = fields.Function(lambda i: i.batch.moment)
    tenant = fields.Function(lambda i: i.tenant.slug, metadata={"description": "The municipality's slug"})
    candidate_id = fields.Integer()
    creditor_name = fields.String()
    iban_masked = fields.String()
    amount_cents = fields.Integer()
    status = fields.Function(lambda i: i.status.value, metadata={"enum": [s.value for s in ItemStatus]})
    end_to_end_id = fields.String(allow_none=True)
    skip_reason = fields.String(allow_none=True, metadata={"enum": ["iban_missing", "iban_invalid",
                                                                    "iban_outside_sepa"]})
    confirmed_on = fields.Date(allow_none=True)
    voided_on = fields.Date(allow_none=True)
    return_reason = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class BatchDetailSchema(BatchSchema):
    """A batch with its items."""

    items = fields.List(fields.Nested(ItemSchema))


class BatchListSchema(Schema):
    """Batches, newest moment first."""

    items = fields.List(fields.Nested(BatchSchema))


class RefusalSchema(Schema):
    """A reason the batch cannot be generated (now)."""

    code = fields.String()
    field = fields.String(allow_none=True)
    message = fields.String()


class PlannedItemSchema(Schema):
    """A payment (or a candidate to skip) a generation would make."""

    tenant = fields.Function(lambda i: i.tenant.slug)
    candidate_id = fields.Integer()
    name = fields.String()
    iban_masked = fields.String()
    amount_cents = fields.Integer()
    skip_reason = fields.String(allow_none=True)


class TenantTotalSchema(Schema):
    """A municipality's share of the batch."""

    tenant = fields.Function(lambda t: t.tenant.slug)
    count = fields.Integer()
    cents = fields.Integer()
    skipped = fields.Integer()


class PlanSchema(Schema):
    """What generating the moment's batch would do now (nothing written)."""

    moment = MomentField()
    execution_date = fields.Date()
    generatable = fields.Function(lambda p: p.batch_id is None and not p.refusals)
    batch_id = fields.Integer(allow_none=True, metadata={"description": "The moment's batch, when generated before"})
    item_count = fields.Function(lambda p: len(p.items))
    total_cents = fields.Integer()
    tenants = fields.Function(lambda p: TenantTotalSchema(many=True).dump(p.by_tenant))
    skipped = fields.List(fields.Nested(PlannedItemSchema))
    refusals = fields.Function(lambda p: [v.as_dict() for v in p.refusals])


class TenantPayoutsSchema(Schema):
    """A municipality's payouts: paid, pending, rejected and skipped."""

    items = fields.List(fields.Nested(ItemSchema))
    unpayable = fields.List(fields.Nested(PlannedItemSchema),
                            metadata={"description": "Owed now, but the IBAN is missing or invalid"})
