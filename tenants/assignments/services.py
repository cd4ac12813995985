"""Operations on assignments. Sessions are bound to one tenant; flush, never commit."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.db import ObjectNotFound, utcnow
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.routing import TenantRef
from tenants.assignments.models import Assignment
from tenants.employers.models import Employer
from tenants.frameworks.services import rules_for
from tenants.placements.rules import check_rate


class AssignmentNotFound(ObjectNotFound):
    pass


class AssignmentError(RuleViolations):
    """Refused: ``violations`` says why."""


def get_assignment(session: Session, assignment_id: int) -> Assignment:
    """The assignment of the session's tenant; :class:`AssignmentNotFound` otherwise."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise AssignmentNotFound(assignment_id)
    return assignment


def list_assignments(session: Session, *, employer_id: int | None = None, current_on: dt.date | None = None):
    """Assignments by start date (newest first); optionally of one employer or running on a date."""
    query = sa.select(Assignment).order_by(Assignment.start_date.desc(), Assignment.id.desc())
    if employer_id is not None:
        query = query.where(Assignment.employer_id == employer_id)
    if current_on is not None:
        query = query.where(Assignment.start_date <= current_on,
                            sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= current_on))
    return list(session.scalars(query))


def create_assignment(session: Session, tenant: TenantRef, data: dict, user_id: int | None) -> Assignment:
    """Record an assignment. Refused below the minimum hourly rate in force on its start date
    (the municipality's stricter rate included), for an archived or unknown employer, or with
    an end before the start. The employer's declaration that the work displaces no regular job
    is recorded with who declared it, when, and who recorded it."""
    problems: list[Violation] = []
    employer = session.get(Employer, data["employer_id"])
    if employer is None:
        problems.append(violation("unknown_employer", "employer_id", None, None, "Onbekende opdrachtgever."))
    elif employer.archived:
        problems.append(violation("employer_archived", "employer_id", None, None,
                                  "Deze opdrachtgever is gearchiveerd."))
    if data.get("end_date") and data["end_date"] < data["start_date"]:
        problems.append(violation("end_before_start", "end_date", None, None, "De einddatum ligt voor de startdatum."))
    problems += check_rate(rules_for(session, tenant, data["start_date"]), data["hourly_rate_cents"],
                           "hourly_rate")
    if problems:
        raise AssignmentError(problems)
    assignment = Assignment(
        employer_id=data["employer_id"], title=data["title"], description=data.get("description", ""),
        hours_per_week=data["hours_per_week"], hourly_rate_cents=data["hourly_rate_cents"],
        location=data["location"], start_date=data["start_date"], end_date=data.get("end_date"),
        displacement_declared_by=data["displacement_declared_by"],
        displacement_declared_at=data.get("displacement_declared_at") or utcnow(),
        displacement_recorded_by=user_id,
    )
    session.add(assignment)
    session.flush()
    return assignment
