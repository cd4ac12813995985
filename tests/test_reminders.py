"""The piepsysteem: reminders due on the right day (not the day before), created and mailed once
(a second run, or a catch-up later, sends nothing twice), through a real SMTP server; the
thresholds at their boundaries; failures retried; the inbox page and API."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nvsi.mail import LogMailer, MailError, SMTPMailer, mailer
from nvsi.tenancy.routing import TenantRef
from tenants.candidates.models import CandidateStatus
from tenants.frameworks.services import settings
from tenants.guidance.models import GuidanceMoment
from tenants.reminders import services
from tenants.reminders.models import Reminder, ReminderKind
from tests import factories, smtp
from tests.factories import ALPHA
from tests.smtp import free_port

BETA = TenantRef(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
RECIPIENTS = ["signalen@alfa.example", "teamleider@alfa.example"]
#: The factories' placement: from 2 February 2026, 20 hours a week (at most 6 months).
START = dt.date(2026, 2, 2)
#: 5.5 months after the start: 2 July + 15 days.
END_REMINDER_DAY = dt.date(2026, 7, 17)


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in this process)."""
    yield from smtp.running(monkeypatch)


def run_job(app, day: dt.date):
    """``nvsi reminders send --today day``, as cron runs it."""
    return app.test_cli_runner().invoke(args=["reminders", "send", "--today", day.isoformat()])


def _without_guidance(session) -> None:
    """Drop the placements' guidance moments (their own reminders are tested on their own)."""
    session.execute(sa.delete(GuidanceMoment))
    session.flush()


def _recipients(session, emails=RECIPIENTS) -> None:
    settings(session).reminder_recipients = "\n".join(emails)
    session.flush()


def _reminders(session, kind: ReminderKind | None = None) -> list[Reminder]:
    session.expire_all()
    query = sa.select(Reminder).order_by(Reminder.id)
    if kind is not None:
        query = query.where(Reminder.kind == kind)
    return list(session.scalars(query))


def _kinds(dues) -> dict[ReminderKind, list]:
    found: dict[ReminderKind, list] = {}
    for due in dues:
        found.setdefault(due.kind, []).append(due)
    return found


# -- the daily job, end to end ----------------------------------------------------------------------


def test_end_of_placement_on_its_day_once_through_smtp(app, tenant_session, smtp_server):
    smtp_server.use(app)
    session = tenant_session("alpha")
    _recipients(session)
    placement = factories.placement(session)
    bsn = placement.candidate.bsn
    _without_guidance(session)
    session.commit()

    day_before = run_job(app, END_REMINDER_DAY - dt.timedelta(days=1))
    assert day_before.exit_code == 0, day_before.output
    assert smtp_server.messages == [] and _reminders(session) == []

    on_the_day = run_job(app, END_REMINDER_DAY)
    assert on_the_day.exit_code == 0, on_the_day.output
    assert "alpha: 1 new, 1 sent, 0 failed" in on_the_day.output
    [mail] = smtp_server.messages
    assert sorted(mail.rcpt_tos) == sorted(RECIPIENTS)
    assert mail.mail_from == "piepsysteem@nvsi.test"
    assert mail.subject == f"Einde plaatsing nadert (plaatsing {placement.id}, Gemeente Alfa)"
    assert "Anna Jansen" in mail.text and "5,5 maanden" in mail.text and "1 augustus 2026" in mail.text
    assert "Anna" not in mail.subject
    assert bsn not in mail.raw.decode() and bsn not in mail.text  # no BSN, in any encoding
    assert mail.message["Auto-Submitted"] == "auto-generated"

    [reminder] = _reminders(session)
    assert (reminder.kind, reminder.subject_id, reminder.due_on) == (
        ReminderKind.END_OF_PLACEMENT, placement.id, END_REMINDER_DAY)
    assert reminder.sent_at is not None and reminder.sent_via == "smtp" and reminder.read_at is None
    assert reminder.recipient_list == RECIPIENTS and reminder.send_attempts == 0

    # Once: the same day again, and catching up days later, send nothing.
    for day in (END_REMINDER_DAY, END_REMINDER_DAY + dt.timedelta(days=5)):
        again = run_job(app, day)
        assert again.exit_code == 0 and "alpha: 0 new, 0 sent, 0 failed" in again.output
    assert len(smtp_server.messages) == 1 and len(_reminders(session)) == 1


def test_a_late_run_catches_up_once_with_the_day_it_was_due(app, tenant_session, smtp_server):
    smtp_server.use(app)
    session = tenant_session("alpha")
    _recipients(session)
    factories.placement(session)
    _without_guidance(session)
    session.commit()

    assert run_job(app, END_REMINDER_DAY + dt.timedelta(days=10)).exit_code == 0
    [reminder] = _reminders(session)
    assert reminder.due_on == END_REMINDER_DAY and reminder.sent_at is not None
    assert len(smtp_server.messages) == 1
    assert run_job(app, END_REMINDER_DAY + dt.timedelta(days=11)).exit_code == 0
    assert len(smtp_server.messages) == 1


def test_a_failing_mail_server_keeps_the_reminder_unsent_and_the_next_run_retries(app, tenant_session,
                                                                                   smtp_server, monkeypatch):
    session = tenant_session("alpha")
    _recipients(session)
    factories.placement(session)
    _without_guidance(session)
    session.commit()
    smtp_server.use(app)
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nobody listens there

    down = run_job(app, END_REMINDER_DAY)
    assert down.exit_code == 1 and "mail server unavailable" in down.output
    [reminder] = _reminders(session)
    assert reminder.sent_at is None and reminder.send_attempts == 1
    assert reminder.last_error == "SMTP unavailable (ConnectionRefusedError)"

    monkeypatch.setitem(app.config, "MAIL_PORT", smtp_server.port)
    retry = run_job(app, END_REMINDER_DAY + dt.timedelta(days=1))
    assert retry.exit_code == 0 and "alpha: 0 new, 1 sent, 0 failed" in retry.output, retry.output
    [reminder] = _reminders(session)
    assert reminder.sent_at is not None and reminder.last_error is None and len(smtp_server.messages) == 1
    assert run_job(app, END_REMINDER_DAY + dt.timedelta(days=2)).exit_code == 0
    assert len(smtp_server.messages) == 1


def test_without_recipients_a_reminder_is_in_the_inbox_only(app, tenant_session, smtp_server):
    smtp_server.use(app)
    session = tenant_session("alpha")
    _recipients(session, [])
    factories.placement(session)
    _without_guidance(session)
    session.commit()

    for day in (END_REMINDER_DAY, END_REMINDER_DAY + dt.timedelta(days=1)):
        result = run_job(app, day)
        assert result.exit_code == 0, result.output
    [reminder] = _reminders(session)
    assert reminder.recipients == "" and reminder.sent_at is None and reminder.send_attempts == 0
    assert smtp_server.messages == []


def test_the_log_backend_sends_nothing_and_logs_no_personal_data(app, tenant_session, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "log")
    session = tenant_session("alpha")
    _recipients(session)
    placement = factories.placement(session)
    _without_guidance(session)
    session.commit()

    with caplog.at_level(logging.DEBUG, logger="nvsi"):
        assert run_job(app, END_REMINDER_DAY).exit_code == 0
    [reminder] = _reminders(session)
    assert reminder.sent_via == "log" and reminder.sent_at is not None
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "mail not sent (MAIL_BACKEND=log)" in logged
    for personal in (*RECIPIENTS, placement.candidate.name, placement.candidate.bsn, reminder.subject):
        assert personal not in logged


def test_every_tenant_gets_its_own_reminders(app, tenant_session, smtp_server):
    smtp_server.use(app)
    # One tenant after the other: the sessions' savepoints on the test connection must not interleave.
    for slug, tenant in (("alpha", ALPHA), ("beta", BETA)):
        session = tenant_session(slug)
        _recipients(session, [f"signalen@{tenant.slug.replace('alpha', 'alfa')}.example"])
        factories.placement(session, tenant)
        _without_guidance(session)
        session.commit()

    result = run_job(app, END_REMINDER_DAY)
    assert result.exit_code == 0, result.output
    assert "alpha: 1 new, 1 sent" in result.output and "beta: 1 new, 1 sent" in result.output
    by_recipient = {tuple(m.rcpt_tos): m.subject for m in smtp_server.messages}
    assert by_recipient[("signalen@alfa.example",)].endswith("Gemeente Alfa)")
    assert by_recipient[("signalen@beta.example",)].endswith("Gemeente Beta)")


# -- the rules at their boundaries ------------------------------------------------------------------


def test_end_of_placement_not_for_a_placement_that_ended_before(app, tenant_session):
    session = tenant_session("alpha")
    early = factories.placement(session)
    early.end_date = END_REMINDER_DAY - dt.timedelta(days=1)
    _without_guidance(session)
    with app.app_context():
        assert services.due_reminders(session, ALPHA, END_REMINDER_DAY + dt.timedelta(days=3)) == []


@pytest.mark.parametrize("hours, expected", [("24", False), ("24.00", False), ("24.01", True), ("28", True)])
def test_long_hours_reminder_only_above_24_hours(app, tenant_session, hours, expected):
    session = tenant_session("alpha")
    placement = factories.placement(session, hours_per_week=Decimal(hours))
    placement.first_working_day = dt.date(2026, 2, 5)
    _without_guidance(session)
    due_day = dt.date(2026, 4, 20)  # 5 February + 2 months + 15 days
    with app.app_context():
        before = _kinds(services.due_reminders(session, ALPHA, due_day - dt.timedelta(days=1)))
        on = _kinds(services.due_reminders(session, ALPHA, due_day))
    assert ReminderKind.LONG_HOURS not in before
    if expected:
        [due] = on[ReminderKind.LONG_HOURS]
        assert (due.subject_id, due.due_on) == (placement.id, due_day)
    else:
        assert ReminderKind.LONG_HOURS not in on


def test_long_hours_counts_from_the_start_while_no_first_working_day_is_known(app, tenant_session):
    session = tenant_session("alpha")
    factories.placement(session, hours_per_week=Decimal("25"))
    _without_guidance(session)
    with app.app_context():
        [due] = _kinds(services.due_reminders(session, ALPHA, dt.date(2026, 4, 17)))[ReminderKind.LONG_HOURS]
    assert due.due_on == dt.date(2026, 4, 17)  # 2 February + 2 months + 15 days


@pytest.mark.parametrize("hours, expected", [("20", False), ("20.00", False), ("20.01", True), ("24", True)])
def test_wsp_referral_after_two_months_above_20_hours(app, tenant_session, hours, expected):
    session = tenant_session("alpha")
    placement = factories.placement(session, hours_per_week=Decimal(hours))
    _without_guidance(session)
    due_day = dt.date(2026, 4, 2)  # 2 months worked: 2 February up to and including 1 April
    with app.app_context():
        before = _kinds(services.due_reminders(session, ALPHA, due_day - dt.timedelta(days=1)))
        on = _kinds(services.due_reminders(session, ALPHA, due_day))
    assert ReminderKind.WSP_REFERRAL not in before
    if expected:
        [due] = on[ReminderKind.WSP_REFERRAL]
        assert (due.subject_id, due.due_on, due.placement.id) == (placement.candidate_id, due_day, placement.id)
    else:
        assert ReminderKind.WSP_REFERRAL not in on


def test_wsp_referral_needs_the_whole_two_months_and_a_candidate_not_yet_referred(app, tenant_session):
    session = tenant_session("alpha")
    short = factories.placement(session, hours_per_week=Decimal("22"))
    short.end_date = dt.date(2026, 3, 31)  # one day short of 2 months
    whole = factories.placement(session, hours_per_week=Decimal("22"))
    whole.end_date = dt.date(2026, 4, 1)  # exactly 2 months
    referred = factories.placement(session, hours_per_week=Decimal("22"))
    referred.candidate.status = CandidateStatus.REFERRED_WSP
    _without_guidance(session)
    with app.app_context():
        dues = _kinds(services.due_reminders(session, ALPHA, dt.date(2026, 4, 10)))[ReminderKind.WSP_REFERRAL]
    assert [d.subject_id for d in dues] == [whole.candidate_id]


def test_wsp_referral_from_the_earliest_qualifying_placement_once_per_candidate(app, tenant_session):
    session = tenant_session("alpha")
    first = factories.placement(session, hours_per_week=Decimal("22"))
    first.end_date = dt.date(2026, 4, 30)
    factories.placement(session, candidate_row=first.candidate, hours_per_week=Decimal("22"),
                        start_date=dt.date(2026, 5, 4))
    _without_guidance(session)
    with app.app_context():
        [due] = _kinds(services.due_reminders(session, ALPHA, dt.date(2026, 8, 1)))[ReminderKind.WSP_REFERRAL]
    assert (due.subject_id, due.due_on, due.placement.id) == (first.candidate_id, dt.date(2026, 4, 2), first.id)


def test_guidance_overdue_the_day_after_it_was_planned_until_done(app, tenant_session):
    session = tenant_session("alpha")
    placement = factories.placement(session)
    moment = session.scalar(sa.select(GuidanceMoment).where(GuidanceMoment.placement_id == placement.id,
                                                            GuidanceMoment.name == "Evaluatie na 3 maanden"))
    session.execute(sa.delete(GuidanceMoment).where(GuidanceMoment.id != moment.id))
    planned = moment.planned_on
    with app.app_context():
        assert ReminderKind.GUIDANCE_OVERDUE not in _kinds(services.due_reminders(session, ALPHA, planned))
        [due] = _kinds(services.due_reminders(session, ALPHA, planned + dt.timedelta(days=1)))[
            ReminderKind.GUIDANCE_OVERDUE]
        assert (due.subject_id, due.due_on, due.placement.id) == (moment.id, planned + dt.timedelta(days=1),
                                                                  placement.id)
        subject, body = services.compose(ALPHA, due)
        assert subject.startswith("Begeleidingsmoment te laat: Evaluatie na 3 maanden")
        moment.done_on, moment.outcome = planned, "Gesprek gehouden"
        session.flush()
        assert ReminderKind.GUIDANCE_OVERDUE not in _kinds(services.due_reminders(session, ALPHA, planned + dt.timedelta(days=9)))


def test_a_reminder_exists_once_even_when_two_runs_meet(app, tenant_session):
    session = tenant_session("alpha")
    placement = factories.placement(session)
    _without_guidance(session)
    with app.app_context():
        [due] = services.due_reminders(session, ALPHA, END_REMINDER_DAY)
        assert services.create(session, ALPHA, due, []) is not None
        assert services.create(session, ALPHA, due, []) is None  # found: not made again
        # The database refuses a second row outright (another run racing this one).
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(Reminder(kind=due.kind, subject_id=placement.id, due_on=END_REMINDER_DAY, subject="x",
                                 body="x", recipients="", send_attempts=0))
    assert len(_reminders(session)) == 1


def test_mail_links_point_to_the_platform_when_a_base_url_is_set(app, tenant_session, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "https://flextensie.example/")
    session = tenant_session("alpha")
    placement = factories.placement(session)
    _without_guidance(session)
    with app.app_context():
        [due] = services.due_reminders(session, ALPHA, END_REMINDER_DAY)
        _subject, body = services.compose(ALPHA, due)
    assert f"https://flextensie.example/g/alpha/plaatsingen/{placement.id}" in body


# -- the mail module --------------------------------------------------------------------------------


def test_mailer_follows_the_configuration(app):
    assert isinstance(mailer({"MAIL_BACKEND": "log"}), LogMailer)
    smtp = mailer({"MAIL_BACKEND": "smtp", "MAIL_SERVER": "smtp.example", "MAIL_FROM": "a@b.example"})
    assert isinstance(smtp, SMTPMailer) and smtp.port == 587 and smtp.use_tls
    with pytest.raises(MailError, match="MAIL_SERVER"):
        mailer({"MAIL_BACKEND": "smtp", "MAIL_SERVER": "", "MAIL_FROM": ""})
    with pytest.raises(MailError, match="unknown MAIL_BACKEND"):
        mailer({"MAIL_BACKEND": "pigeon"})
    with app.app_context():
        assert isinstance(mailer(), LogMailer)  # the embedded default


def test_a_misconfigured_mail_backend_stops_the_job_before_anything(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "pigeon")
    result = run_job(app, END_REMINDER_DAY)
    assert result.exit_code == 1 and "unknown MAIL_BACKEND" in result.output


# -- the inbox --------------------------------------------------------------------------------------


def _arrange_inbox(app, tenant_session, smtp_server) -> tuple[Reminder, str]:
    smtp_server.use(app)
    session = tenant_session("alpha")
    _recipients(session)
    placement = factories.placement(session)
    _without_guidance(session)
    session.commit()
    assert run_job(app, END_REMINDER_DAY).exit_code == 0
    [reminder] = _reminders(session)
    return reminder, placement.candidate.bsn


def test_inbox_api_lists_and_marks_read(app, client, login, tenant_session, smtp_server):
    reminder, bsn = _arrange_inbox(app, tenant_session, smtp_server)
    token = login("staff@alpha.test")
    listing = client.get("/api/v1/g/alpha/reminders")
    assert listing.status_code == 200 and listing.headers["Cache-Control"] == "no-store"
    body = listing.get_json()
    assert (body["total"], body["unread"]) == (1, 1)
    [item] = body["items"]
    assert item["kind"] == "end_of_placement" and item["due_on"] == END_REMINDER_DAY.isoformat()
    assert item["recipients"] == RECIPIENTS and item["sent_via"] == "smtp" and item["read_at"] is None
    assert bsn not in listing.get_data(as_text=True)

    read = client.post(f"/api/v1/g/alpha/reminders/{reminder.id}/read", headers={"X-CSRFToken": token})
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    first_read = read.get_json()["read_at"]
    again = client.post(f"/api/v1/g/alpha/reminders/{reminder.id}/read", headers={"X-CSRFToken": token})
    assert again.get_json()["read_at"] == first_read  # the first reading is kept
    assert client.get("/api/v1/g/alpha/reminders?unread=true").get_json()["total"] == 0
    assert client.get("/api/v1/g/alpha/reminders?unread=nope").status_code == 422


def test_inbox_page_shows_the_reminder_and_marks_it_read(app, client, login, tenant_session, smtp_server):
    reminder, bsn = _arrange_inbox(app, tenant_session, smtp_server)
    token = login("staff@alpha.test")
    page = client.get("/g/alpha/signalen")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and reminder.subject in html and "ongelezen" in html
    assert "Einde plaatsing" in html and "signalen@alfa.example" in html and bsn not in html
    assert "Markeer als gelezen" in html

    done = client.post(f"/g/alpha/signalen/{reminder.id}/gelezen", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/g/alpha/signalen")
    html = client.get("/g/alpha/signalen").get_data(as_text=True)
    assert "Markeer als gelezen" not in html and "Gelezen" in html
    assert "Geen ongelezen signalen." in client.get("/g/alpha/signalen?unread=true").get_data(as_text=True)


def test_the_inbox_is_in_the_tenant_navigation(client, login):
    login("staff@alpha.test")
    html = client.get("/g/alpha/signalen").get_data(as_text=True)
    assert 'href="/g/alpha/signalen" aria-current="page"' in html
