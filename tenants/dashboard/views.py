"""The dashboard: ``/g/<slug>/overzicht`` and ``/api/v1/g/<slug>/dashboard``. It names the
candidates whose placements end soon, so it is for the roles that work with candidates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import render_template
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _

from nvsi.auth.access import roles_required
from nvsi.extensions import db
from tenants.candidates.views import CANDIDATE_ROLES, private
from tenants.dashboard import services
from tenants.dashboard.schemas import DashboardSchema


def number(value) -> str:
    """Hours and counts in the user's language: 1.234,5 / 1,234.5."""
    return format_decimal(value, "#,##0.##")


def percent(value) -> str:
    return format_decimal(value, "#,##0.0") + "%"


def signed(value: Decimal) -> str:
    """Percentage points with their sign: +3,5 / −2,0."""
    text = format_decimal(abs(value), "#,##0.0")
    return ("+" if value > 0 else "\u2212" if value < 0 else "") + text


def chart_rows(d: services.Dashboard) -> dict:
    """The rows of the page's bar charts: (label, value, text, target)."""
    return {
        "hour_rows": [(format_date(m.month, "MMM y"), m.hours, number(m.hours), None) for m in d.hours_by_month],
        "pool_rows": [(s.name if s.code else _("Zonder arrangement"), s.share_pct or 0,
                       percent(s.share_pct or 0), s.target_pct) for s in d.pool],
    }


def register_api(bp):
    @bp.get("/dashboard")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_dashboard():
        """The municipality's figures today: active placements, approved hours, pool against the
        target mix, registrations against the minimum, outflow rate, placements ending soon.
        ---
        get:
          tags: [dashboard]
          summary: The municipality's dashboard (overzicht)
          responses:
            200:
              description: OK
              content: {application/json: {schema: DashboardSchema}}
            403: {description: Not a role that works with candidates}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return DashboardSchema().dump(services.dashboard(db.session, dt.date.today()))


def register_pages(bp):
    @bp.get("/overzicht")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def dashboard():
        """The dashboard page: figures, simple bar charts (inline SVG) each with its table."""
        d = services.dashboard(db.session, dt.date.today())
        return render_template("dashboard/show.html", d=d, number=number, percent=percent, signed=signed,
                               **chart_rows(d))
