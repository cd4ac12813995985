"""marshmallow schemas of the tenant user pages and API."""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates

from nvsi.auth.models import Role
from nvsi.schemas import Args

#: The roles a municipality admin may give.
INVITABLE_ROLES = (Role.MUNICIPALITY_STAFF.value, Role.MUNICIPALITY_ADMIN.value)


class InviteArgs(Args):
    """Whom to invite, and as what."""

    email = fields.Email(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul een naam in van ten hoogste 200 tekens."))

    @validates("role")
    def _role(self, value, **kwargs):
        if value not in INVITABLE_ROLES:
            raise ValidationError(_("Kies de rol medewerker (municipality_staff) of beheerder "
                                    "(municipality_admin)."))


class TenantUserSchema(Args):
    """A user of the municipality as its admins see them."""

    id = fields.Integer(attribute="user.id")
    email = fields.String(attribute="user.email")
    name = fields.String(attribute="user.name")
    role = fields.Function(lambda tu: tu.user.role.value)
    #: ``active``, ``invited`` (no password chosen yet) or ``deactivated``.
    status = fields.String()
    two_factor = fields.Boolean(attribute="user.two_factor_enabled")
    last_login_at = fields.AwareDateTime(attribute="user.last_login_at", allow_none=True)
    deactivated_at = fields.AwareDateTime(allow_none=True)


class TenantUserListSchema(Args):
    """Every user of the municipality."""

    items = fields.List(fields.Nested(TenantUserSchema))


class InvitationResultSchema(Args):
    """What an invitation did."""

    user = fields.Nested(TenantUserSchema)
    #: Whether the mail went out; if not, send it again later.
    mail_sent = fields.Boolean()
    #: The person already had an account: only access to this municipality was added.
    existing_account = fields.Boolean()
