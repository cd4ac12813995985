"""Operations on candidates. Every function takes a session bound to one tenant (so every lookup
is scoped to that municipality), flushes, and never commits: the request or job commits.

A BSN is found through its keyed hash (``bsn_hash``), never by comparing or searching the
encrypted column, and no function here logs or puts a BSN or IBAN into an exception.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from nvsi.crypto import cipher
from nvsi.db import ObjectNotFound, savepoint, utcnow
from tenants.candidates.models import Candidate, CandidateStatus
from tenants.frameworks.models import Arrangement


class CandidateNotFound(ObjectNotFound):
    """No candidate with this id in this tenant."""


@dataclass
class CandidateConflict(Exception):
    """The change clashes with existing data or the candidate's state; ``field`` names the
    culprit and ``code`` the reason (``bsn_taken``, ``stale``, ``status``)."""

    field: str
    code: str


@dataclass
class CandidateInvalid(Exception):
    """Input that is well-formed but not allowed in this tenant (e.g. a retired arrangement)."""

    field: str
    code: str


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int


#: The status changes made here; ``placed`` is set by a placement (tenants.placements).
TRANSITIONS = {
    CandidateStatus.REFERRED_WSP: {CandidateStatus.REGISTERED, CandidateStatus.PLACED},
    CandidateStatus.LEFT_WELFARE: {CandidateStatus.REGISTERED, CandidateStatus.PLACED, CandidateStatus.REFERRED_WSP},
}


def bsn_hash(bsn: str) -> str:
    """The keyed lookup hash of a (normalised) BSN."""
    return cipher().lookup_hash(bsn)


def list_candidates(
    session: Session,
    *,
    q: str | None = None,
    status: CandidateStatus | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page:
    """Candidates of the tenant by family name; ``q`` searches the name (given names, family
    name, or both as written), ``status`` filters."""
    query = sa.select(Candidate)
    if q:
        needle = " ".join(q.lower().split())
        full_name = sa.func.lower(Candidate.first_name + " " + Candidate.last_name)
        query = query.where(sa.or_(
            full_name.contains(needle, autoescape=True),
            sa.func.lower(Candidate.last_name).contains(needle, autoescape=True),
        ))
    if status is not None:
        query = query.where(Candidate.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Candidate.last_name, Candidate.first_name, Candidate.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def get_candidate(session: Session, candidate_id: int) -> Candidate:
    """The candidate ``candidate_id`` of the session's tenant; :class:`CandidateNotFound` otherwise."""
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise CandidateNotFound(candidate_id)
    return candidate


def find_by_bsn(session: Session, bsn: str) -> Candidate | None:
    """The candidate with exactly this (normalised) BSN in the tenant, found by keyed hash."""
    return session.scalar(sa.select(Candidate).where(Candidate.bsn_hash == bsn_hash(bsn)))


def _check_bsn_free(session: Session, digest: str, except_id: int | None = None) -> None:
    query = sa.select(Candidate.id).where(Candidate.bsn_hash == digest)
    if except_id is not None:
        query = query.where(Candidate.id != except_id)
    if session.scalar(query) is not None:
        raise CandidateConflict("bsn", "bsn_taken")


def _check_arrangement(session: Session, arrangement_id: int | None) -> None:
    """An arrangement must be one of the tenant's active ones (retired ones stay only on the
    candidates that already have them)."""
    if arrangement_id is None:
        return
    arrangement = session.get(Arrangement, arrangement_id)
    if arrangement is None or not arrangement.active:
        raise CandidateInvalid("arrangement_id", "unknown_arrangement")


def _flush(session: Session, change=lambda: None) -> None:
    """``change()`` in a savepoint (see :func:`nvsi.db.savepoint`): a race on the BSN hash becomes
    a conflict and the transaction stays usable. The driver's error is not chained: its text
    repeats the statement's parameters (the hash and the ciphertext)."""
    with savepoint(session, lambda _exc: CandidateConflict("bsn", "bsn_taken"), chain=False):
        change()


def register_candidate(session: Session, data: dict, recorded_by: int | None) -> Candidate:
    """Register a candidate from validated input (see ``CandidateArgs``). The voluntary consent
    is recorded now, by ``recorded_by`` (a user id); a BSN already registered in this
    municipality is refused."""
    data = dict(data)
    if not data.pop("consent", False):
        raise CandidateInvalid("consent", "consent_missing")
    digest = bsn_hash(data["bsn"])
    _check_bsn_free(session, digest)
    _check_arrangement(session, data.get("arrangement_id"))
    candidate = Candidate(**data, bsn_hash=digest, consent_at=utcnow(), consent_recorded_by=recorded_by,
                          status=CandidateStatus.REGISTERED)
    _flush(session, lambda: session.add(candidate))
    return candidate


def update_candidate(session: Session, candidate: Candidate, data: dict, version: int) -> Candidate:
    """Change a candidate. ``version`` is what the editor saw; a newer one means someone else
    changed it meanwhile, and the edit is refused rather than overwriting theirs. A new BSN is
    checked against the others of the municipality; the status is changed only through
    :func:`change_status`."""
    if version != candidate.version:
        raise CandidateConflict("version", "stale")
    data = dict(data)
    if "bsn" in data:
        data["bsn_hash"] = bsn_hash(data["bsn"])
        _check_bsn_free(session, data["bsn_hash"], except_id=candidate.id)
    if "arrangement_id" in data and data["arrangement_id"] != candidate.arrangement_id:
        _check_arrangement(session, data["arrangement_id"])

    def change():
        for key, value in data.items():
            setattr(candidate, key, value)

    try:
        _flush(session, change)
    except StaleDataError as exc:
        raise CandidateConflict("version", "stale") from exc
    return candidate


def change_status(
    session: Session,
    candidate: Candidate,
    status: CandidateStatus,
    *,
    left_on: dt.date | None = None,
    left_reason: str | None = None,
) -> Candidate:
    """Refer a candidate to the WSP (*Werkgeversservicepunt*), or record that they left welfare
    (*uitstroom*) on ``left_on`` for ``left_reason``. Allowed from the states in
    :data:`TRANSITIONS`; a candidate who left welfare stays so."""
    if candidate.status not in TRANSITIONS.get(status, set()):
        raise CandidateConflict("status", "status")
    if status is CandidateStatus.LEFT_WELFARE:
        if left_on is None or not left_reason:
            raise CandidateInvalid("left_on" if left_on is None else "left_reason", "left_incomplete")
        if left_on < candidate.registered_on:
            raise CandidateInvalid("left_on", "left_before_registration")
        candidate.left_on, candidate.left_reason = left_on, left_reason
    candidate.status = status
    try:
        session.flush()
    except StaleDataError as exc:
        raise CandidateConflict("version", "stale") from exc
    return candidate
