"""Rule-set parameters, their versions and values (shared schema). Nothing here is ever updated
or deleted: a change is a new version with an effective date (enforced by the database)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, append_only


def _enum(cls, name: str, length: int = 20) -> sa.Enum:
    return sa.Enum(
        cls, name=name, native_enum=False, create_constraint=True, length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class ValueKind(str, enum.Enum):
    """How a parameter's value is read and shown."""

    #: Euros, two decimals (e.g. the minimum hourly rate).
    MONEY = "money"
    #: A percentage, two decimals (e.g. the contribution).
    PERCENTAGE = "percentage"
    #: A whole number (e.g. days, hours, payment moments).
    INTEGER = "integer"
    #: A number with decimals (e.g. 5.5 months).
    DECIMAL = "decimal"


class Stricter(str, enum.Enum):
    """Which direction a municipality may deviate in its local framework (if at all)."""

    #: A local value may be higher (e.g. a higher minimum hourly rate).
    HIGHER = "higher"
    #: A local value may be lower (e.g. a shorter maximum duration).
    LOWER = "lower"


class RuleParameter(SharedBase):
    """One agreement of the shared rule set, e.g. ``min_hourly_rate``."""

    __tablename__ = "rule_parameters"

    id: Mapped[BigIntPK]
    #: Stable machine name, used in code, the API and violations.
    key: Mapped[str] = mapped_column(sa.String(60), unique=True)
    #: See :class:`ValueKind`.
    kind: Mapped[ValueKind] = mapped_column(_enum(ValueKind, "value_kind"))
    #: Unit shown with the value, e.g. "EUR/uur", "maanden", "%".
    unit: Mapped[str] = mapped_column(sa.String(20))
    #: Lowest allowed value (shared and local); None: no lower bound.
    min_value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 4))
    #: Highest allowed value (shared and local); None: no upper bound.
    max_value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 4))
    #: Direction in which a local framework may be stricter; None: not locally adjustable.
    local_stricter: Mapped[Stricter | None] = mapped_column(_enum(Stricter, "stricter"))
    #: Dutch description.
    description_nl: Mapped[str] = mapped_column(sa.Text)
    #: English description.
    description_en: Mapped[str] = mapped_column(sa.Text)
    #: Where the agreement comes from (document, decision).
    source: Mapped[str | None] = mapped_column(sa.String(200))
    #: Display order.
    position: Mapped[int] = mapped_column(default=0)


class RuleSetVersion(SharedBase):
    """A set of changed values that takes effect on a date. Version 1 sets every parameter."""

    __tablename__ = "rule_set_versions"

    id: Mapped[BigIntPK]
    #: 1, 2, 3, … in order of creation; cited in violations.
    number: Mapped[int] = mapped_column(unique=True)
    #: First day the version's values apply.
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    #: Short title, e.g. "Minimumtarief 2017".
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Why: the decision or document behind it.
    rationale: Mapped[str] = mapped_column(sa.Text, default="")
    #: The collective decision (proposal id) that adopted it, if any.
    proposal_id: Mapped[int | None] = mapped_column(BigIntType)
    #: Who recorded it (user id), if a person did.
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was recorded.
    created_at: Mapped[Created]

    values: Mapped[list[RuleValue]] = relationship(back_populates="version", lazy="selectin")


class RuleValue(SharedBase):
    """The value a version gives one parameter."""

    __tablename__ = "rule_values"

    id: Mapped[BigIntPK]
    #: The version.
    version_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("rule_set_versions.id"))
    #: The parameter.
    parameter_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("rule_parameters.id"), index=True)
    #: The value, exact (never a float).
    value: Mapped[Decimal] = mapped_column(sa.Numeric(14, 4))

    version: Mapped[RuleSetVersion] = relationship(back_populates="values")
    parameter: Mapped[RuleParameter] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("version_id", "parameter_id"),)


append_only(RuleSetVersion.__table__)
append_only(RuleValue.__table__)
