"""Appending to and verifying the audit chains.

Every service function that changes state calls :func:`record` in the same
transaction as the change, so an event exists exactly when the change does. At commit
each event joins the chain of its agency (``agency:<id>``) or, without one, the
installation's (app/audit/models.py); the sealed ``history`` chain holds what was
recorded before chains were per agency, and every other chain starts from its final hash.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.dialects import postgresql, sqlite

from app.audit.canonical import event_hash
from app.audit.models import (
    AGENCY_PREFIX,
    GENESIS_HASH,
    HISTORY,
    INSTALLATION,
    AuditChainHead,
    AuditEvent,
    chain_agency,
    chain_for,
)
from app.db import utcnow
from app.extensions import db


def _source_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


# ``actor=NO_ACTOR``: the system acting on its own within someone's request (telling an
# address's holder about another account's attempt, say), which must not be put down to
# the signed-in user: their data export would show it.
NO_ACTOR: Any = object()


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
    """Add one event to its agency's chain when the caller's transaction commits (and only then).

    ``agency_id`` (else the actor's agency) picks the chain: none, the installation's.
    The event gets its place in the chain (chain, seq, prev_hash, hash) in the commit itself:
    see :func:`_chain_pending`. Until then it is not in the session, so a rolled-back
    transaction leaves no event and takes no place in the chain.
    """
    if actor is NO_ACTOR:
        actor = None
    elif actor is None and has_request_context() and current_user.is_authenticated:
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
_HEADS = AuditChainHead.__table__
_EVENTS = AuditEvent.__table__
_EVENT_COLUMNS = tuple(column.key for column in _EVENTS.columns if column.key != "id")
# The statements of every commit with events, built once (values bound per commit): they run
# while the chain's head row is locked.
_BUMP = (sa.update(_HEADS).where(_HEADS.c.chain == sa.bindparam("head_chain"))
         .values(length=_HEADS.c.length + sa.bindparam("added", type_=sa.BigInteger))
         .returning(_HEADS.c.length, _HEADS.c.last_hash))
_SET_LAST_HASH = (sa.update(_HEADS).where(_HEADS.c.chain == sa.bindparam("head_chain"))
                  .values(last_hash=sa.bindparam("new_hash")))
# RETURNING makes several events one statement (insertmanyvalues); nothing reads the ids.
_INSERT_EVENTS = sa.insert(_EVENTS).returning(_EVENTS.c.id)


def _create_head(session: sa.orm.Session, chain: str) -> None:
    """The head row of a chain's first commit: empty, linked to the history chain's final hash.

    Two first writers of a new agency may race to it: the loser's insert does nothing
    (ON CONFLICT DO NOTHING on both databases), and both go on to lock the one row.
    """
    history_final = session.scalar(sa.select(_HEADS.c.last_hash).where(_HEADS.c.chain == HISTORY))
    link = history_final or GENESIS_HASH
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(_HEADS)
                    .values(chain=chain, agency_id=chain_agency(chain), length=0, last_hash=link, link_hash=link)
                    .on_conflict_do_nothing(index_elements=["chain"]))


def _chain_pending(session: sa.orm.Session) -> None:
    """Chain the transaction's events to their chains' heads and write them: the last thing before the commit.

    Appenders to one chain are serialised by its head row (a row lock on PostgreSQL, the
    write lock on SQLite); another agency's writers lock another row and do not wait.
    Taking it here, as the last thing a transaction does, rather than when the first
    event is recorded, holds it for a few statements and the commit instead of for the
    rest of the request. A transaction with events in several chains locks their heads
    in the order of their keys, so two such transactions cannot deadlock on them.
    """
    if not session.info.get(_PENDING):
        return
    # Whatever else the transaction changed is written first, outside the head row's lock
    # (the commit would flush it after this hook, with the lock held).
    session.flush()
    events = session.info.pop(_PENDING)
    by_chain: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_chain.setdefault(chain_for(event.agency_id), []).append(event)
    for chain in sorted(by_chain):
        batch = by_chain[chain]
        bump = {"head_chain": chain, "added": len(batch)}
        row = session.execute(_BUMP, bump).first()
        if row is None:
            _create_head(session, chain)
            row = session.execute(_BUMP, bump).one()
        length, prev_hash = row
        for seq, event in enumerate(batch, start=length - len(batch) + 1):
            event.chain, event.seq, event.prev_hash = chain, seq, prev_hash
            event.hash = prev_hash = event_hash(event, prev_hash)
        session.execute(_SET_LAST_HASH, {"head_chain": chain, "new_hash": prev_hash})
    # Plain rows, not the ORM's unit of work: less work while the heads stay locked.
    session.execute(_INSERT_EVENTS, [{name: getattr(event, name) for name in _EVENT_COLUMNS} for event in events])


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


# --- verification -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    chain: str
    kind: str  # changed | inserted | deleted | misplaced | link
    seq: int
    event_id: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    """One chain's verification: what its head records and the first problem, if any."""

    chain: str
    events_checked: int
    length: int
    last_hash: str
    link_hash: str
    sealed: bool
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class AuditReport:
    """Several chains' verification, in the order of :func:`chain_sort_key`."""

    chains: list[ChainReport]

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.chains)

    @property
    def events_checked(self) -> int:
        return sum(report.events_checked for report in self.chains)

    @property
    def problem(self) -> ChainProblem | None:
        return next((report.problem for report in self.chains if report.problem), None)


def chain_sort_key(chain: str) -> tuple:
    """History, the installation, then agencies by id (anything else last, by name)."""
    if chain == HISTORY:
        return (0, 0, "")
    if chain == INSTALLATION:
        return (1, 0, "")
    agency = chain_agency(chain) if chain[len(AGENCY_PREFIX):].isdigit() else None
    return (2, agency, "") if agency is not None else (3, 0, chain)


def chain_names() -> list[str]:
    """Every chain that has a head row or an event, in verification order."""
    names = set(db.session.scalars(sa.select(_HEADS.c.chain)))
    names |= set(db.session.scalars(sa.select(AuditEvent.chain).distinct()))
    return sorted(names, key=chain_sort_key)


def events_in_order(chain: str, batch: int = 5000) -> Iterator[sa.Row]:
    # Plain rows in keyset pages: constant memory however long the chain is.
    table = AuditEvent.__table__
    last_seq, last_id = -1, -1
    while True:
        rows = db.session.execute(
            sa.select(table)
            .where(table.c.chain == chain, sa.tuple_(table.c.seq, table.c.id) > sa.tuple_(last_seq, last_id))
            .order_by(table.c.seq, table.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_seq, last_id = rows[-1].seq, rows[-1].id


def head_row(chain: str) -> sa.Row | None:
    return db.session.execute(sa.select(_HEADS).where(_HEADS.c.chain == chain)).first()


def _seqs(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seqs {first}-{last}"


def verify_one(chain: str) -> ChainReport:
    """Walk one chain and report its first changed, inserted, deleted or misplaced row, or a broken link."""
    head = head_row(chain)
    if chain == HISTORY:
        expected_link = GENESIS_HASH
    else:
        history = head_row(HISTORY)
        expected_link = history.last_hash if history else GENESIS_HASH
    link = head.link_hash if head else expected_link
    length, last_hash = (head.length, head.last_hash) if head else (0, link)
    checked = 0

    def report(problem: ChainProblem | None) -> ChainReport:
        return ChainReport(chain, checked, length, last_hash, link, bool(head and head.sealed_at), problem)

    def broken(kind: str, seq: int, event_id: int | None, message: str) -> ChainReport:
        return report(ChainProblem(chain, kind, seq, event_id, message))

    if link != expected_link:
        return broken("link", 1, None,
                      f"the chain's recorded link {link[:12]}… is not the history chain's final hash "
                      f"{expected_link[:12]}…: its start was rewritten")
    owner = chain_agency(chain)
    expected_seq, prev_hash, prev_id = 1, link, None
    for event in events_in_order(chain):
        checked += 1
        name = f"event {event.id} (seq {event.seq}, {event.action})"
        if event_hash(event, event.prev_hash) != event.hash:
            return broken("changed", event.seq, event.id, f"{name} was changed: its content no longer matches its hash")
        if event.seq < expected_seq:
            return broken("inserted", event.seq, event.id, f"{name} was inserted: seq {event.seq} is already taken")
        if event.seq > expected_seq:
            return broken("deleted", expected_seq, None,
                          f"{_seqs(expected_seq, event.seq - 1)} deleted: {name} follows seq {expected_seq - 1}")
        if chain != HISTORY and event.agency_id != owner:
            # The agency is in the hash: an event moved here from another chain shows by it.
            return broken("misplaced", event.seq, event.id,
                          f"{name} belongs to {chain_for(event.agency_id)}, not to this chain")
        if event.prev_hash != prev_hash:
            if expected_seq == 1:
                return broken("link", 1, event.id, f"{name} does not chain from the chain's recorded link")
            # This event is intact and in place, so its predecessor was rewritten with a fresh hash.
            return broken("changed", expected_seq - 1, prev_id,
                          f"event {prev_id} (seq {expected_seq - 1}) was changed and re-hashed: "
                          f"{name} chains to a different hash")
        prev_hash, prev_id, expected_seq = event.hash, event.id, expected_seq + 1

    seen = expected_seq - 1
    if head is not None and length < seen:
        # Writers append while the walk reads: an event is committed with its head's new length in
        # one transaction, so the head read again covers every committed event the walk saw. Only
        # events the head still does not cover were inserted behind its back.
        fresh = head_row(chain)
        if fresh is not None and fresh.length >= seen:
            # Exactly as far as the walk read: its hash is checked below; further: the walk vouches
            # for the events it read, the next verification for the ones committed since.
            length, last_hash = (fresh.length, fresh.last_hash) if fresh.length == seen else (seen, prev_hash)
    if head is None and seen:
        return broken("inserted", 1, None, f"the chain has no head row: its {seen} events are not on record")
    if length > seen:
        return broken("deleted", seen + 1, None,
                      f"{_seqs(seen + 1, length)} deleted from the end of the chain (head records {length} events)")
    if length < seen:
        return broken("inserted", length + 1, None,
                      f"seq {length + 1} onwards inserted past the chain's recorded end (head records {length} events)")
    if last_hash != prev_hash:
        return broken("changed", seen, prev_id,
                      f"event {prev_id} (seq {seen}) was changed and re-hashed: it no longer matches the chain head")
    return report(None)


def verify_chain(chains: Iterable[str] | None = None) -> AuditReport:
    """Verify the chains named (default: every chain), each on its own: one break stops only its chain's walk."""
    names = chain_names() if chains is None else sorted(set(chains), key=chain_sort_key)
    return AuditReport([verify_one(name) for name in names])
