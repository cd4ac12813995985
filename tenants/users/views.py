"""The municipality's users, in two places with the same operations:

* for the municipality's own admins: the page ``/g/<slug>/users`` and the API
  ``/api/v1/g/<slug>/users`` (tenant blueprints: the tenant comes from the URL and the user's
  membership, see nvsi.tenancy.web);
* for NVSI administrators, who are not members of the municipalities: the page
  ``/nvsi/leden/<slug>/gebruikers`` and the API ``/api/v1/members/<slug>/users``
  (:data:`member_users_bp`).

Thin: load input, call a service, commit, dump or render.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.auth.services import AccountRefused
from nvsi.db import ObjectNotFound
from nvsi.extensions import db
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import TenantRef
from nvsi.tenancy.services import get_tenant, tenant_ref
from tenants.users import services
from tenants.users.schemas import InvitationResultSchema, InviteArgs, TenantUserListSchema, TenantUserSchema

#: Who manages a municipality's users from inside it.
ADMIN = Role.MUNICIPALITY_ADMIN


@dataclass(frozen=True)
class _Place:
    """Where the pages live: endpoint names and the URL arguments they need."""

    prefix: str
    args: dict

    def url(self, name: str, **values) -> str:
        return url_for(f"{self.prefix}.{name}", **self.args, **values)


def _me():
    return current_user._get_current_object()


def _invitation_result(tenant: TenantRef, invitation) -> dict:
    return InvitationResultSchema().dump({
        "user": services.get_user(db.session, tenant.id, invitation.user.id),
        "mail_sent": invitation.mail_sent, "existing_account": invitation.existing_account,
    })


# -- the operations, for both places ------------------------------------------------------------


def _api_list(tenant):
    return TenantUserListSchema().dump({"items": services.list_users(db.session, tenant.id)})


def _api_invite(tenant, location_endpoint: str, **location_args):
    data = InviteArgs().load(json_body())
    invitation = services.invite(db.session, tenant, data, _me())
    db.session.commit()
    location = url_for(location_endpoint, user_id=invitation.user.id, **location_args)
    return _invitation_result(tenant, invitation), 201, {"Location": location}


def _api_change(tenant, user_id: int, change):
    target = change(db.session, tenant, user_id, _me())
    db.session.commit()
    return TenantUserSchema().dump(target)


def _api_resend(tenant, user_id: int):
    invitation = services.resend_invitation(db.session, tenant, user_id, _me())
    db.session.commit()
    return _invitation_result(tenant, invitation)


def _mail_flash(tenant, invitation) -> None:
    if invitation.existing_account:
        flash(_("%(name)s had al een account en heeft nu ook toegang tot %(tenant)s; we hebben een e-mail gestuurd.",
                name=invitation.user.name, tenant=tenant.name), "success")
    elif invitation.mail_sent:
        flash(_("De uitnodiging is verstuurd naar %(email)s.", email=invitation.user.email), "success")
    else:
        flash(_("%(name)s is uitgenodigd, maar de e-mail kon niet worden verstuurd. Probeer het later "
                "opnieuw met ‘Uitnodiging opnieuw sturen’.", name=invitation.user.name), "error")


def _page_list(tenant, place: _Place):
    return render_template("users/list.html", users=services.list_users(db.session, tenant.id), me=_me(),
                           tenant=tenant, place=place)


def _page_invite(tenant, place: _Place):
    form, errors = request.form.to_dict(), {}
    form.pop("csrf_token", None)
    if request.method == "POST":
        try:
            invitation = services.invite(db.session, tenant, InviteArgs().load(form), _me())
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, InviteArgs())
        except AccountRefused as exc:
            errors = ordered_errors(as_errors(exc.violations), InviteArgs())
            db.session.rollback()
        else:
            db.session.commit()
            _mail_flash(tenant, invitation)
            return redirect(place.url("users"))
    else:
        form.setdefault("role", Role.MUNICIPALITY_STAFF.value)
    return render_template("users/invite.html", form=form, errors=errors, tenant=tenant,
                           place=place), 422 if errors else 200


def _page_change(tenant, place: _Place, user_id: int, change, message):
    target = change(db.session, tenant, user_id, _me())
    db.session.commit()
    flash(message(name=target.user.name, tenant=tenant.name), "success")
    return redirect(place.url("users"))


def _page_resend(tenant, place: _Place, user_id: int):
    invitation = services.resend_invitation(db.session, tenant, user_id, _me())
    db.session.commit()
    _mail_flash(tenant, invitation)
    return redirect(place.url("users"))


def _deactivated(**values) -> str:
    return _("%(name)s heeft geen toegang meer tot %(tenant)s.", **values)


def _reactivated(**values) -> str:
    return _("%(name)s heeft weer toegang tot %(tenant)s.", **values)


# -- inside the municipality (tenant blueprints) ------------------------------------------------


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
        return _api_list(g.tenant)

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
        return _api_invite(g.tenant, "tenant_api.api_get_user")

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
        return _api_change(g.tenant, user_id, services.deactivate)

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
        return _api_change(g.tenant, user_id, services.reactivate)

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
        return _api_resend(g.tenant, user_id)


def register_pages(bp):
    place = lambda: _Place("tenant", {})  # noqa: E731  (url_defaults add the tenant)

    @bp.get("/users")
    @roles_required(ADMIN)
    def users():
        """The municipality's users, with their status and actions."""
        return _page_list(g.tenant, place())

    @bp.route("/users/invite", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def invite_user():
        """Form to invite a user; on errors it comes back with what was typed."""
        return _page_invite(g.tenant, place())

    @bp.post("/users/<int:user_id>/deactivate")
    @roles_required(ADMIN)
    def deactivate_user(user_id: int):
        """Deactivate a user (POST with CSRF token)."""
        return _page_change(g.tenant, place(), user_id, services.deactivate, _deactivated)

    @bp.post("/users/<int:user_id>/reactivate")
    @roles_required(ADMIN)
    def reactivate_user(user_id: int):
        """Reactivate a user."""
        return _page_change(g.tenant, place(), user_id, services.reactivate, _reactivated)

    @bp.post("/users/<int:user_id>/invitation")
    @roles_required(ADMIN)
    def resend_invitation(user_id: int):
        """Send the invitation mail again."""
        return _page_resend(g.tenant, place(), user_id)


# -- for NVSI administrators (the member administration) ----------------------------------------

#: The same pages and API for NVSI administrators, per member (by slug).
member_users_bp = Blueprint("member_users", __name__)


class MemberNotFound(ObjectNotFound):
    """No member with this slug (or its schema is not there yet)."""


def _member(slug: str) -> TenantRef:
    tenant = get_tenant(db.session, slug)
    if tenant is None or tenant.status is TenantStatus.PROVISIONING:
        raise MemberNotFound(slug)
    return tenant_ref(tenant)


def _member_place(slug: str) -> _Place:
    return _Place("member_users", {"slug": slug})


@member_users_bp.get("/api/v1/members/<slug>/users")
@roles_required(Role.NVSI_ADMIN)
def api_list_member_users(slug: str):
    """List a member's users (NVSI administrators).
    ---
    get:
      tags: [users]
      summary: List a member's users
      responses:
        200:
          description: OK
          content: {application/json: {schema: TenantUserListSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return _api_list(_member(slug))


@member_users_bp.post("/api/v1/members/<slug>/users")
@roles_required(Role.NVSI_ADMIN)
def api_invite_member_user(slug: str):
    """Invite someone to a member as staff or admin (NVSI administrators).
    ---
    post:
      tags: [users]
      summary: Invite a user to a member
      requestBody: {required: true, content: {application/json: {schema: InviteArgs}}}
      responses:
        201:
          description: Invited
          content: {application/json: {schema: InvitationResultSchema}}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    return _api_invite(_member(slug), "member_users.api_get_member_user", slug=slug)


@member_users_bp.get("/api/v1/members/<slug>/users/<int:user_id>")
@roles_required(Role.NVSI_ADMIN)
def api_get_member_user(slug: str, user_id: int):
    """One user of a member (NVSI administrators).
    ---
    get:
      tags: [users]
      summary: Get a member's user
      responses:
        200:
          description: OK
          content: {application/json: {schema: TenantUserSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return TenantUserSchema().dump(services.get_user(db.session, _member(slug).id, user_id))


@member_users_bp.post("/api/v1/members/<slug>/users/<int:user_id>/deactivate")
@roles_required(Role.NVSI_ADMIN)
def api_deactivate_member_user(slug: str, user_id: int):
    """End a user's access to a member (NVSI administrators).
    ---
    post:
      tags: [users]
      summary: Deactivate a member's user
      responses:
        200:
          description: OK
          content: {application/json: {schema: TenantUserSchema}}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    return _api_change(_member(slug), user_id, services.deactivate)


@member_users_bp.post("/api/v1/members/<slug>/users/<int:user_id>/reactivate")
@roles_required(Role.NVSI_ADMIN)
def api_reactivate_member_user(slug: str, user_id: int):
    """Give a member's deactivated user access again (NVSI administrators).
    ---
    post:
      tags: [users]
      summary: Reactivate a member's user
      responses:
        200:
          description: OK
          content: {application/json: {schema: TenantUserSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return _api_change(_member(slug), user_id, services.reactivate)


@member_users_bp.post("/api/v1/members/<slug>/users/<int:user_id>/invitation")
@roles_required(Role.NVSI_ADMIN)
def api_resend_member_invitation(slug: str, user_id: int):
    """Send a member's user the invitation again (NVSI administrators).
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
    return _api_resend(_member(slug), user_id)


@member_users_bp.get("/nvsi/leden/<slug>/gebruikers")
@roles_required(Role.NVSI_ADMIN)
def users(slug: str):
    """A member's users, for NVSI administrators."""
    return _page_list(_member(slug), _member_place(slug))


@member_users_bp.route("/nvsi/leden/<slug>/gebruikers/uitnodigen", methods=["GET", "POST"])
@roles_required(Role.NVSI_ADMIN)
def invite_user(slug: str):
    """Invite a user to a member."""
    return _page_invite(_member(slug), _member_place(slug))


@member_users_bp.post("/nvsi/leden/<slug>/gebruikers/<int:user_id>/deactiveren")
@roles_required(Role.NVSI_ADMIN)
def deactivate_user(slug: str, user_id: int):
    """Deactivate a member's user."""
    return _page_change(_member(slug), _member_place(slug), user_id, services.deactivate, _deactivated)


@member_users_bp.post("/nvsi/leden/<slug>/gebruikers/<int:user_id>/heractiveren")
@roles_required(Role.NVSI_ADMIN)
def reactivate_user(slug: str, user_id: int):
    """Reactivate a member's user."""
    return _page_change(_member(slug), _member_place(slug), user_id, services.reactivate, _reactivated)


@member_users_bp.post("/nvsi/leden/<slug>/gebruikers/<int:user_id>/uitnodiging")
@roles_required(Role.NVSI_ADMIN)
def resend_invitation(slug: str, user_id: int):
    """Send a member's user the invitation again."""
    return _page_resend(_member(slug), _member_place(slug), user_id)
