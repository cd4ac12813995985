"""The execution contract through the JSON API (``/api/v1/contract…``) and the Dutch pages
(``/nvsi/contract``). Thin: load input with a schema, call a service, commit, dump or render.

Who may do what: NVSI administrators manage contracts; every logged-in user (backoffice and
municipality users included) may read the contract in force and its terms, in the member view
(see ``nvsi.contract.schemas``).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.contract import services
from nvsi.contract.models import SERVICE_COMPANY
from nvsi.contract.schemas import (
    ContractArgs,
    ContractListSchema,
    ContractPublicSchema,
    ContractSchema,
    ContractTermsSchema,
    ContractUpdateArgs,
    ContractVersionArgs,
    ContractVersionSchema,
    EndArgs,
    ReviewArgs,
    TermsOnArgs,
)
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.schemas import ordered_errors

bp = Blueprint("contract", __name__)

ADMIN = Role.NVSI_ADMIN


def _messages() -> dict:
    """The message of every refusal code of the services, in the user's language."""
    return {
        "active_contract_exists": lambda p: _(
            "Er is al een actief uitvoeringscontract (%(reference)s). Er kan er maar één actief zijn: "
            "beëindig dat contract eerst, of leg dit contract vast als concept.",
            reference=p["reference"],
        ),
        "period_overlaps": lambda p: _(
            "De looptijd overlapt met het beëindigde contract %(reference)s. Laat dit contract na "
            "de einddatum daarvan beginnen.",
            reference=p["reference"],
        ),
        "reference_taken": lambda p: _("Er is al een contract met dit kenmerk."),
        "contract_ended": lambda p: _("Dit contract is beëindigd en kan niet meer worden gewijzigd."),
        "review_recorded": lambda p: _("De uitkomst van de go/no-go-evaluatie is al vastgelegd."),
        "not_draft": lambda p: _("Alleen een concept kan in werking worden gesteld."),
        "not_active": lambda p: _("Alleen het actieve contract kan worden beëindigd."),
        "review_on_draft": lambda p: _("Een concept heeft nog geen go/no-go-evaluatie."),
        "concurrent_change": lambda p: _(
            "Iemand anders heeft dit contract tegelijk gewijzigd. Laad opnieuw en probeer het nog eens."
        ),
        "end_before_start": lambda p: _("De einddatum moet na de begindatum liggen."),
        "end_before_version": lambda p: _(
            "De einddatum mag niet vóór de laatste wijziging (%(date)s) liggen.", date=p["date"]
        ),
        "end_after_planned_end": lambda p: _(
            "Eerder beëindigen kan; later dan de geplande einddatum (%(date)s) niet: verleng het contract.",
            date=p["date"],
        ),
        "review_outside_period": lambda p: _("De go/no-go-datum moet binnen de looptijd liggen."),
        "decided_before_start": lambda p: _("Het besluit kan niet vóór de begindatum genomen zijn."),
        "effective_not_after_latest": lambda p: _(
            "Een wijziging gaat in na de vorige (%(date)s): eerdere versies blijven zoals ze zijn.",
            date=p["date"],
        ),
        "effective_after_end": lambda p: _(
            "De ingangsdatum moet binnen de looptijd liggen (tot en met %(date)s).", date=p["date"]
        ),
    }


def _message(exc: services.ContractError) -> str:
    return _messages()[exc.code](exc.params or {})


def _refusal(exc: services.ContractError):
    """The API answer to a refused change: 409 (state) or 422 (a value), naming the field."""
    message = _message(exc)
    return problem(exc.status, exc.code, message, {exc.field: [message]} if exc.field else None)


def _no_active_contract():
    return problem(404, "no_active_contract", _("Er is op dit moment geen actief uitvoeringscontract."))


def _load(contract_id: int):
    return services.get_contract(db.session, contract_id)


def _user():
    return current_user._get_current_object()


@bp.app_template_filter("percentage")
def _percentage(value) -> str:
    """A percentage in the user's locale: "12,50%"."""
    return "" if value is None else format_decimal(value, format="#,##0.00") + "%"


@bp.app_template_filter("long_date")
def _long_date(value) -> str:
    """A date in the user's locale: "1 januari 2017"."""
    return "" if value is None else format_date(value, format="long")


# -- API: every logged-in user -----------------------------------------------------------------


@bp.get("/api/v1/contract")
@login_required
def api_current_contract():
    """The execution contract in force, in the member view.
    ---
    get:
      tags: [contract]
      summary: The execution contract in force (uitvoeringscontract)
      description: Period, go/no-go outcome and terms. No internal notes. Every logged-in user.
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractPublicSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    try:
        contract = services.active_contract(db.session)
    except services.ContractNotFound:
        return _no_active_contract()
    return ContractPublicSchema().dump(contract)


@bp.get("/api/v1/contract/terms")
@login_required
def api_terms_on():
    """The contract terms in force on a date.
    ---
    get:
      tags: [contract]
      summary: Contract terms on a date
      description: From the contract covering the date, its latest version effective on that date.
      parameters:
      - {in: query, name: 'on', schema: {type: string, format: date}, description: 'The date (default today)'}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractTermsSchema}}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    day = TermsOnArgs().load(request.args.to_dict())["on"] or dt.date.today()
    try:
        terms = services.contract_terms_on(db.session, day)
    except services.NoContractInForce:
        return problem(
            404, "no_contract_in_force",
            _("Op %(date)s was geen uitvoeringscontract van kracht.", date=day.isoformat()),
        )
    return ContractTermsSchema().dump({**terms.__dict__, "on": day})


# -- API: NVSI administrators ------------------------------------------------------------------


@bp.get("/api/v1/contracts")
@roles_required(ADMIN)
def api_list_contracts():
    """Every execution contract (drafts and ended ones too).
    ---
    get:
      tags: [contract]
      summary: List execution contracts (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractListSchema}}
        403: {description: Not an NVSI administrator}
    """
    return ContractListSchema().dump({"items": services.list_contracts(db.session)})


@bp.post("/api/v1/contracts")
@roles_required(ADMIN)
def api_create_contract():
    """Register a contract with its first version.
    ---
    post:
      tags: [contract]
      summary: Register an execution contract (NVSI administrators)
      description: >
        status active (default) or draft. A second active contract is refused with 409
        (code active_contract_exists); the database enforces this under concurrent requests too.
      requestBody: {required: true, content: {application/json: {schema: ContractArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = ContractArgs().load(json_body())
    try:
        contract = services.create_contract(db.session, data, _user())
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    location = url_for("contract.api_get_contract", contract_id=contract.id)
    return ContractSchema().dump(contract), 201, {"Location": location}


@bp.get("/api/v1/contracts/<int:contract_id>")
@roles_required(ADMIN)
def api_get_contract(contract_id: int):
    """One contract with every version.
    ---
    get:
      tags: [contract]
      summary: Get an execution contract (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return ContractSchema().dump(_load(contract_id))


@bp.patch("/api/v1/contracts/<int:contract_id>")
@roles_required(ADMIN)
def api_update_contract(contract_id: int):
    """Change the reference, the end date (extension) or the go/no-go date.
    ---
    patch:
      tags: [contract]
      summary: Change an execution contract (NVSI administrators)
      description: The terms are changed by an amendment (POST …/versions), never here.
      requestBody: {required: true, content: {application/json: {schema: ContractUpdateArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    contract = _load(contract_id)
    data = ContractUpdateArgs().load(json_body())
    try:
        services.update_contract(db.session, contract, data)
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    return ContractSchema().dump(contract)


@bp.post("/api/v1/contracts/<int:contract_id>/activate")
@roles_required(ADMIN)
def api_activate_contract(contract_id: int):
    """Put a draft contract in force.
    ---
    post:
      tags: [contract]
      summary: Activate a draft contract (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    contract = _load(contract_id)
    try:
        services.activate_contract(db.session, contract)
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    return ContractSchema().dump(contract)


@bp.post("/api/v1/contracts/<int:contract_id>/end")
@roles_required(ADMIN)
def api_end_contract(contract_id: int):
    """End the active contract (on its planned end date, or earlier).
    ---
    post:
      tags: [contract]
      summary: End the active contract (NVSI administrators)
      requestBody: {content: {application/json: {schema: EndArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    contract = _load(contract_id)
    data = EndArgs().load(json_body() if request.content_length else {})
    try:
        services.end_contract(db.session, contract, data["end_date"])
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    return ContractSchema().dump(contract)


@bp.post("/api/v1/contracts/<int:contract_id>/review")
@roles_required(ADMIN)
def api_record_review(contract_id: int):
    """Record the outcome of the go/no-go review (once).
    ---
    post:
      tags: [contract]
      summary: Record the go/no-go outcome (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ReviewArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ContractSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    contract = _load(contract_id)
    data = ReviewArgs().load(json_body())
    try:
        services.record_review(db.session, contract, data, _user())
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    return ContractSchema().dump(contract)


@bp.post("/api/v1/contracts/<int:contract_id>/versions")
@roles_required(ADMIN)
def api_amend_contract(contract_id: int):
    """Amend the contract: a new version with new terms from a date on.
    ---
    post:
      tags: [contract]
      summary: Amend a contract (NVSI administrators)
      description: Terms left out are carried over from the latest version. Old versions stay.
      requestBody: {required: true, content: {application/json: {schema: ContractVersionArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: ContractVersionSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    contract = _load(contract_id)
    data = ContractVersionArgs().load(json_body())
    try:
        version = services.amend_contract(db.session, contract, data, _user())
    except services.ContractError as exc:
        return _refusal(exc)
    db.session.commit()
    location = url_for("contract.api_get_contract", contract_id=contract.id)
    return ContractVersionSchema().dump(version), 201, {"Location": location}


# -- pages -------------------------------------------------------------------------------------


def _form() -> dict:
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    return form


def _page_errors(exc: services.ContractError) -> dict:
    return {exc.field or "_form": [_message(exc)]}


@bp.get("/nvsi/contract")
@login_required
def show():
    """The contract in force; NVSI administrators also see every other contract and can act."""
    admin = current_user.role is ADMIN
    try:
        contract = services.active_contract(db.session)
    except services.ContractNotFound:
        contract = None
    others = [c for c in services.list_contracts(db.session) if c is not contract] if admin else []
    return render_template(
        "contract/show.html", contract=contract, others=others, admin=admin, today=dt.date.today()
    )


@bp.get("/nvsi/contract/<int:contract_id>")
@roles_required(ADMIN)
def detail(contract_id: int):
    """One contract with all its versions (NVSI administrators)."""
    contract = _load(contract_id)
    return render_template("contract/show.html", contract=contract, others=[], admin=True, today=dt.date.today())


@bp.route("/nvsi/contract/nieuw", methods=["GET", "POST"])
@roles_required(ADMIN)
def new():
    """Form to register a contract with its first terms."""
    form, errors = _form(), {}
    if request.method == "POST":
        try:
            contract = services.create_contract(db.session, ContractArgs().load(form), _user())
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ContractArgs())
        except services.ContractError as exc:
            errors = _page_errors(exc)
        else:
            db.session.commit()
            flash(_("Uitvoeringscontract %(reference)s is vastgelegd.", reference=contract.reference), "success")
            return redirect(url_for("contract.detail", contract_id=contract.id))
    else:
        form = {"service_company": SERVICE_COMPANY, "status": "active",
                "service_company_contribution_pct": "1.00"}
    return render_template("contract/form.html", form=form, errors=errors), 422 if errors else 200


@bp.route("/nvsi/contract/<int:contract_id>/bewerken", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit(contract_id: int):
    """Form to change the reference, the end date (extension) or the go/no-go date."""
    contract = _load(contract_id)
    errors = {}
    if request.method == "POST":
        form = _form()
        try:
            services.update_contract(db.session, contract, ContractUpdateArgs().load(form))
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ContractUpdateArgs())
        except services.ContractError as exc:
            errors = _page_errors(exc)
        else:
            db.session.commit()
            flash(_("Uitvoeringscontract %(reference)s is opgeslagen.", reference=contract.reference), "success")
            return redirect(url_for("contract.detail", contract_id=contract.id))
        db.session.rollback()
    else:
        form = {
            "reference": contract.reference, "end_date": contract.end_date.isoformat(),
            "review_date": contract.review_date.isoformat(),
        }
    return render_template("contract/edit.html", contract=contract, form=form, errors=errors), 422 if errors else 200


@bp.route("/nvsi/contract/<int:contract_id>/wijziging", methods=["GET", "POST"])
@roles_required(ADMIN)
def amend(contract_id: int):
    """Form for an amendment: a new version of the terms from a date on."""
    contract = _load(contract_id)
    errors = {}
    if request.method == "POST":
        form = _form()
        try:
            version = services.amend_contract(db.session, contract, ContractVersionArgs().load(form), _user())
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ContractVersionArgs())
        except services.ContractError as exc:
            errors = _page_errors(exc)
        else:
            db.session.commit()
            flash(_("Versie %(number)s van het contract is vastgelegd.", number=version.number), "success")
            return redirect(url_for("contract.detail", contract_id=contract.id))
    else:
        latest = contract.current_version
        form = {name: f"{getattr(latest, name)}" for name in services.TERM_FIELDS}
    return render_template("contract/amend.html", contract=contract, form=form, errors=errors), 422 if errors else 200


@bp.route("/nvsi/contract/<int:contract_id>/go-no-go", methods=["GET", "POST"])
@roles_required(ADMIN)
def review(contract_id: int):
    """Form to record the outcome of the go/no-go review."""
    contract = _load(contract_id)
    form, errors = _form(), {}
    if request.method == "POST":
        try:
            services.record_review(db.session, contract, ReviewArgs().load(form), _user())
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ReviewArgs())
        except services.ContractError as exc:
            errors = _page_errors(exc)
        else:
            db.session.commit()
            flash(_("De uitkomst van de go/no-go-evaluatie is vastgelegd."), "success")
            return redirect(url_for("contract.detail", contract_id=contract.id))
    else:
        form = {"decided_on": dt.date.today().isoformat()}
    return render_template("contract/review.html", contract=contract, form=form, errors=errors), 422 if errors else 200


@bp.post("/nvsi/contract/<int:contract_id>/activeren")
@roles_required(ADMIN)
def activate(contract_id: int):
    """Put a draft in force (POST with CSRF token)."""
    contract = _load(contract_id)
    try:
        services.activate_contract(db.session, contract)
    except services.ContractError as exc:
        flash(_message(exc), "error")
    else:
        db.session.commit()
        flash(_("Uitvoeringscontract %(reference)s is in werking.", reference=contract.reference), "success")
    return redirect(url_for("contract.detail", contract_id=contract_id))


@bp.post("/nvsi/contract/<int:contract_id>/beeindigen")
@roles_required(ADMIN)
def end(contract_id: int):
    """End the active contract, on the date in the form or its planned end date."""
    contract = _load(contract_id)
    try:
        services.end_contract(db.session, contract, EndArgs().load(_form())["end_date"])
    except ValidationError as exc:
        flash(" ".join(str(m) for messages in exc.messages.values() for m in messages), "error")
    except services.ContractError as exc:
        flash(_message(exc), "error")
    else:
        db.session.commit()
        flash(_("Uitvoeringscontract %(reference)s is beëindigd.", reference=contract.reference), "success")
    return redirect(url_for("contract.detail", contract_id=contract_id))
