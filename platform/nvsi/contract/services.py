"""Operations on the execution contract. Plain functions on a shared-level session; they flush,
never commit (the request commits).

The rule "one active contract" is checked here for a clear message, and enforced by the
database (partial unique index) for the case two requests race past the check.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from nvsi.audit.services import diff, record
from nvsi.auth.models import User
from nvsi.contract.models import (
    ContractStatus,
    ContractVersion,
    ExecutionContract,
    ReviewOutcome,
)
from nvsi.db import ObjectNotFound, savepoint

#: Months from the start to the go/no-go review when none is given (DOMAIN.md, source 001).
REVIEW_AFTER_MONTHS = 6
#: Fields of a contract version that hold its terms.
TERM_FIELDS = ("service_fee_pct", "service_company_contribution_pct", "helpdesk_response_hours", "availability_pct")


class ContractNotFound(ObjectNotFound):
    """No such contract (or, for the contract in force, none is active)."""


class NoContractInForce(LookupError):
    """No active or ended contract covers the date asked for."""


@dataclass
class ContractError(Exception):
    """A change is refused. ``code`` is stable (API and messages), ``field`` names the input
    that caused it (or None), ``params`` fill in the message."""

    code: str
    field: str | None = None
    params: dict | None = None

    #: HTTP status the API answers with.
    status = 409


class ContractConflict(ContractError):
    """The change clashes with the state of the contracts (409)."""


class ContractInvalid(ContractError):
    """A value does not fit the stored contract, e.g. a date outside its period (422)."""

    status = 422


@dataclass(frozen=True)
class ContractTerms:
    """The terms of the execution contract in force on one date: what money code uses."""

    contract_id: int
    reference: str
    version: int
    effective_from: dt.date
    service_fee_pct: Decimal
    service_company_contribution_pct: Decimal
    helpdesk_response_hours: int
    availability_pct: Decimal


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _with_versions():
    return sa.select(ExecutionContract).options(selectinload(ExecutionContract.versions))


def list_contracts(session: Session) -> list[ExecutionContract]:
    """Every contract, newest start first (drafts and ended ones included)."""
    query = _with_versions().order_by(ExecutionContract.start_date.desc(), ExecutionContract.id.desc())
    return list(session.scalars(query))


def get_contract(session: Session, contract_id: int) -> ExecutionContract:
    """The contract ``contract_id``; :class:`ContractNotFound` otherwise."""
    contract = session.scalar(_with_versions().where(ExecutionContract.id == contract_id))
    if contract is None:
        raise ContractNotFound(contract_id)
    return contract


def active_contract(session: Session) -> ExecutionContract:
    """The contract in force (status active); :class:`ContractNotFound` if there is none."""
    contract = session.scalar(_with_versions().where(ExecutionContract.status == ContractStatus.ACTIVE))
    if contract is None:
        raise ContractNotFound("active")
    return contract


def _check_no_other_active(session: Session, contract: ExecutionContract | None = None) -> None:
    query = sa.select(ExecutionContract.reference).where(ExecutionContract.status == ContractStatus.ACTIVE)
    if contract is not None and contract.id is not None:
        query = query.where(ExecutionContract.id != contract.id)
    other = session.scalar(query)
    if other is not None:
        raise ContractConflict("active_contract_exists", "status", {"reference": other})


def _check_no_overlap(session: Session, contract_id: int | None, start: dt.date, end: dt.date) -> None:
    """A contract in force may not cover a day an ended contract covered: the terms on a date
    must come from one contract only."""
    query = sa.select(ExecutionContract.reference).where(
        ExecutionContract.status == ContractStatus.ENDED,
        ExecutionContract.start_date <= end,
        ExecutionContract.end_date >= start,
    )
    if contract_id is not None:
        query = query.where(ExecutionContract.id != contract_id)
    other = session.scalar(query)
    if other is not None:
        raise ContractConflict("period_overlaps", "start_date", {"reference": other})


def _savepoint(session: Session):
    """A savepoint (see :func:`nvsi.db.savepoint`) whose unique-key conflict says which rule a
    concurrent writer got to first: the one active contract, a reference, or an amendment."""

    def conflict(exc: sa.exc.IntegrityError) -> ContractConflict:
        message = str(exc.orig)
        if "one_active" in message or "execution_contracts.status" in message:
            with session.no_autoflush:
                winner = session.scalar(
                    sa.select(ExecutionContract.reference).where(ExecutionContract.status == ContractStatus.ACTIVE)
                )
            return ContractConflict("active_contract_exists", "status", {"reference": winner or "?"})
        if "reference" in message:
            return ContractConflict("reference_taken", "reference")
        # Two amendments at the same moment get the same number: the second is refused.
        return ContractConflict("concurrent_change")

    return savepoint(session, conflict)


def create_contract(session: Session, data: dict, user: User | None) -> ExecutionContract:
    """Register a contract with its first version (the terms from its start date).

    ``data`` is validated input (see ``ContractArgs``); ``status`` is draft or active. A second
    active contract is refused (:class:`ContractConflict` ``active_contract_exists``).
    """
    if session.scalar(sa.select(ExecutionContract.id).where(ExecutionContract.reference == data["reference"])):
        raise ContractConflict("reference_taken", "reference")
    contract = ExecutionContract(
        reference=data["reference"],
        service_company=data["service_company"],
        status=data["status"],
        start_date=data["start_date"],
        end_date=data["end_date"],
        review_date=data.get("review_date") or add_months(data["start_date"], REVIEW_AFTER_MONTHS),
        created_by_id=user.id if user else None,
    )
    if contract.review_date > contract.end_date:
        # The default review date of a contract shorter than 6 months: its last day.
        contract.review_date = contract.end_date
    if contract.status is ContractStatus.ACTIVE:
        _check_no_other_active(session)
        _check_no_overlap(session, None, contract.start_date, contract.end_date)
    version = ContractVersion(
        number=1,
        effective_from=contract.start_date,
        note=data.get("note"),
        created_by_id=contract.created_by_id,
        **{name: data[name] for name in TERM_FIELDS},
    )
    contract.versions.append(version)
    with _savepoint(session):
        session.add(contract)
    record(session, "contract.created", object_type="contract", object_id=contract.id,
           changes={"reference": contract.reference, "status": contract.status, "start_date": contract.start_date,
                    "end_date": contract.end_date, **{name: data[name] for name in TERM_FIELDS}})
    return contract


def update_contract(session: Session, contract: ExecutionContract, data: dict) -> ExecutionContract:
    """Change the period or the review date (e.g. an extension moves the end date).

    An ended contract is closed; the review date is fixed once its outcome is recorded; the
    end date may not fall before a version's effective date.
    """
    if contract.status is ContractStatus.ENDED:
        raise ContractConflict("contract_ended")
    if "review_date" in data and contract.review_outcome is not None:
        raise ContractConflict("review_recorded", "review_date")
    if "reference" in data and data["reference"] != contract.reference:
        taken = sa.select(ExecutionContract.id).where(
            ExecutionContract.reference == data["reference"], ExecutionContract.id != contract.id
        )
        if session.scalar(taken) is not None:
            raise ContractConflict("reference_taken", "reference")
    end_date = data.get("end_date", contract.end_date)
    review_date = data.get("review_date", contract.review_date)
    if end_date <= contract.start_date:
        raise ContractInvalid("end_before_start", "end_date")
    last = max(v.effective_from for v in contract.versions)
    if end_date < last:
        raise ContractInvalid("end_before_version", "end_date", {"date": last.isoformat()})
    if not contract.start_date <= review_date <= end_date:
        raise ContractInvalid("review_outside_period", "review_date")
    if contract.status is ContractStatus.ACTIVE:
        _check_no_overlap(session, contract.id, contract.start_date, end_date)
    before = {key: getattr(contract, key) for key in data}
    with _savepoint(session):
        for key, value in data.items():
            setattr(contract, key, value)
    record(session, "contract.updated", object_type="contract", object_id=contract.id, changes=diff(before, data))
    return contract


def activate_contract(session: Session, contract: ExecutionContract) -> ExecutionContract:
    """Put a draft contract in force. Refused while another contract is active."""
    if contract.status is ContractStatus.ACTIVE:
        return contract
    if contract.status is not ContractStatus.DRAFT:
        raise ContractConflict("not_draft")
    _check_no_other_active(session, contract)
    _check_no_overlap(session, contract.id, contract.start_date, contract.end_date)
    with _savepoint(session):
        contract.status = ContractStatus.ACTIVE
    record(session, "contract.activated", object_type="contract", object_id=contract.id,
           changes={"status": ["draft", "active"]})
    return contract


def end_contract(session: Session, contract: ExecutionContract, end_date: dt.date | None) -> ExecutionContract:
    """End the active contract, on ``end_date`` (default: its planned end date). Ending early
    brings the end date forward; the contract and its versions stay readable."""
    if contract.status is not ContractStatus.ACTIVE:
        raise ContractConflict("not_active")
    if end_date is not None:
        if end_date > contract.end_date:
            raise ContractInvalid("end_after_planned_end", "end_date", {"date": contract.end_date.isoformat()})
        if end_date <= contract.start_date:
            raise ContractInvalid("end_before_start", "end_date")
        last = max(v.effective_from for v in contract.versions)
        if end_date < last:
            raise ContractInvalid("end_before_version", "end_date", {"date": last.isoformat()})
        contract.end_date = end_date
        contract.review_date = min(contract.review_date, end_date)
    contract.status = ContractStatus.ENDED
    session.flush()
    record(session, "contract.ended", object_type="contract", object_id=contract.id,
           changes={"status": ["active", "ended"], "end_date": contract.end_date})
    return contract


def record_review(session: Session, contract: ExecutionContract, data: dict, user: User | None) -> ExecutionContract:
    """Record the outcome of the go/no-go review (once). A no-go does not end the contract by
    itself: the NVSI decides on the end date and ends it."""
    if contract.status is ContractStatus.DRAFT:
        raise ContractConflict("review_on_draft")
    if contract.review_outcome is not None:
        raise ContractConflict("review_recorded", "outcome")
    if data["decided_on"] < contract.start_date:
        raise ContractInvalid("decided_before_start", "decided_on")
    contract.review_outcome = ReviewOutcome(data["outcome"])
    contract.review_decided_on = data["decided_on"]
    contract.review_note = data.get("note")
    contract.review_recorded_by_id = user.id if user else None
    session.flush()
    record(session, "contract.review_recorded", object_type="contract", object_id=contract.id,
           changes={"outcome": contract.review_outcome, "decided_on": contract.review_decided_on})
    return contract


def amend_contract(session: Session, contract: ExecutionContract, data: dict, user: User | None) -> ContractVersion:
    """Add a version with new terms from ``effective_from`` on. Terms not given are carried over
    from the latest version. The date must lie after the latest version's and within the period:
    history is never rewritten."""
    if contract.status is ContractStatus.ENDED:
        raise ContractConflict("contract_ended")
    latest = contract.current_version
    day = data["effective_from"]
    if day <= latest.effective_from:
        raise ContractInvalid("effective_not_after_latest", "effective_from", {"date": latest.effective_from.isoformat()})
    if day > contract.end_date:
        raise ContractInvalid("effective_after_end", "effective_from", {"date": contract.end_date.isoformat()})
    terms = {name: data[name] if data.get(name) is not None else getattr(latest, name) for name in TERM_FIELDS}
    version = ContractVersion(
        number=latest.number + 1,
        effective_from=day,
        note=data.get("note"),
        created_by_id=user.id if user else None,
        **terms,
    )
    with _savepoint(session):
        contract.versions.append(version)
    record(session, "contract.amended", object_type="contract", object_id=contract.id,
           changes={"version": version.number, "effective_from": day, **terms})
    return version


def contract_terms_on(session: Session, day: dt.date) -> ContractTerms:
    """The execution-contract terms in force on ``day``.

    The contract is the one (active or ended, never a draft) whose period covers ``day``; the
    terms come from its latest version with ``effective_from <= day``. Raises
    :class:`NoContractInForce` when no contract covers the day, so money code cannot silently
    compute with missing terms.
    """
    row = session.execute(
        sa.select(ExecutionContract.id, ExecutionContract.reference, ContractVersion)
        .join(ContractVersion, ContractVersion.contract_id == ExecutionContract.id)
        .where(
            ExecutionContract.status.in_([ContractStatus.ACTIVE, ContractStatus.ENDED]),
            ExecutionContract.start_date <= day,
            ExecutionContract.end_date >= day,
            ContractVersion.effective_from <= day,
        )
        # The active contract first (should periods ever overlap), then the latest version.
        .order_by(
            (ExecutionContract.status == ContractStatus.ACTIVE).desc(),
            ExecutionContract.start_date.desc(),
            ContractVersion.effective_from.desc(),
        )
        .limit(1)
    ).first()
    if row is None:
        raise NoContractInForce(day)
    contract_id, reference, version = row
    return ContractTerms(
        contract_id=contract_id,
        reference=reference,
        version=version.number,
        effective_from=version.effective_from,
        **{name: getattr(version, name) for name in TERM_FIELDS},
    )
