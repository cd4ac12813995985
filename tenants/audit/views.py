"""The tenant's audit log: the page ``/g/<slug>/audit`` and the API ``/api/v1/g/<slug>/audit``,
for the municipality's administrators. Only events of this tenant; personal data masked. The
events live in the shared schema (``nvsi.audit``); the tenant comes from the URL, never from a
parameter."""

from __future__ import annotations

from flask import g, render_template, request
from marshmallow import ValidationError

from nvsi.audit.schemas import AuditFilterArgs, dump_page, page_size, split_page
from nvsi.audit.views import search
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.schemas import ordered_errors

ADMIN = Role.MUNICIPALITY_ADMIN


def register_pages(bp):
    @bp.get("/audit")
    @roles_required(ADMIN)
    def audit():
        """Who did what in this municipality: filters by action, actor and period; paged."""
        form = {k: v for k, v in request.args.items()}
        errors, events, next_before = {}, [], None
        try:
            args = AuditFilterArgs().load(form)
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, AuditFilterArgs())
        else:
            events, next_before = split_page(search(args, g.tenant.id, False), page_size(args))
        return render_template("audit/tenant.html", form=form, errors=errors, events=events,
                               next_before=next_before), 422 if errors else 200


def register_api(bp):
    @bp.get("/audit")
    @roles_required(ADMIN)
    def api_audit():
        """The municipality's audit log, newest first; personal data masked.
        ---
        get:
          tags: [audit]
          summary: The municipality's audit log (its administrators)
          parameters:
          - {in: query, name: action, schema: {type: string}, description: 'Prefix, e.g. member.'}
          - {in: query, name: actor, schema: {type: string}, description: "Part of the actor's e-mail address"}
          - {in: query, name: date_from, schema: {type: string, format: date}}
          - {in: query, name: date_to, schema: {type: string, format: date}}
          - {in: query, name: before, schema: {type: integer}, description: 'next_before of the previous page'}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1, maximum: 200}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: AuditPageSchema}}
            403: {description: Not an administrator of this municipality}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = AuditFilterArgs().load(request.args.to_dict())
        events = search(args, g.tenant.id, False)
        return dump_page(events, page_size(args), {g.tenant.id: g.tenant.slug})
