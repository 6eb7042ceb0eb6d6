"""Cameras registered by owners, and which agencies each is shared with."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.agencies.models import Agency
from app.cameras.geo import lat_band
from app.db import Base, db_enum, utcnow


class CameraMode(enum.StrEnum):
    REGISTER = "register"
    INTEGRATE = "integrate"


class CameraStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


camera_shares = sa.Table(
    "camera_shares",
    Base.metadata,
    sa.Column("camera_id", sa.ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("agency_id", sa.ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.CheckConstraint("retention_days BETWEEN 1 AND 365", name="retention_range"),
        sa.CheckConstraint("bearing IS NULL OR (bearing BETWEEN 0 AND 359)", name="bearing_range"),
        sa.CheckConstraint("field_of_view BETWEEN 1 AND 360", name="fov_range"),
        sa.CheckConstraint("public_attestation", name="attested"),
        # The geo index: see app/cameras/geo.py for how queries use it. On PostgreSQL it
        # carries what a search reads besides the box, for index-only scans (migration
        # 0018); SQLite's indexes hold the rowid (id) already.
        sa.Index("ix_cameras_geo", "lat_band", "longitude", "latitude", postgresql_include=["id", "status"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id", ondelete="SET NULL"), index=True
    )
    label: Mapped[str] = mapped_column(sa.String(120))
    latitude: Mapped[float] = mapped_column(sa.Double)
    longitude: Mapped[float] = mapped_column(sa.Double)
    lat_band: Mapped[int] = mapped_column(sa.Integer)
    address: Mapped[str | None] = mapped_column(sa.String(300))
    bearing: Mapped[int | None] = mapped_column(sa.SmallInteger)
    field_of_view: Mapped[int] = mapped_column(sa.SmallInteger, default=90)
    retention_days: Mapped[int] = mapped_column(sa.SmallInteger)
    mode: Mapped[CameraMode] = mapped_column(db_enum(CameraMode, "camera_mode"), default=CameraMode.REGISTER)
    status: Mapped[CameraStatus] = mapped_column(
        db_enum(CameraStatus, "camera_status"), default=CameraStatus.ACTIVE
    )
    public_attestation: Mapped[bool] = mapped_column()
    attested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # [{"day": 0-6 (Monday=0), "start": "HH:MM", "end": "HH:MM"}] in the camera's local
    # time; an end at or before the start runs past midnight into the next day.
    blackout_windows: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # The recorder's clock minus the true time, in seconds, as the owner last read it
    # (at an upload, or edited on the camera): asks show their window in recorder time.
    recorder_offset_s: Mapped[int | None] = mapped_column(sa.Integer)
    recorder_offset_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Yearly re-confirmation (app/cameras/confirmation.py): when the owner last said the
    # camera is still theirs and recording, and when they were asked to say so again.
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    confirm_requested_at: Mapped[datetime | None] = mapped_column(index=True)
    # Why a paused camera is paused: None (the owner paused it) or "unconfirmed" (not
    # re-confirmed in time; confirming resumes it).
    pause_reason: Mapped[str | None] = mapped_column(sa.String(16))

    shared_with: Mapped[list[Agency]] = relationship(secondary=camera_shares, order_by=Agency.id)

    def place(self, latitude: float, longitude: float) -> None:
        self.latitude, self.longitude = latitude, longitude
        self.lat_band = lat_band(latitude)
