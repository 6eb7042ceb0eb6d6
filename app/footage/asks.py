"""The ask state machine: the only place an ask's state changes.

    queued → notified → seen → approved → uploading → delivered
                 └──────┴──────┴→ declined | no_footage
    any open or approved state → expired | cancelled

Every transition is checked against TRANSITIONS (an illegal one is a 409) and
audited as ``ask.<new state>``. Each is a compare-and-set on the row, so a decision
taken on a stale read (the owner answered in the app while the notification worker
marked the ask notified, say) never overwrites what another process wrote: it is
taken again on the fresh state. Callers commit.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from app.audit import service as audit
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from app.footage.models import OPEN_ASK_STATES, Ask, AskState

S = AskState
# The owner's answers, in the order the app offers them: each action (an answer route,
# a notification button, an SMS reply) and the state it leads to.
ACTIONS: dict[str, AskState] = {"approve": S.APPROVED, "decline": S.DECLINED, "no_footage": S.NO_FOOTAGE}
_ANSWERS = set(ACTIONS.values())
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

# The owner said yes: approved and where an approval leads, short of an ending. The
# owner may add clips in any of them (up to the agency's maximum).
APPROVED_STATES = (S.APPROVED, S.UPLOADING, S.DELIVERED)
# Not opened by the owner yet.
UNSEEN = tuple(state for state, targets in TRANSITIONS.items() if S.SEEN in targets)


def actions_for(state: AskState) -> list[str]:
    """The answers an ask in ``state`` still takes: all of them while it is open, none after."""
    return list(ACTIONS) if state in OPEN_ASK_STATES else []


def can_transition(ask: Ask, to: AskState) -> bool:
    return to in TRANSITIONS[ask.state]


def _stamps(to: AskState, via: str | None) -> dict[str, Any]:
    """The columns a transition to ``to`` sets besides the state."""
    now = utcnow()
    values: dict[str, Any] = {"state": to}
    if to == S.NOTIFIED:
        values["notified_at"] = now
    elif to == S.SEEN:
        values["seen_at"] = now
    elif to in _ANSWERS:
        values["responded_at"] = now
        values["answered_via"] = via
    elif to == S.DELIVERED:
        values["delivered_at"] = now
    if not TRANSITIONS[to]:  # a state with no way out: the ask is closed
        values["closed_at"] = now
    return values


def _compare_and_set(ask: Ask, before: AskState, values: dict[str, Any]) -> bool:
    """Write ``values`` only if the row is still in ``before``; True if it was."""
    table = Ask.__table__
    db.session.flush()
    updated = db.session.execute(
        sa.update(table).where(table.c.id == ask.id, table.c.state == before).values(**values)).rowcount
    if updated != 1:
        return False
    for key, value in values.items():
        set_committed_value(ask, key, value)
    return True


def transition(ask: Ask, to: AskState, *, actor: Any = None, via: str | None = None,
               details: dict[str, Any] | None = None, if_from: Collection[AskState] | None = None) -> Ask:
    """Move ``ask`` to ``to`` and audit it; 409 illegal_transition if its state does not allow it.

    With ``if_from``, an ask in any other state is left as it is (no error): for
    moves that only apply sometimes, such as "notified" after the first message.
    """
    while True:
        if if_from is not None and ask.state not in if_from:
            return ask
        if not can_transition(ask, to):
            now_, then = ask.state.value.replace("_", " "), to.value.replace("_", " ")
            raise ApiError(409, "illegal_transition", f"This ask is {now_}; it cannot become {then}.")
        before = ask.state
        if _compare_and_set(ask, before, _stamps(to, via)):
            break
        # Someone else changed it since it was read: decide again on what they wrote.
        db.session.refresh(ask)
    # The agency's audit log shows its requests' asks; the owner stays an actor id only.
    audit.record(f"ask.{to.value}", target=ask, actor=actor, agency_id=ask.request.agency_id,
                 details={"from": before.value, "request_id": ask.request_id, **({"via": via} if via else {}),
                          **(details or {})})
    return ask


def states_leading_to(to: AskState) -> list[AskState]:
    """The states from which an ask can become ``to`` (e.g. every state a cancel closes)."""
    return [state for state, targets in TRANSITIONS.items() if to in targets]


def mark_notified(ask: Ask) -> Ask:
    """A first message went out; later messages leave the state alone."""
    return transition(ask, S.NOTIFIED, if_from={S.QUEUED})


def mark_seen(ask: Ask, owner: Any) -> Ask:
    return transition(ask, S.SEEN, actor=owner, if_from=UNSEEN)


def answer(ask: Ask, owner: Any, action: str, *, via: str, reason: str | None = None) -> Ask:
    """The owner's answer (one of ACTIONS); a decline may carry a reason."""
    transition(ask, ACTIONS[action], actor=owner, via=via)
    if action == "decline":
        # Kept for the owner's own history only; officers see counts, never reasons by owner.
        ask.decline_reason = reason or None
    return ask


def start_upload(ask: Ask, owner: Any = None) -> Ask:
    return transition(ask, S.UPLOADING, actor=owner, if_from={S.APPROVED})


def deliver(ask: Ask) -> Ask:
    return transition(ask, S.DELIVERED, if_from={S.UPLOADING})


def expire(ask: Ask) -> Ask:
    return transition(ask, S.EXPIRED, if_from=states_leading_to(S.EXPIRED))


def cancel(ask: Ask, actor: Any = None) -> Ask:
    return transition(ask, S.CANCELLED, actor=actor, if_from=states_leading_to(S.CANCELLED))
