"""Enrollment codes (printed as QR codes) and the record of every use."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.agencies.models import Agency, District
from app.db import Base, db_enum, utcnow


class CodeKind(enum.StrEnum):
    SINGLE = "single"
    CAMPAIGN = "campaign"


class EnrollmentCode(Base):
    __tablename__ = "enrollment_codes"
    __table_args__ = (
        sa.CheckConstraint("max_uses >= 1", name="max_uses_positive"),
        sa.CheckConstraint("use_count >= 0 AND use_count <= max_uses", name="use_count_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Canonical form: 8 characters of an alphabet without 0/O, 1/I/L; shown as XXXX-XXXX.
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[CodeKind] = mapped_column(db_enum(CodeKind, "code_kind"))
    max_uses: Mapped[int] = mapped_column()
    use_count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    agency: Mapped[Agency] = relationship()
    district: Mapped[District | None] = relationship()

    @property
    def display_code(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"

    @property
    def uses_left(self) -> int:
        return self.max_uses - self.use_count

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.use_count >= self.max_uses:
            return "used_up"
        return "active"


class EnrollmentUse(Base):
    __tablename__ = "enrollment_uses"
    __table_args__ = (sa.UniqueConstraint("code_id", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("enrollment_codes.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_ip: Mapped[str | None] = mapped_column(sa.String(64))
