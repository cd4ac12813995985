"""Two-factor login: TOTP codes (RFC 6238, pyotp) and one-time recovery codes.

* Codes change every 30 seconds; one step before and after now are accepted (clock drift).
  A code is accepted only for a time step *after* the last one used, so no code (nor an older
  one) works twice: the step is claimed with one conditional UPDATE, so two requests racing
  with the same code cannot both win.
* The secret is encrypted at rest (:class:`nvsi.crypto.Encrypted`) and never logged or audited.
  Enrolment keeps the new secret apart (``totp_pending_secret``) until a code from the app
  confirms it; the old secret, if any, works until then.
* Ten recovery codes are made at enrolment (and on request), shown once, and stored only as a
  keyed hash (HMAC-SHA256 with a key derived from ``NVSI_DATA_KEY``): each has 50 random bits,
  so a fast keyed hash is as safe as a slow one here and a code is found with one query. Each
  works once; using one is audited.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.auth.models import RecoveryCode, User
from nvsi.crypto import cipher
from nvsi.db import utcnow

#: Seconds per code (RFC 6238's default; what every authenticator app uses).
STEP_SECONDS = 30
#: Steps accepted on either side of now.
WINDOW = 1
#: Recovery codes per set.
RECOVERY_CODE_COUNT = 10
#: Recovery-code alphabet: lower case without look-alikes (0/o, 1/l/i); 31 symbols, 10 of them.
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_TOTP_RE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A new random secret (160 bits, base32)."""
    return pyotp.random_base32()


def time_step(now: dt.datetime | None = None) -> int:
    """The TOTP time step of ``now``."""
    return int((now or utcnow()).timestamp()) // STEP_SECONDS


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_svg(uri: str, label: str) -> Markup:
    """The URI as a QR code in inline SVG (segno), with ``label`` as its accessible name."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def looks_like_totp(code: str) -> bool:
    """Whether the input is shaped like an app code (six digits) rather than a recovery code."""
    return bool(_TOTP_RE.fullmatch(_compact(code)))


def _compact(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _matching_step(secret: str, code: str, now: dt.datetime | None, after: int | None) -> int | None:
    """The time step within the window whose code is ``code`` and that comes after ``after``."""
    code = _compact(code)
    if not _TOTP_RE.fullmatch(code):
        return None
    totp, current = pyotp.TOTP(secret, interval=STEP_SECONDS), time_step(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if (after is None or step > after) and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(session: Session, user: User, step: int) -> bool:
    """Record ``step`` as used, unless a concurrent request got there first."""
    result = session.execute(
        sa.update(User)
        .where(User.id == user.id, sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    session.flush()
    return True


def check_code(session: Session, user: User, code: str, now: dt.datetime | None = None) -> bool:
    """Whether ``code`` is a valid, unused code of the user's confirmed authenticator (and mark
    its time step used)."""
    if not user.two_factor_enabled:
        return False
    step = _matching_step(user.totp_secret, code, now, user.totp_last_step)
    return step is not None and _claim_step(session, user, step)


# -- enrolment ---------------------------------------------------------------------------------


def start_enrolment(user: User) -> str:
    """The secret being enrolled: a new one, or the one already shown (a reload shows the same QR
    code). Flushes nothing: the caller commits."""
    if user.totp_pending_secret is None:
        user.totp_pending_secret = new_secret()
    return user.totp_pending_secret


def confirm_enrolment(session: Session, user: User, code: str, now: dt.datetime | None = None) -> list[str] | None:
    """Confirm the enrolment with a code from the app: the pending secret becomes the user's,
    new recovery codes are made and returned (to show once). None if the code is wrong."""
    secret = user.totp_pending_secret
    if secret is None:
        return None
    step = _matching_step(secret, code, now, None)
    if step is None:
        return None
    replacing = user.two_factor_enabled
    user.totp_secret, user.totp_pending_secret = secret, None
    user.totp_enabled_at, user.totp_last_step = now or utcnow(), step
    session.flush()
    record(session, "user.two_factor_replaced" if replacing else "user.two_factor_enabled",
           object_type="user", object_id=user.id, actor=user)
    return new_recovery_codes(session, user, audit=False)


def disable(session: Session, user: User) -> None:
    """Switch two-factor login off (the caller checked the password, a code and the role)."""
    user.totp_secret = user.totp_pending_secret = None
    user.totp_enabled_at = user.totp_last_step = None
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()
    record(session, "user.two_factor_disabled", object_type="user", object_id=user.id, actor=user)


# -- recovery codes ----------------------------------------------------------------------------


def _hash(code: str) -> str:
    return cipher().lookup_hash("nvsi-recovery-code:" + _compact(code))


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def new_recovery_codes(session: Session, user: User, *, audit: bool = True) -> list[str]:
    """A new set of recovery codes (the old set stops working); returns them in clear, once."""
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    session.flush()
    if audit:
        record(session, "user.recovery_codes_generated", object_type="user", object_id=user.id, actor=user)
    return codes


def remaining_recovery_codes(session: Session, user: User) -> int:
    """How many unused recovery codes the user has."""
    return session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Use one recovery code (marked used in one conditional UPDATE); audited with the number
    left. False for an unknown or used code."""
    if not user.two_factor_enabled or not 8 <= len(_compact(code)) <= 20:
        return False
    result = session.execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    record(session, "user.recovery_code_used", object_type="user", object_id=user.id,
           changes={"remaining": remaining_recovery_codes(session, user)}, actor=user)
    return True


def verify_second_factor(session: Session, user: User, code: str, now: dt.datetime | None = None) -> str | None:
    """Check the code of the login's second step: ``"totp"`` or ``"recovery"`` for the kind that
    worked, None if it did not."""
    if looks_like_totp(code):
        return "totp" if check_code(session, user, code, now) else None
    return "recovery" if use_recovery_code(session, user, code) else None
