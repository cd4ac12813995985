"""``nvsi premiums accrue [--up-to YYYY-MM-DD]``: accrue the premiums of approved hours in every
tenant, up to the yearly cap, and book them in the ledger.

Run it daily or before a payout (a CronJob). Idempotent: a second run accrues nothing twice.
One transaction per tenant (for_each_tenant); a tenant whose accrual date lies in a settled
period fails alone, the others keep their work. Output carries tenant slugs and totals only.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from nvsi.extensions import db
from nvsi.ledger.services import PeriodClosed
from nvsi.observability import track_job
from nvsi.tenancy.routing import RoutingSession, for_each_tenant
from nvsi.tenancy.services import active_tenants


def euros(cents: int) -> str:
    return f"EUR {cents // 100}.{cents % 100:02d}" if cents >= 0 else "-" + euros(-cents)


@click.group("premiums")
def premiums_group() -> None:
    """Premiums of candidates in every municipality."""


@premiums_group.command("accrue")
@click.option("--up-to", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Accrue hours worked up to and including this day (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("premiums")
def accrue_command(up_to: dt.datetime | None) -> None:
    """Accrue the premiums of approved hours not yet accrued, in every tenant."""
    from tenants.premiums.services import accrue

    day = up_to.date() if up_to else dt.date.today()
    listing = RoutingSession(db)
    try:
        tenants = active_tenants(listing)
    finally:
        listing.close()
    failed: list[str] = []
    results = {}
    with tqdm(total=len(tenants), desc="premiums", unit="tenant", file=sys.stderr) as bar:
        for tenant in tenants:
            try:
                results.update(for_each_tenant(db, lambda session, t: accrue(session, t, day), tenants=[tenant]))
            except PeriodClosed as exc:
                failed.append(f"{tenant.slug}: {exc}")
            bar.update(1)
    for slug, run in results.items():
        click.echo(f"{slug}: {run.entries} entries, {euros(run.accrued_cents)} accrued, "
                   f"{euros(run.flagged_cents)} flagged, {run.reversed_entries} reversed")
    click.echo(f"{day.isoformat()}: {len(results)} tenants; "
               f"{euros(sum(r.accrued_cents for r in results.values()))} accrued, "
               f"{euros(sum(r.flagged_cents for r in results.values()))} flagged for review")
    for line in failed:
        click.echo(line, err=True)
    if failed:
        raise SystemExit(1)
