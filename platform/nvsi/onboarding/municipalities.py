"""The Dutch municipalities a sign-up may name: CBS code and official name, from the data file
shipped with the platform (``data/municipalities.csv``, source and reference date in
``data/README.md``). Read once per process; no package carries this list."""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "municipalities.csv"
#: A CBS municipality code: "GM" and four digits.
CBS_CODE_RE = re.compile(r"^GM\d{4}$")


@dataclass(frozen=True)
class Municipality:
    """One municipality of the list."""

    cbs_code: str
    name: str


@functools.cache
def municipalities() -> dict[str, Municipality]:
    """Every municipality of the data file, by CBS code, in the file's (alphabetical) order."""
    with DATA_FILE.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        result = {row["cbs_code"]: Municipality(row["cbs_code"], row["name"]) for row in rows}
    bad = [code for code in result if not CBS_CODE_RE.fullmatch(code)]
    if bad:
        raise ValueError(f"{DATA_FILE.name}: not a CBS code: {bad[:3]}")
    return result


def municipality(cbs_code: str) -> Municipality | None:
    """The municipality with this CBS code, or None if the list does not have it."""
    return municipalities().get((cbs_code or "").strip().upper())


def slug_from_name(name: str) -> str:
    """A tenant slug made from a municipality's name: ASCII, lower case, words joined by ``_``
    ("'s-Hertogenbosch" → ``s_hertogenbosch``, "Súdwest-Fryslân" → ``sudwest_fryslan``), at
    most 41 characters, starting with a letter. The caller validates and deduplicates it."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    slug = re.sub(r"^[^a-z]+", "", slug)
    return slug[:41].rstrip("_")
