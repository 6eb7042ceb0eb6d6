"""The end of unproved claims to an e-mail address or phone number (the scheduler's step).

A new account's address counts for nothing until proved (app/accounts/identities.py).
After UNVERIFIED_CLAIM_DAYS the claim ends: an account that proved another of its
addresses just loses the unproved one; an account that proved none is deleted with its
data, as an owner's own deletion would (app/privacy/service.py), and so is one closed
because another account proved its only address first.
"""
from __future__ import annotations

from datetime import datetime

from app.accounts import identities
from app.accounts.models import Role
from app.extensions import db
from app.privacy import service as privacy


def expire_unverified_claims(now: datetime) -> int:
    """End the claims past their time; how many accounts lost an address or were deleted."""
    done = 0
    for user in db.session.scalars(identities.expired_claims_query(now)).all():
        if identities.has_verified_login(user) and user.active:
            identities.drop_expired_claims(user)
        elif user.role == Role.OWNER:
            privacy.erase(user, actor=None, reason="unverified_claim_lost" if not user.active
                          else "unverified_claim_expired")
        else:
            continue
        db.session.commit()
        done += 1
    return done
