"""The OpenAPI 3 document of the API, built from the views' docstrings and the marshmallow
schemas, served at ``/api/openapi.json``."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from flask import current_app, jsonify

_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def build_spec(app) -> dict:
    """The OpenAPI document for every ``/api/`` route that documents itself."""
    spec = APISpec(
        title="NVSI platform API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Flextensie: shared NVSI level and per-municipality (tenant) level."},
        servers=[{"url": "/"}],
    )
    spec.components.schema(
        "Problem",
        {
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "detail": {"type": "string"},
                "errors": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    )
    for name, description in (
        ("NotFound", "Missing, or not yours: the same answer"),
        ("Conflict", "Clashes with existing data or a newer version"),
        ("Invalid", "Invalid input; `errors` names each field"),
    ):
        spec.components.response(
            name,
            {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}},
        )
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        operations = load_operations_from_docstring(view.__doc__ or "")
        if not operations:
            continue
        parameters = [
            {
                "in": "path",
                "name": m["name"],
                "required": True,
                "schema": {"type": "integer" if m["conv"] == "int" else "string"},
            }
            for m in _RULE_ARG.finditer(rule.rule)
        ]
        path = _RULE_ARG.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        spec.path(path=path, operations=operations, parameters=parameters)
    return spec.to_dict()


def init_app(app) -> None:
    @app.get("/api/openapi.json")
    def openapi_json():
        """The OpenAPI document (built once per process)."""
        if "nvsi.openapi" not in current_app.extensions:
            current_app.extensions["nvsi.openapi"] = build_spec(current_app)
        return jsonify(current_app.extensions["nvsi.openapi"])


