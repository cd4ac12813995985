"""The JSON API: ``/api/v1/…`` (shared level) and ``/api/v1/g/<tenant>/…`` (tenant level).

Browser sessions authenticate with the session cookie and send the CSRF token in the
``X-CSRFToken`` header (GET ``/api/v1/session`` returns it).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from nvsi.errors import problem

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body() -> dict:
    """The request's JSON object; 415 if it is not JSON, 400 if it is not an object."""
    if not request.is_json:
        abort(problem(
            415, "unsupported_media_type", _("Stuur JSON (Content-Type: application/json).")
        ))
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(problem(400, "bad_request", _("De body moet een JSON-object zijn.")))
    return data


def page_size(requested: int | None) -> int:
    """The page size to use: the configured default, capped at MAX_PAGE_SIZE."""
    if not requested or requested < 1:
        return current_app.config["PAGE_SIZE"]
    return min(requested, current_app.config["MAX_PAGE_SIZE"])


@api_bp.get("/session")
def session_info():
    """Who is logged in, and the CSRF token to send with changes.
    ---
    get:
      tags: [session]
      summary: The current session and its CSRF token
      responses:
        200:
          description: OK
          content:
            application/json:
              schema:
                type: object
                properties:
                  authenticated: {type: boolean}
                  email: {type: string}
                  role: {type: string}
                  csrf_token: {type: string}
    """
    body = {"authenticated": current_user.is_authenticated, "csrf_token": generate_csrf()}
    if current_user.is_authenticated:
        body.update(email=current_user.email, role=current_user.role.value)
    return jsonify(body)
