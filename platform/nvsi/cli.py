"""Command line: ``flask --app wsgi <command>`` or the console script ``nvsi <command>``.

    nvsi migrate                 shared schema, then every tenant (resumable, progress bar)
    nvsi tenants create SLUG     register and provision a tenant
    nvsi tenants list            tenants with their migration state
    nvsi users create EMAIL      add a user
    nvsi users reset-two-factor EMAIL / unlock EMAIL   lost phone and codes; lift a lockout
    nvsi demo                    seed demo data and print how to log in
    nvsi backup tenant SLUG      one tenant to a file (pg_dump -n t_<slug>); also `backup shared`
    nvsi restore tenant SLUG F   one tenant back from a file, into the same schema
    nvsi reminders send          the daily reminders (piepsysteem) of every tenant (--today D)
    nvsi premiums accrue         premiums of approved hours, every tenant, up to the cap (--up-to D)
    nvsi invoices run            the invoice run of every tenant (--period 2026-W10; default last week)
    nvsi onboarding provision-pending   resume the provisioning of approved members (CronJob)
    nvsi settlements settle      settle a half year of every municipality (--period 2026-H1)
    nvsi premiums payout         the SEPA premium payout of the payment moment due (--moment 2026-H2)
    nvsi payouts list|confirm|reject   premium payout batches; payments confirmed or rejected by hand
    nvsi bank import FILE        read a camt.053 statement of the NVSI account, match its lines
    nvsi invoices dunning        reminders for overdue invoices, every tenant (--today D)
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from nvsi import migrate
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.observability import track_job
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.naming import InvalidSlug
from nvsi.tenancy.routing import current_router


@click.command("migrate")
@click.option("--jobs", type=int, default=None, help="Tenants migrated at once (PostgreSQL).")
@with_appcontext
@track_job("migrate")
def migrate_command(jobs: int | None) -> None:
    """Migrate the shared schema, then every tenant schema that is behind."""
    router = current_router()
    click.echo(f"shared: {migrate.shared_revision(router) or '-'} -> {migrate.head('shared')}")
    migrate.upgrade_shared(router)
    # Provisioned and not offboarded: an offboarded member's schema is gone for good.
    schemas = [t.schema for t in tenancy.tenants_with_schema(db.session)]
    db.session.remove()
    jobs = jobs or current_app.config["MIGRATE_JOBS"]
    failures = []
    with click.progressbar(length=len(schemas), label="tenants", show_pos=True) as bar:
        done_before = len(schemas)

        def progress(outcome):
            if outcome.error:
                failures.append(outcome)
            bar.update(1)

        outcomes = migrate.upgrade_tenants(router, schemas, jobs=jobs, progress=progress)
        bar.update(done_before - len(outcomes))  # those already at head
    click.echo(f"tenants: {len(outcomes) - len(failures)} migrated, "
               f"{len(schemas) - len(outcomes)} already at head, {len(failures)} failed")
    for outcome in failures:
        click.echo(f"  {outcome.schema}: {outcome.error}", err=True)
    if failures:
        raise SystemExit(1)


@click.group("tenants")
def tenants_group() -> None:
    """Member municipalities (tenants)."""


@tenants_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help='Display name, e.g. "Gemeente Utrecht".')
@click.option("--cbs-code", required=True, help="CBS municipality code, e.g. GM0344.")
@with_appcontext
def create_tenant_command(slug: str, name: str, cbs_code: str) -> None:
    """Register a tenant and create its schema at the tenant head (resumes a half-done one)."""
    existing = tenancy.get_tenant(db.session, slug)
    if existing is None:
        try:
            tenancy.register_tenant(db.session, slug, name, cbs_code)
        except (tenancy.TenantError, InvalidSlug) as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
    elif existing.status is not TenantStatus.PROVISIONING:
        raise click.ClickException(f"tenant {slug!r} already exists")
    ref = tenancy.provision_tenant(db.session, current_router(), slug)
    click.echo(f"tenant {ref.slug} ({ref.name}) ready in schema {ref.schema}")


@tenants_group.command("list")
@with_appcontext
def list_tenants_command() -> None:
    """Every tenant with its status and migration state."""
    tenants = db.session.scalars(db.select(Tenant).order_by(Tenant.slug)).all()
    kept = {t.id for t in tenancy.tenants_with_schema(db.session)}
    revisions = migrate.tenant_revisions(current_router(), [t.schema for t in tenants])
    head = migrate.head("tenant")
    click.echo(f"{'slug':<24} {'cbs':<7} {'status':<13} {'revision':<14} state")
    for t in tenants:
        revision = revisions[t.schema]
        state = "at head" if revision == head else ("missing" if revision is None else "behind")
        if t.id not in kept and t.status is not TenantStatus.PROVISIONING:
            state = "offboarded (schema dropped)"
        click.echo(f"{t.slug:<24} {t.cbs_code:<7} {t.status.value:<13} {revision or '-':<14} {state}")
    click.echo(f"{len(tenants)} tenants; tenant head {head}")


@click.group("users")
def users_group() -> None:
    """User accounts."""


@users_group.command("create")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--tenant", "tenant_slugs", multiple=True, help="Slug of a tenant (repeatable).")
@click.password_option()
@with_appcontext
def create_user_command(email, name, role, tenant_slugs, password) -> None:
    """Create a user, with memberships of the given tenants."""
    from nvsi.auth.services import AccountError, create_user

    tenants = []
    for slug in tenant_slugs:
        tenant = tenancy.get_tenant(db.session, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        tenants.append(tenant)
    try:
        user = create_user(db.session, email, name, password, Role(role), tenants)
    except AccountError as exc:
        raise click.ClickException(f"{exc.field}: {exc}") from exc
    db.session.commit()
    click.echo(f"user {user.email} ({user.role.value}) created")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed demo data (idempotent) and print how to log in."""
    from nvsi.demo import seed_demo

    for line in seed_demo(db, current_router()):
        click.echo(line)


def register_cli(app) -> None:
    from nvsi.backup import backup_group, restore_group

    for command in (migrate_command, tenants_group, users_group, demo_command, backup_group, restore_group):
        app.cli.add_command(command)
    from nvsi.auth.cli import register as register_user_commands

    register_user_commands(users_group)
    from nvsi.decisions.cli import decisions_group

    app.cli.add_command(decisions_group)
    from tenants.reminders.cli import reminders_group

    app.cli.add_command(reminders_group)
    from tenants.premiums.cli import premiums_group

    app.cli.add_command(premiums_group)
    from tenants.invoicing.cli import invoices_group

    app.cli.add_command(invoices_group)
    from nvsi.members.cli import members_group

    app.cli.add_command(members_group)
    from nvsi.onboarding.cli import onboarding_group

    app.cli.add_command(onboarding_group)
    from nvsi.settlement.cli import settlements_group

    app.cli.add_command(settlements_group)
    from nvsi.payments.bank_cli import bank_group

    app.cli.add_command(bank_group)
    from tenants.payments.cli import dunning_command

    invoices_group.add_command(dunning_command)
    from nvsi.payouts.cli import payout_command, payouts_group

    premiums_group.add_command(payout_command)
    app.cli.add_command(payouts_group)


def _create_app():
    from nvsi import create_app

    return create_app()


#: The console script ``nvsi``: the same commands as ``flask --app wsgi``.
main = FlaskGroup(create_app=_create_app, help="The NVSI platform's commands.")
