"""Appending to and verifying the audit chain.

Every service function that changes state calls :func:`record` in the same
transaction as the change, so an event exists exactly when the change does.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from app.db import utcnow
from app.extensions import db

HEAD_ID = 1


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: AuditEvent | sa.Row, prev_hash: str) -> str:
    """SHA-256 over a canonical JSON of the event's content and the previous hash."""
    content = {
        "seq": event.seq,
        "occurred_at": _timestamp(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "agency_id": event.agency_id,
        "source_ip": event.source_ip,
        "details": event.details or {},
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _source_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def record(
    action: str,
    *,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    agency_id: int | None = None,
    details: dict[str, Any] | None = None,
    actor: Any = None,
) -> AuditEvent:
    """Add one event to the chain when the caller's transaction commits (and only then).

    The event gets its place in the chain (seq, prev_hash, hash) in the commit itself:
    see :func:`_chain_pending`. Until then it is not in the session, so a rolled-back
    transaction leaves no event and takes no place in the chain.
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()
    if target is not None:
        target_type = target_type or re.sub(r"(?<!^)(?=[A-Z])", "_", type(target).__name__).lower()
        target_id = target.id
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_role=getattr(getattr(actor, "role", None), "value", None),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        agency_id=agency_id if agency_id is not None else getattr(actor, "agency_id", None),
        source_ip=_source_ip(),
        details=details or {},
    )
    db.session.info.setdefault(_PENDING, []).append(event)
    return event


_PENDING = "audit_pending"


def _chain_pending(session: sa.orm.Session) -> None:
    """Chain the transaction's events to the head, just before the commit writes them.

    Appenders are serialised by the head row (a row lock on PostgreSQL, the write lock
    on SQLite). Taking it here, as the last thing a transaction does, rather than when
    the first event is recorded, holds it for a few statements and the commit instead
    of for the rest of the request: concurrent writers queue for milliseconds, not for
    each other's whole requests.
    """
    events = session.info.pop(_PENDING, None)
    if not events:
        return
    head = AuditChainHead.__table__
    bump = (sa.update(head).where(head.c.id == HEAD_ID).values(length=head.c.length + len(events))
            .returning(head.c.length, head.c.last_hash))
    row = session.execute(bump).first()
    if row is None:
        session.add(AuditChainHead(id=HEAD_ID, length=0, last_hash=GENESIS_HASH))
        session.flush()
        row = session.execute(bump).first()
    length, prev_hash = row
    for seq, event in enumerate(events, start=length - len(events) + 1):
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = prev_hash = event_hash(event, prev_hash)
    session.add_all(events)
    session.execute(sa.update(head).where(head.c.id == HEAD_ID).values(last_hash=prev_hash))


def _drop_pending(session: sa.orm.Session, previous_transaction=None) -> None:
    session.info.pop(_PENDING, None)


def chain_on_commit() -> None:
    """Make every commit of ``db.session`` chain its transaction's events (create_app calls it).

    The listeners sit on the session class behind db.session, for every app and thread
    of the process: they are added once.
    """
    if not sa.event.contains(db.session, "before_commit", _chain_pending):
        sa.event.listen(db.session, "before_commit", _chain_pending)
        sa.event.listen(db.session, "after_soft_rollback", _drop_pending)


@dataclass(frozen=True)
class ChainProblem:
    kind: str  # changed | inserted | deleted
    seq: int
    event_id: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _events_in_order(batch: int = 5000) -> Iterator[sa.Row]:
    # Plain rows in keyset pages: constant memory however long the chain is.
    table = AuditEvent.__table__
    last_seq, last_id = -1, -1
    while True:
        rows = db.session.execute(
            sa.select(table)
            .where(sa.tuple_(table.c.seq, table.c.id) > sa.tuple_(last_seq, last_id))
            .order_by(table.c.seq, table.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_seq, last_id = rows[-1].seq, rows[-1].id


def verify_chain() -> ChainReport:
    """Walk the chain and report the first changed, inserted or deleted row."""
    expected_seq, prev_hash, prev_id, checked = 1, GENESIS_HASH, None, 0

    def broken(kind: str, seq: int, event_id: int | None, message: str) -> ChainReport:
        return ChainReport(checked, ChainProblem(kind, seq, event_id, message))

    def seqs(first: int, last: int) -> str:
        return f"seq {first}" if first == last else f"seqs {first}-{last}"

    for event in _events_in_order():
        checked += 1
        name = f"event {event.id} (seq {event.seq}, {event.action})"
        if event_hash(event, event.prev_hash) != event.hash:
            return broken("changed", event.seq, event.id, f"{name} was changed: its content no longer matches its hash")
        if event.seq < expected_seq:
            return broken("inserted", event.seq, event.id, f"{name} was inserted: seq {event.seq} is already taken")
        if event.seq > expected_seq:
            return broken("deleted", expected_seq, None,
                          f"{seqs(expected_seq, event.seq - 1)} deleted: {name} follows seq {expected_seq - 1}")
        if event.prev_hash != prev_hash:
            # This event is intact and in place, so its predecessor was rewritten with a fresh hash.
            return broken("changed", expected_seq - 1, prev_id,
                          f"event {prev_id} (seq {expected_seq - 1}) was changed and re-hashed: "
                          f"{name} chains to a different hash")
        prev_hash, prev_id, expected_seq = event.hash, event.id, expected_seq + 1

    head = db.session.get(AuditChainHead, HEAD_ID)
    length, last_hash = (head.length, head.last_hash) if head else (0, GENESIS_HASH)
    seen = expected_seq - 1
    if length > seen:
        return broken("deleted", seen + 1, None,
                      f"{seqs(seen + 1, length)} deleted from the end of the chain (head records {length} events)")
    if length < seen:
        return broken("inserted", length + 1, None,
                      f"seq {length + 1} onwards inserted past the's recorded end (head records {length} events)")
    if last_hash != prev_hash:
        return broken("changed", seen, prev_id,
                      f"event {prev_id} (seq {seen}) was changed and re-hashed: it no longer matches the chain head")
    return ChainReport(checked, None)
