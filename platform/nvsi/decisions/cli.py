"""``nvsi decisions close``: record the outcome of every proposal whose voting has ended.

Run it on a schedule (e.g. a CronJob every few minutes after midnight); pages and the API also
close overdue proposals when they are read, so the job only makes it timely without readers.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from nvsi.db import utcnow
from nvsi.extensions import db


@click.group("decisions")
def decisions_group() -> None:
    """Collective decisions of the members."""


@decisions_group.command("close")
@with_appcontext
def close_command() -> None:
    """Close every proposal whose voting has ended; adopted ones become rule-set versions."""
    from nvsi.decisions.services import close_due_proposals

    closed = close_due_proposals(db.session, utcnow())
    db.session.commit()
    for proposal in closed:
        version = f" -> rule-set version {proposal.rule_set_version}" if proposal.rule_set_version else ""
        note = f" (not applied: {proposal.adoption_error})" if proposal.adoption_error else ""
        click.echo(f"proposal {proposal.id} ({proposal.parameter.key}): {proposal.status.value}{version}{note}")
    click.echo(f"{len(closed)} proposal(s) closed")
