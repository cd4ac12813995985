"""The configuration reference, docs/configuration.md, generated so it cannot drift from the code.

    python -m nvsi.configdoc            write docs/configuration.md
    python -m nvsi.configdoc --check    exit 1 if it is out of date (tests/test_configdoc.py does this)

Sources:

* ``config/defaults.toml`` — every key with the comment above it. A comment block describes the
  key below it and the keys that follow without a blank line or a comment of their own; an
  inline comment after a value adds to that key's description.
* :data:`ENVIRONMENT_ONLY` — the settings read from the environment only (secrets, paths).
* ``config/gunicorn.conf.py`` — every ``env("NAME", default, "meaning")`` call (``GUNICORN_<NAME>``).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nvsi.config import DEFAULTS_FILE, ENV_PREFIX, PROJECT_ROOT

DOC_FILE = PROJECT_ROOT / "docs" / "configuration.md"
GUNICORN_CONF = PROJECT_ROOT / "config" / "gunicorn.conf.py"
_KEY_RE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.*)$")

#: Settings that never appear in the defaults file: (variable, default, meaning).
ENVIRONMENT_ONLY = [
    ("NVSI_SECRET_KEY", "—", "Signs sessions and CSRF tokens. Required with PostgreSQL; give every "
     "deployment its own long random value (from a Kubernetes Secret). The embedded SQLite default "
     "generates one in `instance/secret_key` (mode 0600)."),
    ("NVSI_DATA_KEY", "—", "The key that encrypts personal data at rest (BSN, IBAN): 32 random bytes "
     "in url-safe base64. Required with PostgreSQL; from a Kubernetes Secret, backed up apart from "
     "the database (without it the encrypted columns cannot be read). The embedded SQLite default "
     "generates one in `instance/data_key`."),
    ("NVSI_MAIL_PASSWORD", "—", "The SMTP password of `MAIL_USERNAME` (with `MAIL_BACKEND = \"smtp\"`), "
     "from a Kubernetes Secret."),
    ("NVSI_STRIPE_SECRET_KEY", "—", "The Stripe secret API key (`sk_live_…`; a restricted key with write "
     "access to Checkout Sessions and read access to PaymentIntents and Refunds is enough), from a Kubernetes "
     "Secret. Empty: no online payment; the pay page shows the bank-transfer instructions (docs/payments.md)."),
    ("NVSI_STRIPE_WEBHOOK_SECRET", "—", "The signing secret (`whsec_…`) of the webhook endpoint "
     "`/webhooks/stripe` registered in the Stripe dashboard, from a Kubernetes Secret. Without it every "
     "webhook is refused (400) and no online payment is booked."),
    ("NVSI_INSTANCE_PATH", "`<project>/instance`", "The instance folder: the SQLite files and the "
     "generated secret of the embedded default. Must be writable (an emptyDir in the chart)."),
    ("NVSI_TENANT_DIR", "`<instance>/tenants`", "SQLite only: the folder with one file per tenant."),
    ("PROMETHEUS_MULTIPROC_DIR", "a new temporary folder", "Where gunicorn's workers write their "
     "metrics, summed by the master. Set by config/gunicorn.conf.py when metrics are on (a new "
     "folder under /tmp unless given); emptied when gunicorn starts. Leave it unset for other "
     "processes: a command's metrics then stay in that process."),
]


@dataclass
class Setting:
    """One documented setting."""

    key: str
    default: str
    meaning: str


def _split_inline_comment(text: str) -> tuple[str, str]:
    """Split a TOML value from a comment after it (a ``#`` outside a string)."""
    quote, escaped = None, False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            return text[:i].rstrip(), text[i + 1:].strip()
    return text.rstrip(), ""


def parse_defaults(path: Path = DEFAULTS_FILE) -> list[Setting]:
    """Every key of the defaults file, in order, with its default and the comments about it."""
    settings: list[Setting] = []
    block: list[str] = []  # the comment block being read
    group: list[str] = []  # the comment block that describes the current run of keys
    previous = "blank"
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            block, group, previous = [], [], "blank"
        elif line.startswith("#"):
            if previous != "comment":
                block = []
            block.append(line.lstrip("#").strip())
            previous = "comment"
        else:
            match = _KEY_RE.match(line)
            if match is None:
                raise ValueError(f"{path.name}: cannot document the line {raw!r} (one key per line)")
            if previous == "comment":
                group = block
            value, inline = _split_inline_comment(match.group(2))
            own = [inline[:1].upper() + inline[1:].rstrip(".") + "."] if inline else []
            meaning = " ".join(own + group)  # the key's own words first, then its group's
            settings.append(Setting(match.group(1), value, meaning))
            previous = "key"
    with path.open("rb") as fh:
        parsed = tomllib.load(fh)
    if [s.key for s in settings] != list(parsed):
        raise ValueError(f"{path.name}: keys found line by line differ from the TOML keys")
    return settings


def parse_gunicorn(path: Path = GUNICORN_CONF) -> list[Setting]:
    """Every ``env("NAME", default, "meaning")`` call in the gunicorn config, in order."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "env":
            name, default, doc = node.args
            value = (f"`{default.value}`" if default.value else "empty") if isinstance(default, ast.Constant) \
                else "computed"
            found.append((node.lineno, Setting("GUNICORN_" + name.value, value, doc.value)))
    return [setting for _, setting in sorted(found, key=lambda item: item[0])]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The Markdown text of docs/configuration.md."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m nvsi.configdoc` from config/defaults.toml and",
        "     config/gunicorn.conf.py: do not edit by hand. tests/test_configdoc.py fails when",
        "     this file and those sources drift apart. -->",
        "",
        "The platform reads its settings in this order, the last one winning:",
        "",
        "1. `config/defaults.toml` (data, not code; the comments there are the meanings below);",
        f"2. environment variables `{ENV_PREFIX}_<KEY>`, parsed as JSON where possible (`true`, `30`,",
        '   `["nl", "en"]`), otherwise taken as text;',
        "3. the settings passed to `create_app()` (the tests).",
        "",
        "Secrets (`NVSI_SECRET_KEY`, passwords inside `NVSI_DATABASE_URL`, Stripe keys, SMTP credentials)",
        "come only from the environment; the Helm chart takes them from existing Kubernetes Secrets.",
        "",
        "## Platform settings (`config/defaults.toml`)",
        "",
        "| Setting | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for s in parse_defaults():
        lines.append(f"| `{s.key}` | `{ENV_PREFIX}_{s.key}` | `{_cell(s.default)}` | {_cell(s.meaning)} |")
    lines += [
        "",
        "## Set only in the environment",
        "",
        "| Environment variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for name, default, meaning in ENVIRONMENT_ONLY:
        lines.append(f"| `{name}` | {default} | {_cell(meaning)} |")
    lines += [
        "",
        "## gunicorn (`config/gunicorn.conf.py`)",
        "",
        "`gunicorn -c config/gunicorn.conf.py wsgi:app` reads these; the container image sets",
        "`GUNICORN_BIND=0.0.0.0:8000` and `GUNICORN_METRICS_BIND=0.0.0.0:9100`, the Helm chart the rest",
        "(`gunicorn.*` in helm/values.yaml).",
        "",
        "| Environment variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for s in parse_gunicorn():
        lines.append(f"| `{s.key}` | {s.default} | {_cell(s.meaning)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = DOC_FILE.read_text(encoding="utf-8") if DOC_FILE.exists() else ""
        if current != text:
            print(f"{DOC_FILE.relative_to(PROJECT_ROOT)} is out of date: run `python -m nvsi.configdoc`")
            return 1
        return 0
    DOC_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_FILE.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
