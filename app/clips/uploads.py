"""Clip uploads: resumable uploads (tus) of an approved ask's clips, by its owner or an upload link.

The upload state machine lives here (the tus wire format is in :mod:`app.clips.tus`):

    POST      create_upload    a Clip row (status uploading) and an empty storage object;
                               the ask's first clip moves it approved → uploading
    PATCH     receive_chunk    bytes at the committed offset, streamed to storage; the
                               row's offset moves only once they are all written (and
                               match Upload-Checksum), with the running SHA-256 of the
                               bytes so far (app.clips.digest); the last byte completes
                               the clip with its SHA-256 and delivers the ask; the
                               media job makes its working copy (app/clips/processing.py)
    DELETE    terminate_upload the uploader gives up: bytes deleted, status aborted
    jobs      clean_abandoned_uploads (app/jobs.py)

Everything an upload needs is in its row and its storage object, so any app process
can take the next PATCH. One writer at a time holds the storage object; the row's
offset changes only by a compare-and-set on the offset that writer started from.

An owner who answered by SMS has no session on their phone: the upload link's token
(app/links.py) is the authority for that one ask, here and on the upload page.
"""
from __future__ import annotations

import hashlib
import re
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import ClientDisconnected

from app import links
from app.accounts.models import Role, User
from app.agencies.models import Agency
from app.audit import service as audit
from app.cameras import recorder_clock
from app.cameras.models import Camera
from app.cameras.service import remember_recorder_offset
from app.clips import bundles, digest, processing, sniff, tus
from app.clips.history import owner_clips_of_ask
from app.clips.models import Clip, ClipDerivative, ClipStatus, MediaStatus
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, forbidden, not_found
from app.extensions import db
from app.footage import asks
from app.footage.answers import ask_for_owner
from app.footage.models import OPEN_ASK_STATES, AgencyPolicy, Ask, FootageRequest, RequestStatus
from app.footage.policy import current_policy, policy_for
from app.storage import ObjectMissing, StorageBusy, StorageError, StorageUnavailable, get_storage, new_key
from app.storage.base import CHUNK_SIZE

VIA_APP, VIA_LINK = "app", "link"
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Uploader:
    """An upload's authority: the ask, its owner, and how they came (session or link)."""

    ask: Ask
    owner_id: int | None
    via: str
    token: str | None = None

    @property
    def owner(self) -> User | None:
        # Loaded only when an event is audited: most PATCHes never need it.
        return db.session.get(User, self.owner_id) if self.owner_id is not None else None


def _session_owner(user: Any) -> User:
    if user is None or not getattr(user, "is_authenticated", False):
        raise ApiError(401, "unauthenticated", lazy_gettext("Sign in, or use the upload link from your message."))
    if user.role != Role.OWNER:
        raise forbidden("Only the camera's owner uploads clips.")
    return user


def ask_for_link(token: str, now: datetime | None = None) -> Ask:
    """The ask an upload link names, or 404 (forged, altered, or not this owner's) / 410 (expired)."""
    ask_id, owner_id, expires_at = links.read_upload_token(token)
    ask = db.session.get(Ask, ask_id, options=[joinedload(Ask.request)]) if fits_int(ask_id) else None
    # A camera that changed hands, or an account deleted since, ends the link.
    if ask is None or ask.owner_id != owner_id:
        raise links.invalid_upload_link()
    now = now or utcnow()
    live_expiry = ask.request.expires_at
    if (expires_at is not None and expires_at <= now) or (live_expiry and live_expiry <= now):
        raise ApiError(410, "link_expired", lazy_gettext("This upload link has expired with the footage request."))
    return ask


def uploader_for(user: Any, token: str | None, ask_id: str | None) -> Uploader:
    """Who is creating an upload for which ask: a link token, or the owner's session and ``ask_id``."""
    if token:
        ask = ask_for_link(token)
        if ask_id not in (None, "") and ask_id != str(ask.id):
            raise not_found("Ask")
        return Uploader(ask, ask.owner_id, VIA_LINK, token)
    owner = _session_owner(user)
    if not ask_id or not ask_id.isascii() or not ask_id.isdigit():
        raise ApiError(400, "validation_error", lazy_gettext("Upload-Metadata: give the ask_id the clip is for."),
                       fields={"Upload-Metadata": ["ask_id: required, the id of your approved ask."]})
    return Uploader(ask_for_owner(owner, int(ask_id)), owner.id, VIA_APP)


def upload_for(user: Any, token: str | None, upload_id: str) -> tuple[Clip, Uploader]:
    """The upload behind a tus URL, for its own owner (session) or its ask's link; 404 for anyone else."""
    if token:
        ask = ask_for_link(token)
        owner_id, condition, via = ask.owner_id, Clip.ask_id == ask.id, VIA_LINK
    else:
        owner_id = _session_owner(user).id
        condition, via = Clip.owner_id == owner_id, VIA_APP
    clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == upload_id, condition)) \
        if UPLOAD_ID.fullmatch(upload_id) else None
    if clip is None:
        raise not_found("Upload")
    ask = db.session.get(Ask, clip.ask_id, options=[joinedload(Ask.request)])
    return clip, Uploader(ask, owner_id, via, token)


def allowed_containers() -> list[str]:
    return sniff.allowed_containers(current_app.config["ALLOWED_VIDEO_CONTAINERS"])


def _ask_closed_reason(ask: Ask, now: datetime) -> str | None:
    request = ask.request
    if request.status != RequestStatus.ACTIVE or (request.expires_at and request.expires_at <= now):
        return "This footage request is closed; it takes no more clips."
    if ask.state not in asks.APPROVED_STATES:
        if ask.state in OPEN_ASK_STATES:
            return "Approve the request before uploading."
        return f"This ask is {ask.state.value.replace('_', ' ')}; it takes no clips."
    return None


def check_uploadable(ask: Ask, now: datetime | None = None) -> None:
    """409 unless the ask is approved (or already uploading/delivered) and its request still active."""
    reason = _ask_closed_reason(ask, now or utcnow())
    if reason:
        raise ApiError(409, "ask_not_uploadable", reason)


def _upload_expiry(request: FootageRequest, now: datetime) -> datetime:
    """An idle upload is abandoned after UPLOAD_EXPIRY_HOURS, and never outlives its request."""
    expiry = now + timedelta(hours=current_app.config["UPLOAD_EXPIRY_HOURS"])
    return min(expiry, request.expires_at) if request.expires_at else expiry


def _clean_filename(name: str | None) -> str | None:
    # Shown to the owner only and never used as a path: just printable and short.
    if not name:
        return None
    text = "".join(ch for ch in name if ch.isprintable()).strip()
    return text[:255] or None


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")
# A browser's File.lastModified is the file system's; a phone whose clock is far out may
# stamp files ahead of ours, so only a time beyond any such mistake is refused.
FILE_TIME_AHEAD = timedelta(days=366)


def _bad_metadata(key: str, problem: str) -> ApiError:
    return ApiError(400, "validation_error", f"Upload-Metadata: {key}: {problem}",
                    fields={"Upload-Metadata": [f"{key}: {problem}"]})


def _whole_number(key: str, text: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(text):
        raise _bad_metadata(key, "Must be a whole number.")
    return int(text)


def recorder_offset_from(text: str | None) -> int | None:
    """The ``recorder_offset`` metadata: the recorder's clock minus the true time, in seconds."""
    if text is None or text == "":
        return None
    offset = _whole_number("recorder_offset", text.strip())
    problem = recorder_clock.offset_problem(offset)
    if problem:
        raise _bad_metadata("recorder_offset", problem)
    return offset


def file_modified_from(text: str | None, now: datetime) -> datetime | None:
    """The ``last_modified`` metadata: File.lastModified, milliseconds since 1970 (UTC)."""
    if text is None or text == "":
        return None
    millis = _whole_number("last_modified", text.strip())
    latest = now + FILE_TIME_AHEAD
    if millis < 0 or millis > latest.timestamp() * 1000:
        raise _bad_metadata("last_modified", "Must be milliseconds since 1970-01-01 UTC, not in the far future.")
    return recorder_clock.from_epoch_ms(millis)


def _remember_on_camera(ask: Ask, offset_s: int, clip: Clip, actor: User | None) -> None:
    # The ask names the camera; a camera deleted (or moved to another owner) since keeps nothing.
    camera = db.session.get(Camera, ask.camera_id) if ask.camera_id is not None else None
    if camera is not None and camera.owner_id == ask.owner_id:
        remember_recorder_offset(camera, offset_s, actor=actor, clip_id=clip.id)


def _counted_clips(ask_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(Clip.id))
                             .where(Clip.ask_id == ask_id, Clip.status != ClipStatus.ABORTED)) or 0


def create_upload(uploader: Uploader, *, length: int, filename: str | None = None,
                  recorder_offset_s: int | None = None, file_modified_at: datetime | None = None,
                  now: datetime | None = None) -> Clip:
    """tus creation: check the ask, the size and the clip count, then make the row and an empty object.

    ``recorder_offset_s`` (the owner read their recorder's clock) is kept with the clip and
    becomes the camera's; ``file_modified_at`` is what the browser reported of the file.
    """
    now = now or utcnow()
    ask = db.session.scalar(sa.select(Ask).where(Ask.id == uploader.ask.id).with_for_update()
                            .execution_options(populate_existing=True))
    check_uploadable(ask, now)
    policy = policy_for(ask.request.agency_id)
    if length > policy.max_clip_bytes:
        raise ApiError(413, "clip_too_large",
                       f"A clip may be at most {policy.max_clip_bytes} bytes; this one is {length}.",
                       headers={"Tus-Max-Size": str(policy.max_clip_bytes)})
    if length == 0:
        raise ApiError(400, "empty_upload", lazy_gettext("Upload-Length: an empty file is not a video."),
                       fields={"Upload-Length": ["Must be more than 0."]})
    if _counted_clips(ask.id) >= policy.max_clips_per_ask:
        raise ApiError(403, "clip_limit_reached",
                       f"This ask already has {policy.max_clips_per_ask} clips, the agency's maximum.")
    storage = get_storage()
    clip = Clip(upload_id=new_key(), ask_id=ask.id, request_id=ask.request_id, agency_id=ask.request.agency_id,
                owner_id=ask.owner_id, status=ClipStatus.UPLOADING, filename=_clean_filename(filename),
                size=length, upload_offset=0, storage_key=new_key(), created_at=now, updated_at=now,
                upload_expires_at=_upload_expiry(ask.request, now), recorder_offset_s=recorder_offset_s,
                file_modified_at=file_modified_at)
    db.session.add(clip)
    db.session.flush()
    owner = uploader.owner
    asks.start_upload(ask, owner)
    details = {"ask_id": ask.id, "request_id": ask.request_id, "size": length, "via": uploader.via}
    if recorder_offset_s is not None:
        details["recorder_offset_s"] = recorder_offset_s
    audit.record("clip.upload_started", target=clip, actor=owner, agency_id=clip.agency_id, details=details)
    if recorder_offset_s is not None:
        _remember_on_camera(ask, recorder_offset_s, clip, owner)
    try:
        storage.create(clip.storage_key)
    except StorageError:
        db.session.rollback()  # no row without its object: a store that refuses gets a 503, nothing kept
        raise
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        _delete_bytes(clip.storage_key)
        raise
    return clip


def _gone(code: str, message: str) -> ApiError:
    return ApiError(410, code, message)


def check_live(clip: Clip, ask: Ask, now: datetime | None = None) -> None:
    """410 for an upload that can take no more requests: ended, expired, or its ask closed."""
    now = now or utcnow()
    if clip.status == ClipStatus.ABORTED:
        raise _gone("upload_gone", "This upload was ended; start a new one.")
    if clip.status == ClipStatus.PURGED:
        raise _gone("clip_purged", "This clip was deleted when the agency's retention ended.")
    if clip.status == ClipStatus.UPLOADING:
        if clip.upload_expires_at and clip.upload_expires_at <= now:
            raise _gone("upload_expired", "This upload expired unfinished; start a new one.")
        reason = _ask_closed_reason(ask, now)
        if reason:
            raise _gone("ask_closed", reason)


def _offset_mismatch(expected: int) -> ApiError:
    return ApiError(409, "offset_mismatch", f"Upload-Offset must be {expected}, where this upload stands.",
                    headers={"Upload-Offset": str(expected)})


def _read_upto(stream: IO[bytes], count: int) -> bytes:
    parts, have = [], 0
    while have < count:
        data = stream.read(count - have)
        if not data:
            break
        parts.append(data)
        have += len(data)
    return b"".join(parts)


def _sniff(clip: Clip, stream: IO[bytes], offset: int) -> tuple[str | None, bytes]:
    """Decide the container from the leading bytes: (container or None if undecided, bytes taken from the body).

    415 before anything is written when the leading bytes are no allowed container.
    """
    prior = get_storage().read_bytes(clip.storage_key, 0, offset) if offset else b""
    head = _read_upto(stream, min(clip.size - offset, sniff.SNIFF_BYTES - offset))
    verdict = sniff.detect(prior + head, clip.size, allowed_containers())
    if verdict is None:
        raise ApiError(415, "not_a_video",
                       f"This file is not a video container accepted here ({', '.join(allowed_containers())}).")
    return (None if verdict is sniff.UNDECIDED else verdict), head


@dataclass
class _Received:
    count: int
    disconnected: bool


def _copy(stream: IO[bytes], out, head: bytes, room: int, expected: int | None, hashers: list) -> _Received:
    """Stream the body into ``out`` and ``hashers`` CHUNK_SIZE bytes at a time; 413 past ``room`` bytes."""
    received = 0
    data = head
    while True:
        if data:
            if received + len(data) > room:
                raise ApiError(413, "chunk_too_large", f"Only {room} more bytes fit in this upload.")
            out.write(data)
            for hasher in hashers:
                hasher.update(data)
            received += len(data)
        # One byte more than fits, so a chunked body that is too long is noticed.
        try:
            data = stream.read(min(CHUNK_SIZE, room - received + 1))
        except (ClientDisconnected, OSError):
            return _Received(received, True)
        if not data:
            return _Received(received, expected is not None and received < expected)


def _sha256(key: str) -> str:
    digest = hashlib.sha256()
    for chunk in get_storage().read(key):
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Progress:
    """Where an upload stands after a PATCH: what the tus answer reports."""

    offset: int
    size: int
    status: ClipStatus
    expires_at: datetime | None


def receive_chunk(uploader: Uploader, clip: Clip, *, offset: int, stream: IO[bytes], content_length: int | None,
                  checksum=None, now: datetime | None = None) -> Progress:
    """tus PATCH: append the body at ``offset``; completes the clip with its last byte.

    Constant memory: the body moves to storage CHUNK_SIZE bytes at a time and no
    database transaction stays open while it arrives. With Upload-Checksum the bytes
    count only if the whole body matches (460 and nothing kept otherwise); without
    one, what arrived before a dropped connection is kept, so a phone resumes from there.
    """
    now = now or utcnow()
    check_live(clip, uploader.ask, now)
    if clip.status == ClipStatus.COMPLETE:
        if offset == clip.size and not content_length:
            return Progress(clip.size, clip.size, clip.status, None)
        raise _offset_mismatch(clip.size)
    if offset != clip.upload_offset:
        raise _offset_mismatch(clip.upload_offset)
    room = clip.size - offset
    if content_length is not None and content_length > room:
        raise ApiError(413, "chunk_too_large", f"Only {room} more bytes fit in this upload.")
    container, head = (clip.container, b"") if clip.container else _sniff(clip, stream, offset)
    running = digest.resume(clip.sha256_state, offset)
    target = _Target(clip.id, clip.storage_key, clip.size, clip.agency_id, offset, container, running,
                     _upload_expiry(uploader.ask.request, now))
    # Nothing stays open in the database while the bytes arrive.
    db.session.rollback()
    try:
        with get_storage().open_append(target.key, offset) as out:
            # Under the object's lock: another request may have moved the offset before we got it.
            current = db.session.scalar(sa.select(Clip.upload_offset).where(Clip.id == target.clip_id))
            db.session.rollback()
            if current != offset:
                raise _offset_mismatch(current)
            with checksum.check_body() if checksum else nullcontext() as check:
                hashers = [h for h in (check, running) if h is not None]
                received = _copy(stream, out, head, room, content_length, hashers)
                if received.disconnected and check:
                    out.discard()
                    raise ClientDisconnected()
                if check and not check.matches():
                    out.discard()
                    raise tus.ChecksumMismatch(f"Upload-Checksum: the {checksum.algorithm} of the body "
                                               "does not match it; nothing was kept.")
            # Durable in the store (an object store assembles the clip at its last byte) before
            # the offset that counts it is committed.
            out.flush(last=offset + received.count == target.size)
            progress = _commit_offset(uploader, target, offset + received.count, now, out)
            if received.disconnected:
                raise ClientDisconnected()
    except StorageBusy:
        raise ApiError(423, "upload_locked", lazy_gettext("Another request is writing to this "
                                                          "upload; try again shortly.")) \
            from None
    except ObjectMissing:
        _mark_lost(target.clip_id)
        raise _gone("upload_gone", "This upload's bytes are gone; start a new one.") from None
    except StorageUnavailable as error:
        db.session.rollback()
        current_app.logger.error("clip %s: clip storage refused a chunk at offset %s: %s",
                                 target.clip_id, offset, error)
        raise ApiError(503, "storage_unavailable",
                       f"Clip storage did not accept these bytes; nothing was lost. The upload stays at "
                       f"offset {offset}: send this chunk again shortly.",
                       headers={"Retry-After": "5", "Upload-Offset": str(offset)}) from None
    return progress


@dataclass(frozen=True)
class _Target:
    """What a PATCH needs of its clip once the database transaction that read it has ended."""

    clip_id: int
    key: str
    size: int
    agency_id: int
    start: int
    container: str | None
    running: digest.ResumableSha256 | None
    expiry: datetime


def _commit_offset(uploader: Uploader, target: _Target, end: int, now: datetime, out) -> Progress:
    """Move the row's offset from ``target.start`` to ``end`` (compare-and-set); finish the clip at its end.

    The clip's SHA-256 comes from the running hash saved with each offset; where there
    is none (see app.clips.digest) it is computed by reading the stored clip.
    """
    running = target.running
    finished = end == target.size
    if finished and target.container == "zip":
        _check_bundle(uploader, target, end)
    values: dict[str, Any] = {"upload_offset": end, "upload_expires_at": target.expiry,
                              "container": target.container, "sha256_state": running.state() if running else None,
                              "updated_at": now}
    if finished:
        policy = policy_for(target.agency_id)
        values.update(status=ClipStatus.COMPLETE, sha256=running.hexdigest() if running else _sha256(target.key),
                      sha256_state=None, completed_at=now, upload_expires_at=None,
                      retain_until=now + timedelta(days=policy.clip_retention_days),
                      # The media job makes its working copy (app/clips/processing.py).
                      media_status=MediaStatus.PENDING, media_attempts=0)
    changed = db.session.execute(
        sa.update(Clip).where(Clip.id == target.clip_id, Clip.status == ClipStatus.UPLOADING,
                              Clip.upload_offset == target.start)
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        # Ended (terminated, abandoned, discarded) while the bytes arrived.
        db.session.rollback()
        out.discard()
        raise _gone("upload_gone", "This upload was ended while the bytes arrived.")
    if finished:
        ask = db.session.scalar(sa.select(Ask).where(Ask.id == uploader.ask.id).with_for_update()
                                .execution_options(populate_existing=True))
        asks.deliver(ask)
        audit.record("clip.upload_completed", target_type="clip", target_id=target.clip_id, actor=uploader.owner,
                     agency_id=target.agency_id,
                     details={"ask_id": ask.id, "request_id": ask.request_id, "size": end,
                              "sha256": values["sha256"], "container": target.container, "via": uploader.via})
    db.session.commit()
    if finished:
        processing.enqueue([target.clip_id])
    return Progress(end, target.size, values.get("status", ClipStatus.UPLOADING), values["upload_expires_at"])


def _check_bundle(uploader: Uploader, target: _Target, end: int) -> None:
    """A ZIP's last byte: its entries are listed (never extracted) and one must be video, within
    the limits against ZIP bombs; otherwise the upload ends, its bytes deleted, and 422 says why."""
    storage = get_storage()
    try:
        bundles.require_video(bundles.list_entries(bundles.StoredObject(storage, target.key, end)))
    except bundles.BundleError as error:
        db.session.rollback()
        clip = db.session.get(Clip, target.clip_id, populate_existing=True)
        if clip is not None and _abort(clip, "clip.upload_refused", actor=uploader.owner, via=uploader.via,
                                       reason=error.code):
            db.session.commit()
            _delete_bytes(target.key)
        raise ApiError(422, error.code, error.message) from None


def _mark_lost(clip_id: int) -> None:
    db.session.rollback()
    changed = db.session.execute(
        sa.update(Clip).where(Clip.id == clip_id, Clip.status == ClipStatus.UPLOADING)
        .values(status=ClipStatus.ABORTED).execution_options(synchronize_session=False)).rowcount
    if changed:
        clip = db.session.get(Clip, clip_id, populate_existing=True)
        current_app.logger.error("upload %s lost its stored bytes; marked aborted", clip.upload_id)
        audit.record("clip.upload_lost", target=clip, agency_id=clip.agency_id, details={"ask_id": clip.ask_id})
    db.session.commit()


def terminate_upload(uploader: Uploader, clip: Clip) -> None:
    """tus termination: an unfinished upload's bytes are deleted and it ends (aborted)."""
    if clip.status == ClipStatus.COMPLETE:
        raise ApiError(409, "clip_delivered", lazy_gettext("This clip was delivered to the agency; an "
                                                           "upload can no longer end it."))
    if clip.status != ClipStatus.UPLOADING:
        raise _gone("upload_gone", "This upload has already ended.")
    if not _abort(clip, "clip.upload_terminated", actor=uploader.owner, via=uploader.via):
        raise _gone("upload_gone", "This upload has already ended.")
    db.session.commit()
    _delete_bytes(clip.storage_key)


def _delete_bytes(key: str) -> bool:
    """Delete an ended upload's bytes; a store that refuses now leaves them to the sweep
    (:func:`sweep_unfinished_objects`), since the row has already ended."""
    try:
        get_storage().delete(key)
    except StorageError as error:
        current_app.logger.error("clip storage kept %s after its upload ended (swept later): %s", key, error)
        return False
    return True


def _abort(clip: Clip, action: str, *, actor: Any = None, **details: Any) -> bool:
    """Mark an unfinished upload aborted (compare-and-set on its status) and audit it; False if it had ended."""
    changed = db.session.execute(
        sa.update(Clip).where(Clip.id == clip.id, Clip.status == ClipStatus.UPLOADING)
        .values(status=ClipStatus.ABORTED, updated_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        return False
    audit.record(action, target=clip, actor=actor, agency_id=clip.agency_id,
                 details={"ask_id": clip.ask_id, "received": clip.upload_offset, "size": clip.size, **details})
    return True


def discard_uploads_for(ask: Ask) -> int:
    """Delete the unfinished uploads of an ask that ended (declined, no footage, expired, cancelled).

    Call it in the transaction that closes the ask; the caller commits. Rows are
    marked aborted and audited there, and the bytes are deleted at once: a declined
    ask keeps no data. (Should the caller roll back, the next request to those
    uploads finds no bytes and ends them too.) Returns how many were discarded.
    """
    clips = list(db.session.scalars(sa.select(Clip).where(Clip.ask_id == ask.id,
                                                          Clip.status == ClipStatus.UPLOADING)))
    discarded = [c for c in clips if _abort(c, "clip.upload_discarded", ask_state=ask.state.value)]
    for clip in discarded:
        _delete_bytes(clip.storage_key)
    return len(discarded)


def clean_abandoned_uploads(now: datetime | None = None) -> int:
    """Delete unfinished uploads idle past ``upload_expires_at``, or whose ask has closed. Returns the count.

    For the scheduler; each upload commits on its own, and one already ended by
    another process is skipped.
    """
    now = now or utcnow()
    closed_asks = sa.select(Ask.id).where(Ask.state.not_in(asks.APPROVED_STATES))
    due = list(db.session.scalars(
        sa.select(Clip).where(Clip.status == ClipStatus.UPLOADING,
                              sa.or_(Clip.upload_expires_at <= now, Clip.ask_id.in_(closed_asks)))
        .order_by(Clip.id)))
    cleaned = 0
    for clip in due:
        if _abort(clip, "clip.upload_abandoned"):
            db.session.commit()
            _delete_bytes(clip.storage_key)
            cleaned += 1
        else:
            db.session.rollback()
    sweep_unfinished_objects(now)
    return cleaned


# An object store's unfinished object younger than this may belong to an upload whose row is
# not committed yet (create_upload makes the object first), so the sweep leaves it alone.
SWEEP_AFTER = timedelta(hours=1)


def sweep_unfinished_objects(now: datetime | None = None) -> int:
    """Abort the multipart uploads that no live upload owns: those left by a node that crashed,
    or by a delete the store refused at the time. Returns how many keys were cleaned.

    The bytes of an ended or purged clip (or of no clip at all) are deleted; a delivered clip
    keeps its assembled object and loses only the leftover unfinished state."""
    now = now or utcnow()
    storage = get_storage()
    try:
        keys = storage.unfinished(now - SWEEP_AFTER)
    except StorageError as error:
        current_app.logger.error("clip storage could not list unfinished uploads: %s", error)
        return 0
    if not keys:
        return 0
    status = dict(db.session.execute(sa.select(Clip.storage_key, Clip.status).where(Clip.storage_key.in_(keys))).all())
    derived = dict(db.session.execute(sa.select(ClipDerivative.storage_key, ClipDerivative.purged_at)
                                      .where(ClipDerivative.storage_key.in_(keys))).all())
    db.session.rollback()
    cleaned = 0
    for key in keys:
        try:
            if status.get(key) == ClipStatus.UPLOADING:
                continue
            if status.get(key) == ClipStatus.COMPLETE or (key in derived and derived[key] is None):
                storage.discard_unfinished(key)
            else:
                storage.delete(key)
            cleaned += 1
        except StorageError as error:
            current_app.logger.error("clip storage could not clean %s: %s", key, error)
    return cleaned


def max_clip_bytes(token: str | None = None) -> int:
    """Tus-Max-Size: the link's agency's limit, else the largest any agency allows."""
    if token:
        try:
            ask = ask_for_link(token)
        except ApiError:
            ask = None
        if ask is not None:
            return current_policy(ask.request.agency_id).max_clip_bytes
    stored = db.session.scalar(sa.select(sa.func.max(AgencyPolicy.max_clip_bytes))) or 0
    return max(stored, AgencyPolicy.defaults(0).max_clip_bytes)


def link_page(token: str) -> dict[str, Any]:
    """What the upload page shows an owner who has no account: the ask, the limits, where to send."""
    ask = ask_for_link(token)
    check_uploadable(ask)
    request = ask.request
    policy = current_policy(request.agency_id)
    used = _counted_clips(ask.id)
    return {
        "agency": {"id": request.agency_id, "name": db.session.get(Agency, request.agency_id).name},
        "request": request,
        "ask": ask,
        "limits": {"max_clip_bytes": policy.max_clip_bytes, "max_clips_per_ask": policy.max_clips_per_ask,
                   "clips_remaining": max(0, policy.max_clips_per_ask - used), "containers": allowed_containers()},
        "clips": owner_clips_of_ask(ask.id),
    }
