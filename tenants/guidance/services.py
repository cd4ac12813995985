"""Guidance moments: planned when a placement is created, from the local framework's schedule;
their outcome recorded by staff. Sessions are bound to one tenant; flush, never commit.

Anchors: ``registration`` is the candidate's registration date; ``placement_start`` the
placement's start date; ``first_working_day`` the placement's first working day, or its start date
while that is not known — :func:`reschedule_first_working_day` moves those moments when it is set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from nvsi.db import ObjectNotFound, utcnow
from nvsi.rules.violations import RuleViolations, violation
from nvsi.tenancy.routing import TenantRef
from tenants.frameworks.models import GuidanceAnchor
from tenants.frameworks.services import guidance_schedule
from tenants.guidance.models import GuidanceMoment
from tenants.placements.models import Placement, PlacementStatus
from tenants.placements.services import on_placement_created


class MomentNotFound(ObjectNotFound):
    """No guidance moment with this id in this tenant."""


class GuidanceError(RuleViolations):
    """An outcome was refused; ``violations`` says why."""


@dataclass(frozen=True)
class PlannedMoment:
    """A moment of the schedule, applied to one placement."""

    name: str
    anchor: GuidanceAnchor
    offset_days: int
    position: int
    planned_on: dt.date


def anchor_date(placement: Placement, anchor: GuidanceAnchor) -> dt.date:
    """The day a moment with ``anchor`` counts from, for ``placement``."""
    if anchor is GuidanceAnchor.REGISTRATION:
        return placement.candidate.registered_on
    if anchor is GuidanceAnchor.FIRST_WORKING_DAY:
        return placement.first_working_day or placement.start_date
    return placement.start_date


def plan(session: Session, placement: Placement) -> list[PlannedMoment]:
    """The municipality's current schedule applied to ``placement`` (nothing stored)."""
    return [
        PlannedMoment(step.name, step.anchor, step.offset_days, step.position,
                      anchor_date(placement, step.anchor) + dt.timedelta(days=step.offset_days))
        for step in guidance_schedule(session)
    ]


def _registration_moments_elsewhere(session: Session, placement: Placement) -> set[str]:
    """Names of registration-anchored moments the candidate already has on another placement:
    an intake belongs to the registration, not to every placement."""
    rows = session.scalars(
        sa.select(GuidanceMoment.name)
        .join(Placement, GuidanceMoment.placement_id == Placement.id)
        .where(Placement.candidate_id == placement.candidate_id, Placement.id != placement.id,
               GuidanceMoment.anchor == GuidanceAnchor.REGISTRATION)
    )
    return set(rows)


def schedule_moments(session: Session, placement: Placement) -> list[GuidanceMoment]:
    """Store the moments of ``placement`` from the schedule in force now. A registration-anchored
    moment (the intake) the candidate already has on an earlier placement is not planned again."""
    skip = _registration_moments_elsewhere(session, placement)
    moments = [
        GuidanceMoment(placement_id=placement.id, name=p.name, anchor=p.anchor, offset_days=p.offset_days,
                       position=p.position, planned_on=p.planned_on, outcome="")
        for p in plan(session, placement)
        if not (p.anchor is GuidanceAnchor.REGISTRATION and p.name in skip)
    ]
    session.add_all(moments)
    session.flush()
    return moments


@on_placement_created
def _schedule_for_new_placement(session: Session, tenant: TenantRef, placement: Placement, user_id) -> None:
    schedule_moments(session, placement)


def moments_for(session: Session, placement_id: int) -> list[GuidanceMoment]:
    """The moments of a placement, in planned order."""
    return list(session.scalars(
        sa.select(GuidanceMoment).where(GuidanceMoment.placement_id == placement_id)
        .order_by(GuidanceMoment.planned_on, GuidanceMoment.position, GuidanceMoment.id)
    ))


def get_moment(session: Session, moment_id: int) -> GuidanceMoment:
    """The moment ``moment_id`` of the session's tenant; :class:`MomentNotFound` otherwise."""
    moment = session.get(GuidanceMoment, moment_id)
    if moment is None:
        raise MomentNotFound(moment_id)
    return moment


def reschedule_first_working_day(session: Session, placement: Placement) -> list[GuidanceMoment]:
    """Move the open moments anchored on the first working day to the placement's (new) first
    working day; call it whenever ``placement.first_working_day`` is set or changed. Moments
    already done keep their date. Returns the moments moved."""
    moved = []
    for moment in moments_for(session, placement.id):
        if moment.anchor is not GuidanceAnchor.FIRST_WORKING_DAY or moment.done_on is not None:
            continue
        planned = anchor_date(placement, moment.anchor) + dt.timedelta(days=moment.offset_days)
        if planned != moment.planned_on:
            moment.planned_on = planned
            moved.append(moment)
    session.flush()
    return moved


def record_outcome(session: Session, moment: GuidanceMoment, data: dict, user_id: int | None,
                   today: dt.date | None = None) -> GuidanceMoment:
    """Record (or correct) what came out of a moment: the day it took place (not in the future),
    the outcome, and whether the assignment still serves the re-integration goals."""
    today = today or dt.date.today()
    problems = []
    if data["done_on"] > today:
        problems.append(violation("done_in_future", "done_on", None, None,
                                  "Een begeleidingsmoment kan niet in de toekomst hebben plaatsgevonden "
                                  "(uiterlijk %(today)s).", today=today.isoformat()))
    if not data["outcome"].strip():
        problems.append(violation("outcome_missing", "outcome", None, None,
                                  "Beschrijf de uitkomst van het gesprek."))
    if problems:
        raise GuidanceError(problems)
    moment.done_on = data["done_on"]
    moment.outcome = data["outcome"].strip()
    moment.still_serves_goals = data.get("still_serves_goals")
    moment.recorded_by_user_id = user_id
    moment.recorded_at = utcnow()
    session.flush()
    return moment


def _open_moments(today: dt.date):
    return (
        sa.select(GuidanceMoment)
        .join(Placement, GuidanceMoment.placement_id == Placement.id)
        .where(GuidanceMoment.done_on.is_(None), Placement.status != PlacementStatus.CANCELLED)
        .options(joinedload(GuidanceMoment.placement))
        .order_by(GuidanceMoment.planned_on, GuidanceMoment.id)
    )


def overdue_moments(session: Session, today: dt.date) -> list[GuidanceMoment]:
    """Moments planned before ``today`` and not done (placements not cancelled), oldest first,
    with their placement (and its candidate) loaded: what the reminders report."""
    return list(session.scalars(_open_moments(today).where(GuidanceMoment.planned_on < today)))


def upcoming_moments(session: Session, today: dt.date, days: int = 14) -> list[GuidanceMoment]:
    """Open moments planned from ``today`` up to ``days`` days ahead."""
    until = today + dt.timedelta(days=days)
    return list(session.scalars(
        _open_moments(today).where(GuidanceMoment.planned_on >= today, GuidanceMoment.planned_on <= until)
    ))
