"""Password reset by e-mail.

The request page answers the same whether or not the address has an account (no account
enumeration). An active account gets a mail with a signed link that works for
``PASSWORD_RESET_MAX_AGE_MINUTES`` (60) and once: the token carries a fingerprint of the current
password hash (:mod:`nvsi.auth.tokens`). The new password follows the usual rules, bumps
``auth_version`` (every other session ends) and does not log in: the person logs in as always,
two-factor code included. A reset does not lift a lockout.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from nvsi import mail
from nvsi.audit.services import record
from nvsi.auth import tokens
from nvsi.auth.models import User
from nvsi.auth.services import get_user_by_email, set_password

log = logging.getLogger(__name__)


def max_age() -> dt.timedelta:
    """How long a reset link works."""
    return dt.timedelta(minutes=int(current_app.config["PASSWORD_RESET_MAX_AGE_MINUTES"]))


def request_reset(session: Session, email: str, now: dt.datetime | None = None) -> None:
    """Mail a reset link if ``email`` belongs to an active account; otherwise do nothing. The
    caller says the same in both cases. A mail that fails is logged (no address), not raised."""
    user = get_user_by_email(session, email)
    if user is None or not user.active:
        return
    url = tokens.absolute_url("auth.reset_password", token=tokens.make_token(tokens.PASSWORD_RESET, user, now))
    minutes = int(max_age().total_seconds() // 60)
    with force_locale("nl"):
        subject = _("Nieuw wachtwoord voor NVSI Flextensie")
        body = _(
            "Beste %(name)s,\n\nU (of iemand anders) heeft gevraagd om een nieuw wachtwoord voor uw "
            "account bij NVSI Flextensie. Kies een nieuw wachtwoord via deze link; hij is %(minutes)s "
            "minuten geldig en werkt één keer:\n%(url)s\n\n"
            "Heeft u dit niet gevraagd? Dan kunt u deze e-mail negeren: uw wachtwoord blijft zoals het is.\n\n"
            "Met vriendelijke groet,\nNVSI Flextensie",
            name=user.name, minutes=minutes, url=url)
    try:
        mail.mailer().send(mail.Mail(to=(user.email,), subject=subject, body=body,
                                     headers={"Auto-Submitted": "auto-generated"}))
        sent = True
    except mail.MailError as exc:
        log.warning("password reset mail not sent", extra={"fields": {"user_id": user.id, "error": str(exc)}})
        sent = False
    record(session, "user.password_reset_requested", object_type="user", object_id=user.id,
           changes={"mail_sent": sent}, actor_label="system:password-reset")


def open_reset(session: Session, token: str, now: dt.datetime | None = None) -> User:
    """The account of a genuine, unused, unexpired reset link;
    :class:`~nvsi.auth.tokens.TokenExpired` or :class:`~nvsi.auth.tokens.InvalidToken` otherwise."""
    user = tokens.read_token(session, tokens.PASSWORD_RESET, token, max_age(), now)
    if not user.active:
        raise tokens.InvalidToken(tokens.PASSWORD_RESET)
    return user


def complete_reset(session: Session, user: User, password: str) -> None:
    """Set the new password (checked by the caller): the link dies with the old hash, and every
    session of the user ends. Audited."""
    set_password(user, password)
    session.flush()
    record(session, "user.password_reset", object_type="user", object_id=user.id, actor=user)
