"""Operations on employers. Every function takes a session bound to one tenant (so every lookup
is scoped to that tenant), flushes, and never commits: the request or job commits."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from nvsi.db import ObjectNotFound, savepoint, utcnow
from tenants.employers.models import Employer


class EmployerNotFound(ObjectNotFound):
    """No employer with this id in this tenant."""


@dataclass
class EmployerConflict(Exception):
    """The change clashes with existing data; ``field`` names the culprit."""

    field: str
    code: str


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int


def list_employers(
    session: Session,
    *,
    q: str | None = None,
    archived: bool = False,
    page: int = 1,
    per_page: int = 25,
) -> Page:
    """Employers of the tenant, by name; archived ones only when ``archived``; ``q`` searches
    name, KvK number and city."""
    query = sa.select(Employer).where(
        Employer.archived_at.is_not(None) if archived else Employer.archived_at.is_(None)
    )
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Employer.name).like(like),
                Employer.kvk_number.like(like),
                sa.func.lower(Employer.city).like(like),
            )
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Employer.name, Employer.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def get_employer(session: Session, employer_id: int) -> Employer:
    """The employer ``employer_id`` of the session's tenant; :class:`EmployerNotFound` otherwise."""
    employer = session.get(Employer, employer_id)
    if employer is None:
        raise EmployerNotFound(employer_id)
    return employer


def _check_kvk_free(session: Session, kvk_number: str, except_id: int | None = None) -> None:
    query = sa.select(Employer.id).where(Employer.kvk_number == kvk_number)
    if except_id is not None:
        query = query.where(Employer.id != except_id)
    if session.scalar(query) is not None:
        raise EmployerConflict("kvk_number", "kvk_number_taken")


def _in_savepoint(session: Session, change) -> None:
    """``change()`` in a savepoint (see :func:`nvsi.db.savepoint`): a KvK race (two requests with
    the same number) becomes a conflict on that field and the transaction stays usable."""
    with savepoint(session, lambda _exc: EmployerConflict("kvk_number", "kvk_number_taken")):
        change()


def create_employer(session: Session, data: dict) -> Employer:
    """Add an employer from validated input (see ``EmployerArgs``)."""
    _check_kvk_free(session, data["kvk_number"])
    employer = Employer(**data)
    _in_savepoint(session, lambda: session.add(employer))
    return employer


def update_employer(session: Session, employer: Employer, data: dict, version: int) -> Employer:
    """Change an employer. ``version`` is what the editor saw; a newer one means someone else
    changed it meanwhile, and the edit is refused rather than overwriting theirs."""
    if version != employer.version:
        raise EmployerConflict("version", "stale")
    if "kvk_number" in data:
        _check_kvk_free(session, data["kvk_number"], except_id=employer.id)

    def change():
        for key, value in data.items():
            setattr(employer, key, value)

    try:
        _in_savepoint(session, change)
    except StaleDataError as exc:
        raise EmployerConflict("version", "stale") from exc
    return employer


def archive_employer(session: Session, employer: Employer) -> Employer:
    """Archive an employer: it leaves the lists but stays for its invoices and placements."""
    if employer.archived_at is None:
        employer.archived_at = utcnow()
        session.flush()
    return employer


def restore_employer(session: Session, employer: Employer) -> Employer:
    """Bring an archived employer back."""
    if employer.archived_at is not None:
        employer.archived_at = None
        session.flush()
    return employer
