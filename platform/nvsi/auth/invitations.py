"""Invitations: a new user gets a mail with a link to set a password and two-factor login.

:func:`invite` is what the onboarding (approval of a municipality) and the tenant user pages
call. The link ``/auth/invitation/<token>`` is signed, lasts ``INVITATION_MAX_AGE_DAYS`` (7) and
works once: the token carries a fingerprint of the account's (unusable) password hash, which
changes when the invitee sets a password (see :mod:`nvsi.auth.tokens`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from nvsi import mail
from nvsi.audit.services import record
from nvsi.auth import tokens
from nvsi.auth.models import EndedMembership, Membership, Role, User
from nvsi.auth.services import (
    AccountRefused,
    get_user_by_email,
    has_usable_password,
    normalise_email,
    unusable_password,
    validate_identity,
)
from nvsi.rules.violations import violation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invitation:
    """What an invitation did: the account, the link mailed, and whether the mail went out."""

    user: User
    #: The invitation link; for someone who already has a password: the login page.
    url: str
    #: Whether the mail was handed to the mail server (or to the log backend).
    mail_sent: bool
    #: The person already had an account with a password: only access was added.
    existing_account: bool


def max_age() -> dt.timedelta:
    """How long an invitation link works."""
    return dt.timedelta(days=int(current_app.config["INVITATION_MAX_AGE_DAYS"]))


def invite(session: Session, *, email: str, name: str, role: Role, tenant_id: int | None,
           invited_by: User | None, tenant_name: str | None = None) -> str:
    """Invite a person: create (or re-use, if it exists and has no password yet) the user with an
    unusable password, add the membership of ``tenant_id``, record ``user.invited`` in the audit
    log, mail the invitation (Dutch, with the link) and return the absolute invitation URL.

    Someone who already has an account with a password (a staff member of two municipalities)
    is given the membership and a mail that says so; the URL returned is then the login page.
    Refusals (:class:`~nvsi.auth.services.AccountRefused`, a 422 with the field) for a bad
    address or name, a role that does not fit ``tenant_id``, or an existing account with
    another role. A mail that cannot be sent is logged (no address) and recorded in the audit
    event; the invitation stands and can be sent again. Flushes, does not commit; the mail is
    sent before the caller commits, so a rolled-back invitation leaves a link that opens nothing.
    Outside a request, links need ``MAIL_LINK_BASE_URL``.
    """
    return invite_user(session, email=email, name=name, role=role, tenant_id=tenant_id,
                       invited_by=invited_by, tenant_name=tenant_name).url


def invite_user(session: Session, *, email: str, name: str, role: Role, tenant_id: int | None,
                invited_by: User | None, tenant_name: str | None = None) -> Invitation:
    """:func:`invite`, returning what happened in full (the tenant user pages show it)."""
    email, name = normalise_email(email), (name or "").strip()
    validate_identity(email, name)
    if role.is_municipal and tenant_id is None:
        raise AccountRefused([violation("tenant_required", "tenant_id", None, None,
                                        "Een gebruiker van een gemeente hoort bij een gemeente.")])
    if not role.is_municipal and tenant_id is not None:
        raise AccountRefused([violation("role_not_municipal", "role", None, None,
                                        "Deze rol hoort niet bij een gemeente.")])
    user = get_user_by_email(session, email)
    existing_account = user is not None and has_usable_password(user)
    if user is None:
        user = User(email=email, name=name, password_hash=unusable_password(), role=role)
        session.add(user)
    elif existing_account:
        if user.role is not role:
            raise AccountRefused([violation(
                "account_has_other_role", "email", None, None,
                "Dit e-mailadres heeft al een account met een andere rol; kies die rol of een ander adres.")])
    else:  # invited before, never accepted: the newest invitation decides name and role
        user.name, user.role = name, role
    user.active = True
    session.flush()
    if tenant_id is not None:
        add_membership(session, user, tenant_id)

    if existing_account:
        url = tokens.absolute_url("auth.login")
    else:
        url = tokens.absolute_url("auth.invitation", token=tokens.make_token(tokens.INVITATION, user))
    sent = _send(user, url, invited_by, tenant_name, existing_account)
    record(session, "user.invited", tenant_id=tenant_id, object_type="user", object_id=user.id,
           changes={"email": user.email, "name": user.name, "role": role.value,
                    "existing_account": existing_account, "mail_sent": sent},
           actor=invited_by)
    return Invitation(user, url, sent, existing_account)


def add_membership(session: Session, user: User, tenant_id: int) -> bool:
    """Give ``user`` access to ``tenant_id`` (an ended membership there is lifted). Whether it
    was added (False: already a member)."""
    session.execute(sa.delete(EndedMembership).where(EndedMembership.user_id == user.id,
                                                     EndedMembership.tenant_id == tenant_id))
    exists = session.scalar(sa.select(Membership.id).where(Membership.user_id == user.id,
                                                           Membership.tenant_id == tenant_id))
    if exists is not None:
        return False
    session.add(Membership(user_id=user.id, tenant_id=tenant_id))
    session.flush()
    return True


def _send(user: User, url: str, invited_by: User | None, tenant_name: str | None, existing: bool) -> bool:
    with force_locale("nl"):
        inviter = invited_by.name if invited_by is not None else _("de NVSI")
        where = _(" voor %(tenant)s", tenant=tenant_name) if tenant_name else ""
        days = max_age().days
        if existing:
            subject = _("U heeft toegang tot NVSI Flextensie%(where)s", where=where)
            body = _(
                "Beste %(name)s,\n\n%(inviter)s heeft u toegang gegeven tot NVSI Flextensie%(where)s. "
                "U logt in met uw bestaande account (%(email)s):\n%(url)s\n\n"
                "Met vriendelijke groet,\nNVSI Flextensie",
                name=user.name, inviter=inviter, where=where, email=user.email, url=url)
        else:
            subject = _("Uitnodiging voor NVSI Flextensie%(where)s", where=where)
            body = _(
                "Beste %(name)s,\n\n%(inviter)s nodigt u uit voor NVSI Flextensie%(where)s.\n\n"
                "Via deze persoonlijke link kiest u een wachtwoord en stelt u de tweestapsverificatie "
                "in (met een authenticator-app op uw telefoon). De link is %(days)s dagen geldig en "
                "werkt één keer:\n%(url)s\n\n"
                "Uw inlognaam is dit e-mailadres: %(email)s\n\n"
                "Verwachtte u deze uitnodiging niet? Dan kunt u deze e-mail negeren.\n\n"
                "Met vriendelijke groet,\nNVSI Flextensie",
                name=user.name, inviter=inviter, where=where, days=days, url=url, email=user.email)
    try:
        mail.mailer().send(mail.Mail(to=(user.email,), subject=subject, body=body,
                                     headers={"Auto-Submitted": "auto-generated"}))
    except mail.MailError as exc:
        log.warning("invitation mail not sent", extra={"fields": {"user_id": user.id, "error": str(exc)}})
        return False
    return True


def open_invitation(session: Session, token: str, now: dt.datetime | None = None) -> User:
    """The invited user of a genuine, unused, unexpired invitation link (and still active);
    :class:`~nvsi.auth.tokens.TokenExpired` or :class:`~nvsi.auth.tokens.InvalidToken` otherwise."""
    user = tokens.read_token(session, tokens.INVITATION, token, max_age(), now)
    if has_usable_password(user) or not user.active:
        raise tokens.InvalidToken(tokens.INVITATION)
    return user


def accept(session: Session, user: User, password: str) -> None:
    """The invitee sets a password: the link dies with the old hash. Audited."""
    from nvsi.auth.services import set_password

    set_password(user, password)
    record(session, "user.invitation_accepted", object_type="user", object_id=user.id, actor=user)
