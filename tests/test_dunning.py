"""Dunning, both backends, through a real SMTP server: reminders at 5 and 12 days past the due date
and a final notice at 19, each once (a second run, or a catch-up, sends nothing twice); nothing
for an invoice paid or credited in between; the outstanding amount of a partly paid invoice; a
failed mail retried; the status on the municipality's pages and API."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.tenancy.routing import RoutingSession, bind_tenant
from tenants.invoicing.models import Invoice, PaymentStatus
from tenants.payments import dunning
from tenants.payments.models import DunningLevel, DunningNotice, PaymentMethod
from tenants.payments.services import apply_payment
from tests import invoice_helpers as make
from tests import smtp
from tests.factories import ALPHA

#: The helpers' invoice: issued 9 March 2026, due 14 days later; EUR 565.55.
DUE = make.ISSUED + dt.timedelta(days=14)
BUYER = "facturen@groen.example"


def day(offset: int) -> dt.date:
    return DUE + dt.timedelta(days=offset)


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in this process)."""
    yield from smtp.running(monkeypatch)


@pytest.fixture
def mail(app, smtp_server, monkeypatch):
    smtp_server.use(app)
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "https://nvsi.example")
    return smtp_server


@contextmanager
def reading(app, slug: str | None = "alpha"):
    session = RoutingSession(db, router=app.extensions["nvsi.router"])
    if slug:
        bind_tenant(session, "t_" + slug)
    try:
        yield session
    finally:
        session.close()


def run_job(app, on: dt.date):
    """``nvsi invoices dunning --today on``, as the CronJob runs it."""
    return app.test_cli_runner().invoke(args=["invoices", "dunning", "--today", on.isoformat()])


def notices(app) -> list[tuple[DunningLevel, bool]]:
    with reading(app) as session:
        return [(n.level, n.sent_at is not None)
                for n in session.scalars(sa.select(DunningNotice).order_by(DunningNotice.id))]


@pytest.fixture
def invoice_id(tenant_session) -> int:
    session = tenant_session("alpha")
    invoice = make.invoice(session)
    assert invoice.due_date == DUE and invoice.buyer["email"] == BUYER
    session.commit()
    return invoice.id


def test_the_schedule_is_5_12_and_19_days_after_the_due_date():
    assert [(level, days) for level, days in dunning.SCHEDULE] == [
        (DunningLevel.FIRST_REMINDER, 5), (DunningLevel.SECOND_REMINDER, 12), (DunningLevel.FINAL_NOTICE, 19)]
    assert dunning.level_on(DUE, day(4)) is None
    assert dunning.level_on(DUE, day(5)) is DunningLevel.FIRST_REMINDER
    assert dunning.level_on(DUE, day(11)) is DunningLevel.FIRST_REMINDER
    assert dunning.level_on(DUE, day(12)) is DunningLevel.SECOND_REMINDER
    assert dunning.level_on(DUE, day(19)) is DunningLevel.FINAL_NOTICE


def test_reminders_at_5_and_12_days_then_a_final_notice_each_mailed_once(app, mail, invoice_id):
    assert run_job(app, day(4)).exit_code == 0
    assert mail.messages == [] and notices(app) == []

    first = run_job(app, day(5))
    assert first.exit_code == 0, first.output
    assert "alpha: 1 new, 1 sent, 0 failed" in first.output
    [reminder] = mail.messages
    assert reminder.rcpt_tos == [BUYER]
    assert reminder.subject.startswith("Herinnering: factuur F2026-000001 van Nederlandse Vereniging")
    assert "Gemeente Alfa" in reminder.subject
    text = reminder.text
    assert "Nog te betalen: EUR 565,55" in text and "NVSI000001F2026" in text
    assert "23 maart 2026" in text and "NL91 ABNA 0417 1643 00" in text
    assert "https://nvsi.example/pay/" in text
    assert reminder.message["Reply-To"] == "facturen@nvsi.test"
    assert reminder.message["Auto-Submitted"] == "auto-generated"

    # Once: the same day again, and the days in between, send nothing.
    for on in (day(5), day(8), day(11)):
        again = run_job(app, on)
        assert again.exit_code == 0 and "alpha: 0 new, 0 sent, 0 failed" in again.output
    assert len(mail.messages) == 1

    assert "alpha: 1 new, 1 sent" in run_job(app, day(12)).output
    assert mail.messages[1].subject.startswith("Tweede herinnering: factuur F2026-000001")
    assert "Ondanks onze eerdere herinnering" in mail.messages[1].text
    assert run_job(app, day(18)).output.count("1 sent") == 0

    final = run_job(app, day(19))
    assert "alpha: 1 new, 1 sent" in final.output
    assert mail.messages[2].subject.startswith("Laatste aanmaning: factuur F2026-000001")
    assert "laatste aanmaning" in mail.messages[2].text
    for on in (day(19), day(30), day(90)):
        assert run_job(app, on).exit_code == 0
    assert len(mail.messages) == 3
    assert notices(app) == [(DunningLevel.FIRST_REMINDER, True), (DunningLevel.SECOND_REMINDER, True),
                            (DunningLevel.FINAL_NOTICE, True)]
    with reading(app, None) as shared:
        events = shared.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.dunning_sent")
                                .order_by(AuditEvent.id)).all()
    assert [e.changes["level"] for e in events] == ["first_reminder", "second_reminder", "final_notice"]
    assert all(e.tenant_id == ALPHA.id and e.actor_label == "system:dunning" for e in events)


def test_a_paid_or_credited_invoice_gets_nothing_more_and_a_partial_payment_is_reminded_of_the_rest(
        app, mail, tenant_session):
    session = tenant_session("alpha")
    paid, partial, credited = make.invoice(session), make.invoice(session), make.invoice(session)
    apply_payment(session, ALPHA, paid, 56555, method=PaymentMethod.BANK_TRANSFER, external_ref="camt:t:1",
                  received_on=day(2), clearing=chart.BANK)
    apply_payment(session, ALPHA, partial, 50000, method=PaymentMethod.BANK_TRANSFER, external_ref="camt:t:2",
                  received_on=day(2), clearing=chart.BANK)
    credited.credited_cents, credited.status = credited.gross_cents, PaymentStatus.CREDITED
    session.commit()
    partial_id = partial.id

    assert "alpha: 1 new, 1 sent" in run_job(app, day(5)).output
    [reminder] = mail.messages
    assert "F2026-000002" in reminder.subject and "Nog te betalen: EUR 65,55" in reminder.text

    # The rest arrives before the second reminder: nothing more is sent.
    with reading(app) as pay:
        apply_payment(pay, ALPHA, pay.get(Invoice, partial_id), 6555, method=PaymentMethod.BANK_TRANSFER,
                      external_ref="camt:t:3", received_on=day(9), clearing=chart.BANK)
        pay.commit()
    for on in (day(12), day(19), day(40)):
        assert run_job(app, on).exit_code == 0
    assert len(mail.messages) == 1


def test_a_run_that_catches_up_sends_the_level_that_is_due_not_the_ones_it_missed(app, mail, invoice_id):
    assert "alpha: 1 new, 1 sent" in run_job(app, day(13)).output
    [mail_sent] = mail.messages
    assert mail_sent.subject.startswith("Tweede herinnering")
    assert notices(app) == [(DunningLevel.SECOND_REMINDER, True)]


def test_a_failed_mail_leaves_the_notice_unsent_and_the_next_run_sends_it(app, mail, invoice_id, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp.free_port())  # nobody listens there
    down = run_job(app, day(5))
    assert down.exit_code == 1 and "mail server unavailable" in down.output
    assert notices(app) == [(DunningLevel.FIRST_REMINDER, False)]

    monkeypatch.setitem(app.config, "MAIL_PORT", mail.port)
    retry = run_job(app, day(6))
    assert retry.exit_code == 0 and "alpha: 0 new, 1 sent, 0 failed" in retry.output, retry.output
    assert notices(app) == [(DunningLevel.FIRST_REMINDER, True)]
    assert run_job(app, day(7)).exit_code == 0
    assert len(mail.messages) == 1


def test_the_dunning_status_is_visible_to_the_municipality_and_the_backoffice(app, client, login, mail,
                                                                              invoice_id):
    assert run_job(app, day(5)).exit_code == 0
    for user in ("staff@alpha.test", "backoffice@nvsi.test"):
        login(user)
        page = client.get("/g/alpha/betalingen")
        assert page.status_code == 200
        html = page.get_data(as_text=True).replace("\xa0", " ")
        assert "Achterstallige facturen" in html and "F2026-000001" in html
        assert "eerste herinnering" in html and "€ 565,55" in html

        detail = client.get(f"/g/alpha/facturen/{invoice_id}").get_data(as_text=True)
        assert "Herinneringen" in detail and "Eerste herinnering: verstuurd op" in detail

        api = client.get("/api/v1/g/alpha/dunning").get_json()
        [row] = api["items"]
        assert (row["number"], row["level"], row["outstanding_cents"]) == ("F2026-000001", "first_reminder", 56555)
        assert [(n["level"], n["sent_at"] is not None) for n in row["notices"]] == [("first_reminder", True)]
        assert client.get("/api/v1/g/alpha/payments").get_json()["items"] == []
        client.post("/logout", data={"csrf_token": client.get("/api/v1/session").get_json()["csrf_token"]})


def test_payments_received_are_listed_for_the_municipality(app, client, login, tenant_session):
    session = tenant_session("alpha")
    invoice = make.invoice(session)
    apply_payment(session, ALPHA, invoice, 60000, method=PaymentMethod.BANK_TRANSFER, external_ref="camt:9:9",
                  received_on=dt.date(2026, 3, 20), clearing=chart.BANK)
    session.commit()
    login("staff@alpha.test")
    [item] = client.get("/api/v1/g/alpha/payments").get_json()["items"]
    assert (item["invoice_number"], item["method"], item["amount_cents"], item["excess_cents"]) == (
        "F2026-000001", "bank_transfer", 60000, 3445)
    html = client.get("/g/alpha/betalingen").get_data(as_text=True).replace("\xa0", " ")
    assert "bankoverschrijving" in html and "€ 600,00" in html and "€ 34,45" in html
    assert "Geen achterstallige facturen." in html
