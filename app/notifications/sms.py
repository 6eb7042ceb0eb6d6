"""SMS through Twilio, or into the local outbox when no Twilio credentials are configured.

The only module that imports twilio. ``gateway(app)`` picks the implementation by
config: with TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN the real Twilio client, sending
to TWILIO_API_BASE_URL (Twilio's API by default; a Twilio-compatible provider's, or the
tests' local server); without them an outbox that sends nothing and says so in the log.
Webhook signatures are checked here too.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests
from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from app import links

log = logging.getLogger(__name__)

_GATEWAY = "porchlight.sms_gateway"
_lock = threading.Lock()
# The base of every URL the twilio library builds (api.twilio.com, or a regional
# api.<edge>.<region>.twilio.com when TWILIO_EDGE / TWILIO_REGION are set).
TWILIO_API = "https://api.twilio.com"
_API_ORIGIN = re.compile(r"^https://[^/]+")

OUTBOX = "outbox"
TWILIO = "twilio"

# Twilio error codes that no retry will fix.
# 21610: the recipient texted STOP to our number (the carrier blocks us).
UNSUBSCRIBED_CODE = 21610
_PERMANENT_CODES = {21211, 21214, 21408, 21612, 21614, UNSUBSCRIBED_CODE}


class SendError(Exception):
    """The provider refused or could not be reached.

    ``accepted_unknown`` means the request may have reached the provider (a timeout
    after sending): the message may exist, so it must not simply be sent again.
    """

    def __init__(self, message: str, *, retry: bool, code: int | None = None, accepted_unknown: bool = False):
        super().__init__(message)
        self.retry = retry
        self.code = code
        self.accepted_unknown = accepted_unknown

    @property
    def unsubscribed(self) -> bool:
        return self.code == UNSUBSCRIBED_CODE


@dataclass(frozen=True)
class Sent:
    sid: str | None
    status: str  # Twilio's word ("queued", "accepted", ...) or "outbox"
    from_number: str | None = None


class Gateway(Protocol):
    mode: str

    def send(self, to: str, body: str, status_callback: str | None = None, *, ref: str | None = None) -> Sent:
        """Send ``body`` to ``to``; ``ref`` names the message in logs (e.g. "notification 12")."""
        ...

    def find_sent(self, to: str, body: str, since: datetime) -> Sent | None: ...

    def close(self) -> None: ...


class OutboxGateway:
    """Sends nothing: the caller keeps the message in the outbox table; the log says so.

    The log names the message, never its text: bodies carry verification codes, reply
    codes and links with tokens. The operator reads them with ``flask sms outbox``.
    """

    mode = OUTBOX

    def send(self, to: str, body: str, status_callback: str | None = None, *, ref: str | None = None) -> Sent:
        log.warning("SMS NOT SENT (no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN configured): %s to %s kept in the "
                    "outbox; read it with `flask sms outbox`", ref or "a message", mask(to))
        return Sent(sid=None, status=OUTBOX)

    def find_sent(self, to: str, body: str, since: datetime) -> Sent | None:
        return None

    def close(self) -> None:
        pass


class ProviderHttpClient(TwilioHttpClient):
    """The twilio library's own HTTP client, sending to another API base than Twilio's.

    The library offers no base URL of its own: its region and edge options only rename
    the host inside twilio.com. So each request's scheme and host are replaced by the
    base (which may add a path prefix), after the library built the URL; paths, paging,
    form encoding, Basic auth and errors stay the library's.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url
        if self.session is not None:
            # The library sizes its connection pool for https only; a gateway on loopback may be http.
            self.session.mount("http://", self.session.get_adapter("https://"))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, _API_ORIGIN.sub(lambda _: self.base_url, url, count=1), *args, **kwargs)


def check_config(config: Any) -> None:
    """Settle TWILIO_API_BASE_URL at start-up, or refuse to start naming it.

    The rules of PUBLIC_BASE_URL (app/links.py): an absolute http(s) URL without user,
    query or fragment, https in production except on loopback (a local SMS gateway).
    """
    text = config.get("TWILIO_API_BASE_URL") or TWILIO_API
    problem = links.url_problem(text, production=config["ENV_NAME"] == "production")
    if problem:
        raise RuntimeError(f"TWILIO_API_BASE_URL {problem}, got {text!r}: set the base URL of Twilio's API or of a "
                           f"Twilio-compatible provider's, e.g. TWILIO_API_BASE_URL={TWILIO_API} (see docs/DEPLOY.md)")
    config["TWILIO_API_BASE_URL"] = text.rstrip("/")


def http_client(config: Any) -> TwilioHttpClient:
    """The HTTP client of the Twilio client: Twilio's own, or one sending to TWILIO_API_BASE_URL."""
    timeout = float(config["TWILIO_TIMEOUT_SECONDS"])
    base = (config.get("TWILIO_API_BASE_URL") or TWILIO_API).rstrip("/")
    if base == TWILIO_API:
        return TwilioHttpClient(timeout=timeout)
    return ProviderHttpClient(base, timeout=timeout)


class TwilioGateway:
    mode = TWILIO

    def __init__(self, app: Flask) -> None:
        self._http = http_client(app.config)
        self._client = Client(app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"],
                              http_client=self._http)
        self._from = app.config.get("TWILIO_FROM_NUMBER")
        self._service = app.config.get("TWILIO_MESSAGING_SERVICE_SID")
        if not self._from and not self._service:
            raise RuntimeError("Twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")

    def send(self, to: str, body: str, status_callback: str | None = None, *, ref: str | None = None) -> Sent:
        sender = {"messaging_service_sid": self._service} if self._service else {"from_": self._from}
        extra = {"status_callback": status_callback} if status_callback else {}
        try:
            message = self._client.messages.create(to=to, body=body, **sender, **extra)
        except TwilioRestException as exc:
            permanent = exc.code in _PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429)
            # Twilio's messages quote the number ("The 'To' number +1414... is not valid"): the
            # error goes into logs and last_error, so the number is masked there.
            raise SendError(f"Twilio {exc.status} (code {exc.code}): {mask_numbers(str(exc.msg))}"[:300],
                            retry=not permanent,
                            code=exc.code) from None
        except requests.RequestException as exc:
            # Only a failed connection proves the message did not reach Twilio; after a read
            # timeout or a reset it may exist there, so the retry asks Twilio first.
            raise SendError(f"Twilio unreachable: {type(exc).__name__}", retry=True,
                            accepted_unknown=not _never_connected(exc)) from None
        return Sent(sid=message.sid, status=message.status or "queued", from_number=message.from_)

    def find_sent(self, to: str, body: str, since: datetime) -> Sent | None:
        """The message to ``to`` with this body created since ``since``, if Twilio has one."""
        try:
            for message in self._client.messages.list(to=to, limit=20):
                created = message.date_created
                if message.body == body and (created is None or created >= since - timedelta(minutes=1)):
                    return Sent(sid=message.sid, status=message.status or "queued", from_number=message.from_)
        except Exception as exc:
            raise SendError(f"Twilio lookup failed: {type(exc).__name__}", retry=True) from None
        return None

    def close(self) -> None:
        if self._http.session is not None:
            self._http.session.close()


def _never_connected(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and (
        "NewConnectionError" in repr(exc) or "Connection refused" in str(exc))


def mode(app: Flask) -> str:
    return TWILIO if app.config.get("TWILIO_ACCOUNT_SID") and app.config.get("TWILIO_AUTH_TOKEN") else OUTBOX


def gateway(app: Flask) -> Gateway:
    """The app's SMS gateway, built once per app."""
    found = app.extensions.get(_GATEWAY)
    if found is None:
        with _lock:
            found = app.extensions.get(_GATEWAY)
            if found is None:
                found = TwilioGateway(app) if mode(app) == TWILIO else OutboxGateway()
                app.extensions[_GATEWAY] = found
    return found


def close(app: Flask) -> None:
    found = app.extensions.pop(_GATEWAY, None)
    if found is not None:
        found.close()


def signature_valid(app: Flask, url: str, params: Any, signature: str | None) -> bool:
    """Whether X-Twilio-Signature ``signature`` signs this URL and form with our auth token."""
    token = app.config.get("TWILIO_AUTH_TOKEN")
    if not token or not signature:
        return False
    return RequestValidator(token).validate(url, params, signature)


def twiml(message: str | None) -> str:
    """A TwiML answer to an inbound message: one reply, or none."""
    response = MessagingResponse()
    if message:
        response.message(message)
    return str(response)


def mask(phone: str | None) -> str:
    """A phone number for logs: enough to tell numbers apart, not enough to dial."""
    if not phone:
        return "?"
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:]


_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")


def mask_numbers(text: str) -> str:
    """``text`` with every phone-number-like run of digits masked."""
    return _NUMBER.sub(lambda m: mask(re.sub(r"[^\d+]", "", m[0])), text)
