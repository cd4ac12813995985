"""The shared rule set: parameters, dated versions and their values (append-only), seeded with
the agreements from the source documents.

Revision ID: e3c9a7d40003
Revises: d2b8f6c30002
Create Date: 2026-11-23
"""

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "e3c9a7d40003"
down_revision = "d2b8f6c30002"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
APPEND_ONLY = ("rule_set_versions", "rule_values")

# Frozen copy of nvsi.rules.seed at the time of this revision.
PARAMETERS = [
    (
        "min_hourly_rate",
        "money",
        "EUR/uur",
        "0",
        "100",
        "higher",
        "Minimumtarief dat de opdrachtgever per gewerkt uur betaalt.",
        "Minimum rate the employer pays per worked hour.",
        "WIL-memo (000); 002: EUR 12,30 vanaf 2017",
    ),
    (
        "premium_per_hour",
        "money",
        "EUR/uur",
        "0",
        "10",
        None,
        "Premie voor de kandidaat per gewerkt uur, bovenop de uitkering.",
        "Premium for the candidate per worked hour, on top of the benefit.",
        "000",
    ),
    (
        "premium_yearly_cap",
        "money",
        "EUR/jaar",
        "0",
        "10000",
        None,
        "Maximale premie per kandidaat per kalenderjaar (Participatiewet art. 31 lid 2 onder j).",
        "Maximum premium per candidate per calendar year (Participation Act art. 31(2)(j)).",
        "flextensie.nl; Kamervragen 2017Z00070 (bedrag 2019)",
    ),
    (
        "premium_payment_moments",
        "integer",
        "per jaar",
        "1",
        "2",
        None,
        "Aantal momenten per jaar waarop gespaarde premie wordt uitbetaald (ten hoogste 2).",
        "Number of moments per year at which saved premium is paid out (at most 2).",
        "004; flextensie.nl",
    ),
    (
        "max_months_part_time",
        "decimal",
        "maanden",
        "1",
        "6",
        "lower",
        "Maximale duur van een plaatsing bij ten hoogste het voltijdgrens-aantal uren per week.",
        "Maximum duration of a placement at or below the full-time threshold of hours per week.",
        "002",
    ),
    (
        "max_months_full_time",
        "decimal",
        "maanden",
        "1",
        "3",
        "lower",
        "Maximale duur van een plaatsing bij meer uren per week dan de voltijdgrens.",
        "Maximum duration of a placement above the full-time threshold of hours per week.",
        "002",
    ),
    (
        "full_time_hours_threshold",
        "decimal",
        "uur/week",
        "1",
        "40",
        "lower",
        "Voltijdgrens: meer uren per week dan dit telt als voltijd (precies 28 uur is deeltijd).",
        "Full-time threshold: more hours per week than this count as full time (exactly 28 is part time).",
        "002; besluit over precies 28 uur: zie docs/rules.md",
    ),
    (
        "reminder_end_months",
        "decimal",
        "maanden",
        "1",
        "6",
        "lower",
        "Signaal 'einde plaatsing': zoveel maanden na de start.",
        "'End of placement' reminder: this many months after the start.",
        "002",
    ),
    (
        "reminder_long_hours_months",
        "decimal",
        "maanden",
        "0.5",
        "3",
        "lower",
        "Signaal bij veel uren: zoveel maanden na de eerste werkdag.",
        "Reminder for many hours: this many months after the first working day.",
        "002",
    ),
    (
        "reminder_long_hours_threshold",
        "decimal",
        "uur/week",
        "1",
        "40",
        "lower",
        "Het signaal bij veel uren geldt bij meer uren per week dan dit.",
        "The many-hours reminder applies above this many hours per week.",
        "002",
    ),
    (
        "wsp_referral_months",
        "decimal",
        "maanden",
        "1",
        "6",
        "lower",
        "Doorverwijzing naar het WSP na zoveel maanden boven de urengrens.",
        "Referral to the WSP after this many months above the hours threshold.",
        "002",
    ),
    (
        "wsp_referral_hours",
        "decimal",
        "uur/week",
        "1",
        "40",
        "lower",
        "Urengrens voor doorverwijzing naar het WSP: meer uren per week dan dit.",
        "Hours threshold for referral to the WSP: more hours per week than this.",
        "002",
    ),
    (
        "contribution_pct",
        "percentage",
        "%",
        "0",
        "10",
        None,
        "Contributie: percentage van de bruto-omzet van de gemeente.",
        "Contribution: percentage of the municipality's gross revenue.",
        "004",
    ),
    (
        "contribution_municipality_pct",
        "percentage",
        "%",
        "0",
        "10",
        None,
        "Deel van de contributie dat de gemeente draagt.",
        "Part of the contribution the municipality bears.",
        "004",
    ),
    (
        "contribution_service_company_pct",
        "percentage",
        "%",
        "0",
        "10",
        None,
        "Deel van de contributie dat Flextensie draagt (uit haar vergoeding).",
        "Part of the contribution the service company bears (out of its fee).",
        "004",
    ),
    (
        "vat_rate_pct",
        "percentage",
        "%",
        "0",
        "30",
        None,
        "Btw-tarief op facturen aan opdrachtgevers.",
        "VAT rate on invoices to employers.",
        "Wet OB, algemeen tarief",
    ),
    (
        "annual_fee",
        "money",
        "EUR/jaar",
        "0",
        "100000",
        None,
        "Jaarlijkse vergoeding van een gemeente aan de NVSI voor het beschikbaar stellen van het instrument.",
        "Annual fee a municipality pays the NVSI for making the instrument available.",
        "003 (bedrag niet genoemd: door de leden vast te stellen)",
    ),
    (
        "employer_payment_term_days",
        "integer",
        "dagen",
        "7",
        "60",
        None,
        "Betaaltermijn van facturen aan opdrachtgevers.",
        "Payment term of invoices to employers.",
        "marktpraktijk flexplatforms (14 of 30 dagen)",
    ),
    (
        "timesheet_approval_days",
        "integer",
        "dagen",
        "1",
        "14",
        None,
        "Termijn waarbinnen de opdrachtgever uren goedkeurt of afwijst.",
        "Period within which the employer approves or rejects hours.",
        "marktpraktijk flexplatforms",
    ),
    (
        "vote_quorum_pct",
        "percentage",
        "%",
        "1",
        "100",
        None,
        "Quorum: deel van de actieve leden dat moet stemmen (voor, tegen of onthouding).",
        "Quorum: share of the active members that must vote (for, against or abstain).",
        "besluitvorming leden",
    ),
    (
        "vote_majority_pct",
        "percentage",
        "%",
        "50",
        "100",
        None,
        "Aangenomen als 'voor' meer dan dit percentage is van de stemmen voor en tegen.",
        "Adopted when 'for' is more than this percentage of the votes for and against.",
        "besluitvorming leden",
    ),
    (
        "voting_window_days",
        "integer",
        "dagen",
        "3",
        "90",
        None,
        "Standaardduur van een stemming.",
        "Default length of a vote.",
        "besluitvorming leden",
    ),
]
VERSIONS = [
    (
        1,
        "2016-01-01",
        "Startafspraken Flextensie",
        "De afspraken uit de WIL-memo en de toepassing van de Participatiewet (DOMAIN.md).",
        {
            "annual_fee": "0.00",
            "contribution_municipality_pct": "1.00",
            "contribution_pct": "2.00",
            "contribution_service_company_pct": "1.00",
            "employer_payment_term_days": "14",
            "full_time_hours_threshold": "28",
            "max_months_full_time": "3",
            "max_months_part_time": "6",
            "min_hourly_rate": "12.00",
            "premium_payment_moments": "2",
            "premium_per_hour": "2.00",
            "premium_yearly_cap": "2500.00",
            "reminder_end_months": "5.5",
            "reminder_long_hours_months": "2.5",
            "reminder_long_hours_threshold": "24",
            "timesheet_approval_days": "7",
            "vat_rate_pct": "21.00",
            "vote_majority_pct": "50",
            "vote_quorum_pct": "50",
            "voting_window_days": "14",
            "wsp_referral_hours": "20",
            "wsp_referral_months": "2",
        },
    ),
    (
        2,
        "2017-01-01",
        "Minimumtarief 2017",
        "Het wettelijk minimumloon steeg; het minimumtarief werd EUR 12,30 per uur (002).",
        {"min_hourly_rate": "12.30"},
    ),
]


def _append_only_ddl(dialect, table):
    """Frozen copy of nvsi.db.append_only_ddl (runs inside the target schema)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION nvsi_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION nvsi_append_only()",
            f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION nvsi_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END",
    ]


def _enum(name, values, length=20):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    parameters = op.create_table(
        "rule_parameters",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("kind", _enum("value_kind", ["money", "percentage", "integer", "decimal"]), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("min_value", sa.Numeric(14, 4), nullable=True),
        sa.Column("max_value", sa.Numeric(14, 4), nullable=True),
        sa.Column("local_stricter", _enum("stricter", ["higher", "lower"]), nullable=True),
        sa.Column("description_nl", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_parameters")),
        sa.UniqueConstraint("key", name=op.f("uq_rule_parameters_key")),
    )
    versions = op.create_table(
        "rule_set_versions",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("proposal_id", BIGINT, nullable=True),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_set_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_rule_set_versions_number")),
    )
    values = op.create_table(
        "rule_values",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("version_id", BIGINT, nullable=False),
        sa.Column("parameter_id", BIGINT, nullable=False),
        sa.Column("value", sa.Numeric(14, 4), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_values")),
        sa.UniqueConstraint(
            "version_id", "parameter_id", name=op.f("uq_rule_values_version_id_parameter_id")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["rule_set_versions.id"], name=op.f("fk_rule_values_version_id_rule_set_versions")
        ),
        sa.ForeignKeyConstraint(
            ["parameter_id"], ["rule_parameters.id"], name=op.f("fk_rule_values_parameter_id_rule_parameters")
        ),
    )
    op.create_index(op.f("ix_rule_values_parameter_id"), "rule_values", ["parameter_id"])
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in _append_only_ddl(dialect, table):
            op.execute(statement)

    # Data: the parameters and the first versions.
    op.bulk_insert(
        parameters,
        [
            dict(
                id=i + 1,
                key=k,
                kind=kind,
                unit=unit,
                min_value=Decimal(lo) if lo is not None else None,
                max_value=Decimal(hi) if hi is not None else None,
                local_stricter=strict,
                description_nl=nl,
                description_en=en,
                source=src,
                position=i + 1,
            )
            for i, (k, kind, unit, lo, hi, strict, nl, en, src) in enumerate(PARAMETERS)
        ],
    )
    ids = {p[0]: i + 1 for i, p in enumerate(PARAMETERS)}
    now = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    op.bulk_insert(
        versions,
        [
            dict(
                id=n, number=n, effective_from=dt.date.fromisoformat(d), title=t, rationale=r, created_at=now
            )
            for n, d, t, r, _ in VERSIONS
        ],
    )
    op.bulk_insert(
        values,
        [
            dict(version_id=n, parameter_id=ids[k], value=Decimal(v))
            for n, _, _, _, vals in VERSIONS
            for k, v in vals.items()
        ],
    )
    if dialect == "postgresql":  # explicit ids were inserted: move the identities past them
        for table in ("rule_parameters", "rule_set_versions"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"')
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_index(op.f("ix_rule_values_parameter_id"), table_name="rule_values")
    op.drop_table("rule_values")
    op.drop_table("rule_set_versions")
    op.drop_table("rule_parameters")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS nvsi_append_only()")
