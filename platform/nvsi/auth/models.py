"""Users of the platform and their memberships of tenants (shared schema)."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.crypto import Encrypted
from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime


class Role(str, enum.Enum):
    """What a user may do. Municipality roles act only inside the tenants they are members of."""

    #: Administers the association: members, the rule set, the contract, the ledger.
    NVSI_ADMIN = "nvsi_admin"
    #: The service company's backoffice: processes the work of every member.
    BACKOFFICE = "backoffice"
    #: Runs the instrument for a municipality and manages its users and local framework.
    MUNICIPALITY_ADMIN = "municipality_admin"
    #: Municipality staff (intercedent, werkcoach, accountmanager).
    MUNICIPALITY_STAFF = "municipality_staff"

    @property
    def is_municipal(self) -> bool:
        return self in (Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF)

    @property
    def requires_two_factor(self) -> bool:
        """Roles that reach every municipality or the association: two-factor login is mandatory."""
        return self in (Role.NVSI_ADMIN, Role.BACKOFFICE)


class User(UserMixin, SharedBase):
    """A person who logs in. Passwords are stored as Argon2id hashes only."""

    __tablename__ = "users"

    id: Mapped[BigIntPK]
    #: Login name; stored lower-case.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: Full name, shown in the interface and the audit trail.
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Argon2id hash (argon2-cffi's encoded form).
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    #: See :class:`Role`.
    role: Mapped[Role] = mapped_column(
        sa.Enum(
            Role,
            name="user_role",
            native_enum=False,
            create_constraint=True,
            length=30,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    #: Deactivated users cannot log in and lose their sessions at once.
    active: Mapped[bool] = mapped_column(default=True)
    #: Preferred interface language ("nl" or "en"); None follows the browser.
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    #: Bumped when the password changes: every existing session of the user ends.
    auth_version: Mapped[int] = mapped_column(default=1)
    #: When the account was created.
    created_at: Mapped[Created]
    #: Last successful login.
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: TOTP secret (base32, RFC 6238) of the confirmed authenticator; encrypted at rest.
    totp_secret: Mapped[str | None] = mapped_column(Encrypted)
    #: A secret being enrolled, not yet confirmed with a code; encrypted at rest.
    totp_pending_secret: Mapped[str | None] = mapped_column(Encrypted)
    #: When two-factor login was switched on (the enrolment confirmed); None: off.
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The last TOTP time step (30 s) a code was accepted for: no code of it or before works again.
    totp_last_step: Mapped[int | None] = mapped_column(sa.Integer)
    #: Failed attempts (password or code) in a row since the last successful login.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    #: After too many failures no login is possible until this moment.
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def two_factor_enabled(self) -> bool:
        """Whether logging in asks for a code."""
        return self.totp_enabled_at is not None and self.totp_secret is not None

    def get_id(self) -> str:  # Flask-Login: a new auth_version invalidates old sessions
        return f"{self.id}.{self.auth_version}"


class Membership(SharedBase):
    """A user's membership of a tenant: the tenants whose pages and data they may reach."""

    __tablename__ = "memberships"

    id: Mapped[BigIntPK]
    #: The member.
    user_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: The tenant.
    tenant_id: Mapped[int] = mapped_column(
        BigIntType, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    #: When access was granted.
    created_at: Mapped[Created]

    user: Mapped[User] = relationship(back_populates="memberships")

    __table_args__ = (sa.UniqueConstraint("user_id", "tenant_id"),)


class EndedMembership(SharedBase):
    """A membership a municipality admin ended: kept so the tenant's admins still see the person
    and can reactivate them. The person has no access through it (it is not a :class:`Membership`)."""

    __tablename__ = "ended_memberships"

    id: Mapped[BigIntPK]
    #: The former member.
    user_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: The tenant whose access ended.
    tenant_id: Mapped[int] = mapped_column(
        BigIntType, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    #: When access ended.
    ended_at: Mapped[Created]
    #: Who ended it (no foreign key: the row outlives that account).
    ended_by_user_id: Mapped[int | None] = mapped_column(BigIntType)

    user: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("user_id", "tenant_id"),)


class RecoveryCode(SharedBase):
    """One of a user's one-time recovery codes for two-factor login (when the phone is lost).
    Stored only as a keyed hash; shown once, when made."""

    __tablename__ = "recovery_codes"

    id: Mapped[BigIntPK]
    #: Whose code.
    user_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: HMAC-SHA256 of the code, keyed from NVSI_DATA_KEY (the code has 50 random bits).
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    #: When it was made.
    created_at: Mapped[Created]
    #: When it was used; a used code never works again.
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)
