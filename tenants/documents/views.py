"""Documents through the API and the pages: list a placement's documents, download a version
(tenant members only; an attachment that is never cached), generate a new version, and record
the signatures of an inzetbevestiging. Changes are for municipality staff and admins."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, g, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import has_role, roles_required
from nvsi.auth.models import Role, User
from nvsi.extensions import db
from tenants.documents import services
from tenants.documents.models import DocumentKind, SigningParty
from tenants.documents.schemas import DocumentSchema, RegenerateArgs, SignArgs
from tenants.placements.services import get_placement, placement_section

#: Who generates documents and records signatures: the municipality's own people.
MUNICIPALITY = (Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF)


def _load(document_id: int):
    return services.get_document(db.session, document_id)


def _placement(placement_id: int):
    return get_placement(db.session, placement_id)


def _download(document):
    """The PDF as an attachment; personal data, so never stored by any cache."""
    response = make_response(document.content)
    response.headers["Content-Type"] = document.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response.headers["Cache-Control"] = "private, no-store, max-age=0"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@placement_section
def _documents_section(session, placement):
    """The documents of the placement page: every version, its download and signing state."""
    documents = services.documents_for(session, placement.id)
    signer_ids = {d.signed_by_municipality_by for d in documents if d.signed_by_municipality_by}
    signers = dict(session.execute(sa.select(User.id, User.name).where(User.id.in_(signer_ids))).all()) \
        if signer_ids else {}
    return "documents/section.html", {
        "documents": documents, "latest": services.latest_versions(documents), "signers": signers,
        "kinds": list(DocumentKind), "can_act": has_role(*MUNICIPALITY),
    }


def register_api(bp):
    @bp.get("/placements/<int:placement_id>/documents")
    @login_required
    def api_list_documents(placement_id: int):
        """Every version of the placement's documents, by kind, newest first.
        ---
        get:
          tags: [documents]
          summary: List a placement's documents (beschikking, inzetbevestiging)
          responses:
            200:
              description: OK
              content: {application/json: {schema: {type: array, items: DocumentSchema}}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        placement = _placement(placement_id)
        return DocumentSchema(many=True).dump(services.documents_for(db.session, placement.id))

    @bp.post("/placements/<int:placement_id>/documents")
    @roles_required(*MUNICIPALITY)
    def api_regenerate_document(placement_id: int):
        """Generate a document again from the placement as it is now: a new version; the earlier
        versions stay.
        ---
        post:
          tags: [documents]
          summary: Generate a new version of a document
          requestBody: {required: true, content: {application/json: {schema: RegenerateArgs}}}
          responses:
            201:
              description: Created
              content: {application/json: {schema: DocumentSchema}}
            403: {description: Not a municipality role}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        placement = _placement(placement_id)
        data = RegenerateArgs().load(json_body())
        document = services.generate_document(db.session, g.tenant, placement, DocumentKind(data["kind"]),
                                              current_user.id)
        db.session.commit()
        location = url_for("tenant_api.api_download_document", document_id=document.id)
        return DocumentSchema().dump(document), 201, {"Location": location}

    @bp.get("/documents/<int:document_id>")
    @login_required
    def api_download_document(document_id: int):
        """Download one version of a document (PDF, as an attachment, never cached).
        ---
        get:
          tags: [documents]
          summary: Download a document
          responses:
            200:
              description: The PDF
              content: {application/pdf: {schema: {type: string, format: binary}}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return _download(_load(document_id))

    @bp.post("/documents/<int:document_id>/sign")
    @roles_required(*MUNICIPALITY)
    def api_sign_document(document_id: int):
        """Record that the municipality or the candidate signed the (newest) inzetbevestiging.
        ---
        post:
          tags: [documents]
          summary: Mark an inzetbevestiging signed
          requestBody: {required: true, content: {application/json: {schema: SignArgs}}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: DocumentSchema}}
            403: {description: Not a municipality role}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        document = _load(document_id)
        data = SignArgs().load(json_body())
        services.mark_signed(db.session, document, SigningParty(data["party"]), current_user.id)
        db.session.commit()
        return DocumentSchema().dump(document)


def register_pages(bp):
    @bp.get("/documenten/<int:document_id>")
    @login_required
    def download_document(document_id: int):
        """Download one version of a document."""
        return _download(_load(document_id))

    @bp.post("/plaatsingen/<int:placement_id>/documenten")
    @roles_required(*MUNICIPALITY)
    def regenerate_document(placement_id: int):
        """Generate a new version of a document (form field ``kind``)."""
        placement = _placement(placement_id)
        try:
            data = RegenerateArgs().load({"kind": request.form.get("kind", "")})
            document = services.generate_document(db.session, g.tenant, placement, DocumentKind(data["kind"]),
                                                  current_user.id)
        except ValidationError:
            flash(_("Kies beschikking of inzetbevestiging."), "error")
        except services.DocumentError as exc:
            db.session.rollback()
            flash(exc.violations[0].message, "error")
        else:
            db.session.commit()
            flash(_("Versie %(version)s is gemaakt.", version=document.version), "success")
        return redirect(url_for("tenant.placement", placement_id=placement_id, _anchor="documenten"))

    @bp.post("/documenten/<int:document_id>/ondertekend")
    @roles_required(*MUNICIPALITY)
    def sign_document(document_id: int):
        """Record a signature of the inzetbevestiging (form field ``party``)."""
        document = _load(document_id)
        try:
            data = SignArgs().load({"party": request.form.get("party", "")})
            services.mark_signed(db.session, document, SigningParty(data["party"]), current_user.id)
        except ValidationError:
            flash(_("Kies wie heeft ondertekend: de gemeente of de kandidaat."), "error")
        except services.DocumentError as exc:
            db.session.rollback()
            flash(exc.violations[0].message, "error")
        else:
            db.session.commit()
            flash(_("De ondertekening is vastgelegd."), "success")
        return redirect(url_for("tenant.placement", placement_id=document.placement_id, _anchor="documenten"))
