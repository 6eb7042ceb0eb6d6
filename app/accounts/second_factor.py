"""Two-step sign-in: TOTP authenticator apps (RFC 6238, pyotp) and one-time recovery codes.

Officers, supervisors and oversight accounts must use it: a leaked police password alone
must not open footage of residents' homes, nor an overseer's the agency's audit log.
Owners and district managers may turn it on.

A staff account without it yet signs in with its password into a *set-up session*
that can do nothing but set it up (app/auth.py refuses every other route), so the
first sign-in of a new officer leads straight to the QR code. Confirming the set-up
ends every password-only session of the account (this client signs in anew).

After a reset (a lost phone: a supervisor or the operator takes it off), the password
alone would let whoever knows it enrol *their* authenticator app in the owner's place.
So until the account sets it up again, the set-up also sends a six-digit code to the
account's e-mail address, and the confirmation needs it besides the app's code. New staff
set it up in their invitation's link (app/accounts/invitations.py), which proves the
mailbox the same way.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import current_app, has_request_context
from limits import RateLimitItem, parse_many

from app.accounts import sessions, tokens
from app.accounts.devices import trusted_device
from app.accounts.models import RecoveryCode, Role, User
from app.accounts.passwords import verify_password
from app.audit import service as audit
from app.db import utcnow
from app.enrollment.codes import qr_svg
from app.errors import ApiError, field_error
from app.extensions import db, limiter
from app.notifications import mail, mail_log

REQUIRED_ROLES = (Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT)
# The code e-mailed for a set-up after a reset: its purpose, life and hourly limit.
REENROL_PURPOSE = "second_factor_reenrol"
REENROL_CODE_TTL = timedelta(minutes=30)
REENROL_CODES_PER_HOUR = 5
RECOVERY_CODE_COUNT = 10
# Codes of the previous and the next 30-second step are accepted too: a phone's clock
# a little off, or a code typed as it changed.
VALID_WINDOW = 1
# Recovery codes: ten characters from an alphabet without 0/O/1/I/L, shown as xxxxx-xxxxx.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def is_required(user: User) -> bool:
    return user.role in REQUIRED_ROLES


def is_enabled(user: User) -> bool:
    return user.totp_secret is not None


def needs_setup(user: User) -> bool:
    """A role that must use two-step sign-in, on an account that has not set it up."""
    return is_required(user) and not is_enabled(user)


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def status(user: User) -> dict[str, Any]:
    """What the client shows: whether it is on, required, still owed by the account, codes left."""
    enabled = is_enabled(user)
    return {"enabled": enabled, "required": is_required(user), "setup_required": needs_setup(user),
            "recovery_codes_left": recovery_codes_left(user) if enabled else 0}


# --- set-up ------------------------------------------------------------------------------------

def _issuer() -> str:
    return current_app.config["TOTP_ISSUER"]


def begin_setup(user: User) -> dict[str, str]:
    """A new secret for the authenticator app, kept pending until a code from it comes back."""
    if is_enabled(user):
        raise ApiError(409, "second_factor_enabled",
                       "Two-step sign-in is already on. Turn it off first, or ask a supervisor to reset it.")
    sent_to = _send_reenrol_code(user) if user.second_factor_reset_at is not None else None
    secret = new_secret()
    user.totp_pending_secret = secret
    audit.record("auth.second_factor_setup_started", target=user, actor=user,
                 details={"email_code_sent": sent_to is not None})
    db.session.commit()
    return {**provisioning(secret, user.email or user.phone or f"user {user.id}"), "email_code_sent_to": sent_to}


def _send_reenrol_code(user: User) -> str:
    """E-mail the code that the set-up after a reset needs; the address it went to."""
    if not user.email:
        raise ApiError(409, "no_email", "Two-step sign-in was reset on an account with no e-mail address: ask "
                       "your agency's operator for a new invitation.")
    if tokens.sent_since(REENROL_PURPOSE, utcnow() - timedelta(hours=1), user_id=user.id) >= REENROL_CODES_PER_HOUR:
        raise ApiError(429, "too_many_requests", "Too many codes e-mailed in the last hour; try again later.",
                       headers={"Retry-After": "3600"})
    _, code = tokens.issue_code(user, REENROL_PURPOSE, user.email, REENROL_CODE_TTL)
    text = (f"Your Porchlight code to set up two-step sign-in again: {code}\n\n"
            "Your agency reset your two-step sign-in (a lost phone, for example). Type this code beside the one "
            "your authenticator app shows; it works for 30 minutes.\n\n"
            "If you did not ask for this, someone knows your password: do not share the code, change your "
            "password, and tell your supervisor.\n")
    mail_log.send_soon(user, mail.Mail(to=user.email, subject=f"Porchlight code: {code}", text=text,
                                       html="".join(f"<p>{p}</p>" for p in text.strip().split("\n\n"))))
    return user.email


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning(secret: str, name: str) -> dict[str, str]:
    """What an authenticator app needs: the secret, its otpauth URI and that URI as a QR code."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=_issuer())
    return {"secret": secret, "otpauth_uri": uri,
            "qr_svg": "data:image/svg+xml;base64," + base64.b64encode(qr_svg(uri)).decode()}


def turn_on(user: User, secret: str, step: int) -> list[str]:
    """Two-step sign-in on for a new account whose ``secret`` a code of ``step`` proved
    (joining by invitation); returns the recovery codes. The caller audits and commits."""
    user.totp_secret, user.totp_pending_secret = secret, None
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    return _new_recovery_codes(user)


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code ``code`` is, within the accepted window, or None."""
    return _matching_step(secret, code)


def confirm_setup(user: User, code: str, email_code: str | None = None) -> list[str]:
    """Turn two-step sign-in on with the pending secret; returns the recovery codes (shown once).

    After a reset it also takes the code e-mailed by :func:`begin_setup`.
    """
    if is_enabled(user):
        raise ApiError(409, "second_factor_enabled", "Two-step sign-in is already on.")
    if not user.totp_pending_secret:
        raise ApiError(409, "no_setup_started", "Start the set-up first: POST /api/auth/second-factor/setup.")
    reset = user.second_factor_reset_at is not None
    if reset and not (email_code or "").strip():
        raise field_error("email_code", "Type the 6-digit code we e-mailed you: two-step sign-in was reset, "
                                        "so setting it up again needs it too.")
    _code_budget(user)
    step = _matching_step(user.totp_pending_secret, code)
    if step is None:
        _code_budget(user, failed=True)
        audit.record("auth.second_factor_setup_failed", target=user, actor=user)
        db.session.commit()
        raise field_error("code", "That code does not match: type the 6 digits your app shows now.")
    if reset:
        try:
            tokens.redeem_code(user, REENROL_PURPOSE, "".join(email_code.split()))
        except ApiError as exc:
            audit.record("auth.second_factor_setup_failed", target=user, actor=user, details={"email_code": "wrong"})
            db.session.commit()
            if exc.status_code == 422:
                raise field_error("email_code", "That is not the code we e-mailed: check the newest e-mail.") from None
            raise ApiError(410, "code_invalid", "That e-mailed code has been used, replaced, tried too often or has "
                           "expired: start the set-up again for a new one.",
                           fields={"email_code": ["Start the set-up again for a new code."]}) from None
        user.second_factor_reset_at = None
    user.totp_secret, user.totp_pending_secret = user.totp_pending_secret, None
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    # Any session opened with the password alone (this one too) ends now; the caller
    # signs this client in again.
    ended = sessions.end_all(user, "second_factor_enabled")
    audit.record("auth.second_factor_enabled", target=user, actor=user, agency_id=user.agency_id,
                 details={"sessions_ended": ended})
    db.session.commit()
    return codes


def regenerate_recovery_codes(user: User, password: str) -> list[str]:
    if not is_enabled(user):
        raise ApiError(409, "second_factor_off", "Two-step sign-in is off: there are no recovery codes to replace.")
    _check_password(user, password, "auth.recovery_codes_failed")
    codes = _new_recovery_codes(user)
    audit.record("auth.recovery_codes_replaced", target=user, actor=user, agency_id=user.agency_id)
    db.session.commit()
    return codes


def disable(user: User, password: str) -> None:
    """Owners and district managers may turn it off; police accounts may not."""
    if is_required(user):
        raise ApiError(403, "second_factor_required",
                       "Officers and supervisors must keep two-step sign-in on; a supervisor can reset it.")
    if not is_enabled(user):
        raise ApiError(409, "second_factor_off", "Two-step sign-in is already off.")
    _check_password(user, password, "auth.second_factor_disable_failed")
    _clear(user)
    audit.record("auth.second_factor_disabled", target=user, actor=user)
    db.session.commit()


def reset(user: User, *, actor: User | None, agency_id: int | None, via: str) -> None:
    """Take two-step sign-in off an account (a lost phone); its sessions end and it sets up anew."""
    had = is_enabled(user)
    _clear(user)
    if is_required(user):
        user.second_factor_reset_at = utcnow()
    ended = sessions.end_all(user, "second_factor_reset")
    audit.record("staff.second_factor_reset", target=user, actor=actor, agency_id=agency_id,
                 details={"was_enabled": had, "via": via, "sessions_ended": ended})
    db.session.commit()


def _clear(user: User) -> None:
    user.totp_secret = user.totp_pending_secret = None
    user.totp_enabled_at = user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id)
                       .execution_options(synchronize_session=False))
    db.session.expire(user, ["recovery_codes"])


def _check_password(user: User, password: str, failure_action: str) -> None:
    if not verify_password(user.password_hash, password):
        audit.record(failure_action, target=user, actor=user, details={"reason": "bad_password"})
        db.session.commit()
        raise field_error("password", "Does not match your current password.", status=403)


# --- sign-in ----------------------------------------------------------------------------------

def verify_sign_in_code(user: User, code: str | None) -> str:
    """Check the second step of a sign-in; returns "totp" or "recovery". The caller commits.

    No code: 401 second_factor_required (the client asks for one). A wrong code: 401
    invalid_second_factor, audited, and counted against the account's code budget.
    """
    if not code or not code.strip():
        raise ApiError(401, "second_factor_required",
                       "Enter the 6-digit code from your authenticator app, or one of your recovery codes.")
    _code_budget(user)
    method = None
    step = _matching_step(user.totp_secret, code)
    if step is not None and _take_step(user, step):
        method = "totp"
    elif step is None and _use_recovery_code(user, code):
        method = "recovery"
    if method is None:
        _code_budget(user, failed=True)
        audit.record("auth.signin_failed", target=user, actor=None, agency_id=user.agency_id,
                     details={"reason": "reused_second_factor" if step is not None else "bad_second_factor"})
        db.session.commit()
        message = ("That code was already used: wait for the next one." if step is not None
                   else "That code does not match. Type the code your app shows now, or a recovery code.")
        raise ApiError(401, "invalid_second_factor", message, fields={"code": [message]})
    if method == "recovery":
        audit.record("auth.recovery_code_used", target=user, actor=user, agency_id=user.agency_id,
                     details={"left": recovery_codes_left(user)})
    return method


def _matching_step(secret: str, code: str) -> int | None:
    """The time step whose code ``code`` is, within the accepted window, or None."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(_now())
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _take_step(user: User, step: int) -> bool:
    """Record ``step`` as the account's last used one, if it is newer (compare-and-set: two
    sign-ins racing with one code cannot both get in)."""
    taken = db.session.execute(
        sa.update(User).where(User.id == user.id,
                              sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    db.session.expire(user, ["totp_last_step"])
    return taken.rowcount == 1


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _hash_recovery(code: str) -> str:
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def _use_recovery_code(user: User, code: str) -> bool:
    if len(_normalise_recovery(code)) != 10:
        return False
    # Compare-and-set, so two sign-ins racing with the same code cannot both use it.
    used = db.session.execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_recovery(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return used.rowcount == 1


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id)
                       .execution_options(synchronize_session=False))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(raw)))
    db.session.expire(user, ["recovery_codes"])
    return codes


# --- the budget of wrong codes --------------------------------------------------------------------

def _code_budget(user: User, *, failed: bool = False) -> None:
    """The budget of wrong two-step codes per account, which sign-in limits alone leave too wide.

    Called before checking a code (429 once the budget is spent) and again with
    ``failed`` to spend one. Keyed by account, so guessing from many addresses at a
    stolen password gains nothing; only wrong codes count, so the owner of the
    account is never locked out by signing in often. A browser with a device cookie
    for the login spends its own budget instead (RATELIMIT_SIGN_IN_DEVICE counts its
    wrong codes too), so this one cannot be spent to keep the account's holder out.
    """
    if not current_app.config["RATELIMIT_ENABLED"] or (has_request_context() and trusted_device()):
        return
    strategy = limiter.limiter
    key = (current_app.config["RATELIMIT_KEY_PREFIX"], "second-factor", f"user:{user.id}")
    limits: list[RateLimitItem] = parse_many(current_app.config["RATELIMIT_SECOND_FACTOR"])
    try:
        if failed:
            for item in limits:
                strategy.hit(item, *key)
            return
        spent = [item for item in limits if not strategy.test(item, *key)]
        reset_at = max((strategy.get_window_stats(item, *key).reset_time for item in spent), default=0)
    except Exception:  # the storage is down: as for every other limit, let the request through
        current_app.logger.warning("rate-limit storage unavailable; second-factor budget not checked",
                                   exc_info=True)
        return
    if spent:
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(429, "rate_limited",
                       f"Too many wrong two-step codes for this account. Try again in {retry_after} seconds.",
                       headers={"Retry-After": str(retry_after)})
