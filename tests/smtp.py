"""A real SMTP server for the tests: aiosmtpd, in this process, on 127.0.0.1 and a free port.

    from tests import smtp

    @pytest.fixture
    def smtp_server(monkeypatch):
        yield from smtp.running(monkeypatch)

    def test_x(app, smtp_server):
        smtp_server.use(app)            # MAIL_BACKEND=smtp to this server, for this test only
        ...
        [mail] = smtp_server.messages   # parsed email.message.EmailMessage, with .envelope

Nothing leaves the machine: the server accepts every message and keeps it in memory.
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, message))
        return "250 Message accepted for delivery"


class LocalSMTP:
    """The running server: its port, what it received, and how to point an app at it."""

    def __init__(self):
        self.handler = _Handler()
        self.host, self.port = "127.0.0.1", free_port()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[Received]:
        return self.handler.received

    def settings(self) -> dict:
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": self.host, "MAIL_PORT": self.port,
                "MAIL_USE_TLS": False, "MAIL_USERNAME": "", "MAIL_FROM": "piepsysteem@nvsi.test"}


def running(monkeypatch):
    """For a fixture: a started :class:`LocalSMTP`; ``server.use(app)`` sends the app's mail to
    it (``monkeypatch`` restores the app's settings after the test); stopped afterwards."""
    server = LocalSMTP()
    server.controller.start()

    def use(app):
        for key, value in server.settings().items():
            monkeypatch.setitem(app.config, key, value)

    server.use = use
    try:
        yield server
    finally:
        server.controller.stop()
