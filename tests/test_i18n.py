"""Translations: every Dutch source string has an English translation, the committed .mo matches
the .po, and the pages follow the chosen language (cookie, then browser). No database needed."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from nvsi import create_app

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "platform" / "nvsi" / "translations"
POT = TRANSLATIONS / "messages.pot"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
#: The keywords of docs/i18n.md: pybabel's defaults (N_ included), the lazy variant imported as
#: ``_l``, and the message (5th argument) of nvsi.rules.violations.violation.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "violation": (5,)}
FIX = "see docs/i18n.md: extract, update, translate, compile"


def _key(message, context=None):
    """A catalog key: the msgid (the singular for plurals) and its context."""
    msgid = message[0] if isinstance(message, (list, tuple)) else message
    return msgid, context


def _source_messages() -> dict[tuple, str]:
    """Every message in the code and templates, found with babel.cfg: key -> first location."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(_key(message, context), f"{filename}:{lineno}")
    return found


def _read_po(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def _messages(catalog) -> dict[tuple, object]:
    """key -> translation, without the header entry."""
    return {(m.id if isinstance(m.id, str) else m.id[0], m.context): m.string
            for m in catalog if m.id}


@pytest.fixture(scope="module")
def source():
    found = _source_messages()
    assert len(found) > 50, "extraction found almost nothing: is babel.cfg right?"
    return found


def test_every_source_string_is_translated_to_english(source):
    catalog = _read_po(EN_PO)
    entries = {(m.id if isinstance(m.id, str) else m.id[0], m.context): m for m in catalog if m.id}
    missing = [f"{key[0]!r} ({where})" for key, where in sorted(source.items(), key=str)
               if key not in entries]
    assert not missing, f"not in the English catalog ({FIX}):\n" + "\n".join(missing)
    untranslated = [
        repr(key[0]) for key, m in entries.items()
        if key in source and (m.fuzzy or not all(m.string if isinstance(m.string, tuple)
                                                 else [m.string]))
    ]
    assert not untranslated, "empty or fuzzy English translations:\n" + "\n".join(untranslated)
    stale = [repr(key[0]) for key in entries if key not in source]
    assert not stale, f"English entries no longer in the source ({FIX}):\n" + "\n".join(stale)


def test_english_placeholders_match():
    """%(name)s-style placeholders in a translation are the ones of the source string."""
    problems = [f"{m.id!r}: {'; '.join(map(str, errors))}"
                for m, errors in _read_po(EN_PO).check()]
    assert not problems, "\n".join(problems)


def test_template_matches_the_source(source):
    with POT.open("rb") as fh:
        template = _messages(read_po(fh))
    assert set(template) == set(source), (
        f"messages.pot is out of date ({FIX}); "
        f"missing: {sorted(set(source) - set(template), key=str)}, "
        f"extra: {sorted(set(template) - set(source), key=str)}"
    )


def test_committed_mo_is_compiled_from_the_po():
    buffer = io.BytesIO()
    write_mo(buffer, _read_po(EN_PO))  # what `pybabel compile` writes (fuzzy entries left out)
    buffer.seek(0)
    expected = _messages(read_mo(buffer))
    with EN_MO.open("rb") as fh:
        committed = _messages(read_mo(fh))
    assert committed == expected, (
        "messages.mo is not compiled from messages.po: "
        "run `.venv/bin/pybabel compile -d platform/nvsi/translations`"
    )


# -- the app -------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True,
                      "SESSION_COOKIE_SECURE": False})
    return app.test_client()


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta tag on the page"
    return match.group(1)


def _assert_english(html: str) -> None:
    assert '<html lang="en"' in html
    assert "<h1>Log in</h1>" in html
    assert "Email address" in html and "Password" in html
    assert "Inloggen" not in html and "Wachtwoord" not in html


def test_login_page_is_dutch_by_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="nl"' in html
    assert "<h1>Inloggen</h1>" in html
    assert "E-mailadres" in html and "Wachtwoord" in html
    assert ">English</button>" in html  # the switch offers the other language


def test_cookie_chooses_english(client):
    client.set_cookie("lang", "en")
    html = client.get("/login").get_data(as_text=True)
    _assert_english(html)
    assert ">Nederlands</button>" in html


def test_cookie_beats_the_browser(client):
    client.set_cookie("lang", "nl")
    html = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="nl"' in html and "<h1>Inloggen</h1>" in html


@pytest.mark.parametrize("header", ["en", "en-GB,en;q=0.9", "fr, en;q=0.5"])
def test_browser_language_english(client, header):
    _assert_english(client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True))


def test_unknown_browser_language_falls_back_to_dutch(client):
    html = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="nl"' in html and "<h1>Inloggen</h1>" in html


def test_switching_language_sets_the_cookie_and_goes_back(client):
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/taal", data={"lang": "en", "next": "/login", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    _assert_english(client.get("/login").get_data(as_text=True))

    token = _csrf(client.get("/login").get_data(as_text=True))
    client.post("/taal", data={"lang": "nl", "csrf_token": token})
    assert "<h1>Inloggen</h1>" in client.get("/login").get_data(as_text=True)


def test_switching_refuses_unknown_languages_and_foreign_targets(client):
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/taal", data={"lang": "xx", "next": "//evil.example/",
                                          "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Set-Cookie" not in response.headers or "lang=" not in response.headers["Set-Cookie"]


def test_switching_needs_the_csrf_token(client):
    client.get("/login")
    response = client.post("/taal", data={"lang": "en"})
    assert response.status_code == 400
    assert "lang=" not in response.headers.get("Set-Cookie", "")


def test_error_page_is_translated(client):
    client.set_cookie("lang", "en")
    response = client.get("/bestaat-niet")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in html and "Go to the home page" in html


def test_form_macro_is_translated(client):
    """The field macro assigns to ``_`` internally; its own messages must still translate."""
    from flask import render_template_string

    source = ('{% from "macros.html" import field %}'
              '{{ field("vat_id", "VAT", {}, {"vat_id": ["wrong"]}, required=false, hint="h") }}')
    with client.application.test_request_context("/", headers={"Cookie": "lang=en"}):
        html = render_template_string(source)
    assert "(optional)" in html and "Error:" in html
