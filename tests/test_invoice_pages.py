"""The invoice pages and API, on both backends: the list with its filters and totals, one document
with lines, VAT, payment state and credit notes, and the PDF and SI-UBL downloads; who may look.
Tenant isolation of every route is in tests/test_cross_tenant.py."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from tests import factories
from tests import invoice_helpers as make
from tests.test_browser import browser, new_page  # noqa: F401  (fixtures)
from tests.test_invoice_documents import assert_valid_ubl


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def issued(alpha):
    """Two employers; an invoice of 38 h × 12.30 (week 10) with a credit note of 4 h, and an
    invoice of 20 h × 15.00 (week 11) to the other employer; committed, so requests see them."""
    groen = factories.employer(alpha, name="Groen B.V.", vat_id="NL012345672B01")
    bouw = factories.employer(alpha, name="Bouw & Co B.V.")
    first = make.invoice(alpha, employer=groen, lines=((Decimal("38"), 1230, "Groenonderhoud - A. Jansen"),))
    note = make.credit_note(alpha, first, lines=((Decimal("4"), 1230, "Groenonderhoud - A. Jansen"),))
    second = make.invoice(alpha, employer=bouw, lines=((Decimal("20"), 1500, "Bouwhulp - B. de Vries"),),
                          period=(dt.date(2026, 3, 9), dt.date(2026, 3, 15)), issue_date=dt.date(2026, 3, 16))
    alpha.commit()
    return {"first": first, "note": note, "second": second, "groen": groen, "bouw": bouw}


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return " ".join(response.get_data(as_text=True).split())


def totals(html: str) -> dict[str, str]:
    block = re.search(r'<dl class="facts totals">(.*?)</dl>', html).group(1)
    return {dt_.strip(): dd.replace("\xa0", " ").strip()
            for dt_, dd in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block)}


# -- the list ---------------------------------------------------------------------------------------


def test_the_list_shows_every_document_with_totals(client, login, issued):
    login("staff@alpha.test")
    html = page(client, "/g/alpha/facturen")
    for number in ("F2026-000001", "F2026-000002", "C2026-000001"):
        assert number in html
    # 467.40 - 49.20 + 300.00 net; 565.55 - 59.53 + 363.00 = 869.02 including VAT; still to receive on
    # the two invoices 565.55 + 363.00 (the helper's credit note books nothing on the invoice).
    assert totals(html) == {"Documenten": "3", "Totaal exclusief btw": "€ 718,20", "Btw": "€ 150,82",
                            "Totaal inclusief btw": "€ 869,02", "Nog te ontvangen": "€ 928,55"}


def test_the_list_filters_by_employer_status_kind_and_period(client, login, issued):
    login("admin@alpha.test")
    by_employer = page(client, f"/g/alpha/facturen?employer_id={issued['bouw'].id}")
    assert "F2026-000002" in by_employer and "F2026-000001" not in by_employer
    assert f'<option value="{issued["bouw"].id}" selected>' in by_employer
    credit_only = page(client, "/g/alpha/facturen?doc_type=credit_note")
    assert "C2026-000001" in credit_only and "F2026-000002" not in credit_only
    week_11 = page(client, "/g/alpha/facturen?period_from=2026-03-09&period_to=2026-03-15")
    assert "F2026-000002" in week_11 and "F2026-000001" not in week_11
    paid = page(client, "/g/alpha/facturen?status=paid")
    assert "Geen facturen gevonden." in paid and totals(paid)["Documenten"] == "0"
    assert totals(week_11)["Totaal inclusief btw"] == "€ 363,00"


def test_a_wrong_filter_is_named_and_keeps_what_was_typed(client, login, issued):
    login("staff@alpha.test")
    html = page(client, "/g/alpha/facturen?period_from=2026-03-20&period_to=2026-03-01", status=422)
    assert "De einddatum ligt voor de begindatum." in html
    assert 'href="#period_to"' in html and 'value="2026-03-20"' in html and 'value="2026-03-01"' in html
    html = page(client, "/g/alpha/facturen?period_from=gisteren", status=422)
    assert "Geen geldige datum" in html and 'value="gisteren"' in html


def test_the_api_lists_with_totals_and_filters(client, login, issued):
    login("backoffice@nvsi.test")
    body = client.get("/api/v1/g/alpha/invoices").get_json()
    assert body["total"] == 3
    assert (body["net_amount"], body["vat_amount"], body["gross_amount"]) == ("718.20", "150.82", "869.02")
    assert body["outstanding_amount"] == "928.55"
    assert [i["number"] for i in body["items"]][0] == "F2026-000002"
    filtered = client.get(f"/api/v1/g/alpha/invoices?employer_id={issued['groen'].id}&doc_type=invoice").get_json()
    assert [i["number"] for i in filtered["items"]] == ["F2026-000001"]
    assert filtered["items"][0]["gross_amount"] == "565.55"


@pytest.mark.parametrize("query, field", [("status=betaald", "status"), ("doc_type=bon", "doc_type"),
                                          ("period_from=2026-13-01", "period_from"),
                                          ("period_from=2026-03-10&period_to=2026-03-01", "period_to"),
                                          ("employer_id=x", "employer_id"), ("colour=red", "colour")])
def test_the_api_names_a_bad_filter(client, login, issued, query, field):
    login("staff@alpha.test")
    response = client.get(f"/api/v1/g/alpha/invoices?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


# -- one document -----------------------------------------------------------------------------------


def test_the_api_shows_one_invoice_in_full(client, login, issued):
    login("staff@alpha.test")
    body = client.get(f"/api/v1/g/alpha/invoices/{issued['first'].id}").get_json()
    assert (body["number"], body["doc_type"], body["status"]) == ("F2026-000001", "invoice", "open")
    assert (body["net_amount"], body["vat_amount"], body["gross_amount"]) == ("467.40", "98.15", "565.55")
    [line] = body["lines"]
    assert (line["hours"], line["rate"], line["amount"], line["vat_rate"]) == ("38.00", "12.30", "467.40", "21.00")
    assert body["vat"] == [{"category": "S", "rate": "21.00", "taxable_amount": "467.40", "vat_amount": "98.15"}]
    assert [n["number"] for n in body["credit_notes"]] == ["C2026-000001"]
    assert body["seller"]["vat_id"] == "NL812345678B01" and body["buyer"]["name"] == "Groen B.V."
    assert body["due_date"] == "2026-03-23" and body["mailed_at"] is None


def test_the_detail_page_shows_lines_vat_payment_and_credit_notes(client, login, issued):
    login("admin@alpha.test")
    html = page(client, f"/g/alpha/facturen/{issued['first'].id}").replace("\xa0", " ")
    for text in ("Factuur F2026-000001", "Groenonderhoud - A. Jansen", "Btw 21% over € 467,40", "€ 98,15",
                 "€ 565,55", "Openstaand", "C2026-000001", "NL812345678B01", "NL91 ABNA 0417 1643 00"):
        assert text in html, text
    note = page(client, f"/g/alpha/facturen/{issued['note'].id}")
    assert "Creditnota C2026-000001" in note and "Correctie op factuur" in note
    assert f'/g/alpha/facturen/{issued["first"].id}"' in note


def test_an_unknown_invoice_is_404(client, login, issued):
    login("staff@alpha.test")
    assert client.get("/g/alpha/facturen/999999").status_code == 404
    assert client.get("/api/v1/g/alpha/invoices/999999").status_code == 404
    assert client.get("/api/v1/g/alpha/invoices/999999/pdf").status_code == 404


# -- downloads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/g/alpha/facturen/{id}/pdf", "/api/v1/g/alpha/invoices/{id}/pdf"])
def test_the_pdf_download(client, login, issued, url):
    login("staff@alpha.test")
    response = client.get(url.format(id=issued["first"].id))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="factuur-F2026-000001.pdf"'
    assert "no-store" in response.headers["Cache-Control"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "Factuurnummer F2026-000001" in text and "Namens Gemeente Alfa" in text


@pytest.mark.parametrize("url", ["/g/alpha/facturen/{id}/xml", "/api/v1/g/alpha/invoices/{id}/ubl"])
def test_the_ubl_download_of_a_credit_note(client, login, issued, url):
    login("backoffice@nvsi.test")
    response = client.get(url.format(id=issued["note"].id))
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.headers["Content-Disposition"] == 'attachment; filename="creditnota-C2026-000001.xml"'
    root = assert_valid_ubl(response.data)
    assert etree.QName(root).localname == "CreditNote"


# -- who ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email, status", [("staff@alpha.test", 200), ("admin@alpha.test", 200),
                                           ("backoffice@nvsi.test", 200), ("admin@nvsi.test", 404),
                                           ("staff@beta.test", 404)])
def test_who_sees_the_invoices(client, login, issued, email, status):
    login(email)
    assert client.get("/g/alpha/facturen").status_code == status
    assert client.get("/api/v1/g/alpha/invoices").status_code == status
    assert client.get(f"/api/v1/g/alpha/invoices/{issued['first'].id}/ubl").status_code == status


def test_anonymous_visitors_are_sent_to_login(client, issued):
    assert client.get("/api/v1/g/alpha/invoices").status_code == 401
    assert "/login" in client.get("/g/alpha/facturen").headers["Location"]


def test_the_navigation_links_to_the_invoices(client, login):
    login("staff@alpha.test")
    html = page(client, "/g/alpha/opdrachtgevers")
    assert 'href="/g/alpha/facturen"' in html and ">Facturen<" in html


# -- in a browser, with axe -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """A fresh instance (SQLite: the pages are the same templates on either backend) with the
    municipality Utrecht, its staff member, and an invoice and a credit note, served on a free
    loopback port."""
    from nvsi import create_app, migrate
    from nvsi.auth.models import Role
    from nvsi.auth.services import create_user
    from nvsi.demo import DEMO_PASSWORD
    from nvsi.extensions import db
    from nvsi.tenancy import services as tenancy
    from nvsi.tenancy.routing import RoutingSession, bind_tenant, current_router
    from tests import support
    from tests.test_browser import UTRECHT_STAFF, LiveServer

    app = create_app({"INSTANCE_PATH": str(tmp_path_factory.mktemp("invoice-pages")), "DATABASE_URL": "",
                      "SECRET_KEY": "browser-test-secret-key-not-for-production", "DATA_KEY": support.DATA_KEY,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False})
    with app.app_context():
        router = current_router()
        migrate.upgrade_shared(router)
        tenancy.register_tenant(db.session, "utrecht", "Gemeente Utrecht", "GM0344")
        db.session.commit()
        tenancy.provision_tenant(db.session, router, "utrecht")
        tenant = tenancy.get_tenant(db.session, "utrecht")
        create_user(db.session, UTRECHT_STAFF, "Intercedent Utrecht", DEMO_PASSWORD, Role.MUNICIPALITY_STAFF, [tenant])
        db.session.commit()
        session = RoutingSession(db)
        bind_tenant(session, tenant.schema)
        invoice = make.invoice(session, lines=((Decimal("38"), 1230, "Groenonderhoud - A. Jansen"),
                                               (Decimal("7.5"), 1471, "Ondersteuning - B. de Vries")))
        make.credit_note(session, invoice)
        ids = {"invoice": invoice.id, "number": invoice.number}
        session.commit()
        session.close()
        db.session.remove()
    server = LiveServer(app)
    server.ids = ids
    server.start()
    try:
        yield server
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.mark.browser
def test_the_invoice_pages_in_a_browser_pass_axe(new_page, live_server):
    from playwright.sync_api import expect

    from tests.test_browser import UTRECHT_STAFF, check_accessibility, log_in

    page = new_page()
    log_in(page, UTRECHT_STAFF)
    page.get_by_role("link", name="Facturen", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Facturen")
    check_accessibility(page, "invoice list")

    page.get_by_label("Periode vanaf").fill("2026-03-20")
    page.get_by_label("Periode tot en met").fill("2026-03-01")
    page.get_by_role("button", name="Filteren").click()
    expect(page.locator("#foutmeldingen")).to_contain_text("De einddatum ligt voor de begindatum.")
    check_accessibility(page, "invoice list with a wrong filter")

    page.goto("/g/utrecht/facturen")
    page.get_by_role("link", name=live_server.ids["number"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Factuur {live_server.ids['number']}")
    check_accessibility(page, "invoice detail")
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download PDF {live_server.ids['number']}").click()
    assert download.value.suggested_filename == f"factuur-{live_server.ids['number']}.pdf"
