"""Web Push: the VAPID key pair and sending encrypted messages with pywebpush.

The only module that imports pywebpush. The key pair comes from VAPID_PRIVATE_KEY
(PEM or a base64url raw key) or is generated once into instance/vapid_private.pem;
the public half is the PWA's ``applicationServerKey``.

Each message is encrypted by pywebpush (RFC 8291, aes128gcm) for its subscription and
carries the VAPID token of its push service's origin, signed once and reused until an
hour before it expires (RFC 8292 lets a token serve many messages). It goes out over
push_endpoints' direct transport: kept-alive connections per origin, to checked
addresses only, no redirects; through requests only when a proxy is configured.
"""
from __future__ import annotations

import base64
import http.client
import logging
import os
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from app.notifications import push_endpoints

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private.pem"
_EXTENSION = "porchlight.vapid"
_key_lock = threading.Lock()
# Push services keep a message at most about four weeks; a longer TTL is refused or cut.
MAX_TTL_SECONDS = 28 * 24 * 3600
SEND_TIMEOUT_SECONDS = 10
# A VAPID token (RFC 8292) is signed for one push service's origin and may be sent with
# every message to it until it expires: signed once per origin, valid 12 h (as pywebpush
# signs them), replaced an hour before its end so that none arrives expired.
VAPID_TOKEN_SECONDS = 12 * 3600
VAPID_RENEW_BEFORE_SECONDS = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _key_from_text(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        key = (ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1()) if len(raw) == 32
               else serialization.load_der_private_key(raw, password=None))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise RuntimeError("VAPID_PRIVATE_KEY must be a P-256 (prime256v1) EC private key")
    return key


def _key_from_instance(instance_path: str) -> ec.EllipticCurvePrivateKey:
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        # Written whole to a temporary file, then linked into place: link() fails if another
        # process got there first, so every process ends up with the same, complete key.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
                log.warning("generated a Web Push (VAPID) key pair into %s; keep it: subscriptions are bound "
                            "to it (set VAPID_PRIVATE_KEY to share one key between machines)", path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return _key_from_text(path.read_text())


def vapid(app: Flask) -> Vapid:
    """The app's VAPID signer, loaded (or generated) once per app."""
    signer = app.extensions.get(_EXTENSION)
    if signer is not None:
        return signer
    with _key_lock:
        signer = app.extensions.get(_EXTENSION)
        if signer is None:
            configured = app.config.get("VAPID_PRIVATE_KEY")
            if configured:
                key = _key_from_text(configured)
            elif app.testing:
                # Tests never write into the checkout's instance/; each test app gets its own key.
                key = ec.generate_private_key(ec.SECP256R1())
            else:
                key = _key_from_instance(app.instance_path)
            expected = app.config.get("VAPID_PUBLIC_KEY")
            if expected and b64url_decode(expected) != _public_bytes(key):
                raise RuntimeError("VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY")
            signer = Vapid(key)
            app.extensions[_EXTENSION] = signer
    return signer


def public_key(app: Flask) -> str:
    """The applicationServerKey: the uncompressed P-256 public point, base64url without padding."""
    return b64url(_public_bytes(vapid(app).private_key))


def valid_subscription_keys(p256dh: str, auth: str) -> dict[str, str]:
    """Field errors for a PushSubscription's keys ({} when both are usable)."""
    problems: dict[str, str] = {}
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError
    except (ValueError, TypeError):
        problems["keys.p256dh"] = "Must be the subscription's P-256 public key (65 bytes, base64url)."
    try:
        if len(b64url_decode(auth)) != 16:
            raise ValueError
    except (ValueError, TypeError):
        problems["keys.auth"] = "Must be the subscription's 16-byte auth secret (base64url)."
    return problems


@dataclass(frozen=True)
class PushMessage:
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    data: str
    ttl: int
    urgency: str  # very-low | low | normal | high (RFC 8030 §5.3)
    # RFC 8030 §5.4: a second message with the same topic replaces an undelivered first
    # one at the push service, so a resend after a crash is not shown twice.
    topic: str


@dataclass(frozen=True)
class PushResult:
    subscription_id: int
    ok: bool
    gone: bool = False       # 404/410: the subscription no longer exists
    retry: bool = False      # worth trying again later (429, 5xx, network)
    error: str | None = None


def _ca_file() -> str:
    """The CA bundle requests would use: the environment's, else certifi's."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or requests.certs.where()


def _read_environment_once(session: requests.Session) -> bool:
    """Take proxy and CA settings from the environment now rather than on every message;
    whether a proxy is configured.

    requests re-reads the whole environment for each request (a fifth of a message's
    cost here). Without NO_PROXY there is nothing per host to decide, so the settings
    are read once; with NO_PROXY requests keeps deciding per request.
    """
    proxies = urllib.request.getproxies()
    proxied = any(k in proxies for k in ("http", "https", "all"))
    if "no" in proxies:
        return proxied
    session.trust_env = False
    session.proxies.update({k: v for k, v in proxies.items() if k in ("http", "https", "all")})
    session.verify = _ca_file()
    return proxied


class PushClient:
    """Sends Web Push messages, thread-safe: over push_endpoints' direct transport (kept-alive
    http.client connections per push service), or through a pooled requests.Session when a
    proxy is configured (HTTPS_PROXY and the like), which requests knows how to reach.

    Only to endpoints push_endpoints allows, over connections to checked public
    addresses, never following a redirect.
    """

    def __init__(self, app: Flask, pool_size: int = 16) -> None:
        self._vapid = vapid(app)
        self._subject = app.config.get("VAPID_SUBJECT") or "mailto:porchlight@localhost"
        self._rules = push_endpoints.policy(app.config)
        self._session = push_endpoints.session(self._rules, pool_size)
        self._tokens: dict[str, tuple[int, str]] = {}  # origin -> (exp, Authorization header)
        proxied = _read_environment_once(self._session)
        self._direct = None if proxied else push_endpoints.PushTransport(self._rules, pool_size, _ca_file())

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        """The ``Authorization: vapid t=...,k=...`` value for the endpoint's push service, reused
        for every message to that origin until an hour before it expires (signing is a tenth of a
        message's cost, and a push service checks the same token once)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time() if now is None else now
        cached = self._tokens.get(audience)
        if cached is None or cached[0] - now < VAPID_RENEW_BEFORE_SECONDS:
            # Two threads may both sign at the first message: both tokens are valid.
            expires = int(now) + VAPID_TOKEN_SECONDS
            header = self._vapid.sign({"sub": self._subject, "aud": audience, "exp": expires})["Authorization"]
            cached = self._tokens[audience] = (expires, header)
        return cached[1]

    def send(self, message: PushMessage) -> PushResult:
        # Rows stored before the rules (or under wider ones) meet them here, before any request.
        problem = push_endpoints.endpoint_problem(message.endpoint, self._rules)
        if problem:
            return PushResult(message.subscription_id, ok=False, error=f"endpoint refused: {problem}")
        subscription = {"endpoint": message.endpoint, "keys": {"p256dh": message.p256dh, "auth": message.auth}}
        try:
            # RFC 8291 (aes128gcm) by pywebpush, as its webpush() does.
            body = WebPusher(subscription).encode(message.data.encode(), "aes128gcm")["body"]
        except (WebPushException, ValueError) as exc:
            # Keys no message can be encrypted to: pywebpush's own error, or the ValueError of a
            # point off the curve or of bad base64 (which used to escape and end the whole batch).
            return PushResult(message.subscription_id, ok=False, retry=True,
                              error=f"the subscription's keys cannot be encrypted to: {exc}"[:300])
        try:
            # With the origin's reused VAPID token and the pooled session; no redirect is followed.
            headers = {"TTL": str(max(0, min(message.ttl, MAX_TTL_SECONDS))), "Content-Encoding": "aes128gcm",
                       "Urgency": message.urgency, "Topic": message.topic,
                       "Authorization": self.authorization(message.endpoint)}
            if self._direct is not None:
                answer = self._direct.post(message.endpoint, body, headers, SEND_TIMEOUT_SECONDS)
                status = answer.status
            else:
                status = self._session.post(message.endpoint, data=body, headers=headers,
                                            timeout=SEND_TIMEOUT_SECONDS).status_code
            if status > 202:
                return _refused(message.subscription_id, status)
        except push_endpoints.RefusedAddress as exc:
            return PushResult(message.subscription_id, ok=False, error=f"endpoint refused: {exc}")
        except requests.ConnectionError as exc:  # before OSError, which it is
            refused = push_endpoints.refusal(exc)
            if refused:
                return PushResult(message.subscription_id, ok=False, error=f"endpoint refused: {refused}")
            return _unreachable(message.subscription_id, exc)
        except (OSError, http.client.HTTPException) as exc:
            # No answer (no connection, a timeout, TLS, a dropped connection): worth another try.
            return _unreachable(message.subscription_id, exc)
        return PushResult(message.subscription_id, ok=True)

    def close(self) -> None:
        self._session.close()
        if self._direct is not None:
            self._direct.close()


def _unreachable(subscription_id: int, exc: Exception) -> PushResult:
    return PushResult(subscription_id, ok=False, retry=True, error=f"push service unreachable: {type(exc).__name__}")


def _refused(subscription_id: int, status: int) -> PushResult:
    """The outcome of a push service's answer other than 201/202."""
    if status in (404, 410):
        return PushResult(subscription_id, ok=False, gone=True, error=f"push service: {status}")
    if 300 <= status < 400:
        # A push service that redirects is not one: the message is not sent, nor tried again.
        return PushResult(subscription_id, ok=False,
                          error=f"push service answered {status} (a redirect; never followed)")
    transient = status == 429 or status >= 500
    return PushResult(subscription_id, ok=False, retry=transient, error=f"push service answered {status}")
