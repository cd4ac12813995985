"""User accounts: creation, password hashing (Argon2id) and authentication."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from nvsi.auth.models import Membership, Role, User
from nvsi.rules.violations import RuleViolations, violation
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
#: Longer input is refused before hashing (Argon2 would hash megabytes happily).
MAX_PASSWORD_LENGTH = 1000
#: Marks a password hash that no password matches (an invited user who has not chosen one).
UNUSABLE_PREFIX = "!unusable!"


class AccountError(ValueError):
    """An account cannot be created as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class AccountRefused(RuleViolations):
    """A change to an account was refused (422); each violation names its field."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def unusable_password() -> str:
    """A password hash no password matches; random, so a link made for it dies when it changes."""
    return UNUSABLE_PREFIX + secrets.token_hex(16)


def has_usable_password(user: User) -> bool:
    """Whether the user has chosen a password (an invited user has not, yet)."""
    return not user.password_hash.startswith(UNUSABLE_PREFIX)


def validate_identity(email: str, name: str) -> None:
    """Refuse an address or name no account can have (:class:`AccountRefused`)."""
    problems = []
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        problems.append(violation("invalid_email", "email", None, None, "Vul een geldig e-mailadres in."))
    if not 1 <= len(name) <= 200:
        problems.append(violation("invalid_name", "name", None, None,
                                  "Vul een naam in van ten hoogste 200 tekens."))
    if problems:
        raise AccountRefused(problems)


def password_violations(password: str, confirmation: str | None = None, field: str = "password") -> list:
    """What is wrong with a new password (the same rules wherever one is chosen): at least
    ``MIN_PASSWORD_LENGTH`` characters, at most ``MAX_PASSWORD_LENGTH``, and typed the same twice
    when a ``confirmation`` is asked."""
    problems = []
    if len(password or "") < MIN_PASSWORD_LENGTH:
        problems.append(violation("password_too_short", field, None, None,
                                  "Kies een wachtwoord van minstens %(min)s tekens.", min=MIN_PASSWORD_LENGTH))
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.append(violation("password_too_long", field, None, None,
                                  "Kies een wachtwoord van hoogstens %(max)s tekens.", max=MAX_PASSWORD_LENGTH))
    if confirmation is not None and confirmation != password:
        problems.append(violation("password_mismatch", field + "_confirmation", None, None,
                                  "De twee wachtwoorden zijn niet gelijk."))
    return problems


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("password", f"at most {MAX_PASSWORD_LENGTH} characters")
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


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of the password step: the user if the password was right (the login may
    still need a code), or the end of a lock if the account is locked (now or by this failure)."""

    user: User | None = None
    locked_until: dt.datetime | None = None


def check_password(session: Session, email: str, password: str, now: dt.datetime | None = None) -> PasswordCheck:
    """The password step of a login, with the lockout (:mod:`nvsi.auth.lockout`). An unknown
    address costs the same hash verification and locks the same way as a known one. A locked
    account is not even checked. Rehashes outdated hashes. Flushes; the caller commits (a
    failure too: the count must survive the refused request)."""
    from nvsi.auth import lockout

    user = get_user_by_email(session, email)
    if user is None:
        account = normalise_email(email)
        until = lockout.unknown_locked_until(account)
        if until is None:
            _hasher()  # makes the dummy hash on first use
            _verify(current_app.extensions["nvsi.dummy_hash"], password)
            until = lockout.unknown_failure(account)
        return PasswordCheck(locked_until=until)
    until = lockout.locked_until(user, now)
    if until is not None:
        return PasswordCheck(locked_until=until)
    if not has_usable_password(user):  # invited, no password yet: costs a verification all the same
        _hasher()
        _verify(current_app.extensions["nvsi.dummy_hash"], password)
        return PasswordCheck(locked_until=lockout.record_failure(session, user, now))
    if not _verify(user.password_hash, password):
        return PasswordCheck(locked_until=lockout.record_failure(session, user, now))
    if not user.active:
        return PasswordCheck()
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    return PasswordCheck(user=user)


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (to confirm a sensitive change while logged in)."""
    return has_usable_password(user) and _verify(user.password_hash, password)


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
