"""The document model: one row per generated version of a placement's document."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime


class DocumentKind(str, enum.Enum):
    """Which document."""

    #: The decision letter: the municipality places the candidate and grants the premium.
    BESCHIKKING = "beschikking"
    #: The deployment confirmation with the re-integration goals; signed by both, not a decision.
    INZETBEVESTIGING = "inzetbevestiging"


class SigningParty(str, enum.Enum):
    """Who signs an inzetbevestiging."""

    MUNICIPALITY = "municipality"
    CANDIDATE = "candidate"


class Document(TenantBase):
    """One version of a placement's document, as generated (the PDF bytes are never changed).

    Regenerating makes version n+1; older versions stay and stay downloadable. Only the signing
    state of an inzetbevestiging is recorded afterwards, on the version that was signed."""

    __tablename__ = "documents"

    id: Mapped[BigIntPK]
    #: The placement it belongs to.
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"))
    #: See :class:`DocumentKind`.
    kind: Mapped[DocumentKind] = mapped_column(
        sa.Enum(DocumentKind, name="document_kind", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e])
    )
    #: 1 for the first version of this kind for the placement, then 2, 3, …
    version: Mapped[int]
    #: File name offered on download (no personal data in it).
    filename: Mapped[str] = mapped_column(sa.String(200))
    #: MIME type, ``application/pdf``.
    content_type: Mapped[str] = mapped_column(sa.String(100))
    #: The file itself (loaded only when downloaded).
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    #: SHA-256 of ``content`` in hex: proves later that a file is the one issued.
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: Size of ``content`` in bytes.
    size_bytes: Mapped[int]
    #: When it was generated.
    created_at: Mapped[Created]
    #: Who generated it (user id); None for a job.
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When the municipality signed (inzetbevestiging only).
    signed_by_municipality_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Who signed for the municipality (user id).
    signed_by_municipality_by: Mapped[int | None] = mapped_column(BigIntType)
    #: When the candidate signed (inzetbevestiging only), as recorded by staff.
    signed_by_candidate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Who recorded the candidate's signature (user id).
    signed_by_candidate_recorded_by: Mapped[int | None] = mapped_column(BigIntType)

    __table_args__ = (
        sa.UniqueConstraint("placement_id", "kind", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint(
            "kind = 'inzetbevestiging' OR (signed_by_municipality_at IS NULL AND signed_by_candidate_at IS NULL)",
            name="only_inzetbevestiging_signed",
        ),
    )

    @property
    def signed(self) -> bool:
        """Signed by both parties."""
        return self.signed_by_municipality_at is not None and self.signed_by_candidate_at is not None
