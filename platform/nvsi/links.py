"""Signed, expiring links in mails (approval, payment, invitation, reset, verification).

One signer for all of them: itsdangerous' URL-safe timed serializer keyed with ``SECRET_KEY``,
a salt per purpose (a token of one purpose never opens another), and a clock that tests can fix.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, has_request_context, url_for
from itsdangerous import TimestampSigner, URLSafeTimedSerializer


class ClockSigner(TimestampSigner):
    """A timestamp signer with an optional fixed clock, so a link can be signed and checked "as
    of" a moment (tests travel in time with it; production passes nothing)."""

    def __init__(self, *args, now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now.timestamp()) if self._now is not None else super().get_timestamp()


def signed_serializer(salt: str, now: dt.datetime | None = None) -> URLSafeTimedSerializer:
    """The serializer of one purpose (``salt``), signing and checking as of ``now``."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=ClockSigner,
                                  signer_kwargs={"now": now})


def mail_link(endpoint: str, **values) -> str:
    """An absolute link for a mail: on ``MAIL_LINK_BASE_URL`` when set (so a job can make one),
    else on the host of the current request."""
    base = (current_app.config.get("MAIL_LINK_BASE_URL") or "").rstrip("/")
    if base:
        return base + current_app.url_map.bind("localhost").build(endpoint, values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    raise RuntimeError("set MAIL_LINK_BASE_URL to make links outside a request")
