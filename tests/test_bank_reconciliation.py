"""Bank reconciliation, both backends: a camt.053 statement read, stored once and matched to the
invoices of two municipalities (paid, partly paid, overpaid) with the ledger in balance; a
Stripe payout; the review queue and matching by hand (page and API, audited); the same
statement imported twice; files that are refused with the problem named."""

from __future__ import annotations

import datetime as dt
import io
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from nvsi.audit.models import AuditEvent
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.models import LedgerEntry, LedgerTransaction
from nvsi.ledger.services import Line, balance, post, trial_balance
from nvsi.payments import bank
from nvsi.payments.bank_models import BankLine, BankStatement, LineStatus, MatchKind
from nvsi.tenancy.routing import RoutingSession, TenantRef, bind_tenant
from tenants.invoicing.models import DocumentType, Invoice, InvoiceLine, PaymentStatus
from tenants.invoicing.services import payment_reference
from tenants.payments.models import Payment, PaymentMethod
from tenants.payments.services import apply_payment
from tests import factories
from tests.factories import ALPHA
from tests.invoice_helpers import SELLER, WEEK, _number, buyer_of

BETA = TenantRef(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
CAMT = Path(__file__).parent / "fixtures" / "camt"
STATEMENT = CAMT / "statement_2026-03-20.xml"
AGAIN = CAMT / "statement_2026-03-20_again.xml"
MALFORMED = CAMT / "statement_malformed.xml"
ISSUED = dt.date(2026, 3, 9)
#: The statement's lines, by their position: what each should become.
STRIPE_CENTS = 234566


def issue(session, tenant: TenantRef, cbs: str, *, hours=Decimal("38"), rate_cents=1230) -> Invoice:
    """An invoice numbered as the invoice run numbers them (``GM9001-F2026-000001``), with its
    real payment reference and its receivable in the ledger (Dr 1100/t, Cr 8000/t and 1500)."""
    employer = factories.employer(session)
    series, sequence = _number(session, "F2026")
    number = f"{cbs}-F2026-{sequence:06d}"
    net = int(hours * rate_cents)
    vat = int((Decimal(net) * Decimal("0.21")).quantize(Decimal("1")))
    invoice = Invoice(
        doc_type=DocumentType.INVOICE, series_id=series.id, sequence=sequence, number=number,
        employer_id=employer.id, period_start=WEEK[0], period_end=WEEK[1], issue_date=ISSUED,
        due_date=ISSUED + dt.timedelta(days=14), net_cents=net, vat_cents=vat, gross_cents=net + vat,
        payment_reference=payment_reference(number), seller=dict(SELLER), buyer=buyer_of(employer), rules_version=1,
        lines=[InvoiceLine(description="Groenonderhoud – A. J., 2–8 maart 2026", service_start=WEEK[0],
                           service_end=WEEK[1], hours=hours, rate_cents=rate_cents, net_cents=net, vat_category="S",
                           vat_rate=Decimal("21"))],
    )
    session.add(invoice)
    session.flush()
    post(session, key=f"test-invoice:{tenant.slug}:{number}", booking_date=ISSUED, tenant_id=tenant.id,
         kind="invoice", description=f"Factuur {number}",
         lines=[Line(chart.RECEIVABLES, net + vat), Line(chart.REVENUE, -net), Line(chart.VAT_PAYABLE, -vat)])
    return invoice


@pytest.fixture
def invoices(tenant_session):
    """Alpha's invoices 1–4 (EUR 565.55 each) and beta's invoice 1 (EUR 121.00), committed."""
    alpha = tenant_session("alpha")
    made = {n: issue(alpha, ALPHA, "GM9001") for n in (1, 2, 3, 4)}
    assert [i.number for i in made.values()] == [f"GM9001-F2026-00000{n}" for n in (1, 2, 3, 4)]
    assert made[1].payment_reference == "RF15GM9001F2026000001"
    alpha.commit()
    beta = tenant_session("beta")
    made["beta"] = issue(beta, BETA, "GM9002", hours=Decimal("1"), rate_cents=10000)
    assert made["beta"].gross_cents == 12100
    beta.commit()
    return {k: (v.id, v.number) for k, v in made.items()}


def upload(client, token, path_or_bytes, name="afschrift.xml"):
    content = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    return client.post("/api/v1/bank-statements", data={"file": (io.BytesIO(content), name)},
                       headers={"X-CSRFToken": token}, content_type="multipart/form-data")


@contextmanager
def reading(app, slug: str | None = None):
    """A session that only reads, closed right after (so no savepoint outlives the block)."""
    session = RoutingSession(db, router=app.extensions["nvsi.router"])
    if slug:
        bind_tenant(session, "t_" + slug)
    try:
        yield session
    finally:
        session.close()


def lines_of(app) -> dict[int, BankLine]:
    with reading(app) as session:
        return {line.position: line for line in session.scalars(sa.select(BankLine).order_by(BankLine.id))}


def invoice(app, slug, invoice_id) -> Invoice:
    with reading(app, slug) as session:
        return session.get(Invoice, invoice_id)


def counts(app) -> dict[str, int]:
    with reading(app) as session:
        return {name: session.scalar(sa.select(sa.func.count()).select_from(model))
                for name, model in (("statements", BankStatement), ("lines", BankLine),
                                    ("transactions", LedgerTransaction), ("entries", LedgerEntry),
                                    ("audit", AuditEvent))}


# -- the fixtures themselves ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [STATEMENT, AGAIN])
def test_the_statement_fixtures_are_valid_camt053(path):
    schema = etree.XMLSchema(etree.parse(str(CAMT / "camt.053.001.02.xsd")))
    assert schema.validate(etree.parse(str(path))), schema.error_log


def test_references_are_found_structured_in_groups_and_as_invoice_numbers():
    line = BankLine(creditor_reference=None, remittance_info="Kenmerk RF58 GM90 01F2 0260 0000 3 dank u")
    assert bank.references_in(line) == ["RF58GM9001F2026000003"]
    line = BankLine(remittance_info="factuur gm9001-f2026-000002 en GM9001-F2026-000001")
    assert bank.references_in(line) == ["RF85GM9001F2026000002", "RF15GM9001F2026000001"]
    assert bank.references_in(BankLine(remittance_info="RF99 1234 (geen geldig kenmerk)")) == []


# -- importing and matching ---------------------------------------------------------------------------


def test_a_statement_books_full_partial_and_over_payments_and_queues_the_rest(
        app, client, login, invoices, tenant_session):
    token = login("backoffice@nvsi.test")
    response = upload(client, token, STATEMENT, "camt053-20260320.xml")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["already_imported"] is False
    assert body["matching"] == {"matched": 4, "stripe_payouts": 1, "payouts": 0, "unmatched": 2}
    [statement] = body["statements"]
    assert (statement["statement_ref"], statement["account_iban"], statement["line_count"]) == (
        "NVSI-2026-03-20", "NL91ABNA0417164300", 7)
    assert (statement["credit_cents"], statement["debit_cents"]) == (56555 + 50000 + 60000 + 12100 + 2500 + STRIPE_CENTS,
                                                                    10000)
    assert (statement["opening_balance_cents"], statement["closing_balance_cents"]) == (1000000, 1405721)

    lines = lines_of(app)
    paid, partial, over = (invoice(app, "alpha", invoices[n][0]) for n in (1, 2, 3))
    # Paid in full (structured reference), in part (the invoice number in the text), too much
    # (the reference typed in groups of four): the core books the excess as the employer's credit.
    assert (paid.status, paid.paid_cents) == (PaymentStatus.PAID, 56555)
    assert (partial.status, partial.outstanding_cents) == (PaymentStatus.PARTIALLY_PAID, 6555)
    assert (over.status, over.paid_cents) == (PaymentStatus.PAID, 56555)
    with reading(app, "alpha") as alpha:
        payments = {p.invoice_id: p for p in alpha.scalars(sa.select(Payment))}
    assert payments[over.id].excess_cents == 3445
    assert payments[paid.id].method is PaymentMethod.BANK_TRANSFER
    assert payments[paid.id].external_ref == f"camt:{statement['id']}:{lines[1].id}"
    assert payments[paid.id].received_on == dt.date(2026, 3, 20)
    # Beta's invoice, from the same statement, in beta's own schema.
    assert invoice(app, "beta", invoices["beta"][0]).status is PaymentStatus.PAID

    for position in (1, 2, 3, 4):
        assert (lines[position].status, lines[position].match_kind) == (LineStatus.MATCHED, MatchKind.INVOICE)
    assert (lines[4].tenant_id, lines[4].invoice_number) == (BETA.id, "GM9002-F2026-000001")
    assert (lines[5].status, lines[5].review_reason) == (LineStatus.UNMATCHED, "no_reference")
    assert (lines[6].status, lines[6].match_kind) == (LineStatus.MATCHED, MatchKind.STRIPE_PAYOUT)
    assert (lines[7].status, lines[7].review_reason) == (LineStatus.UNMATCHED, "debit")

    # The ledger: Dr 1000 / Cr 1100 per municipality (and 1750 for the excess), the Stripe payout
    # Dr 1000 / Cr 1050; the gift and the debit are not booked until someone decides.
    with reading(app) as shared:
        assert balance(shared, chart.BANK) == 56555 + 50000 + 60000 + 12100 + STRIPE_CENTS
        assert balance(shared, chart.PAYMENTS_IN_TRANSIT) == -STRIPE_CENTS
        assert balance(shared, chart.RECEIVABLES, ALPHA.id) == 6555 + 56555  # invoice 2's rest, invoice 4
        assert balance(shared, chart.RECEIVABLES, BETA.id) == 0
        assert balance(shared, chart.EMPLOYER_CREDIT, ALPHA.id) == -3445
        assert trial_balance(shared).total == 0


def test_a_persons_iban_is_stored_encrypted_and_shown_masked(app, client, login, invoices):
    token = login("backoffice@nvsi.test")
    assert upload(client, token, STATEMENT).status_code == 201
    with reading(app) as shared:
        table = "nvsi.bank_lines" if shared.get_bind().dialect.name == "postgresql" else "bank_lines"
        raw = shared.execute(sa.text(f"SELECT counterparty_iban FROM {table}")).scalars().all()
    assert raw and all(value and "NL02ABNA0123456789" not in value for value in raw)
    queue = client.get("/api/v1/bank-lines?status=unmatched").get_json()
    gift = next(item for item in queue["items"] if item["counterparty_name"] == "J. de Vries")
    assert gift["counterparty_iban"].endswith("6789") and "NL02ABNA" not in gift["counterparty_iban"]
    page = client.get(f"/admin/bank/regels/{gift['id']}").get_data(as_text=True)
    assert "NL02ABNA0123456789" not in page and "6789" in page


def test_the_same_statement_imported_twice_changes_nothing(app, client, login, invoices, tenant_session):
    token = login("backoffice@nvsi.test")
    first = upload(client, token, STATEMENT)
    assert first.status_code == 201
    before = counts(app)
    with reading(app, "alpha") as alpha:
        payments_before = alpha.scalar(sa.select(sa.func.count()).select_from(Payment))

    for again in (STATEMENT, AGAIN):  # the same file, and the same statement in another message
        response = upload(client, token, again)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["already_imported"] is True and "al ingelezen" in body["message"]
        assert [s["id"] for s in body["statements"]] == [s["id"] for s in first.get_json()["statements"]]
        assert body["matching"] == {"matched": 0, "stripe_payouts": 0, "payouts": 0, "unmatched": 0}
    assert counts(app) == before
    with reading(app, "alpha") as alpha:
        assert alpha.scalar(sa.select(sa.func.count()).select_from(Payment)) == payments_before
        assert trial_balance(alpha).total == 0


def test_a_reference_of_an_invoice_already_paid_goes_to_the_queue(app, client, login, invoices, tenant_session):
    alpha = tenant_session("alpha")
    first = alpha.get(Invoice, invoices[1][0])
    apply_payment(alpha, ALPHA, first, 56555, method=PaymentMethod.STRIPE, external_ref="stripe:pi_before",
                  received_on=dt.date(2026, 3, 18), clearing=chart.PAYMENTS_IN_TRANSIT)
    alpha.commit()
    token = login("backoffice@nvsi.test")
    assert upload(client, token, STATEMENT).get_json()["matching"]["matched"] == 3
    line = lines_of(app)[1]
    assert (line.status, line.review_reason, line.invoice_id) == (LineStatus.UNMATCHED, "invoice_settled", None)
    assert invoice(app, "alpha", invoices[1][0]).paid_cents == 56555  # not twice


# -- the review queue ----------------------------------------------------------------------------


def test_the_backoffice_matches_a_queued_line_by_hand_on_the_pages(app, client, login, invoices):
    token = login("backoffice@nvsi.test")
    page = client.get("/admin/bank")
    assert page.status_code == 200 and "Bankafschriften" in page.get_data(as_text=True)
    response = client.post("/admin/bank", data={"csrf_token": token, "file": (io.BytesIO(STATEMENT.read_bytes()), "dag.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    statement_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Afschrift ingelezen: 4 afgeletterd op facturen, 1 Stripe-uitbetalingen" in statement_page
    assert "GM9001-F2026-000001" in statement_page

    queue = client.get("/admin/bank/wachtrij").get_data(as_text=True)
    gift = lines_of(app)[5]
    assert f"/admin/bank/regels/{gift.id}" in queue and "Geen betalingskenmerk" in queue

    url = f"/admin/bank/regels/{gift.id}"
    wrong = client.post(url + "/afletteren", data={"csrf_token": token, "tenant": "alpha",
                                                    "invoice_number": "GM9001-F2026-000099"})
    assert wrong.status_code == 422
    html = wrong.get_data(as_text=True)
    assert "Gemeente Alfa heeft geen factuur GM9001-F2026-000099." in html
    assert 'value="GM9001-F2026-000099"' in html and 'href="#invoice_number"' in html  # kept, linked
    no_tenant = client.post(url + "/afletteren", data={"csrf_token": token, "tenant": "",
                                                        "invoice_number": "GM9001-F2026-000004"})
    assert no_tenant.status_code == 422 and "Kies een gemeente." in no_tenant.get_data(as_text=True)

    done = client.post(url + "/afletteren", data={"csrf_token": token, "tenant": "alpha",
                                                   "invoice_number": "gm9001-f2026-000004"})
    assert done.status_code == 302
    assert "afgeletterd op factuur GM9001-F2026-000004" in client.get(url).get_data(as_text=True)
    gift = lines_of(app)[5]
    assert (gift.status, gift.match_kind, gift.invoice_number) == (LineStatus.MATCHED, MatchKind.INVOICE,
                                                                   "GM9001-F2026-000004")
    assert gift.resolved_by_user_id is not None
    fourth = invoice(app, "alpha", invoices[4][0])
    assert (fourth.status, fourth.paid_cents) == (PaymentStatus.PARTIALLY_PAID, 2500)
    with reading(app) as shared:
        event = shared.scalars(sa.select(AuditEvent).where(AuditEvent.action == "bank.line_matched",
                                                           AuditEvent.object_id == str(gift.id))).one()
    assert event.actor_label == "backoffice@nvsi.test" and event.tenant_id == ALPHA.id
    assert event.changes["invoice"] == "GM9001-F2026-000004" and event.changes["by_hand"] is True
    # Matched once: the line is no longer in the queue, and a second match is refused.
    again = client.post(url + "/afletteren", data={"csrf_token": token, "tenant": "alpha",
                                                    "invoice_number": "GM9001-F2026-000004"})
    assert again.status_code == 422 and "al verwerkt" in again.get_data(as_text=True)
    with reading(app) as shared:
        assert trial_balance(shared).total == 0

    # The debit: not ours to match to an invoice; set aside with a note (required).
    debit = lines_of(app)[7]
    empty = client.post(f"/admin/bank/regels/{debit.id}/negeren", data={"csrf_token": token, "note": ""})
    assert empty.status_code == 422 and "minstens 3 tekens" in empty.get_data(as_text=True)
    aside = client.post(f"/admin/bank/regels/{debit.id}/negeren",
                        data={"csrf_token": token, "note": "Kantoorkosten NVSI, in de eigen boekhouding"})
    assert aside.status_code == 302
    debit = lines_of(app)[7]
    assert (debit.status, debit.note) == (LineStatus.IGNORED, "Kantoorkosten NVSI, in de eigen boekhouding")
    with reading(app) as shared:
        assert shared.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "bank.line_ignored")) == 1
        assert bank.queue_count(shared) == 0


def test_the_api_lists_the_queue_and_matches_by_hand(app, client, login, invoices, tenant_session):
    token = login("backoffice@nvsi.test")
    upload(client, token, STATEMENT)
    queue = client.get("/api/v1/bank-lines?status=unmatched").get_json()
    assert [item["review_reason"] for item in queue["items"]] == ["no_reference", "debit"]
    gift_id = queue["items"][0]["id"]
    bad = client.post(f"/api/v1/bank-lines/{gift_id}/match", json={"tenant": "nosuch", "invoice_number": "X"},
                      headers={"X-CSRFToken": token})
    assert bad.status_code == 422 and "tenant" in bad.get_json()["errors"]
    missing = client.post(f"/api/v1/bank-lines/{gift_id}/match", json={"tenant": "alpha"},
                          headers={"X-CSRFToken": token})
    assert missing.status_code == 422 and "invoice_number" in missing.get_json()["errors"]
    ok = client.post(f"/api/v1/bank-lines/{gift_id}/match",
                     json={"tenant": "alpha", "invoice_number": "GM9001-F2026-000004", "note": "Gebeld met J."},
                     headers={"X-CSRFToken": token})
    assert ok.status_code == 200, ok.get_json()
    assert (ok.get_json()["status"], ok.get_json()["invoice_number"]) == ("matched", "GM9001-F2026-000004")
    assert client.get("/api/v1/bank-lines?status=unmatched").get_json()["total"] == 1
    assert client.post("/api/v1/bank-lines/999999/match", json={"tenant": "alpha", "invoice_number": "X"},
                       headers={"X-CSRFToken": token}).status_code == 404
    statements = client.get("/api/v1/bank-statements").get_json()
    assert statements["total"] == 1
    detail = client.get(f"/api/v1/bank-statements/{statements['items'][0]['id']}").get_json()
    assert [line["status"] for line in detail["lines"]] == ["matched"] * 5 + ["matched", "unmatched"]


def test_only_nvsi_admins_and_the_backoffice_reach_the_bank(client, login):
    login("admin@alpha.test")
    assert client.get("/admin/bank").status_code == 403
    assert client.get("/api/v1/bank-lines").status_code == 403


# -- refusals -----------------------------------------------------------------------------------------


def test_a_malformed_statement_is_refused_naming_each_problem(app, client, login, monkeypatch):
    token = login("backoffice@nvsi.test")
    before = counts(app)
    response = upload(client, token, MALFORMED)
    assert response.status_code == 422
    problems = response.get_json()["errors"]["file"]
    assert "Afschrift NVSI-2026-03-23, post 2: credit of debet (CdtDbtInd) ontbreekt of is onbekend." in problems
    assert ("Afschrift NVSI-2026-03-23, post 2: het bedrag ontbreekt of is geen bedrag met hoogstens twee "
            "decimalen.") in problems
    assert "Afschrift NVSI-2026-03-23, post 3: valuta USD; alleen EUR wordt verwerkt." in problems
    assert len(problems) == 3

    broken = upload(client, token, STATEMENT.read_bytes()[:900])
    assert broken.status_code == 422
    assert broken.get_json()["errors"]["file"][0].startswith("Het bestand is geen geldige XML (regel")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>')
    refused = upload(client, token, xxe)
    assert refused.status_code == 422 and "DTD" in refused.get_json()["errors"]["file"][0]
    other = upload(client, token, b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>')
    assert other.status_code == 422 and "geen camt.053" in other.get_json()["errors"]["file"][0]
    no_file = client.post("/api/v1/bank-statements", data={}, headers={"X-CSRFToken": token},
                          content_type="multipart/form-data")
    assert no_file.status_code == 422 and "file" in no_file.get_json()["errors"]
    monkeypatch.setattr(bank, "MAX_STATEMENT_BYTES", 200 * 1024)  # small enough for the test client's memory
    too_large = upload(client, token, b"<a>" + b" " * bank.MAX_STATEMENT_BYTES + b"</a>")
    assert too_large.status_code == 413 and too_large.get_json()["code"] == "too_large"
    monkeypatch.undo()
    assert counts(app) == before  # nothing stored

    page = client.post("/admin/bank", data={"csrf_token": token, "file": (io.BytesIO(MALFORMED.read_bytes()), "fout.xml")},
                       content_type="multipart/form-data")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "valuta USD" in html and 'href="#file"' in html and 'aria-invalid="true"' in html


def test_the_command_line_import_reports_al_ingelezen_the_second_time(app, invoices):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["bank", "import", str(STATEMENT)])
    assert first.exit_code == 0, first.output
    assert "1 statements imported; 4 matched to invoices, 1 Stripe payouts, 0 premium payouts, 2 to the review " \
           "queue" in first.output
    again = runner.invoke(args=["bank", "import", str(AGAIN)])
    assert again.exit_code == 0 and "al ingelezen" in again.output and "nothing changed" in again.output
    bad = runner.invoke(args=["bank", "import", str(MALFORMED)])
    assert bad.exit_code == 1 and "valuta USD" in bad.output
    assert counts(app)["statements"] == 1


# -- premium payouts (engineer Z's confirm_from_statement) ------------------------------------------


def camt(statement_ref: str, booked_on: str, entries: str) -> bytes:
    """A camt.053.001.02 statement of the NVSI account with ``entries`` (valid against the XSD)."""
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>MSG-{statement_ref}</MsgId><CreDtTm>{booked_on}T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>{statement_ref}</Id><CreDtTm>{booked_on}T06:00:00</CreDtTm>
<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>{booked_on}</Dt></Dt></Bal>{entries}</Stmt></BkToCstmrStmt></Document>""".encode()
    schema = etree.XMLSchema(etree.parse(str(CAMT / "camt.053.001.02.xsd")))
    assert schema.validate(etree.fromstring(document)), schema.error_log
    return document


def entry(ref: str, indicator: str, amount: str, booked_on: str, details: str) -> str:
    return (f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts>BOOK</Sts>'
            f'<BookgDt><Dt>{booked_on}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>'
            f'<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{"ICDT" if indicator == "DBIT" else "RCDT"}</Cd>'
            f'<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>{details}</TxDtls></NtryDtls></Ntry>')


def test_premium_payout_debits_and_returns_go_to_the_payouts(app, client, login, tenant_session):
    from nvsi.payouts import services as payouts
    from nvsi.payouts.models import ItemStatus, PayoutItem
    from tests.test_premium_payouts import H1, JULY_1, WEEK_OF_38, accrue, worked

    alpha = tenant_session("alpha")
    worked(alpha, WEEK_OF_38)  # 38 hours × EUR 2.00 = EUR 76.00 for Anna
    accrue(alpha, dt.date(2026, 2, 28))
    with app.app_context():
        payouts.generate(db, H1, today=JULY_1)
    with reading(app) as shared:
        [item] = shared.scalars(sa.select(PayoutItem)).all()
        e2e = item.end_to_end_id

    token = login("backoffice@nvsi.test")
    paid = camt("NVSI-2026-07-02", "2026-07-02", entry(
        "20260702-0001", "DBIT", "76.00", "2026-07-02",
        f'<Refs><EndToEndId>{e2e}</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">76.00</Amt></TxAmt></AmtDtls>'))
    response = upload(client, token, paid)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["matching"] == {"matched": 0, "stripe_payouts": 0, "payouts": 1, "unmatched": 0}
    [line] = lines_of(app).values()
    assert (line.status, line.match_kind, line.end_to_end_id) == (LineStatus.MATCHED, MatchKind.PREMIUM_PAYOUT, e2e)
    with reading(app) as shared:
        assert shared.get(PayoutItem, item.id).status is ItemStatus.CONFIRMED
        assert balance(shared, chart.BANK) == -7600 and trial_balance(shared).total == 0

    # Anna's bank sends it back (account closed): a credit with the reason code and her end-to-end id.
    returned = camt("NVSI-2026-07-09", "2026-07-09", entry(
        "20260709-0001", "CRDT", "76.00", "2026-07-09",
        f'<Refs><EndToEndId>{e2e}</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">76.00</Amt></TxAmt></AmtDtls>'
        '<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>'))
    assert upload(client, token, returned).get_json()["matching"]["payouts"] == 1
    with reading(app) as shared:
        assert shared.get(PayoutItem, item.id).status is ItemStatus.RETURNED
        back = shared.scalars(sa.select(BankLine).where(BankLine.return_reason == "AC04")).one()
        assert (back.status, back.match_kind) == (LineStatus.MATCHED, MatchKind.PREMIUM_PAYOUT)
        assert balance(shared, chart.BANK) == 0 and trial_balance(shared).total == 0
    assert upload(client, token, returned).get_json()["already_imported"] is True
