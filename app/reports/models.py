"""What an agency enters on its annual report itself: the figures Porchlight cannot compute."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

# Length limits: a paragraph or two each, enough for an annual report's box, small enough
# that the public page and the PDF stay readable.
COSTS_MAX = 1000
FUNDING_MAX = 1000
POLICY_CHANGES_MAX = 4000


class ReportEntry(Base):
    """One agency's entered fields for one calendar year (in the agency's time zone).

    Free text, entered and changed by a supervisor (audited with before and after), and
    always shown on the report marked as entered by the agency, not computed.
    """

    __tablename__ = "report_entries"
    __table_args__ = (sa.UniqueConstraint("agency_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(sa.SmallInteger)
    costs: Mapped[str | None] = mapped_column(sa.String(COSTS_MAX))
    funding_source: Mapped[str | None] = mapped_column(sa.String(FUNDING_MAX))
    policy_changes: Mapped[str | None] = mapped_column(sa.String(POLICY_CHANGES_MAX))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
