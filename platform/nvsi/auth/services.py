"""User accounts: creation, password hashing (Argon2id) and authentication."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from nvsi.auth.models import Membership, Role, User
from nvsi.db import utcnow
from nvsi.tenancy.models import Tenant


def _hasher() -> PasswordHasher:
    """The app's Argon2id hasher (cost from PASSWORD_HASH_*; argon2-cffi defaults outside an app)."""
    if has_app_context():
        hasher = current_app.extensions.get("nvsi.hasher")
        if hasher is None:
            hasher = PasswordHasher(
                time_cost=current_app.config["PASSWORD_HASH_TIME_COST"],
                memory_cost=current_app.config["PASSWORD_HASH_MEMORY_KIB"],
                parallelism=current_app.config["PASSWORD_HASH_PARALLELISM"],
            )
            current_app.extensions["nvsi.hasher"] = hasher
            #: Verified when the e-mail is unknown, so a login takes as long for unknown accounts.
            current_app.extensions["nvsi.dummy_hash"] = hasher.hash("not a real password")
        return hasher
    return _DEFAULT_HASHER


_DEFAULT_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """An account cannot be created as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(password)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: Role,
    tenants: list[Tenant] = (),
) -> User:
    """Create a user with memberships of ``tenants`` (flushes, does not commit)."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("email", "not an e-mail address")
    if get_user_by_email(session, email) is not None:
        raise AccountError("email", "already in use")
    if role.is_municipal and not tenants:
        raise AccountError("tenants", "a municipality user needs at least one tenant")
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), role=role)
    user.memberships = [Membership(tenant_id=t.id) for t in tenants]
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Rehashes outdated hashes."""
    user = get_user_by_email(session, email)
    if user is None:
        _hasher()  # makes the dummy hash on first use
        _verify(current_app.extensions["nvsi.dummy_hash"] if has_app_context() else "", password)
        return None
    if not _verify(user.password_hash, password) or not user.active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    """Change the password and end every existing session of the user."""
    user.password_hash = hash_password(password)
    user.auth_version += 1


def load_user(session: Session, session_id: str) -> User | None:
    """Flask-Login's loader: ``<id>.<auth_version>``; a stale version logs the session out."""
    user_id, _, version = (session_id or "").partition(".")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = session.get(User, int(user_id))
    if user is None or user.auth_version != int(version):
        return None
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, password or "")
    except (VerificationError, InvalidHashError):
        return False
