"""Member administration (NVSI administrators): statuses, suspension, offboarding, key figures.

* **Status** of a member, derived (:func:`member_status`): *applicant* (a sign-up waiting for
  approval), *provisioning*, *active*, *suspended* (read-only), *leaving* (an offboarding is under
  way: read-only too), *offboarded* (schema dropped, memberships ended).
* **Suspend / reinstate**, with a reason: ``tenants.status`` moves between active and suspended.
  A suspended tenant's users can read but not write (``nvsi.tenancy.web``); jobs skip it.
* **Offboarding** in resumable steps, each in its own transaction and audited: start (leaving),
  export (the encrypted archive, :mod:`nvsi.members.export`), retention (``retain_until``,
  7 years), drop the schema (after checking the archive against the live rows), complete (the
  memberships end). :func:`run_offboarding` runs whatever is left, so a crash resumes.
* **Key figures** per member: one session and a few aggregate queries per tenant.

Functions flush and never commit, except :func:`run_offboarding` (a job of several
transactions, like ``nvsi.tenancy.services.provision_tenant``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from nvsi import migrate
from nvsi.audit.models import AuditEvent
from nvsi.audit.services import record
from nvsi.auth.models import Membership, User
from nvsi.db import ObjectNotFound, TenantBase, utcnow
from nvsi.members import export
from nvsi.members.models import Offboarding
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.naming import quoted_schema
from nvsi.tenancy.routing import Router, tenant_session
from nvsi.tenancy.services import tenant_ref

#: Financial records are kept seven years (art. 52 AWR; DOMAIN.md); OFFBOARDING_RETENTION_YEARS.
RETENTION_YEARS = 7
#: The steps after the start, in order.
STEPS = ("export", "retention", "drop_schema", "complete")


class MemberStatus(str, enum.Enum):
    """Where a member stands (derived; see the module doc)."""

    APPLICANT = "applicant"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEAVING = "leaving"
    OFFBOARDED = "offboarded"


class MemberNotFound(ObjectNotFound):
    """No member with this slug."""


@dataclass
class MemberError(Exception):
    """A member action was refused. ``code`` is stable (API, messages); ``field`` names the
    input at fault (or None); ``status`` is the HTTP status (409 state, 422 input)."""

    code: str
    field: str | None = None
    status: int = 409
    params: dict | None = None


# -- reading ------------------------------------------------------------------------------------


def member_status(tenant: Tenant, offboarding: Offboarding | None) -> MemberStatus:
    """The member status of a tenant, from its own status and its offboarding (if any)."""
    if offboarding is not None:
        return MemberStatus.OFFBOARDED if offboarding.completed_at else MemberStatus.LEAVING
    return {
        TenantStatus.PROVISIONING: MemberStatus.PROVISIONING,
        TenantStatus.ACTIVE: MemberStatus.ACTIVE,
        TenantStatus.SUSPENDED: MemberStatus.SUSPENDED,
    }[tenant.status]


@dataclass
class Member:
    """A member (tenant) with its status and offboarding, for lists and pages."""

    tenant: Tenant
    offboarding: Offboarding | None
    #: Filled in by :func:`key_figures`.
    figures: KeyFigures | None = None

    @property
    def status(self) -> MemberStatus:
        return member_status(self.tenant, self.offboarding)

    @property
    def has_schema(self) -> bool:
        """Whether its tenant schema exists (provisioned, not dropped)."""
        return self.tenant.status is not TenantStatus.PROVISIONING and not (
            self.offboarding is not None and self.offboarding.schema_dropped_at is not None)


@dataclass(frozen=True)
class Applicant:
    """A municipality that signed up and waits for approval (shown with status *applicant*)."""

    name: str
    cbs_code: str
    applied_at: dt.datetime
    #: Whether the contact's e-mail address was verified (only then can it be approved).
    verified: bool


def pending_applicants(session: Session) -> list[Applicant]:
    """Sign-ups waiting for an NVSI administrator's decision (``nvsi.onboarding``), oldest first."""
    from nvsi.onboarding.models import OPEN_STATUSES, ApplicationStatus, MembershipApplication

    rows = session.scalars(
        sa.select(MembershipApplication).where(MembershipApplication.status.in_(OPEN_STATUSES))
        .order_by(MembershipApplication.submitted_at)
    )
    return [Applicant(a.municipality_name, a.cbs_code, a.submitted_at, a.status is ApplicationStatus.VERIFIED)
            for a in rows]


def list_members(session: Session) -> list[Member]:
    """Every tenant with its offboarding, by name."""
    rows = session.execute(
        sa.select(Tenant, Offboarding).outerjoin(Offboarding, Offboarding.tenant_id == Tenant.id)
        .order_by(Tenant.name)
    )
    return [Member(tenant, offboarding) for tenant, offboarding in rows]


def get_member(session: Session, slug: str) -> Member:
    """The member with this slug; :class:`MemberNotFound` otherwise."""
    row = session.execute(
        sa.select(Tenant, Offboarding).outerjoin(Offboarding, Offboarding.tenant_id == Tenant.id)
        .where(Tenant.slug == slug)
    ).first()
    if row is None:
        raise MemberNotFound(slug)
    return Member(*row)


def member_events(session: Session, tenant_id: int, limit: int = 50) -> list[AuditEvent]:
    """The member administration's audit events of one tenant (``member.*``), newest first."""
    return list(session.scalars(
        sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action.startswith("member."))
        .order_by(AuditEvent.id.desc()).limit(limit)
    ))


# -- key figures ----------------------------------------------------------------------------------


@dataclass
class KeyFigures:
    """A member's figures: None where the tenant has no schema (provisioning, offboarded)."""

    users: int
    candidates: int | None = None
    active_placements: int | None = None
    #: Approved hours worked this calendar year (corrections applied).
    approved_hours: Decimal | None = None
    #: Invoiced revenue this year in cents. HOOK (issue 5): from the ledger once it exists.
    invoiced_revenue_cents: int | None = None


def invoiced_revenue_cents(session: Session, tenant_id: int, year: int) -> int | None:
    """The member's invoiced revenue (excluding VAT) in ``year``, in cents, from the ledger: what
    invoices and credit notes moved on its revenue account (a settlement's closing entry, which
    empties the account, is left out)."""
    from nvsi.ledger import chart
    from nvsi.ledger.services import balance_movements

    return -balance_movements(session, chart.REVENUE, tenant_id, dt.date(year, 1, 1), dt.date(year, 12, 31),
                              exclude_kinds=("settlement",))


def user_counts(session: Session) -> dict[int, int]:
    """Active users per tenant (one grouped query over the memberships)."""
    rows = session.execute(
        sa.select(Membership.tenant_id, sa.func.count())
        .join(User, User.id == Membership.user_id).where(User.active.is_(True))
        .group_by(Membership.tenant_id)
    )
    return dict(rows.all())


def tenant_figures(session: Session, today: dt.date) -> tuple[int, int, Decimal]:
    """Candidates, placements running today and this year's approved hours of the session's
    tenant: aggregate queries only."""
    from tenants.candidates.models import Candidate
    from tenants.placements.models import Placement, PlacementStatus
    from tenants.timesheets.services import approved_hours

    running = sa.and_(Placement.status == PlacementStatus.ACTIVE, Placement.start_date <= today,
                      Placement.end_date >= today)
    candidates, placements = session.execute(sa.select(
        sa.select(sa.func.count()).select_from(Candidate).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Placement).where(running).scalar_subquery(),
    )).one()
    hours = approved_hours(session, period=(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)))
    return candidates, placements, hours


def key_figures(db, session: Session, members: list[Member], today: dt.date,
                router: Router | None = None) -> dict[int, KeyFigures]:
    """Figures per tenant id: users from the shared level, the rest from each tenant's schema,
    in one short session per tenant (never two tenants in one session)."""
    users = user_counts(session)
    result = {}
    for member in members:
        figures = KeyFigures(users=users.get(member.tenant.id, 0),
                             invoiced_revenue_cents=invoiced_revenue_cents(session, member.tenant.id, today.year))
        if member.has_schema:
            with tenant_session(db, tenant_ref(member.tenant), router=router) as tenant_db:
                figures.candidates, figures.active_placements, figures.approved_hours = \
                    tenant_figures(tenant_db, today)
        result[member.tenant.id] = member.figures = figures
    return result


# -- suspend and reinstate ------------------------------------------------------------------------


def suspend(session: Session, member: Member, reason: str) -> Tenant:
    """Suspend an active member: its users keep reading, every change is refused."""
    if member.offboarding is not None:
        raise MemberError("offboarding_in_progress")
    if member.tenant.status is not TenantStatus.ACTIVE:
        raise MemberError("not_active")
    member.tenant.status = TenantStatus.SUSPENDED
    session.flush()
    record(session, "member.suspended", tenant_id=member.tenant.id, object_type="tenant",
           object_id=member.tenant.id, changes={"status": ["active", "suspended"], "reason": reason})
    return member.tenant


def reinstate(session: Session, member: Member, reason: str) -> Tenant:
    """Lift a suspension: the member is active again."""
    if member.offboarding is not None:
        raise MemberError("offboarding_in_progress")
    if member.tenant.status is not TenantStatus.SUSPENDED:
        raise MemberError("not_suspended")
    member.tenant.status = TenantStatus.ACTIVE
    session.flush()
    record(session, "member.reinstated", tenant_id=member.tenant.id, object_type="tenant",
           object_id=member.tenant.id, changes={"status": ["suspended", "active"], "reason": reason})
    return member.tenant


# -- offboarding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffboardingContext:
    """What the steps need besides the session: where archives live, their key, the router,
    and who acts when there is no logged-in user (the command line)."""

    router: Router
    archive_dir: Path
    key: bytes
    retention_years: int = RETENTION_YEARS
    actor_label: str | None = None


def context(router: Router, actor_label: str | None = None) -> OffboardingContext:
    """The context from the app's configuration (OFFBOARDING_ARCHIVE_DIR, DATA_KEY, …)."""
    config = current_app.config
    folder = config.get("OFFBOARDING_ARCHIVE_DIR") or str(Path(current_app.instance_path) / "archives")
    return OffboardingContext(router=router, archive_dir=Path(folder), key=export.archive_key(config["DATA_KEY"]),
                              retention_years=int(config.get("OFFBOARDING_RETENTION_YEARS") or RETENTION_YEARS),
                              actor_label=actor_label)


def _record(session: Session, ctx: OffboardingContext | None, action: str, offboarding: Offboarding, **changes):
    record(session, action, tenant_id=offboarding.tenant_id, object_type="offboarding",
           object_id=offboarding.id, changes=changes or None,
           actor_label=ctx.actor_label if ctx else None)


def start_offboarding(session: Session, member: Member, reason: str,
                      ctx: OffboardingContext | None = None) -> Offboarding:
    """Step 1: the member is *leaving*. Its tenant becomes read-only (status suspended), so the
    export that follows is the final state."""
    if member.offboarding is not None:
        raise MemberError("offboarding_in_progress")
    if member.tenant.status is TenantStatus.PROVISIONING:
        raise MemberError("not_provisioned")
    offboarding = Offboarding(tenant_id=member.tenant.id, reason=reason, status_before=member.tenant.status.value,
                              started_by_user_id=_actor_id())
    session.add(offboarding)
    member.tenant.status = TenantStatus.SUSPENDED
    session.flush()
    member.offboarding = offboarding
    _record(session, ctx, "member.leaving", offboarding, reason=reason, status=[offboarding.status_before, "leaving"])
    return offboarding


def _actor_id() -> int | None:
    from flask import has_request_context
    from flask_login import current_user

    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user.id
    return None


def cancel_offboarding(session: Session, member: Member, ctx: OffboardingContext, reason: str) -> Tenant:
    """Stop an offboarding before the schema is dropped: the archive (if any) is deleted and
    the tenant gets back the status it had."""
    offboarding = _require(member)
    if offboarding.schema_dropped_at is not None:
        raise MemberError("schema_dropped")
    if offboarding.archive_file:
        (ctx.archive_dir / offboarding.archive_file).unlink(missing_ok=True)
    member.tenant.status = TenantStatus(offboarding.status_before)
    _record(session, ctx, "member.offboarding_cancelled", offboarding, reason=reason,
            status=["leaving", offboarding.status_before])
    session.delete(offboarding)
    session.flush()
    member.offboarding = None
    return member.tenant


def _require(member: Member) -> Offboarding:
    if member.offboarding is None:
        raise MemberError("no_offboarding")
    return member.offboarding


def archive_name(member: Member) -> str:
    """The archive's file name: the slug and the offboarding id (no personal data)."""
    return f"{member.tenant.slug}-{member.offboarding.id}.zip.enc"


@contextmanager
def _tenant_reading(router: Router, schema: str) -> Iterator[sa.Connection]:
    """A connection mapped to the tenant, in one read transaction: one snapshot of all its
    tables (PostgreSQL: REPEATABLE READ; SQLite: a read transaction holds its shared lock)."""
    bind = router.tenant_bind(schema)
    if isinstance(bind, sa.Connection):  # tests: the test's own connection, already in a transaction
        yield bind
        return
    with bind.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def export_archive(session: Session, member: Member, ctx: OffboardingContext) -> Offboarding:
    """Step 2: write the archive of every tenant table and file (again, until the schema is
    dropped: a re-export replaces the file)."""
    offboarding = _require(member)
    if offboarding.schema_dropped_at is not None:
        raise MemberError("schema_dropped")
    tenant = member.tenant
    moment = utcnow()
    revision = migrate.tenant_revisions(ctx.router, [tenant.schema])[tenant.schema]
    about = {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "cbs_code": tenant.cbs_code}
    with _tenant_reading(ctx.router, tenant.schema) as conn:
        written = export.write_archive(ctx.archive_dir / archive_name(member), ctx.key, conn, about, revision, moment)
    offboarding.exported_at = moment
    offboarding.archive_file = written.path.name
    offboarding.archive_sha256 = written.sha256
    offboarding.archive_bytes = written.bytes
    offboarding.archive_rows = written.rows
    session.flush()
    _record(session, ctx, "member.exported", offboarding, archive=written.path.name, bytes=written.bytes,
            sha256=written.sha256, rows=sum(written.rows.values()))
    return offboarding


def retention_date(exported: dt.date, years: int = RETENTION_YEARS) -> dt.date:
    """The last day the archive is kept: the end of the ``years``-th calendar year after the
    export (records are kept seven years from the end of the year they concern)."""
    return dt.date(exported.year + years, 12, 31)


def set_retention(session: Session, member: Member, ctx: OffboardingContext) -> Offboarding:
    """Step 3: the archive (with the invoices and their documents) is kept until
    ``retain_until``; the ledger in the shared schema is never touched."""
    offboarding = _require(member)
    if offboarding.exported_at is None:
        raise MemberError("step_out_of_order", params={"step": "export"})
    offboarding.retain_until = retention_date(offboarding.exported_at.date(), ctx.retention_years)
    session.flush()
    _record(session, ctx, "member.retention_set", offboarding, retain_until=offboarding.retain_until)
    return offboarding


def live_row_counts(router: Router, schema: str) -> dict[str, int] | None:
    """Rows per tenant table now, or None when the schema (or file) is already gone."""
    if router.is_sqlite:
        if not router.tenant_file(schema).exists():
            return None
    else:
        with router.engine.connect() as conn:
            if conn.scalar(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}) is None:
                return None
    with _tenant_reading(router, schema) as conn:
        return {t.name: conn.scalar(sa.select(sa.func.count()).select_from(t))
                for t in TenantBase.metadata.sorted_tables}


def verify_archive(member: Member, ctx: OffboardingContext) -> None:
    """Refuse (:class:`MemberError`) unless the archive file is there, unchanged (SHA-256) and
    decrypts completely, and it holds as many rows per table as the tenant schema now."""
    offboarding = _require(member)
    path = ctx.archive_dir / (offboarding.archive_file or "-")
    if not offboarding.archive_file or not path.is_file():
        raise MemberError("archive_missing")
    if export.file_sha256(path) != offboarding.archive_sha256:
        raise MemberError("archive_damaged")
    try:
        for _chunk in export.decrypt_file(path, ctx.key):
            pass
    except export.ArchiveError as exc:
        raise MemberError("archive_damaged") from exc
    live = live_row_counts(ctx.router, member.tenant.schema)
    if live is not None and live != offboarding.archive_rows:
        raise MemberError("export_outdated")


def drop_schema(session: Session, member: Member, ctx: OffboardingContext, confirm: str) -> Offboarding:
    """Step 4: remove the tenant's schema (PostgreSQL ``DROP SCHEMA … CASCADE``, in this
    transaction) or file (SQLite), after :func:`verify_archive`. ``confirm`` must be the slug."""
    offboarding = _require(member)
    if confirm != member.tenant.slug:
        raise MemberError("confirm_slug", field="confirm", status=422)
    if offboarding.exported_at is None or offboarding.retain_until is None:
        raise MemberError("step_out_of_order", params={"step": offboarding.next_step})
    verify_archive(member, ctx)
    schema = member.tenant.schema
    if ctx.router.is_sqlite:
        migrate.drop_tenant_schema(ctx.router, schema)  # forgets the bind, removes the file
    else:
        session.connection().exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted_schema(schema)} CASCADE")
        ctx.router.forget(schema)
    offboarding.schema_dropped_at = utcnow()
    session.flush()
    _record(session, ctx, "member.schema_dropped", offboarding, schema=schema)
    return offboarding


def complete_offboarding(session: Session, member: Member, ctx: OffboardingContext | None = None) -> Offboarding:
    """Step 5: the member is *offboarded*. Its memberships end; municipality users left without
    any membership are deactivated (they could no longer open anything)."""
    offboarding = _require(member)
    if offboarding.schema_dropped_at is None:
        raise MemberError("step_out_of_order", params={"step": offboarding.next_step})
    memberships = list(session.scalars(sa.select(Membership).where(Membership.tenant_id == member.tenant.id)))
    user_ids = sorted(m.user_id for m in memberships)
    for membership in memberships:
        session.delete(membership)
    session.flush()
    deactivated = []
    if user_ids:
        remaining = set(session.scalars(sa.select(Membership.user_id).where(Membership.user_id.in_(user_ids))))
        for user in session.scalars(sa.select(User).where(User.id.in_(user_ids))):
            if user.role.is_municipal and user.id not in remaining and user.active:
                user.active = False
                deactivated.append(user.id)
    offboarding.completed_at = utcnow()
    session.flush()
    _record(session, ctx, "member.offboarded", offboarding, memberships_ended=user_ids,
            users_deactivated=deactivated, status=["leaving", "offboarded"])
    return offboarding


def run_step(session: Session, member: Member, ctx: OffboardingContext, step: str, confirm: str = "") -> Offboarding:
    """Run one named step; only the next one (or a re-export before the drop) is allowed, so a
    form sent twice does not run two steps."""
    offboarding = _require(member)
    allowed = {offboarding.next_step}
    if offboarding.schema_dropped_at is None:
        allowed.add("export")
    if step not in allowed:
        raise MemberError("step_out_of_order", field="step", params={"step": offboarding.next_step})
    if step == "export":
        return export_archive(session, member, ctx)
    if step == "retention":
        return set_retention(session, member, ctx)
    if step == "drop_schema":
        return drop_schema(session, member, ctx, confirm)
    return complete_offboarding(session, member, ctx)


def run_offboarding(session: Session, slug: str, ctx: OffboardingContext, reason: str | None = None,
                    until: str | None = None) -> Member:
    """Start (if needed) and run every remaining step up to and including ``until``,
    **committing after each**, so a crash or an error resumes at the step that did not finish.
    The drop is confirmed by the caller (``nvsi members offboard --yes``)."""
    member = get_member(session, slug)
    if member.offboarding is None:
        if not reason:
            raise MemberError("reason_required", field="reason", status=422)
        start_offboarding(session, member, reason, ctx)
        session.commit()
    while member.offboarding.next_step is not None:
        step = member.offboarding.next_step
        run_step(session, member, ctx, step, confirm=member.tenant.slug)
        session.commit()
        if step == until:
            break
    return member


# -- the archive after the offboarding ------------------------------------------------------------


def archive_chunks(session: Session, member: Member, ctx: OffboardingContext) -> Iterator[bytes]:
    """The decrypted archive (a zip) for download, chunk by chunk; the download is recorded in
    the audit log first (the caller commits before streaming)."""
    offboarding = _require(member)
    path = ctx.archive_dir / (offboarding.archive_file or "-")
    if not offboarding.archive_file or offboarding.archive_deleted_at is not None or not path.is_file():
        raise MemberError("archive_missing")
    _record(session, ctx, "member.archive_downloaded", offboarding, archive=offboarding.archive_file)
    return export.decrypt_file(path, ctx.key)


def purge_expired_archives(session: Session, ctx: OffboardingContext, today: dt.date) -> list[Offboarding]:
    """Delete every archive whose ``retain_until`` lies before ``today`` (audited); returns the
    offboardings concerned. Idempotent."""
    due = list(session.scalars(
        sa.select(Offboarding).where(Offboarding.retain_until < today, Offboarding.archive_deleted_at.is_(None),
                                     Offboarding.archive_file.is_not(None))
    ))
    for offboarding in due:
        (ctx.archive_dir / offboarding.archive_file).unlink(missing_ok=True)
        offboarding.archive_deleted_at = utcnow()
        session.flush()
        _record(session, ctx, "member.archive_deleted", offboarding, archive=offboarding.archive_file,
                retain_until=offboarding.retain_until)
    return due
