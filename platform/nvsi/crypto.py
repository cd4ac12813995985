"""Personal data at rest: BSN and IBAN are stored encrypted, and found through a keyed hash.

One master key (``NVSI_DATA_KEY``, 32 random bytes, url-safe base64) comes from the
environment; the embedded default generates one in the instance folder (mode 0600). Two keys
are derived from it with HKDF: one for Fernet (AES-128-CBC + HMAC-SHA256, a random IV per
value, so equal BSNs give different ciphertexts) and one for HMAC-SHA256 lookups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class PersonalDataCipher:
    """Encrypts, decrypts and hashes personal data with keys derived from one master key."""

    def __init__(self, master_key: str):
        raw = base64.urlsafe_b64decode(master_key.encode())
        if len(raw) != 32:
            raise ValueError("NVSI_DATA_KEY must be 32 bytes in url-safe base64")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(raw, b"nvsi-encryption")))
        self._hash_key = _derive(raw, b"nvsi-lookup-hash")

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("personal data cannot be decrypted with this NVSI_DATA_KEY") from exc

    def lookup_hash(self, value: str) -> str:
        """A keyed hash to find a record by BSN without storing the BSN in clear."""
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def generate_key() -> str:
    """A new master key (for ``NVSI_DATA_KEY``)."""
    import os

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


_current: PersonalDataCipher | None = None


def configure(cipher: PersonalDataCipher) -> None:
    """Install the process's cipher (the app factory does this; one key per deployment)."""
    global _current
    _current = cipher


def cipher() -> PersonalDataCipher:
    """The cipher of the current app, or of the process."""
    from flask import current_app, has_app_context

    if has_app_context() and "nvsi.cipher" in current_app.extensions:
        return current_app.extensions["nvsi.cipher"]
    if _current is None:
        raise RuntimeError("no personal-data key configured")
    return _current


class PersonalText(str):
    """A decrypted value: the text itself, but its ``repr`` is masked. Whatever logs values by
    ``repr`` (SQLAlchemy's result-row logging at DEBUG, tracebacks with locals, assertion
    messages) shows ``'••••••789'``, never the whole number."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask(self))


class Encrypted(sa.types.TypeDecorator):
    """A text column stored encrypted (never in clear, not even in SQL logs)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else cipher().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else PersonalText(cipher().decrypt(value))


def mask(value: str | None, visible: int = 3) -> str:
    """``*****6789``-style masking for display; never the whole value."""
    if not value:
        return ""
    return "•" * max(0, len(value) - visible) + value[-visible:]
