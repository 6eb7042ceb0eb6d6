"""Server-side sessions: one revocable record per signed-in client.

The session cookie (Flask's signed cookie) carries a random key and the account id;
the ``user_sessions`` record behind the key decides, on every request, whether it
still signs anyone in. So signing out ends a session for good (a copied cookie
replayed later is refused), an account holder can see and end their other sessions,
and a password change, a deactivation or a two-step reset ends all of them.

Limits: officers, supervisors and oversight are signed out after STAFF_IDLE_TIMEOUT_MINUTES
without a request and after STAFF_SESSION_LIFETIME_HOURS in all; owners and district
managers after SESSION_IDLE_TIMEOUT_DAYS and SESSION_LIFETIME_DAYS. A refused session
answers 401 with why (``session_expired`` for a limit, ``session_revoked`` otherwise),
which the PWA shows on its sign-in screen.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request, session
from flask_login import login_user
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Role, User, UserSession
from app.audit import service as audit
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import not_found
from app.extensions import db
from app.sql import dialect

SESSION_KEY = "sid"  # the Flask session entry holding this client's random key
# "Last seen" is written at most this often per session: a screen busy with calls costs
# one write a minute, not one a request. Idle limits are minutes long, so this is exact enough.
TOUCH_EVERY = timedelta(seconds=30)
BACKGROUND_HEADER = "X-Porchlight-Background"
# Ended sessions are kept this long, so a replayed or stale cookie still learns why it
# was signed out; then the housekeeping deletes them.
KEEP_ENDED = timedelta(days=30)

# Short staff sessions: police, and oversight, who read the agency's audit log.
STAFF_SESSION_ROLES = (Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT)

# Why a session ended → the code and message its next request is refused with.
_EXPIRED = "session_expired"
_REVOKED = "session_revoked"
_ENDINGS = {
    "signed_out": (_REVOKED, "This session was signed out. Sign in again."),
    "signed_out_remotely": (_REVOKED, "This device was signed out from your account's settings on another device. "
                                      "Sign in again."),
    "signed_out_elsewhere": (_REVOKED, "You signed out every other device from your account's settings. "
                                       "Sign in again."),
    "password_changed": (_REVOKED, "Your password was changed, which signed out every device. "
                                   "Sign in with the new password."),
    "deactivated": (_REVOKED, "This account was deactivated by a supervisor of your agency."),
    "second_factor_reset": (_REVOKED, "Your two-step sign-in was reset, which signed you out everywhere. "
                                      "Sign in again and set it up."),
    "second_factor_enabled": (_REVOKED, "Two-step sign-in was turned on for this account, which signed out every "
                                        "other device. Sign in again with a code from your authenticator app."),
}
_GONE = (_REVOKED, "This session has ended. Sign in again.")


# --- limits --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    idle: timedelta
    lifetime: timedelta
    idle_text: str
    lifetime_text: str


def limits_for(role: Role) -> Limits:
    config = current_app.config
    if role in STAFF_SESSION_ROLES:
        minutes, hours = config["STAFF_IDLE_TIMEOUT_MINUTES"], config["STAFF_SESSION_LIFETIME_HOURS"]
        return Limits(timedelta(minutes=minutes), timedelta(hours=hours),
                      f"{minutes} minutes", f"staff sessions last at most {hours} hours")
    idle_days, days = config["SESSION_IDLE_TIMEOUT_DAYS"], config["SESSION_LIFETIME_DAYS"]
    return Limits(timedelta(days=idle_days), timedelta(days=days),
                  f"{idle_days} days", f"sessions last at most {days} days")


def _limit_reached(record: UserSession, role: Role, now: datetime) -> str | None:
    limits = limits_for(role)
    if now - record.created_at > limits.lifetime:
        return "lifetime"
    if now - record.last_seen_at > limits.idle:
        return "idle"
    return None


def _refusal(reason: str | None, role: Role | None) -> tuple[str, str]:
    if reason in ("idle", "lifetime") and role is not None:
        limits = limits_for(role)
        if reason == "idle":
            return _EXPIRED, f"Your session ended after {limits.idle_text} without activity; sign in again."
        return _EXPIRED, f"Your session ended: {limits.lifetime_text}; sign in again."
    return _ENDINGS.get(reason or "", _GONE)


# --- the record behind this request -------------------------------------------------------------

def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@cache
def _lookup() -> sa.Select:
    """The session record behind a key's hash, with its account: built once per process (every
    API call runs it, and composing it cost more than running it), the hash bound per call."""
    return (sa.select(UserSession, User).join(User, User.id == UserSession.user_id)
            .where(UserSession.key_hash == sa.bindparam("key_hash")))


def begin(user: User) -> UserSession:
    """Sign ``user`` in on this client: a new session record, and a cookie holding only its key."""
    key = secrets.token_urlsafe(32)
    record = UserSession(user_id=user.id, key_hash=_hash(key), user_agent=describe_user_agent(
        request.headers.get("User-Agent")), ip_address=(request.remote_addr or "")[:64] or None)
    db.session.add(record)
    db.session.commit()
    # Nothing from an earlier session (another account's, say) carries over.
    session.clear()
    # Permanent: the cookie gets an expiry, so a phone keeps it across browser restarts;
    # the record, not the cookie, decides when the session ends.
    session.permanent = True
    session[SESSION_KEY] = key
    login_user(user)
    g.user_session = record
    return record


def check_now() -> None:
    """Mark this request as the one place its session may be written: app/auth.py calls it
    before loading the user at the start of an API call."""
    g.session_writable = True


def user_for_request(identity: str) -> User | None:
    """The account this request's cookie signs in, or None (and why, in ``g.session_refused``).

    At the start of an API call (``check_now``) nothing else has happened in the
    request yet, so the writes here — ending a session past its limits, "last seen" —
    commit only themselves, and a refused cookie is cleared. Loaded later in a request
    (nothing does so today), the session is only read.
    """
    key = session.get(SESSION_KEY)
    if not isinstance(key, str) or not identity.isdigit():
        return None
    writable = g.get("session_writable", False)
    row = db.session.execute(_lookup(), {"key_hash": _hash(key)}).first()
    if row is None or row.UserSession.user_id != int(identity):
        return _refuse(None, None, writable)
    record, user = row
    if record.ended_at is not None:
        return _refuse(record.end_reason, user.role, writable)
    now = utcnow()
    reason = "deactivated" if not user.active else _limit_reached(record, user.role, now)
    if reason is not None:
        if writable:
            _end(record, reason, now)
            db.session.commit()
        return _refuse(reason, user.role, writable)
    if (writable and now - record.last_seen_at > TOUCH_EVERY
            and request.headers.get(BACKGROUND_HEADER) != "1"):
        # A screen refreshing itself on a timer is not someone at the keyboard: the PWA
        # marks those calls, and they do not keep a session from going idle.
        _touch(record, now)
    g.user_session = record
    return user


def _touch(record: UserSession, now: datetime) -> None:
    """Write "last seen" and commit it, keeping the session and account just read as they are.

    The commit would otherwise expire them, and the route's first look at the account
    would read it again. Nothing else is in this transaction (``check_now``), and what
    the two rows say now is what they said a moment ago, when they were read.
    """
    table = UserSession.__table__
    touch = sa.update(table).where(table.c.id == record.id).values(last_seen_at=now)
    if dialect() == "postgresql":
        # The commit need not wait for the WAL to reach the disk: a crash could lose only the
        # newest stamps, which makes sessions look idle sooner, never later. Set for this
        # transaction only, by the UPDATE itself (no round trip of its own).
        touch = touch.where(sa.func.set_config("synchronous_commit", "off", True).is_not(None))
    db.session.execute(touch)
    set_committed_value(record, "last_seen_at", now)
    orm_session = db.session()
    expire, orm_session.expire_on_commit = orm_session.expire_on_commit, False
    try:
        orm_session.commit()
    finally:
        orm_session.expire_on_commit = expire


def _refuse(reason: str | None, role: Role | None, writable: bool) -> None:
    g.session_refused = _refusal(reason, role)
    if writable:
        session.clear()
    return None


def refusal() -> tuple[str, str] | None:
    """(code, message) when this request came with a session that no longer signs anyone in."""
    return g.get("session_refused") if has_request_context() else None


def current() -> UserSession | None:
    return g.get("user_session") if has_request_context() else None


# --- ending sessions ------------------------------------------------------------------------------

def _end(record: UserSession, reason: str, now: datetime | None = None) -> None:
    record.ended_at, record.end_reason = now or utcnow(), reason


def end_current(user: User) -> None:
    """Sign this client out: its record ends, so the cookie is worthless even if copied. The caller commits."""
    record = current()
    if record is not None and record.user_id == user.id and record.ended_at is None:
        _end(record, "signed_out")
    session.clear()


def end_all(user: User, reason: str, *, keep: UserSession | None = None) -> int:
    """End every open session of ``user`` (but ``keep``); the caller audits and commits."""
    query = (sa.update(UserSession)
             .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
             .values(ended_at=utcnow(), end_reason=reason))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    return db.session.execute(query).rowcount


def _open_sessions(user: User) -> sa.Select:
    now = utcnow()
    limits = limits_for(user.role)
    return (sa.select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
                   UserSession.created_at > now - limits.lifetime, UserSession.last_seen_at > now - limits.idle))


def list_open(user: User) -> list[dict]:
    """The account's signed-in clients, most recently used first, this one marked."""
    this = current()
    records = db.session.scalars(_open_sessions(user).order_by(UserSession.last_seen_at.desc(),
                                                               UserSession.id.desc()))
    return [{"id": r.id, "created_at": r.created_at, "last_seen_at": r.last_seen_at, "user_agent": r.user_agent,
             "ip_address": r.ip_address, "current": this is not None and r.id == this.id} for r in records]


def sign_out_session(user: User, session_id: int) -> bool:
    """End one of the account's own open sessions; True when it was this client's. 404 for any other."""
    record = (db.session.scalar(_open_sessions(user).where(UserSession.id == session_id))
              if fits_int(session_id) else None)
    if record is None:
        raise not_found("Session")
    this = current()
    is_current = this is not None and record.id == this.id
    _end(record, "signed_out" if is_current else "signed_out_remotely")
    audit.record("auth.session_signed_out", target=user, actor=user,
                 details={"session_id": record.id, "current": is_current})
    db.session.commit()
    if is_current:
        session.clear()
    return is_current


def sign_out_others(user: User) -> int:
    """End every session of the account except this one."""
    ended = end_all(user, "signed_out_elsewhere", keep=current())
    audit.record("auth.signed_out_elsewhere", target=user, actor=user, details={"sessions": ended})
    db.session.commit()
    return ended


def purge_ended_sessions(now: datetime) -> int:
    """Housekeeping: delete records ended (or past any limit) for longer than KEEP_ENDED."""
    config = current_app.config
    longest_lifetime = max(timedelta(days=config["SESSION_LIFETIME_DAYS"]),
                           timedelta(hours=config["STAFF_SESSION_LIFETIME_HOURS"]))
    longest_idle = max(timedelta(days=config["SESSION_IDLE_TIMEOUT_DAYS"]),
                       timedelta(minutes=config["STAFF_IDLE_TIMEOUT_MINUTES"]))
    cutoff = now - KEEP_ENDED
    deleted = db.session.execute(
        sa.delete(UserSession).where(sa.or_(
            UserSession.ended_at < cutoff,
            UserSession.created_at < cutoff - longest_lifetime,
            UserSession.last_seen_at < cutoff - longest_idle))
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return deleted


# --- telling devices apart ------------------------------------------------------------------------

_BROWSERS = (("Edg", "Edge"), ("EdgA", "Edge"), ("EdgiOS", "Edge"), ("SamsungBrowser", "Samsung Internet"),
             ("OPR", "Opera"), ("FxiOS", "Firefox"), ("Firefox", "Firefox"), ("CriOS", "Chrome"),
             ("Chromium", "Chromium"), ("HeadlessChrome", "Chrome"), ("Chrome", "Chrome"), ("Safari", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))
_PRODUCT = re.compile(r"^([A-Za-z][\w.-]{0,40})(?:/([\w.]{1,20}))?")


def describe_user_agent(text: str | None) -> str | None:
    """"Firefox on Android", "Safari on iPhone", "python-requests 2.32" — enough to recognise a device.

    Browsers name others in their User-Agent too (Chrome says "Safari", Edge says
    "Chrome"), so the more specific names are looked for first.
    """
    if not text:
        return None
    browser = next((name for token, name in _BROWSERS if f"{token}/" in text), None)
    system = next((name for token, name in _SYSTEMS if token in text), None)
    if browser:
        return f"{browser} on {system}" if system else browser
    if system:
        return f"A browser on {system}"
    match = _PRODUCT.match(text.strip())
    return " ".join(part for part in match.groups() if part)[:120] if match else "Unknown client"
