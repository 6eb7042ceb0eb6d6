"""Clips uploaded for asks, every access to them, and evidence holds."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, db_enum, utcnow


class ClipStatus(enum.StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"
    ABORTED = "aborted"   # terminated by the uploader, or abandoned and cleaned up
    PURGED = "purged"     # bytes deleted when retention ended


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


class ClipAccess(Base):
    """An officer viewed or downloaded a clip; the owner sees every one."""

    __tablename__ = "clip_accesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(sa.ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(16))  # view | download
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
