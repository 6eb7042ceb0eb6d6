"""An ask read and answered from the page its e-mail links to (``/m/<token>``).

The page's link is a signed action token (app/links.py) for "view" or for one answer;
reading it changes nothing, because mail scanners open every link of a message before
the owner does (not even "seen": a scanner is not the owner). Only a POST of an answer's
token answers, through :func:`app.footage.answers.answer_with_token` like a push
notification's button, recorded as answered by "email" and audited the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from app import links
from app.accounts.models import User
from app.db import utcnow
from app.extensions import db
from app.footage import answers, asks
from app.footage.models import OPEN_ASK_STATES, Ask, RequestStatus

VIA = "email"

# Where the ask stands, as the page says it.
OPEN = "open"            # waiting for the owner's answer
ANSWERED = "answered"    # the owner answered (the page says how, and what next)
EXPIRED = "expired"      # the request ran out of time first
WITHDRAWN = "withdrawn"  # the agency withdrew the request (or it ended otherwise)


@dataclass(frozen=True)
class AskPage:
    ask: Ask
    owner: User
    chosen: str | None  # the answer the link was for; None for the page's own link
    standing: str


def standing(ask: Ask) -> str:
    request = ask.request
    if ask.state in OPEN_ASK_STATES:
        if request.status != RequestStatus.ACTIVE:
            return EXPIRED if request.status == RequestStatus.EXPIRED else WITHDRAWN
        if request.expires_at is not None and request.expires_at <= utcnow():
            return EXPIRED
        return OPEN
    if ask.state in asks.ACTIONS.values() or ask.state in asks.APPROVED_STATES:
        return ANSWERED
    return EXPIRED if ask.state == asks.S.EXPIRED else WITHDRAWN


def read_page(token: str) -> AskPage:
    """The ask a page link names, read only; 403 for an altered link, 410 for an ask that is gone."""
    payload = links.read_action_token(token, {*asks.ACTIONS, links.VIEW_ACTION})
    owner, ask = answers.ask_named_by(payload)
    chosen = payload["action"] if payload["action"] in asks.ACTIONS else None
    return AskPage(ask, owner, chosen, standing(ask))


def answer_from_page(token: str) -> AskPage:
    """The owner pressed an answer's button on the page: answer as the token says (commits)."""
    ask = answers.answer_with_token(token, via=VIA)
    return AskPage(ask, db.session.get(User, ask.owner_id), None, standing(ask))
