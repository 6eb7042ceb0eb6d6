"""Every read by civilian oversight leaves an audit event: who looked at what, and when.

One event per screen of data (a list is one event naming the list and its filters, not
one per row), in the agency's chain like any other event, so the agency and the
oversight body alike can see what oversight read. Police reads are not recorded here:
theirs are the accesses to footage (app/clips/review.py), which oversight never makes.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.accounts.models import Role, User
from app.audit import service as audit
from app.extensions import db

VIEWED = "oversight.viewed"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else getattr(value, "value", value)


def viewed(user: User, view: str, **details: Any) -> None:
    """Record (and commit) that an oversight account opened ``view``; nothing for other roles."""
    if user.role != Role.OVERSIGHT:
        return
    clean = {key: _plain(value) for key, value in details.items() if value is not None}
    audit.record(VIEWED, target_type="agency", target_id=user.agency_id, agency_id=user.agency_id, actor=user,
                 details={"view": view, **clean})
    db.session.commit()
