"""A Web Push service on 127.0.0.1, playing the browser vendor's role (RFC 8030/8291/8292).

Each subscriber gets a P-256 key pair and a 16-byte auth secret, as a browser makes
them. Every POST is checked the way a push service checks it — ``Authorization: vapid
t=<JWT>,k=<key>`` with an ES256 signature by the app's VAPID key (verified once per
token, as push services cache them) and ``aud`` equal to this service's origin, ``exp``
still ahead — then decrypted with http_ece (aes128gcm) as the browser would.

A message with the same ``Topic`` as an undelivered one replaces it (RFC 8030 §5.4):
``mailbox(sub)`` holds what the device would show; ``received`` every POST.

Per subscriber the answer can be set (201, 404, 410, 500, a 307 with its ``location``...)
or held: the request is recorded and decrypted, then left unanswered until ``release()``
(a worker waiting on it can be killed mid-send).

The app sends to this plain-http loopback origin only when PUSH_TEST_ORIGINS lists it
(``allow_in(app)``, or the origin in a server's environment: pick the ``port`` first).

Run alone for the benchmark: ``python -m tests.peers.push_service --port 0 --key <app VAPID key>``
prints its port, serves ``POST /_control/subscribe?n=N`` (JSON list of subscriptions),
``GET /_control/stats`` (count, first/last decrypt time) and ``GET /_control/wait?count=N``
(the same, once N messages are in).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.peers.ports import BurstHTTPServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str
    status: int = 201
    hold: bool = False
    location: str | None = None  # sent with the answer (e.g. a 307's target)
    close: bool = False  # answer with Connection: close, and close it

    def subscription(self) -> dict:
        public = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}


@dataclass
class Received:
    subscriber: str
    payload: dict
    ttl: int
    urgency: str | None
    topic: str | None
    at: float
    claims: dict = field(default_factory=dict)
    authorization: str | None = None  # the header as sent (a VAPID token may be reused)
    peer: tuple | None = None  # the sender's address and port: one per connection


class VapidError(Exception):
    pass


# Tokens whose ES256 signature checked out, and their claims. A push service sees the same
# token on every message an application server sends it until the token expires (RFC 8292
# §2 lets a token be reused, and the app does) and checks its signature once, as a real one
# caches it; everything else (the key, aud, exp, sub) is checked on every message.
_VERIFIED: dict[tuple[str, str], dict] = {}
_VERIFIED_MAX = 1024
_verified_lock = threading.Lock()


def _verified_claims(token: str, key: str) -> dict:
    """The claims of a token whose signature by ``key`` verifies (checked once per token and key)."""
    claims = _VERIFIED.get((token, key))
    if claims is not None:
        return claims
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    head_b64, claims_b64, sig_b64 = token.split(".")
    header_json = json.loads(b64url_decode(head_b64))
    if header_json.get("alg") != "ES256":
        raise VapidError(f"alg {header_json.get('alg')} is not ES256")
    signature = b64url_decode(sig_b64)
    if len(signature) != 64:
        raise VapidError("ES256 signature must be 64 bytes (r||s)")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidError("bad JWT signature") from None
    claims = json.loads(b64url_decode(claims_b64))
    with _verified_lock:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[(token, key)] = claims
    return claims


def verify_vapid(header: str | None, origin: str, app_key: str | None) -> dict:
    """The JWT claims of a valid ``vapid t=...,k=...`` header, or VapidError."""
    if not header or not header.startswith("vapid "):
        raise VapidError("no vapid Authorization header")
    params = dict(part.strip().split("=", 1) for part in header[len("vapid "):].split(","))
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise VapidError("vapid header lacks t or k")
    if app_key is not None and key != app_key:
        raise VapidError("signed with another key than the app's VAPID public key")
    claims = dict(_verified_claims(token, key))
    if claims.get("aud") != origin:
        raise VapidError(f"aud {claims.get('aud')!r} is not this push service's origin {origin!r}")
    if not isinstance(claims.get("exp"), int) or not time.time() < claims["exp"] <= time.time() + 24 * 3600:
        raise VapidError("exp missing, past, or more than 24 h ahead")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise VapidError("sub must be a mailto: or https: URL")
    return claims


class LocalPushService:
    def __init__(self, app_public_key: str | None = None, port: int = 0) -> None:
        self.app_public_key = app_public_key
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[Received] = []
        self.errors: list[str] = []
        self._release = threading.Event()
        self._changed = threading.Condition()
        self._awaited: list[int] = []  # the counts wait_for() callers wait for
        self._counter = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                service._handle(self)

            def do_GET(self):  # noqa: N802
                service._handle_get(self)

        self.server = BurstHTTPServer(("127.0.0.1", port), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-push-service", daemon=True)

    # --- lifecycle ---
    def start(self) -> LocalPushService:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()  # joins the handler threads
        self._thread.join()

    def __enter__(self) -> LocalPushService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def allow_in(self, app) -> LocalPushService:
        """Let ``app`` send here: a plain-http loopback origin passes only as a listed test origin."""
        app.config["PUSH_TEST_ORIGINS"] = self.origin
        return self

    # --- subscribers ---
    def new_subscriber(self, status: int = 201, hold: bool = False, location: str | None = None,
                       close: bool = False) -> Subscriber:
        with self._changed:
            self._counter += 1
            sid = f"sub{self._counter}-{os.urandom(4).hex()}"
        subscriber = Subscriber(sid, ec.generate_private_key(ec.SECP256R1()), os.urandom(16),
                                f"{self.origin}/push/{sid}", status=status, hold=hold, location=location,
                                close=close)
        self.subscribers[sid] = subscriber
        return subscriber

    def release(self) -> None:
        self._release.set()

    # --- what arrived ---
    def messages_for(self, subscriber: Subscriber) -> list[Received]:
        return [r for r in self.received if r.subscriber == subscriber.id]

    def mailbox(self, subscriber: Subscriber) -> list[Received]:
        """What the device gets: a message replaced by a later one with the same Topic."""
        box: dict[str, Received] = {}
        for r in self.messages_for(subscriber):
            box[r.topic or f"untopiced-{id(r)}"] = r
        return list(box.values())

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        with self._changed:
            self._awaited.append(count)
            try:
                return self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            finally:
                self._awaited.remove(count)

    # --- protocol ---
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path)
        if path.path.startswith("/_control/subscribe"):
            n = int(parse_qs(path.query).get("n", ["1"])[0])
            self._reply(handler, 200, json.dumps([self.new_subscriber().subscription() for _ in range(n)]).encode())
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        subscriber = self.subscribers.get(path.path.removeprefix("/push/"))
        if subscriber is None:
            self._reply(handler, 404)
            return
        try:
            claims = verify_vapid(handler.headers.get("Authorization"), self.origin, self.app_public_key)
            if handler.headers.get("Content-Encoding") != "aes128gcm":
                raise VapidError(f"Content-Encoding {handler.headers.get('Content-Encoding')!r}")
            ttl = handler.headers.get("TTL")
            if ttl is None or not ttl.isdigit():
                raise VapidError("TTL header missing")
            plain = http_ece.decrypt(body, private_key=subscriber.private_key, auth_secret=subscriber.auth,
                                     version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:  # a push service refuses what it cannot verify or decrypt
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._reply(handler, 400 if not isinstance(exc, VapidError) else 403)
            return
        if subscriber.status < 300:
            with self._changed:
                self.received.append(Received(subscriber.id, payload, int(ttl), handler.headers.get("Urgency"),
                                              handler.headers.get("Topic"), time.time(), claims,
                                              handler.headers.get("Authorization"), handler.client_address))
                # Waiters are woken when a count one of them waits for is reached, not at every
                # message (a benchmark's waiter would take the GIL a thousand times).
                if self._awaited and len(self.received) >= min(self._awaited):
                    self._changed.notify_all()
        if subscriber.hold:
            self._release.wait(60)
        if subscriber.close:
            handler.close_connection = True
        self._reply(handler, subscriber.status, location=subscriber.location, close=subscriber.close)

    def _handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path)
        if path.path == "/_control/wait":
            # Held until ``count`` messages are in (or ``timeout`` s): one request, where polling
            # /_control/stats would spend the caller's CPU (the benchmark's app process) meanwhile.
            query = parse_qs(path.query)
            self.wait_for(int(query["count"][0]), float(query.get("timeout", ["60"])[0]))
            handler.path = "/_control/stats"
        if handler.path.startswith("/_control/stats"):
            times = [r.at for r in self.received]
            stats = {"count": len(times), "first": min(times, default=None), "last": max(times, default=None),
                     "errors": self.errors[:5], "error_count": len(self.errors)}
            self._reply(handler, 200, json.dumps(stats).encode())
        else:
            self._reply(handler, 404)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", location: str | None = None,
               close: bool = False) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(body)))
            if close:
                handler.send_header("Connection", "close")
            if location is not None:
                handler.send_header("Location", location)
            elif status == 201:
                handler.send_header("Location", f"/message/{os.urandom(8).hex()}")
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender is gone (a killed worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", required=True, help="The app's VAPID public key (base64url).")
    parser.add_argument("--port", type=int, default=0, help="The port on 127.0.0.1 (0: any free one).")
    args = parser.parse_args()
    service = LocalPushService(args.key, port=args.port).start()
    print(service.server.server_port, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        service.close()


if __name__ == "__main__":
    main()
