"""Web Push: the VAPID key pair and sending encrypted messages with pywebpush.

The only module that imports pywebpush. The key pair comes from VAPID_PRIVATE_KEY
(PEM or a base64url raw key) or is generated once into instance/vapid_private.pem;
the public half is the PWA's ``applicationServerKey``.
"""
from __future__ import annotations

import base64
import logging
import os
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from app.notifications import push_endpoints

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private.pem"
_EXTENSION = "porchlight.vapid"
_key_lock = threading.Lock()
# Push services keep a message at most about four weeks; a longer TTL is refused or cut.
MAX_TTL_SECONDS = 28 * 24 * 3600
SEND_TIMEOUT_SECONDS = 10


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


def _read_environment_once(session: requests.Session) -> None:
    """Take proxy and CA settings from the environment now rather than on every message.

    requests re-reads the whole environment for each request (a fifth of a message's
    cost here). Without NO_PROXY there is nothing per host to decide, so the settings
    are read once; with NO_PROXY requests keeps deciding per request.
    """
    proxies = urllib.request.getproxies()
    if "no" in proxies:
        return
    session.trust_env = False
    session.proxies.update({k: v for k, v in proxies.items() if k in ("http", "https", "all")})
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


class PushClient:
    """Sends Web Push messages through one pooled requests.Session (thread-safe for sending).

    Only to endpoints push_endpoints allows, over connections to checked public
    addresses, never following a redirect.
    """

    def __init__(self, app: Flask, pool_size: int = 16) -> None:
        self._vapid = vapid(app)
        self._subject = app.config.get("VAPID_SUBJECT") or "mailto:porchlight@localhost"
        self._rules = push_endpoints.policy(app.config)
        self._session = push_endpoints.session(self._rules, pool_size)
        _read_environment_once(self._session)

    def send(self, message: PushMessage) -> PushResult:
        # Rows stored before the rules (or under wider ones) meet them here, before any request.
        problem = push_endpoints.endpoint_problem(message.endpoint, self._rules)
        if problem:
            return PushResult(message.subscription_id, ok=False, error=f"endpoint refused: {problem}")
        subscription = {"endpoint": message.endpoint, "keys": {"p256dh": message.p256dh, "auth": message.auth}}
        try:
            webpush(
                subscription,
                message.data,
                vapid_private_key=self._vapid,
                # webpush() writes aud and exp into the dict it is given: a fresh one per call.
                vapid_claims={"sub": self._subject},
                ttl=max(0, min(message.ttl, MAX_TTL_SECONDS)),
                headers={"Urgency": message.urgency, "Topic": message.topic},
                requests_session=self._session,
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in (404, 410):
                return PushResult(message.subscription_id, ok=False, gone=True, error=f"push service: {status}")
            if status is not None and 300 <= status < 400:
                # A push service that redirects is not one: the message is not sent, nor tried again.
                return PushResult(message.subscription_id, ok=False,
                                  error=f"push service answered {status} (a redirect; never followed)")
            transient = status is None or status == 429 or status >= 500
            return PushResult(message.subscription_id, ok=False, retry=transient,
                              error=f"push service answered {status}" if status else str(exc.message)[:300])
        except requests.ConnectionError as exc:
            refused = push_endpoints.refusal(exc)
            if refused:
                return PushResult(message.subscription_id, ok=False, error=f"endpoint refused: {refused}")
            return PushResult(message.subscription_id, ok=False, retry=True,
                              error=f"push service unreachable: {type(exc).__name__}")
        except requests.RequestException as exc:
            return PushResult(message.subscription_id, ok=False, retry=True,
                              error=f"push service unreachable: {type(exc).__name__}")
        return PushResult(message.subscription_id, ok=True)

    def close(self) -> None:
        self._session.close()
