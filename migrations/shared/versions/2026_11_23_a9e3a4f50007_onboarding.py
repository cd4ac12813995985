"""Self-onboarding: sign-up applications, versioned agreement texts and acceptances.

Schema: agreement_texts (append-only), membership_applications (one open application per
municipality: partial unique index), agreement_acceptances, provisioning_jobs and
provisioning_steps (the background provisioning and its visible progress), framework_setup_steps
(the guided local-framework page). Data: version 1 of the user agreement (gebruikersovereenkomst)
and of the membership terms (the 2% contribution), Dutch with an English courtesy translation.

Revision ID: a9e3a4f50007
Revises: a8d2f3e40006
Create Date: 2026-11-23
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "a9e3a4f50007"
down_revision = "a8d2f3e40006"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
OPEN_ONLY = "status IN ('unverified', 'verified')"

# Frozen copy of the texts at the time of this revision. A later wording is a new version (a row
# added by a later revision or by an administrator), never a change to these.
USER_AGREEMENT_NL = """\
1. Partijen. Deze gebruikersovereenkomst geldt tussen de Nederlandse Vereniging voor Sociale Innovatie (NVSI) en de gemeente die zich aanmeldt (de gemeente).

2. Onderwerp. De NVSI stelt het re-integratie-instrument Flextensie en dit platform beschikbaar aan de gemeente. Flextensie Nederland b.v. verzorgt namens de NVSI de administratieve afwikkeling: plaatsingen, uren, facturen aan opdrachtgevers en de uitbetaling van premies aan kandidaten.

3. Gezamenlijke kaders. De gemeente past het instrument toe binnen de afspraken en normen die de leden samen vaststellen (de gedeelde regels). Binnen die kaders stelt de gemeente haar eigen lokale uitvoeringskaders vast; die mogen alleen strenger zijn dan de gedeelde regels.

4. Geldstromen. Alle geldstromen van het instrument lopen, namens de gemeente, via een bankrekening van de NVSI en onder toezicht van de NVSI.

5. Verantwoordelijkheid van de gemeente. De gemeente is verantwoordelijk voor de aanmelding en de motivatiecheck van kandidaten, voor hun begeleiding en voor het vastleggen van het instrument in een verordening.

6. Persoonsgegevens. De gemeente is verwerkingsverantwoordelijke voor de persoonsgegevens van haar kandidaten; de NVSI en Flextensie Nederland verwerken die gegevens in haar opdracht. BSN en IBAN worden versleuteld opgeslagen en alleen gemaskeerd getoond.

7. Kosten. Na de implementatie zijn de kosten van het instrument geheel omzetafhankelijk. De gemeente betaalt de contributie volgens de lidmaatschapsvoorwaarden en een jaarlijkse vergoeding voor de beschikbaarstelling van het instrument, volgens de gedeelde regels.

8. Looptijd. De overeenkomst gaat in op de dag dat de NVSI de aanmelding goedkeurt en loopt voor onbepaalde tijd. Beide partijen kunnen haar schriftelijk opzeggen. Bij het einde ontvangt de gemeente een volledige export van haar gegevens; financiële gegevens worden zeven jaar bewaard."""

USER_AGREEMENT_EN = """\
1. Parties. This user agreement is between the Nederlandse Vereniging voor Sociale Innovatie (NVSI) and the municipality that signs up (the municipality).

2. Subject. The NVSI makes the re-integration instrument Flextensie and this platform available to the municipality. Flextensie Nederland b.v. handles the administration on behalf of the NVSI: placements, hours, invoices to employers and the payment of premiums to candidates.

3. Shared frameworks. The municipality applies the instrument within the agreements and norms the members set together (the shared rules). Within those, the municipality sets its own local frameworks, which may only be stricter than the shared rules.

4. Money flows. All money flows of the instrument run, on behalf of the municipality, through a bank account of the NVSI and under its supervision.

5. The municipality's responsibility. The municipality is responsible for registering candidates and checking their motivation, for guiding them and for laying the instrument down in a by-law (verordening).

6. Personal data. The municipality is the controller of its candidates' personal data; the NVSI and Flextensie Nederland process that data on its behalf. BSN and IBAN are stored encrypted and only ever shown masked.

7. Costs. After implementation the costs of the instrument depend entirely on revenue. The municipality pays the contribution under the membership terms and an annual fee for making the instrument available, under the shared rules.

8. Term. The agreement takes effect on the day the NVSI approves the application and runs for an indefinite period. Either party may end it in writing. At the end the municipality receives a complete export of its data; financial records are kept for seven years."""

MEMBERSHIP_TERMS_NL = """\
1. Lidmaatschap. Met de goedkeuring van haar aanmelding wordt de gemeente lid van de NVSI. De leden beslissen samen over de gedeelde regels en de doorontwikkeling van het instrument.

2. Contributie. De contributie bedraagt 2% van de bruto-omzet die de gemeente met het instrument realiseert. Daarvan draagt Flextensie Nederland b.v. 1% en de gemeente 1%.

3. Verrekening. De contributie wordt niet apart gefactureerd. Zij wordt halfjaarlijks verrekend in de berekening van het resultaat voor de gemeente.

4. Wijziging. De percentages maken deel uit van de gedeelde regels en veranderen alleen door een besluit van de leden. Een nieuwe versie van deze voorwaarden wordt aan de leden voorgelegd.

5. Einde van het lidmaatschap. Bij het einde van het lidmaatschap wordt de contributie over de lopende periode verrekend in de laatste halfjaarlijkse afrekening."""

MEMBERSHIP_TERMS_EN = """\
1. Membership. When its application is approved, the municipality becomes a member of the NVSI. The members decide together on the shared rules and the further development of the instrument.

2. Contribution. The contribution is 2% of the gross revenue the municipality realises with the instrument. Flextensie Nederland b.v. bears 1% of it and the municipality 1%.

3. Settlement. The contribution is not invoiced separately. It is settled every half year in the calculation of the result for the municipality.

4. Changes. The percentages are part of the shared rules and change only by a decision of the members. A new version of these terms is put to the members.

5. End of membership. When the membership ends, the contribution for the current period is settled in the last half-yearly statement."""

TEXTS = [
    ("user_agreement", "Gebruikersovereenkomst Flextensie", "Flextensie user agreement",
     USER_AGREEMENT_NL, USER_AGREEMENT_EN),
    ("membership_terms", "Lidmaatschapsvoorwaarden NVSI (contributie)", "NVSI membership terms (contribution)",
     MEMBERSHIP_TERMS_NL, MEMBERSHIP_TERMS_EN),
]


def _enum(name: str, *values: str, length: int = 20) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


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


def upgrade() -> None:
    op.create_table(
        "agreement_texts",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("kind", _enum("agreement_kind", "user_agreement", "membership_terms", length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title_nl", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("body_nl", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("published_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_texts")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_agreement_texts_kind_version")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_agreement_texts_version_positive")),
    )
    op.create_table(
        "membership_applications",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("status", _enum("application_status", "unverified", "verified", "approved", "rejected",
                                  "expired"), nullable=False),
        sa.Column("cbs_code", sa.String(6), nullable=False),
        sa.Column("municipality_name", sa.String(200), nullable=False),
        sa.Column("oin", sa.String(20), nullable=False),
        sa.Column("contact_name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("contact_phone", sa.String(30), nullable=True),
        sa.Column("billing_email", sa.String(254), nullable=False),
        sa.Column("invoice_address", sa.String(200), nullable=False),
        sa.Column("postal_code", sa.String(7), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("billing_reference", sa.String(100), nullable=True),
        sa.Column("verification_sent_at", NOW_TZ, nullable=True),
        sa.Column("email_verified_at", NOW_TZ, nullable=True),
        sa.Column("verified_by", sa.String(10), nullable=True),
        sa.Column("submitted_at", NOW_TZ, nullable=False),
        sa.Column("decided_at", NOW_TZ, nullable=True),
        sa.Column("decided_by_user_id", BIGINT, nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_applications")),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["users.id"],
            name=op.f("fk_membership_applications_decided_by_user_id_users"), ondelete="SET NULL",
        ),
        sa.CheckConstraint("cbs_code LIKE 'GM____'", name=op.f("ck_membership_applications_cbs_code_format")),
        sa.CheckConstraint("length(oin) = 20", name=op.f("ck_membership_applications_oin_length")),
        sa.CheckConstraint(
            "status <> 'rejected' OR rejection_reason IS NOT NULL",
            name=op.f("ck_membership_applications_rejection_has_reason"),
        ),
        sa.CheckConstraint(
            "status <> 'approved' OR tenant_id IS NOT NULL",
            name=op.f("ck_membership_applications_approval_has_tenant"),
        ),
    )
    op.create_index(op.f("ix_membership_applications_status"), "membership_applications", ["status"])
    op.create_index(op.f("ix_membership_applications_tenant_id"), "membership_applications", ["tenant_id"])
    # One open application per municipality, whatever the application code does.
    op.create_index(
        op.f("uq_membership_applications_open_cbs_code"), "membership_applications", ["cbs_code"], unique=True,
        postgresql_where=sa.text(OPEN_ONLY), sqlite_where=sa.text(OPEN_ONLY),
    )
    op.create_table(
        "agreement_acceptances",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("application_id", BIGINT, nullable=False),
        sa.Column("agreement_text_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("accepted_by_name", sa.String(200), nullable=False),
        sa.Column("accepted_by_email", sa.String(254), nullable=False),
        sa.Column("accepted_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_acceptances")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["membership_applications.id"],
            name=op.f("fk_agreement_acceptances_application_id_membership_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["agreement_text_id"], ["agreement_texts.id"],
            name=op.f("fk_agreement_acceptances_agreement_text_id_agreement_texts"),
        ),
        sa.UniqueConstraint(
            "application_id", "agreement_text_id",
            name=op.f("uq_agreement_acceptances_application_id_agreement_text_id"),
        ),
    )
    op.create_index(op.f("ix_agreement_acceptances_application_id"), "agreement_acceptances", ["application_id"])
    op.create_index(op.f("ix_agreement_acceptances_tenant_id"), "agreement_acceptances", ["tenant_id"])
    op.create_table(
        "provisioning_jobs",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("application_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("slug", sa.String(41), nullable=False),
        sa.Column("status", _enum("provisioning_status", "pending", "running", "done", "failed"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(120), nullable=True),
        sa.Column("lease_until", NOW_TZ, nullable=True),
        sa.Column("link_base_url", sa.String(300), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("invited_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("started_at", NOW_TZ, nullable=True),
        sa.Column("finished_at", NOW_TZ, nullable=True),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_jobs")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["membership_applications.id"],
            name=op.f("fk_provisioning_jobs_application_id_membership_applications"),
        ),
        sa.UniqueConstraint("application_id", name=op.f("uq_provisioning_jobs_application_id")),
    )
    op.create_index(op.f("ix_provisioning_jobs_tenant_id"), "provisioning_jobs", ["tenant_id"])
    op.create_index(op.f("ix_provisioning_jobs_status"), "provisioning_jobs", ["status"])
    op.create_table(
        "provisioning_steps",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("job_id", BIGINT, nullable=False),
        sa.Column("key", sa.String(30), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", _enum("provisioning_step_state", "pending", "running", "done", "failed"), nullable=False),
        sa.Column("started_at", NOW_TZ, nullable=True),
        sa.Column("finished_at", NOW_TZ, nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_steps")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["provisioning_jobs.id"],
            name=op.f("fk_provisioning_steps_job_id_provisioning_jobs"), ondelete="CASCADE",
        ),
        sa.UniqueConstraint("job_id", "key", name=op.f("uq_provisioning_steps_job_id_key")),
    )
    op.create_table(
        "framework_setup_steps",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("step", sa.String(30), nullable=False),
        sa.Column("completed_at", NOW_TZ, nullable=False),
        sa.Column("completed_by_user_id", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework_setup_steps")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_framework_setup_steps_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["completed_by_user_id"], ["users.id"],
            name=op.f("fk_framework_setup_steps_completed_by_user_id_users"), ondelete="SET NULL",
        ),
        sa.UniqueConstraint("tenant_id", "step", name=op.f("uq_framework_setup_steps_tenant_id_step")),
    )

    # Data: version 1 of both texts, then the table refuses changes.
    texts = sa.table(
        "agreement_texts",
        sa.column("kind", sa.String()), sa.column("version", sa.Integer()),
        sa.column("title_nl", sa.String()), sa.column("title_en", sa.String()),
        sa.column("body_nl", sa.Text()), sa.column("body_en", sa.Text()),
        sa.column("published_at", NOW_TZ),
    )
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(texts, [
        {"kind": kind, "version": 1, "title_nl": title_nl, "title_en": title_en, "body_nl": body_nl,
         "body_en": body_en, "published_at": now}
        for kind, title_nl, title_en, body_nl, body_en in TEXTS
    ])
    for statement in _append_only_ddl(op.get_bind().dialect.name, "agreement_texts"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS agreement_texts_append_only ON "agreement_texts"')
        op.execute('DROP TRIGGER IF EXISTS agreement_texts_no_truncate ON "agreement_texts"')
    else:
        op.execute("DROP TRIGGER IF EXISTS agreement_texts_no_update")
        op.execute("DROP TRIGGER IF EXISTS agreement_texts_no_delete")
    op.drop_table("framework_setup_steps")
    op.drop_table("provisioning_steps")
    op.drop_index(op.f("ix_provisioning_jobs_status"), table_name="provisioning_jobs")
    op.drop_index(op.f("ix_provisioning_jobs_tenant_id"), table_name="provisioning_jobs")
    op.drop_table("provisioning_jobs")
    op.drop_index(op.f("ix_agreement_acceptances_tenant_id"), table_name="agreement_acceptances")
    op.drop_index(op.f("ix_agreement_acceptances_application_id"), table_name="agreement_acceptances")
    op.drop_table("agreement_acceptances")
    op.drop_index(op.f("uq_membership_applications_open_cbs_code"), table_name="membership_applications")
    op.drop_index(op.f("ix_membership_applications_tenant_id"), table_name="membership_applications")
    op.drop_index(op.f("ix_membership_applications_status"), table_name="membership_applications")
    op.drop_table("membership_applications")
    op.drop_table("agreement_texts")
