"""Premium payouts on the command line.

    nvsi premiums payout                      the CronJob: the payment moment due today, if any
    nvsi premiums payout --moment 2026-H2     one moment (--execution-date D, --today D)
    nvsi payouts list                         the batches
    nvsi payouts confirm ITEM [ITEM …]        payments the bank paid (--batch ID: all pending)
    nvsi payouts reject ITEM --note "…"       a payment the bank refused or returned (--reason AC04)

``nvsi premiums payout`` runs daily: on a payment moment (30 June, 31 December; see
``nvsi.payouts.moments``), or up to 14 days after it when a run was missed, it first accrues the
premiums of approved hours up to the moment (as ``nvsi premiums accrue --up-to``; ``--no-accrue``
skips that) and then generates that moment's batch; a moment generated before changes nothing. Output carries moments, counts and
amounts only: never a name or an IBAN.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from nvsi.extensions import db
from nvsi.observability import track_job
from nvsi.payouts import moments, services
from nvsi.tenancy.routing import RoutingSession

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def euros(cents: int) -> str:
    """Cents as ``EUR 1234.56``."""
    sign = "-" if cents < 0 else ""
    return f"EUR {sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _moment(_ctx, _param, value: str | None) -> moments.Moment | None:
    if value is None:
        return None
    try:
        return moments.Moment.parse(value)
    except moments.InvalidMoment:
        raise click.BadParameter("a payment moment such as 2026-H1 (30 June) or 2026-H2 (31 December)") from None


@click.command("payout")
@click.option("--moment", callback=_moment, default=None,
              help="e.g. 2026-H2; default: the payment moment due today (or in the last 14 days).")
@click.option("--execution-date", type=_DATE, default=None,
              help="Requested execution date (YYYY-MM-DD); default: the moment, or today when it passed.")
@click.option("--today", type=_DATE, default=None, help="Run as on this day (YYYY-MM-DD); default: today.")
@click.option("--accrue/--no-accrue", default=True,
              help="First accrue the premiums of approved hours up to the moment (nvsi premiums accrue); default: yes.")
@with_appcontext
@track_job("premium_payouts")
def payout_command(moment: moments.Moment | None, execution_date: dt.datetime | None, today: dt.datetime | None,
                   accrue: bool):
    """Generate the premium payout batch (SEPA pain.001) of a payment moment over every municipality."""
    day = today.date() if today else dt.date.today()
    listing = RoutingSession(db)
    try:
        moment = moment or moments.due_moment(listing, day)
        tenants = len(services.payable_tenants(listing))
        done = moment is not None and services.batch_for_moment(listing, moment) is not None
    finally:
        listing.close()
    if moment is None:
        click.echo(f"{day.isoformat()}: no payment moment due (the moments are 30 June and 31 December "
                   f"as the rule set allows); nothing to do")
        return
    if accrue and not done and day >= moment.day:
        _accrue(moment, day)
    with tqdm(total=tenants, desc=f"payout {moment.label}", unit="tenant", file=sys.stderr, disable=None) as bar:
        try:
            result = services.generate(db, moment, execution_date.date() if execution_date else None, None,
                                       today=day, progress=lambda tenant: bar.update(1))
        except services.PayoutRefused as exc:
            codes = {v.code for v in exc.violations}
            for v in exc.violations:
                click.echo(f"{moment.label}: {v.message_en}", err=True)
            if codes == {"nothing_to_pay"}:
                return
            raise SystemExit(1) from None
    if result.created:
        click.echo(f"{moment.label}: batch {result.batch_id} generated: {result.item_count} payments, "
                   f"{euros(result.total_cents)}; {result.skipped_count} skipped (IBAN missing or invalid); "
                   f"file sha256 {result.file_sha256}")
    else:
        click.echo(f"{moment.label}: batch {result.batch_id} was generated before ({result.item_count} payments, "
                   f"{euros(result.total_cents)}); nothing changed")


def _accrue(moment: moments.Moment, day: dt.date) -> None:
    """Accrue every active municipality's approved hours up to the moment (idempotent; a
    municipality whose accrual is refused is reported and paid what it accrued before)."""
    from nvsi.ledger.services import PeriodClosed
    from nvsi.tenancy.routing import for_each_tenant
    from nvsi.tenancy.services import active_tenants
    from tenants.premiums.services import accrue

    listing = RoutingSession(db)
    try:
        tenants = active_tenants(listing)
    finally:
        listing.close()
    accrued = 0
    for tenant in tqdm(tenants, desc="accrue", unit="tenant", file=sys.stderr, disable=None):
        try:
            run = for_each_tenant(db, lambda session, t: accrue(session, t, moment.day, today=day),
                                  tenants=[tenant])[tenant.slug]
            accrued += run.accrued_cents
        except PeriodClosed as exc:
            click.echo(f"{tenant.slug}: premiums not accrued: {exc}", err=True)
    click.echo(f"{moment.label}: accrued up to {moment.day.isoformat()}: {euros(accrued)} new")


@click.group("payouts")
def payouts_group() -> None:
    """Premium payout batches: list them, confirm or reject payments by hand."""


@payouts_group.command("list")
@with_appcontext
def list_command() -> None:
    """The batches, newest moment first, with their status and totals."""
    session = RoutingSession(db)
    try:
        for batch in services.list_batches(session):
            counts = services.status_counts(session, batch)
            summary = ", ".join(f"{status.value} {n}" for status, (n, _c) in sorted(counts.items(), key=lambda kv: kv[0].value))
            click.echo(f"{batch.id}\t{batch.moment}\t{batch.status.value}\t{batch.item_count} payments\t"
                       f"{euros(batch.total_cents)}\t{summary}")
    finally:
        session.close()


@payouts_group.command("confirm")
@click.argument("item_ids", nargs=-1, type=int)
@click.option("--batch", "batch_id", type=int, default=None, help="Confirm every pending payment of this batch.")
@click.option("--booked-on", type=_DATE, default=None, help="The day the bank paid (YYYY-MM-DD); default: today.")
@with_appcontext
def confirm_command(item_ids: tuple[int, ...], batch_id: int | None, booked_on: dt.datetime | None) -> None:
    """Confirm payments the bank made (when its statement is not imported), by item id or --batch."""
    if bool(item_ids) == bool(batch_id):
        raise click.UsageError("give item ids or --batch, not both")
    day = booked_on.date() if booked_on else None
    session = RoutingSession(db)
    try:
        if batch_id:
            done = services.confirm_batch_by_hand(session, services.get_batch(session, batch_id), day, None)
        else:
            done = []
            for item_id in item_ids:
                item = services.get_item(session, item_id)
                services.confirm_by_hand(session, item, day, None)
                done.append(item)
        session.commit()
    except services.PayoutRefused as exc:
        session.rollback()
        raise click.ClickException(" ".join(v.message_en for v in exc.violations)) from None
    except services.ObjectNotFound as exc:
        session.rollback()
        raise click.ClickException(f"not found: {exc}") from None
    finally:
        session.close()
    click.echo(f"{len(done)} payments confirmed, {euros(sum(i.amount_cents for i in done))}")


@payouts_group.command("reject")
@click.argument("item_id", type=int)
@click.option("--note", required=True, help="What the bank reported (3–500 characters); in the audit log.")
@click.option("--reason", default=None, help="The bank's ISO 20022 return reason, e.g. AC04.")
@click.option("--booked-on", type=_DATE, default=None, help="The day (YYYY-MM-DD); default: today.")
@with_appcontext
def reject_command(item_id: int, note: str, reason: str | None, booked_on: dt.datetime | None) -> None:
    """Record that the bank refused or returned a payment: it is paid again at the next moment."""
    session = RoutingSession(db)
    try:
        item = services.get_item(session, item_id)
        services.reject_by_hand(session, item, booked_on.date() if booked_on else None,
                                (reason or "").strip().upper() or None, note, None)
        status, cents = item.status.value, item.amount_cents
        session.commit()
    except services.PayoutRefused as exc:
        session.rollback()
        raise click.ClickException(" ".join(v.message_en for v in exc.violations)) from None
    except services.ObjectNotFound:
        session.rollback()
        raise click.ClickException(f"no payout item {item_id}") from None
    finally:
        session.close()
    click.echo(f"item {item_id}: {status}, {euros(cents)} payable again at the next moment")
