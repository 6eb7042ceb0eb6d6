"""Single-use secrets sent to one address of an account: links and six-digit codes.

A link carries ``<id>.<secret>``: 256 random bits, of which only the SHA-256 is stored
(a slow hash adds nothing to a secret that long). A code has six digits, so it is kept
as an HMAC under SECRET_KEY bound to the account, purpose and address, and each wrong
guess is counted: after MAX_CODE_ATTEMPTS the code is void, so a guesser gets five tries
in a million per code sent (and sending is rate-limited by the callers).

Redeeming is one conditional UPDATE (``used_at IS NULL``), so a link used twice at the
same moment works once. Issuing a token voids the account's earlier ones of the same
purpose: only the newest link or code works.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.accounts.models import OneTimeToken, User
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db

MAX_CODE_ATTEMPTS = 5


def _link_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _code_hash(user_id: int, purpose: str, address: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{user_id}:{address}:{code}".encode(), hashlib.sha256).hexdigest()


def _void_earlier(user: User, purpose: str, now: datetime) -> None:
    db.session.execute(
        sa.update(OneTimeToken)
        .where(OneTimeToken.user_id == user.id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None),
               OneTimeToken.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False))


def issue_link(user: User, purpose: str, address: str, ttl: timedelta) -> tuple[OneTimeToken, str]:
    """A new link token for ``address``; returns the row and the text to put in the link."""
    now = utcnow()
    _void_earlier(user, purpose, now)
    secret = secrets.token_urlsafe(32)
    row = OneTimeToken(user_id=user.id, purpose=purpose, address=address, secret_hash=_link_hash(secret),
                       created_at=now, expires_at=now + ttl)
    db.session.add(row)
    db.session.flush()
    return row, f"{row.id}.{secret}"


def issue_code(user: User, purpose: str, address: str, ttl: timedelta) -> tuple[OneTimeToken, str]:
    """A new six-digit code for ``address`` (a phone number); returns the row and the code."""
    now = utcnow()
    _void_earlier(user, purpose, now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = OneTimeToken(user_id=user.id, purpose=purpose, address=address, created_at=now, expires_at=now + ttl,
                       secret_hash=_code_hash(user.id, purpose, address, code))
    db.session.add(row)
    db.session.flush()
    return row, code


def sent_since(purpose: str, since: datetime, *, user_id: int | None = None, address: str | None = None) -> int:
    """How many tokens of ``purpose`` went to this account or address since ``since`` (for rate limits)."""
    scope = []
    if user_id is not None:
        scope.append(OneTimeToken.user_id == user_id)
    if address is not None:
        scope.append(OneTimeToken.address == address)
    if not scope:
        raise ValueError("sent_since needs an account or an address")
    return db.session.scalar(sa.select(sa.func.count()).select_from(OneTimeToken).where(
        OneTimeToken.purpose == purpose, OneTimeToken.created_at > since, sa.or_(*scope))) or 0


def _invalid_link() -> ApiError:
    # One answer for a made-up, used, superseded or expired link: the holder needs a new one either way.
    return ApiError(410, "link_invalid", "This link has been used, replaced by a newer one or has expired: "
                    "ask for a new one.")


def _parse(token: str) -> tuple[int, str] | None:
    ident, _, secret = (token or "").partition(".")
    if not ident.isdigit() or len(ident) > 18 or not secret or len(secret) > 100:
        return None
    return int(ident), secret


def peek_link(purpose: str, token: str) -> OneTimeToken:
    """The live token a link stands for, without using it (a page that shows a form first)."""
    parsed = _parse(token)
    row = db.session.get(OneTimeToken, parsed[0]) if parsed else None
    if (row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= utcnow()
            or not hmac.compare_digest(row.secret_hash, _link_hash(parsed[1]))):
        raise _invalid_link()
    return row


def redeem_link(purpose: str, token: str) -> OneTimeToken:
    """Use a link once: the row, now marked used, or 410 ``link_invalid``.

    The caller commits; until then a concurrent redeemer waits on the row (PostgreSQL)
    or the database (SQLite) and then finds it used.
    """
    row = peek_link(purpose, token)
    now = utcnow()
    used = db.session.execute(
        sa.update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not used:
        raise _invalid_link()
    db.session.refresh(row)
    return row


def redeem_code(user: User, purpose: str, code: str) -> OneTimeToken:
    """Check ``code`` against the account's newest live code of ``purpose`` and use it.

    Every guess is counted first, atomically, and committed, so parallel guesses cannot
    exceed the limit and a failed guess stays counted whatever the caller does next.
    Raises 410 ``code_invalid`` when no code is live (none sent, used, expired, too many
    wrong tries) and 422 naming ``code`` for a wrong one.
    """
    now = utcnow()
    row = db.session.scalar(
        sa.select(OneTimeToken)
        .where(OneTimeToken.user_id == user.id, OneTimeToken.purpose == purpose,
               OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > now)
        .order_by(OneTimeToken.id.desc()).limit(1))
    gone = ApiError(410, "code_invalid", "This code has been used, replaced, tried too often or has expired: "
                    "ask for a new one.")
    if row is None:
        raise gone
    counted = db.session.execute(
        sa.update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.attempts < MAX_CODE_ATTEMPTS)
        .values(attempts=OneTimeToken.attempts + 1).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not counted:
        raise gone
    if not hmac.compare_digest(row.secret_hash, _code_hash(user.id, purpose, row.address, code or "")):
        db.session.refresh(row)
        left = MAX_CODE_ATTEMPTS - row.attempts
        raise ApiError(422, "validation_error", f"code: Wrong code; {left} {'try' if left == 1 else 'tries'} left."
                       if left else "code: Wrong code; ask for a new one.",
                       fields={"code": ["Wrong code." if left else "Wrong code; ask for a new one."]})
    used = db.session.execute(
        sa.update(OneTimeToken).where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not used:
        raise gone
    db.session.refresh(row)
    return row


# Kept a day after they end, for the rate limits that count recent sends.
ENDED_TOKENS_KEPT = timedelta(days=1)


def purge_ended_tokens(now: datetime) -> int:
    """Delete tokens that ended more than a day ago (the scheduler's housekeeping)."""
    cutoff = now - ENDED_TOKENS_KEPT
    deleted = db.session.execute(sa.delete(OneTimeToken).where(
        sa.or_(OneTimeToken.used_at < cutoff, OneTimeToken.expires_at < cutoff))).rowcount
    db.session.commit()
    return deleted
