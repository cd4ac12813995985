"""config/gunicorn.conf.py: settings from the environment, and a real gunicorn with two workers
(JSON logs, request ids, metrics of all workers summed on their own port)."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "config" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the file sets it only if unset
    for name, value in {"WORKERS": "3", "THREADS": "4", "TIMEOUT": "45", "GRACEFUL_TIMEOUT": "40",
                        "KEEPALIVE": "75", "FORWARDED_ALLOW_IPS": "10.0.0.0/8", "BIND": "0.0.0.0:8000",
                        "ACCESSLOG": ""}.items():
        monkeypatch.setenv("GUNICORN_" + name, value)
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"], conf["timeout"], conf["graceful_timeout"]) == (3, 4, 45, 40)
    assert conf["keepalive"] == 75 and conf["forwarded_allow_ips"] == "10.0.0.0/8"
    assert conf["bind"] == "0.0.0.0:8000" and conf["worker_class"] == "gthread"
    assert conf["accesslog"] is None and conf["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == []
    assert conf["max_requests"] > 0 and conf["max_requests_jitter"] > 0  # workers are recycled
    assert conf["preload_app"] is False  # SIGHUP reloads the code
    monkeypatch.setenv("NVSI_METRICS_ENABLED", "false")
    assert runpy.run_path(str(CONF))["metrics_on"] is False


def test_gunicorn_logs_json_and_sums_the_metrics_of_all_workers(tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVSI_", "GUNICORN_", "PROMETHEUS_"))}
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_METRICS_BIND=f"127.0.0.1:{metrics_port}",
        GUNICORN_WORKERS="2", GUNICORN_THREADS="2", NVSI_INSTANCE_PATH=str(tmp_path / "instance"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen([str(gunicorn), "-c", str(CONF), "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # A long timeout: a request that timed out here could still be served (and counted).
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        for i in range(7):  # one above: 8 in all, spread over the workers
            req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": f"gunicorn-{i:04d}"})
            with urllib.request.urlopen(req, timeout=5) as response:
                assert response.headers["X-Request-ID"] == f"gunicorn-{i:04d}"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
        try:  # never on the public port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    counts = {
        s.labels["endpoint"]: s.value
        for family in text_string_to_metric_families(text) if family.name == "nvsi_http_requests"
        for s in family.samples if s.name == "nvsi_http_requests_total"
    }
    assert counts["health.healthz"] == 8
    access = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert {f"gunicorn-{i:04d}" for i in range(7)} <= {line.get("request_id") for line in access}
    assert all(line["logger"] == "gunicorn.access" for line in access)
    assert [(line["endpoint"], line["status"]) for line in access].count(("health.healthz", 200)) == 8
    assert ("unmatched", 404) in [(line["endpoint"], line["status"]) for line in access]
    errors = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any("metrics on" in line["message"] for line in errors)
