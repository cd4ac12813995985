"""``nvsi members …``: the member administration's commands.

    nvsi members offboard SLUG --reason TEXT --yes     every remaining step (resumable)
    nvsi members purge-archives [--today YYYY-MM-DD]   delete archives past their retain_until

Output names slugs, counts and dates only. Every step is audited as ``system:nvsi-cli``.
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from nvsi.extensions import db
from nvsi.observability import track_job
from nvsi.tenancy.routing import current_router

ACTOR = "system:nvsi-cli"


@click.group("members")
def members_group() -> None:
    """Member administration: offboarding and archive retention."""


@members_group.command("offboard")
@click.argument("slug")
@click.option("--reason", default=None, help="Why the member leaves (needed to start).")
@click.option("--until", type=click.Choice(["export", "retention", "drop_schema", "complete"]), default=None,
              help="Stop after this step (default: run every step).")
@click.option("--yes", is_flag=True, help="Confirm that the tenant's schema may be dropped.")
@with_appcontext
@track_job("offboard")
def offboard_command(slug: str, reason: str | None, until: str | None, yes: bool) -> None:
    """Offboard a member: start (if needed), export, retention, drop the schema, complete.

    Resumable: run it again after a failure and it continues with the step that did not finish.
    """
    from nvsi.members import services

    if until in (None, "drop_schema", "complete") and not yes:
        raise click.ClickException("dropping the schema is irreversible: add --yes (or --until retention)")
    ctx = services.context(current_router(), actor_label=ACTOR)
    try:
        member = services.run_offboarding(db.session, slug, ctx, reason=reason, until=until)
    except services.MemberNotFound as exc:
        raise click.ClickException(f"no member {slug!r}") from exc
    except services.MemberError as exc:
        db.session.rollback()
        raise click.ClickException(f"{slug}: refused ({exc.code})") from exc
    o = member.offboarding
    click.echo(f"{slug}: {member.status.value}; archive {o.archive_file or '-'} "
               f"({sum((o.archive_rows or {}).values())} rows), kept until {o.retain_until or '-'}; "
               f"next step: {o.next_step or 'none'}")


@members_group.command("purge-archives")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as on this day (YYYY-MM-DD); default: today.")
@with_appcontext
@track_job("purge_archives")
def purge_command(today: dt.datetime | None) -> None:
    """Delete the offboarding archives whose retention period has ended (idempotent)."""
    from nvsi.members import services

    day = today.date() if today else dt.date.today()
    purged = services.purge_expired_archives(db.session, services.context(current_router(), ACTOR), day)
    db.session.commit()
    for o in purged:
        click.echo(f"{o.tenant.slug}: archive deleted (kept until {o.retain_until.isoformat()})")
    click.echo(f"{day.isoformat()}: {len(purged)} archives deleted")
