"""Placements: created only within the rules in force for the tenant on the start date.
Sessions are bound to one tenant; flush, never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.db import ObjectNotFound
from nvsi.rules.services import version_in_force
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.routing import TenantRef
from tenants.assignments.models import Assignment
from tenants.candidates.models import Candidate, CandidateStatus
from tenants.frameworks.services import rules_for
from tenants.placements import rules as checks
from tenants.placements.models import Placement, PlacementStatus

#: Called after a placement is created: (session, tenant, placement, user_id). Documents and
#: guidance moments register here, so creating a placement produces them in the same transaction.
_on_created: list[Callable] = []
#: Sections of the placement page: (session, placement) → (template, context) or None; the
#: template is rendered with ``placement`` and the context.
_detail_sections: list[Callable] = []


def on_placement_created(fn: Callable) -> Callable:
    """Decorator: run ``fn(session, tenant, placement, user_id)`` for every new placement."""
    _on_created.append(fn)
    return fn


def placement_section(fn: Callable) -> Callable:
    """Decorator: ``fn(session, placement)`` gives a (template, context) section of the page."""
    _detail_sections.append(fn)
    return fn


def detail_sections(session: Session, placement: Placement) -> list[tuple[str, dict]]:
    return [section for fn in _detail_sections if (section := fn(session, placement))]


class PlacementNotFound(ObjectNotFound):
    pass


class PlacementError(RuleViolations):
    """The placement breaks rules; ``violations`` lists each with its code and version."""


def get_placement(session: Session, placement_id: int) -> Placement:
    placement = session.get(Placement, placement_id)
    if placement is None:
        raise PlacementNotFound(placement_id)
    return placement


def list_placements(session: Session, *, active_on: dt.date | None = None, candidate_id: int | None = None,
                    assignment_id: int | None = None) -> list[Placement]:
    query = sa.select(Placement).order_by(Placement.start_date.desc(), Placement.id.desc())
    if active_on is not None:
        query = query.where(Placement.status == PlacementStatus.ACTIVE, Placement.start_date <= active_on,
                            Placement.end_date >= active_on)
    if candidate_id is not None:
        query = query.where(Placement.candidate_id == candidate_id)
    if assignment_id is not None:
        query = query.where(Placement.assignment_id == assignment_id)
    return list(session.scalars(query))


def check_placement(session: Session, tenant: TenantRef, data: dict,
                    ignore_id: int | None = None) -> tuple[dt.date, list[Violation]]:
    """Every rule a placement must meet, checked against the rules in force for ``tenant`` on the
    start date: minimum rate, maximum duration for the hours (end date computed), the
    assignment's period and hours, the candidate's other placements. Returns the end date and
    the violations (empty: allowed)."""
    problems: list[Violation] = []
    candidate = session.get(Candidate, data["candidate_id"])
    assignment = session.get(Assignment, data["assignment_id"])
    if candidate is None:
        problems.append(violation("unknown_candidate", "candidate_id", None, None, "Onbekende kandidaat."))
    elif candidate.status is CandidateStatus.LEFT_WELFARE:
        problems.append(violation("candidate_left", "candidate_id", None, None,
                                  "Deze kandidaat is uitgestroomd en kan niet meer geplaatst worden."))
    if assignment is None:
        problems.append(violation("unknown_assignment", "assignment_id", None, None, "Onbekende opdracht."))
    if problems:
        return data["start_date"], problems
    start, hours = data["start_date"], data["hours_per_week"]
    rules = rules_for(session, tenant, start)
    end, found = checks.check_duration(rules, start, hours, data.get("end_date"))
    problems += found
    problems += checks.check_rate(rules, assignment.hourly_rate_cents, "assignment_id")
    if assignment.employer.archived:
        problems.append(violation("employer_archived", "assignment_id", None, None,
                                  "De opdrachtgever van deze opdracht is gearchiveerd."))
    problems += checks.check_within_assignment(start, end, hours, assignment)
    others = [p for p in list_placements(session, candidate_id=candidate.id)
              if p.status is PlacementStatus.ACTIVE and p.id != ignore_id]
    problems += checks.check_overlap(start, end, others)
    return end, problems


def create_placement(session: Session, tenant: TenantRef, data: dict, user_id: int | None) -> Placement:
    """Create a placement within the rules, or raise :class:`PlacementError` listing each rule
    broken. Produces what registered hooks add (the beschikking, the inzetbevestiging, the
    guidance moments) in the same transaction."""
    end, problems = check_placement(session, tenant, data)
    if problems:
        raise PlacementError(problems)
    placement = Placement(
        candidate_id=data["candidate_id"], assignment_id=data["assignment_id"], start_date=data["start_date"],
        end_date=end, hours_per_week=data["hours_per_week"], goals=data.get("goals", ""),
        rules_version=version_in_force(session, data["start_date"]), created_by_user_id=user_id,
    )
    session.add(placement)
    session.flush()
    candidate = session.get(Candidate, data["candidate_id"])
    if candidate.status is CandidateStatus.REGISTERED:
        candidate.status = CandidateStatus.PLACED
    for hook in _on_created:
        hook(session, tenant, placement, user_id)
    session.flush()
    return placement


def end_placement(session: Session, placement: Placement, on: dt.date) -> Placement:
    """End a placement early (on ``on``, inclusive); it can never be extended this way."""
    if placement.status is not PlacementStatus.ACTIVE:
        raise PlacementError([violation("not_active", "status", None, None, "Deze plaatsing loopt niet meer.")])
    if on < placement.start_date or on > placement.end_date:
        raise PlacementError([violation("end_outside", "end_date", None, None,
                                        "Kies een einddatum tussen %(start)s en %(end)s.",
                                        start=placement.start_date.isoformat(), end=placement.end_date.isoformat())])
    placement.end_date = on
    placement.status = PlacementStatus.ENDED
    session.flush()
    return placement
