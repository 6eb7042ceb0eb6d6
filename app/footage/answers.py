"""Owners' answers to asks: in the app, from a notification's button, or by SMS.

Each way ends in :func:`answer_ask`: the ask is re-read under its row lock and moved
by the ask state machine (app/footage/asks.py), which refuses an answer its state does
not allow (409 illegal_transition). An answer records how it came (``via``: app,
notification, sms or link). The notifications package receives the SMS and hands its
reply words here (:func:`answer_by_sms`); it never decides an ask.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app import links
from app.accounts.models import User
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, forbidden, not_found
from app.extensions import db
from app.footage import asks
from app.footage.models import OPEN_ASK_STATES, Ask, FootageRequest, RequestStatus
from app.footage.requests import status_words
from app.sql import for_update


def ask_for_owner(owner: User, ask_id: int, *, lock: bool = False) -> Ask:
    """The owner's own ask; anyone else's is indistinguishable from a missing one."""
    if not fits_int(ask_id):
        raise not_found("Ask")
    criteria = (Ask.id == ask_id, Ask.owner_id == owner.id)
    query = sa.select(Ask).where(*criteria)
    if lock:
        query = for_update(query, Ask.__table__, *criteria)
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
    return _answer(owner, ask.id, action, via, reason)


def _answer(owner: User, ask_id: int, action: str, via: str, reason: str | None) -> Ask:
    if action not in asks.ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    ask = ask_for_owner(owner, ask_id, lock=True)
    request = ask.request
    expires_at = request.expires_at
    if request.status == RequestStatus.ACTIVE and expires_at is not None and expires_at <= utcnow():
        raise ApiError(409, "request_expired", "This request has expired; it no longer needs an answer.")
    asks.answer(ask, owner, action, via=via, reason=(reason or "").strip()[:500] or None)
    db.session.commit()
    return ask


def answer_own_ask(owner: User, ask_id: int, action: str, reason: str | None = None) -> Ask:
    """An answer given in the app (the ask is looked up once, under its row lock)."""
    return _answer(owner, ask_id, action, "app", reason)


# --- a notification's buttons ------------------------------------------------------------------

def answer_with_token(token: str) -> Ask:
    """Perform a notification action link's answer (app/links.py signs them); answered_via "notification".

    Pressing the same button twice is harmless: an ask already in the action's state
    is returned as it is.
    """
    payload = links.read_action_token(token, asks.ACTIONS)
    if utcnow().timestamp() >= payload["exp"]:
        raise ApiError(410, "token_expired", "This link has expired with its request: no answer is needed now.")
    owner = db.session.get(User, payload["owner"]) if fits_int(payload["owner"]) else None
    ask = db.session.get(Ask, payload["ask"]) if fits_int(payload["ask"]) else None
    if owner is None or ask is None or ask.owner_id != owner.id:
        raise ApiError(410, "gone", "This request is no longer available.")
    if not owner.active:
        raise forbidden("This account is deactivated.")
    if ask.state == asks.ACTIONS[payload["action"]]:
        return ask
    if ask.request.status != RequestStatus.ACTIVE:
        raise ApiError(410, "request_closed",
                       f"This request was {status_words(ask.request)}: no answer is needed now.")
    return answer_ask(ask, owner, payload["action"], "notification")


# --- SMS replies ("YES 4821") ----------------------------------------------------------------

# The first word of a reply, as app/notifications/service.py parses it, and the answer it gives.
SMS_ANSWERS = {"YES": "approve", "Y": "approve", "APPROVE": "approve", "NO": "decline", "N": "decline",
               "DECLINE": "decline", "NONE": "no_footage", "NOFOOTAGE": "no_footage"}


def _code_list(open_asks: list[Ask]) -> str:
    return ", ".join(f"{a.reply_code} ({a.camera_label})" for a in open_asks[:5])


def answer_by_sms(owner: User, keyword: str, code: str | None) -> str:
    """Answer the owner's open ask that ``code`` names (or their only one); the text to reply with.

    A reply that names no open ask, or that the ask's state refuses, changes nothing and
    says why.
    """
    action = SMS_ANSWERS[keyword]
    open_asks = open_asks_of(owner)
    if code is not None:
        ask = next((a for a in open_asks if a.reply_code == code), None)
        if ask is None:
            if not open_asks:
                return f"No open request has code {code}; you have no open requests."
            return f"No open request has code {code}. Your open requests: {_code_list(open_asks)}."
    elif len(open_asks) == 1:
        ask = open_asks[0]
    elif not open_asks:
        return "You have no open requests right now."
    else:
        return (f"You have {len(open_asks)} open requests: reply {keyword} <code> with one of "
                f"{_code_list(open_asks)}.")
    try:
        answer_ask(ask, owner, action, via="sms")
    except ApiError as exc:
        # Refused before anything changed (answered already, expired): the inbound row stays.
        return f"Request {ask.reply_code}: {exc.message}"
    if action == "approve":
        return f"Thank you. Upload your clip for request {ask.reply_code} here: {links.upload_link(ask)}"
    if action == "decline":
        return f"Thank you; you declined request {ask.reply_code}. Nothing is shared."
    return f"Thank you; noted that you have no footage for request {ask.reply_code}."
