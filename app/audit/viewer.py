"""Supervisors and civilian oversight reading their agency's audit log: filtered pages, CSV
export, chain status. Each read by oversight is itself an audit event (app/oversight/audited.py).

Supervisors see owners by account number. Oversight does not even see that much: an
owner's account number would tie one owner's answers together across requests, so for
oversight owners' events show no actor or user id and no ``owner_id`` detail, and a
filter on an actor or a target leaves owners' events out (it would tell them apart).
Hashes are shown as stored: the chain is verified on the server, with every field.

Every query is scoped to the supervisor's agency: its events are those of its own chain
and, from before chains were per agency, its events in the sealed history chain. Both
chains are verified (the agency's links to the history's final hash); the history chain
is verified whole, but a problem in another agency's event there is reported by its
position only, never by that event's content.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.audit import service as audit
from app.audit.models import HISTORY, AuditEvent, agency_chain
from app.db import utcnow
from app.extensions import db
from app.oversight import audited

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


OWNER = Role.OWNER.value
_SHOWN = ("id", "chain", "seq", "occurred_at", "action", "actor_id", "actor_role", "target_type", "target_id",
          "details", "hash", "prev_hash")
_OWNER_DETAILS = ("owner_id",)


def _owner_blind(query: sa.Select, filters: dict[str, Any]) -> sa.Select:
    """Oversight's filters never single out an owner's events (see the module's docstring)."""
    if filters.get("actor_id") is not None:
        query = query.where(sa.or_(AuditEvent.actor_role.is_(None), AuditEvent.actor_role != OWNER))
    if filters.get("target_id"):
        query = query.where(sa.or_(AuditEvent.target_type.is_(None), AuditEvent.target_type != "user",
                                   AuditEvent.actor_role.is_(None), AuditEvent.actor_role != OWNER))
    return query


def _for_oversight(events: list[AuditEvent]) -> list[SimpleNamespace]:
    """The events as oversight reads them: no owner's account number anywhere."""
    user_ids = {int(e.target_id) for e in events if e.target_type == "user" and (e.target_id or "").isdigit()}
    owners = set(db.session.scalars(sa.select(User.id).where(User.id.in_(user_ids), User.role == Role.OWNER))
                 ) if user_ids else set()
    shown = []
    for event in events:
        view = SimpleNamespace(**{name: getattr(event, name) for name in _SHOWN})
        if event.actor_role == OWNER:
            view.actor_id = None
        if event.target_type == "user" and (event.actor_role == OWNER or (
                (event.target_id or "").isdigit() and int(event.target_id) in owners)):
            view.target_id = None
        view.details = {k: v for k, v in (event.details or {}).items() if k not in _OWNER_DETAILS}
        shown.append(view)
    return shown


def _reader_filtered(reader: User, filters: dict[str, Any]) -> sa.Select:
    query = _filtered(reader.agency_id, filters)
    return _owner_blind(query, filters) if reader.role == Role.OVERSIGHT else query


def events_page(supervisor: User, filters: dict[str, Any]) -> dict[str, Any]:
    """Newest first; ``cursor`` is the id of the last event of the previous page.

    Ids, not seqs: the agency's events are in two chains (history, then its own), each
    counting its own seq, and ids follow the order events were written in. Within a chain
    that is its seq order, as a chain's events are inserted under its head's lock.
    """
    limit = filters.get("limit") or 100
    audited.viewed(supervisor, "audit_log", **{k: v for k, v in filters.items() if k != "limit"})
    query = _reader_filtered(supervisor, filters)
    if filters.get("cursor") is not None:
        query = query.where(AuditEvent.id < filters["cursor"])
    events = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    cursor = events[-1].id if more else None
    return {"events": _for_oversight(events) if supervisor.role == Role.OVERSIGHT else events, "next_cursor": cursor}


def events_for_csv(supervisor: User, filters: dict[str, Any]) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, in keyset batches (constant memory)."""
    # Read the supervisor now: the rows stream after the request's session has ended, when
    # the (committed, so expired) account can no longer load its agency.
    return _csv_batches(_reader_filtered(supervisor, filters), filters, supervisor.role == Role.OVERSIGHT)


def _csv_batches(base: sa.Select, filters: dict[str, Any], oversight: bool = False) -> Iterator[AuditEvent]:
    before = filters["cursor"] if filters.get("cursor") is not None else None
    after = -1
    while True:
        query = base.where(AuditEvent.id > after)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        batch = list(db.session.scalars(query.order_by(AuditEvent.id).limit(CSV_BATCH)))
        if not batch:
            return
        after = batch[-1].id
        yield from _for_oversight(batch) if oversight else batch


def record_export(supervisor: User, filters: dict[str, Any]) -> None:
    clean = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items() if v is not None}
    audit.record("audit.exported", target_type="agency", target_id=supervisor.agency_id,
                 agency_id=supervisor.agency_id, actor=supervisor, details={"filters": clean})
    db.session.commit()


_KIND_WORDS = {"changed": "was changed", "inserted": "was inserted", "deleted": "is missing (deleted)",
               "misplaced": "was moved in from another chain", "link": "does not chain from the history chain"}


def _problem_out(supervisor: User, problem: audit.ChainProblem) -> dict[str, Any]:
    owner_agency = None
    if problem.event_id is not None:
        owner_agency = db.session.scalar(sa.select(AuditEvent.agency_id).where(AuditEvent.id == problem.event_id))
    ours = owner_agency is not None and owner_agency == supervisor.agency_id
    if problem.event_id is None and problem.chain != HISTORY:
        ours = True  # a gap or a broken link in the agency's own chain: nobody else's content
    return {
        "chain": problem.chain,
        "kind": problem.kind,
        "seq": problem.seq,
        "in_your_agency": ours,
        "event_id": problem.event_id if ours else None,
        "message": problem.message if ours else
        f"The event at seq {problem.seq} of the {problem.chain} chain {_KIND_WORDS.get(problem.kind, problem.kind)}; "
        "everything after it can no longer be trusted until this is explained.",
    }


def chain_status(supervisor: User) -> dict[str, Any]:
    """The agency's chain and the history chain it continues, each verified; a problem in
    another agency's event shows by position only."""
    audited.viewed(supervisor, "audit_verification")
    report = audit.verify_chain([HISTORY, agency_chain(supervisor.agency_id)])
    chains = [{"chain": r.chain, "kind": "history" if r.chain == HISTORY else "agency", "ok": r.ok,
               "length": r.length, "last_hash": r.last_hash, "link_hash": r.link_hash, "sealed": r.sealed,
               "events_checked": r.events_checked,
               "problem": _problem_out(supervisor, r.problem) if r.problem else None}
              for r in report.chains]
    first = next((c["problem"] for c in chains if c["problem"]), None)
    # The agency's own chain first: it is the one its writes go to.
    chains.sort(key=lambda c: c["kind"] != "agency")
    return {"ok": report.ok, "events_checked": report.events_checked, "checked_at": utcnow(),
            "problem": first, "chains": chains}
