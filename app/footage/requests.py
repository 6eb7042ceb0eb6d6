"""The request state machine, and what staff read of requests.

    pending_approval ──approve──▶ active ──▶ expired | cancelled
           └──▶ rejected | cancelled | expired (a lifetime unapproved)

A request's status changes only through :func:`become`, checked against TRANSITIONS
(an illegal change is a 409, as for asks); the lifecycle (app/footage/lifecycle.py)
decides when. Staff read requests with counts per ask state: nothing here gives
them an owner's identity or which camera answered what.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, not_found
from app.extensions import db
from app.footage.filters import state_shown
from app.footage.models import Ask, AskState, FootageRequest, RequestStatus
from app.footage.policy import staff_agency_id
from app.sql import ID_CHUNK, chunks, for_update

R = RequestStatus
TRANSITIONS: dict[RequestStatus, set[RequestStatus]] = {
    R.PENDING_APPROVAL: {R.ACTIVE, R.REJECTED, R.CANCELLED, R.EXPIRED},
    R.ACTIVE: {R.CANCELLED, R.EXPIRED},
    R.REJECTED: set(),
    R.CANCELLED: set(),
    R.EXPIRED: set(),
}


def status_words(request: FootageRequest) -> str:
    return request.status.value.replace("_", " ")


def can_become(request: FootageRequest, to: RequestStatus) -> bool:
    return to in TRANSITIONS[request.status]


def states_leading_to(to: RequestStatus) -> list[RequestStatus]:
    """The statuses from which a request can become ``to`` (e.g. every one expiry closes)."""
    return [status for status, targets in TRANSITIONS.items() if to in targets]


def become(request: FootageRequest, to: RequestStatus, now: datetime) -> None:
    """Move ``request`` to ``to`` and stamp when (activated, or closed); 409 if its status does not allow it.

    Callers lock the request first (:func:`request_for_staff` with ``lock``) and commit.
    """
    if not can_become(request, to):
        raise ApiError(409, "illegal_transition",
                       f"This request is {status_words(request)}; it cannot become {to.value.replace('_', ' ')}.")
    request.status = to
    if to == R.ACTIVE:
        request.activated_at = now
    else:
        request.closed_at = now


def approved_over_limit() -> sa.ColumnElement[bool]:
    """SQL: a supervisor let this request through over the agency's limits (an override).

    Only an approval sets ``reviewed_at`` on a request that is not rejected.
    """
    return sa.and_(FootageRequest.reviewed_at.is_not(None), FootageRequest.status != R.REJECTED)


# --- what staff read ------------------------------------------------------------------------

def request_for_staff(user: User, request_id: int, *, lock: bool = False) -> FootageRequest:
    """A request of the user's agency; another agency's is indistinguishable from a missing one."""
    if not fits_int(request_id) or user.agency_id is None:
        raise not_found("Request")
    criteria = (FootageRequest.id == request_id, FootageRequest.agency_id == user.agency_id)
    query = sa.select(FootageRequest).where(*criteria)
    if lock:
        query = for_update(query, FootageRequest.__table__, *criteria)
    request = db.session.scalar(query)
    if request is None:
        raise not_found("Request")
    return request


def ask_counts(request_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per request: how many asks are in each state (every state named, zeros included)."""
    counts = {rid: dict.fromkeys((s.value for s in AskState), 0) for rid in request_ids}
    now = utcnow()
    for chunk in chunks(request_ids, ID_CHUNK):
        # Grouped over a subquery: PostgreSQL would not see the CASE's two bound copies of ``now`` as one.
        asks = sa.select(Ask.request_id, state_shown(now)).where(Ask.request_id.in_(chunk)).subquery()
        rows = db.session.execute(sa.select(asks.c.request_id, asks.c.state, sa.func.count())
                                  .group_by(asks.c.request_id, asks.c.state))
        for request_id, state, count in rows:
            counts[request_id][state] += count
    return counts


_VIEW_FIELDS = ("id", "agency_id", "officer_id", "case_number", "incident_type", "summary", "latitude",
                "longitude", "radius_m", "window_start", "window_end", "exceeded_limits", "justification",
                "reviewed_by_id", "reviewed_at", "review_reason", "self_approved", "created_at", "activated_at",
                "expires_at", "closed_at", "re_ask_cameras", "warrant_number", "warrant_court", "exigent_reason",
                "offense_category", "offense_category_label", "prohibited_purposes_affirmed", "affirmed_at")


def _view(request: FootageRequest, counts: dict[str, int]) -> dict[str, Any]:
    return {**{key: getattr(request, key) for key in _VIEW_FIELDS}, "status": request.status.value,
            "legal_basis": request.legal_basis.value, "counts": counts, "asks_total": sum(counts.values())}


def request_view(request: FootageRequest) -> dict[str, Any]:
    """What staff see of a request: its fields and counts per ask state, never who."""
    return _view(request, ask_counts([request.id])[request.id])


def new_request_view(request: FootageRequest, counts: dict[AskState, int]) -> dict[str, Any]:
    """:func:`request_view` of a request whose asks this transaction has just made, ``counts`` of them by
    state as staff see them (none: it asks nobody yet), from what the transaction wrote: nothing read back."""
    shown = dict.fromkeys((s.value for s in AskState), 0)
    shown.update((state.value, n) for state, n in counts.items())
    return _view(request, shown)


def get_request(user: User, request_id: int) -> dict[str, Any]:
    return request_view(request_for_staff(user, request_id))


def list_requests(user: User, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The agency's requests, newest first; ``status="pending_approval"`` is the approval queue."""
    query = (sa.select(FootageRequest).where(FootageRequest.agency_id == staff_agency_id(user))
             .order_by(FootageRequest.id.desc()).limit(limit))
    if status is not None:
        query = query.where(FootageRequest.status == RequestStatus(status))
    found = list(db.session.scalars(query))
    counts = ask_counts([r.id for r in found])
    return [_view(r, counts[r.id]) for r in found]
