"""A municipality's local framework, in its own schema."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime, append_only, utcnow


class LocalRuleValue(TenantBase):
    """A stricter local value of a shared parameter, from a date on. Append-only: a change is
    a new row; ``value`` None means "from this date follow the shared value again"."""

    __tablename__ = "local_rule_values"

    id: Mapped[BigIntPK]
    #: The shared parameter's key, e.g. ``min_hourly_rate``.
    key: Mapped[str] = mapped_column(sa.String(60))
    #: The local value; None: follow the shared value.
    value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 4))
    #: First day it applies.
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    #: Why (e.g. the council decision).
    note: Mapped[str] = mapped_column(sa.Text, default="")
    #: Who set it (user id in the shared schema).
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was recorded.
    created_at: Mapped[Created]

    __table_args__ = (sa.Index("ix_local_rule_values_key_effective_from", "key", "effective_from"),)


append_only(LocalRuleValue.__table__)


class Arrangement(TenantBase):
    """The municipality's own classification of distance to the labour market, with the share
    of candidates it aims for (e.g. arrangement 1: 15%, arrangement 3: 85%)."""

    __tablename__ = "arrangements"

    id: Mapped[BigIntPK]
    #: Short code, e.g. "1" or "A3".
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: Name, e.g. "Arrangement 1".
    name: Mapped[str] = mapped_column(sa.String(100))
    #: Target share of candidates in percent; None: no target.
    target_share_pct: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    #: Display order.
    position: Mapped[int] = mapped_column(default=0)
    #: Retired arrangements stay for the candidates that have them.
    active: Mapped[bool] = mapped_column(default=True)


class GuidanceAnchor(str, enum.Enum):
    """What a guidance moment is planned from."""

    REGISTRATION = "registration"
    PLACEMENT_START = "placement_start"
    FIRST_WORKING_DAY = "first_working_day"


class GuidanceStep(TenantBase):
    """One planned guidance moment (*begeleidingsmoment*) of the municipality's schedule."""

    __tablename__ = "guidance_schedule"

    id: Mapped[BigIntPK]
    #: Name, e.g. "Intakegesprek".
    name: Mapped[str] = mapped_column(sa.String(100))
    #: See :class:`GuidanceAnchor`.
    anchor: Mapped[GuidanceAnchor] = mapped_column(
        sa.Enum(GuidanceAnchor, name="guidance_anchor", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e])
    )
    #: Days after (or, negative, before) the anchor.
    offset_days: Mapped[int] = mapped_column(default=0)
    #: Order in the schedule.
    position: Mapped[int] = mapped_column(default=0)


class FrameworkSettings(TenantBase):
    """The rest of the local framework (a single row)."""

    __tablename__ = "framework_settings"

    id: Mapped[BigIntPK]
    #: Agreed minimum number of registrations (aanmeldingen) per half year; None: none agreed.
    min_registrations_per_half_year: Mapped[int | None]
    #: Who receives reminders: e-mail addresses, one per line.
    reminder_recipients: Mapped[str] = mapped_column(sa.Text, default="")
    #: Last change.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Who changed it last (user id).
    updated_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: Optimistic lock.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


#: The default guidance schedule (DOMAIN.md): name, anchor, offset in days.
DEFAULT_GUIDANCE = [
    ("Intakegesprek", GuidanceAnchor.REGISTRATION, 0),
    ("Gesprek voor de start van de plaatsing", GuidanceAnchor.PLACEMENT_START, -3),
    ("Contact na de eerste werkdag", GuidanceAnchor.FIRST_WORKING_DAY, 1),
    ("Evaluatie na 3 maanden", GuidanceAnchor.PLACEMENT_START, 91),
]
