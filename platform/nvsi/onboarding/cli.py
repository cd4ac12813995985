"""``nvsi onboarding provision-pending``: resume every unfinished provisioning (a CronJob)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from nvsi.observability import track_job
from nvsi.onboarding import provisioning


@click.group("onboarding")
def onboarding_group() -> None:
    """Self-onboarding of municipalities."""


@onboarding_group.command("provision-pending")
@with_appcontext
@track_job("onboarding-provision-pending")
def provision_pending_command() -> None:
    """Provision every approved member whose provisioning is pending, was left behind by a worker
    that stopped (its lease ran out), or failed with attempts left. Safe to run at any time and
    from several places at once: a job is claimed by one worker only."""
    outcomes = provisioning.provision_pending(current_app._get_current_object())
    for job_id, outcome in outcomes.items():
        click.echo(f"job {job_id}: {outcome}")
    failed = [job_id for job_id, outcome in outcomes.items() if outcome == "failed"]
    click.echo(f"{len(outcomes)} job(s) taken, {len(failed)} failed")
    if failed:
        raise SystemExit(1)
