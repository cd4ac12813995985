"""Stripe for the tests, on this machine only: ``localstripe`` in a subprocess, a small front for
Checkout, a webhook recorder, and a live server of the app.

* :class:`LocalStripe` runs localstripe (a fake, stateful Stripe server: PaymentIntents, charges,
  refunds, and webhooks signed like Stripe's) on a free 127.0.0.1 port. Run as a script, this
  file is that subprocess: it binds 127.0.0.1 only and keeps localstripe's state in memory (the
  package would otherwise write it to /tmp after every request).
* localstripe has no Checkout Sessions. :class:`StripeFront` is the app's ``STRIPE_API_BASE`` in
  the tests: it answers ``/v1/checkout/sessions`` itself, the way Stripe does (it records each
  request with its headers, answers a repeated ``Idempotency-Key`` with the first answer, and
  makes the session's PaymentIntent on localstripe with the ``payment_intent_data`` metadata),
  and passes every other request on to localstripe. Its session page (on its own origin, like
  checkout.stripe.com) sends the browser straight on to the success URL: the employer "pays" by
  the test confirming the PaymentIntent on localstripe.
* :class:`WebhookRecorder` is a second webhook endpoint on localstripe with the same secret, so
  the test holds the exact bytes and signature the app got, to deliver them again.
* :func:`sign` and :func:`event_body` make the events localstripe cannot send (Checkout and
  refunds), signed with the endpoint's secret the way Stripe signs.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

#: The test keys: the API key localstripe accepts, and the webhook signing secret.
API_KEY = "sk_test_nvsi_localstripe"
WEBHOOK_SECRET = "whsec_nvsi_test_" + "0123456789abcdef"
#: localstripe's test cards: one that pays, one whose charge is declined.
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"
#: How long a test waits for a webhook (localstripe sends each one a second after the change).
WAIT_SECONDS = 15


# -- localstripe -------------------------------------------------------------------------------------


class LocalStripe:
    """localstripe in a subprocess on 127.0.0.1, with helpers for what a customer does."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()  # the runner prints its port once it has bound it
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"localstripe did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line)}"
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never a proxy
        self.http.auth = (API_KEY, "")
        deadline = time.monotonic() + 20
        while True:  # answers once its routes are up
            try:
                if self.http.get(self.url + "/v1/payment_intents", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("localstripe does not answer")
            time.sleep(0.1)

    def stop(self) -> None:
        """End the subprocess (only this one)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()

    def call(self, method: str, path: str, data: dict | None = None, expect: int = 200) -> dict:
        response = self.http.request(method, self.url + path, data=_flatten(data or {}), timeout=10)
        assert response.status_code == expect, response.text
        return response.json()

    def register_webhook(self, name: str, url: str, secret: str = WEBHOOK_SECRET,
                         events: list[str] | None = None) -> None:
        """Point localstripe's webhook ``name`` at ``url`` (a later call for ``name`` replaces it)."""
        data = {"url": url, "secret": secret}
        if events is not None:
            data["events"] = events
        response = self.http.post(f"{self.url}/_config/webhooks/{name}", data=_flatten(data), timeout=10)
        assert response.status_code == 200, response.text

    def card(self, number: str) -> str:
        """A card payment method; its id."""
        return self.call("POST", "/v1/payment_methods", {
            "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})["id"]

    def payment_intent(self, amount_cents: int, metadata: dict, card: str | None = None) -> dict:
        """A PaymentIntent in EUR with ``metadata`` (and a card, if given), not yet confirmed."""
        data = {"amount": amount_cents, "currency": "eur", "metadata": metadata}
        if card:
            data["payment_method"] = self.card(card)
        return self.call("POST", "/v1/payment_intents", data)

    def pay(self, intent_id: str, number: str = CARD_OK) -> dict:
        """The customer pays ``intent_id`` with the card ``number``: the card is set and the
        intent confirmed. localstripe answers 402 for a declined card (and sends
        ``payment_intent.payment_failed``), else the intent succeeds (``payment_intent.succeeded``)."""
        self.call("POST", f"/v1/payment_intents/{intent_id}", {"payment_method": self.card(number)})
        response = self.http.post(f"{self.url}/v1/payment_intents/{intent_id}/confirm", timeout=10)
        assert response.status_code in (200, 402), response.text
        return self.call("GET", f"/v1/payment_intents/{intent_id}")

    def refund(self, intent_id: str, amount_cents: int) -> dict:
        """Refund part of a paid intent (localstripe sends no event for it: the test signs one)."""
        return self.call("POST", "/v1/refunds", {"payment_intent": intent_id, "amount": amount_cents})


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: ``metadata[a]=1``, ``events[0]=x``."""
    out = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            out += _flatten(value, name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                out += _flatten({str(index): item}, name) if isinstance(item, dict) else [(f"{name}[{index}]", str(item))]
        else:
            out.append((name, str(value)))
    return out


# -- a recording HTTP server ------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as a test server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The form-encoded body, flat: ``{"metadata[nvsi_tenant]": "alpha", ...}``."""
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class _Server:
    """A threaded HTTP server on a free 127.0.0.1 port; ``handle(recorded) -> (status, headers, body)``."""

    def __init__(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                status, headers, body = owner.handle(recorded)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, recorded: Recorded) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _json(status: int, body: dict, **headers) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


class StripeFront(_Server):
    """Stripe's Checkout Sessions, recorded, in front of localstripe (everything else passes on)."""

    def __init__(self, localstripe: LocalStripe):
        self.localstripe = localstripe
        self.requests: list[Recorded] = []
        self.sessions: dict[str, dict] = {}
        self._answers: dict[str, tuple[int, dict, bytes]] = {}
        #: Answers to give instead of creating a session: (status, should Stripe's SDK retry).
        self.failures: list[tuple[int, bool]] = []
        self._lock = threading.Lock()
        super().__init__()

    def checkout_requests(self) -> list[Recorded]:
        """The requests that asked for a new Checkout Session, oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]

    def handle(self, recorded: Recorded):
        path = recorded.path.split("?")[0]
        if path == "/v1/checkout/sessions" and recorded.method == "POST":
            with self._lock:
                self.requests.append(recorded)
                return self._create(recorded)
        if path.startswith("/checkout/") and recorded.method == "GET":  # the hosted Checkout page
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return 404, {"Content-Type": "text/plain"}, b"no such session"
            return 303, {"Location": session["success_url"]}, b""
        if path.startswith("/v1/checkout/sessions/") and recorded.method == "GET":
            self.requests.append(recorded)
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return _json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
            return _json(200, self._current(session))
        response = self.localstripe.http.request(
            recorded.method, self.localstripe.url + recorded.path, data=recorded.body or None,
            headers={"Content-Type": recorded.header("Content-Type") or "application/x-www-form-urlencoded"},
            timeout=10)
        return response.status_code, {"Content-Type": "application/json"}, response.content

    def _create(self, recorded: Recorded):
        key = recorded.header("Idempotency-Key")
        if key and key in self._answers:  # Stripe answers a repeated key with the first answer
            return self._answers[key]
        if self.failures:
            status, retry = self.failures.pop(0)
            return _json(status, {"error": {"type": "api_error", "message": "test failure"}},
                         **{"Stripe-Should-Retry": "true" if retry else "false"})
        form = recorded.form
        metadata = {k[len("payment_intent_data[metadata]["):-1]: v for k, v in form.items()
                    if k.startswith("payment_intent_data[metadata][")}
        amount = int(form["line_items[0][price_data][unit_amount]"])
        intent = self.localstripe.payment_intent(amount, metadata)
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id, "object": "checkout.session", "mode": form.get("mode"),
            "currency": form.get("currency"), "amount_total": amount, "payment_intent": intent["id"],
            "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
            "url": f"{self.url}/checkout/{session_id}", "status": "open", "payment_status": "unpaid", "_completed": False,
        }
        self.sessions[session_id] = session
        answer = _json(200, self._current(session))
        if key:
            self._answers[key] = answer
        return answer

    def _current(self, session: dict) -> dict:
        """The session as Stripe would show it now: paid once its PaymentIntent succeeded."""
        intent = self.localstripe.call("GET", f"/v1/payment_intents/{session['payment_intent']}")
        paid = intent["status"] == "succeeded"
        shown = {k: v for k, v in session.items() if not k.startswith("_")}
        shown["payment_status"] = "paid" if paid else "unpaid"
        shown["status"] = "complete" if (paid or session["_completed"]) else "open"
        return shown

    def complete(self, session_id: str) -> dict:
        """The employer finished the Checkout page (an iDEAL payment may still be pending)."""
        self.sessions[session_id]["_completed"] = True
        return self._current(self.sessions[session_id])


@dataclass
class Delivery:
    """One webhook as localstripe sent it: the exact body and signature header."""

    event_id: str
    event_type: str
    object_id: str
    body: bytes
    signature: str


class WebhookRecorder(_Server):
    """A webhook endpoint that keeps every delivery (answers 200)."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        super().__init__()

    def handle(self, recorded: Recorded):
        event = json.loads(recorded.body)
        self.deliveries.append(Delivery(event["id"], event["type"], event["data"]["object"].get("id"), recorded.body,
                                        recorded.header("Stripe-Signature")))
        return _json(200, {"received": True})

    def wait_for(self, event_type: str, object_id: str, timeout: float = WAIT_SECONDS) -> Delivery:
        """The delivery of ``event_type`` about ``object_id``, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery in self.deliveries:
                if delivery.event_type == event_type and delivery.object_id == object_id:
                    return delivery
            time.sleep(0.1)
        raise AssertionError(f"no {event_type} for {object_id} within {timeout}s")


# -- signing what localstripe cannot send ------------------------------------------------------------


def event_body(event_type: str, obj: dict, event_id: str | None = None) -> bytes:
    """A Stripe event about ``obj`` as Stripe serialises it."""
    return json.dumps({
        "id": event_id or "evt_test_" + secrets.token_hex(12), "object": "event", "type": event_type,
        "created": int(time.time()), "livemode": False, "api_version": "2025-01-27.acacia",
        "data": {"object": obj},
    }).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``body`` (scheme v1: HMAC-SHA256 of "t.body")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def wait_until(condition, timeout: float = WAIT_SECONDS, what: str = "condition"):
    """Poll ``condition()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s")


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def localstripe():
    """localstripe on a free 127.0.0.1 port for the whole session; stopped at the end."""
    server = LocalStripe()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stripe_front(localstripe):
    """The app's Stripe in the tests: Checkout recorded here, the rest on localstripe."""
    front = StripeFront(localstripe)
    try:
        yield front
    finally:
        front.stop()


def stripe_settings(front: StripeFront) -> dict:
    """The app settings that point the gateway at the front, with the test keys."""
    return {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": front.url,
            "STRIPE_CHECKOUT_ORIGIN": front.url}


# -- the runner (this file as a script) ---------------------------------------------------------------


def _serve() -> None:
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # state in memory only
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
