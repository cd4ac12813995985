"""Operator commands for accounts, under ``nvsi users``: for the person who lost both the phone
and the recovery codes, and for lifting a lockout early. Both are audited."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from nvsi.audit.services import record
from nvsi.auth import lockout, totp
from nvsi.auth.services import get_user_by_email
from nvsi.extensions import db


def _account(email: str):
    user = get_user_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no account {email!r}")
    return user


@click.command("reset-two-factor")
@click.argument("email")
@with_appcontext
def reset_two_factor_command(email: str) -> None:
    """Switch two-factor login off for EMAIL (authenticator and recovery codes). Where it is
    mandatory, the next login asks to link a new authenticator."""
    user = _account(email)
    totp.disable(db.session, user)
    record(db.session, "user.two_factor_reset", object_type="user", object_id=user.id, actor_label="system:cli")
    db.session.commit()
    click.echo(f"two-factor login of {user.email} reset")


@click.command("unlock")
@click.argument("email")
@with_appcontext
def unlock_command(email: str) -> None:
    """Lift the lockout of EMAIL now (and start its failure count again)."""
    user = _account(email)
    lockout.record_success(user)
    record(db.session, "user.unlocked", object_type="user", object_id=user.id, actor_label="system:cli")
    db.session.commit()
    click.echo(f"{user.email} unlocked")


def register(users_group) -> None:
    """Add these commands to ``nvsi users``."""
    users_group.add_command(reset_two_factor_command)
    users_group.add_command(unlock_command)
