"""Collective decisions and development agreements through the JSON API (``/api/v1/proposals``,
``/api/v1/development``) and the Dutch pages (``/nvsi/besluiten``, ``/nvsi/doorontwikkeling``).

Thin: load input with a schema, call a service, commit, dump or render. Every logged-in user
reads everything (proposals, each member's vote, outcomes, agreements); municipality
administrators and NVSI administrators propose; municipality administrators vote for their
own members; NVSI administrators manage the development agreements.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_currency, format_date, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from nvsi.api import json_body, page_size
from nvsi.auth.access import has_role, roles_required
from nvsi.auth.models import Role
from nvsi.db import utcnow
from nvsi.decisions import services
from nvsi.decisions.models import DevelopmentStatus, ProposalStatus, VoteChoice
from nvsi.decisions.schemas import (
    DevelopmentItemArgs,
    DevelopmentItemFormArgs,
    DevelopmentItemSchema,
    DevelopmentListArgs,
    ProposalArgs,
    ProposalListArgs,
    ProposalPageSchema,
    ProposalSchema,
    VoteArgs,
    VoteSchema,
)
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.pages import unit_label
from nvsi.rules import services as rules
from nvsi.rules.models import ValueKind
from nvsi.rules.violations import as_errors

#: The pages, under /nvsi.
bp = Blueprint("decisions", __name__, url_prefix="/nvsi")
#: The API, under /api/v1.
api_bp = Blueprint("decisions_api", __name__, url_prefix="/api/v1")

PROPOSERS = (Role.MUNICIPALITY_ADMIN, Role.NVSI_ADMIN)


def _user():
    return current_user._get_current_object()


def _close_due() -> None:
    """Close the proposals whose voting has ended before anything is shown, so nobody sees an
    overdue vote as open (``nvsi decisions close`` does the same on a schedule). A failure here
    never breaks the read: it is logged and retried on the next one."""
    try:
        if services.close_due_proposals(db.session, utcnow()):
            db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("closing due proposals failed")


def _load_proposal(proposal_id: int):
    return services.get_proposal(db.session, proposal_id)


def _load_item(item_id: int):
    return services.get_development_item(db.session, item_id)


def _ordered(errors: dict, schema) -> dict:
    """Field errors in the order of the form (fields named as the form names them)."""
    order = [field.data_key or name for name, field in schema.fields.items()]
    return dict(sorted(errors.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _refused(exc: services.DecisionError):
    """A refusal as problem details: every violation, per field and structured."""
    detail = {
        422: _("Het voorstel is niet geldig; zie de velden."),
        403: _("Dit mag u niet namens deze gemeente."),
        409: _("Dit kan niet (meer) in de huidige stand van zaken."),
    }[exc.status]
    if len(exc.violations) == 1 and exc.status != 422:
        detail = exc.violations[0].message
    return problem(exc.status, exc.code, detail, as_errors(exc.violations),
                   violations=[v.as_dict() for v in exc.violations])


# -- API: proposals ------------------------------------------------------------------------------


@api_bp.get("/proposals")
@login_required
def api_list_proposals():
    """Every proposal with its votes and outcome; overdue ones are closed first.
    ---
    get:
      tags: [decisions]
      summary: List proposals (voorstellen) to change the shared rule set
      parameters:
      - {in: query, name: status, schema: {type: string, enum: [open, adopted, rejected, no_quorum]}}
      - {in: query, name: page, schema: {type: integer, minimum: 1}}
      - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProposalPageSchema}}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = ProposalListArgs().load(request.args.to_dict())
    _close_due()
    result = services.list_proposals(db.session, status=args["status"], page=args["page"],
                                     per_page=page_size(args["per_page"]))
    return ProposalPageSchema().dump(result)


@api_bp.post("/proposals")
@roles_required(*PROPOSERS)
def api_create_proposal():
    """Propose a new value for one rule-set parameter; voting opens at once.
    ---
    post:
      tags: [decisions]
      summary: Propose a change to the shared rule set
      description: >
        A municipality administrator proposes for a member they administer (``member``: its
        slug, needed only when they administer several); an NVSI administrator proposes for the
        NVSI and gives no member. Voting closes at the end (Dutch time) of ``closes_on``
        (default: ``voting_window_days`` from today); ``effective_from`` lies after it.
      requestBody: {required: true, content: {application/json: {schema: ProposalArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: ProposalSchema}}
        403:
          description: Not allowed for this role (the problem names the roles that are)
          content: {application/problem+json: {schema: Problem}}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = ProposalArgs().load(json_body())
    try:
        proposal = services.propose(
            db.session, user=_user(), member=data["member"], parameter=data["parameter"],
            value=data["value"], effective_from=data["effective_from"], rationale=data["rationale"],
            last_voting_day=data["closes_on"], now=utcnow(),
        )
    except services.DecisionError as exc:
        return _refused(exc)
    db.session.commit()
    location = url_for("decisions_api.api_get_proposal", proposal_id=proposal.id)
    return ProposalSchema().dump(proposal), 201, {"Location": location}


@api_bp.get("/proposals/<int:proposal_id>")
@login_required
def api_get_proposal(proposal_id: int):
    """One proposal: every member's vote and, once closed, the outcome.
    ---
    get:
      tags: [decisions]
      summary: Get a proposal with its votes and outcome
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProposalSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    _close_due()
    return ProposalSchema().dump(_load_proposal(proposal_id))


@api_bp.put("/proposals/<int:proposal_id>/votes/<member>")
@roles_required(Role.MUNICIPALITY_ADMIN)
def api_cast_vote(proposal_id: int, member: str):
    """Cast or change the vote of a member (by slug) while voting is open.
    ---
    put:
      tags: [decisions]
      summary: Cast or change a member's vote
      description: Only an administrator of the member votes for it; one vote per member.
      requestBody: {required: true, content: {application/json: {schema: VoteArgs}}}
      responses:
        200:
          description: Vote changed
          content: {application/json: {schema: VoteSchema}}
        201:
          description: Vote cast
          content: {application/json: {schema: VoteSchema}}
        403:
          description: Not allowed for this role (the problem names the roles that are)
          content: {application/problem+json: {schema: Problem}}
        404: {$ref: '#/components/responses/NotFound'}
        409:
          description: Voting has closed, or the member is not active
          content: {application/problem+json: {schema: Problem}}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = VoteArgs().load(json_body())
    _close_due()
    try:
        vote, created = services.cast_vote(db.session, proposal_id=proposal_id, user=_user(), member=member,
                                           choice=data["choice"], now=utcnow())
    except services.ProposalNotFound:
        abort(404)
    except services.DecisionError as exc:
        return _refused(exc)
    db.session.commit()
    return VoteSchema().dump(vote), 201 if created else 200


# -- API: development agreements -----------------------------------------------------------------


@api_bp.get("/development")
@login_required
def api_list_development():
    """The development agreements, newest year first.
    ---
    get:
      tags: [decisions]
      summary: List development agreements (doorontwikkeling)
      parameters:
      - {in: query, name: year, schema: {type: integer}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: {type: array, items: DevelopmentItemSchema}}}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = DevelopmentListArgs().load(request.args.to_dict())
    return DevelopmentItemSchema(many=True).dump(services.list_development_items(db.session, year=args["year"]))


@api_bp.post("/development")
@roles_required(Role.NVSI_ADMIN)
def api_create_development():
    """Record a development agreement (NVSI administrators).
    ---
    post:
      tags: [decisions]
      summary: Record a development agreement
      requestBody: {required: true, content: {application/json: {schema: DevelopmentItemArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: DevelopmentItemSchema}}
        403:
          description: Not allowed for this role (the problem names the roles that are)
          content: {application/problem+json: {schema: Problem}}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = DevelopmentItemArgs().load(json_body())
    item = services.create_development_item(db.session, data, user=_user())
    db.session.commit()
    location = url_for("decisions_api.api_get_development", item_id=item.id)
    return DevelopmentItemSchema().dump(item), 201, {"Location": location}


@api_bp.get("/development/<int:item_id>")
@login_required
def api_get_development(item_id: int):
    """One development agreement.
    ---
    get:
      tags: [decisions]
      summary: Get a development agreement
      responses:
        200:
          description: OK
          content: {application/json: {schema: DevelopmentItemSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return DevelopmentItemSchema().dump(_load_item(item_id))


@api_bp.patch("/development/<int:item_id>")
@roles_required(Role.NVSI_ADMIN)
def api_update_development(item_id: int):
    """Change a development agreement, e.g. its status (NVSI administrators).
    ---
    patch:
      tags: [decisions]
      summary: Change a development agreement
      requestBody: {required: true, content: {application/json: {schema: DevelopmentItemArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: DevelopmentItemSchema}}
        403:
          description: Not allowed for this role (the problem names the roles that are)
          content: {application/problem+json: {schema: Problem}}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    item = _load_item(item_id)
    data = DevelopmentItemArgs().load(json_body(), partial=True)
    services.update_development_item(db.session, item, data)
    db.session.commit()
    return DevelopmentItemSchema().dump(item)


# -- pages ---------------------------------------------------------------------------------------


@bp.context_processor
def _helpers():
    return {
        "status_label": status_label, "choice_label": choice_label, "development_label": development_label,
        "parameter_label": parameter_label, "rule_value": rule_value, "euros": euros,
        "last_voting_day": services.last_voting_day, "tally": services.tally,
    }


def status_label(status: ProposalStatus) -> str:
    return {
        ProposalStatus.OPEN: _("Stemming loopt"), ProposalStatus.ADOPTED: _("Aangenomen"),
        ProposalStatus.REJECTED: _("Verworpen"), ProposalStatus.NO_QUORUM: _("Geen quorum"),
    }[status]


def choice_label(choice: VoteChoice) -> str:
    return {VoteChoice.FOR: _("Voor"), VoteChoice.AGAINST: _("Tegen"), VoteChoice.ABSTAIN: _("Onthouding")}[choice]


def development_label(status: DevelopmentStatus) -> str:
    return {
        DevelopmentStatus.PLANNED: _("Gepland"), DevelopmentStatus.IN_PROGRESS: _("In uitvoering"),
        DevelopmentStatus.DONE: _("Afgerond"), DevelopmentStatus.DROPPED: _("Vervallen"),
    }[status]


def parameter_label(parameter) -> str:
    """A parameter's description in the user's language."""
    return parameter.description_en if str(get_locale()).startswith("en") else parameter.description_nl


def rule_value(value: Decimal, parameter) -> str:
    """A value with the places of its kind, in the user's number format, with its unit."""
    pattern = {ValueKind.MONEY: "#,##0.00", ValueKind.PERCENTAGE: "#,##0.00", ValueKind.INTEGER: "#,##0",
               ValueKind.DECIMAL: "#,##0.##"}[parameter.kind]
    return f"{format_decimal(services.display_value(value, parameter.kind), format=pattern)} {unit_label(parameter.unit)}"


def euros(cents: int) -> str:
    """Cents as euros in the user's format (€ 12.500,00)."""
    return format_currency(Decimal(cents) / 100, "EUR")


@bp.get("/besluiten")
@login_required
def index():
    """Every proposal: the open votes first, then the outcomes."""
    _close_due()
    proposals = services.list_proposals(db.session, per_page=1000).items
    return render_template(
        "decisions/index.html",
        open_proposals=[p for p in proposals if p.status is ProposalStatus.OPEN],
        closed_proposals=[p for p in proposals if p.status is not ProposalStatus.OPEN],
        can_propose=has_role(*PROPOSERS),
    )


@bp.route("/besluiten/nieuw", methods=["GET", "POST"])
@roles_required(*PROPOSERS)
def new_proposal():
    """Form to propose a change; on errors it comes back with what was typed."""
    user = _user()
    members = services.voting_members(db.session, user)
    form, errors = request.form.to_dict(), {}
    form.pop("csrf_token", None)
    if request.method == "POST":
        try:
            data = ProposalArgs().load(form)
            proposal = services.propose(
                db.session, user=user, member=data["member"], parameter=data["parameter"],
                value=data["value"], effective_from=data["effective_from"], rationale=data["rationale"],
                last_voting_day=data["closes_on"], now=utcnow(),
            )
        except ValidationError as exc:
            errors = _ordered(exc.messages, ProposalArgs())
        except services.DecisionError as exc:
            errors = _ordered(as_errors(exc.violations), ProposalArgs())
            db.session.rollback()
        else:
            db.session.commit()
            flash(_("Uw voorstel staat open voor stemming tot en met %(day)s.",
                    day=format_date(services.last_voting_day(proposal), "long")), "success")
            return redirect(url_for("decisions.proposal", proposal_id=proposal.id))
    today = services.local_date(utcnow())
    return render_template(
        "decisions/proposal_form.html", form=form, errors=errors, members=members,
        parameters=rules.parameters(db.session), in_force=rules.shared_rules_on(db.session, today),
        default_last_day=services.default_last_voting_day(db.session, utcnow()),
    ), 422 if errors else 200


@bp.get("/besluiten/<int:proposal_id>")
@login_required
def proposal(proposal_id: int):
    """A proposal: what changes, the votes of every member, the outcome; the vote form for the
    municipality administrators of members that may still vote."""
    _close_due()
    return _render_proposal(proposal_id)


def _render_proposal(proposal_id: int, vote_errors: dict | None = None, status: int = 200):
    item = _load_proposal(proposal_id)
    now = utcnow()
    votes = {v.tenant_id: v for v in item.votes}
    members = services.active_members(db.session)
    return render_template(
        "decisions/proposal.html", proposal=item, votes=votes,
        not_voted=[m for m in members if m.id not in votes],
        voting_rules=services.voting_rules(db.session, item),
        current=rules.shared_rules_on(db.session, services.local_date(now)).get(item.parameter.key),
        my_members=services.voting_members(db.session, _user()) if services.is_open(item, now) else [],
        vote_errors=vote_errors or {},
    ), status


@bp.post("/besluiten/<int:proposal_id>/stem/<member>")
@roles_required(Role.MUNICIPALITY_ADMIN)
def vote(proposal_id: int, member: str):
    """Cast or change a member's vote (POST with CSRF token)."""
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    _close_due()
    try:
        data = VoteArgs().load(form)
        cast, created = services.cast_vote(db.session, proposal_id=proposal_id, user=_user(), member=member,
                                           choice=data["choice"], now=utcnow())
    except services.ProposalNotFound:
        abort(404)
    except ValidationError as exc:
        return _render_proposal(proposal_id, vote_errors={member: exc.messages.get("choice", [])}, status=422)
    except services.DecisionError as exc:
        db.session.rollback()
        return _render_proposal(proposal_id, vote_errors={member: [v.message for v in exc.violations]},
                                status=exc.status)
    db.session.commit()
    values = {"name": cast.tenant.name, "choice": choice_label(cast.choice).lower()}
    if created:
        flash(_("De stem van %(name)s is uitgebracht: %(choice)s.", **values), "success")
    else:
        flash(_("De stem van %(name)s is gewijzigd: %(choice)s.", **values), "success")
    return redirect(url_for("decisions.proposal", proposal_id=proposal_id))


@bp.get("/doorontwikkeling")
@login_required
def development():
    """The yearly development agreements, per year, with the budget per year."""
    try:
        year = DevelopmentListArgs().load({"year": request.args["jaar"]} if request.args.get("jaar") else {})["year"]
    except ValidationError:
        year = None
    items = services.list_development_items(db.session, year=year)
    by_year: dict[int, list] = {}
    for item in items:
        by_year.setdefault(item.year, []).append(item)
    return render_template(
        "decisions/development.html", by_year=by_year, year=year,
        years=services.development_years(db.session), can_manage=has_role(Role.NVSI_ADMIN),
    )


@bp.route("/doorontwikkeling/nieuw", methods=["GET", "POST"])
@roles_required(Role.NVSI_ADMIN)
def new_development_item():
    """Form to record a development agreement."""
    form, errors = request.form.to_dict(), {}
    form.pop("csrf_token", None)
    if request.method == "POST":
        try:
            item = services.create_development_item(db.session, DevelopmentItemFormArgs().load(form), user=_user())
        except ValidationError as exc:
            errors = _ordered(exc.messages, DevelopmentItemFormArgs())
        else:
            db.session.commit()
            flash(_("De afspraak %(title)s is vastgelegd.", title=item.title), "success")
            return redirect(url_for("decisions.development", jaar=item.year))
    else:
        form = {"year": str(services.local_date(utcnow()).year), "status": DevelopmentStatus.PLANNED.value}
    return render_template("decisions/development_form.html", form=form, errors=errors, item=None), \
        422 if errors else 200


@bp.route("/doorontwikkeling/<int:item_id>/bewerken", methods=["GET", "POST"])
@roles_required(Role.NVSI_ADMIN)
def edit_development_item(item_id: int):
    """Form to change a development agreement (e.g. its status)."""
    item = _load_item(item_id)
    errors = {}
    if request.method == "POST":
        form = request.form.to_dict()
        form.pop("csrf_token", None)
        try:
            services.update_development_item(db.session, item, DevelopmentItemFormArgs().load(form))
        except ValidationError as exc:
            errors = _ordered(exc.messages, DevelopmentItemFormArgs())
        else:
            db.session.commit()
            flash(_("De afspraak %(title)s is opgeslagen.", title=item.title), "success")
            return redirect(url_for("decisions.development", jaar=item.year))
    else:
        form = {
            "year": str(item.year), "title": item.title, "description": item.description,
            "budget": f"{item.budget_cents // 100},{item.budget_cents % 100:02d}", "status": item.status.value,
        }
    return render_template("decisions/development_form.html", form=form, errors=errors, item=item), \
        422 if errors else 200
