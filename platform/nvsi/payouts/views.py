"""Premium payouts for NVSI administrators and the backoffice: the batches ``/admin/payouts``,
generating one with a preview, a batch's items (IBANs masked), the pain.001 download (audited)
and confirming or rejecting payments by hand; the same through ``/api/v1/payouts``. A
municipality sees its own candidates' payouts at ``/g/<slug>/premiums/payouts`` (and
``/api/v1/g/<slug>/premiums/payouts``), registered on the tenant blueprints.

Generating reads every municipality, so it runs in sessions of its own (see
:func:`nvsi.payouts.services.generate`) after the request's session is closed: on SQLite a writer
waits for every reader, this request's included.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.payouts import moments, services
from nvsi.payouts.models import BatchStatus, ItemStatus, PayoutBatch, PayoutItem
from nvsi.payouts.schemas import (
    BatchDetailSchema,
    BatchListSchema,
    BatchSchema,
    ConfirmArgs,
    GenerateArgs,
    ItemListArgs,
    ItemSchema,
    PlanSchema,
    RejectArgs,
    TenantPayoutsSchema,
)
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors
from nvsi.tenancy.services import get_tenant

bp = Blueprint("payouts", __name__)

ROLES = (Role.NVSI_ADMIN, Role.BACKOFFICE)


def _today() -> dt.date:
    return dt.date.today()


def _private(response):
    """Pages and files that name candidates: no browser or proxy keeps a copy."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def batch_status_label(status: BatchStatus) -> str:
    """A batch's status in the user's language."""
    return {
        BatchStatus.GENERATED: _("aangemaakt"), BatchStatus.SENT: _("aangeboden aan de bank"),
        BatchStatus.CONFIRMED: _("betaald"), BatchStatus.PARTLY_REJECTED: _("deels geweigerd"),
        BatchStatus.REJECTED: _("geweigerd"),
    }[status]


def item_status_label(status: ItemStatus) -> str:
    """A payment's status in the user's language."""
    return {
        ItemStatus.PENDING: _("wacht op de bank"), ItemStatus.CONFIRMED: _("betaald"),
        ItemStatus.REJECTED: _("geweigerd door de bank"), ItemStatus.RETURNED: _("teruggeboekt"),
        ItemStatus.SKIPPED: _("overgeslagen"),
    }[status]


def reason_options() -> list[tuple[str, str]]:
    """The return reasons a person picks from (ISO 20022 codes)."""
    labels = {
        "AC01": _("rekeningnummer onjuist"), "AC04": _("rekening opgeheven"), "AC06": _("rekening geblokkeerd"),
        "AG01": _("transactie niet toegestaan op deze rekening"), "AM05": _("dubbele betaling"),
        "BE04": _("adres van de begunstigde ontbreekt"), "MD07": _("rekeninghouder overleden"),
        "MS02": _("reden niet opgegeven door de begunstigde"), "MS03": _("reden niet opgegeven door de bank"),
        "RC01": _("BIC onjuist"), "RR01": _("regelgeving"),
    }
    return [("", _("Geen code of onbekend"))] + [(code, f"{code}: {labels[code]}") for code in services.RETURN_REASONS]


@bp.app_context_processor
def _labels():
    return {"batch_status_label": batch_status_label, "item_status_label": item_status_label,
            "skip_reason_label": services.skip_reason_label}


def _tenant_id(slug: str | None) -> int | None:
    if not slug:
        return None
    found = get_tenant(db.session, slug)
    if found is None:
        raise ValidationError({"tenant": [_("Onbekende gemeente.")]})
    return found.id


def _item_filter(args: dict) -> dict:
    return {"tenant_id": _tenant_id(args.get("tenant")),
            "status": ItemStatus(args["status"]) if args.get("status") else None}


def _generate(args: dict):
    """Generate the batch of ``args``; :class:`services.PayoutRefused` when refused."""
    user_id = current_user.id
    db.session.close()  # generating writes from sessions of its own
    return services.generate(db, args["moment"], args["execution_date"], user_id, today=_today())


# -- API -----------------------------------------------------------------------------------------


@bp.get("/api/v1/payouts")
@roles_required(*ROLES)
def api_list_batches():
    """Premium payout batches, newest moment first.
    ---
    get:
      tags: [payouts]
      summary: List premium payout batches (NVSI administrators, backoffice)
      responses:
        200:
          description: OK
          content: {application/json: {schema: BatchListSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
    """
    return BatchListSchema().dump({"items": services.list_batches(db.session)})


@bp.get("/api/v1/payouts/preview")
@roles_required(*ROLES)
def api_preview_batch():
    """What generating a payment moment's batch would pay now (nothing is written).
    ---
    get:
      tags: [payouts]
      summary: Preview a premium payout batch (NVSI administrators, backoffice)
      description: >
        Per municipality the payments and their total, the candidates that would be skipped
        (IBAN missing or invalid) and the reasons it cannot be generated (refusals: not a payment
        moment of the rule set, not reached yet, execution date, the NVSI account, nothing to pay).
        A moment generated before answers with its batch_id.
      parameters:
      - {in: query, name: moment, required: true, schema: {type: string, example: 2026-H1}}
      - {in: query, name: execution_date, schema: {type: string, format: date}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: PlanSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = GenerateArgs().load(request.args.to_dict())
    db.session.close()
    plan = services.preview(db, args["moment"], args["execution_date"], today=_today())
    return _private(PlanSchema().dump(plan))


@bp.post("/api/v1/payouts")
@roles_required(*ROLES)
def api_generate_batch():
    """Generate the premium payout batch of a payment moment.
    ---
    post:
      tags: [payouts]
      summary: Generate a premium payout batch (NVSI administrators, backoffice)
      description: >
        Over every municipality: each candidate's premium accrued up to the moment, less what
        was paid or is pending, to an IBAN validated with schwifty (others are skipped and listed),
        in one pain.001.001.03 file; booked as pending (premiums payable to premiums in payment).
        One batch per moment: a moment generated before answers 200 with that batch. Refused with
        422 (each reason in errors) when the moment is not a payment moment of the rule set or not
        reached yet, the execution date is in the past or more than 30 days ahead, the NVSI account
        is not set up, or nobody is to be paid.
      requestBody: {required: true, content: {application/json: {schema: GenerateArgs}}}
      responses:
        200:
          description: Generated before
          content: {application/json: {schema: BatchSchema}}
        201:
          description: Generated now
          content: {application/json: {schema: BatchSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    from nvsi.api import json_body

    args = GenerateArgs().load(json_body())
    result = _generate(args)
    body = BatchSchema().dump(services.get_batch(db.session, result.batch_id))
    location = url_for("payouts.api_get_batch", batch_id=result.batch_id)
    return body, 201 if result.created else 200, {"Location": location}


@bp.get("/api/v1/payouts/<int:batch_id>")
@roles_required(*ROLES)
def api_get_batch(batch_id: int):
    """A batch with its items (names, masked IBANs, amounts, statuses, skipped reasons).
    ---
    get:
      tags: [payouts]
      summary: Get a premium payout batch (NVSI administrators, backoffice)
      parameters:
      - {in: query, name: tenant, schema: {type: string}, description: "Only this municipality's items (slug)"}
      - {in: query, name: status, schema: {type: string, enum: [pending, confirmed, rejected, returned, skipped]}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: BatchDetailSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    batch = services.get_batch(db.session, batch_id)
    args = ItemListArgs().load(request.args.to_dict())
    items = services.batch_items(db.session, batch, **_item_filter(args))
    body = BatchDetailSchema().dump(batch)
    body["items"] = ItemSchema(many=True).dump(items)
    return _private(body)


@bp.get("/api/v1/payouts/<int:batch_id>/file")
@roles_required(*ROLES)
def api_download_file(batch_id: int):
    """The batch's SEPA credit-transfer file (pain.001.001.03) to upload to the bank; every
    download is recorded in the audit log.
    ---
    get:
      tags: [payouts]
      summary: Download the pain.001 file (NVSI administrators, backoffice)
      responses:
        200:
          description: The XML file (its SHA-256 is the batch's file_sha256)
          content: {application/xml: {schema: {type: string}}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return _file_response(batch_id)


@bp.post("/api/v1/payouts/<int:batch_id>/sent")
@roles_required(*ROLES)
def api_mark_sent(batch_id: int):
    """Record that the file was handed to the bank (idempotent).
    ---
    post:
      tags: [payouts]
      summary: Mark a batch as sent to the bank (NVSI administrators, backoffice)
      responses:
        200:
          description: Marked
          content: {application/json: {schema: BatchSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
    """
    batch = services.mark_sent(db.session, services.get_batch(db.session, batch_id), current_user.id)
    body = BatchSchema().dump(batch)
    db.session.commit()
    return body


@bp.post("/api/v1/payouts/<int:batch_id>/confirm")
@roles_required(*ROLES)
def api_confirm_batch(batch_id: int):
    """Confirm every pending payment of the batch as paid (the bank debited the batch), when the
    bank statement import does not; booked on ``booked_on`` (default today).
    ---
    post:
      tags: [payouts]
      summary: Confirm a batch's pending payments (NVSI administrators, backoffice)
      requestBody: {content: {application/json: {schema: ConfirmArgs}}}
      responses:
        200:
          description: Confirmed
          content: {application/json: {schema: BatchSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    from nvsi.api import json_body

    batch = services.get_batch(db.session, batch_id)
    args = ConfirmArgs().load(json_body() if request.content_length else {})
    services.confirm_batch_by_hand(db.session, batch, args["booked_on"], current_user.id, today=_today())
    body = BatchSchema().dump(batch)
    db.session.commit()
    return body


@bp.post("/api/v1/payouts/items/<int:item_id>/confirm")
@roles_required(*ROLES)
def api_confirm_item(item_id: int):
    """Confirm one pending payment as paid (booked on ``booked_on``, default today).
    ---
    post:
      tags: [payouts]
      summary: Confirm a payment by hand (NVSI administrators, backoffice)
      requestBody: {content: {application/json: {schema: ConfirmArgs}}}
      responses:
        200:
          description: Confirmed
          content: {application/json: {schema: ItemSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    from nvsi.api import json_body

    item = services.get_item(db.session, item_id)
    args = ConfirmArgs().load(json_body() if request.content_length else {})
    services.confirm_by_hand(db.session, item, args["booked_on"], current_user.id, today=_today())
    body = ItemSchema().dump(item)
    db.session.commit()
    return body


@bp.post("/api/v1/payouts/items/<int:item_id>/reject")
@roles_required(*ROLES)
def api_reject_item(item_id: int):
    """Record that the bank refused (pending) or returned (paid) a payment; the amount is payable
    again at the next moment.
    ---
    post:
      tags: [payouts]
      summary: Reject a payment by hand (NVSI administrators, backoffice)
      requestBody: {required: true, content: {application/json: {schema: RejectArgs}}}
      responses:
        200:
          description: Rejected or returned
          content: {application/json: {schema: ItemSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    from nvsi.api import json_body

    item = services.get_item(db.session, item_id)
    args = RejectArgs().load(json_body())
    services.reject_by_hand(db.session, item, args["booked_on"], args["reason"], args["note"], current_user.id,
                            today=_today())
    body = ItemSchema().dump(item)
    db.session.commit()
    return body


# -- pages ---------------------------------------------------------------------------------------


def _index_page(form: dict, errors: dict, status: int = 200):
    today = _today()
    return _private((render_template(
        "payouts/index.html", batches=services.list_batches(db.session), form=form, errors=errors,
        moment_days=moments.moment_days(db.session, today.year), due=moments.due_moment(db.session, today),
    ), status))


@bp.get("/admin/payouts")
@roles_required(*ROLES)
def index():
    """The batches with their totals and status, and the form to preview the next one."""
    form = {"moment": "", "execution_date": ""}
    due = moments.due_moment(db.session, _today())
    if due is not None and services.batch_for_moment(db.session, due) is None:
        form["moment"] = due.label
    return _index_page(form, {})


def _preview_page(form: dict, plan: services.Plan, errors: dict | None = None):
    errors = errors if errors is not None else as_errors(plan.refusals)
    return _private((render_template("payouts/preview.html", form=form, plan=plan, errors=errors),
                     422 if plan.refusals else 200))


@bp.get("/admin/payouts/preview")
@roles_required(*ROLES)
def preview():
    """What generating the moment's batch would pay: per municipality, the skipped candidates and
    the reasons it cannot be generated yet; a button generates it."""
    form = {k: v for k, v in request.args.to_dict().items() if k in ("moment", "execution_date")}
    try:
        args = GenerateArgs().load(form)
    except ValidationError as exc:
        return _index_page(form, ordered_errors(exc.messages, GenerateArgs()), 422)
    db.session.close()  # the preview reads every municipality in sessions of its own
    plan = services.preview(db, args["moment"], args["execution_date"], today=_today())
    if plan.batch_id is not None:
        flash(_("De batch van %(moment)s is al aangemaakt.", moment=plan.moment.label), "info")
        return redirect(url_for("payouts.batch", batch_id=plan.batch_id))
    form.setdefault("execution_date", "")
    return _preview_page(form, plan)


@bp.post("/admin/payouts")
@roles_required(*ROLES)
def generate():
    """Generate the batch (the button on the preview); refused: the preview with the reasons."""
    form = {k: v for k, v in request.form.to_dict().items() if k in ("moment", "execution_date")}
    try:
        args = GenerateArgs().load(form)
    except ValidationError as exc:
        return _index_page(form, ordered_errors(exc.messages, GenerateArgs()), 422)
    try:
        result = _generate(args)
    except services.PayoutRefused:
        plan = services.preview(db, args["moment"], args["execution_date"], today=_today())
        return _preview_page(form, plan)
    if result.created:
        flash(_("De batch van %(moment)s is aangemaakt: %(count)s betalingen. Download het bestand en bied het aan "
                "bij de bank.", moment=result.moment.label, count=result.item_count), "success")
    else:
        flash(_("De batch van %(moment)s was al aangemaakt; er is niets veranderd.", moment=result.moment.label), "info")
    return redirect(url_for("payouts.batch", batch_id=result.batch_id))


def _batch_page(batch: PayoutBatch, form: dict | None = None, errors: dict | None = None, status: int = 200):
    try:
        args = ItemListArgs().load({k: v for k, v in request.args.to_dict().items() if k in ("tenant", "status")})
        filters, filter_errors = _item_filter(args), {}
    except ValidationError as exc:
        filters, filter_errors = {}, ordered_errors(exc.messages, ItemListArgs())
    items = services.batch_items(db.session, batch, **filters)
    tenants = sorted({i.tenant for i in services.batch_items(db.session, batch)}, key=lambda t: t.name)
    return _private((render_template(
        "payouts/batch.html", batch=batch, items=items, counts=services.status_counts(db.session, batch),
        tenants=tenants, filter_form=request.args, filter_errors=filter_errors, form=form or {},
        errors=errors or {}, ItemStatus=ItemStatus, today=_today(),
    ), 422 if (errors or filter_errors) else status))


@bp.get("/admin/payouts/<int:batch_id>")
@roles_required(*ROLES)
def batch(batch_id: int):
    """A batch: totals per status, its items (names, masked IBANs, amounts, status), the skipped
    candidates with the reason, the download and the confirmations."""
    return _batch_page(services.get_batch(db.session, batch_id))


def _file_response(batch_id: int):
    batch_row = services.get_batch(db.session, batch_id)
    data = services.download(db.session, batch_row, current_user.id)
    name = f"premies-{batch_row.moment}.xml"
    db.session.commit()
    response = make_response(data)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/admin/payouts/<int:batch_id>/file")
@roles_required(*ROLES)
def download_file(batch_id: int):
    """The pain.001 file (audited)."""
    return _file_response(batch_id)


@bp.post("/admin/payouts/<int:batch_id>/sent")
@roles_required(*ROLES)
def mark_sent(batch_id: int):
    """Record that the file was handed to the bank."""
    services.mark_sent(db.session, services.get_batch(db.session, batch_id), current_user.id)
    db.session.commit()
    flash(_("De batch is gemarkeerd als aangeboden aan de bank."), "success")
    return redirect(url_for("payouts.batch", batch_id=batch_id))


@bp.post("/admin/payouts/<int:batch_id>/confirm")
@roles_required(*ROLES)
def confirm_batch(batch_id: int):
    """Confirm every pending payment of the batch (the bank debited it)."""
    batch_row = services.get_batch(db.session, batch_id)
    form = {"booked_on": request.form.get("booked_on", "")}
    try:
        args = ConfirmArgs().load(form)
        done = services.confirm_batch_by_hand(db.session, batch_row, args["booked_on"], current_user.id,
                                              today=_today())
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, ConfirmArgs())
    except services.PayoutRefused as exc:
        errors = as_errors(exc.violations)
    else:
        db.session.commit()
        flash(_("%(count)s betalingen zijn bevestigd als betaald.", count=len(done)), "success")
        return redirect(url_for("payouts.batch", batch_id=batch_id))
    db.session.rollback()
    return _batch_page(services.get_batch(db.session, batch_id), form, errors)


def _item_page(item: PayoutItem, form: dict | None = None, errors: dict | None = None):
    return _private((render_template("payouts/item.html", item=item, form=form or {}, errors=errors or {},
                                     reasons=reason_options(), ItemStatus=ItemStatus),
                     422 if errors else 200))


@bp.get("/admin/payouts/items/<int:item_id>")
@roles_required(*ROLES)
def item(item_id: int):
    """One payment: its details, and the forms to confirm or reject it by hand."""
    return _item_page(services.get_item(db.session, item_id))


@bp.post("/admin/payouts/items/<int:item_id>/confirm")
@roles_required(*ROLES)
def confirm_item(item_id: int):
    """Confirm one payment by hand; on errors the page comes back with what was typed."""
    row = services.get_item(db.session, item_id)
    form = {"booked_on": request.form.get("booked_on", "")}
    try:
        args = ConfirmArgs().load(form)
        services.confirm_by_hand(db.session, row, args["booked_on"], current_user.id, today=_today())
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, ConfirmArgs())
    except services.PayoutRefused as exc:
        errors = as_errors(exc.violations)
    else:
        db.session.commit()
        flash(_("De betaling aan %(name)s is bevestigd.", name=row.creditor_name), "success")
        return redirect(url_for("payouts.batch", batch_id=row.batch_id))
    db.session.rollback()
    return _item_page(services.get_item(db.session, item_id), form, errors)


@bp.post("/admin/payouts/items/<int:item_id>/reject")
@roles_required(*ROLES)
def reject_item(item_id: int):
    """Reject (or mark returned) one payment by hand; on errors the page keeps what was typed."""
    row = services.get_item(db.session, item_id)
    form = {k: request.form.get(k, "") for k in ("reason", "note", "booked_on")}
    try:
        args = RejectArgs().load(form)
        services.reject_by_hand(db.session, row, args["booked_on"], args["reason"], args["note"], current_user.id,
                                today=_today())
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, RejectArgs())
    except services.PayoutRefused as exc:
        errors = ordered_errors(as_errors(exc.violations), RejectArgs())
    else:
        db.session.commit()
        flash(_("De betaling aan %(name)s is als geweigerd vastgelegd; het bedrag wordt bij het volgende "
                "betaalmoment opnieuw betaald.", name=row.creditor_name), "success")
        return redirect(url_for("payouts.batch", batch_id=row.batch_id))
    db.session.rollback()
    return _item_page(services.get_item(db.session, item_id), form, errors)


# -- the municipality's own payouts (tenant blueprints) ----------------------------------------


def _tenant_payouts() -> dict:
    return {"items": services.tenant_items(db.session, g.tenant.id),
            "unpayable": services.unpayable(db.session, g.tenant)}


def register_api(bp_api) -> None:
    """``GET /api/v1/g/<slug>/premiums/payouts``."""
    from tenants.candidates.views import CANDIDATE_ROLES, private

    @bp_api.get("/premiums/payouts")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_premium_payouts():
        """The municipality's premium payouts (paid, pending, rejected, skipped; IBANs masked) and
        the candidates who are owed premium but cannot be paid until their IBAN is fixed.
        ---
        get:
          tags: [payouts]
          summary: The municipality's premium payouts
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantPayoutsSchema}}
            403: {description: Not a role that works with candidates}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return TenantPayoutsSchema().dump(_tenant_payouts())


def register_pages(bp_pages) -> None:
    """``GET /g/<slug>/premiums/payouts``."""
    from tenants.candidates.views import CANDIDATE_ROLES, private

    @bp_pages.get("/premiums/payouts")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def premium_payouts():
        """The municipality's premium payouts per payment moment, and whose IBAN to fix."""
        today = _today()
        return render_template("payouts/tenant.html", moment_days=moments.moment_days(db.session, today.year),
                               **_tenant_payouts())
