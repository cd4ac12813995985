"""Pages of the shared level: the start page after login."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.tenancy.services import user_tenants

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    """Start page: the municipalities the user can open; login for anonymous visitors."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    tenants = user_tenants(db.session, current_user._get_current_object())
    if len(tenants) == 1 and current_user.role.is_municipal:
        return redirect(url_for("tenant.employers", tenant_slug=tenants[0].slug))
    return render_template("home.html", tenants=tenants)


@bp.app_context_processor
def _navigation():
    """The municipalities in the navigation, for the logged-in user."""

    def nav_tenants():
        if not current_user.is_authenticated:
            return []
        return user_tenants(db.session, current_user._get_current_object())

    return {"nav_tenants": nav_tenants, "role_label": role_label}


def role_label(role: Role) -> str:
    """The role's name in the user's language."""
    return {
        Role.NVSI_ADMIN: _("NVSI-beheerder"),
        Role.BACKOFFICE: _("backoffice"),
        Role.MUNICIPALITY_ADMIN: _("beheerder gemeente"),
        Role.MUNICIPALITY_STAFF: _("medewerker gemeente"),
    }[role]


