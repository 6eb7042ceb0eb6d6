"""Owners' answers to asks: in the app, from a notification's button, or by SMS.

Each way ends in :func:`answer_ask`: the ask is re-read under its row lock and moved
by the ask state machine (app/footage/asks.py), which refuses an answer its state does
not allow (409 illegal_transition). An answer records how it came (``via``: app,
notification, sms or link). The notifications package receives the SMS and hands its
reply words here (:func:`answer_by_sms`); it never decides an ask, and words the reply
from what this module says happened.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext
from sqlalchemy.orm import joinedload

from app import links
from app.accounts.models import User
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, forbidden, not_found
from app.extensions import db
from app.footage import asks, inbox
from app.footage.models import OPEN_ASK_STATES, Ask, FootageRequest, RequestStatus
from app.footage.requests import status_words
from app.sql import for_update


def ask_for_owner(owner: User, ask_id: int, *, lock: bool = False, with_request: bool = False) -> Ask:
    """The owner's own ask; anyone else's is indistinguishable from a missing one.

    ``with_request`` loads its request in the same statement (an answer reads it); under
    ``lock`` only the ask's row is locked, never the request's, which every owner asked
    for it answers at the same time.
    """
    if not fits_int(ask_id):
        raise not_found("Ask")
    criteria = (Ask.id == ask_id, Ask.owner_id == owner.id)
    query = sa.select(Ask).where(*criteria)
    if with_request:
        query = query.options(joinedload(Ask.request, innerjoin=True))
    if lock:
        query = for_update(query, Ask.__table__, *criteria).with_for_update(of=Ask.__table__)
    ask = db.session.scalar(query)
    if ask is None:
        raise not_found("Ask")
    return ask


def open_asks_of(owner: User) -> list[Ask]:
    """The owner's asks still waiting for an answer, newest first (a bare SMS "YES" needs exactly one)."""
    query = (sa.select(Ask).options(joinedload(Ask.request).joinedload(FootageRequest.agency))
             .join(Ask.request)
             .where(Ask.owner_id == owner.id, Ask.state.in_(OPEN_ASK_STATES),
                    FootageRequest.status == RequestStatus.ACTIVE)
             .order_by(Ask.id.desc()))
    return list(db.session.scalars(query))


def view_ask(owner: User, ask_id: int) -> Ask:
    """The owner opens an ask: from now on it counts as seen."""
    ask = ask_for_owner(owner, ask_id)
    if ask.state in asks.UNSEEN:
        # Re-read under the row lock: an answer from a notification button at this very
        # moment must not be overwritten by "seen".
        ask = ask_for_owner(owner, ask_id, lock=True)
        if ask.state in asks.UNSEEN:
            asks.mark_seen(ask, owner)
        db.session.commit()
    return ask


def answer_ask(ask: Ask, owner: User, action: str, via: str, reason: str | None = None) -> Ask:
    """The owner approves, declines (reason optional) or has no footage; commits.

    ``via`` says how: app, notification, sms or link. An answer the ask's state does
    not allow is a 409 illegal_transition.
    """
    if ask.owner_id != owner.id:
        raise not_found("Ask")
    ask = _answer(owner, ask.id, action, via, reason)
    db.session.commit()
    return ask


def _answer(owner: User, ask_id: int, action: str, via: str, reason: str | None) -> Ask:
    """The answer, under the ask's row lock; the caller commits."""
    if action not in asks.ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    ask = ask_for_owner(owner, ask_id, lock=True, with_request=True)
    request = ask.request
    expires_at = request.expires_at
    if request.status == RequestStatus.ACTIVE and expires_at is not None and expires_at <= utcnow():
        raise ApiError(409, "request_expired", lazy_gettext("This request has expired; it no longer needs an answer."))
    return asks.answer(ask, owner, action, via=via, reason=(reason or "").strip()[:500] or None)


def answer_own_ask(owner: User, ask_id: int, action: str, reason: str | None = None) -> dict[str, Any]:
    """An answer given in the app (the ask is looked up once, under its row lock); returns the
    ask as the inbox shows it (AskOut's document), in one joined row.

    The row is read in the answer's own transaction, after its UPDATE and before the
    commit: what the commit makes permanent, without the second transaction (a connection
    checked out and pinged again, a rollback) a read after the commit costs.
    """
    _answer(owner, ask_id, action, "app", reason)
    document = inbox.answered(owner.id, ask_id)
    db.session.commit()
    return document


# --- a notification's buttons ------------------------------------------------------------------

def ask_named_by(payload: dict) -> tuple[User, Ask]:
    """The owner and ask a signed link names (push action, e-mail page); 410 once either is gone."""
    owner = db.session.get(User, payload["owner"]) if fits_int(payload["owner"]) else None
    ask = db.session.get(Ask, payload["ask"]) if fits_int(payload["ask"]) else None
    if owner is None or ask is None or ask.owner_id != owner.id:
        raise ApiError(410, "gone", lazy_gettext("This request is no longer available."))
    if not owner.active:
        raise forbidden("This account is deactivated.")
    return owner, ask


def answer_with_token(token: str, via: str = "notification") -> Ask:
    """Perform a notification action link's answer (app/links.py signs them); answered_via "notification"
    (or "email" from an e-mail's answer page).

    Pressing the same button twice is harmless: an ask already in the action's state
    is returned as it is.
    """
    payload = links.read_action_token(token, asks.ACTIONS)
    if utcnow().timestamp() >= payload["exp"]:
        raise ApiError(410, "token_expired", lazy_gettext("This link has expired with its request: "
                                                          "no answer is needed now."))
    owner, ask = ask_named_by(payload)
    if ask.state == asks.ACTIONS[payload["action"]]:
        return ask
    if ask.request.status != RequestStatus.ACTIVE:
        raise ApiError(410, "request_closed",
                       f"This request was {status_words(ask.request)}: no answer is needed now.")
    return answer_ask(ask, owner, payload["action"], via)


# --- SMS replies ("YES 4821") ----------------------------------------------------------------

# The first word of a reply, as app/notifications/service.py parses it, and the answer it gives.
SMS_ANSWERS = {"YES": "approve", "Y": "approve", "APPROVE": "approve", "NO": "decline", "N": "decline",
               "DECLINE": "decline", "NONE": "no_footage", "NOFOOTAGE": "no_footage"}
# The word a reply is told to use for each answer.
SMS_WORDS = {"approve": "YES", "decline": "NO", "no_footage": "NONE"}

# What came of an SMS answer.
ANSWERED = "answered"  # the ask took the answer
REFUSED = "refused"  # the ask's state or its request refused it (``refusal`` says why)
CHOOSE = "choose"  # no code, several open asks: the owner must say which
UNKNOWN_CODE = "unknown_code"  # the code names none of the owner's open asks
NONE_OPEN = "none_open"  # the owner has no open ask


@dataclass(frozen=True)
class SmsAnswer:
    """What an SMS answer did; app/notifications/messages.py words the reply."""

    outcome: str
    action: str
    ask: Ask | None = None  # the ask answered or refused
    code: str | None = None  # the code the owner sent
    open_asks: tuple[Ask, ...] = ()  # the owner's open asks, newest first (to choose from)
    refusal: str | None = None


def answer_by_sms(owner: User, keyword: str, code: str | None) -> SmsAnswer:
    """Answer the owner's open ask that ``code`` names (or their only one).

    A reply that names no open ask, or that the ask's state refuses, changes nothing;
    the result says why, with the open asks to choose from.
    """
    action = SMS_ANSWERS[keyword]
    open_asks = tuple(open_asks_of(owner))
    if code is not None:
        ask = next((a for a in open_asks if a.reply_code == code), None)
        if ask is None:
            return SmsAnswer(UNKNOWN_CODE if open_asks else NONE_OPEN, action, code=code, open_asks=open_asks)
    elif len(open_asks) == 1:
        ask = open_asks[0]
    elif not open_asks:
        return SmsAnswer(NONE_OPEN, action)
    else:
        return SmsAnswer(CHOOSE, action, open_asks=open_asks)
    try:
        answer_ask(ask, owner, action, via="sms")
    except ApiError as exc:
        # Refused before anything changed (answered already, expired): the inbound row stays.
        return SmsAnswer(REFUSED, action, ask=ask, code=code, refusal=exc.message)
    return SmsAnswer(ANSWERED, action, ask=ask, code=code)
