"""Evidence holds and retention: clips are purged when the agency's retention ends, unless a hold covers them.

A clip's derivatives (its working copy and poster, app/clips/processing.py) go with
its master: their bytes are deleted and their rows marked purged in the same step,
and a hold that keeps the master keeps them.

The owners are told (app/notifications/dispatcher.record_fate, in the same transaction)
when a hold is placed on or released from a request their delivered clip belongs to, and
when their clip is purged: once per ask and kind, on the channels that reached them
about the ask; the scheduler's tick sends it.
"""
from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from app.accounts.models import User
from app.audit import service as audit
from app.clips.models import Clip, ClipDerivative, ClipStatus, EvidenceHold, MediaStatus
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, not_found
from app.extensions import db
from app.footage.models import FootageRequest
from app.footage.requests import request_for_staff
from app.notifications import dispatcher
from app.notifications.models import NotificationKind
from app.storage import StorageError, get_storage

log = logging.getLogger(__name__)


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


def _asks_delivered(request_id: int) -> list[int]:
    """The request's asks with a clip kept now: their owners are told of a hold placed or released."""
    return list(db.session.scalars(sa.select(Clip.ask_id).where(
        Clip.request_id == request_id, Clip.status == ClipStatus.COMPLETE, Clip.owner_id.is_not(None)).distinct()))


def place_hold(supervisor: User, request_id: int, reason: str) -> EvidenceHold:
    """Keep a request's clips past retention until released; the reason is required and audited."""
    request = request_for_staff(supervisor, request_id)
    hold = EvidenceHold(request_id=request.id, reason=reason, placed_by_id=supervisor.id, placed_at=utcnow())
    db.session.add(hold)
    db.session.flush()
    notices = dispatcher.record_fate(_asks_delivered(request.id), NotificationKind.HOLD_PLACED)
    audit.record("hold.placed", target=hold, agency_id=request.agency_id,
                 details={"request_id": request.id, "reason": reason, "owner_notices": len(notices)})
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
    notices = dispatcher.record_fate(_asks_delivered(hold.request_id), NotificationKind.HOLD_RELEASED)
    audit.record("hold.released", target=hold, agency_id=supervisor.agency_id,
                 details={"request_id": hold.request_id, "reason": reason, "owner_notices": len(notices)})
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
        # A copy not made yet never will be: no job may claim a purged clip (one at work
        # finds its claim gone and keeps nothing).
        db.session.execute(
            sa.update(Clip).where(Clip.id == clip.id,
                                  Clip.media_status.in_([MediaStatus.PENDING, MediaStatus.PROCESSING]))
            .values(media_status=None).execution_options(synchronize_session=False))
        derivatives = list(db.session.scalars(sa.select(ClipDerivative).where(
            ClipDerivative.clip_id == clip.id, ClipDerivative.purged_at.is_(None))))
        for derivative in derivatives:
            derivative.purged_at = now
        if clip.owner_id is not None:
            dispatcher.record_fate([clip.ask_id], NotificationKind.CLIP_PURGED)
        audit.record("clip.purged", target=clip, agency_id=clip.agency_id,
                     details={"request_id": clip.request_id, "sha256": clip.sha256, "retain_until":
                              clip.retain_until.isoformat() if clip.retain_until else None,
                              "derivatives": sorted(d.kind.value for d in derivatives)})
        # The bytes go before the rows say so: a store that refuses (an object store down) leaves
        # the clip as it was, to be purged at the next run, never marked purged with its bytes kept.
        try:
            for key in [clip.storage_key, *(d.storage_key for d in derivatives)]:
                storage.delete(key)
        except StorageError as error:
            db.session.rollback()
            log.error("clip %s: its bytes could not be deleted (purge retried at the next run): %s", clip.id, error)
            continue
        db.session.commit()
        purged += 1
    return purged
