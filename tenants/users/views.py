"""The municipality's users: the page ``/g/<slug>/users`` and the API ``/api/v1/g/<slug>/users``.
For the municipality's admins only. Thin: load input, call a service, commit, dump or render."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.auth.services import AccountRefused
from nvsi.extensions import db
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors
from tenants.users import services
from tenants.users.schemas import InvitationResultSchema, InviteArgs, TenantUserListSchema, TenantUserSchema

#: Who manages the municipality's users.
ADMIN = Role.MUNICIPALITY_ADMIN


def _me():
    return current_user._get_current_object()


def _invitation_result(invitation) -> dict:
    return InvitationResultSchema().dump({
        "user": services.get_user(db.session, g.tenant.id, invitation.user.id),
        "mail_sent": invitation.mail_sent, "existing_account": invitation.existing_account,
    })


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/users")
    @roles_required(ADMIN)
    def api_list_users():
        """List the municipality's users (deactivated ones too).
        ---
        get:
          tags: [users]
          summary: List the municipality's users
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantUserListSchema}}
            403: {description: Not a municipality admin}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return TenantUserListSchema().dump({"items": services.list_users(db.session, g.tenant.id)})

    @bp.post("/users")
    @roles_required(ADMIN)
    def api_invite_user():
        """Invite someone as staff or admin: they get a mail with a link to set a password.
        ---
        post:
          tags: [users]
          summary: Invite a user
          requestBody: {required: true, content: {application/json: {schema: InviteArgs}}}
          responses:
            201:
              description: Invited (``mail_sent`` false if the mail server failed; send again)
              content: {application/json: {schema: InvitationResultSchema}}
            403: {description: Not a municipality admin}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = InviteArgs().load(json_body())
        invitation = services.invite(db.session, g.tenant, data, _me())
        db.session.commit()
        location = url_for("tenant_api.api_get_user", user_id=invitation.user.id)
        return _invitation_result(invitation), 201, {"Location": location}

    @bp.get("/users/<int:user_id>")
    @roles_required(ADMIN)
    def api_get_user(user_id: int):
        """One user of the municipality.
        ---
        get:
          tags: [users]
          summary: Get a user
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantUserSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return TenantUserSchema().dump(services.get_user(db.session, g.tenant.id, user_id))

    @bp.post("/users/<int:user_id>/deactivate")
    @roles_required(ADMIN)
    def api_deactivate_user(user_id: int):
        """End the user's access to the municipality (their only one: the account is deactivated
        and its sessions end). Not yourself.
        ---
        post:
          tags: [users]
          summary: Deactivate a user
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantUserSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        target = services.deactivate(db.session, g.tenant, user_id, _me())
        db.session.commit()
        return TenantUserSchema().dump(target)

    @bp.post("/users/<int:user_id>/reactivate")
    @roles_required(ADMIN)
    def api_reactivate_user(user_id: int):
        """Give a deactivated user access again.
        ---
        post:
          tags: [users]
          summary: Reactivate a user
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantUserSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        target = services.reactivate(db.session, g.tenant, user_id, _me())
        db.session.commit()
        return TenantUserSchema().dump(target)

    @bp.post("/users/<int:user_id>/invitation")
    @roles_required(ADMIN)
    def api_resend_invitation(user_id: int):
        """Send the invitation mail again (someone who has not chosen a password yet).
        ---
        post:
          tags: [users]
          summary: Send an invitation again
          responses:
            200:
              description: OK
              content: {application/json: {schema: InvitationResultSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        invitation = services.resend_invitation(db.session, g.tenant, user_id, _me())
        db.session.commit()
        return _invitation_result(invitation)


# -- pages --------------------------------------------------------------------------------------


def _mail_flash(invitation) -> None:
    if invitation.existing_account:
        flash(_("%(name)s had al een account en heeft nu ook toegang tot %(tenant)s; we hebben een e-mail gestuurd.",
                name=invitation.user.name, tenant=g.tenant.name), "success")
    elif invitation.mail_sent:
        flash(_("De uitnodiging is verstuurd naar %(email)s.", email=invitation.user.email), "success")
    else:
        flash(_("%(name)s is uitgenodigd, maar de e-mail kon niet worden verstuurd. Probeer het later "
                "opnieuw met ‘Uitnodiging opnieuw sturen’.", name=invitation.user.name), "error")


def register_pages(bp):
    @bp.get("/users")
    @roles_required(ADMIN)
    def users():
        """The municipality's users, with their status and actions."""
        return render_template("users/list.html", users=services.list_users(db.session, g.tenant.id),
                               me=_me())

    @bp.route("/users/invite", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def invite_user():
        """Form to invite a user; on errors it comes back with what was typed."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        if request.method == "POST":
            try:
                invitation = services.invite(db.session, g.tenant, InviteArgs().load(form), _me())
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, InviteArgs())
            except AccountRefused as exc:
                errors = ordered_errors(as_errors(exc.violations), InviteArgs())
                db.session.rollback()
            else:
                db.session.commit()
                _mail_flash(invitation)
                return redirect(url_for("tenant.users"))
        else:
            form.setdefault("role", Role.MUNICIPALITY_STAFF.value)
        return render_template("users/invite.html", form=form, errors=errors), 422 if errors else 200

    @bp.post("/users/<int:user_id>/deactivate")
    @roles_required(ADMIN)
    def deactivate_user(user_id: int):
        """Deactivate a user (POST with CSRF token)."""
        target = services.deactivate(db.session, g.tenant, user_id, _me())
        db.session.commit()
        flash(_("%(name)s heeft geen toegang meer tot %(tenant)s.", name=target.user.name, tenant=g.tenant.name),
              "success")
        return redirect(url_for("tenant.users"))

    @bp.post("/users/<int:user_id>/reactivate")
    @roles_required(ADMIN)
    def reactivate_user(user_id: int):
        """Reactivate a user."""
        target = services.reactivate(db.session, g.tenant, user_id, _me())
        db.session.commit()
        flash(_("%(name)s heeft weer toegang tot %(tenant)s.", name=target.user.name, tenant=g.tenant.name),
              "success")
        return redirect(url_for("tenant.users"))

    @bp.post("/users/<int:user_id>/invitation")
    @roles_required(ADMIN)
    def resend_invitation(user_id: int):
        """Send the invitation mail again."""
        invitation = services.resend_invitation(db.session, g.tenant, user_id, _me())
        db.session.commit()
        _mail_flash(invitation)
        return redirect(url_for("tenant.users"))
