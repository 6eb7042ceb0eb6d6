"""The ask state machine: the only place an ask's state changes.

    queued → notified → seen → approved → uploading → delivered
                 └──────┴──────┴→ declined | no_footage
    any open or approved state → expired | cancelled

Every transition is checked against TRANSITIONS (an illegal one is a 409) and
audited as ``ask.<new state>``. Callers commit.
"""
from __future__ import annotations

from typing import Any

from app.audit import service as audit
from app.db import utcnow
from app.errors import ApiError
from app.footage.models import Ask, AskState

S = AskState
_ANSWERS = {S.APPROVED, S.DECLINED, S.NO_FOOTAGE}
_ENDINGS = {S.EXPIRED, S.CANCELLED}

TRANSITIONS: dict[AskState, set[AskState]] = {
    S.QUEUED: {S.NOTIFIED, S.SEEN} | _ANSWERS | _ENDINGS,
    S.NOTIFIED: {S.SEEN} | _ANSWERS | _ENDINGS,
    S.SEEN: _ANSWERS | _ENDINGS,
    S.APPROVED: {S.UPLOADING} | _ENDINGS,
    # An upload in progress may end with the request; a finished clip is delivered.
    S.UPLOADING: {S.DELIVERED} | _ENDINGS,
    S.DELIVERED: set(),
    S.DECLINED: set(),
    S.NO_FOOTAGE: set(),
    S.EXPIRED: set(),
    S.CANCELLED: set(),
}

# States in which the owner may still add clips (up to the agency's maximum).
UPLOADABLE = {S.APPROVED, S.UPLOADING, S.DELIVERED}
OPEN = {S.QUEUED, S.NOTIFIED, S.SEEN}


def can_transition(ask: Ask, to: AskState) -> bool:
    return to in TRANSITIONS[ask.state]


def transition(ask: Ask, to: AskState, *, actor: Any = None, via: str | None = None,
               details: dict[str, Any] | None = None) -> Ask:
    if not can_transition(ask, to):
        raise ApiError(409, "illegal_transition",
                       f"This ask is {ask.state.value.replace('_', ' ')}; it cannot become {to.value.replace('_', ' ')}.")
    before = ask.state
    now = utcnow()
    ask.state = to
    if to == S.NOTIFIED:
        ask.notified_at = now
    elif to == S.SEEN:
        ask.seen_at = now
    elif to in _ANSWERS:
        ask.responded_at = now
        ask.answered_via = via
    elif to == S.DELIVERED:
        ask.delivered_at = now
    if to in _ENDINGS or to in (S.DECLINED, S.NO_FOOTAGE, S.DELIVERED):
        ask.closed_at = now
    audit.record(f"ask.{to.value}", target=ask, actor=actor,
                 details={"from": before.value, "request_id": ask.request_id, **({"via": via} if via else {}),
                          **(details or {})})
    return ask


def mark_notified(ask: Ask) -> Ask:
    """A first message went out; later messages leave the state alone."""
    return transition(ask, S.NOTIFIED) if ask.state == S.QUEUED else ask


def mark_seen(ask: Ask, owner: Any) -> Ask:
    return transition(ask, S.SEEN, actor=owner) if ask.state in (S.QUEUED, S.NOTIFIED) else ask


def approve(ask: Ask, owner: Any, *, via: str) -> Ask:
    return transition(ask, S.APPROVED, actor=owner, via=via)


def decline(ask: Ask, owner: Any, *, via: str, reason: str | None = None) -> Ask:
    transition(ask, S.DECLINED, actor=owner, via=via)
    # Kept for the owner's own history only; officers see counts, never reasons by owner.
    ask.decline_reason = reason or None
    return ask


def report_no_footage(ask: Ask, owner: Any, *, via: str) -> Ask:
    return transition(ask, S.NO_FOOTAGE, actor=owner, via=via)


def start_upload(ask: Ask, owner: Any = None) -> Ask:
    return transition(ask, S.UPLOADING, actor=owner) if ask.state == S.APPROVED else ask


def deliver(ask: Ask) -> Ask:
    return transition(ask, S.DELIVERED) if ask.state == S.UPLOADING else ask


def expire(ask: Ask) -> Ask:
    return transition(ask, S.EXPIRED) if can_transition(ask, S.EXPIRED) else ask


def cancel(ask: Ask, actor: Any = None) -> Ask:
    return transition(ask, S.CANCELLED, actor=actor) if can_transition(ask, S.CANCELLED) else ask
