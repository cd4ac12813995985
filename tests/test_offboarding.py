"""Offboarding a member, on both backends, with real commits (a database of its own per backend:
the steps drop schemas and files, which no rolled-back test transaction could undo).

The central test: a tenant with rows in every table of ``TenantBase.metadata`` is offboarded
through the API; its archive, downloaded and opened, holds every row of every table with every
value (read back by column type and compared with what was in the database) and every document.
Also: a crash between steps resumes; the schema is dropped only against a complete, intact
archive; cancel; retention and the purge of expired archives; the pages; the command.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import itertools
import json
import stat
import uuid
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from nvsi import create_app, migrate
from nvsi.audit.models import AuditEvent
from nvsi.auth.models import Membership, Role, User
from nvsi.auth.services import create_user
from nvsi.db import TenantBase, utcnow
from nvsi.extensions import db
from nvsi.members import export, services
from nvsi.members.models import Offboarding
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import RoutingSession, TenantRef, bind_tenant
from tenants.frameworks.models import LocalRuleValue
from tenants.frameworks.services import replace_arrangements
from tenants.reminders.models import Reminder, ReminderKind
from tenants.timesheets.services import approve_all, submit_hours
from tests import factories, invoice_helpers, support

ADMIN = "admin@nvsi.test"
_SLUGS = itertools.count(1)
#: Values for tables the generic filler cannot guess (their check constraints).
OVERRIDES = {
    "premium_accruals": {"amount_cents": 800, "accrued_cents": 800, "flagged_cents": 0, "hours": Decimal("4.00")},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def offboard_app(request, tmp_path_factory):
    """An app on a database of its own (shared schema migrated), with an NVSI administrator."""
    instance = tmp_path_factory.mktemp(f"offboard-{request.param}")
    config = {"TESTING": True, "INSTANCE_PATH": str(instance), "SECRET_KEY": "test-secret",
              "DATA_KEY": support.DATA_KEY, "SESSION_COOKIE_SECURE": False,
              "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024, "PASSWORD_HASH_PARALLELISM": 1,
              "LOGIN_RATE_LIMIT": "10000 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute"}
    if request.param == "postgresql":
        config["DATABASE_URL"] = support.create_pg_database("nvsi_offboard")
    app = create_app(config)
    with app.app_context():
        migrate.upgrade_shared(app.extensions["nvsi.router"])
        admin = create_user(db.session, ADMIN, "Beheerder", support.PASSWORD, Role.NVSI_ADMIN)
        support.enable_two_factor(admin)
        db.session.commit()
        db.session.remove()
    app.config["BACKEND"] = request.param
    yield app
    app.extensions["nvsi.router"].dispose()
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        support.drop_pg_database(config["DATABASE_URL"])


@pytest.fixture
def ctx(offboard_app):
    with offboard_app.app_context():
        yield offboard_app


def _router(app):
    return app.extensions["nvsi.router"]


def _tenant_session(app, ref: TenantRef) -> RoutingSession:
    session = RoutingSession(db, router=_router(app))
    bind_tenant(session, ref.schema)
    return session


# -- a tenant with rows in every table ------------------------------------------------------------


def _base_type(column: sa.Column):
    """The column's type, or what a TypeDecorator (UTCDateTime, Encrypted) stores it as."""
    kind = column.type
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind


def _generic_value(column: sa.Column, session):
    """A valid value for ``column`` by its type (a foreign key takes an existing row)."""
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        return session.scalar(sa.select(sa.func.min(target)))
    kind = _base_type(column)
    if isinstance(kind, sa.Enum):
        return kind.enums[0] if kind.enum_class is None else kind.enum_class(kind.enums[0])
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Uuid):
        return uuid.uuid4()
    if isinstance(kind, sa.JSON):
        return {"test": 1}
    if isinstance(kind, sa.LargeBinary):
        return b"%PDF-1.4 test"
    if isinstance(kind, sa.DateTime):
        return utcnow()
    if isinstance(kind, sa.Date):
        return dt.date(2026, 2, 3)
    if isinstance(kind, sa.Numeric):
        return Decimal("1.00")
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.String):
        return "x" * min(kind.length or 5, 5)
    raise AssertionError(f"no test value for {column}")


def fill_every_table(session, ref: TenantRef) -> None:
    """Rows in every tenant table: the domain's own services where they exist, then a generic
    row (foreign keys to the rows made before) for each table still empty."""
    arrangement = replace_arrangements(session, ref, [{"code": "1", "name": "Arrangement 1"}])[0]
    candidate = factories.candidate(session, iban="NL91ABNA0417164300", arrangement_id=arrangement.id)
    placement = factories.placement(session, ref, candidate_row=candidate)  # documents, guidance moments
    batch = submit_hours(session, ref, placement, [
        {"work_date": placement.start_date, "hours": Decimal("4")},
        {"work_date": placement.start_date + dt.timedelta(days=1), "hours": Decimal("3.25")},
    ], None, today=dt.date(2026, 3, 1))
    approve_all(session, batch, "P. de Vries")
    session.add(LocalRuleValue(key="min_hourly_rate", value=Decimal("20.00"), effective_from=dt.date(2026, 6, 1),
                               note="Lokaal hoger"))
    session.add(Reminder(kind=ReminderKind.END_OF_PLACEMENT, subject_id=placement.id, placement_id=placement.id,
                         candidate_id=candidate.id, due_on=dt.date(2026, 7, 18), recipients="",
                         subject="Einde plaatsing nadert", body="Tekst", send_attempts=0))
    invoice_helpers.invoice(session, placement_id=placement.id)
    session.flush()
    for table in TenantBase.metadata.sorted_tables:
        if session.scalar(sa.select(sa.func.count()).select_from(table)):
            continue
        values = {c.name: _generic_value(c, session) for c in table.columns
                  if not c.primary_key and not c.nullable and c.default is None and c.server_default is None}
        values.update(OVERRIDES.get(table.name, {}))
        session.execute(sa.insert(table).values(**values))
    session.flush()
    empty = [t.name for t in TenantBase.metadata.sorted_tables
             if not session.scalar(sa.select(sa.func.count()).select_from(t))]
    assert not empty, f"tables without rows: {empty}"


def snapshot(app, ref: TenantRef) -> dict[str, list[dict]]:
    """Every row of every tenant table, as Python values, by primary key."""
    session = _tenant_session(app, ref)
    try:
        return {t.name: [dict(r) for r in session.execute(sa.select(t).order_by(*t.primary_key)).mappings()]
                for t in TenantBase.metadata.sorted_tables}
    finally:
        session.close()


def make_member(app, *, users=("staff",)) -> tuple[TenantRef, dict[str, list[dict]]]:
    """A provisioned tenant with rows in every table and users; returns it and its rows."""
    n = next(_SLUGS)
    slug = f"off{n}"
    with app.app_context():
        tenant = tenancy.register_tenant(db.session, slug, f"Gemeente Vertrek {n}", f"GM8{n:03d}")
        db.session.commit()
        ref = tenancy.provision_tenant(db.session, _router(app), slug)
        for name in users:
            create_user(db.session, f"{name}@{slug}.test", name, support.PASSWORD, Role.MUNICIPALITY_ADMIN, [tenant])
        db.session.commit()
        session = _tenant_session(app, ref)
        try:
            fill_every_table(session, ref)
            session.commit()
        finally:
            session.close()
        rows = snapshot(app, ref)
        db.session.remove()
    return ref, rows


def admin_client(app):
    """The administrator's client, logged in once per app (a TOTP code works only once)."""
    if "test.admin_client" not in app.extensions:
        client = app.test_client()
        app.extensions["test.admin_client"] = (client, {"X-CSRFToken": support.login(client, ADMIN)})
    return app.extensions["test.admin_client"]


def schema_exists(app, ref: TenantRef) -> bool:
    router = _router(app)
    if router.is_sqlite:
        return router.tenant_file(ref.schema).exists()
    with router.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": ref.schema}) is not None


def offboarding_of(app, ref: TenantRef) -> Offboarding:
    with app.app_context():
        row = db.session.scalar(sa.select(Offboarding).where(Offboarding.tenant_id == ref.id))
        db.session.expunge_all()
        db.session.remove()
        return row


def actions(app, ref: TenantRef) -> list[str]:
    with app.app_context():
        found = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.tenant_id == ref.id, AuditEvent.action.startswith("member.")).order_by(AuditEvent.id)).all()
        db.session.remove()
        return list(found)


# -- reading the archive back -----------------------------------------------------------------------


def _restored(column: sa.Column, value):
    """A value from the archive, read back by its column's type (what a municipality would do)."""
    if value is None:
        return None
    kind = _base_type(column)
    if isinstance(kind, sa.Enum):
        return value
    if isinstance(kind, sa.DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, sa.Numeric) and kind.asdecimal:
        return Decimal(value)
    if isinstance(kind, sa.Uuid):
        return uuid.UUID(value)
    return value


def _comparable(column: sa.Column, value):
    """A database value in the form :func:`_restored` gives (enums by their stored value)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return str(value)  # decrypted personal data arrives as a str subclass
    return value


def assert_archive_holds(archive: bytes, rows: dict[str, list[dict]]) -> dict:
    """Every table's rows, every value and every file of ``rows`` are in ``archive``; the
    manifest's counts and hashes are right. Returns the manifest."""
    zf = zipfile.ZipFile(io.BytesIO(archive))
    manifest = json.loads(zf.read("manifest.json"))
    assert set(manifest["tables"]) == set(TenantBase.metadata.tables)
    for table in TenantBase.metadata.sorted_tables:
        entry = manifest["tables"][table.name]
        content = zf.read(entry["file"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"] and len(content) == entry["bytes"]
        lines = [json.loads(line) for line in content.decode().splitlines()]
        assert entry["rows"] == len(lines) == len(rows[table.name]), table.name
        for stored, line in zip(rows[table.name], lines, strict=True):
            assert set(line) == {c.name for c in table.columns}, table.name
            for column in table.columns:
                value = line[column.name]
                if isinstance(column.type, sa.LargeBinary):
                    blob = zf.read(value["file"])
                    assert blob == bytes(stored[column.name]), (table.name, column.name)
                    assert hashlib.sha256(blob).hexdigest() == value["sha256"]
                    continue
                assert _restored(column, value) == _comparable(column, stored[column.name]), \
                    (table.name, column.name)
    for entry in manifest["files"]:
        assert hashlib.sha256(zf.read(entry["file"])).hexdigest() == entry["sha256"]
    return manifest


# -- the whole offboarding ------------------------------------------------------------------------


def test_an_offboarded_tenants_export_holds_all_its_rows(offboard_app):
    app = offboard_app
    ref, rows = make_member(app)
    member_user = app.test_client()
    member_token = support.login(member_user, f"staff@{ref.slug}.test")
    assert member_user.get(f"/api/v1/g/{ref.slug}/employers").status_code == 200
    client, headers = admin_client(app)
    base = f"/api/v1/members/{ref.slug}/offboarding"

    started = client.post(base, json={"reason": "Opgezegd per 1 januari"}, headers=headers)
    assert started.status_code == 201 and started.get_json()["next_step"] == "export"
    refused = member_user.post(f"/api/v1/g/{ref.slug}/employers", json={}, headers={"X-CSRFToken": member_token})
    assert refused.status_code == 403 and refused.get_json()["code"] == "tenant_leaving"  # reads only, from now
    for step in ("export", "retention"):
        response = client.post(f"{base}/steps", json={"step": step}, headers=headers)
        assert response.status_code == 200, response.get_json()
    offboarding = client.get(base).get_json()
    assert offboarding["archive_rows"] == {name: len(r) for name, r in rows.items()}
    assert offboarding["retain_until"] == f"{dt.date.today().year + 7}-12-31"

    # The file at rest is encrypted (no zip, no BSN in it) and readable by its owner only.
    stored = offboarding_of(app, ref)
    path = Path(app.instance_path) / "archives" / stored.archive_file
    raw = path.read_bytes()
    assert raw.startswith(export.MAGIC) and b"PK\x03\x04" not in raw[:64]
    bsn = rows["candidates"][0]["bsn"]
    assert bsn.encode() not in raw and b"NL91ABNA0417164300" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    wrong = client.post(f"{base}/steps", json={"step": "drop_schema", "confirm": "iets"}, headers=headers)
    assert wrong.status_code == 422 and "confirm" in wrong.get_json()["errors"]
    assert schema_exists(app, ref)
    dropped = client.post(f"{base}/steps", json={"step": "drop_schema", "confirm": ref.slug}, headers=headers)
    assert dropped.status_code == 200, dropped.get_json()
    assert not schema_exists(app, ref)
    done = client.post(f"{base}/steps", json={"step": "complete"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["next_step"] is None

    download = client.get(f"{base}/archive")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert f'filename="{ref.slug}-export-' in download.headers["Content-Disposition"]
    manifest = assert_archive_holds(download.data, rows)
    assert manifest["tenant"]["slug"] == ref.slug
    candidates = [json.loads(line) for line in zipfile.ZipFile(io.BytesIO(download.data))
                  .read("tables/candidates.jsonl").decode().splitlines()]
    assert candidates[0]["bsn"] == bsn and candidates[0]["iban"] == "NL91ABNA0417164300"  # plain, for the municipality
    documents = [f for f in manifest["files"] if f["file"].startswith("files/documents/")]
    assert len(documents) == len(rows["documents"]) >= 2 and all(f["file"].endswith(".pdf") for f in documents)

    # Offboarded: no way in, memberships ended, user deactivated; the registry row stays.
    assert member_user.get(f"/api/v1/g/{ref.slug}/employers").status_code in (401, 404)
    member = client.get(f"/api/v1/members/{ref.slug}").get_json()
    assert member["status"] == "offboarded" and member["figures"]["candidates"] is None
    with app.app_context():
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(Membership)
                                     .where(Membership.tenant_id == ref.id))
        assert db.session.scalar(sa.select(User.active).where(User.email == f"staff@{ref.slug}.test")) is False
        assert ref.schema not in [t.schema for t in tenancy.tenants_with_schema(db.session)]
        db.session.remove()
    assert actions(app, ref) == ["member.leaving", "member.exported", "member.retention_set",
                                 "member.schema_dropped", "member.offboarded", "member.archive_downloaded"]
    assert app.test_client().get("/readyz").status_code == 200  # the dropped schema is not "behind"


def test_a_crash_between_steps_resumes(offboard_app, monkeypatch):
    app = offboard_app
    ref, rows = make_member(app)
    with app.app_context():
        ctx = services.context(_router(app), "system:test")
        real_retention = services.set_retention

        def crash(*args, **kwargs):
            raise RuntimeError("the pod was killed")

        monkeypatch.setattr(services, "set_retention", crash)
        with pytest.raises(RuntimeError):
            services.run_offboarding(db.session, ref.slug, ctx, reason="Opgezegd")
        db.session.rollback()
        db.session.remove()
    half = offboarding_of(app, ref)
    assert half.exported_at is not None and half.retain_until is None and half.next_step == "retention"
    assert schema_exists(app, ref)

    # Second crash: inside the drop step, after the schema (or file) is removed, before the commit.
    monkeypatch.setattr(services, "set_retention", real_retention)
    real_record = services._record

    def crash_on_drop(session, ctx, action, *args, **kwargs):
        if action == "member.schema_dropped":
            raise RuntimeError("the pod was killed")
        return real_record(session, ctx, action, *args, **kwargs)

    monkeypatch.setattr(services, "_record", crash_on_drop)
    with app.app_context():
        with pytest.raises(RuntimeError):
            services.run_offboarding(db.session, ref.slug, ctx)
        db.session.rollback()
        db.session.remove()
    assert offboarding_of(app, ref).next_step == "drop_schema"

    monkeypatch.setattr(services, "_record", real_record)
    with app.app_context():
        member = services.run_offboarding(db.session, ref.slug, ctx)
        assert member.status is services.MemberStatus.OFFBOARDED
        db.session.remove()
    assert not schema_exists(app, ref)
    # Each step happened once; the export was not redone.
    assert actions(app, ref) == ["member.leaving", "member.exported", "member.retention_set",
                                 "member.schema_dropped", "member.offboarded"]
    with app.app_context():
        member = services.get_member(db.session, ref.slug)
        archive = b"".join(services.archive_chunks(db.session, member, ctx))
        db.session.rollback()
        db.session.remove()
    assert_archive_holds(archive, rows)


def test_the_schema_is_dropped_only_against_a_complete_intact_archive(offboard_app):
    app = offboard_app
    ref, _rows = make_member(app)
    client, headers = admin_client(app)
    base = f"/api/v1/members/{ref.slug}/offboarding"
    client.post(base, json={"reason": "Opgezegd"}, headers=headers)
    early = client.post(f"{base}/steps", json={"step": "drop_schema", "confirm": ref.slug}, headers=headers)
    assert early.status_code == 409 and early.get_json()["code"] == "step_out_of_order"
    for step in ("export", "retention"):
        assert client.post(f"{base}/steps", json={"step": step}, headers=headers).status_code == 200

    def drop():
        return client.post(f"{base}/steps", json={"step": "drop_schema", "confirm": ref.slug}, headers=headers)

    # A row written after the export (a request already under way, say): the archive is outdated.
    with app.app_context():
        session = _tenant_session(app, ref)
        factories.employer(session, name="Te Laat B.V.")
        session.commit()
        session.close()
    refused = drop()
    assert refused.status_code == 409 and refused.get_json()["code"] == "export_outdated"
    assert client.post(f"{base}/steps", json={"step": "export"}, headers=headers).status_code == 200

    path = Path(app.instance_path) / "archives" / offboarding_of(app, ref).archive_file
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert drop().get_json()["code"] == "archive_damaged"
    path.unlink()
    assert drop().get_json()["code"] == "archive_missing"
    assert schema_exists(app, ref)
    path.write_bytes(original)
    assert drop().status_code == 200
    assert not schema_exists(app, ref)


def test_cancel_before_the_drop_gives_the_member_back(offboard_app):
    app = offboard_app
    ref, rows = make_member(app)
    client, headers = admin_client(app)
    base = f"/api/v1/members/{ref.slug}/offboarding"
    client.post(base, json={"reason": "Opgezegd"}, headers=headers)
    client.post(f"{base}/steps", json={"step": "export"}, headers=headers)
    path = Path(app.instance_path) / "archives" / offboarding_of(app, ref).archive_file
    assert path.exists()
    no_reason = client.delete(base, json={}, headers=headers)
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    cancelled = client.delete(base, json={"reason": "Toch gebleven"}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "active"
    assert not path.exists() and offboarding_of(app, ref) is None
    assert snapshot(app, ref) == rows
    member_user = app.test_client()
    token = support.login(member_user, f"staff@{ref.slug}.test")
    created = member_user.post(f"/api/v1/g/{ref.slug}/employers", headers={"X-CSRFToken": token}, json={
        "name": "Weer Actief B.V.", "kvk_number": "65432109", "street_address": "Straat 1", "postal_code": "3511 AB",
        "city": "Utrecht", "contact_email": "f@weeractief.example"})
    assert created.status_code == 201
    assert actions(app, ref)[-1] == "member.offboarding_cancelled"


def test_expired_archives_are_deleted_after_the_retention_period(offboard_app):
    app = offboard_app
    ref, _rows = make_member(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["members", "offboard", ref.slug, "--reason", "Opgezegd"])
    assert result.exit_code != 0 and "--yes" in result.output  # dropping needs a confirmation
    result = runner.invoke(args=["members", "offboard", ref.slug, "--reason", "Opgezegd", "--yes"])
    assert result.exit_code == 0, result.output
    assert "offboarded" in result.output and "next step: none" in result.output
    offboarding = offboarding_of(app, ref)
    path = Path(app.instance_path) / "archives" / offboarding.archive_file
    assert path.exists()
    last_day = offboarding.retain_until
    kept = runner.invoke(args=["members", "purge-archives", "--today", last_day.isoformat()])
    assert kept.exit_code == 0 and path.exists(), kept.output
    purged = runner.invoke(args=["members", "purge-archives", "--today", (last_day + dt.timedelta(days=1)).isoformat()])
    assert purged.exit_code == 0 and f"{ref.slug}: archive deleted" in purged.output
    assert not path.exists() and offboarding_of(app, ref).archive_deleted_at is not None
    again = runner.invoke(args=["members", "purge-archives", "--today", (last_day + dt.timedelta(days=2)).isoformat()])
    assert f"{ref.slug}:" not in again.output
    with app.app_context():
        labels = db.session.execute(sa.select(AuditEvent.action, AuditEvent.actor_label).where(
            AuditEvent.tenant_id == ref.id).order_by(AuditEvent.id)).all()
        db.session.remove()
    assert ("member.archive_deleted", "system:nvsi-cli") in [tuple(r) for r in labels]
    client, _headers = admin_client(app)
    assert client.get(f"/api/v1/members/{ref.slug}/offboarding/archive").get_json()["code"] == "archive_missing"


def test_the_offboarding_pages(offboard_app):
    app = offboard_app
    ref, _rows = make_member(app)
    client, headers = admin_client(app)
    token = headers["X-CSRFToken"]
    page = f"/nvsi/leden/{ref.slug}/vertrek"
    assert client.get(page).status_code == 200
    empty = client.post(page, data={"reason": "", "csrf_token": token})
    assert empty.status_code == 422 and 'href="#reason"' in empty.get_data(as_text=True)
    assert client.post(page, data={"reason": "Opgezegd", "csrf_token": token}).status_code == 302
    for step in ("export", "retention"):
        response = client.post(f"{page}/stap", data={"step": step, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    html = client.get(page).get_data(as_text=True)
    assert "Typ ter bevestiging de korte naam" in html and f"{page}/archief" in html
    unconfirmed = client.post(f"{page}/stap", data={"step": "drop_schema", "confirm": "", "csrf_token": token})
    assert unconfirmed.status_code == 422
    assert 'href="#confirm"' in unconfirmed.get_data(as_text=True) and schema_exists(app, ref)
    twice = client.post(f"{page}/stap", data={"step": "complete", "csrf_token": token})
    assert twice.status_code == 409 and "De volgende stap is: gegevens verwijderen" in twice.get_data(as_text=True)
    archive = client.get(f"{page}/archief")
    assert archive.status_code == 200 and zipfile.is_zipfile(io.BytesIO(archive.data))
    assert client.post(f"{page}/stap", data={"step": "drop_schema", "confirm": ref.slug,
                                             "csrf_token": token}).status_code == 302
    assert client.post(f"{page}/stap", data={"step": "complete", "csrf_token": token}).status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "vertrokken" in html and "Vertrek annuleren" not in html
    overview = client.get("/nvsi/leden").get_data(as_text=True)
    assert ref.name in overview


def test_provisioning_members_cannot_leave(offboard_app):
    app = offboard_app
    with app.app_context():
        tenancy.register_tenant(db.session, "halfway", "Gemeente Halverwege", "GM8999")
        db.session.commit()
        db.session.remove()
    client, headers = admin_client(app)
    refused = client.post("/api/v1/members/halfway/offboarding", json={"reason": "x"}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["code"] == "not_provisioned"
    member = client.get("/api/v1/members/halfway").get_json()
    assert member["status"] == "provisioning" and member["figures"]["candidates"] is None
    with app.app_context():
        assert tenancy.get_tenant(db.session, "halfway").status is TenantStatus.PROVISIONING
        db.session.remove()
