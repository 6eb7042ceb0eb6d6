"""Supervisors reading their agency's audit log: filtered pages, CSV export, chain status.

Every query is scoped to the supervisor's agency. The chain is verified whole (one
chain serves every agency), but a problem outside the agency is reported by its
position only, never by another agency's event content.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db

CSV_BATCH = 1000


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _filtered(agency_id: int, filters: dict[str, Any]) -> sa.Select:
    query = sa.select(AuditEvent).where(AuditEvent.agency_id == agency_id)
    action = filters.get("action")
    if action:
        # "ask." or "ask.*" selects a family of actions; anything else is exact.
        if action.endswith("*") or action.endswith("."):
            prefix = action.rstrip("*")
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AuditEvent.action.like(escaped + "%", escape="\\"))
        else:
            query = query.where(AuditEvent.action == action)
    if filters.get("actor_id") is not None:
        query = query.where(AuditEvent.actor_id == filters["actor_id"])
    if filters.get("target_type"):
        query = query.where(AuditEvent.target_type == filters["target_type"])
    if filters.get("target_id"):
        query = query.where(AuditEvent.target_id == filters["target_id"])
    if filters.get("from") is not None:
        query = query.where(AuditEvent.occurred_at >= _aware(filters["from"]))
    if filters.get("to") is not None:
        query = query.where(AuditEvent.occurred_at < _aware(filters["to"]))
    return query


def events_page(supervisor: User, filters: dict[str, Any]) -> dict[str, Any]:
    """Newest first; ``cursor`` is the seq of the last event of the previous page."""
    limit = filters.get("limit") or 100
    query = _filtered(supervisor.agency_id, filters)
    if filters.get("cursor") is not None:
        query = query.where(AuditEvent.seq < filters["cursor"])
    events = list(db.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return {"events": events, "next_cursor": events[-1].seq if more else None}


def events_for_csv(supervisor: User, filters: dict[str, Any]) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, in keyset batches (constant memory)."""
    # Read the supervisor now: the rows stream after the request's session has ended, when
    # the (committed, so expired) account can no longer load its agency.
    return _csv_batches(_filtered(supervisor.agency_id, filters), filters)


def _csv_batches(base: sa.Select, filters: dict[str, Any]) -> Iterator[AuditEvent]:
    last_seq = filters["cursor"] if filters.get("cursor") is not None else None
    after = -1
    while True:
        query = base.where(AuditEvent.seq > after)
        if last_seq is not None:
            query = query.where(AuditEvent.seq < last_seq)
        batch = list(db.session.scalars(query.order_by(AuditEvent.seq).limit(CSV_BATCH)))
        if not batch:
            return
        yield from batch
        after = batch[-1].seq


def record_export(supervisor: User, filters: dict[str, Any]) -> None:
    clean = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items() if v is not None}
    audit.record("audit.exported", target_type="agency", target_id=supervisor.agency_id,
                 agency_id=supervisor.agency_id, actor=supervisor, details={"filters": clean})
    db.session.commit()


_KIND_WORDS = {"changed": "was changed", "inserted": "was inserted", "deleted": "is missing (deleted)"}


def chain_status(supervisor: User) -> dict[str, Any]:
    """The whole chain's verification; a problem in another agency's event shows by position only."""
    report = audit.verify_chain()
    status: dict[str, Any] = {"ok": report.ok, "events_checked": report.events_checked,
                              "checked_at": utcnow(), "problem": None}
    problem = report.problem
    if problem is not None:
        owner_agency = None
        if problem.event_id is not None:
            owner_agency = db.session.scalar(sa.select(AuditEvent.agency_id).where(AuditEvent.id == problem.event_id))
        ours = owner_agency is not None and owner_agency == supervisor.agency_id
        status["problem"] = {
            "kind": problem.kind,
            "seq": problem.seq,
            "in_your_agency": ours,
            "event_id": problem.event_id if ours else None,
            "message": problem.message if ours else
            f"The event at seq {problem.seq} {_KIND_WORDS.get(problem.kind, problem.kind)}; "
            "everything after it can no longer be trusted until this is explained.",
        }
    return status
