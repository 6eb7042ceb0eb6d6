"""Device cookies (OWASP's pattern): sign-in limits that strangers cannot turn into a lockout.

A per-login sign-in limit stops password guessing, but anyone who knows an officer's
e-mail address could spend it on purpose and keep the officer out. So a browser that
completed a sign-in with every factor gets a *device cookie* for that login: signed
with the app's key, naming the login (a keyed fingerprint, never the address itself)
and a random nonce. A sign-in for that login from a browser holding one is not counted
against the per-login and per-address limits the rest of the world shares; it has a
small failure budget of its own instead, keyed by the nonce (app/ratelimits.py), so a
stolen device cookie buys no more guesses than that. The same goes for the budget of
wrong two-step codes (app/accounts/second_factor.py).

One cookie holds the entries of the last few logins used in this browser (a shared
patrol laptop); each entry expires DEVICE_COOKIE_LIFETIME_DAYS after it was issued.
The cookie is only ever sent to the sign-in route.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

from app.common.fields import parse_login

SIGN_IN_PATH = "/api/auth/signin"
MAX_ENTRIES = 5
_SALT = "porchlight-device-cookie"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _lifetime() -> int:
    return current_app.config["DEVICE_COOKIE_LIFETIME_DAYS"] * 86400


def _entries() -> list[list]:
    """The cookie's valid, unexpired entries: [login fingerprints, nonce, issued at] (cached per request)."""
    if "device_entries" in g:
        return g.device_entries
    entries: list[list] = []
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if raw:
        try:
            loaded = _serializer().loads(raw)
        except BadSignature:
            loaded = []
        oldest = time.time() - _lifetime()
        entries = [e for e in loaded if isinstance(e, list) and len(e) == 3 and isinstance(e[0], list)
                   and isinstance(e[1], str) and isinstance(e[2], (int, float)) and e[2] > oldest][:MAX_ENTRIES]
    g.device_entries = entries
    return entries


def nonce_for(login_fingerprint: str) -> str | None:
    """The nonce of this browser's device cookie for the login typed, if it holds one."""
    if not login_fingerprint:
        return None
    return next((nonce for logins, nonce, _issued in _entries() if login_fingerprint in logins), None)


def remember(response: Response, login_fingerprints: list[str]) -> None:
    """Give this browser a device cookie for the account's logins (after a sign-in with every factor)."""
    fingerprints = sorted(set(filter(None, login_fingerprints)))
    if not fingerprints:
        return
    kept = [e for e in _entries() if not set(e[0]) & set(fingerprints)]
    entries = [[fingerprints, secrets.token_urlsafe(12), int(time.time())], *kept][:MAX_ENTRIES]
    config = current_app.config
    response.set_cookie(config["DEVICE_COOKIE_NAME"], _serializer().dumps(entries), max_age=_lifetime(),
                        path=SIGN_IN_PATH, secure=config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Strict")


# --- logins, as limits and device cookies name them --------------------------------------------

def fingerprint(kind: str, text: str) -> str:
    """A keyed fingerprint of ``text``: what limits and cookies hold instead of what the client typed."""
    key = current_app.config["SECRET_KEY"].encode()
    return kind + ":" + hmac.new(key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()[:32]


def login_key(kind: str, value: str) -> str:
    """The key of a login ("email" | "phone", its stored form) in limits and device cookies."""
    return fingerprint("login", f"{kind}:{value}")


def logins_of(user) -> list[str]:
    """The keys of every login ``user`` can sign in with."""
    return [login_key(kind, value) for kind, value in (("email", user.email), ("phone", user.phone)) if value]


def typed_login() -> str:
    """The login typed at sign-in, normalised as sign-in looks it up; "" (no limit) when absent."""
    if "typed_login" in g:
        return g.typed_login
    body = request.get_json(silent=True)
    login = body.get("login") if isinstance(body, dict) else None
    key = ""
    if isinstance(login, str) and login.strip():
        kind, value = parse_login(login)
        key = login_key(kind, value or login.strip().lower())
    g.typed_login = key
    return key


def trusted_device() -> bool:
    """Whether this browser holds a device cookie for the login typed."""
    return nonce_for(typed_login()) is not None


def untrusted_device() -> bool:
    return not trusted_device()
