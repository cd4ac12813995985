"""The invoice run over many tenants against a plain bulk insert of the same rows, in one run;
prints both and the ratio run/insert.

    .venv/bin/python bench/invoice_run.py                       # 350 tenants × 50 placements
    .venv/bin/python bench/invoice_run.py --tenants 20 --keep   # smaller; keep the database

On a scratch PostgreSQL database ``nvsi_bench_<hex>``:

1. the shared schema by the migrations; one template tenant provisioned as in production, with
   ``--employers`` employers, ``--placements`` active placements (candidates, assignments at
   EUR 12.30-14.70) and a week of approved hours (8 hours Monday to Friday, ISO week 2026-W10),
   the hours filled by set-based SQL;
2. the template cloned into ``--tenants`` - 1 more schemas (``pg_dump -n`` once, the schema name
   replaced, one ``psql`` run) and registered in the tenant registry;
3. **the run**: :func:`tenants.invoicing.services.run_all` over every tenant (one transaction
   per tenant, without the e-mail step), timed; then the same run again (it finds everything
   invoiced and makes nothing: the fixed cost per tenant), timed;
4. **the baseline**: the same number of rows (invoices, lines, invoiced entries, ledger
   transactions and entries) inserted plainly into copies of those tables (``LIKE … INCLUDING
   ALL``: the same columns, defaults, checks and indexes; no triggers, no foreign keys), with
   the same driver path (SQLAlchemy executemany) and one transaction per tenant, timed;
5. the scratch database is dropped (unless ``--keep``).

See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from scratch import create_database, drop_database  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
ISSUED = dt.date(2026, 3, 9)
TEMPLATE = "b0001"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=350)
    parser.add_argument("--placements", type=int, default=50, help="active placements per tenant")
    parser.add_argument("--employers", type=int, default=10, help="employers per tenant (invoices per tenant)")
    parser.add_argument("--pg-admin-url", default=os.environ.get("NVSI_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its URL is printed)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the scratch database -------------------------------------------------------------------------


def libpq(url: str) -> tuple[list[str], dict]:
    """psql/pg_dump connection arguments and environment for a SQLAlchemy URL (no shell)."""
    import sqlalchemy as sa

    u = sa.make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres", "-d", u.database]
    return args, env


# -- the template tenant --------------------------------------------------------------------------


def fill_template(app, db, tenant, employers: int, placements: int) -> None:
    """Employers, assignments, candidates and placements through the services (as the app makes
    them), then a week of approved hours by set-based SQL."""
    import sqlalchemy as sa

    from nvsi.crypto import cipher
    from nvsi.db import utcnow
    from nvsi.tenancy.routing import tenant_session
    from tenants.assignments.services import create_assignment
    from tenants.candidates.models import Candidate
    from tenants.employers.services import create_employer
    from tenants.placements.services import create_placement
    from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry

    with app.app_context(), tenant_session(db, tenant) as session:
        made = []
        for e in range(employers):
            employer = create_employer(session, dict(
                name=f"Werkgever {e + 1} B.V.", kvk_number=f"{30000000 + e:08d}", vat_id=None,
                street_address=f"Industrieweg {e + 1}", postal_code="3511 AB", city="Utrecht",
                contact_email=f"facturen{e + 1}@werkgever.example"))
            made.append(employer)
        for p in range(placements):
            employer = made[p % employers]
            bsn = next_bsn(p)
            candidate = Candidate(bsn=bsn, bsn_hash=cipher().lookup_hash(bsn), first_name=f"Kandidaat{p + 1}",
                                  last_name="Jansen", registered_on=dt.date(2026, 1, 5), consent_at=utcnow(),
                                  work_preferences="")
            session.add(candidate)
            session.flush()
            assignment = create_assignment(session, tenant, dict(
                employer_id=employer.id, title=f"Opdracht {p + 1}", hours_per_week=Decimal("40"),
                hourly_rate_cents=1230 + 10 * (p % 25), location="Utrecht", start_date=dt.date(2026, 1, 1),
                end_date=None, displacement_declared_by="P. de Vries"), user_id=None)
            create_placement(session, tenant, dict(
                candidate_id=candidate.id, assignment_id=assignment.id, start_date=dt.date(2026, 2, 2), end_date=None,
                hours_per_week=Decimal("40"), goals="Werkritme"), None)
        # One submission per placement, then its five approved days, each in one INSERT … SELECT.
        from tenants.placements.models import Placement

        session.execute(sa.insert(TimesheetBatch).from_select(
            ["placement_id", "submitted_at"], sa.select(Placement.id, sa.literal(utcnow(), TimesheetBatch.submitted_at.type))))
        days = sa.select(sa.func.generate_series(0, 4).label("n")).subquery()
        session.execute(sa.insert(TimesheetEntry).from_select(
            ["placement_id", "batch_id", "work_date", "hours", "status", "entered_at", "decided_at", "decided_by"],
            sa.select(TimesheetBatch.placement_id, TimesheetBatch.id,
                      sa.literal(WEEK[0]) + days.c.n, sa.literal(Decimal("8.00")),
                      sa.literal(EntryStatus.APPROVED.value), sa.func.now(), sa.func.now(),
                      sa.literal("bench <bench@example>")).select_from(TimesheetBatch).join(days, sa.true())))
        session.commit()


def next_bsn(n: int) -> str:
    """The n-th nine-digit number from 100000000 on that passes the 11-test."""
    found, stem = -1, 10000000
    while True:
        digits = f"{stem:08d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            found += 1
            if found == n:
                return digits + str(check)
        stem += 1


def clone_template(url: str, app, db, count: int) -> None:
    """``count`` - 1 copies of the template schema (structure and data), registered as tenants."""
    import sqlalchemy as sa

    from nvsi.tenancy.models import Tenant, TenantStatus

    args, env = libpq(url)
    dump = subprocess.run(["pg_dump", *args, "--schema=t_" + TEMPLATE, "--no-owner", "--no-privileges"],
                          env=env, check=True, capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        for i in range(2, count + 1):
            script.write(dump.replace(f"t_{TEMPLATE}", f"t_b{i:04d}"))
        path = script.name
    try:
        subprocess.run(["psql", *args, "-q", "-v", "ON_ERROR_STOP=1", "-f", path], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        os.unlink(path)
    with app.app_context():
        db.session.execute(sa.insert(Tenant), [
            dict(slug=f"b{i:04d}", name=f"Gemeente B{i:04d}", cbs_code=f"GM{i:04d}", status=TenantStatus.ACTIVE)
            for i in range(2, count + 1)])
        db.session.commit()
        db.session.remove()


# -- the two measurements ---------------------------------------------------------------------------


def measure_run(app, db, total: int):
    from tqdm import tqdm

    from tenants.invoicing.services import run_all

    with app.app_context(), tqdm(total=total, desc="invoice run", unit="tenant") as bar:
        start = time.perf_counter()
        outcomes = run_all(db, *WEEK, ISSUED, progress=lambda o: bar.update(1), deliver=False)
        elapsed = time.perf_counter() - start
    failed = [slug for slug, o in outcomes.items() if o.error]
    if failed:
        raise SystemExit(f"the run failed for {len(failed)} tenants, e.g. {failed[0]}: {outcomes[failed[0]].error}")
    return elapsed, outcomes


def count_rows(app, db, outcomes) -> dict[str, int]:
    """Rows the run wrote, per table (over every tenant schema)."""
    counts = dict(invoices=0, invoice_lines=0, invoiced_entries=0)
    with app.app_context():
        with db.engine.connect() as conn:
            for slug in outcomes:
                for table in counts:
                    counts[table] += conn.exec_driver_sql(f'SELECT count(*) FROM "t_{slug}".{table}').scalar_one()
            counts["ledger_transactions"] = conn.exec_driver_sql("SELECT count(*) FROM nvsi.ledger_transactions").scalar_one()
            counts["ledger_entries"] = conn.exec_driver_sql("SELECT count(*) FROM nvsi.ledger_entries").scalar_one()
    return counts


def measure_baseline(app, db, outcomes, counts: dict[str, int]) -> float:
    """Insert as many rows, tenant by tenant, into trigger-free copies of the tables."""
    import sqlalchemy as sa

    tenants = list(outcomes)
    per = {table: n // len(tenants) for table, n in counts.items()}
    extra = {table: n - per[table] * len(tenants) for table, n in counts.items()}
    with app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA baseline")
            for table, source in (("invoices", f"t_{TEMPLATE}.invoices"), ("invoice_lines", f"t_{TEMPLATE}.invoice_lines"),
                                  ("invoiced_entries", f"t_{TEMPLATE}.invoiced_entries"),
                                  ("ledger_transactions", "nvsi.ledger_transactions"), ("ledger_entries", "nvsi.ledger_entries")):
                conn.exec_driver_sql(f"CREATE TABLE baseline.{table} (LIKE {source} INCLUDING ALL)")
        meta = sa.MetaData(schema="baseline")
        tables = {name: sa.Table(name, meta, autoload_with=engine) for name in per}
        rows = {t: [] for t in tenants}
        now = dt.datetime.now(dt.timezone.utc)
        seller = {"name": "Stichting NVSI (demo)", "street": "Voorbeeldstraat 1", "postal_code": "3511 AA",
                  "city": "Utrecht", "country": "NL", "kvk": "00000000", "vat_id": "NL000099998B57",
                  "iban": "NL91ABNA0417164300", "bic": "ABNANL2A", "email": "facturen@nvsi.example"}
        sequence = 0
        for index, slug in enumerate(tenants):
            n = {t: per[t] + (extra[t] if index == 0 else 0) for t in per}
            batch = {}
            first = sequence + 1
            sequence += n["invoices"]
            batch["invoices"] = [dict(
                doc_type="invoice", series_id=1, sequence=first + i,
                number=f"X-{first + i:08d}", employer_id=1 + i, period_start=WEEK[0], period_end=WEEK[1],
                issue_date=ISSUED, due_date=ISSUED + dt.timedelta(days=14), net_cents=100000, vat_cents=21000,
                gross_cents=121000, payment_reference=f"RF00X{first + i:08d}", seller=seller,
                buyer={"employer_id": 1 + i, "name": "Werkgever B.V."}, rules_version=1, created_at=now,
                status="open", paid_cents=0, credited_cents=0, version=1) for i in range(n["invoices"])]
            batch["invoice_lines"] = [dict(
                invoice_id=first, placement_id=1 + i,
                description="Opdracht – Kandidaat J., 2–6 maart 2026", service_start=WEEK[0],
                service_end=WEEK[0] + dt.timedelta(days=4), hours=Decimal("40.00"), rate_cents=1230,
                net_cents=49200, vat_category="S", vat_rate=Decimal("21.00")) for i in range(n["invoice_lines"])]
            batch["invoiced_entries"] = [dict(
                entry_id=first * 10000 + i, line_id=first, role="invoiced",
                hours=Decimal("8.00")) for i in range(n["invoiced_entries"])]
            txn_ids = [uuid.uuid4() for _ in range(n["ledger_transactions"])]
            batch["ledger_transactions"] = [dict(
                id=txn, idempotency_key=f"baseline:{txn}", booking_date=ISSUED, tenant_id=index + 1, kind="invoice",
                description="Factuur X", source_type="invoice", source_id=f"{slug}/{i}", posted_at=now)
                for i, txn in enumerate(txn_ids)]
            batch["ledger_entries"] = [dict(
                transaction_id=txn_ids[i % max(1, len(txn_ids))] if txn_ids else uuid.uuid4(),
                account_id=1 + i % 3, amount_cents=100 + i, booking_date=ISSUED) for i in range(n["ledger_entries"])]
            rows[slug] = batch
        start = time.perf_counter()
        for slug in tenants:
            with engine.begin() as conn:
                for name in ("ledger_entries", "ledger_transactions", "invoices", "invoice_lines", "invoiced_entries"):
                    if rows[slug][name]:
                        conn.execute(sa.insert(tables[name]), rows[slug][name])
        elapsed = time.perf_counter() - start
        with engine.connect() as conn:
            inserted = sum(conn.exec_driver_sql(f"SELECT count(*) FROM baseline.{t}").scalar_one() for t in per)
        assert inserted == sum(counts.values()), (inserted, counts)
    return elapsed


def main(argv=None) -> int:
    options = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for tool in ("pg_dump", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (PostgreSQL client tools)")
    url = create_database(options.pg_admin_url)
    instance = tempfile.mkdtemp(prefix="nvsi-bench-")
    app = None
    try:
        from nvsi import create_app, migrate
        from nvsi.crypto import generate_key
        from nvsi.extensions import db
        from nvsi.tenancy import services as tenancy

        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench-only",
                          "DATA_KEY": generate_key(), "LOG_LEVEL": "WARNING",
                          "MAIL_BACKEND": "log"})
        started = time.perf_counter()
        with app.app_context():
            router = app.extensions["nvsi.router"]
            migrate.upgrade_shared(router)
            tenancy.register_tenant(db.session, TEMPLATE, "Gemeente B0001", "GM0001")
            db.session.commit()
            template = tenancy.provision_tenant(db.session, router, TEMPLATE)
            db.session.remove()
        fill_template(app, db, template, options.employers, options.placements)
        log(f"template tenant ready ({options.employers} employers, {options.placements} placements, "
            f"{options.placements * 5} approved entries)")
        clone_template(url, app, db, options.tenants)
        log(f"{options.tenants} tenants ready in {time.perf_counter() - started:.0f} s")

        run_seconds, outcomes = measure_run(app, db, options.tenants)
        # The same run again finds everything invoiced: what a tenant costs with nothing to do.
        rerun_seconds, again = measure_run(app, db, options.tenants)
        assert not any(o.result.invoices or o.result.credit_notes for o in again.values())
        counts = count_rows(app, db, outcomes)
        rows = sum(counts.values())
        log("run wrote " + ", ".join(f"{n} {t}" for t, n in counts.items()))
        baseline_seconds = measure_baseline(app, db, outcomes, counts)

        gross = sum(o.result.gross_cents for o in outcomes.values())
        print()
        print(f"tenants {options.tenants}, placements/tenant {options.placements}, employers/tenant "
              f"{options.employers}; invoiced EUR {gross / 100:,.2f} incl. VAT")
        print(f"{'':<22}{'seconds':>10}{'rows':>10}{'rows/s':>10}{'ms/tenant':>11}")
        for label, seconds in (("invoice run", run_seconds), ("plain bulk insert", baseline_seconds)):
            print(f"{label:<22}{seconds:>10.2f}{rows:>10}{rows / seconds:>10.0f}"
                  f"{seconds * 1000 / options.tenants:>11.1f}")
        print(f"{'run again (no-op)':<22}{rerun_seconds:>10.2f}{0:>10}{'-':>10}"
              f"{rerun_seconds * 1000 / options.tenants:>11.1f}")
        print(f"ratio run / insert: {run_seconds / baseline_seconds:.2f}")
        if options.keep:
            print(f"kept: {url}")
        return 0
    finally:
        if app is not None:
            app.extensions["nvsi.router"].dispose()
            with app.app_context():
                from nvsi.extensions import db as _db

                _db.engine.dispose()
        if not options.keep:
            drop_database(options.pg_admin_url, url)
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
