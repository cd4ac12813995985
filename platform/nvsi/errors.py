"""Errors a person can act on: JSON problem details for the API, a Dutch page for people.

API responses follow RFC 9457 (``application/problem+json``) with a stable ``code`` and, for
invalid input, ``errors``: a message list per field.
"""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, NotFound

from nvsi.db import ObjectNotFound
from nvsi.rules.violations import RuleViolations

#: Stable machine codes for the HTTP errors the platform gives.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def _titles() -> dict[int, str]:
    return {
        400: _("Ongeldig verzoek"),
        401: _("Inloggen vereist"),
        403: _("Geen toegang"),
        404: _("Niet gevonden"),
        405: _("Methode niet toegestaan"),
        409: _("Conflict"),
        413: _("Te groot"),
        415: _("Verkeerd formaat"),
        422: _("Ongeldige invoer"),
        429: _("Te veel pogingen"),
        500: _("Er ging iets mis"),
    }


def _details() -> dict[int, str]:
    return {
        400: _("Het verzoek kon niet worden verwerkt."),
        401: _("Inloggen is vereist."),
        403: _("U heeft geen toegang tot deze functie."),
        404: _("Deze pagina of dit object bestaat niet, of u heeft er geen toegang toe."),
        405: _("Deze methode is hier niet toegestaan."),
        413: _("Het verzoek is te groot."),
        415: _("Dit formaat wordt niet ondersteund."),
        429: _("Te veel pogingen. Wacht even en probeer het opnieuw."),
    }


def problem(status: int, code: str, detail: str, errors: dict | None = None, **extra):
    """A problem-details JSON response."""
    body = {
        "type": f"about:blank#{code}",
        "title": _titles().get(status, str(status)),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/")


def init_app(app):
    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        # Views load input with marshmallow: a ValidationError names every bad field.
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return problem(422, "invalid", _("De invoer is niet geldig; zie de velden."), messages)

    @app.errorhandler(ObjectNotFound)
    def _not_found(exc: ObjectNotFound):
        # Missing or not the caller's: exactly the 404 an unknown URL gets.
        return _http(NotFound())

    @app.errorhandler(RuleViolations)
    def _violations(exc: RuleViolations):
        # A service refused for broken rules: 422 with every violation, structured and per field.
        from nvsi.rules.views import refused

        if wants_json():
            return refused(exc.violations)
        detail = " ".join(v.message for v in exc.violations)
        return render_template("error.html", status=422, title=_titles()[422], detail=detail), 422

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        detail = _("Het formulier is verlopen of ongeldig (CSRF). Laad de pagina opnieuw.")
        if wants_json():
            return problem(400, "csrf", detail)
        return render_template("error.html", status=400, title=_titles()[400], detail=detail), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None:  # abort(response), e.g. the login redirect
            return exc.response
        status = exc.code or 500
        detail = _detail(status, exc)
        if wants_json():
            return problem(status, HTTP_CODES.get(status, "error"), detail)
        title = _titles().get(status, exc.name)
        return render_template("error.html", status=status, title=title, detail=detail), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        detail = _("Er ging iets mis aan onze kant. Probeer het later opnieuw.")
        if wants_json():
            return problem(500, "internal", detail)
        return render_template("error.html", status=500, title=_titles()[500], detail=detail), 500


def _detail(status: int, exc: HTTPException) -> str:
    return _details().get(status) or _("Er ging iets mis.")
