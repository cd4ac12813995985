"""``nvsi invoices dunning [--today YYYY-MM-DD]``: the daily dunning job, for every tenant.

Run it once a day (a CronJob in the morning). It is idempotent: a second run on the same day, or
a run that catches up after days without one (``--today`` also travels in time, for tests and
for replaying a missed day), mails no notice twice. Output and logs carry tenant slugs and
counts only, never names or addresses.
"""

from __future__ import annotations

import datetime as dt
import logging

import click
from flask.cli import with_appcontext

from nvsi.extensions import db
from nvsi.mail import MailError, mailer
from nvsi.observability import track_job
from nvsi.tenancy.routing import for_each_tenant

log = logging.getLogger(__name__)


@click.command("dunning")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as on this day (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("dunning")
def dunning_command(today: dt.datetime | None) -> None:
    """Mail the reminders and final notices due for unpaid invoices of every tenant."""
    from tenants.payments.dunning import run

    day = today.date() if today else dt.date.today()
    try:
        sender = mailer()
    except MailError as exc:
        raise click.ClickException(str(exc)) from None
    state = {"down": False}

    def work(session, tenant):
        # Commits after each notice (the checkpoint): what was mailed stays recorded as sent.
        result = run(session, tenant, day, None if state["down"] else sender, checkpoint=session.commit)
        state["down"] = state["down"] or result.server_down
        return result

    results = for_each_tenant(db, work)
    for slug, r in results.items():
        line = f"{slug}: {r.created} new, {r.sent} sent, {r.failed} failed"
        if r.no_address:
            line += f", {len(r.no_address)} without the buyer's e-mail address"
        click.echo(line)
    total = {key: sum(getattr(r, key) for r in results.values()) for key in ("created", "sent", "failed")}
    click.echo(f"{day.isoformat()}: {len(results)} tenants; {total['created']} new, {total['sent']} sent, "
               f"{total['failed']} failed")
    if state["down"]:
        log.error("mail server unavailable: unsent dunning notices wait for the next run")
        click.echo("mail server unavailable: unsent notices wait for the next run", err=True)
        raise SystemExit(1)
