"""Structured logs and Prometheus metrics.

Logs
    One JSON object per line on stderr (``LOG_FORMAT = "json"``). Every line written while a
    request is handled carries its ``request_id`` (the incoming ``X-Request-ID`` if it is a sane
    token, else a new one; echoed in the response), the tenant's ``slug`` and the ``user_id``.
    Never an e-mail address, BSN, IBAN or name: code logs ids only, and :class:`JsonFormatter`
    masks e-mail addresses, IBANs and BSNs that slip into a message anyway (defence in depth).
    Under gunicorn, ``config/gunicorn.conf.py`` gives gunicorn's own logs and its access log the
    same format; the access line takes the endpoint, tenant and user from the WSGI environ.

Metrics
    ``prometheus_client`` metrics (``nvsi_*``): request latency and count per Flask endpoint (the
    endpoint name, never the raw path, keeps the label set bounded), job durations and outcomes
    (:func:`track_job`), ledger postings (:func:`record_ledger_postings`). gunicorn's workers write
    them to ``PROMETHEUS_MULTIPROC_DIR``; the master serves the sum of all workers on a separate
    port (``GUNICORN_METRICS_BIND``), never on the public one. See docs/operations.md.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request, request_started
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from stdnum.nl import bsn

#: Key in the WSGI environ under which the app leaves what gunicorn's access log needs.
ENVIRON_KEY = "nvsi.request"
#: An incoming request id is kept only if it looks like one (no spaces, quotes or log injection).
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
#: Methods that get their own label value; anything else is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The endpoint label of a request that matched no route (a 404 or 405 before routing).
UNMATCHED = "unmatched"

# Multiprocess mode (gunicorn) keeps each metric in a file of that folder; it must exist before the
# metrics below are created.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

_log = logging.getLogger("nvsi.request")
_job_log = logging.getLogger("nvsi.jobs")
#: The job the current code runs in (see :func:`track_job`); logged with every line.
_current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("nvsi_job", default=None)

# -- metrics ------------------------------------------------------------------------------------
# Latency buckets from 5 ms to 10 s: pages and API calls, not long-running jobs.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Job buckets from 1 s to 2 h: a migration of hundreds of tenants, an invoice run.
_JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

REQUEST_LATENCY = Histogram(
    "nvsi_http_request_duration_seconds",
    "Time from the start of a request to its response, per Flask endpoint.",
    ["endpoint", "method"],
    buckets=_REQUEST_BUCKETS,
)
REQUESTS = Counter(
    "nvsi_http_requests", "Requests answered, per Flask endpoint and status.", ["endpoint", "method", "status"]
)
REQUESTS_IN_PROGRESS = Gauge(
    "nvsi_http_requests_in_progress", "Requests being handled now.", multiprocess_mode="livesum"
)
JOB_DURATION = Histogram(
    "nvsi_job_duration_seconds", "Duration of a job run, per job and outcome.", ["job", "outcome"],
    buckets=_JOB_BUCKETS,
)
JOBS = Counter("nvsi_jobs", "Job runs, per job and outcome (success or failure).", ["job", "outcome"])
LEDGER_POSTINGS = Counter(
    "nvsi_ledger_postings", "Ledger transactions posted (balanced sets of entries)."
)


def record_ledger_postings(count: int = 1) -> None:
    """Count ledger transactions once they are committed (called by the ledger)."""
    LEDGER_POSTINGS.inc(count)


@contextmanager
def track_job(name: str) -> Iterator[None]:
    """Measure a job: its duration and outcome as metrics, and a log line when it ends.

    Usable as ``with track_job("invoices"):`` and as a decorator ``@track_job("migrate")``.
    ``name`` is a constant chosen by the code (it becomes a label value), never input. An
    exception (and ``SystemExit`` with a non-zero code) counts as a failure and propagates.
    """
    token = _current_job.set(name)
    start = time.perf_counter()
    outcome = "failure"
    try:
        yield
        outcome = "success"
    except SystemExit as exc:
        if exc.code in (None, 0):
            outcome = "success"
        raise
    finally:
        elapsed = time.perf_counter() - start
        JOB_DURATION.labels(name, outcome).observe(elapsed)
        JOBS.labels(name, outcome).inc()
        level = logging.INFO if outcome == "success" else logging.ERROR
        _job_log.log(level, "job finished", extra={"fields": {"outcome": outcome, "duration_s": round(elapsed, 3)}})
        _current_job.reset(token)


def metrics_registry() -> CollectorRegistry:
    """The registry to serve: the sum over every process in multiprocess mode, else this one."""
    from prometheus_client import REGISTRY, multiprocess

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def metrics_wsgi_app():
    """A WSGI app that answers every request with the metrics in Prometheus' text format."""
    return make_wsgi_app(metrics_registry())


def start_metrics_server(bind: str):
    """Serve the metrics on ``host:port`` in a background thread (gunicorn's master calls it)."""
    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    return start_http_server(int(port), addr=host or "0.0.0.0", registry=metrics_registry())


# -- logs ---------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_NINE_DIGITS_RE = re.compile(r"(?<!\d)\d{9}(?!\d)")


def scrub(text: str) -> str:
    """Mask e-mail addresses, IBANs and (valid) BSNs in a log text."""
    text = _EMAIL_RE.sub("[e-mail]", text)
    text = _IBAN_RE.sub("[iban]", text)
    return _NINE_DIGITS_RE.sub(lambda m: "[bsn]" if bsn.is_valid(m.group()) else m.group(), text)


def _scrub_value(value):
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context and extra ``fields``.

    Extra structured data goes in ``extra={"fields": {...}}``; the context (request id, tenant,
    user id, job) is added by :class:`ContextFilter`.
    """

    CONTEXT = ("request_id", "tenant", "user_id", "job")

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in self.CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        data.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            data["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(_scrub_value(data), default=str, ensure_ascii=False)


class GunicornAccessFormatter(JsonFormatter):
    """gunicorn's access log as JSON: reads gunicorn's atoms and what the app left in the environ.

    The path is the route pattern (``/pay/<token>``) when the app matched one, so tokens in
    URLs never reach the log; the query string is never logged.
    """

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args if isinstance(record.args, dict) else {}
        app = atoms.get("{%s}e" % ENVIRON_KEY) or {}
        if not isinstance(app, dict):
            app = {}

        def atom(key):
            value = atoms.get(key)
            return value.replace('\\"', '"') if isinstance(value, str) else value

        fields = {
            "remote_addr": atom("h"),
            "method": atom("m"),
            "path": app.get("route") or atom("U"),
            "endpoint": app.get("endpoint"),
            "status": int(atom("s")) if str(atom("s")).isdigit() else atom("s"),
            "bytes": atom("B"),
            "duration_ms": round((atom("D") or 0) / 1000, 2),
            "user_agent": atom("a"),
        }
        record.fields = {k: v for k, v in fields.items() if v not in (None, "-")}
        record.request_id = app.get("request_id") or atoms.get("{x-request-id}o")
        record.tenant = app.get("tenant")
        record.user_id = app.get("user_id")
        record.msg, record.args = "request", None
        return super().format(record)


class ContextFilter(logging.Filter):
    """Adds the request id, tenant slug, user id and job to every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            context = request_context() if has_request_context() else {}
            record.request_id = context.get("request_id")
            record.tenant = context.get("tenant")
            record.user_id = context.get("user_id")
        if getattr(record, "job", None) is None:
            record.job = _current_job.get()
        return True


class JsonStreamHandler(logging.StreamHandler):
    """A handler that writes JSON lines to the *current* ``sys.stderr`` with the context filter."""

    #: Marks the handlers this module installs (see :func:`configure_logging`).
    nvsi_json = True

    def __init__(self, stream=None):
        super().__init__(stream)
        self._fixed_stream = stream is not None
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())

    @property
    def stream(self):
        return self._stream if self._fixed_stream else sys.stderr

    @stream.setter
    def stream(self, value):
        self._stream = value


def configure_logging(level: str = "INFO") -> None:
    """Send the root logger's records to stderr as JSON (once per process) and set our levels."""
    root = logging.getLogger()
    if not any(getattr(h, "nvsi_json", False) for h in root.handlers):
        root.addHandler(JsonStreamHandler())
    for name in ("nvsi", "tenants"):
        logging.getLogger(name).setLevel(level.upper())


# -- the request hooks --------------------------------------------------------------------------


def request_context() -> dict:
    """Request id, tenant slug and user id of the current request (ids only, no personal data)."""
    context = {"request_id": getattr(g, "request_id", None)}
    tenant = g.get("tenant")
    if tenant is not None:
        context["tenant"] = getattr(tenant, "slug", None)
    # Only a user Flask-Login has already loaded: logging must not query the database. The id
    # comes from the identity key, which stays after a commit expired the user's attributes (a
    # lazy load here would run SQL inside SQLAlchemy's own statement logging); the anonymous
    # user is no mapped object and has none.
    state = sa.inspect(g.get("_login_user"), raiseerr=False)
    if state is not None and state.identity:
        context["user_id"] = state.identity[0]
    return context


def _request_id() -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex


def _on_request_started(app: Flask, **_extra) -> None:
    # Sent before URL preprocessing, so requests refused there are timed and identified too.
    g.request_id = _request_id()
    g.request_started = time.perf_counter()
    if app.config["METRICS_ENABLED"]:
        REQUESTS_IN_PROGRESS.inc()
        g.counted_in_progress = True


def _after_request(response):
    request_id = g.get("request_id") or _request_id()
    response.headers["X-Request-ID"] = request_id
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or UNMATCHED
    method = request.method if request.method in METHODS else "other"
    context = request_context()
    context.update(
        endpoint=endpoint,
        route=request.url_rule.rule if request.url_rule is not None else None,
    )
    request.environ[ENVIRON_KEY] = context
    if g.pop("counted_in_progress", False):
        REQUESTS_IN_PROGRESS.dec()
    if current_app.config["METRICS_ENABLED"]:
        REQUEST_LATENCY.labels(endpoint, method).observe(elapsed)
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    if current_app.config["LOG_REQUESTS"]:
        _log.info("request", extra={"fields": {
            "method": method, "endpoint": endpoint, "route": context["route"],
            "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
        }})
    return response


def _teardown(_exc) -> None:
    # A request that ended without a response (the error propagated) still leaves the gauge.
    if g.pop("counted_in_progress", False):
        REQUESTS_IN_PROGRESS.dec()


def init_app(app: Flask) -> None:
    """Attach request ids, JSON logs and request metrics to the app."""
    if app.config["LOG_FORMAT"] == "json":
        configure_logging(app.config["LOG_LEVEL"])
    request_started.connect(_on_request_started, app)
    app.after_request(_after_request)
    app.teardown_request(_teardown)
