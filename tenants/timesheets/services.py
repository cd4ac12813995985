"""Timesheets: staff enter hours per day, the employer approves or rejects them through a
signed, expiring link, and only approved hours count. Sessions are bound to one tenant; flush,
never commit.

For other modules (invoicing, premiums, the dashboard): :func:`approved_hours`,
:func:`approved_hours_by_placement` and :func:`approved_entries` give the hours that count: an
approved entry, unless an approved correction took its place.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session, aliased

from nvsi import mail
from nvsi.db import ObjectNotFound, utcnow
from nvsi.links import mail_link, signed_serializer
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.naming import InvalidSlug, schema_for_slug
from nvsi.tenancy.routing import TENANT_KEY, TenantRef
from nvsi.tenancy.services import get_tenant, tenant_ref
from tenants.frameworks.services import rules_for
from tenants.guidance.services import reschedule_first_working_day
from tenants.placements.models import Placement, PlacementStatus
from tenants.placements.rules import maximum_duration
from tenants.placements.services import placement_section
from tenants.timesheets import rules as checks
from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry

#: Salt of the approval links: a token signed for anything else never opens one.
LINK_SALT = "nvsi.timesheets.approval"
ZERO = Decimal("0.00")
class BatchNotFound(ObjectNotFound):
    """No submission with this id in this tenant."""


class TimesheetError(RuleViolations):
    """Hours or a decision were refused; ``violations`` names each rule broken."""


class TimesheetConflict(RuntimeError):
    """Someone else changed the same day at the same moment: load again and retry."""


class InvalidLink(LookupError):
    """The approval link is not one of ours (altered, another salt), or its tenant or
    submission does not exist (any more)."""


class LinkExpired(Exception):
    """The approval link is genuine but older than the approval period."""

    def __init__(self, tenant: TenantRef, expired_on: dt.date):
        super().__init__(expired_on.isoformat())
        self.tenant = tenant
        self.expired_on = expired_on


# -- reading ------------------------------------------------------------------------------------


def get_batch(session: Session, batch_id: int) -> TimesheetBatch:
    """The submission ``batch_id`` of the session's tenant; :class:`BatchNotFound` otherwise."""
    batch = session.get(TimesheetBatch, batch_id)
    if batch is None:
        raise BatchNotFound(batch_id)
    return batch


def entries_for(session: Session, placement_id: int, start: dt.date | None = None,
                end: dt.date | None = None) -> list[TimesheetEntry]:
    """Every entry of a placement (history included), by day and then in the order entered."""
    query = sa.select(TimesheetEntry).where(TimesheetEntry.placement_id == placement_id)
    if start is not None:
        query = query.where(TimesheetEntry.work_date >= start)
    if end is not None:
        query = query.where(TimesheetEntry.work_date <= end)
    return list(session.scalars(query.order_by(TimesheetEntry.work_date, TimesheetEntry.id)))


def counts():
    """SQL condition: the entry is approved and no approved correction took its place."""
    correction = aliased(TimesheetEntry)
    return sa.and_(
        TimesheetEntry.status == EntryStatus.APPROVED,
        ~sa.exists().where(correction.corrects_entry_id == TimesheetEntry.id,
                           correction.status == EntryStatus.APPROVED),
    )


def _filtered(query, placement_id: int | None, period: tuple[dt.date, dt.date] | None):
    query = query.where(counts())
    if placement_id is not None:
        query = query.where(TimesheetEntry.placement_id == placement_id)
    if period is not None:
        query = query.where(TimesheetEntry.work_date.between(*period))
    return query


def approved_entries(session: Session, placement_id: int | None = None,
                     period: tuple[dt.date, dt.date] | None = None) -> list[TimesheetEntry]:
    """The entries that count (see :func:`counts`), optionally of one placement and within
    ``period`` (first and last day, inclusive), by placement and day."""
    query = _filtered(sa.select(TimesheetEntry), placement_id, period)
    return list(session.scalars(query.order_by(TimesheetEntry.placement_id, TimesheetEntry.work_date)))


def approved_hours(session: Session, placement_id: int | None = None,
                   period: tuple[dt.date, dt.date] | None = None) -> Decimal:
    """The approved hours: of one placement or all, within ``period`` (inclusive) or ever.
    Submitted, rejected and corrected hours never count."""
    total = session.scalar(_filtered(sa.select(sa.func.sum(TimesheetEntry.hours)), placement_id, period))
    return Decimal(total or 0).quantize(ZERO)


def approved_hours_by_placement(session: Session, period: tuple[dt.date, dt.date] | None = None) -> dict[int, Decimal]:
    """Approved hours per placement within ``period`` (placements without any are left out)."""
    query = _filtered(sa.select(TimesheetEntry.placement_id, sa.func.sum(TimesheetEntry.hours)), None, period)
    rows = session.execute(query.group_by(TimesheetEntry.placement_id))
    return {placement_id: Decimal(total).quantize(ZERO) for placement_id, total in rows if total}


@dataclass
class DayState:
    """What one day of a placement holds now."""

    day: dt.date
    #: The approved entry that counts for the day (the latest approved correction, if any).
    approved: TimesheetEntry | None = None
    #: The entry waiting for the employer's decision.
    open: TimesheetEntry | None = None
    #: The latest decided or open entry (what the day's status shows).
    latest: TimesheetEntry | None = None


def day_states(session: Session, placement_id: int, start: dt.date, end: dt.date) -> dict[dt.date, DayState]:
    """Every day from ``start`` to ``end`` (inclusive) with its approved, open and latest entry."""
    days = (start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    states = {day: DayState(day) for day in days}
    entries = entries_for(session, placement_id, start, end)
    corrected = {e.corrects_entry_id for e in entries if e.status is EntryStatus.APPROVED and e.corrects_entry_id}
    for entry in entries:
        state = states[entry.work_date]
        if entry.status is EntryStatus.SUPERSEDED:
            continue
        state.latest = entry
        if entry.status is EntryStatus.SUBMITTED:
            state.open = entry
        elif entry.status is EntryStatus.APPROVED and entry.id not in corrected:
            state.approved = entry
    return states


@dataclass
class WeekSummary:
    """The hours of one week (Monday to Sunday) of a placement."""

    monday: dt.date
    approved: Decimal = ZERO
    submitted: Decimal = ZERO
    rejected: int = 0


def week_summaries(session: Session, placement: Placement) -> list[WeekSummary]:
    """Per week with any entry: approved hours, hours waiting for approval, rejected days."""
    weeks: dict[dt.date, WeekSummary] = {}
    states = day_states(session, placement.id, placement.start_date, placement.end_date)
    for day, state in states.items():
        if state.latest is None and state.approved is None:
            continue
        monday = day - dt.timedelta(days=day.weekday())
        week = weeks.setdefault(monday, WeekSummary(monday))
        if state.approved is not None:
            week.approved += state.approved.hours
        if state.open is not None:
            week.submitted += state.open.hours
        if state.latest is not None and state.latest.status is EntryStatus.REJECTED:
            week.rejected += 1
    return [weeks[monday] for monday in sorted(weeks)]


def open_batches(session: Session, placement_id: int) -> list[TimesheetBatch]:
    """Submissions of a placement with entries still waiting for the employer, oldest first."""
    query = (sa.select(TimesheetBatch).where(TimesheetBatch.placement_id == placement_id)
             .where(sa.exists().where(TimesheetEntry.batch_id == TimesheetBatch.id,
                                      TimesheetEntry.status == EntryStatus.SUBMITTED))
             .order_by(TimesheetBatch.id))
    return list(session.scalars(query))


# -- entering hours -------------------------------------------------------------------------------


def _supersede(session: Session, entry: TimesheetEntry) -> None:
    """Replace an entry still waiting for a decision; refused if it was decided meanwhile."""
    result = session.execute(
        sa.update(TimesheetEntry)
        .where(TimesheetEntry.id == entry.id, TimesheetEntry.status == EntryStatus.SUBMITTED)
        .values(status=EntryStatus.SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    session.expire(entry)
    if result.rowcount != 1:
        raise TimesheetConflict(entry.id)


def submit_hours(session: Session, tenant: TenantRef, placement: Placement, lines: list[dict],
                 user_id: int | None, today: dt.date | None = None) -> TimesheetBatch | None:
    """Enter hours (``lines``: ``work_date`` and ``hours``) and send them for approval as one
    submission. Refused as a whole, each line's broken rule named (field ``entries.<i>.…``),
    for a day outside the placement or its maximum duration, in the future, twice in one
    submission, or hours outside 0–24. Per day:

    * the same hours as already waiting or approved change nothing (resubmitting is harmless);
    * other hours replace what is waiting (it becomes *superseded*);
    * other hours than approved ones become a correction: a new entry referencing the approved
      one, which itself is never changed;
    * 0 withdraws what is waiting, or corrects approved hours to none.

    Returns the submission, or None when nothing changed.
    """
    today = today or dt.date.today()
    problems: list[Violation] = []
    if placement.status is PlacementStatus.CANCELLED:
        problems.append(violation("placement_cancelled", "placement_id", None, None,
                                  "Deze plaatsing is geannuleerd: er kunnen geen uren op worden geschreven."))
    duration = maximum_duration(rules_for(session, tenant, placement.start_date), placement.start_date,
                                placement.hours_per_week)
    seen: set[dt.date] = set()
    for i, line in enumerate(lines):
        day, hours = line["work_date"], line["hours"]
        problems += checks.check_work_date(placement, duration, day, today, f"entries.{i}.work_date")
        problems += checks.check_hours(hours, f"entries.{i}.hours")
        if day in seen:
            problems.append(violation("duplicate_day", f"entries.{i}.work_date", None, None,
                                      "%(day)s staat twee keer in deze invoer.", day=day.isoformat()))
        seen.add(day)
    if problems:
        raise TimesheetError(problems)
    if not lines:
        return None
    states = day_states(session, placement.id, min(seen), max(seen))
    new: list[TimesheetEntry] = []
    for line in lines:
        day, hours = line["work_date"], line["hours"].quantize(ZERO)
        state = states[day]
        waiting, approved = state.open, state.approved
        base = approved.hours if approved is not None else ZERO
        if waiting is not None and waiting.hours == hours and waiting.corrects_entry_id == (approved and approved.id):
            continue  # exactly this is already waiting
        if waiting is not None:
            _supersede(session, waiting)
        if hours == base:
            continue  # already approved as such (or nothing, and nothing wanted)
        new.append(TimesheetEntry(placement_id=placement.id, work_date=day, hours=hours,
                                  corrects_entry_id=approved.id if approved is not None else None,
                                  entered_by_user_id=user_id, status=EntryStatus.SUBMITTED))
    if not new:
        session.flush()
        return None
    batch = TimesheetBatch(placement_id=placement.id, submitted_by_user_id=user_id,
                           entries=sorted(new, key=lambda e: e.work_date))
    session.add(batch)
    try:
        with session.begin_nested():
            session.flush()
    except sa.exc.IntegrityError as exc:  # the same day submitted at the same moment elsewhere
        raise TimesheetConflict(placement.id) from exc
    return batch


# -- the approval link ------------------------------------------------------------------------------


def _serializer(now: dt.datetime | None = None) -> URLSafeTimedSerializer:
    return signed_serializer(LINK_SALT, now)


def approval_token(tenant: TenantRef, batch_id: int, now: dt.datetime | None = None) -> str:
    """A signed token naming the tenant and one submission, issued ``now`` (default: now)."""
    return _serializer(now).dumps({"t": tenant.slug, "b": batch_id})


def approval_link(tenant: TenantRef, batch: TimesheetBatch, now: dt.datetime | None = None) -> str:
    """The employer's approval link for ``batch``: absolute, on ``MAIL_LINK_BASE_URL`` when set
    (so jobs can make links too), else on the host of the current request. A new link for the
    same submission is simply a newer signature."""
    return mail_link("timesheet_approval.show", token=approval_token(tenant, batch.id, now))


@dataclass(frozen=True)
class LinkClaims:
    """What a genuine token says (its signature checked, its age not yet)."""

    slug: str
    schema: str
    batch_id: int
    issued_at: dt.datetime


def read_token(token: str) -> LinkClaims:
    """The claims of a token whose signature is ours; :class:`InvalidLink` otherwise. Needs no
    database, so the caller can bind its session to the tenant before any query."""
    try:
        serializer = _serializer()
        payload, issued_at = serializer.loads(token, return_timestamp=True)
        # base64 lets a signature's last character vary in unused bits: only the canonical
        # form is accepted, so no altered token opens anything.
        value, _sep, signature = token.encode().rpartition(b".")
        if not hmac.compare_digest(serializer.make_signer(LINK_SALT).get_signature(value), signature):
            raise InvalidLink(token)
        slug, batch_id = payload["t"], payload["b"]
        if not isinstance(batch_id, int) or isinstance(batch_id, bool):
            raise InvalidLink(token)
        return LinkClaims(slug, schema_for_slug(slug), batch_id, issued_at)
    except (BadSignature, InvalidSlug, KeyError, TypeError, UnicodeError) as exc:
        raise InvalidLink(token) from exc


def approval_days(session: Session, tenant: TenantRef, on: dt.date) -> int:
    """How many days the employer has to decide (rule ``timesheet_approval_days`` on ``on``)."""
    return int(rules_for(session, tenant, on)["timesheet_approval_days"].value)


def open_link(session: Session, token: str, claims: LinkClaims,
              now: dt.datetime | None = None) -> tuple[TenantRef, TimesheetBatch]:
    """The tenant and submission an approval link opens. ``session`` must already be bound to
    the tenant the token names. :class:`InvalidLink` for an inactive or unknown tenant or
    submission; :class:`LinkExpired` past the approval period counted from the link's issue."""
    if session.info.get(TENANT_KEY) != claims.schema:
        raise RuntimeError("bind the session to the token's tenant before opening the link")
    tenant = get_tenant(session, claims.slug)
    if tenant is None or tenant.status is not TenantStatus.ACTIVE:
        raise InvalidLink(token)
    ref = tenant_ref(tenant)
    days = approval_days(session, ref, claims.issued_at.date())
    try:
        _serializer(now).loads(token, max_age=days * 86400)
    except SignatureExpired as exc:
        raise LinkExpired(ref, (claims.issued_at + dt.timedelta(days=days)).date()) from exc
    except BadSignature as exc:
        raise InvalidLink(token) from exc
    batch = session.get(TimesheetBatch, claims.batch_id)
    if batch is None:
        raise InvalidLink(token)
    return ref, batch


@dataclass(frozen=True)
class ApprovalMessage:
    """A mail-ready request to approve one submission."""

    to: str
    subject: str
    body: str
    link: str
    expires_at: dt.datetime


def approval_message(session: Session, tenant: TenantRef, batch: TimesheetBatch,
                     now: dt.datetime | None = None) -> ApprovalMessage:
    """A new link for ``batch`` and the Dutch e-mail that asks the employer to decide. Sending
    it is the mail module's work; without one, staff see it and send it themselves."""
    now = now or utcnow()
    link = approval_link(tenant, batch, now)
    expires_at = now + dt.timedelta(days=approval_days(session, tenant, now.date()))
    placement = batch.placement
    waiting = sorted([e for e in batch.entries if e.status is EntryStatus.SUBMITTED] or batch.entries,
                     key=lambda e: e.work_date)
    with force_locale("nl"):
        # The subject names no person: it shows in previews and mail logs.
        subject = _("Gewerkte uren ter goedkeuring: %(title)s (%(municipality)s)",
                    title=placement.assignment.title, municipality=tenant.name)
        body = _(
            "Geachte heer/mevrouw,\n\n"
            "%(municipality)s vraagt u de gewerkte uren van %(name)s voor de opdracht \"%(title)s\" "
            "goed te keuren: %(count)s dag(en) van %(first)s tot en met %(last)s, samen %(hours)s uur.\n\n"
            "Keur de uren goed of af via deze persoonlijke link, geldig tot en met %(expires)s:\n%(link)s\n\n"
            "U kunt alle uren in één keer goedkeuren, of per dag goedkeuren of afwijzen met een reden "
            "of een tegenvoorstel.\n\nMet vriendelijke groet,\n%(municipality)s",
            municipality=tenant.name, name=placement.candidate.name, title=placement.assignment.title,
            count=len(waiting), first=format_date(waiting[0].work_date, "long"),
            last=format_date(waiting[-1].work_date, "long"),
            hours=str(sum((e.hours for e in waiting), ZERO)).replace(".", ","),
            expires=format_date(expires_at.date(), "long"), link=link,
        )
    return ApprovalMessage(placement.assignment.employer.contact_email, subject, body, link, expires_at)


@dataclass(frozen=True)
class Delivery:
    """What became of an approval e-mail: ``via`` names the mail backend (``log`` sends nothing)."""

    sent: bool
    via: str | None = None
    error: str | None = None


def send_approval_message(message: ApprovalMessage) -> Delivery:
    """Mail the approval request to the employer through the platform's mailer (``nvsi.mail``).
    Call it after the commit, so no mail announces hours that were rolled back. A failure is
    reported, not raised: the hours stay submitted, and staff can send again or pass the link on."""
    try:
        sent = mail.mailer().send(mail.Mail(to=(message.to,), subject=message.subject, body=message.body,
                                            headers={"Auto-Submitted": "auto-generated"}))
    except mail.MailError as exc:
        return Delivery(False, None, str(exc))
    return Delivery(True, sent.via)


# -- the employer's decisions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The employer's decision on one entry: approve, or reject with a reason and/or the hours
    the employer proposes instead."""

    entry_id: int
    approve: bool
    reason: str | None = None
    counter_hours: Decimal | None = None


@dataclass
class DecisionResult:
    """What a round of decisions did."""

    #: Entries decided now.
    decided: list[TimesheetEntry] = field(default_factory=list)
    #: Entries that already had this very decision (nothing changed: decisions are idempotent).
    unchanged: list[TimesheetEntry] = field(default_factory=list)
    #: Entries no longer open: decided otherwise, or replaced by staff.
    closed: list[TimesheetEntry] = field(default_factory=list)


def decide(session: Session, batch: TimesheetBatch, decisions: list[Decision], name: str,
           now: dt.datetime | None = None) -> DecisionResult:
    """Record the employer's decisions on entries of ``batch``; ``name`` is who decides, as typed
    on the link's page (recorded with the address the link goes to). Only an entry still waiting
    can be decided (and approved only while its day is within the placement, which may have been
    ended early meanwhile); the same decision again changes nothing; a decided entry keeps it.
    Rejecting needs a reason or a counter-proposal. The first approved hours of a placement
    set its first working day (if it had none)."""
    now = now or utcnow()
    entries = {e.id: e for e in batch.entries}
    problems: list[Violation] = []
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 200:
        problems.append(violation("name_required", "name", None, None,
                                  "Vul uw naam in (ten hoogste 200 tekens)."))
    decided_by = f"{name} <{batch.placement.assignment.employer.contact_email}>"
    for d in decisions:
        if d.entry_id not in entries:
            problems.append(violation("unknown_entry", f"decision-{d.entry_id}", None, None,
                                      "Deze regel hoort niet bij deze uren."))
        elif not d.approve and not (d.reason or "").strip() and d.counter_hours is None:
            problems.append(violation("reason_required", f"reason-{d.entry_id}", None, None,
                                      "Geef bij afwijzen een reden of een tegenvoorstel."))
        elif not d.approve and d.counter_hours is not None:
            problems += checks.check_hours(d.counter_hours, f"counter-{d.entry_id}")
    if problems:
        raise TimesheetError(problems)
    result = DecisionResult()
    for d in decisions:
        entry = entries[d.entry_id]
        target = EntryStatus.APPROVED if d.approve else EntryStatus.REJECTED
        if entry.status is target:
            result.unchanged.append(entry)
            continue
        if entry.status is not EntryStatus.SUBMITTED or (d.approve and not _within(batch.placement, entry.work_date)):
            result.closed.append(entry)  # decided, replaced, or the placement was ended before that day
            continue
        values = {"status": target, "decided_at": now, "decided_by": decided_by}
        if not d.approve:
            values.update(reason=(d.reason or "").strip() or None,
                          counter_hours=d.counter_hours.quantize(ZERO) if d.counter_hours is not None else None)
        changed = session.execute(
            sa.update(TimesheetEntry)
            .where(TimesheetEntry.id == entry.id, TimesheetEntry.status == EntryStatus.SUBMITTED)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.expire(entry)
        (result.decided if changed else result.closed).append(entry)
    if any(e.status is EntryStatus.APPROVED for e in result.decided):
        _set_first_working_day(session, batch.placement)
    session.flush()
    return result


def _within(placement: Placement, day: dt.date) -> bool:
    return placement.status is not PlacementStatus.CANCELLED and placement.start_date <= day <= placement.end_date


def approve_all(session: Session, batch: TimesheetBatch, name: str,
                now: dt.datetime | None = None) -> DecisionResult:
    """Approve every entry of ``batch`` still waiting (bulk approval)."""
    waiting = [Decision(e.id, True) for e in batch.entries if e.status is EntryStatus.SUBMITTED]
    return decide(session, batch, waiting, name, now)


def _set_first_working_day(session: Session, placement: Placement) -> None:
    """The first day with approved hours becomes the placement's first working day, if unset."""
    if placement.first_working_day is not None:
        return
    first = session.scalar(_filtered(sa.select(sa.func.min(TimesheetEntry.work_date)), placement.id, None)
                           .where(TimesheetEntry.hours > 0))
    if first is not None:
        placement.first_working_day = first
        session.flush()
        reschedule_first_working_day(session, placement)  # moments planned from that day move along


# -- the placement page ---------------------------------------------------------------------------


@placement_section
def _hours_section(session: Session, placement: Placement):
    """The placement page's hours: per week approved and waiting, rejected days, the total."""
    return "timesheets/section.html", {
        "hours_weeks": week_summaries(session, placement),
        "hours_total": approved_hours(session, placement.id),
        "hours_open_batches": len(open_batches(session, placement.id)),
    }
