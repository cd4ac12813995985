"""The Containerfile builds the image the chart runs (no container engine here: its shape is checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    text = re.sub(r"^\s*#.*\n", "", text, flags=re.M).replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip()]


def test_multi_stage_build_on_python_311_slim():
    froms = [args for op, args in instructions() if op == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = instructions()[[i for i, (op, _) in enumerate(instructions()) if op == "FROM"][-1]:]
    copies = [args for op, args in final if op == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies and "--from=build /app /app" in copies


def test_runs_gunicorn_as_the_charts_non_root_user():
    ops = instructions()
    [user] = [args for op, args in ops if op == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: Kubernetes can verify runAsNonRoot
    values = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text(encoding="utf-8"))
    assert int(uid) == values["podSecurityContext"]["runAsUser"]
    [cmd] = [args for op, args in ops if op == "CMD"]
    assert json.loads(cmd) == ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
    assert "8000" in dict(ops)["EXPOSE"].split()
    env = " ".join(args for op, args in ops if op == "ENV")
    assert "NVSI_INSTANCE_PATH=/var/lib/nvsi/instance" in env and "GUNICORN_BIND=0.0.0.0:8000" in env
    assert not re.search(r"SECRET|PASSWORD|DATA_KEY|DATABASE_URL", env), "no secrets in the image"
    assert "postgresql-client" in " ".join(args for op, args in ops if op == "RUN")  # nvsi backup


def test_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for pattern in (".git", ".venv", "instance", "**/__pycache__", "*.sqlite", "*.dump"):
        assert pattern in ignored
    for needed in ("pyproject.toml", "README.md", "platform", "tenants", "migrations", "config", "wsgi.py"):
        assert needed not in ignored
