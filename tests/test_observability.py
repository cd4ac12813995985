"""Structured logs (request id, tenant, user id; no personal data) and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from stdnum.nl import bsn
from werkzeug.test import Client, EnvironBuilder

from nvsi import observability
from nvsi.auth.models import User
from nvsi.observability import record_ledger_postings, track_job

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def json_lines(text: str) -> list[dict]:
    """Every non-empty line of ``text`` parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- logs ---------------------------------------------------------------------------------------


def test_log_lines_are_json_with_request_id_tenant_and_user_id(app, client, login, shared_session,
                                                               capsys, monkeypatch):
    monkeypatch.setitem(app.config, "LOG_REQUESTS", True)
    login("staff@alpha.test")
    response = client.get("/api/v1/g/alpha/employers", headers={"X-Request-ID": "trace-0001-abc"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-0001-abc"

    err = capsys.readouterr().err
    lines = json_lines(err)
    assert not EMAIL_RE.search(err), "an e-mail address reached the log"
    [line] = [line for line in lines if line.get("request_id") == "trace-0001-abc"]
    user_id = shared_session.scalar(sa.select(User.id).where(User.email == "staff@alpha.test"))
    assert line["tenant"] == "alpha" and line["user_id"] == user_id
    assert line["endpoint"] == "tenant_api.api_list_employers"
    assert line["route"] == "/api/v1/g/<tenant_slug>/employers"  # the pattern, not the raw path
    assert line["status"] == 200 and line["level"] == "INFO" and "ts" in line
    # The login request before it: its own request id, the user id once logged in, no e-mail.
    login_lines = [line for line in lines if line.get("route") == "/login"]
    assert login_lines and all(line["request_id"] != "trace-0001-abc" for line in login_lines)


def test_request_id_is_generated_when_missing_or_unsafe(client):
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["X-Request-ID"])
    unsafe = client.get("/healthz", headers={"X-Request-ID": 'x" injected=1 {}'}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe)


def test_lines_outside_requests_carry_the_job(capsys):
    logger = logging.getLogger("nvsi.test")
    with track_job("test_job"):
        logger.info("working on tenant %s", "alpha")
    lines = json_lines(capsys.readouterr().err)
    assert {"job": "test_job", "message": "working on tenant alpha"}.items() <= lines[0].items()
    assert lines[1]["message"] == "job finished" and lines[1]["outcome"] == "success"
    assert "request_id" not in lines[0]


def test_personal_data_is_masked_in_log_lines(capsys):
    number = "111222333"
    assert bsn.is_valid(number)
    logging.getLogger("nvsi.test").warning(
        "mail %s iban %s bsn %s kvk %s", "jan.jansen@example.org", "NL91ABNA0417164300", number, "12345678",
    )
    [line] = json_lines(capsys.readouterr().err)
    assert line["message"] == "mail [e-mail] iban [iban] bsn [bsn] kvk 12345678"


def test_gunicorn_access_line_takes_the_apps_context(app):
    environ = EnvironBuilder(path="/healthz", headers={"X-Request-ID": "access-0001"}).get_environ()
    b"".join(app(environ, lambda status, headers: None))  # as gunicorn calls it: the same environ
    atoms = {"h": "10.0.0.1", "m": "GET", "U": "/healthz", "s": "200", "B": 16, "D": 1500,
             "a": 'curl/8 "quoted"', "{%s}e" % observability.ENVIRON_KEY: environ[observability.ENVIRON_KEY]}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(h)s", (atoms,), None)
    line = json.loads(observability.GunicornAccessFormatter().format(record))
    assert line["request_id"] == "access-0001" and line["endpoint"] == "health.healthz"
    assert line["status"] == 200 and line["duration_ms"] == 1.5 and line["user_agent"] == 'curl/8 "quoted"'


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_count_requests_per_endpoint_and_status(client):
    labels = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    before = sample("nvsi_http_requests_total", **labels)
    latency_before = sample("nvsi_http_request_duration_seconds_count", endpoint="health.healthz", method="GET")
    for _ in range(3):
        client.get("/healthz")
    missing_before = sample("nvsi_http_requests_total", endpoint="unmatched", method="GET", status="404")
    client.get("/api/v1/no/such/98765")
    assert sample("nvsi_http_requests_total", **labels) == before + 3
    assert sample("nvsi_http_request_duration_seconds_count", endpoint="health.healthz", method="GET") \
        == latency_before + 3
    assert sample("nvsi_http_requests_total", endpoint="unmatched", method="GET", status="404") == missing_before + 1
    # Bounded labels: the raw path never becomes a label value.
    for family in REGISTRY.collect():
        for s in family.samples:
            assert not any("98765" in value for value in s.labels.values())


def test_track_job_measures_duration_and_outcome():
    ok = sample("nvsi_jobs_total", job="unit", outcome="success")
    failed = sample("nvsi_jobs_total", job="unit", outcome="failure")
    with track_job("unit"):
        pass

    @track_job("unit")
    def failing():
        raise SystemExit(1)

    with pytest.raises(SystemExit):
        failing()
    with pytest.raises(ValueError), track_job("unit"):
        raise ValueError("boom")
    assert sample("nvsi_jobs_total", job="unit", outcome="success") == ok + 1
    assert sample("nvsi_jobs_total", job="unit", outcome="failure") == failed + 2
    assert sample("nvsi_job_duration_seconds_count", job="unit", outcome="failure") >= 2


def test_metrics_endpoint_serves_prometheus_text_format():
    before = sample("nvsi_ledger_postings_total")
    record_ledger_postings(2)
    assert sample("nvsi_ledger_postings_total") == before + 2
    response = Client(observability.metrics_wsgi_app()).get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    body = response.get_data(as_text=True)
    for line in ("# TYPE nvsi_http_requests_total counter", "# TYPE nvsi_http_request_duration_seconds histogram",
                 "# TYPE nvsi_job_duration_seconds histogram", "# TYPE nvsi_ledger_postings_total counter"):
        assert line in body
