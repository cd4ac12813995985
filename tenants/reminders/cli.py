"""``nvsi reminders send [--today YYYY-MM-DD]``: the piepsysteem's daily job, for every tenant.

Run it once a day (a CronJob after midnight). It is idempotent: a second run on the same day,
or a run that catches up after days without one (``--today`` also travels in time, for tests
and for replaying a missed day), creates and mails nothing twice. Output and logs carry tenant
slugs and counts only, never names or addresses.
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


@click.group("reminders")
def reminders_group() -> None:
    """Reminders (piepsysteem) of every municipality."""


@reminders_group.command("send")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as on this day (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("reminders")
def send_command(today: dt.datetime | None) -> None:
    """Create the reminders due in every tenant and mail those not yet sent."""
    from tenants.reminders.services import run

    day = today.date() if today else dt.date.today()
    try:
        sender = mailer()
    except MailError as exc:
        raise click.ClickException(str(exc)) from None
    state = {"down": False}

    def work(session, tenant):
        # Commits after each reminder (the checkpoint): what was mailed stays recorded as sent.
        result = run(session, tenant, day, None if state["down"] else sender, checkpoint=session.commit)
        state["down"] = state["down"] or result.server_down
        return result

    results = for_each_tenant(db, work)
    for slug, r in results.items():
        click.echo(f"{slug}: {r.created} new, {r.sent} sent, {r.failed} failed")
    total = {key: sum(getattr(r, key) for r in results.values()) for key in ("created", "sent", "failed")}
    click.echo(f"{day.isoformat()}: {len(results)} tenants; {total['created']} new, {total['sent']} sent, "
               f"{total['failed']} failed")
    if state["down"]:
        log.error("mail server unavailable: unsent reminders wait for the next run")
        click.echo("mail server unavailable: unsent reminders wait for the next run", err=True)
        raise SystemExit(1)
