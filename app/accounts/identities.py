"""Who holds an e-mail address or phone number: verified identities, no enumeration.

An address is unique only once proved, and only within its side: owner-side accounts
(owners, district managers) and agency staff (officers, supervisors; ``User.is_staff``)
are kept apart, so one person may hold a resident account and a police account with the
same address (migration 0012's partial unique indexes).

Until proved, an address is a *claim*: it blocks nobody and receives nothing (requests
go to proved addresses only). Its account may sign in with it and its own password, as
may the holder and any other claimant with theirs: the password decides. A claim ends
when another account of the same side proves the address first, or after
UNVERIFIED_CLAIM_DAYS (app/privacy/claims.py). Accounts made before verified
identities (``unverified_since`` NULL) keep their addresses, proved or not, for good:
those were unique and in use.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.accounts import sessions
from app.accounts.models import User
from app.audit import service as audit
from app.db import utcnow
from app.extensions import db

# Sign-in checks the password against this many hashes at least (dummy ones when fewer
# accounts have the login), so its time does not tell a login with no account from one
# with a resident account, a police account or both.
SIGN_IN_CHECKS = 2

EMAIL, PHONE = "email", "phone"


def column(kind: str) -> sa.orm.InstrumentedAttribute:
    return User.email if kind == EMAIL else User.phone


def verified(kind: str) -> sa.ColumnElement[bool]:
    """SQL: the account's ``kind`` address is proved."""
    return User.email_verified_at.is_not(None) if kind == EMAIL else User.phone_verified.is_(True)


def logins_query(kind: str, value: str, *, staff: bool | None = None) -> sa.Select:
    """The accounts with this login, of one side or both: proved ones first, then claims."""
    query = sa.select(User).where(column(kind) == value)
    if staff is not None:
        query = query.where(User.is_staff.is_(staff))
    return query.order_by(verified(kind).desc(), User.id)


def address(user: User, kind: str) -> str | None:
    return user.email if kind == EMAIL else user.phone


def is_verified(user: User, kind: str) -> bool:
    return user.email_verified_at is not None if kind == EMAIL else bool(user.phone_verified)


def has_verified_login(user: User) -> bool:
    return any(address(user, kind) and is_verified(user, kind) for kind in (EMAIL, PHONE))


def verified_holder(kind: str, value: str, *, staff: bool, exclude_id: int | None = None) -> User | None:
    """The account of this side that proved the address (it owns it), if any."""
    query = sa.select(User).where(column(kind) == value, verified(kind), User.is_staff.is_(staff))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.scalars(query.limit(1)).first()


def verified_elsewhere(user: User, kind: str, value: str) -> bool:
    """Whether another account of ``user``'s side already proved this address (it owns it)."""
    return verified_holder(kind, value, staff=user.is_staff, exclude_id=user.id) is not None


def settle(user: User) -> None:
    """Forget when the account's claims started once none is left unproved."""
    if user.unverified_since is not None and all(
            address(user, kind) is None or is_verified(user, kind) for kind in (EMAIL, PHONE)):
        user.unverified_since = None


def mark_verified(user: User, kind: str, value: str) -> list[int]:
    """``user`` proved ``value``: it becomes the account's, verified; first to verify wins.

    Every other account of the same side that claims the address without having proved
    it loses the claim (audited): the address is cleared, or, when it was the account's
    only login, the account is closed at once and deleted with its data by the next
    scheduler tick (app/privacy/claims.py). Accounts from before verified identities
    keep their addresses (migration 0012). The caller checks ``verified_elsewhere`` first,
    audits the verification and commits. Returns the ids of the accounts that lost their claim.
    """
    now = utcnow()
    if kind == EMAIL:
        user.email, user.email_verified_at = value, now
    else:
        user.phone, user.phone_verified = value, True
    settle(user)
    losers = list(db.session.scalars(sa.select(User).where(
        column(kind) == value, ~verified(kind), User.unverified_since.is_not(None),
        User.is_staff.is_(user.is_staff), User.id != user.id).order_by(User.id)))
    for other in losers:
        other_kind = PHONE if kind == EMAIL else EMAIL
        if address(other, other_kind) is not None:
            setattr(other, column(kind).key, None)
            settle(other)
            outcome = "address_cleared"
        else:
            # The address was its only login; no row may be left without one (has_login).
            other.active = False
            sessions.end_all(other, "deactivated")
            outcome = "account_closed"
        audit.record("account.claim_lost", target=other, actor=audit.NO_ACTOR,
                     details={"kind": kind, "outcome": outcome})
    return [other.id for other in losers]


def drop_expired_claims(user: User) -> list[str]:
    """Clear the addresses ``user`` never proved (it keeps a verified login); the kinds dropped."""
    dropped = []
    for kind in (EMAIL, PHONE):
        if address(user, kind) is not None and not is_verified(user, kind):
            setattr(user, column(kind).key, None)
            dropped.append(kind)
    user.unverified_since = None
    audit.record("account.claim_expired", target=user, actor=None, details={"dropped": dropped})
    return dropped


def expired_claims_query(now: datetime) -> sa.Select:
    """Accounts with a claim past UNVERIFIED_CLAIM_DAYS, or closed because they lost their only one."""
    cutoff = now - timedelta(days=current_app.config["UNVERIFIED_CLAIM_DAYS"])
    return sa.select(User).where(User.unverified_since.is_not(None), sa.or_(
        User.unverified_since < cutoff, User.active.is_(False))).order_by(User.id)
