"""Provisioning an approved member in the background, with visible progress, losing nothing.

* The approval commits the tenant (state *provisioning*) and a :class:`ProvisioningJob` with its
  steps before any work starts; only then is a worker thread started (:func:`start_in_background`).
* A worker first **claims** the job with one conditional UPDATE (pending, or running with an
  expired lease, or failed with attempts left): of two workers, one gets the row, the other none.
  While it works it renews the lease with every step; every write it makes is conditional on
  still holding the claim, so a worker that lost it (it stalled past its lease and another took
  over) stops instead of writing.
* Each step commits its own result. A worker that dies leaves a job whose lease runs out;
  ``nvsi onboarding provision-pending`` (a CronJob) resumes it from the first step not done.
  The steps are safe to repeat: ``provision_tenant`` creates a missing schema or migrates one
  that is behind; the invitation re-uses an account that has no password yet.

Steps: ``registered`` (done by the approval), ``schema`` (schema created and at the tenant head,
default rows, tenant active), ``check`` (the schema is at head and the tenant active), ``invite``
(the contact becomes the tenant's municipality administrator and gets the invitation mail).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from nvsi import migrate
from nvsi.audit.services import record
from nvsi.auth.models import Role, User
from nvsi.db import utcnow
from nvsi.extensions import db
from nvsi.onboarding.models import JobStatus, MembershipApplication, ProvisioningJob, ProvisioningStep, StepState
from nvsi.rules.violations import RuleViolations
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import Router, RoutingSession, current_router

log = logging.getLogger(__name__)

#: The audit log's actor for the provisioning worker.
ACTOR = "system:onboarding"
#: Alembic's ``op`` and ``context`` are process-wide: two schema steps in threads of one process
#: would corrupt each other (docs/architecture.md), so they take turns.
_SCHEMA_LOCK = threading.Lock()


class LostClaim(RuntimeError):
    """Another worker took the job over (this one stalled past its lease): stop, write nothing."""


class StepFailed(RuntimeError):
    """A step's check failed; the message says what (no personal data)."""


def worker_name() -> str:
    """This worker's name: host, process and thread."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident()}"


def _lease(app) -> dt.timedelta:
    return dt.timedelta(seconds=int(app.config["ONBOARDING_PROVISION_LEASE_SECONDS"]))


def _claimable(now: dt.datetime, max_attempts: int, include_failed: bool):
    condition = sa.or_(
        ProvisioningJob.status == JobStatus.PENDING,
        sa.and_(ProvisioningJob.status == JobStatus.RUNNING, ProvisioningJob.lease_until < now),
    )
    if include_failed:
        condition = sa.or_(condition, sa.and_(ProvisioningJob.status == JobStatus.FAILED,
                                              ProvisioningJob.attempts < max_attempts))
    return condition


def claim(session: Session, job_id: int, worker: str, *, lease: dt.timedelta, max_attempts: int,
          include_failed: bool = False, now: dt.datetime | None = None) -> bool:
    """Take the job for ``worker`` if nobody holds it; commits. Whether this worker got it.

    One UPDATE with the claimability in its WHERE: PostgreSQL re-checks the condition on the row
    a concurrent claim just committed, and SQLite runs one writer at a time, so two workers never
    both succeed."""
    now = now or utcnow()
    result = session.execute(
        sa.update(ProvisioningJob)
        .where(ProvisioningJob.id == job_id, _claimable(now, max_attempts, include_failed))
        .values(status=JobStatus.RUNNING, claimed_by=worker, lease_until=now + lease,
                attempts=ProvisioningJob.attempts + 1,
                started_at=sa.func.coalesce(ProvisioningJob.started_at, now), last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def _report(session: Session, job_id: int, worker: str, lease: dt.timedelta, **values) -> None:
    """Renew the lease (and set ``values``) if ``worker`` still holds the job; else LostClaim."""
    now = utcnow()
    result = session.execute(
        sa.update(ProvisioningJob)
        .where(ProvisioningJob.id == job_id, ProvisioningJob.claimed_by == worker,
               ProvisioningJob.status == JobStatus.RUNNING)
        .values(**{"lease_until": now + lease, "updated_at": now, **values})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        raise LostClaim(job_id)


def _set_step(session: Session, job_id: int, key: str, state: StepState, detail: str | None = None) -> None:
    now = utcnow()
    values: dict = {"state": state, "detail": detail}
    if state is StepState.RUNNING:
        values.update(started_at=now, finished_at=None)
    elif state in (StepState.DONE, StepState.FAILED):
        values["finished_at"] = now
    session.execute(sa.update(ProvisioningStep).where(ProvisioningStep.job_id == job_id, ProvisioningStep.key == key)
                    .values(**values).execution_options(synchronize_session=False))


def _describe(exc: BaseException) -> str:
    """What went wrong, without personal data: a refusal's messages, else the error's type and,
    for our own errors, their text (a driver's message can repeat a statement's parameters)."""
    if isinstance(exc, RuleViolations):
        return "; ".join(v.message_nl for v in exc.violations)[:500]
    if isinstance(exc, (StepFailed, tenancy.TenantError)):
        return f"{type(exc).__name__}: {exc}"[:500]
    return type(exc).__name__


# -- the steps ----------------------------------------------------------------------------------------


def _step_schema(app, router: Router, job: ProvisioningJob) -> None:
    with _SCHEMA_LOCK:
        session = RoutingSession(db, router=router)
        try:
            tenancy.provision_tenant(session, router, job.slug)  # commits
        finally:
            session.close()


def _step_check(app, router: Router, job: ProvisioningJob) -> None:
    session = RoutingSession(db, router=router)
    try:
        tenant = tenancy.get_tenant(session, job.slug)
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            raise StepFailed(f"tenant {job.slug} is not active")
        revision = migrate.tenant_revisions(router, [tenant.schema])[tenant.schema]
        if revision != migrate.head("tenant"):
            raise StepFailed(f"schema {tenant.schema} is at {revision}, not at head {migrate.head('tenant')}")
    finally:
        session.close()


def _step_invite(app, router: Router, job: ProvisioningJob, worker: str) -> None:
    from nvsi.auth import invitations

    session = RoutingSession(db, router=router)
    try:
        application = session.get(MembershipApplication, job.application_id)
        tenant = tenancy.get_tenant(session, job.slug)
        invited_by = session.get(User, application.decided_by_user_id) if application.decided_by_user_id else None
        base = (app.config.get("MAIL_LINK_BASE_URL") or job.link_base_url or "").rstrip("/")
        # Links are built on the approving request's host (or MAIL_LINK_BASE_URL): outside a
        # request, Flask needs a request context to know it.
        with app.test_request_context("/", base_url=base or None):
            invitation = invitations.invite_user(
                session, email=application.contact_email, name=application.contact_name,
                role=Role.MUNICIPALITY_ADMIN, tenant_id=tenant.id, invited_by=invited_by,
                tenant_name=tenant.name)
        if not invitation.mail_sent:
            session.rollback()
            raise StepFailed("the invitation mail could not be sent")
        _report(session, job.id, worker, _lease(app), invited_user_id=invitation.user.id)
        session.commit()
    finally:
        session.close()


# -- running a job ----------------------------------------------------------------------------------------


def run_job(app, job_id: int, worker: str | None = None, *, include_failed: bool = False,
            router: Router | None = None) -> str:
    """Claim and run (or resume) one job; returns ``"done"``, ``"failed"``, ``"skipped"`` (another
    worker holds it, or there is nothing to do) or ``"lost"`` (taken over while running)."""
    worker = worker or worker_name()
    with app.app_context():
        router = router or current_router()
        lease = _lease(app)
        session = RoutingSession(db, router=router)
        try:
            if not claim(session, job_id, worker, lease=lease, include_failed=include_failed,
                         max_attempts=int(app.config["ONBOARDING_PROVISION_MAX_ATTEMPTS"])):
                return "skipped"
            job = session.get(ProvisioningJob, job_id)
            todo = [s.key for s in job.steps if s.state is not StepState.DONE]
            session.expunge(job)
            session.commit()
        finally:
            session.close()
        log.info("provisioning started", extra={"fields": {"job_id": job_id, "tenant_id": job.tenant_id,
                                                           "steps": todo}})
        for key in todo:
            session = RoutingSession(db, router=router)
            try:
                _report(session, job_id, worker, lease)
                _set_step(session, job_id, key, StepState.RUNNING)
                session.commit()
                try:
                    if key == "schema":
                        _step_schema(app, router, job)
                    elif key == "check":
                        _step_check(app, router, job)
                    elif key == "invite":
                        _step_invite(app, router, job, worker)
                except LostClaim:
                    raise
                except Exception as exc:  # recorded on the job; the CronJob or an administrator retries
                    session.rollback()
                    detail = _describe(exc)
                    log.error("provisioning step failed",
                              extra={"fields": {"job_id": job_id, "step": key, "error": type(exc).__name__}})
                    _report(session, job_id, worker, lease, status=JobStatus.FAILED, last_error=detail,
                            claimed_by=None, lease_until=None)
                    _set_step(session, job_id, key, StepState.FAILED, detail)
                    record(session, "tenant.provisioning_failed", tenant_id=job.tenant_id, object_type="tenant",
                           object_id=job.tenant_id, changes={"step": key, "error": type(exc).__name__},
                           actor_label=ACTOR)
                    session.commit()
                    return "failed"
                _report(session, job_id, worker, lease)
                _set_step(session, job_id, key, StepState.DONE)
                session.commit()
            except LostClaim:
                log.warning("provisioning job taken over", extra={"fields": {"job_id": job_id, "step": key}})
                return "lost"
            finally:
                session.close()
        session = RoutingSession(db, router=router)
        try:
            _report(session, job_id, worker, lease, status=JobStatus.DONE, finished_at=utcnow(),
                    claimed_by=None, lease_until=None)
            record(session, "tenant.provisioned", tenant_id=job.tenant_id, object_type="tenant",
                   object_id=job.tenant_id, changes={"slug": job.slug}, actor_label=ACTOR)
            session.commit()
        except LostClaim:
            return "lost"
        finally:
            session.close()
        log.info("provisioning done", extra={"fields": {"job_id": job_id, "tenant_id": job.tenant_id}})
        return "done"


def start_in_background(app, job_id: int) -> threading.Thread:
    """Run the job in a thread of this process (after the approval was committed). If the
    process ends first, the job waits for ``nvsi onboarding provision-pending``."""

    def work():
        try:
            run_job(app, job_id)
        except Exception:  # the thread has no caller to report to: log, the CronJob retries
            log.exception("provisioning worker crashed", extra={"fields": {"job_id": job_id}})

    thread = threading.Thread(target=work, name=f"provision-{job_id}", daemon=True)
    thread.start()
    return thread


def unfinished_jobs(session: Session, now: dt.datetime | None = None, max_attempts: int | None = None) -> list[int]:
    """Ids of the jobs a resuming run takes: pending, running with an expired lease, or failed
    with attempts left."""
    now = now or utcnow()
    max_attempts = max_attempts or int(current_app.config["ONBOARDING_PROVISION_MAX_ATTEMPTS"])
    return list(session.scalars(sa.select(ProvisioningJob.id)
                                .where(_claimable(now, max_attempts, include_failed=True))
                                .order_by(ProvisioningJob.id)))


def provision_pending(app, worker: str | None = None) -> dict[int, str]:
    """Resume every unfinished job, one after another; the outcome per job id."""
    with app.app_context():
        session = RoutingSession(db, router=current_router())
        try:
            ids = unfinished_jobs(session)
        finally:
            session.close()
    return {job_id: run_job(app, job_id, worker, include_failed=True) for job_id in ids}


def retry(session: Session, job: ProvisioningJob, admin: User) -> None:
    """An administrator asks for another attempt at a failed job (audited; the caller commits
    and starts a worker)."""
    if job.status is not JobStatus.FAILED:
        from nvsi.onboarding.services import ApplicationRefused
        from nvsi.rules.violations import violation

        raise ApplicationRefused([violation("not_failed", "status", None, None,
                                            "Alleen een mislukte inrichting kan opnieuw worden gestart.")])
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.claimed_by = job.lease_until = None
    session.flush()
    record(session, "tenant.provisioning_retried", tenant_id=job.tenant_id, object_type="tenant",
           object_id=job.tenant_id, actor=admin)
