"""Documents of a placement: generated as PDF when the placement is created, regenerated as a new
version on request, downloaded by the tenant only, and (the inzetbevestiging) marked signed by
the municipality and the candidate. Sessions are bound to one tenant; flush, never commit."""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.db import ObjectNotFound, utcnow
from nvsi.rules.violations import RuleViolations, violation
from nvsi.tenancy.routing import TenantRef
from tenants.documents import pdf
from tenants.documents.models import Document, DocumentKind, SigningParty
from tenants.frameworks.services import rules_for
from tenants.guidance import services as guidance
from tenants.placements.models import Placement
from tenants.placements.rules import maximum_duration
from tenants.placements.services import on_placement_created

CONTENT_TYPE = "application/pdf"
_RENDER = {DocumentKind.BESCHIKKING: pdf.render_beschikking,
           DocumentKind.INZETBEVESTIGING: pdf.render_inzetbevestiging}
#: One letter per kind in the kenmerk (FLX-<placement>-B<version>).
_LETTER = {DocumentKind.BESCHIKKING: "B", DocumentKind.INZETBEVESTIGING: "I"}


class DocumentNotFound(ObjectNotFound):
    """No document with this id in this tenant."""


class DocumentError(RuleViolations):
    """A document action was refused; ``violations`` says why."""


def facts_for(session: Session, tenant: TenantRef, placement: Placement, kind: DocumentKind,
              version: int, issued_on: dt.date) -> pdf.LetterFacts:
    """What the document states: the placement, the candidate (masked BSN only), the rules in
    force for the tenant on the start date, and the guidance moments (as stored, or as the
    schedule plans them when they are not stored yet)."""
    rules = rules_for(session, tenant, placement.start_date)
    moments = guidance.moments_for(session, placement.id) or guidance.plan(session, placement)
    assignment = placement.assignment

    def value(key):
        return rules[key].value if key in rules else None

    return pdf.LetterFacts(
        municipality=tenant.name,
        reference=f"FLX-{placement.id}-{_LETTER[kind]}{version}",
        issued_on=issued_on,
        candidate_name=placement.candidate.name,
        candidate_bsn_masked=placement.candidate.bsn_masked,
        employer_name=assignment.employer.name,
        assignment_title=assignment.title,
        location=assignment.location,
        start_date=placement.start_date,
        end_date=placement.end_date,
        hours_per_week=placement.hours_per_week,
        premium_per_hour=rules["premium_per_hour"].value,
        premium_yearly_cap=value("premium_yearly_cap"),
        premium_payment_moments=value("premium_payment_moments"),
        max_months=maximum_duration(rules, placement.start_date, placement.hours_per_week).months,
        rules_version=placement.rules_version,
        goals=placement.goals or "",
        guidance=[(m.name, m.planned_on) for m in moments],
    )


def _next_version(session: Session, placement_id: int, kind: DocumentKind) -> int:
    current = session.scalar(
        sa.select(sa.func.max(Document.version)).where(Document.placement_id == placement_id, Document.kind == kind)
    )
    return (current or 0) + 1


def generate_document(session: Session, tenant: TenantRef, placement: Placement, kind: DocumentKind,
                      user_id: int | None, issued_on: dt.date | None = None) -> Document:
    """Generate ``kind`` for ``placement`` from the data as it is now, as the next version (the
    earlier versions stay). Two generations at the same moment: one wins, the other is refused
    with ``busy`` (the unique version number decides)."""
    version = _next_version(session, placement.id, kind)
    content = _RENDER[kind](facts_for(session, tenant, placement, kind, version, issued_on or dt.date.today()))
    document = Document(
        placement_id=placement.id, kind=kind, version=version,
        filename=f"{kind.value}-plaatsing-{placement.id}-v{version}.pdf", content_type=CONTENT_TYPE,
        content=content, sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content),
        created_by_user_id=user_id,
    )
    try:
        with session.begin_nested():
            session.add(document)
            session.flush()
    except sa.exc.IntegrityError as exc:
        raise DocumentError([violation("busy", "kind", None, None,
                                       "Er werd tegelijk al een nieuwe versie gemaakt. Probeer het opnieuw.")]) from exc
    return document


@on_placement_created
def _documents_for_new_placement(session: Session, tenant: TenantRef, placement: Placement, user_id) -> None:
    for kind in DocumentKind:
        generate_document(session, tenant, placement, kind, user_id)


def documents_for(session: Session, placement_id: int) -> list[Document]:
    """Every version of every document of a placement: by kind, newest version first."""
    return list(session.scalars(
        sa.select(Document).where(Document.placement_id == placement_id)
        .order_by(Document.kind, Document.version.desc())
    ))


def latest_versions(documents: list[Document]) -> dict[DocumentKind, Document]:
    """The newest version per kind, from :func:`documents_for`'s list."""
    latest: dict[DocumentKind, Document] = {}
    for document in documents:
        if document.kind not in latest or document.version > latest[document.kind].version:
            latest[document.kind] = document
    return latest


def get_document(session: Session, document_id: int) -> Document:
    """The document ``document_id`` of the session's tenant; :class:`DocumentNotFound` otherwise."""
    document = session.get(Document, document_id)
    if document is None:
        raise DocumentNotFound(document_id)
    return document


def mark_signed(session: Session, document: Document, party: SigningParty, user_id: int | None) -> Document:
    """Record that ``party`` signed this inzetbevestiging (the municipality: by ``user_id``; the
    candidate: recorded by ``user_id``). Only the newest version can be signed; a signature is
    recorded once and never moved (signing again changes nothing)."""
    problems = []
    if document.kind is not DocumentKind.INZETBEVESTIGING:
        problems.append(violation("not_signable", "document_id", None, None,
                                  "Alleen een inzetbevestiging wordt ondertekend; een beschikking niet."))
    elif _next_version(session, document.placement_id, document.kind) != document.version + 1:
        problems.append(violation("not_latest", "document_id", None, None,
                                  "Er is een nieuwere versie van deze inzetbevestiging: onderteken die."))
    if problems:
        raise DocumentError(problems)
    if party is SigningParty.MUNICIPALITY and document.signed_by_municipality_at is None:
        document.signed_by_municipality_at = utcnow()
        document.signed_by_municipality_by = user_id
    elif party is SigningParty.CANDIDATE and document.signed_by_candidate_at is None:
        document.signed_by_candidate_at = utcnow()
        document.signed_by_candidate_recorded_by = user_id
    session.flush()
    return document
