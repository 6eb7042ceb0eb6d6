"""Footage requests, the asks they send to camera owners, and each agency's policy."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.agencies.models import Agency
from app.cameras.models import Camera
from app.db import Base, db_enum, utcnow

GIB = 1024**3


class AgencyPolicy(Base):
    """Scope limits and retention of one agency (the column defaults apply until a supervisor changes them)."""

    __tablename__ = "agency_policies"
    __table_args__ = (
        sa.CheckConstraint("max_radius_m > 0", name="radius_positive"),
        sa.CheckConstraint("max_window_minutes > 0", name="window_positive"),
        sa.CheckConstraint("request_lifetime_hours > 0", name="lifetime_positive"),
        sa.CheckConstraint("max_clip_bytes > 0 AND max_clips_per_ask > 0", name="clip_limits_positive"),
    )

    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True)
    max_radius_m: Mapped[int] = mapped_column(default=500)
    max_window_minutes: Mapped[int] = mapped_column(default=120)
    request_lifetime_hours: Mapped[int] = mapped_column(default=72)
    escalation_minutes: Mapped[int] = mapped_column(default=30)
    reminder_before_expiry_hours: Mapped[int] = mapped_column(default=12)
    clip_retention_days: Mapped[int] = mapped_column(default=90)
    max_clip_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=4 * GIB)
    max_clips_per_ask: Mapped[int] = mapped_column(default=16)
    # Four eyes: a supervisor may approve their own over-limit request only where the
    # agency has chosen to allow it; each such approval is marked and counted publicly.
    allow_self_approval: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The offense-category taxonomy officers choose from ([{"key", "label"}]) and the purposes
    # a request must never serve ([text]); null means the defaults (app/footage/purpose.py),
    # so an agency that never edited them follows improvements to the default wording.
    offense_categories: Mapped[list[dict[str, str]] | None] = mapped_column(sa.JSON)
    prohibited_purposes: Mapped[list[str] | None] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    @classmethod
    def defaults(cls, agency_id: int) -> AgencyPolicy:
        """An unsaved policy holding the defaults (column defaults fill in only on insert)."""
        values = {column.key: column.default.arg for column in cls.__table__.columns
                  if column.default is not None and column.default.is_scalar}
        return cls(agency_id=agency_id, **values)


class RequestStatus(enum.StrEnum):
    """Where a request stands; it changes only in app/footage/requests.py, by its TRANSITIONS."""

    PENDING_APPROVAL = "pending_approval"  # over a scope limit: waits for a supervisor
    ACTIVE = "active"                      # asks sent, owners answering
    REJECTED = "rejected"                  # a supervisor refused the over-limit request
    CANCELLED = "cancelled"                # the officer withdrew it
    EXPIRED = "expired"                    # its lifetime ran out; open asks closed


class LegalBasis(enum.StrEnum):
    """Under what authority a request asks for footage (owners see it on the ask)."""

    VOLUNTARY = "voluntary"  # owners are free to say no; most requests
    WARRANT = "warrant"      # a court's warrant: its number and court are recorded
    EXIGENT = "exigent"      # exigent circumstances: the reason is recorded


class FootageRequest(Base):
    __tablename__ = "footage_requests"
    __table_args__ = (
        sa.CheckConstraint("window_start < window_end", name="window_order"),
        sa.CheckConstraint("radius_m > 0", name="radius_positive"),
        sa.Index("ix_footage_requests_agency_status", "agency_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    case_number: Mapped[str] = mapped_column(sa.String(64))
    incident_type: Mapped[str] = mapped_column(sa.String(64))
    # What owners read: the officer writes it for them.
    summary: Mapped[str] = mapped_column(sa.String(1000))
    latitude: Mapped[float] = mapped_column(sa.Double)
    longitude: Mapped[float] = mapped_column(sa.Double)
    radius_m: Mapped[float] = mapped_column(sa.Double)
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    status: Mapped[RequestStatus] = mapped_column(db_enum(RequestStatus, "request_status"))
    # Purpose and legal basis. Requests made before they were asked for read as voluntary, "other".
    legal_basis: Mapped[LegalBasis] = mapped_column(db_enum(LegalBasis, "legal_basis"), default=LegalBasis.VOLUNTARY,
                                                    server_default=LegalBasis.VOLUNTARY.value)
    warrant_number: Mapped[str | None] = mapped_column(sa.String(64))
    warrant_court: Mapped[str | None] = mapped_column(sa.String(200))
    exigent_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    # A key of the agency's taxonomy, with its label as it was: the taxonomy can change later.
    offense_category: Mapped[str] = mapped_column(sa.String(64), default="other", server_default="other")
    offense_category_label: Mapped[str] = mapped_column(sa.String(120), default="Other", server_default="Other")
    # The prohibited purposes as listed to the officer who affirmed none applies, and when;
    # null on requests made before the affirmation existed.
    prohibited_purposes_affirmed: Mapped[list[str] | None] = mapped_column(sa.JSON)
    affirmed_at: Mapped[datetime | None] = mapped_column()
    # Which limits it exceeds ("radius", "window", "re_ask") and the officer's justification.
    exceeded_limits: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    justification: Mapped[str | None] = mapped_column(sa.String(1000))
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    # Approved by the supervisor who made it (only where the agency's policy allows it).
    # Stored, not derived: officer_id is cleared when that account is deleted.
    self_approved: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # How many cameras it would ask again after their owner declined or did not answer an
    # overlapping request in the last 30 days (when made): more than 0 needs a supervisor.
    re_ask_cameras: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None] = mapped_column()

    agency: Mapped[Agency] = relationship()
    asks: Mapped[list[Ask]] = relationship(back_populates="request", order_by="Ask.id")

    @property
    def over_limit(self) -> bool:
        return bool(self.exceeded_limits)


class AskState(enum.StrEnum):
    """Where an ask stands; it changes only in app/footage/asks.py, by its TRANSITIONS."""

    QUEUED = "queued"
    NOTIFIED = "notified"
    SEEN = "seen"
    APPROVED = "approved"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    DECLINED = "declined"
    NO_FOOTAGE = "no_footage"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# Waiting for the owner's answer.
OPEN_ASK_STATES = (AskState.QUEUED, AskState.NOTIFIED, AskState.SEEN)
# The same condition as SQL, for the partial unique index on reply codes.
_OPEN_SQL = sa.text(f"state IN ({', '.join(repr(state.value) for state in OPEN_ASK_STATES)})")


class Ask(Base):
    """One camera's owner asked for footage of one request."""

    __tablename__ = "asks"
    __table_args__ = (
        # Also the index for lookups by request (and the cascade): it leads with request_id.
        sa.UniqueConstraint("request_id", "camera_id"),
        sa.Index("ix_asks_owner_state", "owner_id", "state"),
        # The inbox: an owner's asks newest first, a page at a time. Without it PostgreSQL
        # walks the primary key backwards through everyone's asks to fill a page of an
        # owner who has fewer than a page (most owners): 47 ms at 150,000 asks (bench/load.py).
        sa.Index("ix_asks_owner_id", "owner_id", "id"),
        # "YES 4821" must name one ask: two requests activated at the same moment
        # cannot give one owner the same code (the loser retries with fresh codes).
        sa.Index("uq_asks_owner_open_reply_code", "owner_id", "reply_code", unique=True,
                 sqlite_where=_OPEN_SQL, postgresql_where=_OPEN_SQL),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("footage_requests.id", ondelete="CASCADE"))
    camera_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cameras.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[AskState] = mapped_column(db_enum(AskState, "ask_state"))
    # Typed in SMS replies ("YES 4821"): unique among the owner's open asks.
    reply_code: Mapped[str] = mapped_column(sa.String(8))
    distance_m: Mapped[float] = mapped_column(sa.Double)
    # A snapshot of the camera label, so the owner's history survives deleting the camera.
    camera_label: Mapped[str] = mapped_column(sa.String(120))
    decline_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column()
    seen_at: Mapped[datetime | None] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # How the owner answered: app, notification, sms, link; "filter" when one of the owner's
    # standing rules declined it at creation (app/footage/filters.py).
    answered_via: Mapped[str | None] = mapped_column(sa.String(16))
    # Which of the owner's filters declined it (FILTER_RULES); for the owner's eyes only.
    filter_rule: Mapped[str | None] = mapped_column(sa.String(16))

    request: Mapped[FootageRequest] = relationship(back_populates="asks")
    # Read only (camera_id is written as a column): what the camera knows of its recorder,
    # its clock and how long it keeps video, for the owner's view of the ask.
    camera: Mapped[Camera | None] = relationship(viewonly=True)

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value, "request_id": self.request_id, "camera_id": self.camera_id}


class OwnerFilter(Base):
    """An owner's standing answers: a new ask one of these rules catches is declined at once.

    Read in bulk when a request fans out (app/footage/filters.py). A row exists only
    for owners who set something; no row means every ask reaches the owner.
    """

    __tablename__ = "owner_filters"
    __table_args__ = (
        sa.CheckConstraint("max_footage_age_days IS NULL OR max_footage_age_days BETWEEN 1 AND 365",
                           name="max_age_range"),
    )

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Offense category keys (the agency's taxonomy) the owner always declines.
    declined_categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Only these agencies' requests are answered by the owner; NULL: every agency joined.
    agency_ids: Mapped[list[int] | None] = mapped_column(sa.JSON)
    # A request whose window starts longer ago than this is declined.
    max_footage_age_days: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # "Pause everything": until then every new ask is declined; the scheduler clears it after.
    paused_until: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
