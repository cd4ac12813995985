"""Sending e-mail, behind a small interface: a :class:`Mailer` has one method, ``send``.

Two implementations, chosen by ``MAIL_BACKEND`` (config/defaults.toml):

* ``smtp`` — :class:`SMTPMailer`: the real thing, through ``smtplib`` to ``MAIL_SERVER`` (STARTTLS
  with ``MAIL_USE_TLS``, login when ``MAIL_USERNAME`` is set; the password only from the
  environment, ``NVSI_MAIL_PASSWORD``).
* ``log`` — :class:`LogMailer`, the embedded default: nothing leaves the machine; one log line per
  message says that it was not sent, with its message id and the number of recipients, never the
  addresses, subject or body (they may name a candidate). What a message said is kept by the code
  that sent it (the reminders keep theirs in the inbox), so no outbox table is needed.

Callers build a :class:`Mail`, ask :func:`mailer` for the configured sender and call ``send``; a
failure is a :class:`MailError` whose message carries no address or content.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from flask import current_app

log = logging.getLogger(__name__)

BACKENDS = ("smtp", "log")


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, e.g. an invoice as PDF and as XML."""

    filename: str
    content: bytes
    #: ``maintype/subtype``, e.g. ``application/pdf``.
    content_type: str


@dataclass(frozen=True)
class Mail:
    """One plain-text message, with files attached if any."""

    to: tuple[str, ...]
    subject: str
    body: str
    #: Extra headers (e.g. ``Auto-Submitted``), without personal data.
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Sent:
    """What a backend did with a message: ``via`` is the backend's name."""

    via: str
    message_id: str


class MailError(RuntimeError):
    """A message could not be handed over. The text names the kind of failure (and an SMTP
    code), never an address or content, so it can be logged and stored. ``server_down``: the
    server could not be reached or refused the session (every other message would fail too)."""

    def __init__(self, message: str, server_down: bool = False):
        super().__init__(message)
        self.server_down = server_down


class Mailer(Protocol):
    """Anything that sends a :class:`Mail`."""

    name: str

    def send(self, mail: Mail) -> Sent: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.body)
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message


class SMTPMailer:
    """Hands messages to an SMTP server (one connection per message)."""

    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, use_tls: bool = True, username: str = "",
                 password: str = "", timeout: float = 10.0):
        self.host, self.port, self.sender = host, port, sender
        self.use_tls, self.username, self.password, self.timeout = use_tls, username, password, timeout

    def send(self, mail: Mail) -> Sent:
        if not mail.to:
            raise MailError("no recipients")
        message = _message(mail, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.use_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            # 421: service not available; a refused HELO or login fails for every message.
            down = exc.smtp_code == 421 or isinstance(exc, (smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError))
            raise MailError(f"SMTP {exc.smtp_code} ({type(exc).__name__})", server_down=down) from None
        except smtplib.SMTPRecipientsRefused:
            raise MailError("SMTP refused every recipient") from None
        except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, timeout, TLS
            raise MailError(f"SMTP unavailable ({type(exc).__name__})", server_down=True) from None
        if refused:
            # Some recipients accepted: the message went out; the refusals are logged by count.
            log.warning("mail partly refused", extra={"fields": {"refused": len(refused)}})
        return Sent(self.name, message["Message-ID"])


class LogMailer:
    """Sends nothing: logs that a message was not sent (no addresses, no content)."""

    name = "log"

    def __init__(self, sender: str = "noreply@localhost"):
        self.sender = sender

    def send(self, mail: Mail) -> Sent:
        if not mail.to:
            raise MailError("no recipients")
        message_id = make_msgid(domain="nvsi.invalid")
        log.info("mail not sent (MAIL_BACKEND=log)",
                 extra={"fields": {"message_id": message_id, "recipients": len(mail.to)}})
        return Sent(self.name, message_id)


def mailer(config=None) -> Mailer:
    """The sender ``MAIL_BACKEND`` chooses, built from the app's config (or ``config``)."""
    config = current_app.config if config is None else config
    backend = config.get("MAIL_BACKEND", "log")
    if backend == "log":
        return LogMailer(config.get("MAIL_FROM") or "noreply@localhost")
    if backend == "smtp":
        if not config.get("MAIL_SERVER") or not config.get("MAIL_FROM"):
            raise MailError("MAIL_BACKEND is smtp but MAIL_SERVER or MAIL_FROM is not set")
        return SMTPMailer(
            config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 587), config["MAIL_FROM"],
            use_tls=bool(config.get("MAIL_USE_TLS", True)), username=config.get("MAIL_USERNAME") or "",
            password=config.get("MAIL_PASSWORD") or "", timeout=float(config.get("MAIL_TIMEOUT") or 10),
        )
    raise MailError(f"unknown MAIL_BACKEND {backend!r}; choose one of {', '.join(BACKENDS)}")
