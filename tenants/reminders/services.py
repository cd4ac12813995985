"""The piepsysteem: which reminders are due for a tenant on a day, creating each once, mailing
each once, and the inbox. Sessions are bound to one tenant; functions flush, never commit — the
daily job passes a ``checkpoint`` (its commit) to :func:`run` for the moments it must commit.

When a reminder is due (``rules`` are the tenant's rules in force on the placement's start date,
so a due day never moves when rules change later; "months" as in :func:`nvsi.dates.add_months`):

* **end_of_placement** — ``start_date + reminder_end_months`` (5.5); for an active placement that
  still runs on that day and on the day the job runs (a placement that already ended needs no
  reminder that it is ending).
* **long_hours** — for an active placement of *more than* ``reminder_long_hours_threshold`` (24)
  hours a week: ``first working day + reminder_long_hours_months`` (2.5); the first working day is
  the placement's recorded one, or its start date while none is recorded. Same "still runs" rule.
* **wsp_referral** — for a candidate who is registered or placed (not yet referred, not left
  welfare) and has a placement (not cancelled) of *more than* ``wsp_referral_hours`` (20) hours a
  week that ran ``wsp_referral_months`` (2) from its first working day without ending before:
  due on the day after those 2 months are complete (``first working day + 2 months``), from the
  earliest such placement. Placements are not added together: two back-to-back placements of one
  month each do not count as two months. The hours are the placement's agreed hours per week.
* **guidance_overdue** — a guidance moment not done the day after it was planned
  (``planned_on + 1``; from :func:`tenants.guidance.services.overdue_moments`).

A reminder is due on and after its day. It exists once per (kind, subject, due day) — a unique
constraint — so a second run, or a catch-up days later, finds it and makes no other. A deadline
that moves (a first working day recorded later, a moment rescheduled) is a new deadline and gets
its own reminder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvsi.dates import add_months, last_day_within
from nvsi.db import ObjectNotFound, utcnow
from nvsi.mail import Mail, Mailer, MailError
from nvsi.tenancy.routing import TenantRef
from tenants.candidates.models import CandidateStatus
from tenants.frameworks.services import parse_recipients, rules_for, settings
from tenants.guidance.services import overdue_moments
from tenants.placements.models import Placement, PlacementStatus
from tenants.reminders.models import Reminder, ReminderKind


class ReminderNotFound(ObjectNotFound):
    """No reminder with this id in this tenant."""


@dataclass(frozen=True)
class Due:
    """A reminder that is due: its key (kind, subject, day) and what it is about."""

    kind: ReminderKind
    subject_id: int
    due_on: dt.date
    placement: Placement
    #: Extra facts for the text (the guidance moment's name and day, the threshold, …).
    facts: dict = field(default_factory=dict, compare=False, hash=False)


# -- what is due ----------------------------------------------------------------------------------


def _first_working_day(placement: Placement) -> dt.date:
    """The day a placement's worked months count from: its first working day, or its start date
    while none is recorded."""
    return placement.first_working_day or placement.start_date


def _rules_cache(session: Session, tenant: TenantRef):
    cache: dict[dt.date, dict] = {}

    def rules(on: dt.date) -> dict:
        if on not in cache:
            cache[on] = {key: rule.value for key, rule in rules_for(session, tenant, on).items()}
        return cache[on]

    return rules


def due_reminders(session: Session, tenant: TenantRef, today: dt.date) -> list[Due]:
    """Every reminder due for ``tenant`` on ``today`` (due on or before it), whether or not it
    exists already; see the module's docstring for the rules."""
    rules = _rules_cache(session, tenant)
    found: list[Due] = []
    placements = list(session.scalars(
        sa.select(Placement).where(Placement.status != PlacementStatus.CANCELLED, Placement.start_date <= today)
        .order_by(Placement.id)
    ))
    wsp: dict[int, Due] = {}
    for p in placements:
        r = rules(p.start_date)
        running = p.status is PlacementStatus.ACTIVE and today <= p.end_date
        due = add_months(p.start_date, r["reminder_end_months"])
        if running and due <= today and due <= p.end_date:
            found.append(Due(ReminderKind.END_OF_PLACEMENT, p.id, due, p,
                             {"months": r["reminder_end_months"]}))
        if p.hours_per_week > r["reminder_long_hours_threshold"]:
            due = add_months(_first_working_day(p), r["reminder_long_hours_months"])
            if running and due <= today and due <= p.end_date:
                found.append(Due(ReminderKind.LONG_HOURS, p.id, due, p,
                                 {"months": r["reminder_long_hours_months"],
                                  "threshold": r["reminder_long_hours_threshold"]}))
        candidate = p.candidate
        if p.hours_per_week > r["wsp_referral_hours"] and candidate.status in (
                CandidateStatus.REGISTERED, CandidateStatus.PLACED):
            # Ran the whole period: its last day lies within the placement.
            if last_day_within(_first_working_day(p), r["wsp_referral_months"]) <= p.end_date:
                due = add_months(_first_working_day(p), r["wsp_referral_months"])
                earlier = wsp.get(candidate.id)
                if due <= today and (earlier is None or due < earlier.due_on):
                    wsp[candidate.id] = Due(ReminderKind.WSP_REFERRAL, candidate.id, due, p,
                                            {"months": r["wsp_referral_months"], "threshold": r["wsp_referral_hours"]})
    found += wsp.values()
    for moment in overdue_moments(session, today):
        found.append(Due(ReminderKind.GUIDANCE_OVERDUE, moment.id, moment.planned_on + dt.timedelta(days=1),
                         moment.placement, {"moment": moment.name, "planned_on": moment.planned_on}))
    return found


# -- the texts ------------------------------------------------------------------------------------


def _number(value: Decimal | int) -> str:
    """5.5 → "5,5"; 24.00 → "24" (Dutch decimal comma)."""
    return format(Decimal(value).normalize(), "f").replace(".", ",")


def _link(endpoint: str, **values) -> str | None:
    """An absolute link to a page for the mail, when ``MAIL_LINK_BASE_URL`` is set."""
    base = (current_app.config.get("MAIL_LINK_BASE_URL") or "").rstrip("/")
    if not base:
        return None
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


def compose(tenant: TenantRef, due: Due) -> tuple[str, str]:
    """The Dutch subject and body of a reminder. The subject names no person (it shows up in
    previews and mail logs); the body names the candidate, never a BSN or IBAN."""
    p = due.placement
    with force_locale("nl"):
        day = lambda d: format_date(d, "long")  # noqa: E731
        common = dict(municipality=tenant.name, name=p.candidate.name, title=p.assignment.title,
                      employer=p.assignment.employer.name, start=day(p.start_date), end=day(p.end_date),
                      hours=_number(p.hours_per_week), placement=p.id, due=day(due.due_on))
        if due.kind is ReminderKind.END_OF_PLACEMENT:
            subject = _("Einde plaatsing nadert (plaatsing %(placement)s, %(municipality)s)", **common)
            body = _("De plaatsing van %(name)s op de opdracht \"%(title)s\" van %(employer)s loopt sinds "
                     "%(start)s en eindigt uiterlijk op %(end)s. Vandaag, %(due)s, is het %(months)s maanden na de "
                     "start.\n\nBereid het einde van de plaatsing voor: evaluatie van de re-integratiedoelen, "
                     "vervolg en eventueel een doorverwijzing naar het WSP.",
                     months=_number(due.facts["months"]), **common)
            endpoint, values = "tenant.placement", {"placement_id": p.id}
        elif due.kind is ReminderKind.LONG_HOURS:
            subject = _("Plaatsing van meer dan %(threshold)s uur per week: %(months)s maanden gewerkt "
                        "(plaatsing %(placement)s, %(municipality)s)",
                        threshold=_number(due.facts["threshold"]), months=_number(due.facts["months"]), **common)
            body = _("%(name)s werkt %(hours)s uur per week op de opdracht \"%(title)s\" van %(employer)s, sinds de "
                     "eerste werkdag %(first)s. Op %(due)s is dat %(months)s maanden. Bij meer dan %(threshold)s uur "
                     "per week is dit het moment om het vervolg te bespreken; de plaatsing eindigt uiterlijk op "
                     "%(end)s.", first=day(_first_working_day(p)), months=_number(due.facts["months"]),
                     threshold=_number(due.facts["threshold"]), **common)
            endpoint, values = "tenant.placement", {"placement_id": p.id}
        elif due.kind is ReminderKind.WSP_REFERRAL:
            subject = _("Doorverwijzing naar het WSP (kandidaat %(candidate)s, %(municipality)s)",
                        candidate=p.candidate_id, **common)
            body = _("%(name)s werkt sinds %(first)s %(hours)s uur per week op de opdracht \"%(title)s\" van "
                     "%(employer)s: %(months)s maanden meer dan %(threshold)s uur per week. Verwijs de kandidaat "
                     "door naar het Werkgeversservicepunt (WSP) voor regulier werk en leg de doorverwijzing vast "
                     "bij de kandidaat.", first=day(_first_working_day(p)), months=_number(due.facts["months"]),
                     threshold=_number(due.facts["threshold"]), **common)
            endpoint, values = "tenant.candidate", {"candidate_id": p.candidate_id}
        else:
            subject = _("Begeleidingsmoment te laat: %(moment)s (plaatsing %(placement)s, %(municipality)s)",
                        moment=due.facts["moment"], **common)
            body = _("Het begeleidingsmoment \"%(moment)s\" van %(name)s (opdracht \"%(title)s\" van %(employer)s) "
                     "was gepland op %(planned)s en is nog niet vastgelegd. Houd het gesprek en leg de uitkomst "
                     "vast, ook of de opdracht nog bijdraagt aan de re-integratiedoelen.",
                     moment=due.facts["moment"], planned=day(due.facts["planned_on"]), **common)
            endpoint, values = "tenant.guidance_moment", {"moment_id": due.subject_id}
        link = _link(endpoint, tenant_slug=tenant.slug, **values)
        body += "\n\n" + (_("Open in het platform: %(link)s", link=link) if link else
                          _("U vindt dit signaal ook op de pagina Signalen van %(municipality)s in het platform.",
                            municipality=tenant.name))
        body += "\n\n" + _("Dit is een automatisch bericht van het piepsysteem van NVSI Flextensie.")
    return subject[:200], body


# -- creating and sending -------------------------------------------------------------------------


def recipients(session: Session) -> list[str]:
    """Who receives the tenant's reminders (framework settings); empty: the inbox only."""
    emails, problems = parse_recipients(settings(session).reminder_recipients)
    return [] if problems else emails


def _exists(session: Session, due: Due) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Reminder).where(
        Reminder.kind == due.kind, Reminder.subject_id == due.subject_id, Reminder.due_on == due.due_on)) > 0


def create(session: Session, tenant: TenantRef, due: Due, to: list[str]) -> Reminder | None:
    """Insert the reminder for ``due`` unless it exists; None when it does (also when another
    run inserted it at the same moment: the unique constraint decides, in a savepoint)."""
    if _exists(session, due):
        return None
    subject, body = compose(tenant, due)
    reminder = Reminder(kind=due.kind, subject_id=due.subject_id, placement_id=due.placement.id,
                        candidate_id=due.placement.candidate_id, due_on=due.due_on, recipients="\n".join(to),
                        subject=subject, body=body, send_attempts=0)
    try:
        with session.begin_nested():
            session.add(reminder)
    except IntegrityError:
        return None
    return reminder


def send(session: Session, reminder: Reminder, mailer: Mailer) -> None:
    """Mail ``reminder`` to its recipients and record it sent; on failure record the attempt,
    leave it unsent (the next run tries again) and raise the :class:`MailError`."""
    try:
        sent = mailer.send(Mail(tuple(reminder.recipient_list), reminder.subject, reminder.body,
                                {"Auto-Submitted": "auto-generated"}))
    except MailError as exc:
        reminder.send_attempts += 1
        reminder.last_error = str(exc)[:200]
        session.flush()
        raise
    reminder.sent_at, reminder.sent_via, reminder.last_error = utcnow(), sent.via, None
    session.flush()


def _next_unsent(session: Session, skip: set[int]) -> Reminder | None:
    """The oldest reminder still to be mailed, locked for this transaction (another run skips
    it: PostgreSQL's SKIP LOCKED; SQLite has one writer at a time anyway)."""
    query = (sa.select(Reminder).where(Reminder.sent_at.is_(None), Reminder.recipients != "")
             .order_by(Reminder.due_on, Reminder.id).limit(1).with_for_update(skip_locked=True))
    if skip:
        query = query.where(Reminder.id.not_in(skip))
    return session.scalar(query)


@dataclass
class RunResult:
    """What :func:`run` did for one tenant."""

    created: int = 0
    sent: int = 0
    failed: int = 0
    #: The mail server could not be reached: nothing more was tried.
    server_down: bool = False


def run(session: Session, tenant: TenantRef, today: dt.date, mailer: Mailer | None,
        checkpoint=lambda: None) -> RunResult:
    """The daily job for one tenant: create every due reminder that does not exist yet and mail
    it; then mail the reminders an earlier run could not (oldest first).

    ``checkpoint()`` is called after each reminder (the job commits there): a new reminder's row
    and its ``sent_at`` are committed together, one reminder at a time, so nothing mailed is ever
    undone by a later failure, and a reminder whose mail failed is kept, unsent, for the next
    run. ``mailer`` None (or the server found down): create and keep them, mail nothing."""
    result = RunResult()
    to = recipients(session)
    tried: set[int] = set()

    def attempt(reminder: Reminder) -> None:
        tried.add(reminder.id)
        try:
            send(session, reminder, mailer)
            result.sent += 1
        except MailError as exc:
            result.failed += 1
            result.server_down = exc.server_down

    for due in due_reminders(session, tenant, today):
        reminder = create(session, tenant, due, to)
        if reminder is None:
            continue
        result.created += 1
        if mailer is not None and not result.server_down and reminder.recipients:
            attempt(reminder)
        checkpoint()
    while mailer is not None and not result.server_down and (reminder := _next_unsent(session, tried)):
        attempt(reminder)
        checkpoint()
    return result


# -- the inbox ------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int
    unread: int


def list_reminders(session: Session, *, unread_only: bool = False, page: int = 1, per_page: int = 25) -> Page:
    """The tenant's reminders, the latest due first; with the number unread."""
    query = sa.select(Reminder)
    if unread_only:
        query = query.where(Reminder.read_at.is_(None))
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(Reminder.due_on.desc(), Reminder.id.desc())
                            .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), page, per_page, total, unread_count(session))


def unread_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Reminder).where(Reminder.read_at.is_(None)))


def get_reminder(session: Session, reminder_id: int) -> Reminder:
    """The reminder ``reminder_id`` of the session's tenant; :class:`ReminderNotFound` otherwise."""
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise ReminderNotFound(reminder_id)
    return reminder


def mark_read(session: Session, reminder: Reminder, user_id: int | None) -> Reminder:
    """Mark a reminder read (once: reading it again keeps the first moment and reader)."""
    if reminder.read_at is None:
        reminder.read_at, reminder.read_by_user_id = utcnow(), user_id
        session.flush()
    return reminder
