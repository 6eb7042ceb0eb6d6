"""Complaints against footage requests, recorded by supervisors and civilian oversight."""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, db_enum, utcnow
from app.footage.models import FootageRequest


class ComplaintSource(enum.StrEnum):
    RESIDENT = "resident"
    OWNER = "owner"      # a camera owner (who is never named here: the summary says what they said)
    OTHER = "other"


class ComplaintOutcome(enum.StrEnum):
    """How a complaint ended; the usual findings of police-accountability bodies."""

    OPEN = "open"
    SUSTAINED = "sustained"
    NOT_SUSTAINED = "not_sustained"
    UNFOUNDED = "unfounded"
    EXONERATED = "exonerated"
    WITHDRAWN = "withdrawn"


class Complaint(Base):
    """One complaint about a request: when it came in, what it says, and how it ended."""

    __tablename__ = "complaints"
    __table_args__ = (
        # The agency's log, and the annual report's count of a year by outcome.
        sa.Index("ix_complaints_agency_received", "agency_id", "received_on"),
        sa.CheckConstraint("outcome_on IS NULL OR outcome_on >= received_on", name="outcome_after_received"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("footage_requests.id", ondelete="CASCADE"), index=True)
    received_on: Mapped[date] = mapped_column(sa.Date)
    summary: Mapped[str] = mapped_column(sa.String(2000))
    source: Mapped[ComplaintSource] = mapped_column(db_enum(ComplaintSource, "complaint_source"))
    outcome: Mapped[ComplaintOutcome] = mapped_column(db_enum(ComplaintOutcome, "complaint_outcome"),
                                                      default=ComplaintOutcome.OPEN, server_default="open")
    outcome_on: Mapped[date | None] = mapped_column(sa.Date)
    outcome_note: Mapped[str | None] = mapped_column(sa.String(2000))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    request: Mapped[FootageRequest] = relationship()
