"""gunicorn settings for the NVSI platform: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Every value comes from an environment variable ``GUNICORN_*`` (read through :func:`env`, which
``python -m nvsi.configdoc`` also reads to write docs/configuration.md), so the quick start, the
container image and the Helm chart use this one file.

* Workers are processes, each with a few threads (``gthread``): threads serve slow clients and
  I/O waits, processes use the CPUs. In a container set ``GUNICORN_WORKERS`` explicitly: the CPU
  count of the node is not the pod's CPU limit.
* Graceful: on SIGTERM (a rolling update) and SIGHUP (reload) workers finish their requests for
  up to ``GUNICORN_GRACEFUL_TIMEOUT`` seconds; workers are also replaced after
  ``GUNICORN_MAX_REQUESTS`` requests (with jitter) so slow leaks cannot build up.
* Logs: gunicorn's error log and access log are JSON lines like the app's (nvsi.observability).
* Metrics: the workers write to ``PROMETHEUS_MULTIPROC_DIR``; the master serves the sum of all
  workers on ``GUNICORN_METRICS_BIND`` (a port of its own, never the public one).
"""

import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

# The project's source root, so nvsi.observability is importable without an installed package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT / "platform") not in sys.path:
    sys.path.insert(0, str(_ROOT / "platform"))


def env(name: str, default: str, doc: str) -> str:
    """The setting ``GUNICORN_<name>`` from the environment, or ``default``. ``doc`` is for the docs."""
    return os.environ.get("GUNICORN_" + name, default)


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


# -- serving ------------------------------------------------------------------------------------
bind = env("BIND", "127.0.0.1:8000", "Address and port to serve on (0.0.0.0:8000 in the container).")
workers = int(env("WORKERS", str(min(2 * multiprocessing.cpu_count() + 1, 8)),
                  "Worker processes. Default: 2 × CPUs + 1, at most 8; set it in containers."))
threads = int(env("THREADS", "2", "Threads per worker (gthread): requests a worker serves at once."))
worker_class = "gthread"
timeout = int(env("TIMEOUT", "30", "Seconds a worker may be silent before it is killed and replaced."))
graceful_timeout = int(env("GRACEFUL_TIMEOUT", "30",
                           "Seconds workers get to finish their requests on SIGTERM or SIGHUP."))
keepalive = int(env("KEEPALIVE", "5",
                    "Seconds an idle keep-alive connection stays open. Behind a proxy: longer than the "
                    "proxy's upstream idle timeout (the chart uses 75 for ingress-nginx's 60)."))
max_requests = int(env("MAX_REQUESTS", "2000", "Requests after which a worker is replaced (0: never)."))
max_requests_jitter = int(env("MAX_REQUESTS_JITTER", "200",
                              "Random extra to MAX_REQUESTS, so workers are not all replaced at once."))
# Heartbeat files of the workers; /dev/shm avoids a slow disk (tmp dir of the system if empty).
worker_tmp_dir = env("WORKER_TMP_DIR", "", "Folder of the workers' heartbeat files (/dev/shm in "
                                           "containers; empty: the system's temp folder).") or None
# Code is loaded in each worker (not preloaded), so SIGHUP reloads new code without a restart.
preload_app = False
# gunicorn's control socket (gunicornc) lives in $HOME, which a read-only container cannot write.
control_socket_disable = not _flag(env("CONTROL_SOCKET", "off",
                                       "gunicorn's control socket for gunicornc: on or off."))

# -- behind a proxy -----------------------------------------------------------------------------
# X-Forwarded-Proto and friends are trusted only from these addresses (the ingress), never from
# anyone. The app trusts X-Forwarded-For/-Proto through ProxyFix (NVSI_PROXY_FIX_X_FOR/_X_PROTO).
forwarded_allow_ips = env("FORWARDED_ALLOW_IPS", "127.0.0.1",
                          "Proxy addresses whose X-Forwarded-* headers are trusted, comma-separated, "
                          "or * when only the ingress can reach the pods (NetworkPolicy).")

# -- logs ---------------------------------------------------------------------------------------
loglevel = env("LOGLEVEL", "info", "Level of gunicorn's own log: debug, info, warning, error.")
_access = env("ACCESSLOG", "-", "Access log: - for stdout, a file path, or empty for none.")
accesslog = _access or None
errorlog = "-"
_handlers = {
    "stderr": {"class": "nvsi.observability.JsonStreamHandler", "stream": "ext://sys.stderr"},
    "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
}
if _access not in ("", "-"):
    _handlers["access"] = {"class": "logging.FileHandler", "formatter": "access", "filename": _access}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"access": {"()": "nvsi.observability.GunicornAccessFormatter"}},
    "handlers": _handlers,
    # The root logger: the app's records and those of every library, one JSON line each.
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO" if accesslog else "CRITICAL",
            "handlers": ["access"] if accesslog else [],
            "propagate": False,
        },
    },
}

# -- metrics ------------------------------------------------------------------------------------
metrics_bind = env("METRICS_BIND", "127.0.0.1:9100",
                   "Address and port of the metrics endpoint (0.0.0.0:9100 in the container; "
                   "empty: no endpoint). Also off when NVSI_METRICS_ENABLED is false.")
metrics_on = bool(metrics_bind) and _flag(os.environ.get("NVSI_METRICS_ENABLED", "true"))
if metrics_on:
    # Set before prometheus_client is imported anywhere (it decides its storage then); the
    # folder must exist before the logging set-up imports nvsi.observability.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nvsi-metrics-")
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server):
    """Master, once (not on reload): files of a previous run in the metrics folder would count."""
    if metrics_on:
        for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            stale.unlink(missing_ok=True)


def when_ready(server):
    """Master: serve the metrics of all workers on their own port."""
    if metrics_on:
        from nvsi.observability import start_metrics_server

        try:
            start_metrics_server(metrics_bind)
        except OSError as exc:  # e.g. the port is taken on a workstation: serve the app anyway
            server.log.error("metrics endpoint not started on %s: %s", metrics_bind, exc)
            return
        server.log.info("metrics on http://%s/metrics", metrics_bind)


def child_exit(server, worker):
    """Master: a worker ended; its live gauges no longer count."""
    if metrics_on:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
