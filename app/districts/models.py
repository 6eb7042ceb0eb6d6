"""District members (the businesses a district enrolls in bulk) and member-spreadsheet imports.

An import is checked first (the dry run): its rows are parsed, validated and staged
in ``district_import_rows``, and the report is kept on the ``district_imports`` row.
Committing turns the staged rows into members in one transaction and deletes them;
imports that are never committed expire and lose their rows too.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, db_enum, utcnow


class DistrictMember(Base):
    """A member business of a district: who to invite, and the code that enrolls them."""

    __tablename__ = "district_members"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "member_ref"),
        # Re-uploads match by reference, else phone, else e-mail, within the district.
        sa.Index("ix_district_members_district_phone", "district_id", "phone"),
        sa.Index("ix_district_members_district_email", "district_id", "email"),
        sa.CheckConstraint("cameras_expected IS NULL OR cameras_expected >= 0", name="cameras_non_negative"),
        sa.CheckConstraint(
            "(latitude IS NULL AND longitude IS NULL) OR "
            "(latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180)", name="coordinates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id", ondelete="CASCADE"))
    # The district's own reference for the member (its membership number, say).
    member_ref: Mapped[str] = mapped_column(sa.String(64))
    business_name: Mapped[str] = mapped_column(sa.String(200))
    contact_name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    email: Mapped[str | None] = mapped_column(sa.String(254))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    latitude: Mapped[float | None] = mapped_column(sa.Double)
    longitude: Mapped[float | None] = mapped_column(sa.Double)
    cameras_expected: Mapped[int | None] = mapped_column()
    # The single-use code made for this member; its redemption enrolls them.
    enrollment_code_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrollment_codes.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    enrolled_at: Mapped[datetime | None] = mapped_column()
    # Last SMS queued or sheet printed for the member; when an invitation SMS last went out.
    invited_at: Mapped[datetime | None] = mapped_column()
    sms_sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The columns an import sets on a member, in the order of the export.
MEMBER_FIELDS = ("member_ref", "business_name", "contact_name", "phone", "email", "address", "latitude",
                 "longitude", "cameras_expected")


class ImportStatus(enum.StrEnum):
    VALIDATED = "validated"  # checked without problems: may be committed
    REJECTED = "rejected"    # has problems: nothing can be committed
    COMMITTED = "committed"
    EXPIRED = "expired"      # not committed in time (or superseded): its rows are gone


class DistrictImport(Base):
    """One uploaded member spreadsheet and its dry-run report."""

    __tablename__ = "district_imports"
    __table_args__ = (sa.Index("ix_district_imports_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # The name the client gave the file: shown back, never used as a path.
    filename: Mapped[str] = mapped_column(sa.String(255))
    file_format: Mapped[str] = mapped_column(sa.String(8))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(sa.String(16))
    delimiter: Mapped[str | None] = mapped_column(sa.String(8))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[ImportStatus] = mapped_column(db_enum(ImportStatus, "import_status"))
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_valid: Mapped[int] = mapped_column(default=0)
    # [{"line", "column", "problem"}], the first MAX_PROBLEMS of problems_total.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    problems_total: Mapped[int] = mapped_column(default=0)
    ignored_columns: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    summary_new: Mapped[int] = mapped_column(default=0)
    summary_updated: Mapped[int] = mapped_column(default=0)
    summary_unchanged: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    committed_at: Mapped[datetime | None] = mapped_column()
    committed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_count: Mapped[int | None] = mapped_column()
    updated_count: Mapped[int | None] = mapped_column()
    unchanged_count: Mapped[int | None] = mapped_column()

    @property
    def summary(self) -> dict[str, int]:
        """What committing would do, as the dry run found it."""
        return {"new": self.summary_new, "updated": self.summary_updated, "unchanged": self.summary_unchanged}

    @property
    def result(self) -> dict[str, int] | None:
        """What the commit did."""
        if self.created_count is None:
            return None
        return {"created": self.created_count, "updated": self.updated_count, "unchanged": self.unchanged_count}


class DistrictImportRow(Base):
    """A parsed row of a checked import, waiting for the commit (values already normalised).

    Fields that failed validation are NULL; ``member_id`` is the existing member the
    row matched (by reference, else phone, else e-mail), NULL for a new member.
    """

    __tablename__ = "district_import_rows"
    # The commit reads an import's rows in id order, a chunk at a time (keyset).
    __table_args__ = (sa.Index("ix_district_import_rows_import_id_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("district_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column()
    member_ref: Mapped[str | None] = mapped_column(sa.String(64))
    business_name: Mapped[str | None] = mapped_column(sa.String(200))
    contact_name: Mapped[str | None] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    latitude: Mapped[float | None] = mapped_column(sa.Double)
    longitude: Mapped[float | None] = mapped_column(sa.Double)
    cameras_expected: Mapped[int | None] = mapped_column()
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district_members.id", ondelete="SET NULL"))
