"""Timesheets: the placement's boundaries (the end date in, the day after out; before the start
out), approval, rejection and counter-proposal through the employer's signed link, also in bulk;
expiry with a controlled clock; corrections as new entries; approved rows frozen by the
database; only approved hours counted; a token never reaches another tenant."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from nvsi.crypto import cipher
from nvsi.db import utcnow
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.routing import TenantRef
from tenants.assignments.services import create_assignment
from tenants.candidates.models import Candidate
from tenants.placements.services import create_placement
from tenants.timesheets import services
from tenants.timesheets.models import ApprovedEntryFrozen, EntryStatus, TimesheetBatch, TimesheetEntry
from tests.support import csrf_token

D = Decimal
ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")
BETA = TenantRef(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
#: A Monday; a part-time placement from here lasts until 1 August 2026 at the most.
START = dt.date(2026, 2, 2)
TODAY = dt.date(2026, 11, 23)


# -- helpers (local: tests/factories.py belongs to another module) -----------------------------------


def make_placement(session, tenant=ALPHA, *, bsn="123456782", first_name="Anna", start=START, end=None,
                   hours="20"):
    cand = Candidate(bsn=bsn, bsn_hash=cipher().lookup_hash(bsn), first_name=first_name, last_name="Jansen",
                     registered_on=dt.date(2026, 1, 5), consent_at=utcnow(), work_preferences="")
    session.add(cand)
    session.flush()
    assignment = create_assignment(session, tenant, dict(
        employer_id=1, title="Groenonderhoud", hours_per_week=D("32"), hourly_rate_cents=1500,
        location="Utrecht", start_date=dt.date(2026, 1, 1), end_date=None, displacement_declared_by="P. de Vries",
    ), user_id=None)
    return create_placement(session, tenant, dict(
        candidate_id=cand.id, assignment_id=assignment.id, start_date=start, end_date=end,
        hours_per_week=D(hours), goals="Werkritme"), None)


def lines(*pairs):
    return [{"work_date": day, "hours": D(hours)} for day, hours in pairs]


def submit(session, placement, *pairs, tenant=ALPHA):
    return services.submit_hours(session, tenant, placement, lines(*pairs), user_id=None, today=TODAY)


def refusal(session, placement, *pairs):
    with pytest.raises(services.TimesheetError) as caught:
        submit(session, placement, *pairs)
    return caught.value.violations


def day(n: int) -> dt.date:
    """The n-th day of the placement (0: its first day)."""
    return START + dt.timedelta(days=n)


@pytest.fixture
def ctx(app):
    """A request context: links are absolute URLs signed with the app's secret."""
    with app.test_request_context("/"):
        yield


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


def link_path(link: str) -> str:
    return urlsplit(link).path


def fresh(session, entry) -> TimesheetEntry:
    session.expire_all()
    return session.get(TimesheetEntry, entry.id)


# -- the placement's boundaries ---------------------------------------------------------------------


def test_hours_on_the_end_date_are_accepted_and_the_day_after_refused(alpha):
    placement = make_placement(alpha, end=dt.date(2026, 3, 31))
    batch = submit(alpha, placement, (dt.date(2026, 3, 31), "8"))
    assert [e.work_date for e in batch.entries] == [dt.date(2026, 3, 31)]
    (v,) = refusal(alpha, placement, (dt.date(2026, 4, 1), "8"))
    assert (v.code, v.field) == ("after_placement_end", "entries.0.work_date")
    assert "2026-03-31" in v.message_nl


def test_hours_before_the_start_are_refused(alpha):
    placement = make_placement(alpha)
    (v,) = refusal(alpha, placement, (START - dt.timedelta(days=1), "8"))
    assert v.code == "before_placement_start"
    assert submit(alpha, placement, (START, "8")) is not None


def test_hours_after_the_maximum_duration_name_the_rule(alpha):
    placement = make_placement(alpha)  # no end date asked: the last day the rules allow
    assert placement.end_date == dt.date(2026, 8, 1)
    assert submit(alpha, placement, (dt.date(2026, 8, 1), "4")) is not None
    (v,) = refusal(alpha, placement, (dt.date(2026, 8, 2), "4"))
    assert (v.code, v.rule, v.version) == ("after_maximum_duration", "max_months_part_time", 1)


def test_hours_per_day_future_days_and_duplicates(alpha):
    placement = make_placement(alpha, start=dt.date(2026, 11, 2))
    violations = refusal(alpha, placement, (dt.date(2026, 11, 2), "24.01"), (dt.date(2026, 11, 3), "7.125"),
                         (dt.date(2026, 11, 24), "4"), (dt.date(2026, 11, 4), "-1"), (dt.date(2026, 11, 4), "2"))
    assert [(v.code, v.field) for v in violations] == [
        ("hours_out_of_range", "entries.0.hours"), ("hours_out_of_range", "entries.1.hours"),
        ("in_future", "entries.2.work_date"), ("hours_out_of_range", "entries.3.hours"),
        ("duplicate_day", "entries.4.work_date"),
    ]
    assert alpha.scalar(sa.select(sa.func.count()).select_from(TimesheetEntry)) == 0  # all or nothing
    batch = submit(alpha, placement, (dt.date(2026, 11, 2), "24"), (dt.date(2026, 11, 3), "7.25"),
                   (dt.date(2026, 11, 23), "0.5"))
    assert [e.hours for e in batch.entries] == [D("24.00"), D("7.25"), D("0.50")]


def test_resubmitting_the_same_hours_changes_nothing_and_new_hours_replace_waiting_ones(alpha):
    placement = make_placement(alpha)
    first = submit(alpha, placement, (day(0), "8"), (day(1), "6"))
    assert submit(alpha, placement, (day(0), "8"), (day(1), "6")) is None
    second = submit(alpha, placement, (day(0), "8"), (day(1), "5"))
    assert [(e.work_date, e.hours) for e in second.entries] == [(day(1), D("5.00"))]
    alpha.expire_all()
    statuses = {(e.work_date, e.hours): e.status for e in alpha.get(TimesheetBatch, first.id).entries}
    assert statuses == {(day(0), D("8.00")): EntryStatus.SUBMITTED, (day(1), D("6.00")): EntryStatus.SUPERSEDED}
    assert submit(alpha, placement, (day(0), "0")) is None  # withdrawn
    assert fresh(alpha, first.entries[0]).status is EntryStatus.SUPERSEDED


# -- approval through the link -------------------------------------------------------------------------


def test_the_employer_approves_everything_through_the_link(app, client, alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(2), "8"), (day(3), "7.5"), (day(4), "4"))
    message = services.approval_message(alpha, ALPHA, batch)
    alpha.commit()
    assert message.to == "facturen@groen.example"
    assert message.link in message.body and "Anna Jansen" in message.body and "19,50 uur" in message.body

    page = client.get(link_path(message.link))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Anna Jansen" in html and "Groenonderhoud" in html
    assert "123456782" not in html and "BSN" not in html  # the candidate's name and the hours only
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"

    token = csrf_token(html)
    done = client.post(link_path(message.link), data={"csrf_token": token, "action": "all", "name": "P. de Vries"})
    assert done.status_code == 302
    alpha.expire_all()
    entries = alpha.get(TimesheetBatch, batch.id).entries
    assert {e.status for e in entries} == {EntryStatus.APPROVED}
    assert entries[0].decided_by == "P. de Vries <facturen@groen.example>"
    assert alpha.get(type(placement), placement.id).first_working_day == day(2)
    assert services.approved_hours(alpha, placement.id) == D("19.50")

    # The same approval again changes nothing (idempotent).
    decided_at = [e.decided_at for e in entries]
    again = client.post(link_path(message.link), data={"csrf_token": token, "action": "all", "name": "Iemand"})
    assert again.status_code == 302
    assert "niets gewijzigd" in client.get(again.headers["Location"]).get_data(as_text=True)
    alpha.expire_all()
    entries = alpha.get(TimesheetBatch, batch.id).entries
    assert [e.decided_at for e in entries] == decided_at and entries[0].decided_by.startswith("P. de Vries")


def test_per_line_approve_reject_and_counter_proposal(app, client, alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"), (day(1), "8"), (day(2), "8"))
    a, b, c = batch.entries
    url = link_path(services.approval_link(ALPHA, batch))
    alpha.commit()
    token = csrf_token(client.get(url).get_data(as_text=True))

    # Rejecting without a reason or a counter-proposal is refused; nothing is recorded.
    refused = client.post(url, data={"csrf_token": token, "action": "lines", "name": "P. de Vries",
                                     f"decision-{a.id}": "approve", f"decision-{b.id}": "reject"})
    assert refused.status_code == 422 and "reden of een tegenvoorstel" in refused.get_data(as_text=True)
    assert fresh(alpha, a).status is EntryStatus.SUBMITTED

    ok = client.post(url, data={
        "csrf_token": token, "action": "lines", "name": "P. de Vries",
        f"decision-{a.id}": "approve",
        f"decision-{b.id}": "reject", f"reason-{b.id}": "Was ziek naar huis",
        f"decision-{c.id}": "reject", f"counter-{c.id}": "6,5",
    })
    assert ok.status_code == 302
    a, b, c = fresh(alpha, a), fresh(alpha, b), fresh(alpha, c)
    assert (a.status, b.status, b.reason, c.status, c.counter_hours) == (
        EntryStatus.APPROVED, EntryStatus.REJECTED, "Was ziek naar huis", EntryStatus.REJECTED, D("6.50"))
    assert services.approved_hours(alpha, placement.id) == D("8.00")

    # A decided line keeps its decision: approving it now changes nothing.
    again = client.post(url, data={"csrf_token": token, "action": "all", "name": "X"})
    assert again.status_code == 302 and fresh(alpha, b).status is EntryStatus.REJECTED

    # Staff adopt the counter-proposal: a new entry, sent for approval again.
    new = submit(alpha, placement, (day(2), "6.5"))
    assert [(e.hours, e.corrects_entry_id) for e in new.entries] == [(D("6.50"), None)]
    assert fresh(alpha, c).status is EntryStatus.REJECTED


def test_hours_after_an_early_end_can_no_longer_be_approved(alpha):
    from tenants.placements.services import end_placement

    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"), (day(1), "8"))
    end_placement(alpha, placement, day(0))
    result = approve(alpha, batch)
    assert [e.work_date for e in result.decided] == [day(0)] and [e.work_date for e in result.closed] == [day(1)]
    assert services.approved_hours(alpha, placement.id) == D("8.00")


def test_the_public_form_needs_the_csrf_token_and_a_name(app, client, alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    url = link_path(services.approval_link(ALPHA, batch))
    alpha.commit()
    assert client.post(url, data={"action": "all", "name": "P. de Vries"}).status_code == 400
    token = csrf_token(client.get(url).get_data(as_text=True))
    nameless = client.post(url, data={"csrf_token": token, "action": "all", "name": " "})
    assert nameless.status_code == 422 and "Vul uw naam in" in nameless.get_data(as_text=True)
    assert fresh(alpha, batch.entries[0]).status is EntryStatus.SUBMITTED


# -- expiry --------------------------------------------------------------------------------------------


def test_a_link_is_valid_for_the_approval_period_and_not_a_second_longer(alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    issued = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    token = services.approval_token(ALPHA, batch.id, now=issued)
    claims = services.read_token(token)
    assert (claims.slug, claims.batch_id, claims.issued_at) == ("alpha", batch.id, issued)
    tenant, opened = services.open_link(alpha, token, claims, now=issued + dt.timedelta(days=7))
    assert (tenant.slug, opened.id) == ("alpha", batch.id)
    with pytest.raises(services.LinkExpired) as caught:
        services.open_link(alpha, token, claims, now=issued + dt.timedelta(days=7, seconds=1))
    assert caught.value.expired_on == dt.date(2026, 11, 8)


def test_an_expired_link_shows_a_dutch_page_and_changes_nothing(app, client, alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    old = services.approval_link(ALPHA, batch, now=utcnow() - dt.timedelta(days=8))
    alpha.commit()
    page = client.get(link_path(old))
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and "Deze link is verlopen" in html and "Gemeente Alfa" in html
    token = csrf_token(html)
    posted = client.post(link_path(old), data={"csrf_token": token, "action": "all", "name": "P. de Vries"})
    assert posted.status_code == 410
    assert fresh(alpha, batch.entries[0]).status is EntryStatus.SUBMITTED
    # The municipality sends a new link: it works.
    new = services.approval_message(alpha, ALPHA, batch).link
    assert new != old
    assert client.post(link_path(new), data={"csrf_token": token, "action": "all",
                                             "name": "P. de Vries"}).status_code == 302
    assert fresh(alpha, batch.entries[0]).status is EntryStatus.APPROVED


# -- corrections and frozen approved rows ----------------------------------------------------------------


def approve(session, batch, name="P. de Vries"):
    return services.approve_all(session, batch, name)


def test_a_correction_is_a_new_entry_and_counts_only_once_approved(alpha):
    placement = make_placement(alpha)
    original = submit(alpha, placement, (day(0), "8")).entries[0]
    approve(alpha, original.batch)
    correction = submit(alpha, placement, (day(0), "6")).entries[0]
    assert (correction.corrects_entry_id, correction.status) == (original.id, EntryStatus.SUBMITTED)
    original = fresh(alpha, original)
    assert (original.status, original.hours) == (EntryStatus.APPROVED, D("8.00"))
    assert services.approved_hours(alpha, placement.id) == D("8.00")  # the correction waits
    approve(alpha, fresh(alpha, correction).batch)
    assert services.approved_hours(alpha, placement.id) == D("6.00")
    assert [e.id for e in services.approved_entries(alpha, placement.id)] == [correction.id]
    # The day was not worked at all: a correction to zero, against the latest approved entry.
    zero = submit(alpha, placement, (day(0), "0")).entries[0]
    assert (zero.hours, zero.corrects_entry_id) == (D("0.00"), correction.id)
    approve(alpha, zero.batch)
    assert services.approved_hours(alpha, placement.id) == D("0.00")
    assert fresh(alpha, original).status is EntryStatus.APPROVED  # history stays


def test_approved_entries_cannot_be_changed_in_the_database(alpha, tenant_session):
    placement = make_placement(alpha)
    entry = submit(alpha, placement, (day(0), "8"), (day(1), "4")).entries[0]
    waiting = entry.batch.entries[1]
    services.decide(alpha, entry.batch, [services.Decision(entry.id, True)], "P. de Vries")
    alpha.flush()
    table = TimesheetEntry.__table__  # Core statements: no ORM guard, straight to the database
    for statement in (sa.update(table).where(table.c.id == entry.id).values(hours=9),
                      sa.update(table).where(table.c.id == entry.id).values(status="superseded"),
                      sa.update(table).where(table.c.id == entry.id).values(reason="x"),
                      sa.delete(table).where(table.c.id == entry.id)):
        with pytest.raises(sa.exc.DBAPIError, match="approved timesheet entries cannot be changed"):
            with alpha.begin_nested():
                alpha.execute(statement)
    # A waiting entry is not frozen: it still gets decided.
    with alpha.begin_nested():
        alpha.execute(sa.update(table).where(table.c.id == waiting.id).values(hours=5))
    # The ORM refuses before the database has to.
    entry = fresh(alpha, entry)
    with pytest.raises(ApprovedEntryFrozen):
        with alpha.begin_nested():
            entry.hours = D("9")
            alpha.flush()
    assert fresh(alpha, entry).hours == D("8.00")


def test_the_placement_page_shows_the_hours(app, client, login, alpha):
    placement = make_placement(alpha)
    approve(alpha, submit(alpha, placement, (day(1), "8")))
    submit(alpha, placement, (day(2), "4"))
    alpha.commit()
    login("staff@alpha.test")
    html = client.get(f"/g/alpha/plaatsingen/{placement.id}").get_data(as_text=True)
    assert "Goedgekeurde uren in totaal: 8." in html and "1 invoer(en) wacht(en)" in html
    assert f"/g/alpha/plaatsingen/{placement.id}/uren" in html
    assert "3 februari 2026" in html  # the first working day, set by the approval


# -- only approved hours count -------------------------------------------------------------------------


def test_only_approved_hours_count(alpha):
    one = make_placement(alpha)
    two = make_placement(alpha, bsn="234567891", first_name="Bram")
    batch = submit(alpha, one, (day(0), "8"), (day(1), "8"), (day(7), "3"))
    services.decide(alpha, batch, [services.Decision(batch.entries[0].id, True),
                                   services.Decision(batch.entries[1].id, False, "te veel")], "P. de Vries")
    approve(alpha, submit(alpha, two, (day(0), "2.25")))
    submit(alpha, two, (day(1), "5"))  # waiting: does not count
    assert services.approved_hours(alpha, one.id) == D("8.00")
    assert services.approved_hours(alpha) == D("10.25")
    assert services.approved_hours(alpha, period=(day(1), day(7))) == D("0.00")
    assert services.approved_hours_by_placement(alpha) == {one.id: D("8.00"), two.id: D("2.25")}
    assert fresh(alpha, batch.entries[2]).status is EntryStatus.SUBMITTED


def test_the_first_approved_hours_set_the_first_working_day_and_move_its_guidance(alpha):
    from tenants.frameworks.models import GuidanceAnchor
    from tenants.guidance.services import moments_for

    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(3), "8"), (day(2), "8"))
    earliest = next(e for e in batch.entries if e.work_date == day(2))
    services.decide(alpha, batch, [services.Decision(earliest.id, False, "niet gewerkt")], "P. de Vries")
    assert placement.first_working_day is None  # rejected hours do not count
    approve(alpha, batch)
    assert placement.first_working_day == day(3)
    (contact,) = [m for m in moments_for(alpha, placement.id) if m.anchor is GuidanceAnchor.FIRST_WORKING_DAY]
    assert contact.planned_on == day(3) + dt.timedelta(days=contact.offset_days)


def test_the_first_working_day_is_set_only_when_empty(alpha):
    placement = make_placement(alpha)
    placement.first_working_day = day(1)
    alpha.flush()
    approve(alpha, submit(alpha, placement, (day(0), "8")))
    assert placement.first_working_day == day(1)


# -- API and pages for staff -------------------------------------------------------------------------------


def test_api_submit_list_and_new_link(client, login, alpha):
    placement = make_placement(alpha)
    alpha.commit()
    token = login("staff@alpha.test")
    url = f"/api/v1/g/alpha/placements/{placement.id}/timesheets"
    refused = client.post(url, headers={"X-CSRFToken": token}, json={"entries": [
        {"work_date": "2026-08-02", "hours": "4"}, {"work_date": "2026-02-03", "hours": "abc"}]})
    assert refused.status_code == 422 and "entries" in refused.get_json()["errors"]
    refused = client.post(url, headers={"X-CSRFToken": token}, json={"entries": [{"work_date": "2026-08-02",
                                                                                  "hours": "4"}]})
    body = refused.get_json()
    assert refused.status_code == 422
    assert [(v["code"], v["rule"], v["field"]) for v in body["violations"]] == [
        ("after_maximum_duration", "max_months_part_time", "entries.0.work_date")]

    created = client.post(url, headers={"X-CSRFToken": token}, json={"entries": [
        {"work_date": "2026-02-02", "hours": 7.5}, {"work_date": "2026-02-03", "hours": "8"}]})
    assert created.status_code == 201
    body = created.get_json()
    assert [e["hours"] for e in body["batch"]["entries"]] == ["7.50", "8.00"]
    assert body["approval"]["link"].startswith("http://localhost/uren/")
    assert created.headers["Location"].endswith(f"/timesheet-batches/{body['batch']['id']}")
    same = client.post(url, headers={"X-CSRFToken": token}, json={"entries": [{"work_date": "2026-02-02",
                                                                               "hours": "7.50"}]})
    assert same.status_code == 200 and same.get_json() == {"batch": None, "approval": None}

    overview = client.get(url).get_json()
    assert overview["approved_hours"] == "0.00" and len(overview["entries"]) == 2
    assert overview["weeks"] == [{"week_start": "2026-02-02", "approved_hours": "0.00",
                                  "submitted_hours": "15.50", "rejected_days": 0}]
    assert client.get(url + "?from=2026-02-03").get_json()["entries"][0]["work_date"] == "2026-02-03"
    batch_url = f"/api/v1/g/alpha/timesheet-batches/{body['batch']['id']}"
    assert client.get(batch_url).get_json()["id"] == body["batch"]["id"]
    link = client.post(batch_url + "/link", headers={"X-CSRFToken": token}, json={}).get_json()
    assert link["to"] == "facturen@groen.example" and "/uren/" in link["link"]


@pytest.mark.parametrize("email, status", [
    ("staff@alpha.test", 200), ("admin@alpha.test", 200), ("backoffice@nvsi.test", 200),
    ("admin@nvsi.test", 404), ("staff@beta.test", 404),
])
def test_who_works_on_hours(client, login, alpha, email, status):
    placement = make_placement(alpha)
    alpha.commit()
    login(email)
    assert client.get(f"/api/v1/g/alpha/placements/{placement.id}/timesheets").status_code == status
    assert client.get(f"/g/alpha/plaatsingen/{placement.id}/uren").status_code == status


def test_week_page_enters_hours_and_shows_the_link(client, login, alpha):
    placement = make_placement(alpha)
    alpha.commit()
    token = login("staff@alpha.test")
    url = f"/g/alpha/plaatsingen/{placement.id}/uren"
    page = client.get(url + "?week=2026-02-04").get_data(as_text=True)
    assert 'name="hours-2026-02-02"' in page and 'name="hours-2026-02-08"' in page
    bad = client.post(url, data={"csrf_token": token, "week": "2026-02-02", "hours-2026-02-02": "acht",
                                 "hours-2026-02-03": "25"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'value="acht"' in html and 'aria-invalid="true"' in html
    assert "Vul een getal in" in html
    ok = client.post(url, data={"csrf_token": token, "week": "2026-02-02", "hours-2026-02-02": "7,5",
                                "hours-2026-02-03": "8", "hours-2026-02-04": ""})
    assert ok.status_code == 302 and "/urenbriefjes/" in ok.headers["Location"]
    batch_page = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "/uren/" in batch_page and "facturen@groen.example" in batch_page and "mailto:" in batch_page
    grid = client.get(url + "?week=2026-02-02").get_data(as_text=True)
    assert 'value="7,5"' in grid and "ter goedkeuring" in grid
    too_many = client.post(url, data={"csrf_token": token, "week": "2026-02-02", "hours-2026-02-05": "25"})
    assert too_many.status_code == 422 and "0 tot en met 24 uur" in too_many.get_data(as_text=True)


# -- the approval e-mail (nvsi.mail) ---------------------------------------------------------------------


class FakeMailer:
    """Records what would be sent; ``fail`` makes it refuse like an unreachable server."""

    name = "fake"

    def __init__(self, fail=False):
        self.sent, self.fail = [], fail

    def send(self, message):
        from nvsi.mail import MailError, Sent

        if self.fail:
            raise MailError("SMTP unavailable (ConnectionRefusedError)", server_down=True)
        self.sent.append(message)
        return Sent(self.name, "<1@test>")


@pytest.fixture
def outbox(monkeypatch):
    fake = FakeMailer()
    monkeypatch.setattr("nvsi.mail.mailer", lambda config=None: fake)
    return fake


def test_submitting_mails_the_employer_the_link(client, login, alpha, outbox):
    placement = make_placement(alpha)
    alpha.commit()
    token = login("staff@alpha.test")
    response = client.post(f"/api/v1/g/alpha/placements/{placement.id}/timesheets", headers={"X-CSRFToken": token},
                           json={"entries": [{"work_date": "2026-02-02", "hours": "8"}]})
    approval = response.get_json()["approval"]
    assert approval["mail"] == {"sent": True, "via": "fake", "error": None}
    (mail,) = outbox.sent
    assert mail.to == ("facturen@groen.example",) and approval["link"] in mail.body
    assert "Anna" not in mail.subject  # previews and mail logs name no person
    assert mail.headers == {"Auto-Submitted": "auto-generated"}
    path = link_path(approval["link"])
    assert client.get(path).status_code == 200

    # A new link by mail from the batch page.
    batch_id = response.get_json()["batch"]["id"]
    sent = client.post(f"/g/alpha/urenbriefjes/{batch_id}/versturen", data={"csrf_token": token})
    assert sent.status_code == 302 and len(outbox.sent) == 2
    assert "facturen@groen.example" in client.get(sent.headers["Location"]).get_data(as_text=True)


def test_a_failing_mail_server_keeps_the_hours_and_says_what_to_do(client, login, alpha, monkeypatch):
    monkeypatch.setattr("nvsi.mail.mailer", lambda config=None: FakeMailer(fail=True))
    placement = make_placement(alpha)
    alpha.commit()
    token = login("staff@alpha.test")
    response = client.post(f"/g/alpha/plaatsingen/{placement.id}/uren",
                           data={"csrf_token": token, "week": "2026-02-02", "hours-2026-02-02": "8"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "kon niet worden verstuurd" in page and "/uren/" in page
    assert services.approved_hours(alpha, placement.id) == D("0.00")
    assert len(services.open_batches(alpha, placement.id)) == 1


def test_links_in_mails_use_the_configured_address(app, alpha, ctx, monkeypatch):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "https://flextensie.example/")
    assert services.approval_link(ALPHA, batch).startswith("https://flextensie.example/uren/")


# -- the token and the tenants ----------------------------------------------------------------------------


def test_a_token_for_alpha_never_reads_or_changes_beta(app, client, tenant_session, alpha, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    batch_id, entry_id = batch.id, batch.entries[0].id
    url = link_path(services.approval_link(ALPHA, batch))
    alpha.commit()
    # Sessions share the test's connection: alpha stays untouched while beta works.
    beta = tenant_session("beta")
    twin_placement = make_placement(beta, BETA, first_name="Bertha")
    # Beta gets a submission and an entry with exactly alpha's ids.
    twin = TimesheetBatch(id=batch_id, placement_id=twin_placement.id)
    beta.add(twin)
    beta.flush()
    beta.add(TimesheetEntry(id=entry_id, placement_id=twin_placement.id, batch_id=twin.id,
                            work_date=day(0), hours=D("8"), status=EntryStatus.SUBMITTED))
    beta.commit()

    html = client.get(url).get_data(as_text=True)
    assert "Anna Jansen" in html and "Bertha" not in html
    client.post(url, data={"csrf_token": csrf_token(html), "action": "all", "name": "P. de Vries"})
    beta.expire_all()
    assert beta.get(TimesheetEntry, entry_id).status is EntryStatus.SUBMITTED
    beta.commit()
    alpha.expire_all()
    assert alpha.get(TimesheetEntry, entry_id).status is EntryStatus.APPROVED


def altered(token: str) -> list[str]:
    """The token with one character changed, at every place (payload, timestamp, signature; the
    last character of a base64 signature carries unused bits: it must be refused too)."""
    result = []
    for i, char in enumerate(token):
        for other in ("A" if char != "A" else "B", "." if char != "." else "x"):
            result.append(token[:i] + other + token[i + 1:])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return result + [token[:-1] + c for c in alphabet if c != token[-1]]


def test_an_altered_or_foreign_token_is_refused_and_changes_nothing(app, client, alpha, ctx):
    from itsdangerous import URLSafeTimedSerializer

    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    token = services.approval_token(ALPHA, batch.id)
    alpha.commit()
    csrf = csrf_token(client.get("/login").get_data(as_text=True))
    forged = [
        URLSafeTimedSerializer("another-secret", salt=services.LINK_SALT).dumps({"t": "alpha", "b": batch.id}),
        URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps({"t": "alpha", "b": batch.id}),
        URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=services.LINK_SALT).dumps(["alpha", batch.id]),
        services.approval_token(ALPHA, 987654),
    ]
    for bad in altered(token) + forged:
        assert bad != token
        page = client.get(f"/uren/{bad}")
        assert page.status_code == 404, bad
    for bad in altered(token)[::17] + forged:
        assert "Deze link is ongeldig" in client.get(f"/uren/{bad}").get_data(as_text=True)
        assert client.post(f"/uren/{bad}", data={"csrf_token": csrf, "action": "all",
                                                 "name": "X"}).status_code == 404
    assert fresh(alpha, batch.entries[0]).status is EntryStatus.SUBMITTED
    assert client.get(f"/uren/{token}").status_code == 200


def test_a_suspended_tenants_link_is_refused(app, client, alpha, shared_session, ctx):
    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    url = link_path(services.approval_link(ALPHA, batch))
    alpha.commit()
    tenant = shared_session.scalar(sa.select(Tenant).where(Tenant.slug == "alpha"))
    tenant.status = TenantStatus.SUSPENDED
    shared_session.commit()
    assert client.get(url).status_code == 404


def test_the_token_names_only_the_tenant_and_the_submission(alpha, ctx):
    import base64
    import json

    placement = make_placement(alpha)
    batch = submit(alpha, placement, (day(0), "8"))
    payload = services.approval_token(ALPHA, batch.id).split(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded == {"t": "alpha", "b": batch.id}
    assert not re.search(r"\d{9}", json.dumps(decoded))
