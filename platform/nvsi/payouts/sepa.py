"""The SEPA credit-transfer file (pain.001.001.03) of a payout batch, made with ``sepaxml``.

``sepaxml`` builds the document (one payment information block per execution date, batch
booking, service level SEPA, charges SLEV) and cleans names and texts to the SEPA character set.
The result is validated against the pain.001.001.03 XSD sepaxml ships, with lxml (libxml2: 0.1 s
for 15,750 payments, where sepaxml's own check with xmlschema takes 3.5 s). sepaxml's message id
and payment information id are random; here they are the batch's own (``NVSI-PREMIE-2026-H1``),
so the bank statement's batch debit can be matched to the batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer

SCHEMA = "pain.001.001.03"
#: The XSD sepaxml validates against (the tests validate with it too, explicitly).
XSD = Path(__import__("sepaxml").__file__).parent / "schemas" / f"{SCHEMA}.xsd"


class DebtorAccountInvalid(ValueError):
    """The NVSI account's IBAN (``INVOICE_SELLER_IBAN``) is missing or invalid."""


@dataclass(frozen=True)
class Debtor:
    """The account paid from: the NVSI's."""

    name: str
    iban: str
    bic: str | None


@dataclass(frozen=True)
class Transfer:
    """One credit transfer: to ``name`` at ``iban``, ``amount_cents``, with its end-to-end id."""

    end_to_end_id: str
    name: str
    iban: str
    amount_cents: int
    description: str


def debtor_from_config(config) -> Debtor:
    """The NVSI account from the invoicing seller settings (``INVOICE_SELLER_NAME``, ``_IBAN``,
    ``_BIC``): employers pay to it and premiums are paid from it. The BIC defaults to the one
    schwifty knows for the IBAN's bank."""
    raw = (config.get("INVOICE_SELLER_IBAN") or "").strip()
    try:
        iban = IBAN(raw)
    except SchwiftyException as exc:
        raise DebtorAccountInvalid(str(exc)) from None
    bic = (config.get("INVOICE_SELLER_BIC") or "").strip() or (str(iban.bic) if iban.bic else None)
    return Debtor(name=(config.get("INVOICE_SELLER_NAME") or "NVSI").strip(), iban=iban.compact, bic=bic)


class _Transfer(SepaTransfer):
    """sepaxml's transfer with our own message id and payment information id."""

    def __init__(self, config, message_id: str, payment_info_id: str):
        self._own_ids = (message_id, payment_info_id)
        super().__init__(config, schema=SCHEMA, clean=True)

    def _create_header(self):
        self.msg_id = self._own_ids[0]
        super()._create_header()

    def _finalize_batch(self):
        super()._finalize_batch()
        for node in self._xml.iter("PmtInfId"):
            node.text = self._own_ids[1]


@functools.cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD), etree.XMLParser(resolve_entities=False, no_network=True)))


def validate(document: bytes) -> None:
    """Raise ``lxml.etree.DocumentInvalid`` unless ``document`` is valid pain.001.001.03."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    _schema().assertValid(etree.fromstring(document, parser))


def build(debtor: Debtor, message_id: str, payment_info_id: str, execution_date: dt.date,
          transfers: list[Transfer]) -> bytes:
    """The pain.001.001.03 document (UTF-8 bytes), validated against its XSD."""
    config = {"name": debtor.name, "IBAN": debtor.iban, "batch": True, "currency": "EUR"}
    if debtor.bic:
        config["BIC"] = debtor.bic
    document = _Transfer(config, message_id, payment_info_id)
    for transfer in transfers:
        document.add_payment({
            "name": transfer.name, "IBAN": transfer.iban, "amount": transfer.amount_cents,
            "execution_date": execution_date, "description": transfer.description,
            "endtoend_id": transfer.end_to_end_id,
        })
    data = document.export(validate=False)
    validate(data)
    return data


def sha256(data: bytes) -> str:
    """The hex SHA-256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()
