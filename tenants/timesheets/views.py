"""Timesheets through the API, the staff pages (a week grid per placement) and the employer's
public approval page ``/uren/<token>``.

The approval page is outside the tenant blueprints and needs no login: the signed token names
the tenant, and the request's session is bound to that tenant (``url_value_preprocessor``,
before anything can query) from the token alone; only then is the tenant looked up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.rules.views import refused
from nvsi.rules.violations import as_errors
from nvsi.tenancy.routing import bind_tenant
from tenants.placements import services as placements
from tenants.timesheets import services
from tenants.timesheets.models import EntryStatus
from tenants.timesheets.schemas import (
    ApprovalMessageSchema,
    TimesheetArgs,
    TimesheetBatchSchema,
    TimesheetOverviewSchema,
    TimesheetQueryArgs,
    TimesheetSubmissionSchema,
)

#: Who enters hours and sends approval links: the municipality's people and the backoffice.
STAFF = (Role.MUNICIPALITY_STAFF, Role.MUNICIPALITY_ADMIN, Role.BACKOFFICE)


def _placement(placement_id: int):
    return placements.get_placement(db.session, placement_id)


def _batch(batch_id: int):
    return services.get_batch(db.session, batch_id)


def _conflict():
    message = _("Iemand anders heeft deze dag(en) tegelijk gewijzigd. Laad opnieuw en probeer het nog eens.")
    return problem(409, "stale", message)


def _overview(placement, start=None, end=None) -> dict:
    return {
        "placement_id": placement.id,
        "approved_hours": services.approved_hours(db.session, placement.id),
        "first_working_day": placement.first_working_day,
        "weeks": services.week_summaries(db.session, placement),
        "entries": services.entries_for(db.session, placement.id, start, end),
    }


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/placements/<int:placement_id>/timesheets")
    @roles_required(*STAFF)
    def api_timesheet(placement_id: int):
        """A placement's hours: approved total, per week, and every entry.
        ---
        get:
          tags: [timesheets]
          summary: Hours of a placement (only approved hours count)
          parameters:
          - {in: query, name: from, schema: {type: string, format: date}, description: First day of the entries listed}
          - {in: query, name: to, schema: {type: string, format: date}, description: Last day of the entries listed}
          responses:
            200:
              description: OK
              content: {application/json: {schema: TimesheetOverviewSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        placement = _placement(placement_id)
        args = TimesheetQueryArgs().load(request.args.to_dict())
        return TimesheetOverviewSchema().dump(_overview(placement, args["from_"], args["to"]))

    @bp.post("/placements/<int:placement_id>/timesheets")
    @roles_required(*STAFF)
    def api_submit_timesheet(placement_id: int):
        """Enter hours and send them to the employer for approval (one submission).
        ---
        post:
          tags: [timesheets]
          summary: Enter hours per day and send them for approval
          description: >
            Per day: the same hours as waiting or approved change nothing; other hours replace
            what waits, or correct approved hours with a new entry; 0 withdraws or corrects to
            none. Refused (422, each rule named) for a day before the start, after the end or
            the maximum duration, in the future, or hours outside 0–24 with more than 2 decimals.
          requestBody: {required: true, content: {application/json: {schema: TimesheetArgs}}}
          responses:
            201:
              description: Submitted; with the approval link and mail text
              content: {application/json: {schema: TimesheetSubmissionSchema}}
            200:
              description: Nothing changed (batch and approval are null)
              content: {application/json: {schema: TimesheetSubmissionSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        placement = _placement(placement_id)
        data = TimesheetArgs().load(json_body())
        try:
            batch = services.submit_hours(db.session, g.tenant, placement, data["entries"], current_user.id)
        except services.TimesheetError as exc:
            return refused(exc.violations)
        except services.TimesheetConflict:
            db.session.rollback()
            return _conflict()
        if batch is None:
            db.session.commit()
            return TimesheetSubmissionSchema().dump({"batch": None, "approval": None})
        message = services.approval_message(db.session, g.tenant, batch)
        db.session.commit()
        approval = {**asdict(message), "mail": services.send_approval_message(message)}
        body = TimesheetSubmissionSchema().dump({"batch": batch, "approval": approval})
        return body, 201, {"Location": url_for("tenant_api.api_get_timesheet_batch", batch_id=batch.id)}

    @bp.get("/timesheet-batches/<int:batch_id>")
    @roles_required(*STAFF)
    def api_get_timesheet_batch(batch_id: int):
        """One submission of hours and the state of its entries.
        ---
        get:
          tags: [timesheets]
          summary: Get a submission of hours
          responses:
            200:
              description: OK
              content: {application/json: {schema: TimesheetBatchSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return TimesheetBatchSchema().dump(_batch(batch_id))

    @bp.post("/timesheet-batches/<int:batch_id>/link")
    @roles_required(*STAFF)
    def api_new_approval_link(batch_id: int):
        """Send the employer a new approval link for a submission (e.g. after the old one expired).
        ---
        post:
          tags: [timesheets]
          summary: Mail a new approval link for a submission; returns the link, the text and the delivery
          responses:
            200:
              description: OK (see `mail` for the delivery)
              content: {application/json: {schema: ApprovalMessageSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        message = services.approval_message(db.session, g.tenant, _batch(batch_id))
        db.session.rollback()  # nothing to store: end the transaction before the mail goes out
        return ApprovalMessageSchema().dump({**asdict(message), "mail": services.send_approval_message(message)})


# -- pages for staff ----------------------------------------------------------------------------


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _week_of(placement, raw: str | None, today: dt.date) -> dt.date:
    """The Monday of the week asked for (any day of it), else of today, kept within the placement."""
    try:
        day = dt.date.fromisoformat(raw) if raw else today
    except ValueError:
        day = today
    day = min(max(day, placement.start_date), placement.end_date)
    return _monday(day)


def _parse_hours(text: str) -> Decimal | None:
    """Hours as typed in the grid: empty is 0; a decimal comma or point. None: not a number."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return Decimal("0")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _grid(placement, monday: dt.date, today: dt.date, form: dict | None) -> list[dict]:
    """The seven days of a week: may hours be entered, what is entered, and the day's state."""
    states = services.day_states(db.session, placement.id, monday, monday + dt.timedelta(days=6))
    rows = []
    for day, state in states.items():
        enabled = placement.start_date <= day <= min(placement.end_date, today)
        name = f"hours-{day.isoformat()}"
        if form is not None and name in form:
            value = form[name]
        elif state.open is not None:
            value = state.open.hours
        elif state.latest is not None and state.latest.status is EntryStatus.REJECTED and state.latest.counter_hours is not None \
                and state.approved is None:
            value = state.latest.counter_hours  # the employer's counter-proposal, to adopt or change
        elif state.approved is not None:
            value = state.approved.hours
        else:
            value = ""
        if isinstance(value, Decimal):
            value = "" if value == 0 and state.approved is None and state.open is None else f"{value.normalize():f}".replace(".", ",")
        rows.append({"day": day, "name": name, "enabled": enabled, "value": value, "state": state})
    return rows


def _flash_delivery(message, delivery, done: str) -> None:
    """Tell staff whether the employer got the e-mail, and what to do if not."""
    if delivery.sent and delivery.via != "log":
        flash(_("%(done)s De opdrachtgever krijgt een e-mail met de link op %(to)s.", done=done, to=message.to),
              "success")
    elif delivery.sent:
        flash(_("%(done)s Dit platform verstuurt geen e-mail: stuur de opdrachtgever de link hieronder.",
                done=done), "success")
    else:
        flash(_("%(done)s De e-mail kon niet worden verstuurd (%(error)s): stuur de opdrachtgever de link "
                "hieronder, of probeer het later opnieuw.", done=done, error=delivery.error), "error")


def register_pages(bp):
    @bp.get("/plaatsingen/<int:placement_id>/uren")
    @roles_required(*STAFF)
    def timesheet(placement_id: int):
        """A week of a placement's hours (``?week=`` any day of it), to enter and send."""
        placement = _placement(placement_id)
        today = dt.date.today()
        monday = _week_of(placement, request.args.get("week"), today)
        return _render_week(placement, monday, today, None, {})

    @bp.post("/plaatsingen/<int:placement_id>/uren")
    @roles_required(*STAFF)
    def submit_timesheet(placement_id: int):
        """Send the week's hours for approval; refusals come back on the grid, per day."""
        placement = _placement(placement_id)
        today = dt.date.today()
        monday = _week_of(placement, request.form.get("week"), today)
        form = {k: v for k, v in request.form.items() if k.startswith("hours-")}
        rows = _grid(placement, monday, today, form)
        lines, names, errors = [], [], {}
        for row in rows:
            if not row["enabled"]:
                continue
            hours = _parse_hours(form.get(row["name"], ""))
            if hours is None:
                errors[row["name"]] = [_("Vul een getal in, bijvoorbeeld 7,5 (of laat leeg).")]
                continue
            lines.append({"work_date": row["day"], "hours": hours})
            names.append(row["name"])
        batch = None
        if not errors:
            try:
                batch = services.submit_hours(db.session, g.tenant, placement, lines, current_user.id)
            except services.TimesheetError as exc:
                for field, messages in as_errors(exc.violations).items():
                    parts = field.split(".")
                    key = names[int(parts[1])] if parts[0] == "entries" else "_schema"
                    errors.setdefault(key, []).extend(messages)
            except services.TimesheetConflict:
                db.session.rollback()
                errors["_schema"] = [_("Iemand anders heeft deze week tegelijk gewijzigd. Probeer het opnieuw.")]
        if errors:
            db.session.rollback()
            return _render_week(placement, monday, today, form, errors)
        if batch is None:
            db.session.commit()
            flash(_("Er is niets gewijzigd: deze uren staan al zo."), "success")
            return redirect(url_for("tenant.timesheet", placement_id=placement.id, week=monday.isoformat()))
        message = services.approval_message(db.session, g.tenant, batch)
        db.session.commit()
        _flash_delivery(message, services.send_approval_message(message),
                        _("De uren zijn ter goedkeuring verstuurd."))
        return redirect(url_for("tenant.timesheet_batch", batch_id=batch.id))

    def _render_week(placement, monday, today, form, errors):
        first, last = _monday(placement.start_date), _monday(placement.end_date)
        previous, following = monday - dt.timedelta(days=7), monday + dt.timedelta(days=7)
        rows = _grid(placement, monday, today, form)
        return render_template(
            "timesheets/week.html", placement=placement, monday=monday, rows=rows,
            errors=errors, previous=previous if previous >= first else None,
            following=following if following <= last else None,
            week_total=sum((row["state"].approved.hours for row in rows if row["state"].approved is not None),
                           Decimal("0")),
            total=services.approved_hours(db.session, placement.id),
            batches=services.open_batches(db.session, placement.id),
        ), 422 if errors else 200

    @bp.post("/urenbriefjes/<int:batch_id>/versturen")
    @roles_required(*STAFF)
    def send_approval_link(batch_id: int):
        """Mail the employer a new approval link (e.g. after the old one expired)."""
        message = services.approval_message(db.session, g.tenant, _batch(batch_id))
        db.session.rollback()
        _flash_delivery(message, services.send_approval_message(message), _("Er is een nieuwe link verstuurd."))
        return redirect(url_for("tenant.timesheet_batch", batch_id=batch_id))

    @bp.get("/urenbriefjes/<int:batch_id>")
    @roles_required(*STAFF)
    def timesheet_batch(batch_id: int):
        """A submission: its entries and a fresh approval link with the e-mail text to send."""
        batch = _batch(batch_id)
        message = services.approval_message(db.session, g.tenant, batch)
        return render_template("timesheets/batch.html", batch=batch, message=message,
                               waiting=any(e.status is EntryStatus.SUBMITTED for e in batch.entries))


# -- the employer's public approval page ----------------------------------------------------------

public = Blueprint("timesheet_approval", __name__)


@public.url_value_preprocessor
def _bind_token_tenant(_endpoint, values):
    """Check the token's signature (no database needed) and bind the request's session to the
    tenant it names, before anything else can query."""
    g.approval_claims = None
    try:
        claims = services.read_token(values["token"])
    except services.InvalidLink:
        return
    bind_tenant(db.session(), claims.schema)
    g.approval_claims = claims


@public.after_request
def _private(response):
    # The link is a credential: keep it out of caches, search engines and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _open(token: str):
    """(tenant, batch), or the page that says the link is invalid (404) or expired (410)."""
    claims = g.approval_claims
    try:
        if claims is None:
            raise services.InvalidLink(token)
        return services.open_link(db.session, token, claims)
    except services.InvalidLink:
        abort(_page("timesheets/link_invalid.html", 404))
    except services.LinkExpired as exc:
        abort(_page("timesheets/link_expired.html", 410, tenant=exc.tenant, expired_on=exc.expired_on))


def _page(template: str, status: int, **context):
    return make_response(render_template(template, **context), status)


def _decisions_from(form, batch) -> tuple[list[services.Decision], dict]:
    """The per-line choices of the approval form."""
    decisions, errors = [], {}
    for entry in batch.entries:
        choice = form.get(f"decision-{entry.id}", "")
        if entry.status is not EntryStatus.SUBMITTED or choice not in ("approve", "reject"):
            continue
        counter = None
        if choice == "reject" and form.get(f"counter-{entry.id}", "").strip():
            counter = _parse_hours(form[f"counter-{entry.id}"])
            if counter is None:
                errors[f"counter-{entry.id}"] = [_("Vul een getal in, bijvoorbeeld 7,5.")]
                continue
        decisions.append(services.Decision(entry.id, choice == "approve", form.get(f"reason-{entry.id}", ""), counter))
    return decisions, errors


@public.route("/uren/<token>", methods=["GET"])
def show(token: str):
    """The employer's page: the hours of one submission, to approve all at once or per day."""
    tenant, batch = _open(token)
    return render_template("timesheets/approve.html", tenant=tenant, batch=batch, form={}, errors={})


@public.route("/uren/<token>", methods=["POST"])
def decide(token: str):
    """Approve everything still waiting (``action=all``) or record the per-day choices."""
    tenant, batch = _open(token)
    form = request.form.to_dict()
    decisions, errors = _decisions_from(form, batch)
    result = None
    if not errors:
        try:
            if form.get("action") == "all":
                result = services.approve_all(db.session, batch, form.get("name", ""))
            else:
                result = services.decide(db.session, batch, decisions, form.get("name", ""))
        except services.TimesheetError as exc:
            errors = as_errors(exc.violations)
    if errors or result is None:
        db.session.rollback()
        return render_template("timesheets/approve.html", tenant=tenant, batch=batch, form=form,
                               errors=errors), 422
    db.session.commit()
    if result.decided:
        flash(_("Dank u wel: uw beslissing over %(count)s dag(en) is vastgelegd.", count=len(result.decided)),
              "success")
    else:
        flash(_("Er is niets gewijzigd: er stond niets meer open om over te beslissen."), "success")
    return redirect(url_for("timesheet_approval.show", token=token))
