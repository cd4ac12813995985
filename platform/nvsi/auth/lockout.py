"""Lockout of an account after ``LOGIN_LOCKOUT_THRESHOLD`` failed attempts in a row.

Failed passwords and failed two-factor codes both count; a successful login (both steps)
resets the count. The lock lasts ``LOGIN_LOCKOUT_MINUTES`` and its end is stored on the user
(``locked_until``), so every worker and every restart sees it; it is audited (``user.locked``).

This comes on top of the throttle (:mod:`nvsi.auth.throttle`), which slows down attempts per
address and per account in Redis. An address without an account must not look different:
failures for unknown addresses are counted in the throttle's storage and "lock" the same way,
with the same message, so the lock reveals nothing about which addresses exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.auth.models import User
from nvsi.db import utcnow

#: How long failures of an unknown address are remembered (a known account's count never expires).
UNKNOWN_FAILURE_MEMORY = 24 * 3600


def threshold() -> int:
    """Failed attempts in a row that lock an account."""
    return int(current_app.config["LOGIN_LOCKOUT_THRESHOLD"])


def duration() -> dt.timedelta:
    """How long a lock lasts."""
    return dt.timedelta(minutes=int(current_app.config["LOGIN_LOCKOUT_MINUTES"]))


def locked_until(user: User, now: dt.datetime | None = None) -> dt.datetime | None:
    """The end of the user's lock, if the account is locked now."""
    if user.locked_until is not None and user.locked_until > (now or utcnow()):
        return user.locked_until
    return None


def record_failure(session: Session, user: User, now: dt.datetime | None = None) -> dt.datetime | None:
    """Count a failed attempt (one atomic UPDATE, so parallel attempts all count); at the
    threshold, lock the account, audit it and return the end of the lock."""
    now = now or utcnow()
    count = session.execute(
        sa.update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins).execution_options(synchronize_session=False)
    ).scalar_one()
    user.failed_logins = count
    if count < threshold():
        session.flush()
        return None
    user.locked_until, user.failed_logins = now + duration(), 0
    session.flush()
    record(session, "user.locked", object_type="user", object_id=user.id, actor_label="system:lockout",
           changes={"failed_attempts": count, "locked_until": user.locked_until.isoformat()})
    return user.locked_until


def record_success(user: User) -> None:
    """A successful login: the count starts again."""
    user.failed_logins = 0
    user.locked_until = None


# -- addresses without an account ----------------------------------------------------------------


def _storage():
    return current_app.extensions["nvsi.login_throttle"].storage


def _key(kind: str, account: str) -> str:
    return f"nvsi-lockout/{kind}/" + hashlib.sha256(account.encode()).hexdigest()


def unknown_locked_until(account: str) -> dt.datetime | None:
    """The end of the pretend lock of an address without an account, if it is "locked" now."""
    storage, key = _storage(), _key("until", account)
    if storage.get(key) <= 0:
        return None
    return dt.datetime.fromtimestamp(storage.get_expiry(key), dt.timezone.utc)


def unknown_failure(account: str) -> dt.datetime | None:
    """Count a failure for an address without an account; at the threshold it "locks" as a real
    account would, and the end of that lock is returned."""
    storage = _storage()
    count = storage.incr(_key("failures", account), UNKNOWN_FAILURE_MEMORY)
    if count < threshold():
        return None
    storage.clear(_key("failures", account))
    storage.incr(_key("until", account), duration().total_seconds())
    return unknown_locked_until(account)
