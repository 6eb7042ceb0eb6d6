"""A local stand-in for Twilio's REST API, for the real twilio Client, plus webhook signing.

The app reaches it as it would reach a Twilio-compatible provider: :meth:`LocalTwilio.config`
sets TWILIO_API_BASE_URL to this server, and everything on the way (the app's client,
form encoding, Basic auth, JSON parsing, errors) is the app's and the library's own. The
server implements what the app calls:

- ``POST /2010-04-01/Accounts/<sid>/Messages.json`` (To, From or MessagingServiceSid,
  Body, StatusCallback) → 201 with a message resource;
- ``GET  /2010-04-01/Accounts/<sid>/Messages.json?To=...`` → a page, newest first.

``fail_next(...)`` answers the next create with a Twilio error; ``hold_next()``
records the next message and then leaves the request unanswered until ``release()``.
"""
from __future__ import annotations

import base64
import email.utils
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

from tests.peers.ports import BurstHTTPServer

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "local-twilio-auth-token-0123456789"
FROM_NUMBER = "+14145550100"


@dataclass
class Message:
    sid: str
    to: str
    from_: str | None
    body: str
    status_callback: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "queued"

    def resource(self, account: str) -> dict:
        date = email.utils.format_datetime(self.created, usegmt=True)
        return {"sid": self.sid, "account_sid": account, "to": self.to, "from": self.from_, "body": self.body,
                "status": self.status, "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                "date_created": date, "date_updated": date, "date_sent": None, "price": None, "error_code": None,
                "error_message": None, "api_version": "2010-04-01", "messaging_service_sid": None,
                "uri": f"/2010-04-01/Accounts/{account}/Messages/{self.sid}.json", "subresource_uris": {}}


class LocalTwilio:
    """The server; ``prefix`` serves the API under a path (a provider's gateway behind a path)."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, prefix: str = "") -> None:
        self.account_sid, self.auth_token, self.prefix = account_sid, auth_token, prefix
        self.messages: list[Message] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self.errors: list[str] = []
        self._failures: list[tuple[int, int, str]] = []
        self._holds = 0
        self._release = threading.Event()
        self._changed = threading.Condition()
        twilio = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                twilio._create(self)

            def do_GET(self):  # noqa: N802
                twilio._list(self)

        self.server = BurstHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}{prefix}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-twilio", daemon=True)

    def start(self) -> LocalTwilio:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def __enter__(self) -> LocalTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def config(self) -> dict:
        """The app settings that make it use this account on this server."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM_NUMBER": FROM_NUMBER, "TWILIO_API_BASE_URL": self.base_url}

    def fail_next(self, status: int = 500, code: int = 20500, message: str = "Internal Server Error") -> None:
        self._failures.append((status, code, message))

    def hold_next(self, count: int = 1) -> None:
        self._holds += count

    def release(self) -> None:
        self._release.set()

    def to(self, number: str) -> list[Message]:
        return [m for m in self.messages if m.to == number]

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.messages) >= count, timeout)

    # --- the API ---
    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            self.errors.append("bad Basic auth")
            self._reply(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
            return False
        return True

    def _path(self, handler: BaseHTTPRequestHandler) -> str:
        """The request's path without the prefix; a path outside the prefix keeps a leading "!"."""
        path = urlsplit(handler.path).path
        return path[len(self.prefix):] if path.startswith(self.prefix + "/") else "!" + path

    def _create(self, handler: BaseHTTPRequestHandler) -> None:
        path = self._path(handler)
        self.requests.append(("POST", path))
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode(), keep_blank_values=True).items()}
        if not self._authorized(handler):
            return
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            self._reply(handler, 404, {"code": 20404, "message": "Not found", "status": 404})
            return
        if not form.get("To") or not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            self.errors.append(f"incomplete message: {sorted(form)}")
            self._reply(handler, 400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
            return
        if self._failures:
            status, code, message = self._failures.pop(0)
            self._reply(handler, status, {"code": code, "message": message, "status": status,
                                          "more_info": f"https://www.twilio.com/docs/errors/{code}"})
            return
        message = Message("SM" + secrets.token_hex(16), form["To"], form.get("From"), form["Body"],
                          form.get("StatusCallback"))
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
            hold = self._holds > 0
            self._holds -= 1 if hold else 0
        if hold:
            self._release.wait(60)
        self._reply(handler, 201, message.resource(self.account_sid))

    def _list(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = self._path(handler)
        self.requests.append(("GET", path))
        if not self._authorized(handler):
            return
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            self._reply(handler, 404, {"code": 20404, "message": "Not found", "status": 404})
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        found = [m for m in reversed(self.messages) if "To" not in query or m.to == query["To"]]
        size = int(query.get("PageSize", 50))
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self._reply(handler, 200, {"messages": [m.resource(self.account_sid) for m in found[:size]],
                                   "page": 0, "page_size": size, "start": 0, "end": min(size, len(found)) - 1,
                                   "uri": uri, "first_page_uri": uri, "next_page_uri": None,
                                   "previous_page_uri": None})

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def signed_post(client, url: str, params: dict, token: str = AUTH_TOKEN, signature: str | None = None):
    """POST ``params`` form-encoded to ``url`` (absolute, as Twilio calls it) with X-Twilio-Signature."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(path, data=params, headers=headers)
