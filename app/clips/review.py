"""Officers' review of delivered clips: the list of a request's clips, playback (HTTP Range), downloads.

Every access by agency staff is recorded (ClipAccess) and audited before a byte goes
out; the owner reads both (app/clips/history.py), and is told when the agency first opens
what they delivered for an ask. Officers never see who uploaded: the
officer views carry no owner, ask, camera label or file name. The working copy and the
poster (app/clips/processing.py) are read the same way, each access recorded with its
``variant``; the master is always there to download while the clip is kept.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import Range

from app.accounts.models import User
from app.audit import service as audit
from app.clips import sniff
from app.clips.models import Clip, ClipAccess, ClipDerivative, ClipStatus, DerivativeKind, MediaStatus
from app.clips.retention import active_holds
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, not_found
from app.extensions import db
from app.footage.requests import request_for_staff
from app.notifications import dispatcher
from app.notifications.models import NotificationKind
from app.storage import ObjectMissing, get_storage

# Range requests of one playback arrive by the dozen (every seek is one): within this
# window they belong to the access already recorded for that officer, clip and action.
ACCESS_WINDOW = timedelta(minutes=10)


VIEW, DOWNLOAD = "view", "download"
MASTER = "master"
VARIANTS = (MASTER, DerivativeKind.WORKING_COPY.value, DerivativeKind.POSTER.value)


# Shown in the officer's list: what has arrived or was delivered (aborted uploads never were).
STAFF_VISIBLE = (ClipStatus.UPLOADING, ClipStatus.COMPLETE, ClipStatus.PURGED)


def _working_copy_view(clip: Clip, copy: ClipDerivative) -> dict[str, Any]:
    return {"sha256": copy.sha256, "size": copy.size, "method": copy.method, "settings": copy.settings,
            "versions": copy.versions, "created_at": copy.created_at,
            "content_url": f"/api/clips/{clip.id}/working-copy",
            "download_url": f"/api/clips/{clip.id}/working-copy/download"}


def _with_hold_flags(clips: list[Clip]) -> list[Clip]:
    """The clips with what ClipOut shows beside their columns: the hold, the media job's
    findings, and the working copy and poster still kept (none once purged)."""
    held = active_holds(sorted({c.request_id for c in clips}))
    derivatives: dict[int, dict[DerivativeKind, ClipDerivative]] = {c.id: {} for c in clips}
    if clips:
        for row in db.session.scalars(sa.select(ClipDerivative).where(ClipDerivative.clip_id.in_(list(derivatives)),
                                                                      ClipDerivative.purged_at.is_(None))):
            derivatives[row.clip_id][row.kind] = row
    for clip in clips:
        clip.held = clip.request_id in held
        clip.media = {"status": clip.media_status.value if clip.media_status else None, "error": clip.media_error,
                      "attempts": clip.media_attempts or 0, "done_at": clip.media_done_at, "probe": clip.probe}
        kept = derivatives[clip.id] if clip.status == ClipStatus.COMPLETE and \
            clip.media_status == MediaStatus.READY else {}
        copy = kept.get(DerivativeKind.WORKING_COPY)
        clip.working_copy = _working_copy_view(clip, copy) if copy is not None else None
        clip.poster_url = f"/api/clips/{clip.id}/poster" if DerivativeKind.POSTER in kept else None
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


def clip_view(user: User, clip_id: int) -> Clip:
    """One clip for its agency's staff, as the request's list shows it."""
    return _with_hold_flags([clip_for_staff(user, clip_id)])[0]


def record_access(clip: Clip, user: User, action: str, byte_range: str | None = None,
                  source_ip: str | None = None, now: datetime | None = None, variant: str = MASTER,
                  sha256: str | None = None) -> ClipAccess | None:
    """Record and audit a view or download of one of the clip's files (``variant``); requests
    within ACCESS_WINDOW of the same one (same file) join it."""
    now = now or utcnow()
    recent = db.session.scalar(sa.select(ClipAccess.id).where(
        ClipAccess.clip_id == clip.id, ClipAccess.user_id == user.id, ClipAccess.action == action,
        ClipAccess.variant == variant, ClipAccess.created_at > now - ACCESS_WINDOW).limit(1))
    if recent is not None:
        return None
    if clip.owner_id is not None and not db.session.scalar(
            sa.select(sa.exists().where(ClipAccess.clip_id == Clip.id, Clip.ask_id == clip.ask_id))):
        # The first time the agency opens anything the owner delivered for this ask: the owner is told.
        dispatcher.record_fate([clip.ask_id], NotificationKind.CLIP_VIEWED)
    access = ClipAccess(clip_id=clip.id, user_id=user.id, action=action, variant=variant, byte_range=byte_range,
                        source_ip=source_ip, created_at=now)
    db.session.add(access)
    audit.record("clip.viewed" if action == VIEW else "clip.downloaded", target=clip, actor=user,
                 agency_id=clip.agency_id,
                 details={"request_id": clip.request_id, "variant": variant,
                          "sha256": sha256 if variant != MASTER else clip.sha256, "range": byte_range})
    return access


_DERIVED_TYPES = {DerivativeKind.WORKING_COPY.value: ("video/mp4", "working-copy.mp4"),
                  DerivativeKind.POSTER.value: ("image/jpeg", "poster.jpg")}


@dataclass
class ClipBody:
    """What a content or download response sends: the master, or one of its derivatives (``variant``)."""

    clip: Clip
    start: int
    end: int  # exclusive
    partial: bool
    chunks: Iterator[bytes]
    variant: str = MASTER
    size: int = 0
    sha256: str | None = None

    @property
    def media_type(self) -> str:
        if self.variant != MASTER:
            return _DERIVED_TYPES[self.variant][0]
        return sniff.MEDIA_TYPES.get(self.clip.container or "", "application/octet-stream")

    @property
    def served_inline(self) -> bool:
        # A recorder's ZIP bundle holds the vendor's player: never opened in the browser, always a file.
        return self.variant != MASTER or self.clip.container != "zip"

    @property
    def filename(self) -> str:
        # Made by the server: the uploader's own file name never reaches the agency.
        if self.variant != MASTER:
            return f"porchlight-clip-{self.clip.id}-{_DERIVED_TYPES[self.variant][1]}"
        return f"porchlight-clip-{self.clip.id}.{sniff.EXTENSIONS.get(self.clip.container or '', 'bin')}"

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


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


def _delivered_clip_for_staff(user: User, clip_id: int) -> Clip:
    """The clip, once delivered and not yet purged: the only state its files can be read in."""
    clip = clip_for_staff(user, clip_id)
    if clip.status == ClipStatus.PURGED:
        raise ApiError(410, "clip_purged", "This clip was deleted when the agency's retention ended.")
    if clip.status != ClipStatus.COMPLETE:
        raise ApiError(409, "clip_not_ready", "This clip is still uploading.")
    return clip


def open_clip(user: User, clip_id: int, action: str, byte_range: Range | None = None,
              if_range: str | None = None, source_ip: str | None = None) -> ClipBody:
    """Play (HTTP Range) or download a delivered clip; the access is recorded before a byte goes out."""
    clip = _delivered_clip_for_staff(user, clip_id)
    if if_range is not None and if_range != etag(clip):
        byte_range = None  # the representation changed (it cannot, but RFC 9110 says so): send it all
    span = _byte_range(byte_range, clip.size)
    start, end = span or (0, clip.size)
    chunks = _opened(clip.storage_key, start, end)
    with _closed_on_error(chunks):
        record_access(clip, user, action, f"{start}-{end - 1}" if span else None, source_ip)
        db.session.commit()
    return ClipBody(clip, start, end, span is not None, chunks, size=clip.size, sha256=clip.sha256)


def _opened(key: str, start: int, end: int):
    """The stored bytes, opened before the access is recorded: a store that does not answer
    gives a 503 and no record of an access that never happened."""
    try:
        return get_storage().read(key, start, end)
    except ObjectMissing:
        # A restore that brought back the database but not the bucket (or disk) to the same point.
        current_app.logger.error("clip storage has no object %s for a delivered file", key)
        raise ApiError(410, "clip_bytes_missing", "This file's bytes are missing from clip storage.") from None


@contextmanager
def _closed_on_error(chunks):
    try:
        yield
    except BaseException:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        raise


def _not_made(clip: Clip, kind: DerivativeKind) -> ApiError:
    noun = "working copy" if kind == DerivativeKind.WORKING_COPY else "poster frame"
    if clip.media_status == MediaStatus.FAILED:
        return ApiError(409, "media_failed", f"No playable copy could be made of this clip: {clip.media_error} "
                                             "The original file is still there to download.")
    if clip.media_status == MediaStatus.READY:
        return not_found(f"The clip's {noun}".capitalize())
    return ApiError(409, "media_not_ready", f"The {noun} of this clip is still being made; try again shortly.")


def open_derivative(user: User, clip_id: int, kind: DerivativeKind, action: str, byte_range: Range | None = None,
                    if_range: str | None = None, source_ip: str | None = None) -> ClipBody:
    """Play (HTTP Range) or download the clip's working copy, or view its poster; recorded like the master."""
    clip = _delivered_clip_for_staff(user, clip_id)
    derivative = db.session.scalar(sa.select(ClipDerivative).where(ClipDerivative.clip_id == clip.id,
                                                                   ClipDerivative.kind == kind))
    if derivative is None or clip.media_status != MediaStatus.READY:
        raise _not_made(clip, kind)
    if derivative.purged_at is not None:
        raise ApiError(410, "clip_purged", "This file was deleted when the agency's retention ended.")
    if if_range is not None and if_range != f'"{derivative.sha256}"':
        byte_range = None
    span = _byte_range(byte_range, derivative.size)
    start, end = span or (0, derivative.size)
    chunks = _opened(derivative.storage_key, start, end)
    with _closed_on_error(chunks):
        record_access(clip, user, action, f"{start}-{end - 1}" if span else None, source_ip, variant=kind.value,
                      sha256=derivative.sha256)
        db.session.commit()
    return ClipBody(clip, start, end, span is not None, chunks, variant=kind.value, size=derivative.size,
                    sha256=derivative.sha256)
