"""Rate limits on the endpoints worth abusing: sign-in, phone codes, enrollment lookups, uploads.

flask-limiter counts in Redis when REDIS_URL is set, else in process memory (each
gunicorn worker then counts on its own). Limits are settings (config.py, docs/DEPLOY.md)
read per request, so a test or a deployment changes them without code. Keys never hold
what the client typed: logins and phone numbers are HMAC fingerprints.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import RateLimitExceeded
from flask_login import current_user
from limits import parse_many

from app import links
from app.accounts.devices import fingerprint, nonce_for, typed_login
from app.common.fields import parse_login
from app.errors import ERROR_SCHEMA, error_body
from app.extensions import limiter

KEY_PREFIX = "porchlight-limits"
LIMIT_SETTINGS = ("RATELIMIT_SIGN_IN", "RATELIMIT_SIGN_IN_LOGIN", "RATELIMIT_SIGN_IN_DEVICE",
                  "RATELIMIT_PHONE_VERIFICATION", "RATELIMIT_EMAIL_VERIFICATION",
                  "RATELIMIT_VERIFICATION_SMS_TOTAL", "RATELIMIT_PHONE_VERIFY", "RATELIMIT_ENROLLMENT_LOOKUP",
                  "RATELIMIT_UPLOAD_CREATION", "RATELIMIT_SECOND_FACTOR", "RATELIMIT_SIGN_UP",
                  "RATELIMIT_INVITATIONS", "RATELIMIT_INVITATION_JOIN",
                  "RATELIMIT_PASSWORD_RESET", "RATELIMIT_PASSWORD_RESET_CONFIRM", "RATELIMIT_ANNUAL_REPORT")
# The 429 response in the OpenAPI document (@bp.doc(responses={..., 429: RATE_LIMITED})).
RATE_LIMITED = {
    "description": "Rate limited (code `rate_limited`): retry after Retry-After seconds",
    "content": {"application/json": {"schema": ERROR_SCHEMA}},
    "headers": {"Retry-After": {"description": "Seconds until the limit resets", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}},
}


def configure(app: Flask) -> None:
    """Point the limiter at Redis or memory, then bind it and its JSON 429 answer to the app."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", KEY_PREFIX)
    # flask-limiter's own headers would rewrite our Retry-After as int(reset - now), which
    # rounds down to 0 in a window's last second; the 429 handler below sets it instead.
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    # Redis down must not take sign-in down with it: count in memory until it is back.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    for name in LIMIT_SETTINGS:  # a typo in a limit stops start-up, not a sign-in later
        try:
            parse_many(app.config[name])
        except ValueError:
            raise RuntimeError(f"{name} is not a rate limit like '10 per minute': {app.config[name]!r}") from None
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def _rate_limited(exc: RateLimitExceeded):
    current = limiter.current_limit
    # The window's exact reset time: RequestLimit.reset_at adds a second to it.
    reset_at = current.window.reset_time if current else time.time() + 60
    retry_after = max(1, math.ceil(reset_at - time.time()))
    message = f"{exc.description} Try again in {retry_after} seconds."
    return error_body(429, "rate_limited", message), 429, {"Retry-After": str(retry_after)}


# --- keys ------------------------------------------------------------------------------------

def client_ip() -> str:
    # ProxyFix (TRUSTED_PROXIES) has already put the client's address here; the raw
    # X-Forwarded-For is whatever the client chose to send.
    return "ip:" + (request.remote_addr or "unknown")


def user_or_ip() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else client_ip()


def device_key() -> str:
    """This browser's device cookie for the login typed (the limit is exempt without one)."""
    return fingerprint("device", nonce_for(typed_login()) or "")


def failed_sign_in(response) -> bool:
    """A wrong password or two-step code (not a sign-in that only still lacks its code)."""
    if response.status_code != 401:
        return False
    body = response.get_json(silent=True) or {}
    return body.get("error", {}).get("code") in ("invalid_credentials", "invalid_second_factor")


def destination_phone() -> str:
    """The number a verification code would be texted to (the body's, else the account's)."""
    body = request.get_json(silent=True)
    phone = body.get("phone") if isinstance(body, dict) else None
    if not isinstance(phone, str) or not phone.strip():
        phone = current_user.phone if current_user.is_authenticated else None
    if not phone:
        return ""
    _kind, value = parse_login(phone)
    return fingerprint("phone", value or phone.strip())


def everyone() -> str:
    return "all"


def uploader() -> str:
    """An upload link's token when one is sent, else the signed-in user, else the address."""
    token = links.token_from_request()
    return fingerprint("upload-link", token) if token else user_or_ip()


# --- decorators ------------------------------------------------------------------------------

def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _sent(response) -> bool:
    return response.status_code == 202


def limited(setting: str, key: Callable[[], str], what: str, *, shared_scope: str | None = None,
            only_when_sent: bool = False, only_when: Callable | None = None,
            exempt_when: Callable[[], bool] | None = None):
    """Limit a view by the limit string in ``setting``, counted per ``key()``.

    ``shared_scope`` makes views count into one budget; ``only_when_sent`` counts only
    answers that texted a code (202), so refused attempts do not use up an SMS budget;
    ``only_when(response)`` counts only the answers it picks. A ``key()`` of "" leaves
    the request out of this limit.
    """
    options = {"key_func": key, "error_message": f"Too many {what}.", "exempt_when": exempt_when,
               "deduct_when": _sent if only_when_sent else only_when, "override_defaults": False}
    if shared_scope:
        return limiter.shared_limit(_setting(setting), shared_scope, **options)
    return limiter.limit(_setting(setting), scope=key.__name__, **options)


def without_phone() -> bool:
    """A sign-up that texts nothing (no number given) is outside the SMS budgets."""
    body = request.get_json(silent=True)
    return not (isinstance(body, dict) and isinstance(body.get("phone"), str) and body["phone"].strip())


def signed_up(response) -> bool:
    return response.status_code == 201


def without_enrollment_code() -> bool:
    body = request.get_json(silent=True)
    return not (isinstance(body, dict) and body.get("enrollment_code"))
