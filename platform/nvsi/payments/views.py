"""Bank statements for the backoffice and NVSI administrators: upload a camt.053 file, the
statements with their lines, the review queue and matching a line by hand (``/admin/bank``);
the same through ``/api/v1/bank-statements`` and ``/api/v1/bank-lines``.

The work is in :mod:`nvsi.payments.bank`; these views load input, call it and show the result.
An upload is read only up to :data:`~nvsi.payments.bank.MAX_STATEMENT_BYTES` (then refused
with 413); a file that is not a readable statement gets 422 naming every problem.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body, page_size
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.crypto import mask
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.payments import bank
from nvsi.payments.bank_models import LineStatus
from nvsi.payments.bank_schemas import (
    BankLinePageSchema,
    BankLineSchema,
    BankStatementDetailSchema,
    BankStatementPageSchema,
    IgnoreArgs,
    ImportResultSchema,
    LineListArgs,
    MatchArgs,
)
from nvsi.rules.violations import as_errors
from nvsi.schemas import PageArgs, ordered_errors
from nvsi.tenancy.models import Tenant

bp = Blueprint("bank", __name__)

ROLES = (Role.NVSI_ADMIN, Role.BACKOFFICE)


class _TooLarge(Exception):
    pass


def _upload() -> tuple[bytes, str]:
    """The uploaded file's bytes (read up to the limit) and name; a field error when missing.
    A request much larger than the limit is refused before its body is parsed."""
    if request.content_length and request.content_length > bank.MAX_STATEMENT_BYTES + 64 * 1024:
        raise _TooLarge()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError({"file": [_("Kies een camt.053-bestand (XML).")]})
    content = upload.stream.read(bank.MAX_STATEMENT_BYTES + 1)
    if len(content) > bank.MAX_STATEMENT_BYTES:
        raise _TooLarge()
    return content, upload.filename


def _too_large_message() -> str:
    return _("Het bestand is groter dan %(max)s MB.", max=bank.MAX_STATEMENT_BYTES // (1024 * 1024))


def _summary(result: bank.ImportResult) -> str:
    """What an import did, in one sentence for a person."""
    if result.already_imported:
        return _("Dit afschrift is al ingelezen; er is niets veranderd.")
    m = result.matching
    return _("Afschrift ingelezen: %(matched)s afgeletterd op facturen, %(stripe)s Stripe-uitbetalingen, "
             "%(payouts)s premie-uitbetalingen, %(queue)s in de wachtrij.",
             matched=m.matched, stripe=m.stripe_payouts, payouts=m.payouts, queue=m.unmatched)


def _statements(ids: list[int]):
    return [bank.get_statement(db.session, statement_id) for statement_id in ids]


def _tenants() -> list[Tenant]:
    return list(db.session.scalars(db.select(Tenant).where(Tenant.status.in_(bank.PAYABLE_TENANTS))
                                   .order_by(Tenant.name)))


def _tenant_names() -> dict[int, str]:
    return dict(db.session.execute(db.select(Tenant.id, Tenant.name)).all())


def _match(line_id: int, args: dict) -> None:
    """The manual match of a line (both the page and the API)."""
    bank.get_line(db.session, line_id)  # 404 before anything else
    tenant = bank.payable_tenant(db.session, args["tenant"])
    user_id = current_user.id
    db.session.close()  # the municipality's session writes next (SQLite: one writer, no reader left open)
    bank.match_by_hand(db, line_id, tenant, args["invoice_number"], user_id, note=args.get("note"))


# -- API ---------------------------------------------------------------------------------------


@bp.post("/api/v1/bank-statements")
@roles_required(*ROLES)
def api_import_statement():
    """Upload a camt.053 statement: stored once, its credits matched to invoices.
    ---
    post:
      tags: [bank]
      summary: Import a bank statement (NVSI administrators, backoffice)
      description: >
        multipart/form-data with the file in `file`. The same statement again (by its id at the
        bank and the account IBAN, or the same file) answers 200 with `already_imported` true
        ("al ingelezen") and changes nothing. Credits whose payment reference (structured, or in
        the free text) belongs to an open invoice are booked; the rest waits in the review queue.
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                file: {type: string, format: binary}
              required: [file]
      responses:
        200:
          description: Imported before; nothing changed
          content: {application/json: {schema: ImportResultSchema}}
        201:
          description: Imported and matched
          content: {application/json: {schema: ImportResultSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        413: {description: Larger than the limit}
        422: {$ref: '#/components/responses/Invalid'}
    """
    try:
        content, name = _upload()
    except _TooLarge:
        return problem(413, "too_large", _too_large_message(), {"file": [_too_large_message()]})
    user_id = current_user.id
    db.session.close()  # the import writes in sessions of its own (SQLite: no reader left open)
    result = bank.import_file(db, content, name, user_id)
    body = ImportResultSchema().dump({
        "already_imported": result.already_imported, "message": _summary(result), "file_sha256": result.file_sha256,
        "statements": _statements(result.statement_ids), "matching": result.matching,
    })
    return body, 200 if result.already_imported else 201


@bp.get("/api/v1/bank-statements")
@roles_required(*ROLES)
def api_list_statements():
    """Imported statements, the latest first.
    ---
    get:
      tags: [bank]
      summary: List bank statements (NVSI administrators, backoffice)
      parameters:
      - {in: query, name: page, schema: {type: integer, minimum: 1}}
      - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: BankStatementPageSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = PageArgs().load(request.args.to_dict())
    return BankStatementPageSchema().dump(bank.list_statements(db.session, args["page"], page_size(args["per_page"])))


@bp.get("/api/v1/bank-statements/<int:statement_id>")
@roles_required(*ROLES)
def api_get_statement(statement_id: int):
    """One statement with its lines and where each stands.
    ---
    get:
      tags: [bank]
      summary: Get a bank statement (NVSI administrators, backoffice)
      responses:
        200:
          description: OK
          content: {application/json: {schema: BankStatementDetailSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return BankStatementDetailSchema().dump(bank.get_statement(db.session, statement_id))


@bp.get("/api/v1/bank-lines")
@roles_required(*ROLES)
def api_list_lines():
    """Statement lines; ``status=unmatched`` is the review queue.
    ---
    get:
      tags: [bank]
      summary: List statement lines (NVSI administrators, backoffice)
      parameters:
      - {in: query, name: status, schema: {type: string, enum: [new, matched, unmatched, ignored]}}
      - {in: query, name: statement_id, schema: {type: integer}}
      - {in: query, name: page, schema: {type: integer, minimum: 1}}
      - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: BankLinePageSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = LineListArgs().load(request.args.to_dict())
    page = bank.list_lines(db.session, status=LineStatus(args["status"]) if args["status"] else None,
                           statement_id=args["statement_id"], page=args["page"], per_page=page_size(args["per_page"]))
    return BankLinePageSchema().dump(page)


@bp.post("/api/v1/bank-lines/<int:line_id>/match")
@roles_required(*ROLES)
def api_match_line(line_id: int):
    """Match a line of the review queue by hand to a municipality's invoice (audited).
    ---
    post:
      tags: [bank]
      summary: Match a statement line to an invoice (NVSI administrators, backoffice)
      description: >
        Books the line's amount as a payment of the invoice (a paid invoice: held as the
        employer's credit). 422 naming the field when the municipality or invoice is unknown, or
        the line is not in the queue.
      requestBody: {required: true, content: {application/json: {schema: MatchArgs}}}
      responses:
        200:
          description: Matched
          content: {application/json: {schema: BankLineSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = MatchArgs().load(json_body())
    _match(line_id, args)
    return BankLineSchema().dump(bank.get_line(db.session, line_id))


@bp.post("/api/v1/bank-lines/<int:line_id>/ignore")
@roles_required(*ROLES)
def api_ignore_line(line_id: int):
    """Set a line of the review queue aside: not the platform's money, or handled elsewhere.
    ---
    post:
      tags: [bank]
      summary: Set a statement line aside with a note (NVSI administrators, backoffice)
      requestBody: {required: true, content: {application/json: {schema: IgnoreArgs}}}
      responses:
        200:
          description: Set aside
          content: {application/json: {schema: BankLineSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = IgnoreArgs().load(json_body())
    line = bank.ignore_line(db.session, line_id, args["note"], current_user.id)
    db.session.commit()
    return BankLineSchema().dump(line)


# -- pages -------------------------------------------------------------------------------------


def _index_page(errors: dict | None = None, status: int = 200):
    page = bank.list_statements(db.session, 1, 50)
    return render_template("payments/bank_index.html", statements=page.items, total=page.total,
                           queue=bank.queue_count(db.session), errors=errors or {},
                           max_mb=bank.MAX_STATEMENT_BYTES // (1024 * 1024)), status


@bp.get("/admin/bank")
@roles_required(*ROLES)
def index():
    """The statements, the upload form and the size of the review queue."""
    return _index_page()


@bp.post("/admin/bank")
@roles_required(*ROLES)
def upload():
    """Import an uploaded statement, then show it (or the problems with the file)."""
    try:
        content, name = _upload()
    except _TooLarge:
        return _index_page({"file": [_too_large_message()]}, 413)
    except ValidationError as exc:
        return _index_page(exc.messages, 422)
    user_id = current_user.id
    db.session.close()  # the import writes in sessions of its own (SQLite: no reader left open)
    try:
        result = bank.import_file(db, content, name, user_id)
    except bank.StatementRejected as exc:
        return _index_page(as_errors(exc.violations), 422)
    flash(_summary(result), "info" if result.already_imported else "success")
    first = result.statement_ids[0]
    return redirect(url_for("bank.statement", statement_id=first))


@bp.get("/admin/bank/afschriften/<int:statement_id>")
@roles_required(*ROLES)
def statement(statement_id: int):
    """One statement with every line and where it stands."""
    return render_template("payments/bank_statement.html", statement=bank.get_statement(db.session, statement_id),
                           tenant_names=_tenant_names(), mask=mask, reasons=bank.REVIEW_REASONS)


@bp.get("/admin/bank/wachtrij")
@roles_required(*ROLES)
def queue():
    """The review queue: lines that could not be matched automatically."""
    page = bank.list_lines(db.session, status=LineStatus.UNMATCHED, per_page=500)
    return render_template("payments/bank_queue.html", lines=page.items, total=page.total, mask=mask,
                           reasons=bank.REVIEW_REASONS)


def _line_page(line_id: int, form: dict | None = None, errors: dict | None = None, status: int = 200):
    line = bank.get_line(db.session, line_id)
    tenant_options = [("", _("Kies een gemeente"))] + [(t.slug, t.name) for t in _tenants()]
    return render_template("payments/bank_line.html", line=line, tenant_options=tenant_options,
                           tenant_names=_tenant_names(),
                           form=form or {}, errors=errors or {}, mask=mask, reasons=bank.REVIEW_REASONS), status


@bp.get("/admin/bank/regels/<int:line_id>")
@roles_required(*ROLES)
def line(line_id: int):
    """One line: what the bank says, and (in the queue) the forms to match it or set it aside."""
    return _line_page(line_id)


@bp.post("/admin/bank/regels/<int:line_id>/afletteren")
@roles_required(*ROLES)
def match_line(line_id: int):
    """Match the line by hand to a municipality's invoice."""
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    try:
        args = MatchArgs().load({k: form.get(k, "") for k in ("tenant", "invoice_number", "note")})
        _match(line_id, args)
    except ValidationError as exc:
        return _line_page(line_id, form, ordered_errors(exc.messages, MatchArgs()), 422)
    except bank.MatchRefused as exc:
        return _line_page(line_id, form, as_errors(exc.violations), 422)
    flash(_("De regel is afgeletterd op factuur %(number)s.", number=form.get("invoice_number", "").upper()),
          "success")
    return redirect(url_for("bank.line", line_id=line_id))


@bp.post("/admin/bank/regels/<int:line_id>/negeren")
@roles_required(*ROLES)
def ignore_line(line_id: int):
    """Set the line aside with a note."""
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    try:
        args = IgnoreArgs().load({"note": form.get("note", "")})
        bank.ignore_line(db.session, line_id, args["note"], current_user.id)
    except ValidationError as exc:
        return _line_page(line_id, form, ordered_errors(exc.messages, IgnoreArgs()), 422)
    except bank.MatchRefused as exc:
        db.session.rollback()
        return _line_page(line_id, form, as_errors(exc.violations), 422)
    db.session.commit()
    flash(_("De regel is terzijde gelegd."), "success")
    return redirect(url_for("bank.line", line_id=line_id))
