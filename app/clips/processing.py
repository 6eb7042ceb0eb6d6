"""The media job: a delivered clip's probe facts, its browser-playable working copy and poster.

The last byte of an upload (app/clips/uploads.py) sets the clip's ``media_status`` to
pending in the same commit; after the commit :func:`enqueue` hands it to the media
queue (app/notifications/queue.py: RQ's media queue, or the in-process media threads).
The job, :func:`process_clip`:

1. claims the clip: a conditional UPDATE pending → processing (``media_claimed_at``,
   ``media_attempts`` + 1), made only while fewer than MEDIA_CONCURRENCY clips are
   processing under a fresh claim, and serialised (:func:`app.sql.serialise`) so that
   two workers cannot both see room for one;
2. with no transaction open, runs app/clips/media.py in a child process, under
   MEDIA_TIME_LIMIT_SECONDS and an address-space cap of MEDIA_MEMORY_LIMIT_MIB, on the
   master: read in place when the storage backend has a local file, else copied into a
   private temporary directory. A ZIP bundle is listed (app/clips/bundles.py), its video
   entries copied out one at a time into that directory (never into a served path;
   executables never) and probed; the largest entry that probes as video is the copy's
   source, since a recorder's export holds one file per camera or per hour beside small
   index and player files, and the largest holds the most footage. The others are
   listed with their own probe: the officer downloads the ZIP (the master) for them;
3. stores the copy and poster through the storage backend and, in one commit that
   checks the claim is still its own, writes the ClipDerivative rows, the probe facts,
   and ``media_status`` ready, or failed with ``media_error`` saying why in plain words.
   Probe facts are kept when the copy fails. Both outcomes are audited.

The master is only ever read. A worker never crashes on a clip: whatever FFmpeg makes
of a file comes back from the child as a MediaError; anything else gives the claim
back (pending, or failed after MEDIA_MAX_ATTEMPTS). The tick (app/jobs.py) gives back
claims older than the time limit (a worker that died) and hands pending clips to the queue.
"""
from __future__ import annotations

import errno
import logging
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.audit import service as audit
from app.clips import bundles, media
from app.clips.models import Clip, ClipDerivative, ClipStatus, DerivativeKind, MediaStatus
from app.common.settings import setting
from app.db import utcnow
from app.extensions import db
from app.notifications import queue
from app.sql import serialise
from app.storage import ClipStorage, get_storage, new_key
from app.storage.base import CHUNK_SIZE

log = logging.getLogger(__name__)
# Room left on MEDIA_WORK_DIR beside a copied master, for the working copy made from it.
WORK_SPACE_MARGIN = 64 * 1024 * 1024

# A claim is stale (its worker died) this long past the moment its child would have been killed.
STALE_GRACE = timedelta(minutes=5)
# A clip just completed is handed to the queue by its upload; the tick takes over after this long.
ENQUEUE_GRACE = timedelta(seconds=60)
# The shortest time a bundle's entry or the copy is given when the job's time is nearly spent.
MIN_STEP_S = 5.0
ERROR_LENGTH = 500  # clips.media_error


def stale_after() -> timedelta:
    return timedelta(seconds=setting("MEDIA_TIME_LIMIT_SECONDS") + media.KILL_GRACE_S) + STALE_GRACE


def enqueue(clip_ids: list[int]) -> None:
    """Hand clips to the media queue, after the commit that made them pending."""
    queue.enqueue_media(current_app._get_current_object(), clip_ids)


# --- claiming ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claim:
    """What the job needs of its clip once the claim's transaction has ended."""

    clip_id: int
    agency_id: int
    request_id: int
    storage_key: str
    container: str | None
    size: int
    sha256: str | None
    attempts: int


def _busy(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Clip.media_status == MediaStatus.PROCESSING, Clip.media_claimed_at > now - stale_after())


def _claim(clip_id: int, now: datetime) -> _Claim | None:
    """pending → processing, if the clip is pending and fewer than MEDIA_CONCURRENCY are processing."""
    serialise("media_claim", Clip.__table__, Clip.id == clip_id)
    busy = db.session.scalar(sa.select(sa.func.count(Clip.id)).where(_busy(now))) or 0
    if busy >= max(1, setting("MEDIA_CONCURRENCY")):
        db.session.rollback()
        return None
    changed = db.session.execute(
        sa.update(Clip).where(Clip.id == clip_id, Clip.status == ClipStatus.COMPLETE,
                              Clip.media_status == MediaStatus.PENDING)
        .values(media_status=MediaStatus.PROCESSING, media_claimed_at=now,
                media_attempts=Clip.media_attempts + 1, media_error=None)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        db.session.rollback()
        return None
    row = db.session.execute(sa.select(Clip.agency_id, Clip.request_id, Clip.storage_key, Clip.container, Clip.size,
                                       Clip.sha256, Clip.media_attempts).where(Clip.id == clip_id)).one()
    db.session.commit()
    return _Claim(clip_id, *row)


# --- the work, outside any transaction ---------------------------------------------------------------

@dataclass
class _Made:
    probe: dict[str, Any] | None = None
    copy: media.WorkingCopy | None = None
    error: str | None = None  # why no copy was made, in plain words
    entries: list[dict[str, Any]] | None = None
    # kind -> (storage key, size, sha256) of what was stored
    stored: dict[DerivativeKind, tuple[str, int, str]] = field(default_factory=dict)


class _Budget:
    """The job's one time limit, spent across a bundle's entries and the copy."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.ends = time.monotonic() + limit_s

    def left(self) -> float:
        return max(MIN_STEP_S, self.ends - time.monotonic())


def _facts(probe: media.Probe) -> dict[str, Any]:
    """The probe as stored on the clip (``clips.probe``; ClipOut's ``media.probe`` documents it)."""
    facts = asdict(probe)
    facts["container"] = facts.pop("format_name")
    facts["streams"] = list(facts["streams"])
    facts["start_time"] = facts.pop("creation_time")
    if facts["container"] == "dhav" and facts["start_time_s"]:
        # Dahua stamps each frame with the recorder's wall clock (no time zone), which
        # FFmpeg turns into seconds as if it were UTC: the clock as the recorder showed it.
        facts["start_time"] = datetime.fromtimestamp(facts["start_time_s"], UTC).replace(tzinfo=None).isoformat()
    return facts


_PATHS = re.compile(r":?\s*'[^']*'")


def _reason(error: media.MediaError, *, container: str | None, read: bool) -> str:
    """Why no copy could be made, for the officer: what went wrong with the file, in plain words.

    ``read``: whether the master's facts could be read at all. FFmpeg's own words follow
    where they help, without the private paths of the job's directory.
    """
    text = str(error)
    detail = _PATHS.sub("", text.split(": ", 1)[1] if ": " in text else text).strip(" :")
    minutes = setting("MEDIA_TIME_LIMIT_SECONDS") / 60
    if isinstance(error, media.MediaTimeout):
        return f"Making the copy took longer than the {minutes:g}-minute limit."
    if "address space" in text or "Cannot allocate memory" in text:
        return f"Making the copy needed more memory than the {setting('MEDIA_MEMORY_LIMIT_MIB')} MiB limit."
    if "no video stream" in text:
        return "No video stream was found in the file."
    if not read and container == "mp4":
        return ("The file ends early or is damaged: its index (the MP4 'moov' box, written last) could not be "
                f"read ({detail}).")
    if not read:
        return f"The file could not be read as video; it may be damaged or cut short ({detail})."
    if "no readable video" in text or "no frame" in text:
        return "The file ends early or is damaged: no frame of its video could be decoded."
    if "ended abnormally" in text:
        return f"The conversion stopped unexpectedly ({detail})."
    return f"The file is damaged: no playable copy could be made of it ({detail})."


def _copy_out(storage: ClipStorage, key: str, path: Path, size: int) -> Path:
    """The master copied into the job's private directory (an object store has no file to read
    in place): exactly its recorded size, refused before a byte is written when the disk
    lacks room for it (the claim is given back and retried)."""
    free = shutil.disk_usage(path.parent).free
    if free < size + WORK_SPACE_MARGIN:
        raise OSError(errno.ENOSPC, f"MEDIA_WORK_DIR has {free} bytes free; the master needs {size}")
    written = 0
    with open(path, "wb") as out:
        for chunk in storage.read(key, 0, size):
            out.write(chunk)
            written += len(chunk)
    if written != size:
        raise OSError(errno.EIO, f"the stored master holds {written} bytes, not its recorded {size}")
    return path


def _entry_row(entry: bundles.Entry) -> dict[str, Any]:
    kind = "video" if entry.is_video else "executable" if entry.executable else "other"
    flags = list(entry.unsafe_name) + ([entry.unreadable] if entry.unreadable else [])
    if entry.is_video and entry.executable:
        flags.append("executable")
    if entry.named_as_video and not entry.is_video:
        flags.append("not_video_content")
    return {"name": entry.name, "size": entry.size, "compressed_size": entry.compressed_size, "kind": kind,
            "flags": flags, "probe": None, "error": None, "working_copy": False}


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """One entry's bytes into the job's private directory; at most what the central directory declared."""
    written = 0
    with archive.open(info) as member, open(path, "wb") as out:
        for block in iter(lambda: member.read(CHUNK_SIZE), b""):
            written += len(block)
            if written > info.file_size:  # zipfile checks this too; a bomb never gets further
                raise zipfile.BadZipFile("the entry is longer than its declared size")
            out.write(block)


def _bundle(storage: ClipStorage, claim: _Claim, work: Path, budget: _Budget) -> tuple[list | None, Path | None, str]:
    """A ZIP's listing with each video entry probed, and the entry the copy is made from (or why none)."""
    local = storage.local_path(claim.storage_key)
    source = open(local, "rb") if local else bundles.StoredObject(storage, claim.storage_key, claim.size)  # noqa: SIM115
    with source:
        try:
            listing = bundles.list_entries(source)
        except bundles.BundleError as error:
            return None, None, f"The ZIP's list of entries could not be read: {error.message}"
        rows = [_entry_row(e) for e in listing.entries]
        best: tuple[int, int, Path] | None = None
        with zipfile.ZipFile(source) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            for index, (entry, info) in enumerate(zip(listing.entries, infos, strict=True)):
                if not entry.is_video or entry.executable or entry.unreadable:
                    continue
                path = work / f"entry-{index}"  # never the entry's own name
                try:
                    _unpack(archive, info, path)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError):
                    rows[index]["error"] = "The entry could not be unpacked: the ZIP is damaged."
                    path.unlink(missing_ok=True)
                    continue
                outcome = media.run_in_child(path, None, budget.left(), setting("MEDIA_MEMORY_LIMIT_MIB"))
                if outcome.probe is None:
                    rows[index]["error"] = _reason(outcome.error or media.MediaError("unreadable"),
                                                   container=entry.container, read=False)
                    path.unlink()
                    continue
                rows[index]["probe"] = _facts(outcome.probe)
                if best is None or entry.size > best[0]:
                    if best is not None:
                        best[2].unlink()
                    best = (entry.size, index, path)
                else:
                    path.unlink()
    if best is None:
        return rows, None, "No video entry of the ZIP could be read as video."
    rows[best[1]]["working_copy"] = True
    return rows, best[2], ""


def _store(storage: ClipStorage, copy: media.WorkingCopy) -> dict[DerivativeKind, tuple[str, int, str]]:
    stored: dict[DerivativeKind, tuple[str, int, str]] = {}
    try:
        key = new_key()
        stored[DerivativeKind.WORKING_COPY] = (key, storage.store_file(key, copy.path), copy.sha256)
        if copy.poster_path is not None:
            key = new_key()
            size = storage.store_file(key, copy.poster_path)
            stored[DerivativeKind.POSTER] = (key, size, media._sha256(copy.poster_path))
    except BaseException:
        for key, _, _ in stored.values():
            storage.delete(key)
        raise
    return stored


def _work(claim: _Claim) -> _Made:
    storage = get_storage()
    budget = _Budget(setting("MEDIA_TIME_LIMIT_SECONDS"))
    made = _Made()
    with tempfile.TemporaryDirectory(prefix="porchlight-media-",
                                     dir=current_app.config.get("MEDIA_WORK_DIR") or None) as directory:
        work = Path(directory)
        chosen_entry = None
        if claim.container == "zip":
            made.entries, source, why = _bundle(storage, claim, work, budget)
            if source is None:
                made.error = why
                return made
            chosen_entry = next(e["name"] for e in made.entries if e["working_copy"])
        else:
            source = (storage.local_path(claim.storage_key)
                      or _copy_out(storage, claim.storage_key, work / "master", claim.size))
        outcome = media.run_in_child(source, work / "out", budget.left(), setting("MEDIA_MEMORY_LIMIT_MIB"))
        if outcome.probe is not None:
            made.probe = _facts(outcome.probe)
            if chosen_entry is not None:
                made.probe["bundle_entry"] = chosen_entry
        if outcome.copy is None:
            made.error = _reason(outcome.error or media.MediaError("no copy"), container=claim.container,
                                 read=outcome.probe is not None)
            return made
        made.copy = outcome.copy
        made.stored = _store(storage, outcome.copy)
    return made


# --- finishing ----------------------------------------------------------------------------------------

def _ours(claim: _Claim) -> list[sa.ColumnElement[bool]]:
    # The attempt number names the claim: a stale claim given back and claimed again is another's.
    return [Clip.id == claim.clip_id, Clip.status == ClipStatus.COMPLETE,
            Clip.media_status == MediaStatus.PROCESSING, Clip.media_attempts == claim.attempts]


def _truncation_note(copy: media.WorkingCopy) -> str | None:
    if not copy.truncated:
        return None
    return "The file ends early or is damaged: the copy holds what could be read of it."


def _finish(claim: _Claim, made: _Made, now: datetime) -> MediaStatus | None:
    status = MediaStatus.READY if made.copy is not None else MediaStatus.FAILED
    error = made.error if made.copy is None else _truncation_note(made.copy)
    changed = db.session.execute(
        sa.update(Clip).where(*_ours(claim))
        .values(media_status=status, media_done_at=now, media_error=error[:ERROR_LENGTH] if error else None,
                probe=made.probe, bundle_entries=made.entries)
        .execution_options(synchronize_session=False)).rowcount
    storage = get_storage()
    if not changed:
        # Purged, or the claim was taken back as stale, while the copy was being made.
        db.session.rollback()
        for key, _, _ in made.stored.values():
            storage.delete(key)
        log.warning("clip %s: the media job's claim was no longer its own; nothing recorded", claim.clip_id)
        return _status(claim.clip_id)
    details: dict[str, Any] = {"request_id": claim.request_id, "master_sha256": claim.sha256,
                               "attempt": claim.attempts}
    if made.copy is not None:
        copy = made.copy
        for kind, (key, size, sha256) in made.stored.items():
            working = kind == DerivativeKind.WORKING_COPY
            db.session.add(ClipDerivative(
                clip_id=claim.clip_id, kind=kind, storage_key=key, size=size, sha256=sha256,
                method=copy.method if working else "frame", versions=copy.library_versions,
                settings={**copy.settings, "truncated": copy.truncated} if working
                else {"format": "jpeg", "at_s": media.POSTER_AT_S}, created_at=now))
        audit.record("clip.working_copy_made", target_type="clip", target_id=claim.clip_id,
                     agency_id=claim.agency_id,
                     details={**details, "method": copy.method, "sha256": copy.sha256, "size": copy.size,
                              "truncated": copy.truncated, "poster": DerivativeKind.POSTER in made.stored})
    else:
        audit.record("clip.working_copy_failed", target_type="clip", target_id=claim.clip_id,
                     agency_id=claim.agency_id, details={**details, "reason": error})
    db.session.commit()
    return status


def _status(clip_id: int) -> MediaStatus | None:
    status = db.session.scalar(sa.select(Clip.media_status).where(Clip.id == clip_id))
    db.session.rollback()
    return status


def _give_back(claim: _Claim, now: datetime) -> MediaStatus | None:
    """An error of ours, not of the file: pending again, or failed once the attempts are spent."""
    db.session.rollback()
    final = claim.attempts >= setting("MEDIA_MAX_ATTEMPTS")
    status = MediaStatus.FAILED if final else MediaStatus.PENDING
    error = ("The copy could not be made because of a fault in Porchlight, "
             f"{claim.attempts} times; it will not be tried again.") if final else None
    changed = db.session.execute(
        sa.update(Clip).where(*_ours(claim))
        .values(media_status=status, media_error=error, media_done_at=now if final else None)
        .execution_options(synchronize_session=False)).rowcount
    if changed and final:
        audit.record("clip.working_copy_failed", target_type="clip", target_id=claim.clip_id,
                     agency_id=claim.agency_id,
                     details={"request_id": claim.request_id, "attempt": claim.attempts, "reason": error})
    db.session.commit()
    return status if changed else _status(claim.clip_id)


def process_clip(clip_id: int, now: datetime | None = None) -> MediaStatus | None:
    """Make a clip's working copy now if it is pending and there is room; returns its media status after.

    Pending after the call means it waits (MEDIA_CONCURRENCY copies are being made);
    None means no such clip. Never raises for what is in the file.
    """
    now = now or utcnow()
    claim = _claim(clip_id, now)
    if claim is None:
        return _status(clip_id)
    try:
        made = _work(claim)
    except Exception:
        log.exception("clip %s: the media job failed", clip_id)
        return _give_back(claim, utcnow())
    return _finish(claim, made, utcnow())


# --- the scheduler's steps and the operator's command ----------------------------------------------

def recover_stale_claims(now: datetime | None = None) -> int:
    """Claims older than the time limit (their worker died) go back to pending, or fail after
    MEDIA_MAX_ATTEMPTS. Returns how many went back to pending."""
    now = now or utcnow()
    stale = [Clip.media_status == MediaStatus.PROCESSING, Clip.media_claimed_at <= now - stale_after()]
    spent = Clip.media_attempts >= setting("MEDIA_MAX_ATTEMPTS")
    reason = ("Making the copy was interrupted (its worker stopped) on every attempt; it will not be tried again.")
    for clip in db.session.scalars(sa.select(Clip).where(*stale, spent)):
        changed = db.session.execute(
            sa.update(Clip).where(Clip.id == clip.id, *stale, spent)
            .values(media_status=MediaStatus.FAILED, media_error=reason, media_done_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if changed:
            audit.record("clip.working_copy_failed", target_type="clip", target_id=clip.id,
                         agency_id=clip.agency_id,
                         details={"request_id": clip.request_id, "attempt": clip.media_attempts, "reason": reason})
    recovered = db.session.execute(
        sa.update(Clip).where(*stale).values(media_status=MediaStatus.PENDING)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if recovered:
        log.warning("gave back %d media claims whose worker stopped", recovered)
    return recovered


def due_clip_ids(now: datetime, fresh_grace: timedelta = ENQUEUE_GRACE, limit: int | None = None) -> list[int]:
    """Pending clips, oldest first, but those their upload handed to the queue moments ago."""
    query = (sa.select(Clip.id)
             .where(Clip.status == ClipStatus.COMPLETE, Clip.media_status == MediaStatus.PENDING,
                    sa.or_(Clip.media_attempts > 0, Clip.completed_at <= now - fresh_grace))
             .order_by(Clip.completed_at, Clip.id))
    return list(db.session.scalars(query.limit(limit) if limit is not None else query))


def enqueue_due(now: datetime | None = None) -> int:
    """The tick's step: hand pending clips to the queue, as many as there is room to process.

    Only as many as could start now: with RQ each hand-over is a job in Redis, and a
    clip queued twice only costs a claim that finds it taken.
    """
    now = now or utcnow()
    room = max(1, setting("MEDIA_CONCURRENCY")) - (db.session.scalar(
        sa.select(sa.func.count(Clip.id)).where(_busy(now))) or 0)
    ids = due_clip_ids(now, limit=room) if room > 0 else []
    db.session.rollback()
    enqueue(ids)
    return len(ids)


def process_due(clip_id: int | None = None) -> dict[str, int]:
    """``flask media process``: make the due working copies in this process, now (or one clip's).

    A clip that failed is tried again when named; one already processing elsewhere is left.
    """
    if clip_id is not None:
        retried = db.session.execute(
            sa.update(Clip).where(Clip.id == clip_id, Clip.status == ClipStatus.COMPLETE,
                                  Clip.media_status == MediaStatus.FAILED)
            .values(media_status=MediaStatus.PENDING, media_error=None, media_attempts=0)
            .execution_options(synchronize_session=False)).rowcount
        if retried:
            clip = db.session.get(Clip, clip_id)
            audit.record("clip.working_copy_retried", target=clip, agency_id=clip.agency_id,
                         details={"request_id": clip.request_id})
        db.session.commit()
        ids = [clip_id]
    else:
        ids = due_clip_ids(utcnow(), fresh_grace=timedelta(0))
    report: dict[str, int] = {}
    for one in ids:
        status = process_clip(one)
        key = status.value if status is not None else "missing"
        report[key] = report.get(key, 0) + 1
    return report
