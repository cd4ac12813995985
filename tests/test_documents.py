"""Documents of a placement: the beschikking and the inzetbevestiging are generated with the
placement, state what they must (masked BSN only, the premium in force, the dates), are
versioned, downloadable by the tenant only and never cached, and the inzetbevestiging's
signatures are recorded per party."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from nvsi.auth.models import User
from nvsi.rules.services import create_version
from tenants.documents import services
from tenants.documents.models import Document, DocumentKind, SigningParty
from tenants.documents.pdf import pdf_text
from tests import factories

BSN = "123456782"


def text_of(content: bytes) -> str:
    """The text of a PDF, pages joined, whitespace collapsed (lines may wrap anywhere)."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def placed(alpha):
    """A placement in alpha (committed, so requests see it) with its documents."""
    candidate = factories.candidate(alpha, bsn=BSN, first_name="Fatima", last_name="El Amrani")
    placement = factories.placement(alpha, candidate_row=candidate, start_date=dt.date(2026, 2, 2),
                                    hours_per_week=Decimal("20"))
    alpha.commit()
    return placement


def docs(session, placement) -> dict[DocumentKind, Document]:
    return services.latest_versions(services.documents_for(session, placement.id))


def user_id(shared_session, email: str) -> int:
    return shared_session.scalar(sa.select(User.id).where(User.email == email))


# -- generation and content -------------------------------------------------------------------------


def test_creating_a_placement_produces_both_documents(alpha, placed):
    found = services.documents_for(alpha, placed.id)
    assert sorted((d.kind.value, d.version) for d in found) == [("beschikking", 1), ("inzetbevestiging", 1)]
    for document in found:
        assert document.content_type == "application/pdf"
        assert document.content.startswith(b"%PDF-")
        assert document.sha256 == hashlib.sha256(document.content).hexdigest()
        assert document.size_bytes == len(document.content)
        assert str(placed.id) in document.filename and "Amrani" not in document.filename


def test_the_beschikking_states_the_decision_with_the_masked_bsn_premium_and_dates(alpha, placed):
    text = text_of(docs(alpha, placed)[DocumentKind.BESCHIKKING].content)
    assert "Beschikking re-integratie-instrument Flextensie" in text
    assert "Gemeente Alfa" in text and "Fatima El Amrani" in text
    assert "******782" in text
    assert BSN not in text
    assert "EUR 2,00 netto per gewerkt uur" in text
    assert "met ingang van 2 februari 2026" in text
    assert "tot en met 1 augustus 2026" in text  # six months at 20 hours, computed
    assert "Groenonderhoud Lindelaan" in text
    # provisions on the instrument's status and on guidance, and the notice of objection
    assert "geen dienstbetrekking" in text and "vrijwillig" in text
    assert "ten hoogste 2 keer per jaar" in text and "EUR 2.500,00 per kalenderjaar" in text
    assert "Evaluatie na 3 maanden: 4 mei 2026" in text  # the guidance moments with their dates
    assert "bezwaar" in text and "FLX-%d-B1" % placed.id in text


def test_the_inzetbevestiging_states_the_goals_and_is_not_a_decision(alpha, placed):
    text = text_of(docs(alpha, placed)[DocumentKind.INZETBEVESTIGING].content)
    assert "Inzetbevestiging Flextensie" in text
    assert "Werkritme opdoen; samenwerken in een team." in text
    assert "geen besluit" in text
    assert "******782" in text and BSN not in text
    assert "2 februari 2026" in text and "EUR 2,00" in text
    assert "Handtekening" in text and "Namens Gemeente Alfa" in text


def test_the_full_bsn_is_nowhere_in_the_stored_files(alpha, placed):
    for document in services.documents_for(alpha, placed.id):
        assert BSN.encode() not in document.content
        assert BSN not in text_of(document.content)


def test_the_premium_is_the_one_in_force_on_the_start_date(alpha, shared_session):
    create_version(shared_session, effective_from=dt.date(2026, 3, 1), title="Premie 2026",
                   values={"premium_per_hour": Decimal("2.50")})
    shared_session.commit()
    before = factories.placement(alpha, start_date=dt.date(2026, 2, 28), end_date=dt.date(2026, 3, 31))
    after = factories.placement(alpha, start_date=dt.date(2026, 3, 1))
    assert "EUR 2,00 netto per gewerkt uur" in text_of(docs(alpha, before)[DocumentKind.BESCHIKKING].content)
    assert "EUR 2,50 netto per gewerkt uur" in text_of(docs(alpha, after)[DocumentKind.BESCHIKKING].content)


def test_text_outside_latin_1_is_transliterated():
    assert pdf_text("Łukasz Nowak–Smith • “Zoë” €") == "Lukasz Nowak-Smith * \"Zoë\" EUR"


def test_a_name_outside_latin_1_still_makes_a_document(alpha):
    placement = factories.placement(alpha, candidate_row=factories.candidate(alpha, first_name="Łukasz",
                                                                             last_name="Wiśniewski"))
    text = text_of(docs(alpha, placement)[DocumentKind.BESCHIKKING].content)
    assert "Lukasz Wisniewski" in text


# -- versions -------------------------------------------------------------------------------------


def test_regenerating_makes_a_new_version_and_keeps_the_old_one(alpha, placed):
    first = docs(alpha, placed)[DocumentKind.INZETBEVESTIGING]
    first_hash = first.sha256
    placed.goals = "Nieuwe doelen: zelfstandig werken."
    second = services.generate_document(alpha, factories.ALPHA, placed, DocumentKind.INZETBEVESTIGING, None)
    assert second.version == 2 and second.id != first.id
    assert "Nieuwe doelen: zelfstandig werken." in text_of(second.content)
    alpha.expire_all()
    old = services.get_document(alpha, first.id)
    assert old.sha256 == first_hash == hashlib.sha256(old.content).hexdigest()
    assert "Werkritme opdoen" in text_of(old.content)
    assert docs(alpha, placed)[DocumentKind.INZETBEVESTIGING].id == second.id


def test_the_version_number_is_unique_per_placement_and_kind(alpha, placed):
    first = docs(alpha, placed)[DocumentKind.BESCHIKKING]
    duplicate = Document(placement_id=placed.id, kind=DocumentKind.BESCHIKKING, version=1, filename="x.pdf",
                         content_type="application/pdf", content=b"%PDF-", sha256="0" * 64, size_bytes=5)
    with pytest.raises(sa.exc.IntegrityError):
        with alpha.begin_nested():
            alpha.add(duplicate)
            alpha.flush()
    assert first.version == 1


def test_regenerate_through_the_api_and_the_page(client, login, alpha, placed):
    token = login("staff@alpha.test")
    response = client.post(f"/api/v1/g/alpha/placements/{placed.id}/documents", json={"kind": "beschikking"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["version"]) == ("beschikking", 2)
    assert response.headers["Location"] == body["download_url"]
    page = client.post(f"/g/alpha/plaatsingen/{placed.id}/documenten", data={"kind": "beschikking",
                                                                               "csrf_token": token})
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/plaatsingen/{placed.id}#documenten")
    listing = client.get(f"/api/v1/g/alpha/placements/{placed.id}/documents").get_json()
    assert [(d["kind"], d["version"]) for d in listing] == [
        ("beschikking", 3), ("beschikking", 2), ("beschikking", 1), ("inzetbevestiging", 1)]
    bad = client.post(f"/api/v1/g/alpha/placements/{placed.id}/documents", json={"kind": "brief"},
                      headers={"X-CSRFToken": token})
    assert bad.status_code == 422 and "kind" in bad.get_json()["errors"]


# -- download -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/g/alpha/documenten", "/api/v1/g/alpha/documents"])
def test_download_is_an_attachment_that_is_never_cached(client, login, alpha, placed, prefix):
    document = docs(alpha, placed)[DocumentKind.BESCHIKKING]
    login("staff@alpha.test")
    response = client.get(f"{prefix}/{document.id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{document.filename}"'
    cache = response.headers["Cache-Control"]
    assert "no-store" in cache and "private" in cache and "public" not in cache
    assert hashlib.sha256(response.data).hexdigest() == document.sha256


def test_another_tenant_cannot_download(client, login, alpha, placed):
    document = docs(alpha, placed)[DocumentKind.BESCHIKKING]
    login("staff@beta.test")
    assert client.get(f"/g/alpha/documenten/{document.id}").status_code == 404
    assert client.get(f"/api/v1/g/alpha/documents/{document.id}").status_code == 404
    assert client.get(f"/api/v1/g/beta/documents/{document.id}").status_code == 404  # not beta's


def test_anonymous_visitors_cannot_download(client, alpha, placed):
    document = docs(alpha, placed)[DocumentKind.BESCHIKKING]
    assert client.get(f"/api/v1/g/alpha/documents/{document.id}").status_code == 401
    assert client.get(f"/g/alpha/documenten/{document.id}").status_code == 302


def test_the_backoffice_downloads_but_does_not_act_for_the_municipality(client, login, alpha, placed):
    document = docs(alpha, placed)[DocumentKind.INZETBEVESTIGING]
    token = login("backoffice@nvsi.test")
    assert client.get(f"/api/v1/g/alpha/documents/{document.id}").status_code == 200
    refused = client.post(f"/api/v1/g/alpha/documents/{document.id}/sign", json={"party": "municipality"},
                          headers={"X-CSRFToken": token})
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"


# -- signing --------------------------------------------------------------------------------------


def test_signatures_are_recorded_per_party(client, login, alpha, shared_session, placed):
    document = docs(alpha, placed)[DocumentKind.INZETBEVESTIGING]
    token = login("staff@alpha.test")
    url = f"/api/v1/g/alpha/documents/{document.id}/sign"
    first = client.post(url, json={"party": "municipality"}, headers={"X-CSRFToken": token}).get_json()
    assert first["signed_by_municipality_at"] and first["signed_by_municipality_by"] == user_id(
        shared_session, "staff@alpha.test")
    assert first["signed_by_candidate_at"] is None and first["signed"] is False
    second = client.post(url, json={"party": "candidate"}, headers={"X-CSRFToken": token}).get_json()
    assert second["signed_by_candidate_at"] and second["signed"] is True
    assert second["signed_by_municipality_at"] == first["signed_by_municipality_at"]  # never moved
    again = client.post(url, json={"party": "municipality"}, headers={"X-CSRFToken": token}).get_json()
    assert again["signed_by_municipality_at"] == first["signed_by_municipality_at"]


def test_a_beschikking_is_not_signed(alpha, placed):
    with pytest.raises(services.DocumentError) as caught:
        services.mark_signed(alpha, docs(alpha, placed)[DocumentKind.BESCHIKKING], SigningParty.MUNICIPALITY, None)
    assert caught.value.violations[0].code == "not_signable"


def test_only_the_newest_inzetbevestiging_is_signed(client, login, alpha, placed):
    old = docs(alpha, placed)[DocumentKind.INZETBEVESTIGING]
    services.generate_document(alpha, factories.ALPHA, placed, DocumentKind.INZETBEVESTIGING, None)
    alpha.commit()
    token = login("staff@alpha.test")
    response = client.post(f"/api/v1/g/alpha/documents/{old.id}/sign", json={"party": "candidate"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 422
    assert response.get_json()["violations"][0]["code"] == "not_latest"
    invalid = client.post(f"/api/v1/g/alpha/documents/{old.id}/sign", json={"party": "employer"},
                          headers={"X-CSRFToken": token})
    assert invalid.status_code == 422 and "party" in invalid.get_json()["errors"]


def test_the_placement_page_lists_the_documents_and_marks_them_signed(client, login, alpha, placed):
    inzet = docs(alpha, placed)[DocumentKind.INZETBEVESTIGING]
    token = login("staff@alpha.test")
    page = client.get(f"/g/alpha/plaatsingen/{placed.id}").get_data(as_text=True)
    assert f"/g/alpha/documenten/{inzet.id}" in page
    assert "Beschikking" in page and "nog niet ondertekend" in page
    response = client.post(f"/g/alpha/documenten/{inzet.id}/ondertekend",
                           data={"party": "municipality", "csrf_token": token})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "De ondertekening is vastgelegd." in page
    assert "ondertekend op" in page and "door staff" in page
    alpha.expire_all()
    assert services.get_document(alpha, inzet.id).signed_by_municipality_at is not None
