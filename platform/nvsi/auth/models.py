"""Users of the platform and their memberships of tenants (shared schema)."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

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

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

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
