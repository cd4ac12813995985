"""The offboarding archive: every row of every tenant table and every stored file, as one zip,
encrypted at rest.

Inside the zip (for the municipality, the data controller, so it is complete and readable
without the platform):

* ``tables/<table>.jsonl`` — one JSON object per row of every table in ``TenantBase.metadata``,
  by primary key. Personal data (BSN, IBAN) as plain, decrypted values: the municipality needs
  them to continue its administration, and our key would be of no use to it. Dates and moments
  in ISO 8601, amounts and hours as decimal strings, enums as their stored value, NULL as null.
* ``files/<table>/<id>-<name>`` — the content of every binary column (the PDFs of
  ``documents``); its row holds ``{"file": path, "sha256": …, "bytes": …}`` instead of the bytes.
* ``manifest.json`` — the tenant, the moment, the schema revision, and per file its rows (for
  tables), size and SHA-256; ``LEESMIJ.txt`` explains the layout in Dutch.

At rest the zip is encrypted (:class:`EncryptingWriter`) with a key derived from
``NVSI_DATA_KEY``: chunks of 1 MiB, each sealed with AES-256-GCM; the nonce carries the chunk's
number and a last-chunk flag, so a reordered, dropped or truncated chunk fails to decrypt (the
"STREAM" construction that age and Tink use). ``cryptography`` offers no streaming AEAD of its
own; this keeps memory flat for archives of any size, and a download streams verified chunks.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import hashlib
import json
import os
import struct
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from werkzeug.utils import secure_filename

from nvsi.db import TenantBase

#: Identifies the file format (and its version) of an encrypted archive.
MAGIC = b"NVSIARC1"
#: Plaintext bytes per encrypted chunk.
CHUNK = 1024 * 1024
#: Version of the layout inside the zip (in the manifest).
FORMAT = "nvsi-tenant-export/1"
_NONCE_PREFIX = 7
_LENGTH = struct.Struct(">I")

README = """Export van de gegevens van {name} ({slug}), gemaakt op {moment}.

tables/<tabel>.jsonl   alle rijen van elke tabel, één JSON-object per regel (JSON Lines).
files/<tabel>/...      de opgeslagen bestanden (zoals de PDF's van beschikkingen en
                       inzetbevestigingen); de rij verwijst ernaar met "file".
manifest.json          per bestand het aantal rijen, de grootte en de SHA-256-hash.

Het archief bevat persoonsgegevens (zoals BSN en IBAN) onversleuteld. Bewaar en deel het
volgens het privacybeleid van de gemeente.
"""


class ArchiveError(RuntimeError):
    """An archive that cannot be read: wrong key, damaged, truncated or not an archive."""


def archive_key(data_key: str) -> bytes:
    """The AES-256 key of archives, derived from the personal-data master key."""
    raw = base64.urlsafe_b64decode(data_key.encode())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nvsi-offboarding-archive").derive(raw)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter:
    """A write-only file object that encrypts what is written into ``target`` (see module doc).

    Not seekable: ``zipfile`` then writes data descriptors, so the zip streams straight into it.
    ``close()`` seals the last chunk; an archive without it is refused on reading.
    """

    def __init__(self, target, key: bytes):
        self._target = target
        self._aead = AESGCM(key)
        self._prefix = os.urandom(_NONCE_PREFIX)
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        self._hash = hashlib.sha256()
        self.bytes_written = 0
        self._emit(MAGIC + self._prefix)

    def _emit(self, data: bytes) -> None:
        self._target.write(data)
        self._hash.update(data)
        self.bytes_written += len(data)

    def _seal(self, chunk: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, MAGIC + self._prefix)
        self._emit(_LENGTH.pack(len(sealed)) + sealed)
        self._counter += 1

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to a closed archive")
        self._buffer += data
        # Keep at least one byte back: the last chunk is sealed as last by close().
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True
            self._target.flush()

    @property
    def sha256(self) -> str:
        """SHA-256 of the encrypted bytes written so far (the whole file after close)."""
        return self._hash.hexdigest()


def decrypt_chunks(source, key: bytes) -> Iterator[bytes]:
    """The plaintext of an encrypted archive, chunk by chunk; each chunk is authenticated
    before it is yielded. :class:`ArchiveError` for a wrong key, damage or truncation."""
    header = source.read(len(MAGIC) + _NONCE_PREFIX)
    if len(header) != len(MAGIC) + _NONCE_PREFIX or not header.startswith(MAGIC):
        raise ArchiveError("not an NVSI archive")
    prefix, aead, counter = header[len(MAGIC):], AESGCM(key), 0
    while True:
        size = source.read(_LENGTH.size)
        if len(size) != _LENGTH.size:
            raise ArchiveError("archive truncated: the last chunk is missing")
        sealed = source.read(_LENGTH.unpack(size)[0])
        for last in (False, True):
            try:
                chunk = aead.decrypt(_nonce(prefix, counter, last), sealed, MAGIC + prefix)
            except InvalidTag:
                continue
            break
        else:
            raise ArchiveError("archive damaged or encrypted with another NVSI_DATA_KEY")
        yield chunk
        if last:
            if source.read(1):
                raise ArchiveError("data after the last chunk")
            return
        counter += 1


def decrypt_file(path: Path, key: bytes) -> Iterator[bytes]:
    """:func:`decrypt_chunks` of a file, opened and closed here."""
    with path.open("rb") as source:
        yield from decrypt_chunks(source, key)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# -- rows to JSON -------------------------------------------------------------------------------


def plain(value):
    """A column value as JSON: ISO dates, decimal strings, enum values (never a float for money)."""
    if isinstance(value, enum.Enum):  # before str: most enums here are str enums
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dict | list):
        return value
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def _is_binary(column: sa.Column) -> bool:
    return isinstance(column.type, sa.LargeBinary)


@dataclass
class Manifest:
    """What an archive holds, file by file."""

    tables: dict[str, dict] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        return {name: entry["rows"] for name, entry in self.tables.items()}


class _HashingWriter:
    """Wraps a zip entry: counts and hashes what goes in."""

    def __init__(self, target):
        self.target, self.hash, self.bytes = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.target.write(data)
        self.hash.update(data)
        self.bytes += len(data)


def _file_name(table: sa.Table, row: dict, column: sa.Column, key: str) -> str:
    stored = row.get("filename")
    name = secure_filename(stored) if isinstance(stored, str) else ""
    return f"files/{table.name}/{key}-{name or column.name + '.bin'}"


def write_tables(zf: zipfile.ZipFile, connection: sa.Connection, manifest: Manifest,
                 batch: int = 500) -> None:
    """Every row of every tenant table into ``zf`` (the connection is mapped to the tenant).

    Two passes over a table with binary columns (a zip takes one entry at a time): first its
    files, then its rows, which refer to them. Both read the same snapshot (one transaction).
    """
    for table in TenantBase.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        binaries = [c for c in table.columns if _is_binary(c)]
        others = [c for c in table.columns if not _is_binary(c)]
        stored: dict[tuple, dict] = {}
        for column in binaries:
            named = [table.c.filename] if "filename" in table.c else []
            result = connection.execution_options(yield_per=batch).execute(
                sa.select(*keys, *named, column).where(column.is_not(None)).order_by(*keys))
            for row in result.mappings():
                key = tuple(row[c.name] for c in keys)
                path = _file_name(table, dict(row), column, "-".join(map(str, key)))
                stored[(column.name, *key)] = _write_file(zf, manifest, path, bytes(row[column.name]))
        path, count = f"tables/{table.name}.jsonl", 0
        with zf.open(path, "w", force_zip64=True) as raw:
            out = _HashingWriter(raw)
            result = connection.execution_options(yield_per=batch).execute(sa.select(*others).order_by(*keys))
            for row in result.mappings():
                line = {name: plain(value) for name, value in row.items()}
                key = tuple(row[c.name] for c in keys)
                for column in binaries:
                    line[column.name] = stored.get((column.name, *key))
                out.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n")
                count += 1
        manifest.tables[table.name] = {"file": path, "rows": count, "bytes": out.bytes,
                                       "sha256": out.hash.hexdigest(),
                                       "columns": [c.name for c in table.columns]}


def _write_file(zf: zipfile.ZipFile, manifest: Manifest, path: str, content: bytes) -> dict:
    zf.writestr(path, content)
    entry = {"file": path, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    manifest.files.append(entry)
    return entry


@dataclass(frozen=True)
class ArchiveResult:
    """The written archive file: its name, size, SHA-256 (encrypted bytes) and row counts."""

    path: Path
    bytes: int
    sha256: str
    rows: dict[str, int]


def write_archive(path: Path, key: bytes, connection: sa.Connection, tenant: dict, revision: str | None,
                  moment: dt.datetime) -> ArchiveResult:
    """Write the encrypted archive of one tenant to ``path`` (mode 0600), atomically: a partial
    file never carries the final name, so a crash leaves nothing that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    manifest = Manifest()
    try:
        with os.fdopen(fd, "wb") as target:
            writer = EncryptingWriter(target, key)
            with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("LEESMIJ.txt", README.format(name=tenant["name"], slug=tenant["slug"],
                                                         moment=moment.isoformat(timespec="seconds")))
                write_tables(zf, connection, manifest)
                body = {"format": FORMAT, "tenant": tenant, "exported_at": moment.isoformat(),
                        "schema_revision": revision, "tables": manifest.tables, "files": manifest.files,
                        "personal_data": "plain: decrypted values (BSN, IBAN) as stored"}
                zf.writestr("manifest.json", json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True))
            writer.close()
            os.fsync(target.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return ArchiveResult(path, writer.bytes_written, writer.sha256, manifest.rows)
