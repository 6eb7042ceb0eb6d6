"""Clips uploaded for asks, every access to them, and evidence holds."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, db_enum, utcnow


class ClipStatus(enum.StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"
    ABORTED = "aborted"   # terminated by the uploader, or abandoned and cleaned up
    PURGED = "purged"     # bytes deleted when retention ended


class MediaStatus(enum.StrEnum):
    """Where the working copy of a complete clip stands (app/clips/processing.py)."""

    PENDING = "pending"         # delivered; waiting for the media job
    PROCESSING = "processing"   # a job claimed it (media_claimed_at says when)
    READY = "ready"             # probed; a working copy and poster exist
    FAILED = "failed"           # no playable copy could be made: media_error says why


class DerivativeKind(enum.StrEnum):
    WORKING_COPY = "working_copy"  # H.264/AAC MP4, index at the front, made from the master
    POSTER = "poster"              # one JPEG frame


class Clip(Base):
    """One uploaded file. The row *is* the tus upload's state, so any app process can continue it."""

    __tablename__ = "clips"
    __table_args__ = (
        sa.CheckConstraint("upload_offset >= 0 AND upload_offset <= size", name="offset_range"),
        sa.Index("ix_clips_status_expires", "status", "upload_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public id in tus URLs: unguessable, unlike the row id.
    upload_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    ask_id: Mapped[int] = mapped_column(sa.ForeignKey("asks.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("footage_requests.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[ClipStatus] = mapped_column(db_enum(ClipStatus, "clip_status"), default=ClipStatus.UPLOADING)
    # What the uploader called it: shown, never used as a path.
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    upload_offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    container: Mapped[str | None] = mapped_column(sa.String(16))  # mp4, matroska, avi, mpegts, h264
    storage_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # The running SHA-256 of the bytes received so far (app.clips.digest), saved with the
    # offset so that whichever process takes the last chunk finishes the hash without
    # reading the clip back; cleared when the clip completes.
    sha256_state: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    upload_expires_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    retain_until: Mapped[datetime | None] = mapped_column(index=True)
    purged_at: Mapped[datetime | None] = mapped_column()
    # The file's last-modified time as the uploader's browser reported it (a recorder
    # export's is often when it was exported): shown, never trusted for the window.
    file_modified_at: Mapped[datetime | None] = mapped_column()
    # The recorder's clock minus the true time when the owner uploaded, in seconds (the
    # owner read their recorder's clock): footage stamped T happened at T - offset.
    recorder_offset_s: Mapped[int | None] = mapped_column(sa.Integer)

    # The media job's state and findings; NULL on clips that are not complete.
    media_status: Mapped[MediaStatus | None] = mapped_column(db_enum(MediaStatus, "media_status"), index=True)
    media_error: Mapped[str | None] = mapped_column(sa.String(500))
    media_attempts: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    media_claimed_at: Mapped[datetime | None] = mapped_column()
    media_done_at: Mapped[datetime | None] = mapped_column()
    # What PyAV found (container, streams, duration, size, frame rate, start time).
    probe: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # A ZIP bundle's listing: [{name, size, compressed_size, kind, flags, probe?}].
    bundle_entries: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)


class ClipDerivative(Base):
    """A file made from a clip's master (never instead of it): kept and purged with the master."""

    __tablename__ = "clip_derivatives"
    __table_args__ = (sa.UniqueConstraint("clip_id", "kind", name="uq_clip_derivatives_clip_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(sa.ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DerivativeKind] = mapped_column(db_enum(DerivativeKind, "derivative_kind"))
    storage_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # How it was made: remux | transcode (working copy), frame (poster); the codec
    # settings and the library versions, so the copy can be explained and remade.
    method: Mapped[str] = mapped_column(sa.String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column()


class ClipAccess(Base):
    """An officer viewed or downloaded a clip; the owner sees every one."""

    __tablename__ = "clip_accesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(sa.ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(16))  # view | download
    # Which file: the master as uploaded, or a derivative (working_copy, poster).
    variant: Mapped[str] = mapped_column(sa.String(16), default="master", server_default="master")
    byte_range: Mapped[str | None] = mapped_column(sa.String(64))
    source_ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceHold(Base):
    """A supervisor keeps a request's clips past retention, with a reason."""

    __tablename__ = "evidence_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("footage_requests.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(1000))
    placed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    released_at: Mapped[datetime | None] = mapped_column()
    release_reason: Mapped[str | None] = mapped_column(sa.String(1000))
