"""The execution contract with the service company, and the product catalogue.

Schema: execution_contracts (at most one active: partial unique index), contract_versions,
products, product_access_requests (at most one open or granted request per product and
municipality: partial unique index). Data: the catalogue's first product, Flextensie, with the
texts of the NVSI's productenboek (source document 003) and an English translation.

Revision ID: d2b8f6c30002
Revises: a1f3c0d2e001
Create Date: 2026-11-23
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "d2b8f6c30002"
down_revision = "a1f3c0d2e001"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
ACTIVE_ONLY = "status = 'active'"
OPEN_OR_GRANTED = "status IN ('pending', 'granted')"

# Frozen copy of the Flextensie product at the time of this revision (productenboek, 003).
FLEXTENSIE = dict(
    code="flextensie",
    name_nl="Flextensie",
    name_en="Flextensie",
    description_nl=(
        "Flextensie is een re-integratie instrument dat binnen de gemeente ingezet kan worden om de "
        "toegang tot flexibel werk eenvoudiger te maken. Tijdelijk of parttime werken blijkt voor "
        "bijstandsgerechtigden vaak niet aantrekkelijk. Dit brengt vaak inkomensonzekerheid en "
        "administratief gedoe met zich mee, zonder dat de bijstandsgerechtigde er financieel op "
        "vooruit gaat. Tegelijkertijd biedt juist flexibel werk belangrijke kansen als opstap naar "
        "duurzaam vast(er) werk. Flextensie combineert dit door het eenvoudig en lonend te maken voor "
        "kandidaten om werkervaring op te doen op flexwerk."
    ),
    description_en=(
        "Flextensie is a re-integration instrument a municipality can use to make flexible work "
        "easier to access. Temporary or part-time work is often unattractive for people on welfare: "
        "it brings income insecurity and administrative hassle, without leaving them better off "
        "financially. At the same time, flexible work offers real opportunities as a stepping stone "
        "to lasting, (more) permanent work. Flextensie combines the two by making it simple and "
        "rewarding for candidates to gain work experience in flexible jobs."
    ),
    target_group_nl=(
        "Het instrument biedt een opstap naar de arbeidsmarkt voor kandidaten die niet op eigen "
        "kracht of op korte termijn zelfstandig een inkomen op of boven bijstandsniveau kunnen "
        "verdienen. Kandidaten melden zich vrijwillig aan. De gemiddelde bijstandsduur is ca. 3 jaar."
    ),
    target_group_en=(
        "The instrument offers a step towards the labour market for candidates who cannot earn an "
        "income at or above welfare level on their own or in the short term. Candidates register "
        "voluntarily. The average time on welfare is about 3 years."
    ),
    goals_nl=(
        "Het doel van het Flextensie-instrument is het bieden van echte en relevante werkervaring aan "
        "mensen die (vaak al) langdurig afhankelijk zijn van een uitkering, met als uiteindelijk doel "
        "hen weer een plaats te geven op de arbeidsmarkt. Ca. 25-30% van de kandidaten stroomt "
        "tijdens of na een Flextensie-plaatsing uit de uitkering."
    ),
    goals_en=(
        "The goal of the Flextensie instrument is to offer real and relevant work experience to "
        "people who have (often long) depended on a benefit, with the ultimate aim of giving them a "
        "place in the labour market again. About 25-30% of the candidates leave welfare during or "
        "after a Flextensie placement."
    ),
    conditions_nl=(
        "Na implementatie zijn de kosten voor het instrument geheel omzetafhankelijk: alleen wanneer "
        "er plaatsingen zijn, zijn er kosten. De gemeente is voor de beschikbaarstelling van het "
        "Flextensie-instrument een jaarlijkse vergoeding aan de NVSI verschuldigd. De gemeenten die "
        "het instrument toepassen hebben gezamenlijk afspraken gemaakt over de kaders waarbinnen het "
        "instrument kan en mag worden toegepast. Jaarlijks worden er afspraken gemaakt over "
        "gezamenlijke doorontwikkeling. De NVSI heeft met Flextensie Nederland afspraken gemaakt over "
        "support (helpdesk, ondersteuning), applicatieonderhoud, beheer, beschikbaarheid en service "
        "levels aan de administratieve dienstverlening."
    ),
    conditions_en=(
        "After implementation the costs of the instrument depend entirely on revenue: there are "
        "costs only when there are placements. The municipality owes the NVSI an annual fee for "
        "making the Flextensie instrument available. The municipalities that apply the instrument "
        "have jointly agreed on the frameworks within which it can and may be applied. Every year "
        "agreements are made on joint further development. The NVSI has agreed with Flextensie "
        "Nederland on support (helpdesk, assistance), application maintenance, management, "
        "availability and the service levels of the administrative services."
    ),
    delivery_nl=(
        "De gemeente kan het Flextensie-instrument naar eigen inzicht inzetten en binnen de eigen "
        "organisatie uitvoering geven aan het instrument. De gemeente sluit een "
        "gebruikersovereenkomst met de NVSI af. In samenspraak NVSI en de leverende partner "
        "Flextensie Nederland worden afspraken gemaakt over de implementatie. Flextensie Nederland "
        "verzorgt de administratieve afwikkeling van de toepassing van het instrument en ondersteunt "
        "de gemeente bij de implementatie van het instrument in de eigen organisatie. Samen met "
        "andere gemeenten maakt u afspraken over eventuele doorontwikkeling van het "
        "Flextensie-instrument."
    ),
    delivery_en=(
        "The municipality can deploy the Flextensie instrument as it sees fit and carry it out "
        "within its own organisation. The municipality signs a user agreement with the NVSI. The "
        "NVSI and the supplying partner Flextensie Nederland agree together on the implementation. "
        "Flextensie Nederland handles the administration of the instrument's use and supports the "
        "municipality in implementing the instrument in its own organisation. Together with other "
        "municipalities you agree on any further development of the Flextensie instrument."
    ),
    available=True,
)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "execution_contracts",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("service_company", sa.String(200), nullable=False),
        sa.Column("status", _enum("contract_status", "draft", "active", "ended"), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=False),
        sa.Column("review_outcome", _enum("review_outcome", "go", "no_go"), nullable=True),
        sa.Column("review_decided_on", sa.Date(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("review_recorded_by_id", BIGINT, nullable=True),
        sa.Column("created_by_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_contracts")),
        sa.UniqueConstraint("reference", name=op.f("uq_execution_contracts_reference")),
        sa.ForeignKeyConstraint(
            ["review_recorded_by_id"], ["users.id"],
            name=op.f("fk_execution_contracts_review_recorded_by_id_users"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_execution_contracts_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_execution_contracts_period")),
        sa.CheckConstraint(
            "review_date >= start_date AND review_date <= end_date",
            name=op.f("ck_execution_contracts_review_in_period"),
        ),
        sa.CheckConstraint(
            "(review_outcome IS NULL AND review_decided_on IS NULL)"
            " OR (review_outcome IS NOT NULL AND review_decided_on IS NOT NULL)",
            name=op.f("ck_execution_contracts_review_complete"),
        ),
    )
    # The database allows one active contract, whatever the application does.
    op.create_index(
        op.f("uq_execution_contracts_one_active"), "execution_contracts", ["status"], unique=True,
        postgresql_where=sa.text(ACTIVE_ONLY), sqlite_where=sa.text(ACTIVE_ONLY),
    )
    op.create_table(
        "contract_versions",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("contract_id", BIGINT, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("service_fee_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("service_company_contribution_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("helpdesk_response_hours", sa.Integer(), nullable=False),
        sa.Column("availability_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_versions")),
        sa.UniqueConstraint(
            "contract_id", "number", name=op.f("uq_contract_versions_contract_id_number")
        ),
        sa.UniqueConstraint(
            "contract_id", "effective_from", name=op.f("uq_contract_versions_contract_id_effective_from")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["execution_contracts.id"],
            name=op.f("fk_contract_versions_contract_id_execution_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_contract_versions_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_contract_versions_number_positive")),
        sa.CheckConstraint(
            "service_fee_pct >= 0 AND service_fee_pct <= 100",
            name=op.f("ck_contract_versions_service_fee_pct_range"),
        ),
        sa.CheckConstraint(
            "service_company_contribution_pct >= 0 AND service_company_contribution_pct <= 100",
            name=op.f("ck_contract_versions_contribution_pct_range"),
        ),
        sa.CheckConstraint(
            "helpdesk_response_hours > 0", name=op.f("ck_contract_versions_helpdesk_response_hours_positive")
        ),
        sa.CheckConstraint(
            "availability_pct > 0 AND availability_pct <= 100",
            name=op.f("ck_contract_versions_availability_pct_range"),
        ),
    )
    op.create_table(
        "products",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name_nl", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("description_nl", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=True),
        sa.Column("target_group_nl", sa.Text(), nullable=False),
        sa.Column("target_group_en", sa.Text(), nullable=True),
        sa.Column("goals_nl", sa.Text(), nullable=False),
        sa.Column("goals_en", sa.Text(), nullable=True),
        sa.Column("conditions_nl", sa.Text(), nullable=False),
        sa.Column("conditions_en", sa.Text(), nullable=True),
        sa.Column("delivery_nl", sa.Text(), nullable=True),
        sa.Column("delivery_en", sa.Text(), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("code", name=op.f("uq_products_code")),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_products_code_length")),
    )
    op.create_table(
        "product_access_requests",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("product_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("status", _enum("access_status", "pending", "granted", "refused"), nullable=False),
        sa.Column("motivation", sa.Text(), nullable=True),
        sa.Column("requested_by_id", BIGINT, nullable=True),
        sa.Column("requested_at", NOW_TZ, nullable=False),
        sa.Column("decided_by_id", BIGINT, nullable=True),
        sa.Column("decided_at", NOW_TZ, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_access_requests")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_access_requests_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_product_access_requests_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"],
            name=op.f("fk_product_access_requests_requested_by_id_users"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"],
            name=op.f("fk_product_access_requests_decided_by_id_users"), ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL) OR (status <> 'pending' AND decided_at IS NOT NULL)",
            name=op.f("ck_product_access_requests_decided"),
        ),
        sa.CheckConstraint(
            "status <> 'refused' OR decision_note IS NOT NULL",
            name=op.f("ck_product_access_requests_refusal_reason"),
        ),
    )
    op.create_index(
        op.f("ix_product_access_requests_tenant_id"), "product_access_requests", ["tenant_id"]
    )
    # One open (or granted) request per product per municipality, whatever the application does.
    op.create_index(
        op.f("uq_product_access_requests_one_open"), "product_access_requests",
        ["product_id", "tenant_id"], unique=True,
        postgresql_where=sa.text(OPEN_OR_GRANTED), sqlite_where=sa.text(OPEN_OR_GRANTED),
    )

    # Data: the catalogue's first product.
    products = sa.table(
        "products",
        *(sa.column(name, sa.Boolean() if name == "available" else sa.Text()) for name in FLEXTENSIE),
        sa.column("created_at", NOW_TZ),
        sa.column("updated_at", NOW_TZ),
    )
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(products, [{**FLEXTENSIE, "created_at": now, "updated_at": now}])


def downgrade() -> None:
    # The Flextensie row goes with its table.
    op.drop_index(op.f("uq_product_access_requests_one_open"), table_name="product_access_requests")
    op.drop_index(op.f("ix_product_access_requests_tenant_id"), table_name="product_access_requests")
    op.drop_table("product_access_requests")
    op.drop_table("products")
    op.drop_table("contract_versions")
    op.drop_index(op.f("uq_execution_contracts_one_active"), table_name="execution_contracts")
    op.drop_table("execution_contracts")
