"""docs/configuration.md is generated from config/defaults.toml and config/gunicorn.conf.py and
must not drift from them (regenerate with `python -m nvsi.configdoc`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from nvsi import configdoc

ROOT = Path(__file__).resolve().parents[1]
FIX = "regenerate it: .venv/bin/python -m nvsi.configdoc (the meanings come from the comments in the sources)"


def test_configuration_reference_is_up_to_date():
    assert configdoc.DOC_FILE.read_text(encoding="utf-8") == configdoc.render(), \
        f"docs/configuration.md is out of date; {FIX}"
    assert configdoc.main(["--check"]) == 0


def test_every_default_has_a_meaning_and_its_environment_variable():
    with configdoc.DEFAULTS_FILE.open("rb") as fh:
        keys = list(tomllib.load(fh))
    settings = configdoc.parse_defaults()
    assert [s.key for s in settings] == keys
    doc = configdoc.DOC_FILE.read_text(encoding="utf-8")
    for s in settings:
        assert len(s.meaning) > 10, f"{s.key} has no comment in config/defaults.toml"
        assert f"| `{s.key}` | `NVSI_{s.key}` |" in doc


def test_every_environment_variable_the_code_reads_is_documented():
    doc = configdoc.DOC_FILE.read_text(encoding="utf-8")
    sources = [*ROOT.glob("platform/**/*.py"), *ROOT.glob("tenants/**/*.py"), ROOT / "wsgi.py",
               ROOT / "config" / "gunicorn.conf.py"]
    names = set()
    for path in sources:
        # Names in a string or a docstring (quoted or in backticks), not identifiers like Role.NVSI_ADMIN.
        names |= set(re.findall(r"[\"'`]((?:NVSI|GUNICORN)_[A-Z][A-Z0-9_]*)\b", path.read_text(encoding="utf-8")))
    missing = sorted(name for name in names if f"`{name}`" not in doc)
    assert not missing, (f"read by the code but not in docs/configuration.md: {missing} — add the key to "
                         f"config/defaults.toml or to ENVIRONMENT_ONLY in nvsi/configdoc.py, then {FIX}")


def test_gunicorn_settings_are_listed():
    names = [s.key for s in configdoc.parse_gunicorn()]
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
                 "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_FORWARDED_ALLOW_IPS", "GUNICORN_METRICS_BIND"):
        assert name in names


def test_parser_reads_groups_and_inline_comments(tmp_path):
    path = tmp_path / "defaults.toml"
    path.write_text(
        "# header, not about a key\n\n"
        "# Pool.\nA = 1\nB = \"x # not a comment\"  # own words\n\n"
        "C = [1, 2]\n"
    )
    settings = {s.key: s for s in configdoc.parse_defaults(path)}
    assert settings["A"].meaning == "Pool."
    assert settings["B"].default == '"x # not a comment"' and settings["B"].meaning == "Own words. Pool."
    assert settings["C"].meaning == ""
