"""The product catalogue through the JSON API (``/api/v1/catalogue…``) and the Dutch pages
(``/nvsi/producten``). Thin: load input with a schema, call a service, commit, dump or render.

Who may do what: every logged-in user browses the catalogue; municipality admins ask access for
one of their municipalities; municipality users see their municipalities' requests; NVSI
administrators manage products and grant or refuse requests.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.catalogue import services
from nvsi.catalogue.models import TEXT_FIELDS, AccessStatus
from nvsi.catalogue.schemas import (
    AccessRequestArgs,
    AccessRequestListSchema,
    AccessRequestSchema,
    DecisionArgs,
    ProductArgs,
    ProductListSchema,
    ProductSchema,
    ProductUpdateArgs,
    RefusalArgs,
    RequestListArgs,
)
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from nvsi.tenancy.services import user_tenants

bp = Blueprint("catalogue", __name__)

ADMIN = Role.NVSI_ADMIN
#: Who may see requests: the NVSI and the municipalities (their own).
REQUEST_READERS = (Role.NVSI_ADMIN, Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF)


def _messages() -> dict:
    return {
        "code_taken": lambda: _("Er is al een product met deze code."),
        "product_withdrawn": lambda: _("Dit product wordt niet meer aangeboden."),
        "request_open": lambda: _(
            "Voor deze gemeente loopt al een aanvraag voor dit product. Wacht op het besluit van de NVSI."
        ),
        "already_granted": lambda: _("Deze gemeente heeft al toegang tot dit product."),
        "already_decided": lambda: _("Over deze aanvraag is al besloten."),
    }


def _conflict(exc: services.CatalogueConflict):
    message = _messages()[exc.code]()
    return problem(409, exc.code, message, {exc.field: [message]} if exc.field else None)


def _user():
    return current_user._get_current_object()


def _is_admin() -> bool:
    return current_user.role is ADMIN


def _product(product_id: int):
    return services.get_product(db.session, product_id, include_withdrawn=_is_admin())


def _access_request(request_id: int):
    return services.get_request(db.session, request_id, services.visible_tenant_ids(db.session, _user()))


def _tenant_error() -> str:
    return _("Kies een van uw gemeenten.")


def _update_partial() -> tuple[str, ...]:
    return tuple(ProductUpdateArgs().fields)


# -- API -----------------------------------------------------------------------------------------


@bp.get("/api/v1/catalogue/products")
@login_required
def api_list_products():
    """The catalogue (productenboek).
    ---
    get:
      tags: [catalogue]
      summary: List the products (every logged-in user; withdrawn ones for NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProductListSchema}}
    """
    products = services.list_products(db.session, include_withdrawn=_is_admin())
    return ProductListSchema().dump({"items": products})


@bp.post("/api/v1/catalogue/products")
@roles_required(ADMIN)
def api_create_product():
    """Add a product.
    ---
    post:
      tags: [catalogue]
      summary: Add a product (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ProductArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: ProductSchema}}
        403: {description: Not an NVSI administrator}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = ProductArgs().load(json_body())
    try:
        product = services.create_product(db.session, data)
    except services.CatalogueConflict as exc:
        return _conflict(exc)
    db.session.commit()
    location = url_for("catalogue.api_get_product", product_id=product.id)
    return ProductSchema().dump(product), 201, {"Location": location}


@bp.get("/api/v1/catalogue/products/<int:product_id>")
@login_required
def api_get_product(product_id: int):
    """One product.
    ---
    get:
      tags: [catalogue]
      summary: Get a product
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProductSchema}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return ProductSchema().dump(_product(product_id))


@bp.patch("/api/v1/catalogue/products/<int:product_id>")
@roles_required(ADMIN)
def api_update_product(product_id: int):
    """Change a product's texts or availability.
    ---
    patch:
      tags: [catalogue]
      summary: Change a product (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ProductUpdateArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProductSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    product = _product(product_id)
    data = ProductUpdateArgs().load(json_body(), partial=_update_partial())
    services.update_product(db.session, product, data)
    db.session.commit()
    return ProductSchema().dump(product)


@bp.post("/api/v1/catalogue/products/<int:product_id>/requests")
@roles_required(Role.MUNICIPALITY_ADMIN)
def api_request_access(product_id: int):
    """Ask access to a product for one of your municipalities.
    ---
    post:
      tags: [catalogue]
      summary: Request access to a product (municipality admins)
      description: >
        tenant is the slug of one of your municipalities (may be left out if you have exactly
        one). One open request per product per municipality; none while it has access.
      requestBody: {required: true, content: {application/json: {schema: AccessRequestArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: AccessRequestSchema}}
        403: {description: Not a municipality admin}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    product = _product(product_id)
    data = AccessRequestArgs().load(json_body())
    tenant = services.member_tenant(db.session, _user(), data["tenant"])
    if tenant is None:
        raise ValidationError({"tenant": [_tenant_error()]})
    try:
        access = services.request_access(db.session, product, tenant, _user(), data["motivation"])
    except services.CatalogueConflict as exc:
        return _conflict(exc)
    db.session.commit()
    location = url_for("catalogue.api_get_request", request_id=access.id)
    return AccessRequestSchema().dump(access), 201, {"Location": location}


@bp.get("/api/v1/catalogue/requests")
@roles_required(*REQUEST_READERS)
def api_list_requests():
    """Requests for access: all of them for the NVSI, your municipalities' for members.
    ---
    get:
      tags: [catalogue]
      summary: List access requests
      parameters:
      - {in: query, name: status, schema: {type: string, enum: [pending, granted, refused]}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: AccessRequestListSchema}}
        403: {description: Backoffice (requests are between the NVSI and its members)}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = RequestListArgs().load(request.args.to_dict())
    status = AccessStatus(args["status"]) if args["status"] else None
    items = services.list_requests(
        db.session, services.visible_tenant_ids(db.session, _user()), status=status
    )
    return AccessRequestListSchema().dump({"items": items})


@bp.get("/api/v1/catalogue/requests/<int:request_id>")
@roles_required(*REQUEST_READERS)
def api_get_request(request_id: int):
    """One request and its decision.
    ---
    get:
      tags: [catalogue]
      summary: Get an access request
      responses:
        200:
          description: OK
          content: {application/json: {schema: AccessRequestSchema}}
        403: {description: Backoffice}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return AccessRequestSchema().dump(_access_request(request_id))


@bp.post("/api/v1/catalogue/requests/<int:request_id>/grant")
@roles_required(ADMIN)
def api_grant_request(request_id: int):
    """Grant a pending request.
    ---
    post:
      tags: [catalogue]
      summary: Grant access (NVSI administrators)
      requestBody: {content: {application/json: {schema: DecisionArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: AccessRequestSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    access = _access_request(request_id)
    data = DecisionArgs().load(json_body() if request.content_length else {})
    try:
        services.grant_request(db.session, access, _user(), data["note"])
    except services.CatalogueConflict as exc:
        return _conflict(exc)
    db.session.commit()
    return AccessRequestSchema().dump(access)


@bp.post("/api/v1/catalogue/requests/<int:request_id>/refuse")
@roles_required(ADMIN)
def api_refuse_request(request_id: int):
    """Refuse a pending request, with the reason the municipality will see.
    ---
    post:
      tags: [catalogue]
      summary: Refuse access (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: RefusalArgs}}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: AccessRequestSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    access = _access_request(request_id)
    data = RefusalArgs().load(json_body())
    try:
        services.refuse_request(db.session, access, _user(), data["note"])
    except services.CatalogueConflict as exc:
        return _conflict(exc)
    db.session.commit()
    return AccessRequestSchema().dump(access)


# -- pages ---------------------------------------------------------------------------------------


def _form() -> dict:
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    return form


def _language() -> str:
    return get_locale().language


@bp.get("/nvsi/producten")
@login_required
def index():
    """The catalogue; members also see where their municipalities' requests stand."""
    user = _user()
    products = services.list_products(db.session, include_withdrawn=_is_admin())
    tenant_ids = services.visible_tenant_ids(db.session, user)
    pending = []
    requests = []
    if _is_admin():
        pending = services.list_requests(db.session, None, status=AccessStatus.PENDING)
    elif tenant_ids:
        requests = services.list_requests(db.session, tenant_ids)
    return render_template(
        "catalogue/index.html", products=products, requests=requests, pending=pending,
        language=_language(),
    )


def _render_product(product, form=None, errors=None, status=200):
    user = _user()
    tenant_ids = services.visible_tenant_ids(db.session, user)
    requests = services.list_requests(db.session, tenant_ids, product_id=product.id) if tenant_ids else []
    can_request = user.role is Role.MUNICIPALITY_ADMIN and product.available
    # Offer only the municipalities that have neither access nor an open request.
    blocked = {r.tenant_id for r in requests if r.status in (AccessStatus.PENDING, AccessStatus.GRANTED)}
    tenants = [t for t in user_tenants(db.session, user) if t.id not in blocked] if can_request else []
    return render_template(
        "catalogue/product.html", product=product, requests=requests, tenants=tenants,
        tenant_options=[(t.slug, t.name) for t in tenants],
        can_request=can_request, form=form or {}, errors=errors or {}, language=_language(),
        text_fields=TEXT_FIELDS,
    ), status


@bp.get("/nvsi/producten/<int:product_id>")
@login_required
def product(product_id: int):
    """A product's description; municipality admins can ask access to it here."""
    return _render_product(_product(product_id))


@bp.post("/nvsi/producten/<int:product_id>/aanvragen")
@roles_required(Role.MUNICIPALITY_ADMIN)
def request_access(product_id: int):
    """Ask access for one of the user's municipalities (chosen by slug in the form)."""
    item = _product(product_id)
    form = _form()
    try:
        data = AccessRequestArgs().load(form)
        tenant = services.member_tenant(db.session, _user(), data["tenant"])
        if tenant is None:
            raise ValidationError({"tenant": [_tenant_error()]})
        access = services.request_access(db.session, item, tenant, _user(), data["motivation"])
    except ValidationError as exc:
        return _render_product(item, form, ordered_errors(exc.messages, AccessRequestArgs()), 422)
    except services.CatalogueConflict as exc:
        return _render_product(item, form, {exc.field or "tenant": [_messages()[exc.code]()]}, 409)
    db.session.commit()
    flash(
        _("Uw aanvraag voor %(product)s voor %(tenant)s is ontvangen. De NVSI besluit erover.",
          product=item.text("name", _language()), tenant=access.tenant.name),
        "success",
    )
    return redirect(url_for("catalogue.product", product_id=item.id))


@bp.get("/nvsi/producten/aanvragen")
@roles_required(ADMIN)
def requests():
    """Every request, pending first, with the decision buttons (NVSI administrators)."""
    items = services.list_requests(db.session, None)
    items.sort(key=lambda r: r.status is not AccessStatus.PENDING)
    return render_template("catalogue/requests.html", items=items, language=_language())


@bp.post("/nvsi/producten/aanvragen/<int:request_id>/toekennen")
@roles_required(ADMIN)
def grant(request_id: int):
    """Grant a pending request (POST with CSRF token)."""
    access = _access_request(request_id)
    try:
        services.grant_request(db.session, access, _user())
    except services.CatalogueConflict as exc:
        flash(_messages()[exc.code](), "error")
    else:
        db.session.commit()
        flash(_("Toegang voor %(tenant)s is toegekend.", tenant=access.tenant.name), "success")
    return redirect(url_for("catalogue.requests"))


@bp.route("/nvsi/producten/aanvragen/<int:request_id>/afwijzen", methods=["GET", "POST"])
@roles_required(ADMIN)
def refuse(request_id: int):
    """Form to refuse a pending request with a reason."""
    access = _access_request(request_id)
    form, errors = _form(), {}
    if request.method == "POST":
        try:
            services.refuse_request(db.session, access, _user(), RefusalArgs().load(form)["note"])
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, RefusalArgs())
        except services.CatalogueConflict as exc:
            errors = {"note": [_messages()[exc.code]()]}
        else:
            db.session.commit()
            flash(_("De aanvraag van %(tenant)s is afgewezen.", tenant=access.tenant.name), "success")
            return redirect(url_for("catalogue.requests"))
    return render_template(
        "catalogue/refuse.html", access=access, form=form, errors=errors, language=_language()
    ), 422 if errors else 200


@bp.route("/nvsi/producten/nieuw", methods=["GET", "POST"])
@roles_required(ADMIN)
def new_product():
    """Form to add a product."""
    form, errors = _form(), {}
    if request.method == "POST":
        form.setdefault("available", "false")
        try:
            item = services.create_product(db.session, ProductArgs().load(form))
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ProductArgs())
        except services.CatalogueConflict as exc:
            errors = {exc.field: [_messages()[exc.code]()]}
        else:
            db.session.commit()
            flash(_("Product %(name)s is toegevoegd.", name=item.name_nl), "success")
            return redirect(url_for("catalogue.product", product_id=item.id))
    else:
        form = {"available": "true"}
    return render_template(
        "catalogue/form.html", form=form, errors=errors, product=None, text_fields=TEXT_FIELDS
    ), 422 if errors else 200


@bp.route("/nvsi/producten/<int:product_id>/bewerken", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit_product(product_id: int):
    """Form to change a product's texts or withdraw it."""
    item = _product(product_id)
    errors = {}
    if request.method == "POST":
        form = _form()
        form.setdefault("available", "false")
        try:
            services.update_product(db.session, item, ProductUpdateArgs().load(form, partial=_update_partial()))
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, ProductUpdateArgs())
        else:
            db.session.commit()
            flash(_("Product %(name)s is opgeslagen.", name=item.name_nl), "success")
            return redirect(url_for("catalogue.product", product_id=item.id))
    else:
        form = {name: getattr(item, name) or "" for name in ProductUpdateArgs().fields}
        form["available"] = "true" if item.available else "false"
    return render_template(
        "catalogue/form.html", form=form, errors=errors, product=item, text_fields=TEXT_FIELDS
    ), 422 if errors else 200
