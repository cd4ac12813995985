"""``nvsi settlements settle [--period 2026-H1] [--tenant SLUG]``: settle a half year of every
active municipality (or one), e.g. as a job after the last invoice run of a half year.

Idempotent: a half year settled before is reported as such and nothing is posted again. A
municipality that cannot be settled yet (approved hours not invoiced, no contract in force) is
reported with the reasons and skipped; the others are settled, each in its own transaction.
Output carries slugs and amounts only. Exit status 1 when any municipality was refused.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import click
from flask.cli import with_appcontext

from nvsi.extensions import db
from nvsi.observability import track_job
from nvsi.settlement import services
from nvsi.tenancy.routing import RoutingSession, for_each_tenant
from nvsi.tenancy.services import get_tenant, tenant_ref


@click.group("settlements")
def settlements_group() -> None:
    """Half-yearly settlements of the municipalities."""


def _period(_ctx, _param, value: str | None) -> services.HalfYear | None:
    if value is None:
        return None
    try:
        return services.HalfYear.parse(value)
    except services.InvalidPeriod:
        raise click.BadParameter("a half year such as 2026-H1 (January–June) or 2026-H2 (July–December)") from None


@settlements_group.command("settle")
@click.option("--period", callback=_period, default=None, help="e.g. 2026-H1; default: the half year that ended last.")
@click.option("--tenant", "slug", default=None, help="Only this municipality (also a suspended one).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as on this day (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("settlements")
def settle_command(period: services.HalfYear | None, slug: str | None, today: dt.datetime | None) -> None:
    """Settle the half year of every active municipality (or of --tenant)."""
    day = today.date() if today else dt.date.today()
    period = period or services.last_ended(day)
    tenants = None
    if slug:
        listing = RoutingSession(db)
        try:
            tenant = get_tenant(listing, slug)
            if tenant is None:
                raise click.BadParameter(f"no municipality {slug!r}", param_hint="--tenant")
            tenants = [tenant_ref(tenant)]
        finally:
            listing.close()

    def work(session, tenant):
        before = services.get_for_period(session, tenant.id, period)
        if before is not None:
            return "already", before.result_cents, []
        try:
            settlement = services.settle(session, tenant, period, today=day)
        except services.SettlementRefused as exc:
            session.rollback()  # a refusal after the postings (the ledger changed) keeps nothing
            return "refused", None, [v.message_nl for v in exc.violations]
        return "settled", settlement.result_cents, []

    results = for_each_tenant(db, work, tenants=tenants)
    refused = 0
    for name, (status, result, reasons) in results.items():
        if status == "refused":
            refused += 1
            click.echo(f"{name}: refused: " + " ".join(reasons), err=True)
        else:
            click.echo(f"{name}: {status}, result EUR {Decimal(result) / 100}")
    settled = sum(1 for status, _, _ in results.values() if status == "settled")
    click.echo(f"{period.label}: {len(results)} municipalities; {settled} settled, "
               f"{len(results) - settled - refused} settled before, {refused} refused")
    if refused:
        raise SystemExit(1)
