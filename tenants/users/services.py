"""A municipality's users: who has access, invitations, deactivation and reactivation.

Accounts and memberships live in the shared schema; everything here is scoped to one tenant
(``tenant_id``), and a user outside it is :class:`TenantUserNotFound` (the ordinary 404), so an
admin of one municipality cannot even learn the ids of another's users.

Deactivating ends access to *this* municipality: the membership moves to ``ended_memberships``
(so the admins still see the person and can reactivate them). If it was the person's only
municipality, the account itself is deactivated and its sessions end (``auth_version``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.auth import invitations
from nvsi.auth.models import EndedMembership, Membership, Role, User
from nvsi.auth.services import AccountRefused, has_usable_password
from nvsi.db import ObjectNotFound
from nvsi.rules.violations import violation
from nvsi.tenancy.routing import TenantRef


class TenantUserNotFound(ObjectNotFound):
    """No user with this id in this municipality (now or formerly)."""


@dataclass(frozen=True)
class TenantUser:
    """A user as seen from one municipality."""

    user: User
    #: ``active``, ``invited`` (no password chosen yet) or ``deactivated``.
    status: str
    #: When access to this municipality ended (deactivated users).
    deactivated_at: dt.datetime | None = None


def _view(user: User, ended_at: dt.datetime | None) -> TenantUser:
    if ended_at is not None or not user.active:
        return TenantUser(user, "deactivated", ended_at)
    return TenantUser(user, "active" if has_usable_password(user) else "invited")


def list_users(session: Session, tenant_id: int) -> list[TenantUser]:
    """Everyone with access to the municipality, and everyone whose access was ended, by name."""
    current = session.scalars(sa.select(User).join(Membership, Membership.user_id == User.id)
                              .where(Membership.tenant_id == tenant_id))
    ended = session.execute(sa.select(User, EndedMembership.ended_at)
                            .join(EndedMembership, EndedMembership.user_id == User.id)
                            .where(EndedMembership.tenant_id == tenant_id))
    users = [_view(u, None) for u in current] + [_view(u, at) for u, at in ended]
    return sorted(users, key=lambda tu: (tu.status == "deactivated", tu.user.name.lower(), tu.user.id))


def get_user(session: Session, tenant_id: int, user_id: int) -> TenantUser:
    """User ``user_id`` as seen from the municipality; :class:`TenantUserNotFound` if they never
    had access to it (or do not exist)."""
    user = session.get(User, user_id)
    if user is None:
        raise TenantUserNotFound(user_id)
    if session.scalar(sa.select(Membership.id).where(Membership.user_id == user_id,
                                                     Membership.tenant_id == tenant_id)) is not None:
        return _view(user, None)
    ended_at = session.scalar(sa.select(EndedMembership.ended_at).where(
        EndedMembership.user_id == user_id, EndedMembership.tenant_id == tenant_id))
    if ended_at is None:
        raise TenantUserNotFound(user_id)
    return _view(user, ended_at)


def invite(session: Session, tenant: TenantRef, data: dict, invited_by: User) -> invitations.Invitation:
    """Invite someone to the municipality as staff or admin (see :func:`nvsi.auth.invitations.invite`)."""
    return invitations.invite_user(session, email=data["email"], name=data["name"], role=Role(data["role"]),
                                   tenant_id=tenant.id, invited_by=invited_by, tenant_name=tenant.name)


def resend_invitation(session: Session, tenant: TenantRef, user_id: int, invited_by: User) -> invitations.Invitation:
    """A new invitation mail for someone who has not chosen a password yet."""
    target = get_user(session, tenant.id, user_id)
    if target.status != "invited":
        raise AccountRefused([violation("not_invited", "user_id", None, None,
                                        "Deze gebruiker heeft de uitnodiging al aangenomen of is gedeactiveerd.")])
    user = target.user
    return invitations.invite_user(session, email=user.email, name=user.name, role=user.role,
                                   tenant_id=tenant.id, invited_by=invited_by, tenant_name=tenant.name)


def deactivate(session: Session, tenant: TenantRef, user_id: int, actor: User) -> TenantUser:
    """End the user's access to the municipality (idempotent). Their only municipality: the
    account is deactivated too and every session of it ends. Nobody deactivates themself."""
    target = get_user(session, tenant.id, user_id)
    user = target.user
    if user.id == actor.id:
        raise AccountRefused([violation("cannot_deactivate_self", "user_id", None, None,
                                        "U kunt uzelf niet deactiveren; vraag een andere beheerder.")])
    if target.deactivated_at is not None:
        return target
    session.execute(sa.delete(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id))
    session.add(EndedMembership(user_id=user.id, tenant_id=tenant.id, ended_by_user_id=actor.id))
    others = session.scalar(sa.select(sa.func.count()).select_from(Membership)
                            .where(Membership.user_id == user.id, Membership.tenant_id != tenant.id))
    account_deactivated = others == 0 and user.role.is_municipal and user.active
    if account_deactivated:
        user.active = False
        user.auth_version += 1  # every session of the account ends now
    session.flush()
    record(session, "user.deactivated", tenant_id=tenant.id, object_type="user", object_id=user.id,
           changes={"account_deactivated": account_deactivated, "other_municipalities": others}, actor=actor)
    return get_user(session, tenant.id, user.id)


def reactivate(session: Session, tenant: TenantRef, user_id: int, actor: User) -> TenantUser:
    """Give a deactivated user access to the municipality again (and reactivate the account if
    it was deactivated). Idempotent."""
    target = get_user(session, tenant.id, user_id)
    if target.status != "deactivated":
        return target
    user = target.user
    invitations.add_membership(session, user, tenant.id)
    account_reactivated = not user.active
    user.active = True
    session.flush()
    record(session, "user.reactivated", tenant_id=tenant.id, object_type="user", object_id=user.id,
           changes={"account_reactivated": account_reactivated}, actor=actor)
    return get_user(session, tenant.id, user.id)
