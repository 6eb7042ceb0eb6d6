"""Officers' review of delivered clips: the list of a request's clips, playback (HTTP Range), downloads.

Every access by agency staff is recorded (ClipAccess) and audited before a byte goes
out; the owner reads both (app/clips/history.py). Officers never see who uploaded: the
officer views carry no owner, ask, camera label or file name.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from werkzeug.datastructures import Range

from app.accounts.models import User
from app.audit import service as audit
from app.clips import sniff
from app.clips.models import Clip, ClipAccess, ClipStatus
from app.clips.retention import active_holds
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, not_found
from app.extensions import db
from app.footage.requests import request_for_staff
from app.storage import get_storage

# Range requests of one playback arrive by the dozen (every seek is one): within this
# window they belong to the access already recorded for that officer, clip and action.
ACCESS_WINDOW = timedelta(minutes=10)


VIEW, DOWNLOAD = "view", "download"


# Shown in the officer's list: what has arrived or was delivered (aborted uploads never were).
STAFF_VISIBLE = (ClipStatus.UPLOADING, ClipStatus.COMPLETE, ClipStatus.PURGED)


def _with_hold_flags(clips: list[Clip]) -> list[Clip]:
    held = active_holds(sorted({c.request_id for c in clips}))
    for clip in clips:
        clip.held = clip.request_id in held
    return clips


def clips_for_request(user: User, request_id: int) -> list[Clip]:
    """A request's clips for its agency's staff: arrived and arriving, never who sent them."""
    request = request_for_staff(user, request_id)
    clips = list(db.session.scalars(sa.select(Clip).where(Clip.request_id == request.id,
                                                          Clip.status.in_(STAFF_VISIBLE)).order_by(Clip.id)))
    return _with_hold_flags(clips)


def clip_for_staff(user: User, clip_id: int) -> Clip:
    """A clip of the user's agency; another agency's is indistinguishable from a missing one."""
    if not fits_int(clip_id) or user.agency_id is None:
        raise not_found("Clip")
    clip = db.session.scalar(sa.select(Clip).where(Clip.id == clip_id, Clip.agency_id == user.agency_id,
                                                   Clip.status.in_(STAFF_VISIBLE)))
    if clip is None:
        raise not_found("Clip")
    return clip


def record_access(clip: Clip, user: User, action: str, byte_range: str | None = None,
                  source_ip: str | None = None, now: datetime | None = None) -> ClipAccess | None:
    """Record and audit a view or download; requests within ACCESS_WINDOW of the same one join it."""
    now = now or utcnow()
    recent = db.session.scalar(sa.select(ClipAccess.id).where(
        ClipAccess.clip_id == clip.id, ClipAccess.user_id == user.id, ClipAccess.action == action,
        ClipAccess.created_at > now - ACCESS_WINDOW).limit(1))
    if recent is not None:
        return None
    access = ClipAccess(clip_id=clip.id, user_id=user.id, action=action, byte_range=byte_range,
                        source_ip=source_ip, created_at=now)
    db.session.add(access)
    audit.record("clip.viewed" if action == VIEW else "clip.downloaded", target=clip, actor=user,
                 agency_id=clip.agency_id,
                 details={"request_id": clip.request_id, "sha256": clip.sha256, "range": byte_range})
    return access


@dataclass
class ClipBody:
    """What a content or download response sends."""

    clip: Clip
    start: int
    end: int  # exclusive
    partial: bool
    chunks: Iterator[bytes]

    @property
    def media_type(self) -> str:
        return sniff.MEDIA_TYPES.get(self.clip.container or "", "application/octet-stream")

    @property
    def filename(self) -> str:
        # Made by the server: the uploader's own file name never reaches the agency.
        return f"porchlight-clip-{self.clip.id}.{sniff.EXTENSIONS.get(self.clip.container or '', 'bin')}"


def etag(clip: Clip) -> str:
    return f'"{clip.sha256}"'


def _byte_range(byte_range: Range | None, size: int) -> tuple[int, int] | None:
    """The one satisfiable range asked for, None to send everything; 416 when it cannot be satisfied."""
    if byte_range is None or byte_range.units != "bytes" or len(byte_range.ranges) != 1:
        # Several ranges at once are answered in full, as RFC 9110 allows; players never ask for them.
        return None
    span = byte_range.range_for_length(size)
    if span is None:
        raise ApiError(416, "range_not_satisfiable", f"This clip has {size} bytes; the range asked for lies outside.",
                       headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
    return span


def open_clip(user: User, clip_id: int, action: str, byte_range: Range | None = None,
              if_range: str | None = None, source_ip: str | None = None) -> ClipBody:
    """Play (HTTP Range) or download a delivered clip; the access is recorded before a byte goes out."""
    clip = clip_for_staff(user, clip_id)
    if clip.status == ClipStatus.PURGED:
        raise ApiError(410, "clip_purged", "This clip was deleted when the agency's retention ended.")
    if clip.status != ClipStatus.COMPLETE:
        raise ApiError(409, "clip_not_ready", "This clip is still uploading.")
    if if_range is not None and if_range != etag(clip):
        byte_range = None  # the representation changed (it cannot, but RFC 9110 says so): send it all
    span = _byte_range(byte_range, clip.size)
    start, end = span or (0, clip.size)
    record_access(clip, user, action, f"{start}-{end - 1}" if span else None, source_ip)
    db.session.commit()
    return ClipBody(clip, start, end, span is not None, get_storage().read(clip.storage_key, start, end))
