"""Pages of the shared level: the start page after login."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale
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
        return redirect(url_for("tenant.dashboard", tenant_slug=tenants[0].slug))
    return render_template("home.html", tenants=tenants)


#: Above this many tenants the header links to the overview instead of listing them.
MAX_TENANTS_IN_NAV = 5


@bp.app_context_processor
def _navigation():
    """The header navigation, per role: municipality users see their municipalities; the
    backoffice (which can open every municipality) gets the overview and the one it is in."""

    def nav_items() -> list[tuple[str, str, bool]]:
        if not current_user.is_authenticated:
            return []
        current = g.tenant.slug if "tenant" in g else None
        tenants = user_tenants(db.session, current_user._get_current_object())
        if len(tenants) > MAX_TENANTS_IN_NAV or current_user.role is Role.BACKOFFICE:
            items = [(url_for("pages.home"), _("Alle gemeenten"), request.endpoint == "pages.home")]
            tenants = [t for t in tenants if t.slug == current]
        else:
            items = []
        items += [
            (url_for("tenant.dashboard", tenant_slug=t.slug), t.name, t.slug == current) for t in tenants
        ]
        return items

    def section_items() -> list[tuple[str, str, bool]]:
        """The shared-level pages (those this deployment has), and a tenant's own pages."""
        if not current_user.is_authenticated:
            return []
        if "tenant" in g:
            pages = [("tenant.dashboard", _("Overzicht")), ("tenant.candidates", _("Kandidaten")),
                     ("tenant.employers", _("Opdrachtgevers")), ("tenant.assignments", _("Opdrachten")),
                     ("tenant.placements", _("Plaatsingen")), ("tenant.guidance", _("Begeleiding")),
                     ("tenant.reminders", _("Signalen")),
                     ("tenant.invoices", _("Facturen")), ("tenant.payments", _("Betalingen")),
                     ("tenant.premiums", _("Premies")), ("tenant.premium_payouts", _("Uitbetalingen")),
                     ("tenant.go_no_go", _("Go/no-go")),
                     ("tenant.framework", _("Lokale kaders"))]
            if current_user.role is Role.MUNICIPALITY_ADMIN:
                pages.append(("tenant.framework_setup", _("Kaders inrichten")))
                pages.append(("tenant.users", _("Gebruikers")))
                pages.append(("tenant.audit", _("Auditlog")))
            if current_user.role in (Role.MUNICIPALITY_ADMIN, Role.BACKOFFICE):
                pages.append(("tenant.finance", _("Financiën")))
        else:
            pages = [("rules.index", _("Regels")), ("decisions.index", _("Besluiten")),
                     ("contract.show", _("Contract")), ("catalogue.index", _("Producten"))]
            if current_user.role is Role.NVSI_ADMIN:
                pages += [("members.index", _("Leden")), ("onboarding.applications", _("Aanmeldingen")),
                          ("audit.index", _("Auditlog"))]
            if current_user.role in (Role.NVSI_ADMIN, Role.BACKOFFICE):
                pages.append(("settlement.index", _("Afrekeningen")))
                pages.append(("bank.index", _("Bank")))
                pages.append(("payouts.index", _("Premie-uitbetalingen")))
            if current_user.role is Role.NVSI_ADMIN:
                pages.append(("ledger.trial_balance", _("Grootboek")))
        return [(url_for(endpoint), label, request.endpoint == endpoint)
                for endpoint, label in pages if endpoint in current_app.view_functions]

    return {
        "nav_items": nav_items,
        "section_items": section_items, "role_label": role_label, "describe": describe, "unit_label": unit_label,
        "anchor_label": anchor_label,
    }


def anchor_label(anchor: str) -> str:
    """What a guidance moment is planned from, in the user's language."""
    return {
        "registration": _("inschrijving"), "placement_start": _("start van de plaatsing"),
        "first_working_day": _("eerste werkdag"),
    }.get(anchor, anchor)


def describe(parameter) -> str:
    """A rule-set parameter's description in the user's language."""
    return parameter.description_en if str(get_locale()).startswith("en") else parameter.description_nl


def unit_label(unit: str) -> str:
    """A unit in the user's language."""
    return {
        "EUR/uur": _("EUR per uur"), "EUR/jaar": _("EUR per jaar"), "per jaar": _("per jaar"),
        "maanden": _("maanden"), "uur/week": _("uur per week"), "dagen": _("dagen"), "%": "%",
    }.get(unit, unit)


def role_label(role: Role) -> str:
    """The role's name in the user's language."""
    return {
        Role.NVSI_ADMIN: _("NVSI-beheerder"),
        Role.BACKOFFICE: _("backoffice"),
        Role.MUNICIPALITY_ADMIN: _("beheerder gemeente"),
        Role.MUNICIPALITY_STAFF: _("medewerker gemeente"),
    }[role]


