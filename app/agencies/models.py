"""Agencies (tenants), their districts, and owners' memberships in agencies."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Blackout hours and request windows are read in the agency's local time.
    timezone: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    districts: Mapped[list[District]] = relationship(back_populates="agency", order_by="District.id")


class District(Base):
    """A business improvement district, run by its managers, inside one agency."""

    __tablename__ = "districts"
    __table_args__ = (sa.UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="districts")


class Membership(Base):
    """An owner taking part in an agency's program, usually through an enrollment code."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("owner_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id", ondelete="SET NULL"), index=True
    )
    enrollment_code_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrollment_codes.id", ondelete="SET NULL")
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship()
    district: Mapped[District | None] = relationship()
