"""Signed, expiring, single-use links for accounts: the invitation and the password reset.

A token is an itsdangerous signature (keyed with ``SECRET_KEY``, a salt per purpose) over the
user's id and a fingerprint of the user's current password hash. Setting a password changes the
hash, so every earlier link of that user dies at once: a link works once, and a reset link also
dies when the password was changed some other way. No token is stored in the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy.orm import Session

from nvsi.auth.models import User
from nvsi.links import mail_link, signed_serializer

INVITATION = "nvsi.auth.invitation"
PASSWORD_RESET = "nvsi.auth.password-reset"


class InvalidToken(LookupError):
    """The link is not ours, was altered, or was already used (the password changed since)."""


class TokenExpired(InvalidToken):
    """The link is genuine and unused, but older than its lifetime."""


def fingerprint(user: User) -> str:
    """A short digest of the user's password hash: changes whenever the password does."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def make_token(purpose: str, user: User, now: dt.datetime | None = None) -> str:
    """A signed token for ``user`` and ``purpose``, issued ``now`` (default: now)."""
    return signed_serializer(purpose, now).dumps({"u": user.id, "f": fingerprint(user)})


def read_token(session: Session, purpose: str, token: str, max_age: dt.timedelta,
               now: dt.datetime | None = None) -> User:
    """The user a token of ``purpose`` was made for, if it is genuine, unused and not older than
    ``max_age``; :class:`TokenExpired` or :class:`InvalidToken` otherwise."""
    try:
        payload = signed_serializer(purpose, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise TokenExpired(purpose) from exc
    except (BadSignature, UnicodeError) as exc:
        raise InvalidToken(purpose) from exc
    user_id, print_ = (payload.get("u"), payload.get("f")) if isinstance(payload, dict) else (None, None)
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(print_, str):
        raise InvalidToken(purpose)
    user = session.get(User, user_id)
    if user is None or not hmac.compare_digest(fingerprint(user), print_):
        raise InvalidToken(purpose)
    return user


#: An absolute link for a mail (see :func:`nvsi.links.mail_link`).
absolute_url = mail_link
