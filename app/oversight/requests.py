"""What civilian oversight reads of its agency's footage requests: purpose, approvals, counts, holds, retention.

Oversight reads the record of how the agency used the program, never its product: no
clip, poster or working copy, no owner, camera or address, nothing per owner. Counts
of asks by state and of clips delivered are all they get of the answers, as officers.
The purpose fields (legal basis, offense category, the affirmation of the prohibited
purposes) are shown where the request model has them.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.clips.models import Clip, ClipStatus, EvidenceHold
from app.common.fields import fits_int
from app.errors import not_found
from app.extensions import db
from app.footage.models import FootageRequest, RequestStatus
from app.footage.requests import ask_counts
from app.oversight import audited
from app.oversight.models import Complaint
from app.sql import ID_CHUNK, chunks

# Read when the request model has them (issue 17's purpose and legal basis), else None.
PURPOSE_FIELDS = ("legal_basis", "warrant_number", "warrant_court", "exigent_reason", "offense_category",
                  "offense_category_label", "prohibited_purposes_affirmed", "affirmed_at")
_FIELDS = ("id", "status", "case_number", "incident_type", "summary", "latitude", "longitude", "radius_m",
           "window_start", "window_end", "exceeded_limits", "justification", "reviewed_at", "review_reason",
           "self_approved", "created_at", "activated_at", "expires_at", "closed_at")
DELIVERED = (ClipStatus.COMPLETE, ClipStatus.PURGED)


def _names(user_ids: set[int | None]) -> dict[int, str]:
    """Staff names by id (officers and supervisors are named to oversight; owners never reach here)."""
    ids = sorted(i for i in user_ids if i is not None)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(User.id, User.display_name, User.email).where(User.id.in_(ids)))
    return {uid: name or email or f"#{uid}" for uid, name, email in rows}


def _per_request(column, request_ids: list[int], *where) -> dict[int, int]:
    found: dict[int, int] = dict.fromkeys(request_ids, 0)
    for chunk in chunks(request_ids, ID_CHUNK):
        rows = db.session.execute(sa.select(column, sa.func.count()).where(column.in_(chunk), *where)
                                  .group_by(column))
        found.update({rid: n for rid, n in rows})
    return found


def _view(request: FootageRequest, counts: dict[str, int], names: dict[int, str], *, clips: int,
          complaints: int, held: bool) -> dict[str, Any]:
    view = {key: getattr(request, key) for key in _FIELDS}
    for key in PURPOSE_FIELDS:
        value = getattr(request, key, None)
        view[key] = getattr(value, "value", value)
    view.update(status=request.status.value, counts=counts, asks_total=sum(counts.values()), clips_delivered=clips,
                complaints=complaints, held=held,
                officer={"id": request.officer_id, "name": names.get(request.officer_id)}
                if request.officer_id else None,
                reviewed_by={"id": request.reviewed_by_id, "name": names.get(request.reviewed_by_id)}
                if request.reviewed_by_id else None)
    return view


def _views(found: list[FootageRequest]) -> list[dict[str, Any]]:
    ids = [r.id for r in found]
    counts = ask_counts(ids)
    clips = _per_request(Clip.request_id, ids, Clip.status.in_(DELIVERED))
    complaints = _per_request(Complaint.request_id, ids)
    held = _per_request(EvidenceHold.request_id, ids, EvidenceHold.released_at.is_(None))
    names = _names({r.officer_id for r in found} | {r.reviewed_by_id for r in found})
    return [_view(r, counts[r.id], names, clips=clips[r.id], complaints=complaints[r.id], held=held[r.id] > 0)
            for r in found]


def list_requests(user: User, *, status: str | None = None, before_id: int | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The agency's requests newest first, a page at a time; the view is audited."""
    audited.viewed(user, "requests", status=status, before_id=before_id, limit=limit)
    query = sa.select(FootageRequest).where(FootageRequest.agency_id == user.agency_id)
    if status is not None:
        query = query.where(FootageRequest.status == RequestStatus(status))
    if before_id is not None:
        query = query.where(FootageRequest.id < before_id)
    return _views(list(db.session.scalars(query.order_by(FootageRequest.id.desc()).limit(limit))))


def request_for_oversight(user: User, request_id: int) -> FootageRequest:
    """A request of the account's agency; another agency's is answered as a missing one."""
    request = None
    if fits_int(request_id) and user.agency_id is not None:
        request = db.session.scalar(sa.select(FootageRequest).where(
            FootageRequest.id == request_id, FootageRequest.agency_id == user.agency_id))
    if request is None:
        raise not_found("Request")
    return request


def _holds(request_id: int) -> list[dict[str, Any]]:
    holds = list(db.session.scalars(sa.select(EvidenceHold).where(EvidenceHold.request_id == request_id)
                                    .order_by(EvidenceHold.id)))
    names = _names({h.placed_by_id for h in holds} | {h.released_by_id for h in holds})
    return [{"id": h.id, "reason": h.reason, "placed_at": h.placed_at, "placed_by": names.get(h.placed_by_id),
             "released_at": h.released_at, "released_by": names.get(h.released_by_id),
             "release_reason": h.release_reason, "active": h.released_at is None} for h in holds]


def _retention(request_id: int) -> dict[str, Any]:
    """When the delivered clips are due to go and when they went: dates and counts, no clip named."""
    rows = db.session.execute(sa.select(Clip.status, Clip.retain_until, Clip.purged_at).where(
        Clip.request_id == request_id, Clip.status.in_(DELIVERED)).order_by(Clip.purged_at, Clip.retain_until))
    kept, purges = [], []
    for status, retain_until, purged_at in rows:
        if status == ClipStatus.PURGED:
            purges.append({"purged_at": purged_at, "retain_until": retain_until})
        else:
            kept.append(retain_until)
    due = [when for when in kept if when is not None]
    return {"clips_kept": len(kept), "clips_purged": len(purges), "next_due": min(due) if due else None,
            "purges": purges}


def request_detail(user: User, request_id: int) -> dict[str, Any]:
    """One request with its approvals, counts, holds, retention events and complaints; audited."""
    request = request_for_oversight(user, request_id)
    audited.viewed(user, "request", request_id=request.id)
    view = _views([request])[0]
    complaints = list(db.session.scalars(sa.select(Complaint).where(Complaint.request_id == request.id)
                                         .order_by(Complaint.received_on, Complaint.id)))
    view.update(holds=_holds(request.id), retention=_retention(request.id), complaint_log=complaints)
    return view
