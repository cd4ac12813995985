"""Requests per second of the tenant-scoped employer list against ``/healthz``, under gunicorn on
loopback, in one run; prints the ratio list/healthz.

    .venv/bin/python bench/employer_list.py                      # both backends if PG is reachable
    .venv/bin/python bench/employer_list.py --backend sqlite --seconds 5

For each backend: a fresh temporary instance (SQLite files in a temp folder, or a scratch
PostgreSQL database), ``nvsi migrate`` + ``nvsi demo``, N extra employers for utrecht created
through the API, gunicorn (``config/gunicorn.conf.py``) on 127.0.0.1 at a free port, one login,
a warm-up, then /healthz and then GET /api/v1/g/utrecht/employers, each for a fixed time and at
most a fixed number of requests. Everything is cleaned up afterwards. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import platform as pyplatform  # the stdlib module (platform/ is a source root, not a package)
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from scratch import pg_database, pg_reachable  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The only host this script ever talks to.
HOST = "127.0.0.1"
TENANT = "utrecht"
USER = f"medewerker@{TENANT}.example"
PASSWORD = "demo-wachtwoord-2026"  # the demo password (nvsi.demo.DEMO_PASSWORD)
USER_AGENT = "nvsi-bench/1"  # constant: Flask-Login's "strong" session protection hashes it
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- load generator -----------------------------------------------------------------------------


@dataclass
class PhaseResult:
    label: str
    path: str
    requests: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds this process (the load generator) spent in the phase
    server_cpu: float | None = None  # CPU seconds of gunicorn (master + workers), Linux only
    db_cpu: float | None = None  # CPU seconds of the PostgreSQL backends of the scratch database
    machine_cpu: float | None = None  # busy CPU seconds of the whole machine, Linux only
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: int) -> float:
        """Latency percentile in milliseconds (``q`` in 1..99)."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000

    @property
    def other_cpu(self) -> float | None:
        """CPU seconds used by everything else on the machine during the phase."""
        if self.server_cpu is None or self.machine_cpu is None:
            return None
        return max(self.machine_cpu - self.server_cpu - (self.db_cpu or 0) - self.client_cpu, 0.0)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_snapshot(server_pid: int | None, db_name: str | None) -> tuple[float, float, float] | None:
    """(busy CPU seconds of the machine, of ``server_pid`` and its children, of the PostgreSQL
    backends serving ``db_name``), from /proc; None where there is no /proc."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
        busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
        server = database = 0
        marker = f" {db_name} ".encode() if db_name else None
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    head, _, tail = fh.read().rpartition(")")
                fields, comm = tail.split(), head.partition("(")[2]
            except OSError:
                continue  # gone meanwhile
            pid, ppid = int(entry.name), int(fields[1])
            used = int(fields[11]) + int(fields[12])  # utime + stime
            if pid == server_pid or ppid == server_pid:
                server += used
            elif marker and comm == "postgres":  # a backend: "postgres: user db host(port) idle"
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        if marker in fh.read().replace(b"\0", b" "):
                            database += used
                except OSError:
                    pass
        return busy / _TICK, server / _TICK, database / _TICK
    except (OSError, ValueError, IndexError):
        return None


def drive(port: int, path: str, headers: dict, *, concurrency: int, seconds: float,
          max_requests: int, label: str = "", server_pid: int | None = None,
          db_name: str | None = None) -> PhaseResult:
    """GET ``path`` from ``concurrency`` threads, each on its own persistent connection, until
    ``seconds`` have passed or ``max_requests`` have been sent. Every response must be 200."""
    result = PhaseResult(label=label, path=path)
    tickets = itertools.count()  # next() is atomic under the GIL: the request budget
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    box = {}

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies, errors, first_error = [], 0, None
        start.wait()
        deadline = box["deadline"]
        try:
            while time.perf_counter() < deadline and next(tickets) < max_requests:
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                    if not ok and first_error is None:
                        first_error = f"HTTP {response.status}"
                except (OSError, http.client.HTTPException) as exc:
                    ok = False
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    conn.close()  # http.client reconnects on the next request
                latencies.append(time.perf_counter() - t0)
                errors += not ok
        finally:
            conn.close()
            with lock:
                result.latencies.extend(latencies)
                result.errors += errors
                result.first_error = result.first_error or first_error

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    cpu0, snap0 = sum(os.times()[:2]), cpu_snapshot(server_pid, db_name)
    t0 = time.perf_counter()
    box["deadline"] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    result.elapsed = time.perf_counter() - t0
    result.client_cpu = sum(os.times()[:2]) - cpu0
    snap1 = cpu_snapshot(server_pid, db_name)
    if snap0 and snap1:
        result.machine_cpu, result.server_cpu = snap1[0] - snap0[0], snap1[1] - snap0[1]
        result.db_cpu = snap1[2] - snap0[2] if db_name else None
    result.requests = len(result.latencies)
    return result


# -- talking to the app -------------------------------------------------------------------------


class Client:
    """A tiny cookie-keeping HTTP client for setup (login, seeding); loopback only."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"User-Agent": USER_AGENT}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        self.conn.request(method, path, body=body, headers=self.headers(headers))
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        return response.status, data

    def login(self, email: str, password: str) -> None:
        status, html = self.request("GET", "/login")
        match = re.search(rb'<meta name="csrf-token" content="([^"]+)"', html)
        if status != 200 or not match:
            raise RuntimeError(f"GET /login: {status}, no csrf-token meta tag")
        form = urlencode({"email": email, "password": password, "csrf_token": match.group(1).decode()})
        status, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "session" not in self.cookies:
            raise RuntimeError(f"POST /login: expected 302 and a session cookie, got {status}")

    def seed_employers(self, tenant: str, count: int) -> None:
        """Create ``count`` extra employers through the API (cookie + X-CSRFToken)."""
        status, body = self.request("GET", "/api/v1/session")
        token = json.loads(body)["csrf_token"]
        headers = {"Content-Type": "application/json", "X-CSRFToken": token}
        for i in range(count):
            employer = {
                "name": f"Bench Opdrachtgever {i:05d} B.V.",
                "kvk_number": f"9{i:07d}",  # unique, and clear of the demo's numbers
                "street_address": f"Benchstraat {i + 1}",
                "postal_code": "3511 AB",
                "city": "Utrecht",
                "contact_email": f"facturen{i}@bench.example",
            }
            status, body = self.request("POST", f"/api/v1/g/{tenant}/employers",
                                        json.dumps(employer), headers)
            if status != 201:
                raise RuntimeError(f"seeding employer {i}: HTTP {status} {body[:300]!r}")


# -- the instance under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]





def sa_database(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).database


def log(message: str) -> None:
    print(f"  . {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


@contextmanager
def gunicorn(env: dict, port: int, logfile: Path):
    """gunicorn with the project's config on 127.0.0.1:<port>; stopped on the way out."""
    cmd = [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"]
    with logfile.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_healthy(proc, port, logfile)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: master and workers
                proc.wait()
        log(f"gunicorn stopped (exit {proc.returncode})")


def wait_healthy(proc: subprocess.Popen, port: int, logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{logfile.read_text()[-3000:]}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not healthy after {timeout}s:\n{logfile.read_text()[-3000:]}")


def base_env() -> dict:
    """The caller's environment without any NVSI_*/GUNICORN_* settings (so runs are repeatable)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("NVSI_", "GUNICORN_"))}


def bench_backend(backend: str, args) -> list[PhaseResult]:
    with tempfile.TemporaryDirectory(prefix=f"nvsi-bench-{backend}-") as tmp, \
            (pg_database(args.pg_admin_url) if backend == "postgresql" else nullcontext()) as db_url:
        port = free_port()
        env = base_env() | {
            "NVSI_INSTANCE_PATH": str(Path(tmp) / "instance"),
            "NVSI_DATABASE_URL": db_url or "",
            "NVSI_SECRET_KEY": secrets.token_urlsafe(32),
            "NVSI_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "NVSI_SESSION_COOKIE_SECURE": "false",
            "GUNICORN_BIND": f"{HOST}:{port}",
            "GUNICORN_WORKERS": str(args.workers),
            "GUNICORN_THREADS": str(args.threads),
            # Steady state: no worker recycling in the middle of a measurement (see README).
            "GUNICORN_MAX_REQUESTS": "0",
            "GUNICORN_GRACEFUL_TIMEOUT": "5",
        }
        log(f"{backend}: nvsi migrate + nvsi demo")
        run([str(BIN / "nvsi"), "migrate"], env)
        run([str(BIN / "nvsi"), "demo"], env)
        logfile = Path(tmp) / "gunicorn.log"
        with gunicorn(env, port, logfile) as server:
            log(f"{backend}: gunicorn {args.workers} workers x {args.threads} threads on {HOST}:{port}")
            client = Client(port)
            client.login(USER, PASSWORD)
            if args.employers:
                t0 = time.perf_counter()
                client.seed_employers(TENANT, args.employers)
                log(f"{backend}: seeded {args.employers} employers in {TENANT} "
                    f"({time.perf_counter() - t0:.1f}s)")
            list_path = f"/api/v1/g/{TENANT}/employers"
            if args.per_page:
                list_path += f"?per_page={args.per_page}"
            status, body = client.request("GET", list_path)
            page = json.loads(body) if status == 200 else None
            if not page or not page.get("items"):
                raise RuntimeError(f"GET {list_path}: {status} {body[:300]!r}")
            log(f"{backend}: list returns {len(page['items'])} of {page['total']} employers, "
                f"{len(body)} bytes")
            headers = client.headers()
            client.conn.close()

            common = dict(concurrency=args.concurrency, max_requests=args.max_requests,
                          server_pid=server.pid, db_name=db_url and sa_database(db_url))
            warm = [drive(port, p, headers, seconds=args.warmup, **common) for p in ("/healthz", list_path)]
            if any(w.errors for w in warm):
                raise RuntimeError(f"errors during warm-up: {[w.first_error for w in warm]}")
            results = []
            for label, path in (("healthz", "/healthz"), ("employer list", list_path)):
                log(f"{backend}: {label} for {args.seconds}s x {args.concurrency} connections")
                results.append(drive(port, path, headers, seconds=args.seconds, label=label, **common))
            return results


# -- main ---------------------------------------------------------------------------------------


def report(backend: str, results: list[PhaseResult]) -> None:
    def cores(seconds: float | None, r: PhaseResult) -> str:
        return f"{seconds / r.elapsed:6.2f}" if seconds is not None else f"{'-':>6}"

    def per_request(seconds: float | None, r: PhaseResult) -> str:
        return f"{seconds / r.requests * 1000:6.2f}" if seconds is not None and r.requests else f"{'-':>6}"

    print(f"\n{backend}")
    print(f"  {'':<14} {'':>7} {'latency ms':>15} {'':>8} {'':>6} | {'CPU ms/request':>13} "
          f"| {'CPU used (cores)':>27}")
    print(f"  {'endpoint':<14} {'req/s':>7} {'p50':>7} {'p95':>7} {'requests':>8} {'errors':>6} "
          f"| {'server':>6} {'db':>6} | {'server':>6} {'db':>6} {'client':>6} {'other':>6}")
    for r in results:
        print(f"  {r.label:<14} {r.rps:7.0f} {r.percentile(50):7.2f} {r.percentile(95):7.2f} "
              f"{r.requests:8d} {r.errors:6d} | {per_request(r.server_cpu, r)} "
              f"{per_request(r.db_cpu, r)} | {cores(r.server_cpu, r)} {cores(r.db_cpu, r)} "
              f"{cores(r.client_cpu, r)} {cores(r.other_cpu, r)}")
        if r.errors:
            print(f"    first error: {r.first_error}")
    health, listing = results
    line = (f"  ratio list/healthz (req/s): {listing.rps / health.rps:.3f}  "
            f"(healthz serves {health.rps / listing.rps:.1f}x as many requests)")
    if health.server_cpu and listing.server_cpu and health.requests and listing.requests:
        cost = (listing.server_cpu / listing.requests) / (health.server_cpu / health.requests)
        line += f"; gunicorn CPU per request: list = {cost:.1f}x healthz"
    print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default=None,
                        help="default: both when PostgreSQL is reachable, else sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up time per endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (connections)")
    parser.add_argument("--max-requests", type=int, default=200_000,
                        help="cap on requests per phase (the run stops at time or count)")
    parser.add_argument("--employers", type=int, default=200, help="extra employers seeded in utrecht")
    parser.add_argument("--per-page", type=int, default=None,
                        help="per_page of the list request (default: the app's PAGE_SIZE, 25)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--pg-admin-url", default=os.environ.get("NVSI_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL),
                        help="PostgreSQL server (a scratch database is created and dropped); "
                             "env NVSI_BENCH_PG_URL")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.seconds <= 0 or args.max_requests < 1 or args.employers < 0:
        parser.error("--concurrency, --seconds and --max-requests must be positive, --employers >= 0")
    if not (BIN / "gunicorn").exists() or not (BIN / "nvsi").exists():
        parser.error(f"run with the project's virtual env (no gunicorn/nvsi next to {sys.executable})")

    if args.backend in (None, "both", "postgresql"):
        reason = pg_reachable(args.pg_admin_url)
        if reason and args.backend is not None:
            parser.error(f"PostgreSQL unreachable at {args.pg_admin_url}: {reason}")
        if reason:
            log(f"PostgreSQL unreachable ({reason}): sqlite only")
    else:
        reason = None
    backends = {"sqlite": ["sqlite"], "postgresql": ["postgresql"]}.get(
        args.backend, ["sqlite"] + ([] if reason else ["postgresql"]))

    print(f"nvsi bench: GET /api/v1/g/{TENANT}/employers vs GET /healthz, gunicorn gthread "
          f"{args.workers} workers x {args.threads} threads on {HOST}; {args.concurrency} keep-alive "
          f"connections; {args.seconds:g}s per endpoint (cap {args.max_requests} requests) after "
          f"{args.warmup:g}s warm-up; +{args.employers} employers; {os.cpu_count()} CPUs, "
          f"Python {pyplatform.python_version()}", flush=True)
    failed = False
    for backend in backends:
        results = bench_backend(backend, args)
        report(backend, results)
        failed |= any(r.errors for r in results)
    if failed:
        print("\nFAILED: some responses were not 200", file=sys.stderr)
    return 1 if failed else 0


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the with-blocks: everything is cleaned up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted (gunicorn stopped, scratch data removed)", file=sys.stderr)
        sys.exit(130)
