"""marshmallow schemas of bank statements and their lines: input (``…Args``) and output.
Amounts in integer cents; the counterparty's IBAN only masked."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates

from nvsi.crypto import mask
from nvsi.payments.bank_models import LineStatus
from nvsi.schemas import Args, OptionalText, PageArgs


class LineListArgs(PageArgs):
    """Filters of the line list: a status (``unmatched``: the review queue), a statement."""

    status = OptionalText(load_default=None)
    statement_id = fields.Integer(load_default=None, allow_none=True)

    @validates("status")
    def _status(self, value, **kwargs):
        if value is not None and value not in {s.value for s in LineStatus}:
            raise ValidationError(str(_l("Kies een status: %(choices)s.",
                                         choices=", ".join(s.value for s in LineStatus))))


class MatchArgs(Args):
    """A manual match: the municipality (slug) and the number of its invoice."""

    tenant = fields.String(required=True, metadata={"description": "The municipality's slug"})
    invoice_number = fields.String(required=True, metadata={"description": "e.g. GM0344-F2026-000123"})
    note = OptionalText(load_default=None, metadata={"description": "Why (optional, kept with the line)"})


class IgnoreArgs(Args):
    """Setting a line aside: why (required)."""

    note = fields.String(required=True, metadata={"description": "Not ours, or handled elsewhere: why"})


class BankLineSchema(Schema):
    """One statement line with where it stands."""

    id = fields.Integer()
    statement_id = fields.Integer()
    position = fields.Integer()
    entry_key = fields.String()
    end_to_end_id = fields.String(allow_none=True)
    payment_info_id = fields.String(allow_none=True)
    direction = fields.Function(lambda line: line.direction.value)
    reversal = fields.Boolean()
    amount_cents = fields.Integer()
    currency = fields.String()
    booking_date = fields.Date()
    value_date = fields.Date(allow_none=True)
    bank_transaction_code = fields.String(allow_none=True)
    return_reason = fields.String(allow_none=True)
    counterparty_name = fields.String(allow_none=True)
    counterparty_iban = fields.Function(lambda line: mask(line.counterparty_iban, 4) or None,
                                        metadata={"description": "Masked: only the last four characters"})
    remittance_info = fields.String(allow_none=True)
    creditor_reference = fields.String(allow_none=True)
    status = fields.Function(lambda line: line.status.value)
    review_reason = fields.String(allow_none=True)
    match_kind = fields.Function(lambda line: line.match_kind.value if line.match_kind else None)
    tenant_id = fields.Integer(allow_none=True)
    invoice_id = fields.Integer(allow_none=True)
    invoice_number = fields.String(allow_none=True)
    payment_ref = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by_user_id = fields.Integer(allow_none=True)


class BankStatementSchema(Schema):
    """A statement's header and totals."""

    id = fields.Integer()
    statement_ref = fields.String()
    sequence_number = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    account_iban = fields.String()
    issued_on = fields.Date(allow_none=True)
    first_booking_date = fields.Date(allow_none=True)
    last_booking_date = fields.Date(allow_none=True)
    opening_balance_cents = fields.Integer(allow_none=True)
    closing_balance_cents = fields.Integer(allow_none=True)
    file_name = fields.String()
    file_sha256 = fields.String()
    line_count = fields.Integer()
    credit_cents = fields.Integer()
    debit_cents = fields.Integer()
    imported_at = fields.DateTime()


class BankStatementDetailSchema(BankStatementSchema):
    """A statement with its lines."""

    lines = fields.List(fields.Nested(BankLineSchema))


class BankStatementPageSchema(Schema):
    """A page of statements."""

    items = fields.List(fields.Nested(BankStatementSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class BankLinePageSchema(Schema):
    """A page of statement lines."""

    items = fields.List(fields.Nested(BankLineSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class MatchSummarySchema(Schema):
    """What matching did."""

    matched = fields.Integer()
    unmatched = fields.Integer()
    stripe_payouts = fields.Integer()
    payouts = fields.Integer()


class ImportResultSchema(Schema):
    """The answer to an upload: the statements, whether they were read before, what matching did."""

    already_imported = fields.Boolean()
    message = fields.String()
    file_sha256 = fields.String()
    statements = fields.List(fields.Nested(BankStatementSchema))
    matching = fields.Nested(MatchSummarySchema)
