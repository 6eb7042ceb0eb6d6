"""Evidence holds and retention: clips are purged when the agency's retention ends, unless a hold covers them."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.accounts.models import User
from app.audit import service as audit
from app.clips.models import Clip, ClipStatus, EvidenceHold
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, not_found
from app.extensions import db
from app.footage.models import FootageRequest
from app.footage.requests import request_for_staff
from app.storage import get_storage


def active_holds(request_ids: list[int]) -> set[int]:
    """Which of these requests a hold not yet released covers."""
    if not request_ids:
        return set()
    return set(db.session.scalars(sa.select(EvidenceHold.request_id).where(
        EvidenceHold.request_id.in_(request_ids), EvidenceHold.released_at.is_(None))))


def holds_for_request(user: User, request_id: int) -> list[EvidenceHold]:
    request = request_for_staff(user, request_id)
    return list(db.session.scalars(sa.select(EvidenceHold).where(EvidenceHold.request_id == request.id)
                                   .order_by(EvidenceHold.id)))


def place_hold(supervisor: User, request_id: int, reason: str) -> EvidenceHold:
    """Keep a request's clips past retention until released; the reason is required and audited."""
    request = request_for_staff(supervisor, request_id)
    hold = EvidenceHold(request_id=request.id, reason=reason, placed_by_id=supervisor.id, placed_at=utcnow())
    db.session.add(hold)
    db.session.flush()
    audit.record("hold.placed", target=hold, agency_id=request.agency_id,
                 details={"request_id": request.id, "reason": reason})
    db.session.commit()
    return hold


def hold_for_staff(user: User, hold_id: int) -> EvidenceHold:
    if not fits_int(hold_id) or user.agency_id is None:
        raise not_found("Hold")
    hold = db.session.scalar(sa.select(EvidenceHold).join(FootageRequest, FootageRequest.id == EvidenceHold.request_id)
                             .where(EvidenceHold.id == hold_id, FootageRequest.agency_id == user.agency_id))
    if hold is None:
        raise not_found("Hold")
    return hold


def release_hold(supervisor: User, hold_id: int, reason: str) -> EvidenceHold:
    """End a hold: its request's clips past retention are purged at the next run."""
    hold = hold_for_staff(supervisor, hold_id)
    if hold.released_at is not None:
        raise ApiError(409, "hold_released", "This hold was already released.")
    hold.released_at = utcnow()
    hold.released_by_id = supervisor.id
    hold.release_reason = reason
    audit.record("hold.released", target=hold, agency_id=supervisor.agency_id,
                 details={"request_id": hold.request_id, "reason": reason})
    db.session.commit()
    return hold


def _purgeable(now: datetime) -> sa.ColumnElement[bool]:
    held = sa.exists().where(EvidenceHold.request_id == Clip.request_id, EvidenceHold.released_at.is_(None))
    return sa.and_(Clip.status == ClipStatus.COMPLETE, Clip.retain_until <= now, ~held)


def purge_expired_clips(now: datetime | None = None) -> int:
    """Delete the bytes of clips past ``retain_until`` unless a hold covers their request. Returns the count."""
    now = now or utcnow()
    due = list(db.session.scalars(sa.select(Clip).where(_purgeable(now)).order_by(Clip.id)))
    storage = get_storage()
    purged = 0
    for clip in due:
        changed = db.session.execute(
            sa.update(Clip).where(Clip.id == clip.id, _purgeable(now))
            .values(status=ClipStatus.PURGED, purged_at=now, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if not changed:  # a hold arrived, or another scheduler was first
            db.session.rollback()
            continue
        audit.record("clip.purged", target=clip, agency_id=clip.agency_id,
                     details={"request_id": clip.request_id, "sha256": clip.sha256, "retain_until":
                              clip.retain_until.isoformat() if clip.retain_until else None})
        db.session.commit()
        storage.delete(clip.storage_key)
        purged += 1
    return purged
