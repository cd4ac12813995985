"""Collective decisions and development agreements: the domain operations.

Voting, as implemented (see docs/decisions.md):

* A proposal changes one rule-set parameter from an effective date. Voting opens when it is
  proposed and closes at 24:00 (Europe/Amsterdam) of its last voting day: by default
  ``voting_window_days`` after today, or a chosen day within that parameter's bounds. The
  effective date lies after the last voting day.
* One vote per active member (tenant): for, against or abstain, cast by a municipality
  administrator of that member; it may be changed until voting closes.
* At the close the rules in force on the last voting day decide: the quorum is met when at least
  ``vote_quorum_pct`` % of the active members voted (abstentions count); the proposal is adopted
  when 'for' is more than ``vote_majority_pct`` % of the votes for and against. A tie is
  rejected. An adopted proposal becomes a new rule-set version on its effective date.

Every function takes explicit arguments (including ``now``), flushes and never commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import diff, record
from nvsi.auth.models import Membership, Role, User
from nvsi.db import ObjectNotFound
from nvsi.decisions.models import (
    DevelopmentItem,
    DevelopmentStatus,
    Proposal,
    ProposalStatus,
    Vote,
    VoteChoice,
)
from nvsi.rules import services as rules
from nvsi.rules.models import ValueKind
from nvsi.rules.violations import Violation, violation
from nvsi.tenancy.models import Tenant, TenantStatus

#: The association's clock: voting days end at midnight in the Netherlands.
TIMEZONE = ZoneInfo("Europe/Amsterdam")

QUORUM, MAJORITY, WINDOW = "vote_quorum_pct", "vote_majority_pct", "voting_window_days"


def N_(message: str) -> str:
    """Marks a Dutch message for extraction; :func:`violation` translates it."""
    return message


class DecisionError(Exception):
    """An operation was refused. ``status`` is the HTTP status it maps to (403, 404, 409, 422),
    ``code`` a stable machine code and ``violations`` name the fields concerned."""

    def __init__(self, status: int, code: str, violations: list[Violation]):
        super().__init__("; ".join(v.message_nl for v in violations))
        self.status, self.code, self.violations = status, code, violations


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class Tally:
    """Votes for, against and abstaining."""

    votes_for: int = 0
    votes_against: int = 0
    votes_abstain: int = 0

    @property
    def cast(self) -> int:
        return self.votes_for + self.votes_against + self.votes_abstain


# -- time -----------------------------------------------------------------------------------------


def local_date(moment: dt.datetime) -> dt.date:
    """The date in the Netherlands at ``moment`` (an aware datetime)."""
    return moment.astimezone(TIMEZONE).date()


def end_of_day(day: dt.date) -> dt.datetime:
    """24:00 in the Netherlands at the end of ``day``, as an aware UTC datetime."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=TIMEZONE)
    return midnight.astimezone(dt.timezone.utc)


def last_voting_day(proposal: Proposal) -> dt.date:
    """The last day on which members can vote on ``proposal``."""
    return local_date(proposal.closes_at) - dt.timedelta(days=1)


def is_open(proposal: Proposal, now: dt.datetime) -> bool:
    """Whether votes are accepted at ``now`` (open, and its window has not ended)."""
    return proposal.status is ProposalStatus.OPEN and now < proposal.closes_at


# -- outcome (pure) ----------------------------------------------------------------------------


def outcome(tally: Tally, active_members: int, quorum_pct: Decimal, majority_pct: Decimal) -> ProposalStatus:
    """The outcome of a vote. Quorum: at least ``quorum_pct`` % of the active members voted
    (for, against or abstain). Majority: 'for' is *more* than ``majority_pct`` % of the votes
    for and against; abstentions do not count here, and a tie is no majority."""
    if active_members <= 0 or tally.cast * 100 < quorum_pct * active_members:
        return ProposalStatus.NO_QUORUM
    if tally.votes_for * 100 > majority_pct * (tally.votes_for + tally.votes_against):
        return ProposalStatus.ADOPTED
    return ProposalStatus.REJECTED


def quorum_needed(active_members: int, quorum_pct: Decimal) -> int:
    """How many members must vote for the quorum: ``quorum_pct`` % of them, rounded up."""
    return math.ceil(Decimal(quorum_pct) * active_members / 100)


def tally(proposal: Proposal) -> Tally:
    """The votes of ``proposal``: as counted at the close, or (while open) as they stand now."""
    if proposal.status is not ProposalStatus.OPEN:
        return Tally(proposal.votes_for or 0, proposal.votes_against or 0, proposal.votes_abstain or 0)
    return _count(proposal.votes)


def _count(votes) -> Tally:
    choices = [v.choice for v in votes]
    return Tally(choices.count(VoteChoice.FOR), choices.count(VoteChoice.AGAINST), choices.count(VoteChoice.ABSTAIN))


def voting_rules(session: Session, proposal: Proposal) -> dict:
    """The quorum and majority that decide ``proposal``: those recorded at the close, or (while
    open) those in force on its last voting day, with the number of active members now."""
    if proposal.status is not ProposalStatus.OPEN:
        members, quorum, majority = proposal.active_members, proposal.quorum_pct, proposal.majority_pct
        quorum_version, majority_version = proposal.quorum_version, proposal.majority_version
    else:
        in_force = rules.shared_rules_on(session, last_voting_day(proposal))
        members = active_member_count(session)
        quorum, quorum_version = in_force[QUORUM].value, in_force[QUORUM].version
        majority, majority_version = in_force[MAJORITY].value, in_force[MAJORITY].version
    return {
        "active_members": members, "quorum_pct": quorum, "quorum_version": quorum_version,
        "quorum_needed": quorum_needed(members, quorum), "majority_pct": majority,
        "majority_version": majority_version,
    }


# -- members --------------------------------------------------------------------------------------


def active_member_count(session: Session) -> int:
    """The number of active members (tenants): the base of the quorum."""
    return session.scalar(sa.select(sa.func.count()).select_from(Tenant).where(Tenant.status == TenantStatus.ACTIVE))


def active_members(session: Session) -> list[Tenant]:
    """Every active member, by name."""
    return list(session.scalars(sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.name)))


def voting_members(session: Session, user: User) -> list[Tenant]:
    """The active members ``user`` may vote and propose for: those they administer."""
    if user.role is not Role.MUNICIPALITY_ADMIN:
        return []
    return list(session.scalars(
        sa.select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user.id, Tenant.status == TenantStatus.ACTIVE)
        .order_by(Tenant.name)
    ))


def _administered_member(session: Session, user: User, slug: str) -> Tenant | None:
    """The member ``slug`` if ``user`` is one of its administrators (whatever its status)."""
    if user.role is not Role.MUNICIPALITY_ADMIN:
        return None
    return session.scalar(
        sa.select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user.id, Tenant.slug == slug)
    )


# -- proposals ----------------------------------------------------------------------------------


class ProposalNotFound(ObjectNotFound):
    """No proposal with this id."""


def get_proposal(session: Session, proposal_id: int) -> Proposal:
    """The proposal ``proposal_id``; :class:`ProposalNotFound` otherwise."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise ProposalNotFound(proposal_id)
    return proposal


def list_proposals(
    session: Session, *, status: ProposalStatus | None = None, page: int = 1, per_page: int = 25
) -> Page:
    """Proposals, open ones first (closing soonest first), then the closed ones, newest first."""
    query = sa.select(Proposal)
    if status is not None:
        query = query.where(Proposal.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    open_first = sa.case((Proposal.status == ProposalStatus.OPEN, 0), else_=1)
    items = session.scalars(
        query.order_by(open_first, sa.case((Proposal.status == ProposalStatus.OPEN, Proposal.closes_at)),
                       Proposal.closes_at.desc(), Proposal.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def default_last_voting_day(session: Session, now: dt.datetime) -> dt.date:
    """The last voting day of a proposal made at ``now`` when none is chosen."""
    today = local_date(now)
    window = rules.shared_rules_on(session, today)[WINDOW].value
    return today + dt.timedelta(days=int(window))


def propose(
    session: Session,
    *,
    user: User,
    member: str | None,
    parameter: str,
    value,
    effective_from: dt.date,
    rationale: str,
    last_voting_day: dt.date | None = None,
    now: dt.datetime,
) -> Proposal:
    """Put a change of one rule-set parameter to the vote; voting opens at ``now``.

    ``member`` is the slug of the member proposing: one the user administers (needed only when
    they administer several). An NVSI administrator proposes for the NVSI and gives none.
    Raises :class:`DecisionError` (422) naming every field that is wrong.
    """
    problems: list[Violation] = []
    tenant = _proposing_member(session, user, member, problems)
    today = local_date(now)
    known = rules.parameters_by_key(session)
    target = known.get(parameter)
    parsed = None
    if target is None:
        problems.append(violation("unknown_rule", "parameter", parameter, None,
                                  N_("Onbekende regel %(rule)s."), rule=parameter))
    else:
        parsed, found = rules.parse_value(value, target, "value")
        problems += found
    if not (rationale or "").strip():
        problems.append(violation("required", "rationale", None, None, N_("Licht het voorstel toe.")))

    window = known[WINDOW]
    if last_voting_day is None:
        last_voting_day = default_last_voting_day(session, now)
    else:
        days = (last_voting_day - today).days
        low, high = int(window.min_value), int(window.max_value)
        if not low <= days <= high:
            problems.append(violation(
                "voting_window", "closes_on", WINDOW, None,
                N_("De stemming duurt ten minste %(low)s en ten hoogste %(high)s dagen: kies een laatste "
                   "stemdag van %(first)s tot en met %(last)s."),
                low=low, high=high, first=(today + dt.timedelta(days=low)).isoformat(),
                last=(today + dt.timedelta(days=high)).isoformat(),
            ))
    earliest = last_voting_day + dt.timedelta(days=1)
    if effective_from < earliest:
        problems.append(violation(
            "before_close", "effective_from", None, None,
            N_("De ingangsdatum moet na de laatste stemdag liggen: op zijn vroegst %(date)s."),
            date=earliest.isoformat(),
        ))
    elif target is not None and parsed is not None and not problems:
        problems += _check_change(session, target, parsed, effective_from)
    if problems:
        raise DecisionError(422, "invalid", problems)

    proposal = Proposal(
        parameter_id=target.id, value=parsed, effective_from=effective_from, rationale=rationale.strip(),
        tenant_id=tenant.id if tenant else None, proposed_by_user_id=user.id,
        opens_at=now, closes_at=end_of_day(last_voting_day), status=ProposalStatus.OPEN, created_at=now,
    )
    session.add(proposal)
    session.flush()
    record(session, "decisions.proposed", tenant_id=proposal.tenant_id, object_type="proposal", object_id=proposal.id,
           changes={"parameter": parameter, "value": parsed, "effective_from": effective_from,
                    "closes_on": last_voting_day}, actor=user)
    return proposal


def _proposing_member(session: Session, user: User, slug: str | None, problems: list) -> Tenant | None:
    """The member on whose behalf ``user`` proposes (None: the NVSI itself)."""
    if user.role is Role.NVSI_ADMIN:
        if slug:
            problems.append(violation("nvsi_proposes", "member", None, None,
                                      N_("Een NVSI-beheerder dient voorstellen in namens de NVSI: laat de gemeente leeg.")))
        return None
    members = voting_members(session, user)
    if slug:
        chosen = next((t for t in members if t.slug == slug), None)
        if chosen is None:
            problems.append(violation("not_your_member", "member", None, None,
                                      N_("U kunt alleen voorstellen indienen namens een actieve gemeente "
                                         "waarvan u beheerder bent.")))
        return chosen
    if len(members) == 1:
        return members[0]
    problems.append(violation("member_required", "member", None, None,
                              N_("Kies namens welke gemeente u het voorstel indient.")))
    return None


def _check_change(session: Session, parameter, value: Decimal, effective_from: dt.date) -> list[Violation]:
    """The change must change something and be one the rule set would accept on that date.

    The rule set's own checks (e.g. that the contribution's parts add up) are run by making the
    version inside a savepoint that is rolled back, so they live in one place only.
    """
    current = rules.shared_rules_on(session, effective_from).get(parameter.key)
    if current is not None and current.value == value:
        return [violation("unchanged", "value", parameter.key, current.version,
                          N_("%(rule)s is op %(date)s al %(value)s."), rule=parameter.key,
                          date=effective_from.isoformat(), value=current.value)]
    savepoint = session.begin_nested()
    try:
        rules.create_version(session, effective_from=effective_from, title="check",
                             values={parameter.key: value})
    except rules.RuleSetError as exc:
        return [dataclasses.replace(v, field="value") for v in exc.violations]
    finally:
        savepoint.rollback()
    return []


# -- votes ----------------------------------------------------------------------------------------


def cast_vote(
    session: Session, *, proposal_id: int, user: User, member: str, choice: VoteChoice, now: dt.datetime
) -> tuple[Vote, bool]:
    """Cast or change the vote of ``member`` (a slug) on a proposal; returns the vote and whether
    it is new. Only an administrator of the member votes for it (403); a closed vote or an
    inactive member is refused (409)."""
    proposal = session.scalar(
        sa.select(Proposal).where(Proposal.id == proposal_id)
        .with_for_update(of=Proposal).execution_options(populate_existing=True)
    )  # waits for a close in progress, then sees its outcome
    if proposal is None:
        raise ProposalNotFound(proposal_id)
    tenant = _administered_member(session, user, member)
    if tenant is None:
        raise DecisionError(403, "not_your_member", [violation(
            "not_your_member", "member", None, None,
            N_("U kunt alleen stemmen namens een gemeente waarvan u beheerder bent."))])
    if not is_open(proposal, now):
        raise DecisionError(409, "voting_closed", [violation(
            "voting_closed", "choice", None, None,
            N_("De stemming over dit voorstel is gesloten; een stem kan niet meer worden uitgebracht of "
               "gewijzigd."))])
    if tenant.status is not TenantStatus.ACTIVE:
        raise DecisionError(409, "member_not_active", [violation(
            "member_not_active", "member", None, None,
            N_("Alleen actieve leden stemmen; %(name)s is geen actief lid."), name=tenant.name)])
    vote = _find_vote(session, proposal.id, tenant.id)
    created = vote is None
    if created:
        vote = Vote(proposal_id=proposal.id, tenant_id=tenant.id, choice=choice, cast_by_user_id=user.id,
                    created_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(vote)
                session.flush()
        except sa.exc.IntegrityError:  # another administrator of the member voted at the same time
            vote, created = _find_vote(session, proposal.id, tenant.id), False
    if not created:
        before = vote.choice
        vote.choice, vote.cast_by_user_id, vote.updated_at = choice, user.id, now
        session.flush()
    record(session, "decisions.vote_cast", tenant_id=tenant.id, object_type="proposal", object_id=proposal.id,
           changes={"choice": choice if created else [before, choice]}, actor=user)
    session.expire(proposal, ["votes"])
    return vote, created


def _find_vote(session: Session, proposal_id: int, tenant_id: int) -> Vote | None:
    return session.scalar(sa.select(Vote).where(Vote.proposal_id == proposal_id, Vote.tenant_id == tenant_id))


# -- closing --------------------------------------------------------------------------------------


def close_due_proposals(session: Session, now: dt.datetime) -> list[Proposal]:
    """Compute and record the outcome of every open proposal whose voting has ended at ``now``.

    Rows being closed by another transaction are skipped (PostgreSQL: SKIP LOCKED), so the job
    and a page that closes on read never close one proposal twice.
    """
    ids = session.scalars(
        sa.select(Proposal.id)
        .where(Proposal.status == ProposalStatus.OPEN, Proposal.closes_at <= now)
        .order_by(Proposal.closes_at, Proposal.id)
        .with_for_update(skip_locked=True)
    ).all()
    closed = []
    for proposal_id in ids:
        proposal = session.get(Proposal, proposal_id, populate_existing=True)
        if proposal.status is ProposalStatus.OPEN:  # closed meanwhile by someone else: skip
            closed.append(close_proposal(session, proposal, now))
    return closed


def close_proposal(session: Session, proposal: Proposal, now: dt.datetime) -> Proposal:
    """Record the outcome of ``proposal`` (whose window has ended) and, if adopted, make the new
    rule-set version. Only votes of members still active count; the quorum and majority are
    those in force on the last voting day, and their version numbers are recorded."""
    in_force = rules.shared_rules_on(session, last_voting_day(proposal))
    quorum, majority = in_force[QUORUM], in_force[MAJORITY]
    votes = session.scalars(
        sa.select(Vote).join(Tenant, Vote.tenant_id == Tenant.id)
        .where(Vote.proposal_id == proposal.id, Tenant.status == TenantStatus.ACTIVE)
    ).all()
    counted, members = _count(votes), active_member_count(session)
    proposal.status = outcome(counted, members, quorum.value, majority.value)
    proposal.closed_at = now
    proposal.votes_for, proposal.votes_against, proposal.votes_abstain = (
        counted.votes_for, counted.votes_against, counted.votes_abstain)
    proposal.active_members = members
    proposal.quorum_pct, proposal.quorum_version = quorum.value, quorum.version
    proposal.majority_pct, proposal.majority_version = majority.value, majority.version
    if proposal.status is ProposalStatus.ADOPTED:
        _adopt(session, proposal, counted, members)
    session.flush()
    record(session, "decisions.proposal_closed", tenant_id=proposal.tenant_id, object_type="proposal",
           object_id=proposal.id, changes={
               "status": proposal.status, "for": counted.votes_for, "against": counted.votes_against,
               "abstain": counted.votes_abstain, "active_members": members,
               "rule_set_version": proposal.rule_set_version, "adoption_error": proposal.adoption_error})
    return proposal


def _adopt(session: Session, proposal: Proposal, counted: Tally, members: int) -> None:
    """Make the rule-set version of an adopted proposal. Should the rule set refuse it (its
    other values changed since the proposal was checked), the reason is recorded instead."""
    key = proposal.parameter.key
    rationale = (
        f"{proposal.rationale}\n\nAangenomen door de leden (voorstel {proposal.id}): "
        f"{counted.votes_for} voor, {counted.votes_against} tegen, {counted.votes_abstain} onthouding; "
        f"{members} actieve leden."
    )
    try:
        with session.begin_nested():
            version = rules.create_version(
                session, effective_from=proposal.effective_from, title=f"Ledenbesluit {proposal.id}: {key}",
                values={key: proposal.value}, rationale=rationale, proposal_id=proposal.id,
            )
    except rules.RuleSetError as exc:
        proposal.adoption_error = "; ".join(v.message_nl for v in exc.violations)
        return
    proposal.rule_set_version = version.number


# -- development agreements --------------------------------------------------------------------


class DevelopmentItemNotFound(ObjectNotFound):
    """No development agreement with this id."""


def list_development_items(session: Session, *, year: int | None = None) -> list[DevelopmentItem]:
    """Development agreements, newest year first, in the order they were made."""
    query = sa.select(DevelopmentItem)
    if year is not None:
        query = query.where(DevelopmentItem.year == year)
    return list(session.scalars(query.order_by(DevelopmentItem.year.desc(), DevelopmentItem.id)))


def development_years(session: Session) -> list[int]:
    """The years that have agreements, newest first."""
    return list(session.scalars(
        sa.select(DevelopmentItem.year).distinct().order_by(DevelopmentItem.year.desc())))


def get_development_item(session: Session, item_id: int) -> DevelopmentItem:
    """The agreement ``item_id``; :class:`DevelopmentItemNotFound` otherwise."""
    item = session.get(DevelopmentItem, item_id)
    if item is None:
        raise DevelopmentItemNotFound(item_id)
    return item


def create_development_item(session: Session, data: dict, *, user: User) -> DevelopmentItem:
    """Record a development agreement from validated input (see ``DevelopmentItemArgs``)."""
    item = DevelopmentItem(status=DevelopmentStatus.PLANNED, created_by_user_id=user.id)
    for key, value in data.items():
        setattr(item, key, value)
    session.add(item)
    session.flush()
    record(session, "decisions.development_item_created", object_type="development_item", object_id=item.id,
           changes=data, actor=user)
    return item


def update_development_item(session: Session, item: DevelopmentItem, data: dict) -> DevelopmentItem:
    """Change an agreement (e.g. its status) from validated input."""
    before = {key: getattr(item, key) for key in data}
    for key, value in data.items():
        setattr(item, key, value)
    session.flush()
    record(session, "decisions.development_item_updated", object_type="development_item", object_id=item.id,
           changes=diff(before, data))
    return item


# -- presentation helpers -----------------------------------------------------------------------


def display_value(value: Decimal, kind: ValueKind) -> Decimal:
    """A stored value with the places of its kind (12.3000 → 12.30; 5.5000 → 5.5)."""
    places = rules.PLACES[kind]
    value = value.quantize(Decimal(1).scaleb(-places))
    if kind is ValueKind.DECIMAL:
        value = value.to_integral_value() if value == value.to_integral_value() else value.normalize()
    return value
