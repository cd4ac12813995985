"""marshmallow schemas for documents."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates

from nvsi.schemas import Args
from tenants.documents.models import DocumentKind, SigningParty


class RegenerateArgs(Args):
    """Which document to generate again (as a new version)."""

    kind = fields.String(required=True, metadata={"enum": [k.value for k in DocumentKind]})

    @validates("kind")
    def _kind(self, value, **kwargs):
        if value not in {k.value for k in DocumentKind}:
            raise ValidationError(_("Kies beschikking of inzetbevestiging."))


class SignArgs(Args):
    """Who signed the inzetbevestiging."""

    party = fields.String(required=True, metadata={"enum": [p.value for p in SigningParty]})

    @validates("party")
    def _party(self, value, **kwargs):
        if value not in {p.value for p in SigningParty}:
            raise ValidationError(_("Kies gemeente (municipality) of kandidaat (candidate)."))


class DocumentSchema(Args):
    """A document version as the API shows it (without its content: download it)."""

    id = fields.Integer()
    placement_id = fields.Integer()
    kind = fields.Function(lambda d: d.kind.value)
    version = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    created_at = fields.AwareDateTime()
    created_by_user_id = fields.Integer(allow_none=True)
    signed_by_municipality_at = fields.AwareDateTime(allow_none=True)
    signed_by_municipality_by = fields.Integer(allow_none=True)
    signed_by_candidate_at = fields.AwareDateTime(allow_none=True)
    signed_by_candidate_recorded_by = fields.Integer(allow_none=True)
    signed = fields.Boolean()
    download_url = fields.Function(lambda d: url_for("tenant_api.api_download_document", document_id=d.id))
