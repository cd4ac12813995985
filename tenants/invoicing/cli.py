"""``nvsi invoices run`` (the weekly invoice run over every tenant) and ``nvsi invoices credit``.

    nvsi invoices run                              the previous ISO week, issued today
    nvsi invoices run --period 2026-W10            one ISO week
    nvsi invoices run --from 2026-03-01 --to 2026-03-31 --issue-date 2026-04-01
    nvsi invoices credit SLUG NUMBER --reason "…"  credit what is left of an open invoice

The run is idempotent and crash-safe (one transaction per tenant): run it again after a failure
and it completes what is left. Output carries tenant slugs, counts and amounts only.
"""

from __future__ import annotations

import datetime as dt
import re

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from nvsi.extensions import db
from nvsi.observability import track_job

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_period(period: str | None, start: dt.date | None, end: dt.date | None,
                 today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of ``--period YYYY-Www`` or ``--from``/``--to``; neither: the
    ISO week before ``today``'s."""
    if period and (start or end):
        raise click.UsageError("give --period or --from/--to, not both")
    if period:
        match = _WEEK.match(period)
        if not match:
            raise click.BadParameter("an ISO week like 2026-W10", param_hint="--period")
        try:
            monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise click.BadParameter(f"{period} is not a week of that year", param_hint="--period") from None
        return monday, monday + dt.timedelta(days=6)
    if start or end:
        if not (start and end):
            raise click.UsageError("--from and --to go together")
        if end < start:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        return start, end
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return monday, monday + dt.timedelta(days=6)


def euro(cents: int) -> str:
    """Cents as ``EUR 1234.56`` (for the summary; no locale)."""
    sign = "-" if cents < 0 else ""
    return f"EUR {sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@click.group("invoices")
def invoices_group() -> None:
    """Invoices to employers, of every municipality."""


_DATE = click.DateTime(formats=["%Y-%m-%d"])


@invoices_group.command("run")
@click.option("--period", default=None, help="An ISO week, e.g. 2026-W10.")
@click.option("--from", "start", type=_DATE, default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=_DATE, default=None, help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--issue-date", type=_DATE, default=None, help="Invoice date (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("invoices")
def run_command(period, start, end, issue_date) -> None:
    """Invoice the approved hours of the period for every tenant, and credit corrected hours."""
    from tenants.invoicing.services import run_all

    today = dt.date.today()
    first, last = parse_period(period, start.date() if start else None, end.date() if end else None, today)
    issued = issue_date.date() if issue_date else today
    click.echo(f"invoice run {first.isoformat()} – {last.isoformat()}, issued {issued.isoformat()}")
    with tqdm(desc="tenants", unit="tenant", total=None, disable=None) as bar:
        def progress(outcome):
            bar.update(1)
            bar.set_postfix_str(outcome.slug, refresh=False)

        outcomes = run_all(db, first, last, issued, progress=progress)
    totals = dict(invoices=0, credit_notes=0, gross=0, credited=0, mailed=0)
    failed = []
    for slug, outcome in outcomes.items():
        r = outcome.result
        if r is None:
            failed.append(slug)
            click.echo(f"{slug}: FAILED ({outcome.error}); the next run completes it", err=True)
            continue
        click.echo(f"{slug}: {r.invoices} invoices ({euro(r.gross_cents)}), {r.credit_notes} credit notes "
                   f"({euro(r.credited_cents)}), {r.mailed} mailed")
        totals["invoices"] += r.invoices
        totals["credit_notes"] += r.credit_notes
        totals["gross"] += r.gross_cents
        totals["credited"] += r.credited_cents
        totals["mailed"] += r.mailed
    click.echo(f"{len(outcomes)} tenants, {len(failed)} failed; {totals['invoices']} invoices "
               f"({euro(totals['gross'])} incl. VAT), {totals['credit_notes']} credit notes "
               f"({euro(totals['credited'])}), {totals['mailed']} mailed")
    if failed:
        raise SystemExit(1)


@invoices_group.command("credit")
@click.argument("slug")
@click.argument("number")
@click.option("--reason", required=True, help="Why (3–200 characters); on the credit note and in the audit log.")
@click.option("--issue-date", type=_DATE, default=None, help="Credit note date (YYYY-MM-DD); default: today.")
@with_appcontext
def credit_command(slug: str, number: str, reason: str, issue_date) -> None:
    """Credit what is left of an open, unpaid invoice of tenant SLUG."""
    import sqlalchemy as sa

    from nvsi.tenancy.routing import tenant_session
    from nvsi.tenancy.services import get_tenant, tenant_ref
    from tenants.invoicing.models import Invoice
    from tenants.invoicing.services import CreditRefused, credit_invoice

    row = get_tenant(db.session, slug)
    db.session.remove()
    if row is None:
        raise click.ClickException(f"no tenant {slug!r}")
    tenant = tenant_ref(row)
    with tenant_session(db, tenant) as session:
        invoice = session.scalars(sa.select(Invoice).where(Invoice.number == number)).first()
        if invoice is None:
            raise click.ClickException(f"{slug}: no invoice {number}")
        try:
            note = credit_invoice(session, tenant, invoice, reason, None,
                                  issue_date.date() if issue_date else None)
        except CreditRefused as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"{slug}: credit note {note.number} for {number} ({euro(note.gross_cents)})")
