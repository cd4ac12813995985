"""Sign-up applications, the versioned agreement texts and their acceptances, the background
provisioning of an approved member, and the progress of its guided framework set-up (shared schema).

An application is the only record of a municipality before it is a member. Approval registers the
tenant and commits a :class:`ProvisioningJob` with its :class:`ProvisioningStep` rows *before* any
work starts, so a worker that dies leaves a job another worker (or ``nvsi onboarding
provision-pending``) resumes.
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime, append_only, utcnow


def _enum(cls, name: str, length: int = 20) -> sa.Enum:
    return sa.Enum(
        cls, name=name, native_enum=False, create_constraint=True, length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class AgreementKind(str, enum.Enum):
    """The two texts a municipality accepts when it signs up."""

    #: The *gebruikersovereenkomst* between the municipality and the NVSI.
    USER_AGREEMENT = "user_agreement"
    #: The membership terms: the 2% contribution (1% municipality, 1% service company).
    MEMBERSHIP_TERMS = "membership_terms"


class AgreementText(SharedBase):
    """One version of an agreement text. Never changed (append-only): a new wording is a new
    version, so what someone accepted stays readable as they saw it."""

    __tablename__ = "agreement_texts"

    id: Mapped[BigIntPK]
    #: See :class:`AgreementKind`.
    kind: Mapped[AgreementKind] = mapped_column(_enum(AgreementKind, "agreement_kind", 30))
    #: 1, 2, 3, … per kind; the highest is the current text.
    version: Mapped[int] = mapped_column()
    #: Title in Dutch (the binding language).
    title_nl: Mapped[str] = mapped_column(sa.String(200))
    #: Title in English (a courtesy translation).
    title_en: Mapped[str] = mapped_column(sa.String(200))
    #: The text in Dutch (binding); paragraphs separated by blank lines.
    body_nl: Mapped[str] = mapped_column(sa.Text)
    #: The text in English (a courtesy translation).
    body_en: Mapped[str] = mapped_column(sa.Text)
    #: When this version was published.
    published_at: Mapped[Created]

    __table_args__ = (
        sa.UniqueConstraint("kind", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )


append_only(AgreementText.__table__)


class ApplicationStatus(str, enum.Enum):
    """Life cycle of a sign-up."""

    #: Submitted; the contact has not yet confirmed the e-mail address.
    UNVERIFIED = "unverified"
    #: The contact confirmed the address: waiting for the NVSI's decision.
    VERIFIED = "verified"
    #: Approved: the tenant is registered (and provisioned in the background).
    APPROVED = "approved"
    #: Refused by the NVSI, with a reason.
    REJECTED = "rejected"
    #: Never verified, and replaced by a newer sign-up for the same municipality.
    EXPIRED = "expired"


#: Statuses of an application still waiting for something: at most one per municipality.
OPEN_STATUSES = (ApplicationStatus.UNVERIFIED, ApplicationStatus.VERIFIED)
OPEN_ONLY = "status IN ('unverified', 'verified')"


class MembershipApplication(SharedBase):
    """A municipality's sign-up as a member of the NVSI (*aanmelding*)."""

    __tablename__ = "membership_applications"

    id: Mapped[BigIntPK]
    #: See :class:`ApplicationStatus`; at most one open application per municipality.
    status: Mapped[ApplicationStatus] = mapped_column(
        _enum(ApplicationStatus, "application_status"), default=ApplicationStatus.UNVERIFIED, index=True
    )
    #: CBS municipality code, from the platform's municipality list.
    cbs_code: Mapped[str] = mapped_column(sa.String(6))
    #: The municipality's official name, from the same list (never typed by the applicant).
    municipality_name: Mapped[str] = mapped_column(sa.String(200))
    #: Organisation identification number (OIN): ``00000001`` + RSIN + ``000``.
    oin: Mapped[str] = mapped_column(sa.String(20))
    #: Contact person: becomes the tenant's first municipality administrator.
    contact_name: Mapped[str] = mapped_column(sa.String(200))
    #: The contact's e-mail address (lower-case); verified before approval.
    contact_email: Mapped[str] = mapped_column(sa.String(254))
    #: The contact's phone number, optional. Personal data: masked in the audit log.
    contact_phone: Mapped[str | None] = mapped_column(sa.String(30))
    #: Where invoices and the half-yearly settlement go.
    billing_email: Mapped[str] = mapped_column(sa.String(254))
    #: Invoice address: street and number (or PO box).
    invoice_address: Mapped[str] = mapped_column(sa.String(200))
    #: Postal code of the invoice address, as ``1234 AB``.
    postal_code: Mapped[str] = mapped_column(sa.String(7))
    #: City of the invoice address.
    city: Mapped[str] = mapped_column(sa.String(100))
    #: The municipality's purchase-order number or reference for invoices, optional.
    billing_reference: Mapped[str | None] = mapped_column(sa.String(100))
    #: When the last verification link was mailed (a link is valid for ONBOARDING_VERIFY_HOURS).
    verification_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the contact confirmed the e-mail address.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: How the address was confirmed: "link" (the mailed link) or "admin" (by an NVSI admin).
    verified_by: Mapped[str | None] = mapped_column(sa.String(10))
    #: When the application was submitted.
    submitted_at: Mapped[Created]
    #: When the NVSI approved or rejected it.
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The NVSI administrator who decided.
    decided_by_user_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Why it was rejected (mailed to the contact).
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: The tenant made on approval. No foreign key: the record outlives an offboarded tenant.
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, index=True)
    #: Last change.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Optimistic lock: two administrators cannot both decide.
    lock_version: Mapped[int] = mapped_column(default=1)

    acceptances: Mapped[list[AgreementAcceptance]] = relationship(
        back_populates="application", order_by="AgreementAcceptance.id"
    )
    job: Mapped[ProvisioningJob | None] = relationship(back_populates="application")

    __mapper_args__ = {"version_id_col": lock_version}
    __table_args__ = (
        # One open application per municipality, also under concurrent sign-ups.
        sa.Index(
            "uq_membership_applications_open_cbs_code", "cbs_code", unique=True,
            postgresql_where=sa.text(OPEN_ONLY), sqlite_where=sa.text(OPEN_ONLY),
        ),
        sa.CheckConstraint("cbs_code LIKE 'GM____'", name="cbs_code_format"),
        sa.CheckConstraint("length(oin) = 20", name="oin_length"),
        sa.CheckConstraint("status <> 'rejected' OR rejection_reason IS NOT NULL", name="rejection_has_reason"),
        sa.CheckConstraint("status <> 'approved' OR tenant_id IS NOT NULL", name="approval_has_tenant"),
    )


class AgreementAcceptance(SharedBase):
    """Who accepted which version of which text, and when; linked to the tenant once approved."""

    __tablename__ = "agreement_acceptances"

    id: Mapped[BigIntPK]
    #: The sign-up in which it was accepted.
    application_id: Mapped[int] = mapped_column(
        BigIntType, sa.ForeignKey("membership_applications.id"), index=True
    )
    #: The text and version accepted.
    agreement_text_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("agreement_texts.id"))
    #: The member it binds, set on approval. No foreign key: the record outlives the tenant.
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, index=True)
    #: Name of the person who accepted (the contact person).
    accepted_by_name: Mapped[str] = mapped_column(sa.String(200))
    #: That person's e-mail address.
    accepted_by_email: Mapped[str] = mapped_column(sa.String(254))
    #: When it was accepted.
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[MembershipApplication] = relationship(back_populates="acceptances")
    text: Mapped[AgreementText] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("application_id", "agreement_text_id"),)


class JobStatus(str, enum.Enum):
    """State of a provisioning job."""

    #: Committed, no worker has it yet (or it was released).
    PENDING = "pending"
    #: A worker holds it until ``lease_until``; after that another may take it over.
    RUNNING = "running"
    #: Every step done: the tenant is active and its administrator invited.
    DONE = "done"
    #: A step failed; retried by ``nvsi onboarding provision-pending`` or from the page.
    FAILED = "failed"


class StepState(str, enum.Enum):
    """State of one provisioning step."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ProvisioningJob(SharedBase):
    """Making an approved member's tenant ready: one row per approval, committed with it."""

    __tablename__ = "provisioning_jobs"

    id: Mapped[BigIntPK]
    #: The approved application.
    application_id: Mapped[int] = mapped_column(
        BigIntType, sa.ForeignKey("membership_applications.id"), unique=True
    )
    #: The tenant being provisioned.
    tenant_id: Mapped[int] = mapped_column(BigIntType, index=True)
    #: Its slug (the schema is ``t_<slug>``).
    slug: Mapped[str] = mapped_column(sa.String(41))
    #: See :class:`JobStatus`.
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "provisioning_status"), default=JobStatus.PENDING,
                                              index=True)
    #: How many times a worker took the job.
    attempts: Mapped[int] = mapped_column(default=0)
    #: The worker holding the job (``host:pid:thread``); None when none does.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    #: The worker's hold ends here unless it reports progress (a dead worker's job is taken over).
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The site address the invitation link is built on (the approving request's host, or
    #: MAIL_LINK_BASE_URL).
    link_base_url: Mapped[str | None] = mapped_column(sa.String(300))
    #: Why the last attempt failed (an error type and message; no personal data).
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    #: The municipality administrator the invitation made.
    invited_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When the job was committed.
    created_at: Mapped[Created]
    #: When a worker first started it.
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When it finished.
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Last change (progress reports move it).
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    application: Mapped[MembershipApplication] = relationship(back_populates="job")
    steps: Mapped[list[ProvisioningStep]] = relationship(
        back_populates="job", order_by="ProvisioningStep.position", cascade="all, delete-orphan"
    )


class ProvisioningStep(SharedBase):
    """One step of a provisioning job, with its state: what the progress page shows."""

    __tablename__ = "provisioning_steps"

    id: Mapped[BigIntPK]
    #: The job.
    job_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("provisioning_jobs.id", ondelete="CASCADE"))
    #: Machine name: ``registered``, ``schema``, ``check``, ``invite``.
    key: Mapped[str] = mapped_column(sa.String(30))
    #: Order within the job.
    position: Mapped[int] = mapped_column()
    #: See :class:`StepState`.
    state: Mapped[StepState] = mapped_column(_enum(StepState, "provisioning_step_state"), default=StepState.PENDING)
    #: When the step last started.
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When it finished.
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: What went wrong (no personal data), when it failed.
    detail: Mapped[str | None] = mapped_column(sa.String(500))

    job: Mapped[ProvisioningJob] = relationship(back_populates="steps")

    __table_args__ = (sa.UniqueConstraint("job_id", "key"),)


class FrameworkSetupStep(SharedBase):
    """A step of the guided local-framework set-up a municipality administrator saved: the page
    shows which are done and lets each be revisited."""

    __tablename__ = "framework_setup_steps"

    id: Mapped[BigIntPK]
    #: The tenant.
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    #: The step: ``values``, ``arrangements``, ``guidance``, ``settings``.
    step: Mapped[str] = mapped_column(sa.String(30))
    #: When it was last saved.
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who saved it last.
    completed_by_user_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (sa.UniqueConstraint("tenant_id", "step"),)
