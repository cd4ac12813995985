"""marshmallow schemas for candidates. The same ``…Args`` check the API and the pages.

Personal data: no message ever repeats the value it refuses (a BSN or IBAN must not reach an
error response, a log line or a URL), and the output schema shows only the masked BSN and IBAN.
"""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, post_load, validates, validates_schema
from schwifty import IBAN
from schwifty import exceptions as iban_errors
from stdnum.nl import bsn as bsn_number

from nvsi.schemas import Args, OptionalText, PageArgs
from tenants.candidates.models import CandidateStatus

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,28}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Day(fields.Date):
    """An ISO date (what ``<input type="date">`` sends), refused with a Dutch message; an
    empty string counts as missing."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            if self.required or self.load_default is not None:
                raise ValidationError(_("Vul een datum in."))
            return None
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            raise ValidationError(_("Geen geldige datum; gebruik JJJJ-MM-DD, bijvoorbeeld 2026-03-01.")) from exc


class OptionalId(fields.Integer):
    """An id where an empty string (an empty select) means "none"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            raise ValidationError(_("Kies een van de mogelijkheden.")) from exc


class Consent(fields.Boolean):
    """The checkbox "kandidaat heeft vrijwillig ingestemd": only a clear yes is consent, and a
    missing or unticked box says what is needed."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in (True, "true", "on", "1", "ja"):
            return True
        raise ValidationError(_consent_message())

    def make_error(self, key: str, **kwargs) -> ValidationError:
        if key in ("required", "null"):
            return ValidationError(_consent_message())
        return super().make_error(key, **kwargs)


def _consent_message() -> str:
    return _("Leg vast dat de kandidaat vrijwillig heeft ingestemd; zonder instemming is inschrijven niet mogelijk.")


def normalise_bsn(value: str) -> str:
    """The BSN as 9 digits (spaces and dots removed); :class:`ValidationError` when it fails the
    11-test. The message never contains the number."""
    if not isinstance(value, str):
        raise ValidationError(_("Moet tekst zijn."))
    digits = "".join(value.split()).replace(".", "").replace("-", "")
    # An old number written without its leading zero has 8 digits; compact() restores the zero.
    if not digits.isdigit() or len(digits) not in (8, 9):
        raise ValidationError(_("Een BSN bestaat uit 9 cijfers."))
    compact = bsn_number.compact(digits)
    if not bsn_number.is_valid(compact):
        raise ValidationError(_("Dit is geen geldig BSN: het voldoet niet aan de elfproef. Controleer de cijfers."))
    return compact


def normalise_iban(value: str) -> str:
    """The IBAN compact and in capitals; :class:`ValidationError` saying what is wrong (never
    repeating the number: schwifty's own messages do, so they are not used)."""
    try:
        return IBAN(value).compact
    except iban_errors.InvalidCountryCode as exc:
        raise ValidationError(_("Geen geldig IBAN: de landcode (de eerste twee letters) is onbekend.")) from exc
    except iban_errors.InvalidLength as exc:
        raise ValidationError(_("Geen geldig IBAN: het aantal tekens klopt niet (een Nederlands IBAN heeft er 18).")) from exc
    except iban_errors.InvalidChecksumDigits as exc:
        raise ValidationError(_("Geen geldig IBAN: het controlegetal klopt niet. Controleer de tekens.")) from exc
    except iban_errors.SchwiftyException as exc:
        raise ValidationError(
            _("Geen geldig IBAN. Verwacht: landcode, controlegetal en rekeningnummer, bijvoorbeeld NL91 ABNA 0417 1643 00.")
        ) from exc


class Bsn(fields.String):
    """A BSN, checked with the 11-test and stored as 9 digits."""

    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_bsn(value)


class Iban(OptionalText):
    """An IBAN, checked and stored compact; empty means none."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        return None if value is None else normalise_iban(value)


class _CandidateFields(Args):
    """Fields shared by registering and editing, in the order of the form."""

    bsn = Bsn(required=True, metadata={"description": "BSN, 9 digits (11-test); never returned"})
    first_name = fields.String(required=True)
    last_name = fields.String(required=True, metadata={"description": "Family name with prefix"})
    email = OptionalText(load_default=None, allow_none=True)
    phone = OptionalText(load_default=None, allow_none=True)
    iban = Iban(load_default=None, allow_none=True, metadata={"description": "Never returned in full"})
    arrangement_id = OptionalId(load_default=None, allow_none=True,
                                metadata={"description": "One of the tenant's active arrangements"})
    registered_on = Day(load_default=dt.date.today)
    work_preferences = fields.String(load_default="")

    @validates("first_name")
    def _first_name(self, value, **kwargs):
        if not 1 <= len(value) <= 100:
            raise ValidationError(_("Vul de voornaam in (ten hoogste 100 tekens)."))

    @validates("last_name")
    def _last_name(self, value, **kwargs):
        if not 1 <= len(value) <= 100:
            raise ValidationError(_("Vul de achternaam in, met tussenvoegsel (ten hoogste 100 tekens)."))

    @validates("email")
    def _email(self, value, **kwargs):
        if value is not None and (len(value) > 254 or not EMAIL_RE.fullmatch(value)):
            raise ValidationError(_("Geen geldig e-mailadres, bijvoorbeeld naam@voorbeeld.nl."))

    @validates("phone")
    def _phone(self, value, **kwargs):
        if value is not None and not PHONE_RE.fullmatch(value):
            raise ValidationError(_("Een telefoonnummer bestaat uit cijfers, eventueel met +, spaties of streepjes."))

    @validates("registered_on")
    def _registered_on(self, value, **kwargs):
        if value > dt.date.today():
            raise ValidationError(_("De datum van aanmelding mag niet in de toekomst liggen."))

    @validates("work_preferences")
    def _preferences(self, value, **kwargs):
        if len(value) > 2000:
            raise ValidationError(_("Ten hoogste 2000 tekens."))

    @post_load
    def _normalise(self, data, **kwargs):
        if data.get("email"):
            data["email"] = data["email"].lower()
        return data


class CandidateArgs(_CandidateFields):
    """Input for registering a candidate; ``consent`` must be true (voluntary consent recorded)."""

    consent = Consent(required=True, metadata={"description": "The candidate consented voluntarily; must be true"})


class CandidateUpdateArgs(_CandidateFields):
    """Input for editing: any subset of fields (``bsn``/``iban`` only to change them; ``iban``
    null removes it), plus the version the client last saw."""

    version = fields.Integer(required=True)


class StatusArgs(Args):
    """A status change: referral to the WSP, or leaving welfare with a date and a reason.
    ``placed`` is set by a placement, never here."""

    status = fields.String(required=True, metadata={"enum": ["referred_wsp", "left_welfare"]})
    left_on = Day(load_default=None, allow_none=True)
    left_reason = OptionalText(load_default=None, allow_none=True)

    @validates("status")
    def _status(self, value, **kwargs):
        if value not in (CandidateStatus.REFERRED_WSP.value, CandidateStatus.LEFT_WELFARE.value):
            raise ValidationError(_(
                "Kies doorverwezen naar het WSP of uitgestroomd; geplaatst volgt uit een plaatsing."
            ))

    @validates_schema
    def _left(self, data, **kwargs):
        if data.get("status") != CandidateStatus.LEFT_WELFARE.value:
            return
        errors = {}
        if data.get("left_on") is None:
            errors["left_on"] = [_("Vul de datum van uitstroom in.")]
        elif data["left_on"] > dt.date.today():
            errors["left_on"] = [_("De datum van uitstroom mag niet in de toekomst liggen.")]
        if not data.get("left_reason"):
            errors["left_reason"] = [_("Vul de reden van uitstroom in, bijvoorbeeld regulier werk.")]
        elif len(data["left_reason"]) > 200:
            errors["left_reason"] = [_("Ten hoogste 200 tekens.")]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _as_enum(self, data, **kwargs):
        data["status"] = CandidateStatus(data["status"])
        return data


class CandidateListArgs(PageArgs):
    """Filters of the candidate list: a name search and a status. A BSN is never searched
    here (it would travel in the URL): see ``BsnLookupArgs``."""

    q = OptionalText(load_default=None, metadata={"description": "Part of the name"})
    status = OptionalText(load_default=None, metadata={"enum": [s.value for s in CandidateStatus]})

    @validates("q")
    def _q(self, value, **kwargs):
        if value is not None and any(c.isdigit() for c in value):
            raise ValidationError(_(
                "Zoek hier op naam. Een BSN zoekt u met het aparte BSN-veld, zodat het niet in de adresregel komt."
            ))

    @validates("status")
    def _status(self, value, **kwargs):
        if value is not None and value not in {s.value for s in CandidateStatus}:
            raise ValidationError(_("Onbekende status."))

    @post_load
    def _as_enum(self, data, **kwargs):
        data["status"] = CandidateStatus(data["status"]) if data.get("status") else None
        return data


class BsnLookupArgs(Args):
    """Find a candidate by exact BSN (sent in the body, never in the URL)."""

    bsn = Bsn(required=True)


class CandidateSchema(Args):
    """A candidate as the API shows it: BSN and IBAN masked, never in full."""

    id = fields.Integer()
    bsn_masked = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    iban_masked = fields.String(metadata={"description": "Empty when there is no IBAN"})
    arrangement_id = fields.Integer(allow_none=True)
    arrangement_name = fields.Function(lambda c: c.arrangement.name if c.arrangement else None, allow_none=True)
    registered_on = fields.Date()
    consent_at = fields.AwareDateTime()
    consent_recorded_by = fields.Integer(allow_none=True)
    work_preferences = fields.String()
    status = fields.Function(lambda c: c.status.value, metadata={"enum": [s.value for s in CandidateStatus]})
    left_on = fields.Date(allow_none=True)
    left_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()


class CandidatePageSchema(Args):
    """A page of candidates."""

    items = fields.List(fields.Nested(CandidateSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
