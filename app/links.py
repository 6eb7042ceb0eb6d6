"""The app's public address, every absolute link built on it, and the signed links.

This is the only module that knows where people reach Porchlight: SMS and push texts,
upload links, enrollment URLs and their QR codes, printed sheets, CSV exports, CLI
output and the URL Twilio signs all join their path onto ``base_url()``. It comes from
PUBLIC_BASE_URL and never from a request's Host or X-Forwarded-* headers: those say
whatever the client (or anyone before the proxy) sent, and a link built from them once
carried ``http://evil.example`` into every owner's SMS.

Production refuses to start without PUBLIC_BASE_URL. Development (``make run``) falls
back to ``http://HOST:PORT``; with a wildcard HOST (``0.0.0.0``) that is this machine's
LAN address, so a phone on the same network can open the links and scan the QR code.

Two links act without a session, on the authority of a token signed with SECRET_KEY
(itsdangerous) that names one ask and its owner and ends with the ask's request: a
notification's answer button (``/api/ask-actions/<token>``) and an SMS owner's upload
page (``/u/<token>``). Each has its own salt, so a token made for one never passes as
the other. This module makes and reads the tokens; what they allow is decided where
they are used (app/footage/answers.py, app/clips/uploads.py).
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
import math
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_babel import lazy_gettext
from itsdangerous import BadData, BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.signer import HMACAlgorithm

from app.errors import ApiError

EXAMPLE = "PUBLIC_BASE_URL=https://porchlight.example.gov"
_WILDCARD_HOSTS = {"0.0.0.0", "::"}  # noqa: S104 (names of "every interface", not a bind)
# Addresses on private networks, only routed to, never sent to: the first one the machine
# has a route for tells which address it would send from (its LAN address).
_ROUTE_PROBES = ("10.255.255.254", "192.168.255.254", "172.31.255.254")


def init_app(app: Flask) -> None:
    """Settle the public base URL once at start-up, or refuse to start (production without one)."""
    config = app.config
    configured = config.get("PUBLIC_BASE_URL")
    production = config["ENV_NAME"] == "production"
    if configured:
        config["PUBLIC_BASE_URL"] = checked_base_url(configured, production=production)
    elif production:
        raise RuntimeError(
            "PUBLIC_BASE_URL must be set in production: the https:// address people reach Porchlight at, "
            f"which every link, QR code and SMS carries, e.g. {EXAMPLE} (see docs/DEPLOY.md)")
    else:
        config["PUBLIC_BASE_URL"] = development_base_url(app, config.get("HOST"), config.get("PORT"))


def checked_base_url(text: str, *, production: bool) -> str:
    """``text`` without its trailing slash, or a RuntimeError saying what is wrong with it."""
    problem = url_problem(text, production=production)
    if problem:
        raise RuntimeError(f"PUBLIC_BASE_URL {problem}, got {text!r}: set the absolute address people reach "
                           f"Porchlight at, e.g. {EXAMPLE} (see docs/DEPLOY.md)")
    return text.rstrip("/")


def url_problem(text: str, *, production: bool) -> str | None:
    """What is wrong with ``text`` as the base of absolute URLs ("must ..."), or None.

    Also the rule for the base URLs of the services the app calls (TWILIO_API_BASE_URL).
    """
    if text != text.strip() or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return "must not contain spaces or control characters"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s):// URL naming a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if "?" in text or "#" in text:
        return "must not have a query (?) or fragment (#)"
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        return "has an invalid port"
    # Refused rather than warned about: the PWA's service worker, push and camera work only
    # in a secure context, production cookies are Secure (sign-in fails over http), and every
    # SMS would carry an upload token in plain text; a provider's API would get our credentials
    # and every text in plain text. Loopback stays allowed: browsers count it as secure and it
    # never leaves the machine (benchmarks of the production settings, a local SMS gateway).
    if production and parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must start with https:// in production"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def development_base_url(app: Flask, host: str | None, port: int | None) -> str:
    """``http://HOST:PORT`` as ``make run`` serves it; a wildcard HOST becomes the LAN address."""
    host = (host or "127.0.0.1").strip("[]")
    if host in _WILDCARD_HOSTS:
        found = lan_address()
        if found is None:
            app.logger.warning("HOST is %s but no network address of this machine was found: links and QR codes "
                               "point at 127.0.0.1; set PUBLIC_BASE_URL to the address a phone reaches it at", host)
        host = found or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return checked_base_url(f"http://{host}:{port or 5000}", production=False)


def lan_address() -> str | None:
    """The address this machine would send from to reach a private network, or None.

    Connecting a UDP socket only chooses a route and a source address: no packet leaves.
    """
    for probe in _ROUTE_PROBES:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                address = udp.getsockname()[0]
        except OSError:
            continue
        if address != "0.0.0.0" and not ipaddress.ip_address(address).is_loopback:  # noqa: S104
            return address
    return None


def base_url() -> str:
    """The public base URL, without a trailing slash (settled by ``init_app``)."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise RuntimeError("PUBLIC_BASE_URL is not set (the app was not built by create_app)")
    return base.rstrip("/")


def absolute_url(path: str) -> str:
    """``path`` (starting with ``/``, query allowed) on the public base URL."""
    if not path.startswith("/"):
        raise ValueError(f"a path starting with / is needed, got {path!r}")
    return base_url() + path


def origin() -> str:
    """``scheme://host[:port]`` of the public base URL (what browsers send as Origin)."""
    parts = urlsplit(base_url())
    return f"{parts.scheme}://{parts.netloc}"


def reachable_from_internet() -> bool:
    """False when the base URL names a loopback or private address no outside service can call."""
    host = urlsplit(base_url()).hostname or ""
    if host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_private or address.is_loopback or address.is_link_local)


# --- signed links -----------------------------------------------------------------------------

class LinkedAsk(Protocol):
    """What a signed link names: an ask (app.footage.models.Ask), its owner, its request's expiry."""

    id: int
    owner_id: int | None
    request: Any


def _signer(salt: str) -> URLSafeSerializer:
    return _serializer(current_app.config["SECRET_KEY"], salt)


class _LinkSerializer(URLSafeSerializer):
    """itsdangerous' URL-safe tokens, made without its per-token overhead for the few dozen bytes
    a link signs; the tokens are byte-identical to ``URLSafeSerializer(secret, salt).dumps``.

    - no zlib attempt: deflate does not shorten so little JSON, and the attempt cost 35 µs
      (its window's set-up) of each token's 75;
    - the signing key is derived once, not per token, and the HMAC-SHA1 is one call:
      itsdangerous builds a Signer per token and its HMAC through a Python digest factory,
      which hmac runs in pure Python (a fan-out signs two links per message).

    ``loads`` is itsdangerous' own; a longer payload is signed by itsdangerous too.
    """

    def __init__(self, secret_key: str | bytes, salt: str) -> None:
        super().__init__(secret_key, salt=salt)
        signer = self.make_signer()
        # The defaults, which the fast path reproduces: HMAC-SHA1 over the django-concat key, "." between.
        algorithm = signer.algorithm
        if not (signer.key_derivation == "django-concat" and signer.sep == b"." and isinstance(algorithm, HMACAlgorithm)
                and algorithm.digest_method is HMACAlgorithm.default_digest_method):
            raise TypeError("links sign with itsdangerous' default HMAC-SHA1 signer")
        self._key = signer.derive_key()

    def dump_payload(self, obj: Any) -> bytes:
        data = Serializer.dump_payload(self, obj)
        return base64_encode(data) if len(data) <= _NOT_WORTH_COMPRESSING else super().dump_payload(obj)

    def dumps(self, obj: Any, salt: str | bytes | None = None) -> str:
        data = Serializer.dump_payload(self, obj)
        if salt is not None or len(data) > _NOT_WORTH_COMPRESSING:
            return super().dumps(obj, salt)
        payload = base64_encode(data)
        return (payload + b"." + base64_encode(hmac.digest(self._key, payload, "sha1"))).decode("ascii")


_NOT_WORTH_COMPRESSING = 200  # bytes of JSON


@functools.lru_cache(maxsize=32)
def _serializer(secret: str | bytes, salt: str) -> URLSafeSerializer:
    # Kept between calls: building one was a third of the cost of a token.
    return _LinkSerializer(secret, salt=salt)


ACTION_LINK_SALT = "porchlight.ask-action"
_ACTION_PATH = "/api/ask-actions/{token}"


def action_token(ask: LinkedAsk, action: str) -> str:
    """A signed token that performs ``action`` on ``ask`` without a session, until the request expires."""
    expires_at = ask.request.expires_at
    if expires_at is None:
        raise ValueError("the ask's request is not active")
    return _signer(ACTION_LINK_SALT).dumps({"ask": ask.id, "owner": ask.owner_id, "action": action,
                                            "exp": int(expires_at.timestamp())})


def action_path(ask: LinkedAsk, action: str) -> str:
    """Where a notification's action button POSTs (relative to the base URL)."""
    return _ACTION_PATH.format(token=action_token(ask, action))


def action_urls(ask: LinkedAsk, actions: Sequence[str]) -> dict[str, str]:
    """The absolute URL of each of ``actions``' buttons for ``ask`` (as ``absolute_url(action_path(...))``),
    with the signer, the expiry and the base URL looked up once: a fan-out makes two per message."""
    expires_at = ask.request.expires_at
    if expires_at is None:
        raise ValueError("the ask's request is not active")
    signer, base, exp = _signer(ACTION_LINK_SALT), base_url(), int(expires_at.timestamp())
    return {action: base + _ACTION_PATH.format(token=signer.dumps({"ask": ask.id, "owner": ask.owner_id,
                                                                   "action": action, "exp": exp}))
            for action in actions}


def _invalid_action_token() -> ApiError:
    return ApiError(403, "invalid_token", lazy_gettext("This link is not valid: it was altered or "
                                                       "not issued by Porchlight."))


def read_action_token(token: str, actions: Any) -> dict[str, Any]:
    """The payload of an action token for one of ``actions``: ask, owner, action, exp (a Unix time).

    403 invalid_token when it was altered, not signed by this app, or names another action.
    """
    try:
        payload = _signer(ACTION_LINK_SALT).loads(token)
    except BadSignature:
        raise _invalid_action_token() from None
    if not (isinstance(payload, dict) and payload.get("action") in actions
            and all(isinstance(payload.get(k), int) for k in ("ask", "owner", "exp"))):
        raise _invalid_action_token()
    return payload


UPLOAD_LINK_SALT = "porchlight.upload-link.v1"
_UPLOAD_PAGE = "/u/"


def upload_token(ask: LinkedAsk) -> str:
    """A signed token that lets its holder upload clips to ``ask`` and read its upload page."""
    expires_at = ask.request.expires_at
    # Compact on purpose: the link goes into an SMS.
    return _signer(UPLOAD_LINK_SALT).dumps(
        [ask.id, ask.owner_id, math.ceil(expires_at.timestamp()) if expires_at else None])


def upload_link(ask: LinkedAsk) -> str:
    """The absolute URL of the upload page for this ask (``/u/<token>``), for SMS owners."""
    return absolute_url(f"{_UPLOAD_PAGE}{upload_token(ask)}")


def invalid_upload_link() -> ApiError:
    return ApiError(404, "invalid_link", lazy_gettext("This upload link is not valid; use the link "
                                                      "from your latest message."))


def read_upload_token(token: str) -> tuple[int, int, datetime | None]:
    """(ask id, owner id, expiry or None) of an upload token; 404 invalid_link when forged or altered.

    The token is sent as ``Authorization: Bearer <token>`` or as a ``token`` query
    parameter (:func:`token_from_request`).
    """
    if not token or len(token) > 512:
        raise invalid_upload_link()
    try:
        payload = _signer(UPLOAD_LINK_SALT).loads(token)
    except BadData:
        raise invalid_upload_link() from None
    if not (isinstance(payload, list) and len(payload) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in payload[:2])
            and (payload[2] is None or isinstance(payload[2], int))):
        raise invalid_upload_link()
    ask_id, owner_id, expires = payload
    return ask_id, owner_id, None if expires is None else datetime.fromtimestamp(expires, UTC)


def token_from_request() -> str | None:
    """The upload token of this request: ``Authorization: Bearer`` first, then ``?token=``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None


# --- e-mail links -------------------------------------------------------------------------------
# An ask e-mail's links open a page (``/m/<token>``) and never act on GET: mail scanners
# open every link of a message. The page's buttons POST action tokens (above) back to
# it; its own link is an action token for "view", which no answer accepts.

VIEW_ACTION = "view"
ASK_PAGE = "/m/"


def ask_page_link(ask: LinkedAsk, action: str = VIEW_ACTION) -> str:
    """The absolute URL of the e-mail answer page for this ask (``/m/<token>``)."""
    return absolute_url(ASK_PAGE + action_token(ask, action))


UNSUBSCRIBE_SALT = "porchlight.email-unsubscribe"
UNSUBSCRIBE_PAGE = "/unsubscribe/"


def unsubscribe_link(user_id: int) -> str:
    """The one-click unsubscribe URL (RFC 8058) that turns off e-mail for this user; it never expires."""
    return absolute_url(UNSUBSCRIBE_PAGE + _signer(UNSUBSCRIBE_SALT).dumps({"user": user_id}))


def read_unsubscribe_token(token: str) -> int:
    """The user id an unsubscribe token names; 404 invalid_link when altered or not ours."""
    invalid = ApiError(404, "invalid_link", lazy_gettext("This unsubscribe link is not valid; use the "
                                                         "link from your latest e-mail."))
    if not token or len(token) > 512:
        raise invalid
    try:
        payload = _signer(UNSUBSCRIBE_SALT).loads(token)
    except BadData:
        raise invalid from None
    user_id = payload.get("user") if isinstance(payload, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise invalid
    return user_id


CONFIRM_SALT = "porchlight.camera-confirm"
CONFIRM_PAGE = "/confirm/"


def camera_confirm_link(user_id: int, requested_at: datetime) -> str:
    """The e-mailed link that confirms the owner's cameras asked for confirmation at ``requested_at``
    (the yearly re-confirmation, app/cameras/confirmation.py). It confirms that round only: once
    they are confirmed, or asked again a year later, it confirms nothing."""
    payload = {"user": user_id, "round": int(requested_at.timestamp())}
    return absolute_url(CONFIRM_PAGE + _signer(CONFIRM_SALT).dumps(payload))


def read_camera_confirm_token(token: str) -> tuple[int, datetime]:
    """(user id, the round's time to the second) a confirmation link names; 404 invalid_link when altered."""
    invalid = ApiError(404, "invalid_link", lazy_gettext("This link is not valid; use the link from your "
                                                         "latest e-mail, or confirm your cameras in the app."))
    if not token or len(token) > 512:
        raise invalid
    try:
        payload = _signer(CONFIRM_SALT).loads(token)
    except BadData:
        raise invalid from None
    user_id = payload.get("user") if isinstance(payload, dict) else None
    moment = payload.get("round") if isinstance(payload, dict) else None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (user_id, moment)):
        raise invalid
    try:
        return user_id, datetime.fromtimestamp(moment, UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid from None
