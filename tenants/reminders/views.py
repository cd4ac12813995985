"""The inbox of the piepsysteem: ``/g/<slug>/signalen`` and ``/api/v1/g/<slug>/reminders``.
Reminders name candidates, so they are for the same roles as candidates, and never cached."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import page_size
from nvsi.auth.access import roles_required
from nvsi.extensions import db
from tenants.candidates.views import CANDIDATE_ROLES, private
from tenants.reminders import services
from tenants.reminders.models import ReminderKind
from tenants.reminders.schemas import ReminderListArgs, ReminderPageSchema, ReminderSchema


def kind_label(kind: ReminderKind) -> str:
    """A reminder's kind in the user's language."""
    return {
        ReminderKind.END_OF_PLACEMENT: _("Einde plaatsing"),
        ReminderKind.LONG_HOURS: _("Meer dan 24 uur per week"),
        ReminderKind.WSP_REFERRAL: _("Doorverwijzing WSP"),
        ReminderKind.GUIDANCE_OVERDUE: _("Begeleidingsmoment te laat"),
    }[kind]


def _load(reminder_id: int):
    return services.get_reminder(db.session, reminder_id)


def _list(source: dict):
    try:
        args = ReminderListArgs().load(source)
    except ValidationError:
        args = ReminderListArgs().load({})
    return args, services.list_reminders(db.session, unread_only=args["unread"], page=args["page"],
                                         per_page=page_size(args["per_page"]))


def register_api(bp):
    @bp.get("/reminders")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_list_reminders():
        """The municipality's reminders (piepsysteem), the latest due first.
        ---
        get:
          tags: [reminders]
          summary: List reminders (signalen)
          parameters:
          - {in: query, name: unread, schema: {type: boolean}, description: Only the unread ones}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: ReminderPageSchema}}
            403: {description: Not a role that works with candidates}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = ReminderListArgs().load(request.args.to_dict())
        page = services.list_reminders(db.session, unread_only=args["unread"], page=args["page"],
                                       per_page=page_size(args["per_page"]))
        return ReminderPageSchema().dump(page)

    @bp.get("/reminders/<int:reminder_id>")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_get_reminder(reminder_id: int):
        """One reminder, with the text that was mailed.
        ---
        get:
          tags: [reminders]
          summary: Get a reminder
          responses:
            200:
              description: OK
              content: {application/json: {schema: ReminderSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return ReminderSchema().dump(_load(reminder_id))

    @bp.post("/reminders/<int:reminder_id>/read")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_mark_reminder_read(reminder_id: int):
        """Mark a reminder read (reading it again keeps the first moment).
        ---
        post:
          tags: [reminders]
          summary: Mark a reminder read
          responses:
            200:
              description: OK
              content: {application/json: {schema: ReminderSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        reminder = services.mark_read(db.session, _load(reminder_id), current_user.id)
        db.session.commit()
        return ReminderSchema().dump(reminder)


def register_pages(bp):
    @bp.get("/signalen")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def reminders():
        """The inbox: every reminder, unread ones marked, with what was mailed to whom."""
        args, result = _list(request.args.to_dict())
        return render_template("reminders/list.html", result=result, args=args, kind_label=kind_label,
                               ReminderKind=ReminderKind)

    @bp.post("/signalen/<int:reminder_id>/gelezen")
    @roles_required(*CANDIDATE_ROLES)
    def mark_reminder_read(reminder_id: int):
        """Mark a reminder read and return to the inbox."""
        reminder = services.mark_read(db.session, _load(reminder_id), current_user.id)
        db.session.commit()
        flash(_("Signaal gemarkeerd als gelezen: %(subject)s", subject=reminder.subject), "success")
        return redirect(url_for("tenant.reminders", unread=request.args.get("unread") or None))
