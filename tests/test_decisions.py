"""Collective decisions: proposals, one vote per active member, outcomes at the close (quorum,
majority, tie), the rule-set version an adopted proposal creates; development agreements; role
checks and errors that name their field. Time is passed in (``now``), never waited for."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from nvsi.audit.models import AuditEvent
from nvsi.auth.models import Role, User
from nvsi.auth.services import create_user, get_user_by_email
from nvsi.db import SharedBase, utcnow
from nvsi.decisions import services
from nvsi.decisions.models import DevelopmentItem, Proposal, ProposalStatus, Vote, VoteChoice
from nvsi.decisions.schemas import EuroCents
from nvsi.rules import seed
from nvsi.rules import services as rules
from nvsi.rules.models import RuleParameter, RuleSetVersion, RuleValue
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.services import get_tenant
from tests import support

D = Decimal
UTC = dt.timezone.utc
#: 11:00 in the Netherlands on 1 December 2026.
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
#: With the default window of 14 days: the last voting day, and the first possible effective date.
LAST_DAY, FIRST_EFFECTIVE = dt.date(2026, 12, 15), dt.date(2026, 12, 16)
FOR, AGAINST, ABSTAIN = VoteChoice.FOR, VoteChoice.AGAINST, VoteChoice.ABSTAIN


#: The municipality administrator who votes for each member (alpha's comes from the fixtures).
VOTERS = {"alpha": "admin@alpha.test", "beta": "bestuur@beta.test", "gamma": "bestuur@gamma.test"}


@pytest.fixture
def admins(shared_session):
    """Municipality administrators of alpha, beta and gamma, by slug."""
    for slug in ("beta", "gamma"):
        create_user(shared_session, VOTERS[slug], f"bestuur {slug}", support.PASSWORD,
                    Role.MUNICIPALITY_ADMIN, [get_tenant(shared_session, slug)])
    shared_session.commit()
    return {slug: get_user_by_email(shared_session, email) for slug, email in VOTERS.items()}


@pytest.fixture
def as_user(app):
    """``as_user(email)``: a new client logged in as ``email``, and its CSRF token."""

    def log_in(email):
        client = app.test_client()
        return client, support.login(client, email)

    return log_in


def user(session, email):
    return get_user_by_email(session, email)


def propose(session, *, by=None, now=NOW, **overrides):
    data = dict(member=None, parameter="min_hourly_rate", value="12.75", effective_from=dt.date(2027, 1, 1),
                rationale="Het minimumloon stijgt.", last_voting_day=None)
    data.update(overrides)
    return services.propose(session, user=by or user(session, "admin@nvsi.test"), now=now, **data)


def vote(session, admins, proposal, slug, choice, now=NOW):
    return services.cast_vote(session, proposal_id=proposal.id, user=admins[slug], member=slug,
                              choice=choice, now=now)


def close(session, proposal):
    """Close at the end of the window (exactly when voting ends)."""
    closed = services.close_due_proposals(session, proposal.closes_at)
    assert proposal in closed
    return proposal


# -- the rules of the vote (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("pro, contra, abstain, members, expected", [
    (0, 0, 0, 3, ProposalStatus.NO_QUORUM),
    (1, 0, 0, 3, ProposalStatus.NO_QUORUM),   # 1 of 3 < 50 %
    (1, 1, 0, 4, ProposalStatus.REJECTED),    # exactly 50 % voted: quorum met; a tie is rejected
    (2, 0, 0, 4, ProposalStatus.ADOPTED),
    (1, 0, 1, 3, ProposalStatus.ADOPTED),     # abstention counts for the quorum only
    (0, 0, 2, 3, ProposalStatus.REJECTED),    # only abstentions: no majority for
    (2, 1, 0, 3, ProposalStatus.ADOPTED),
    (1, 2, 0, 3, ProposalStatus.REJECTED),
    (5, 5, 1, 11, ProposalStatus.REJECTED),   # tie with an abstention
    (1, 0, 0, 0, ProposalStatus.NO_QUORUM),   # no active members at all
])
def test_outcome(pro, contra, abstain, members, expected):
    tally = services.Tally(pro, contra, abstain)
    assert services.outcome(tally, members, D("50"), D("50")) is expected


def test_a_qualified_majority_must_be_exceeded():
    two_thirds = D("66.67")
    assert services.outcome(services.Tally(2, 1, 0), 3, D("50"), two_thirds) is ProposalStatus.REJECTED
    assert services.outcome(services.Tally(3, 1, 0), 4, D("50"), two_thirds) is ProposalStatus.ADOPTED


def test_quorum_needed_rounds_up():
    assert services.quorum_needed(3, D("50")) == 2
    assert services.quorum_needed(4, D("50")) == 2
    assert services.quorum_needed(3, D("100")) == 3


# -- proposing -----------------------------------------------------------------------------------


def test_a_proposal_opens_now_and_closes_at_the_end_of_its_last_voting_day(shared_session):
    proposal = propose(shared_session)
    assert proposal.status is ProposalStatus.OPEN and proposal.opens_at == NOW
    assert services.last_voting_day(proposal) == LAST_DAY  # voting_window_days = 14
    # 24:00 Dutch time (CET, UTC+1 in December)
    assert proposal.closes_at == dt.datetime(2026, 12, 15, 23, 0, tzinfo=UTC)
    assert proposal.value == D("12.75") and proposal.tenant_id is None  # the NVSI proposes


def test_a_chosen_last_voting_day_within_the_bounds(shared_session):
    proposal = propose(shared_session, last_voting_day=dt.date(2026, 12, 4), effective_from=dt.date(2026, 12, 5))
    assert services.last_voting_day(proposal) == dt.date(2026, 12, 4)
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, last_voting_day=dt.date(2026, 12, 3))  # 2 days: the minimum is 3
    assert [(v.code, v.field) for v in raised.value.violations] == [("voting_window", "closes_on")]
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, last_voting_day=dt.date(2027, 3, 2), effective_from=dt.date(2027, 6, 1))  # 91 days
    assert [v.field for v in raised.value.violations] == ["closes_on"]


def test_the_effective_date_lies_after_the_vote(shared_session):
    assert propose(shared_session, effective_from=FIRST_EFFECTIVE).effective_from == FIRST_EFFECTIVE
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, effective_from=LAST_DAY)
    (problem,) = raised.value.violations
    assert (raised.value.status, problem.code, problem.field) == (422, "before_close", "effective_from")
    assert "2026-12-16" in problem.message_nl


@pytest.mark.parametrize("overrides, code, field", [
    ({"value": "abc"}, "not_a_number", "value"),
    ({"value": "12.345"}, "too_many_decimals", "value"),
    ({"value": "150"}, "above_maximum", "value"),
    ({"parameter": "premium_payment_moments", "value": "3"}, "above_maximum", "value"),
    ({"value": "12.30"}, "unchanged", "value"),
    ({"parameter": "contribution_pct", "value": "3.00"}, "contribution_split", "value"),
    ({"parameter": "no_such_rule"}, "unknown_rule", "parameter"),
    ({"rationale": "  "}, "required", "rationale"),
])
def test_invalid_proposals_name_the_field(shared_session, overrides, code, field):
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, **overrides)
    assert (raised.value.status, [(v.code, v.field) for v in raised.value.violations]) == (422, [(code, field)])
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(Proposal)) == 0
    assert rules.versions(shared_session)[0].number == 2  # the rule set's check left nothing behind


def test_a_municipality_admin_proposes_for_a_member_they_administer(shared_session, admins):
    proposal = propose(shared_session, by=admins["alpha"])
    assert proposal.tenant.slug == "alpha"
    assert propose(shared_session, by=admins["alpha"], member="alpha").tenant.slug == "alpha"
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, by=admins["alpha"], member="beta")
    assert [(v.code, v.field) for v in raised.value.violations] == [("not_your_member", "member")]
    with pytest.raises(services.DecisionError) as raised:
        propose(shared_session, member="alpha")  # the NVSI admin proposes for the NVSI
    assert [(v.code, v.field) for v in raised.value.violations] == [("nvsi_proposes", "member")]


# -- voting and the outcome ----------------------------------------------------------------------


def test_quorum_missed(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.NO_QUORUM
    assert (proposal.votes_for, proposal.votes_against, proposal.votes_abstain) == (1, 0, 0)
    assert proposal.active_members == 3
    assert (proposal.quorum_pct, proposal.quorum_version) == (D("50"), 1)
    assert proposal.rule_set_version is None
    assert rules.shared_rules_on(shared_session, dt.date(2027, 1, 1))["min_hourly_rate"].value == D("12.30")


def test_a_tie_is_rejected(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "beta", AGAINST)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.REJECTED
    assert (proposal.votes_for, proposal.votes_against) == (1, 1)
    assert proposal.rule_set_version is None


def test_rejected(shared_session, admins):
    proposal = propose(shared_session)
    for slug, choice in (("alpha", AGAINST), ("beta", AGAINST), ("gamma", FOR)):
        vote(shared_session, admins, proposal, slug, choice)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.REJECTED
    assert rules.versions(shared_session)[0].number == 2


def test_adopted_becomes_a_rule_set_version_on_its_effective_date(shared_session, admins):
    proposal = propose(shared_session, effective_from=dt.date(2027, 1, 1))
    for slug, choice in (("alpha", FOR), ("beta", FOR), ("gamma", AGAINST)):
        vote(shared_session, admins, proposal, slug, choice)
    assert rules.shared_rules_on(shared_session, dt.date(2027, 1, 1))["min_hourly_rate"].value == D("12.30")

    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.ADOPTED
    assert (proposal.votes_for, proposal.votes_against, proposal.votes_abstain) == (2, 1, 0)
    assert (proposal.majority_pct, proposal.majority_version) == (D("50"), 1)
    assert proposal.closed_at == proposal.closes_at
    version = rules.get_version(shared_session, proposal.rule_set_version)
    assert version.number == 3 and version.proposal_id == proposal.id
    assert version.effective_from == dt.date(2027, 1, 1)
    before = rules.shared_rules_on(shared_session, dt.date(2026, 12, 31))["min_hourly_rate"]
    after = rules.shared_rules_on(shared_session, dt.date(2027, 1, 1))["min_hourly_rate"]
    assert (before.value, before.version) == (D("12.30"), 2)
    assert (after.value, after.version) == (D("12.75"), 3)


def test_abstentions_count_for_the_quorum_only(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "beta", ABSTAIN)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.ADOPTED


def test_the_quorum_in_force_on_the_last_voting_day_applies(shared_session, admins):
    rules.create_version(shared_session, effective_from=dt.date(2026, 12, 10), title="Iedereen stemt",
                         values={"vote_quorum_pct": "100"})
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "beta", FOR)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.NO_QUORUM
    assert (proposal.quorum_pct, proposal.quorum_version) == (D("100"), 3)


def test_one_vote_per_member_changeable_while_open(shared_session, admins):
    proposal = propose(shared_session)
    first, created = vote(shared_session, admins, proposal, "alpha", FOR)
    assert created
    later = NOW + dt.timedelta(days=3)
    second, created = vote(shared_session, admins, proposal, "alpha", AGAINST, now=later)
    assert not created and second.id == first.id
    assert (second.choice, second.created_at, second.updated_at) == (AGAINST, NOW, later)
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(Vote)) == 1
    assert services.tally(proposal) == services.Tally(0, 1, 0)


def test_the_database_refuses_a_second_vote_of_a_member(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    alpha = get_tenant(shared_session, "alpha")
    with pytest.raises(sa.exc.IntegrityError), shared_session.begin_nested():
        shared_session.add(Vote(proposal_id=proposal.id, tenant_id=alpha.id, choice=AGAINST,
                                cast_by_user_id=admins["alpha"].id))
        shared_session.flush()


def test_no_vote_after_the_close(shared_session, admins):
    proposal = propose(shared_session)
    just_before = proposal.closes_at - dt.timedelta(seconds=1)
    vote(shared_session, admins, proposal, "alpha", FOR, now=just_before)
    assert services.close_due_proposals(shared_session, just_before) == []
    # not yet closed by anyone, yet the window has ended: refused
    with pytest.raises(services.DecisionError) as raised:
        vote(shared_session, admins, proposal, "alpha", AGAINST, now=proposal.closes_at)
    assert (raised.value.status, raised.value.code) == (409, "voting_closed")
    close(shared_session, proposal)
    with pytest.raises(services.DecisionError) as raised:
        vote(shared_session, admins, proposal, "beta", FOR, now=just_before)  # closed: whatever the clock says
    assert (raised.value.status, raised.value.code) == (409, "voting_closed")


def test_only_active_members_vote_and_count(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "gamma", FOR)
    get_tenant(shared_session, "gamma").status = TenantStatus.SUSPENDED
    shared_session.flush()
    with pytest.raises(services.DecisionError) as raised:
        vote(shared_session, admins, proposal, "gamma", AGAINST)
    assert (raised.value.status, raised.value.code) == (409, "member_not_active")
    close(shared_session, proposal)
    # 2 active members; gamma's vote no longer counts: 1 of 2 voted, which meets 50 %
    assert (proposal.active_members, proposal.votes_for, proposal.status) == (2, 1, ProposalStatus.ADOPTED)


def test_only_an_admin_of_the_member_votes_for_it(shared_session, admins):
    proposal = propose(shared_session)
    for who, member in ((admins["alpha"], "beta"), (admins["alpha"], "nope"),
                        (user(shared_session, "staff@alpha.test"), "alpha"),
                        (user(shared_session, "admin@nvsi.test"), "alpha")):
        with pytest.raises(services.DecisionError) as raised:
            services.cast_vote(shared_session, proposal_id=proposal.id, user=who, member=member,
                               choice=FOR, now=NOW)
        assert (raised.value.status, raised.value.code) == (403, "not_your_member")


def test_closing_twice_does_nothing(shared_session, admins):
    proposal = propose(shared_session)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "beta", FOR)
    close(shared_session, proposal)
    assert services.close_due_proposals(shared_session, proposal.closes_at + dt.timedelta(days=30)) == []
    assert [v.number for v in rules.versions(shared_session)] == [3, 2, 1]


def test_an_adopted_value_the_rule_set_no_longer_accepts_is_recorded_not_applied(shared_session, admins):
    # A proposal valid when made, which the rule set refuses at the close (as if its other values had
    # changed meanwhile): the municipality's part alone no longer adds up to the contribution.
    proposal = propose(shared_session, parameter="premium_per_hour", value="2.50")
    shared_session.execute(sa.update(Proposal).where(Proposal.id == proposal.id).values(
        parameter_id=rules.parameters_by_key(shared_session)["contribution_municipality_pct"].id,
        value=D("1.50")))
    shared_session.expire(proposal)
    vote(shared_session, admins, proposal, "alpha", FOR)
    vote(shared_session, admins, proposal, "beta", FOR)
    close(shared_session, proposal)
    assert proposal.status is ProposalStatus.ADOPTED and proposal.rule_set_version is None
    assert "contributie" in proposal.adoption_error
    assert [v.number for v in rules.versions(shared_session)] == [2, 1]


# -- the API -------------------------------------------------------------------------------------


def body(**overrides):
    data = {"parameter": "min_hourly_rate", "value": "12.75", "effective_from": "2099-01-01",
            "rationale": "Het minimumloon stijgt."}
    data.update(overrides)
    return data


def post_proposal(client, token, **overrides):
    return client.post("/api/v1/proposals", json=body(**overrides), headers={"X-CSRFToken": token})


def put_vote(client, token, proposal_id, member, choice):
    return client.put(f"/api/v1/proposals/{proposal_id}/votes/{member}", json={"choice": choice},
                      headers={"X-CSRFToken": token})


def test_api_propose_vote_and_read(client, login, as_user, admins):
    token = login("admin@alpha.test")
    response = post_proposal(client, token, value=12.75)
    assert response.status_code == 201, response.get_json()
    proposal = response.get_json()
    assert response.headers["Location"] == f"/api/v1/proposals/{proposal['id']}"
    assert (proposal["member"]["slug"], proposal["value"], proposal["status"]) == ("alpha", "12.75", "open")
    assert proposal["parameter"]["key"] == "min_hourly_rate"

    assert put_vote(client, token, proposal["id"], "alpha", "for").status_code == 201
    changed = put_vote(client, token, proposal["id"], "alpha", "against")
    assert changed.status_code == 200 and changed.get_json()["choice"] == "against"

    # every member (and the NVSI) sees each member's vote
    for email in ("staff@beta.test", "admin@nvsi.test", "backoffice@nvsi.test"):
        reader, _ = as_user(email)
        seen = reader.get(f"/api/v1/proposals/{proposal['id']}").get_json()
        assert [(v["member"]["slug"], v["choice"]) for v in seen["votes"]] == [("alpha", "against")]
        assert seen["tally"] == {"for": 0, "against": 1, "abstain": 0}
        listed = reader.get("/api/v1/proposals?status=open").get_json()
        assert [p["id"] for p in listed["items"]] == [proposal["id"]]


def test_api_nvsi_admin_proposes_for_the_nvsi(client, login):
    token = login("admin@nvsi.test")
    response = post_proposal(client, token)
    assert response.status_code == 201 and response.get_json()["member"] is None
    response = post_proposal(client, token, member="alpha")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["member"]


@pytest.mark.parametrize("overrides, field", [
    ({"value": "twaalf"}, "value"),
    ({"value": "1000"}, "value"),
    ({"value": True}, "value"),
    ({"effective_from": "2026-01-01"}, "effective_from"),
    ({"effective_from": "1-1-2027"}, "effective_from"),
    ({"closes_on": "2000-01-01"}, "closes_on"),
    ({"parameter": "bestaat_niet"}, "parameter"),
    ({"rationale": ""}, "rationale"),
    ({"extra": 1}, "extra"),
])
def test_api_422_names_the_field(client, login, overrides, field):
    token = login("admin@alpha.test")
    response = post_proposal(client, token, **overrides)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["code"] in ("invalid",) and field in problem["errors"], problem
    assert all(len(message) > 3 for message in problem["errors"][field])  # sentences, not characters


def test_api_422_is_in_english_when_asked(client, login):
    token = login("admin@alpha.test")
    client.set_cookie("lang", "en")
    problem = post_proposal(client, token, effective_from="2026-01-01").get_json()
    assert problem["errors"]["effective_from"][0].startswith("The effective date")


@pytest.mark.parametrize("email", ["staff@alpha.test", "backoffice@nvsi.test"])
def test_api_staff_and_backoffice_cannot_propose(client, login, email):
    response = post_proposal(client, login(email))
    assert response.status_code == 403
    assert set(response.get_json()["allowed_roles"]) == {"municipality_admin", "nvsi_admin"}


@pytest.mark.parametrize("email", ["staff@alpha.test", "backoffice@nvsi.test", "admin@nvsi.test"])
def test_api_only_municipality_admins_vote(client, login, shared_session, email):
    proposal = propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1))
    shared_session.commit()
    response = put_vote(client, login(email), proposal.id, "alpha", "for")
    assert response.status_code == 403
    assert response.get_json()["allowed_roles"] == ["municipality_admin"]


def test_api_vote_refusals(client, login, shared_session, admins):
    proposal = propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1))
    shared_session.commit()
    token = login("admin@alpha.test")
    response = put_vote(client, token, proposal.id, "beta", "for")
    assert (response.status_code, response.get_json()["code"]) == (403, "not_your_member")
    response = put_vote(client, token, proposal.id, "alpha", "misschien")
    assert response.status_code == 422
    assert response.get_json()["errors"]["choice"] == ["Kies voor (for), tegen (against) of onthouding (abstain)."]
    assert put_vote(client, token, 999999, "alpha", "for").status_code == 404


def test_api_vote_refused_after_close_and_closed_on_read(client, login, shared_session, admins):
    past = utcnow() - dt.timedelta(days=20)
    proposal = propose(shared_session, now=past, last_voting_day=services.local_date(past) + dt.timedelta(days=3),
                       effective_from=dt.date(2099, 1, 1))
    vote(shared_session, admins, proposal, "alpha", FOR, now=past)
    vote(shared_session, admins, proposal, "beta", FOR, now=past)
    shared_session.commit()
    token = login("admin@alpha.test")
    response = put_vote(client, token, proposal.id, "alpha", "against")
    assert (response.status_code, response.get_json()["code"]) == (409, "voting_closed")
    assert response.get_json()["errors"]["choice"]
    seen = client.get(f"/api/v1/proposals/{proposal.id}").get_json()  # closed when read
    assert (seen["status"], seen["tally"], seen["active_members"]) == ("adopted", {"for": 2, "against": 0,
                                                                                  "abstain": 0}, 3)
    assert seen["rule_set_version"] == 3 and (seen["quorum_version"], seen["majority_version"]) == (1, 1)
    rules_2099 = client.get("/api/v1/rules?date=2099-01-01").get_json()
    assert {r["key"]: r["value"] for r in rules_2099["rules"]}["min_hourly_rate"] == "12.75"


def test_api_inactive_member_cannot_vote(client, login, shared_session, admins):
    proposal = propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1))
    get_tenant(shared_session, "beta").status = TenantStatus.SUSPENDED
    shared_session.commit()
    response = put_vote(client, login(VOTERS["beta"]), proposal.id, "beta", "for")
    assert (response.status_code, response.get_json()["code"]) == (409, "member_not_active")


def test_api_needs_login(client):
    assert client.get("/api/v1/proposals").status_code == 401
    assert client.get("/api/v1/development").status_code == 401


# -- the command ---------------------------------------------------------------------------------


def test_close_command(app, shared_session, admins):
    past = utcnow() - dt.timedelta(days=20)
    proposal = propose(shared_session, now=past, last_voting_day=services.local_date(past) + dt.timedelta(days=3),
                       effective_from=dt.date(2099, 1, 1))
    vote(shared_session, admins, proposal, "alpha", FOR, now=past)
    propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1), value="13.00")  # still open
    shared_session.commit()
    result = app.test_cli_runner().invoke(args=["decisions", "close"])
    assert result.exit_code == 0, result.output
    assert f"proposal {proposal.id} (min_hourly_rate): no_quorum" in result.output
    assert "1 proposal(s) closed" in result.output


# -- pages ---------------------------------------------------------------------------------------


def test_pages_show_proposals_votes_and_outcomes(client, login, shared_session, admins):
    open_one = propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1))
    vote(shared_session, admins, open_one, "alpha", FOR, now=utcnow())
    past = utcnow() - dt.timedelta(days=20)
    closed = propose(shared_session, now=past, value="13.00", effective_from=dt.date(2099, 1, 1),
                     last_voting_day=services.local_date(past) + dt.timedelta(days=3))
    shared_session.commit()
    login("staff@beta.test")
    html = client.get("/nvsi/besluiten").get_data(as_text=True)
    assert "Lopende stemmingen" in html and f"Voorstel {open_one.id}" in html
    assert "Geen quorum" in html  # the overdue one was closed on read
    assert "Voorstel indienen" not in html  # staff does not propose
    html = client.get(f"/nvsi/besluiten/{open_one.id}").get_data(as_text=True)
    assert "Gemeente Alfa" in html and "Voor" in html and "Nog niet gestemd" in html
    assert "<fieldset" not in html  # no vote form for staff
    assert client.get(f"/nvsi/besluiten/{closed.id}").status_code == 200
    assert client.get("/nvsi/besluiten/999999").status_code == 404


def test_page_vote_and_change(client, login, shared_session, admins):
    proposal = propose(shared_session, now=utcnow(), effective_from=dt.date(2099, 1, 1))
    shared_session.commit()
    token = login("admin@alpha.test")
    html = client.get(f"/nvsi/besluiten/{proposal.id}").get_data(as_text=True)
    assert "<legend>Stem van Gemeente Alfa</legend>" in html
    url = f"/nvsi/besluiten/{proposal.id}/stem/alpha"
    response = client.post(url, data={"choice": "for", "csrf_token": token})
    assert response.status_code == 302
    response = client.post(url, data={"choice": "abstain", "csrf_token": token}, follow_redirects=True)
    assert "De stem van Gemeente Alfa is gewijzigd: onthouding." in response.get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)
    response = client.post(f"/nvsi/besluiten/{proposal.id}/stem/beta", data={"choice": "for", "csrf_token": token})
    assert response.status_code == 403


def test_page_propose(client, login, as_user):
    staff, _ = as_user("staff@alpha.test")
    assert staff.get("/nvsi/besluiten/nieuw").status_code == 403
    token = login("admin@alpha.test")
    html = client.get("/nvsi/besluiten/nieuw").get_data(as_text=True)
    assert 'for="parameter"' in html and "namens Gemeente Alfa" in html
    response = client.post("/nvsi/besluiten/nieuw", data={**body(value="1000", effective_from="2020-01-01"),
                                                           "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#value"' in html and 'href="#effective_from"' in html and 'aria-invalid="true"' in html
    assert 'value="1000"' in html  # what was typed comes back
    response = client.post("/nvsi/besluiten/nieuw", data={**body(), "csrf_token": token})
    assert response.status_code == 302 and "/nvsi/besluiten/" in response.headers["Location"]


# -- development agreements ----------------------------------------------------------------------


def test_development_agreements_api(client, login, as_user):
    token = login("admin@nvsi.test")
    item = {"year": 2027, "title": "Verdringingstoets", "description": "Een toets op verdringing.",
            "budget_cents": 1250050}
    response = client.post("/api/v1/development", json=item, headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert (created["status"], created["budget"]) == ("planned", "12500.50")
    response = client.patch(f"/api/v1/development/{created['id']}", json={"status": "in_progress"},
                            headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["status"] == "in_progress"
    response = client.post("/api/v1/development", json={**item, "budget_cents": -1, "status": "klaar"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 422 and set(response.get_json()["errors"]) == {"budget_cents", "status"}

    member, _ = as_user("staff@alpha.test")  # members view
    listed = member.get("/api/v1/development?year=2027").get_json()
    assert [i["title"] for i in listed] == ["Verdringingstoets"]
    assert member.get(f"/api/v1/development/{created['id']}").status_code == 200
    assert member.get("/api/v1/development?year=2026").get_json() == []


@pytest.mark.parametrize("email", ["admin@alpha.test", "staff@alpha.test", "backoffice@nvsi.test"])
def test_only_nvsi_admins_manage_development_agreements(client, login, shared_session, email):
    item = DevelopmentItem(year=2027, title="x", description="y", budget_cents=0)
    shared_session.add(item)
    shared_session.commit()
    token = login(email)
    headers = {"X-CSRFToken": token}
    assert client.post("/api/v1/development", json={"year": 2027, "title": "a", "description": "b",
                                                    "budget_cents": 1}, headers=headers).status_code == 403
    assert client.patch(f"/api/v1/development/{item.id}", json={"status": "done"}, headers=headers).status_code == 403
    assert client.get("/nvsi/doorontwikkeling/nieuw").status_code == 403
    assert client.get("/nvsi/doorontwikkeling").status_code == 200


def test_development_pages(client, login, shared_session):
    token = login("admin@nvsi.test")
    form = {"year": "2027", "title": "Verdringingstoets", "description": "Een toets.", "budget": "12.500,50",
            "status": "planned", "csrf_token": token}
    response = client.post("/nvsi/doorontwikkeling/nieuw", data=form)
    assert response.status_code == 302
    item = shared_session.scalar(sa.select(DevelopmentItem))
    assert item.budget_cents == 1250050
    html = client.get("/nvsi/doorontwikkeling").get_data(as_text=True)
    assert "Verdringingstoets" in html and "12.500,50" in html and "Gepland" in html
    response = client.post(f"/nvsi/doorontwikkeling/{item.id}/bewerken",
                           data={**form, "budget": "veel", "status": "klaar"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#budget"' in html and 'href="#status"' in html
    assert "<legend>Status</legend>" in html
    response = client.post(f"/nvsi/doorontwikkeling/{item.id}/bewerken", data={**form, "status": "done"})
    assert response.status_code == 302
    shared_session.refresh(item)
    assert item.status.value == "done"


@pytest.mark.parametrize("typed, cents", [
    ("12500", 1250000), ("12.500", 1250000), ("12.500,5", 1250050), ("1234,56", 123456), ("1234.56", 123456),
    ("€ 1.234.567,89", 123456789), ("0", 0), ("12,500.50", 1250050), ("12,500", 1250000), ("12,5", 1250),
])
def test_budget_in_euros(typed, cents):
    assert EuroCents().deserialize(typed) == cents


@pytest.mark.parametrize("typed", ["", "veel", "-5", "12.5000", "1.2345", "12,345,6"])
def test_budget_refused(app, typed):
    with app.test_request_context(), pytest.raises(ValidationError):
        EuroCents().deserialize(typed)


# -- closing under concurrency (PostgreSQL) ------------------------------------------------------


@pytest.fixture
def decisions_pg():
    """An empty PostgreSQL database with the shared tables a vote needs, seeded with three active
    members, the rule set's first version and an overdue proposal with two votes for."""
    url = support.create_pg_database("nvsi_close_race")
    engine = sa.create_engine(url, pool_size=3)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql('CREATE SCHEMA "nvsi"')
            tables = [Tenant.__table__, User.__table__, RuleParameter.__table__, RuleSetVersion.__table__,
                      RuleValue.__table__, Proposal.__table__, Vote.__table__,
                      AuditEvent.__table__]  # closing and adopting are audited
            SharedBase.metadata.create_all(conn, tables=tables)
        with Session(engine) as session:
            for position, (key, kind, unit, low, high, stricter, nl, en, source) in enumerate(seed.PARAMETERS):
                session.add(RuleParameter(key=key, kind=kind, unit=unit, min_value=low, max_value=high,
                                          local_stricter=stricter, description_nl=nl, description_en=en,
                                          source=source, position=position))
            session.flush()
            rules.create_version(session, effective_from=dt.date(2016, 1, 1), title="start", values=seed.VERSIONS[0][4])
            members = [Tenant(slug=slug, name=slug, cbs_code=f"GM900{i}", status=TenantStatus.ACTIVE)
                       for i, slug in enumerate(("alpha", "beta", "gamma"))]
            voter = User(email="admin@alpha.test", name="a", password_hash="x", role=Role.MUNICIPALITY_ADMIN)
            session.add_all([*members, voter])
            session.flush()
            proposal = Proposal(
                parameter_id=rules.parameters_by_key(session)["min_hourly_rate"].id, value=D("12.75"),
                effective_from=dt.date(2027, 1, 1), rationale="r", proposed_by_user_id=voter.id, opens_at=NOW,
                closes_at=NOW + dt.timedelta(days=3), status=ProposalStatus.OPEN, created_at=NOW,
            )
            session.add(proposal)
            session.flush()
            session.add_all([Vote(proposal_id=proposal.id, tenant_id=m.id, choice=FOR, cast_by_user_id=voter.id)
                             for m in members[:2]])
            session.commit()
        yield engine
    finally:
        engine.dispose()
        support.drop_pg_database(url)


def test_two_closers_at_once_close_a_proposal_once_on_postgresql(decisions_pg, monkeypatch):
    """The job and a page close at the same moment: the second skips the row the first holds
    (SKIP LOCKED) instead of computing the outcome again and making a second version."""
    locked, second_done = threading.Event(), threading.Event()
    close_proposal = services.close_proposal

    def close_slowly(session, proposal, now):
        locked.set()  # the first closer holds the row ...
        assert second_done.wait(10)  # ... while the second one runs
        return close_proposal(session, proposal, now)

    results = {}

    def closer(name, before=None, after=None):
        if before:
            assert before.wait(10)
        with Session(decisions_pg) as session:
            closed = services.close_due_proposals(session, NOW + dt.timedelta(days=4))
            results[name] = [(p.status, p.rule_set_version) for p in closed]
            session.commit()
        if after:
            after.set()

    monkeypatch.setattr(services, "close_proposal", close_slowly)
    first = threading.Thread(target=closer, args=("first",))
    first.start()
    assert locked.wait(10)
    monkeypatch.setattr(services, "close_proposal", close_proposal)
    closer("second", after=second_done)
    first.join(20)
    assert results == {"second": [], "first": [(ProposalStatus.ADOPTED, 2)]}
    with decisions_pg.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(RuleSetVersion)) == 2
        assert conn.scalar(sa.select(Proposal.status)) is ProposalStatus.ADOPTED
