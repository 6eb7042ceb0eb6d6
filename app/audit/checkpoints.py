"""Signed checkpoints of the audit chains' heads, so that a trimmed log shows.

A chain's head row can be rolled back along with its newest events, and the chain still
verifies. So each chain's head (seq, hash) is signed with the installation's key
(app/audit/signing.py) on a schedule (AUDIT_CHECKPOINT_INTERVAL_HOURS, from the
scheduler's tick) and on demand (``flask audit checkpoint``), stored, and published on
the public transparency pages. Whoever keeps a copy can later show that the log lost or
rewrote an event it once had: ``flask audit verify --checkpoints`` here, or the
standalone app/audit/verify_export.py on an export.

A chain is not signed again while it has not grown, and never signed when it no
longer holds its own last checkpoint or its head is not its last event: the signature
would vouch for a log already known to be broken.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.audit import service as audit
from app.audit.canonical import checkpoint_message, timestamp
from app.audit.models import HISTORY, INSTALLATION, AuditChainHead, AuditCheckpoint, AuditEvent, chain_agency
from app.audit.proofs import checkpoint_problems
from app.audit.signing import ALGORITHM, signer
from app.common.settings import setting
from app.db import utcnow
from app.extensions import db

log = logging.getLogger(__name__)

# The public page lists this many of a chain's checkpoints, newest first (over a year of daily ones).
PUBLISHED = 400


@dataclass
class CheckpointRun:
    made: list[AuditCheckpoint] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # chain → why it was not signed


def hash_at(chain: str, seq: int) -> str | None:
    """The hash of the chain's event at ``seq`` (None: no such event)."""
    return db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.chain == chain, AuditEvent.seq == seq)
                             .order_by(AuditEvent.id).limit(1))


def as_published(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The checkpoint as signed and published: ``signed_at`` is the exact string the signature covers."""
    return {"chain": checkpoint.chain, "seq": checkpoint.seq, "hash": checkpoint.hash,
            "signed_at": timestamp(checkpoint.signed_at), "key_id": checkpoint.key_id,
            "signature": checkpoint.signature}


def _latest(chain: str) -> AuditCheckpoint | None:
    return db.session.scalar(sa.select(AuditCheckpoint).where(AuditCheckpoint.chain == chain)
                             .order_by(AuditCheckpoint.seq.desc()).limit(1))


def _why_not(chain: str, length: int, last_hash: str, latest: AuditCheckpoint | None) -> str | None:
    if hash_at(chain, length) != last_hash:
        return f"its head (seq {length}) is not its last event: run `flask audit verify`"
    if latest is not None and hash_at(chain, latest.seq) != latest.hash:
        return f"it no longer contains its checkpoint at seq {latest.seq}: run `flask audit verify --checkpoints`"
    return None


def _insert(row: dict[str, Any]) -> bool:
    # Two schedulers signing the same head at once: the second insert does nothing.
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    result = db.session.execute(dialect.insert(AuditCheckpoint.__table__).values(**row)
                                .on_conflict_do_nothing(index_elements=["chain", "seq"]))
    return bool(result.rowcount)


def make_checkpoints(now: datetime | None = None, via: str = "command") -> CheckpointRun:
    """Sign the head of every chain that has grown since its last checkpoint; audited with what was signed."""
    now = now or utcnow()
    key = signer()
    run = CheckpointRun()
    heads = db.session.execute(sa.select(AuditChainHead.chain, AuditChainHead.length, AuditChainHead.last_hash)
                               .where(AuditChainHead.length > 0)).all()
    for chain, length, last_hash in sorted(heads, key=lambda head: audit.chain_sort_key(head.chain)):
        latest = _latest(chain)
        if latest is not None and latest.seq >= length:
            if latest.seq > length:
                run.refused[chain] = (f"its head records {length} events, fewer than its checkpoint at seq "
                                      f"{latest.seq}: the log was trimmed")
            continue
        why = _why_not(chain, length, last_hash, latest)
        if why:
            run.refused[chain] = why
            continue
        row = {"chain": chain, "agency_id": chain_agency(chain), "seq": length, "hash": last_hash,
               "signed_at": now, "key_id": key.key_id}
        row["signature"] = key.sign(checkpoint_message({**row, "signed_at": timestamp(now)}))
        if _insert(row):
            run.made.append(AuditCheckpoint(**row))
    for chain, why in run.refused.items():
        log.error("audit checkpoint of %s refused: %s", chain, why)
    if run.made or run.refused:
        audit.record("audit.checkpointed", target_type="audit_checkpoint", actor=audit.NO_ACTOR, details={
            "via": via, "key_id": key.key_id, "signed": {c.chain: c.seq for c in run.made}, "refused": run.refused})
    db.session.commit()
    return run


def checkpoint_due(now: datetime) -> int:
    """The scheduler's step: checkpoints when the newest is older than AUDIT_CHECKPOINT_INTERVAL_HOURS (0: never)."""
    hours = setting("AUDIT_CHECKPOINT_INTERVAL_HOURS")
    if hours <= 0:
        return 0
    newest = db.session.scalar(sa.select(sa.func.max(AuditCheckpoint.signed_at)))
    if newest is not None and newest > now - timedelta(hours=hours):
        return 0
    return len(make_checkpoints(now, via="schedule").made)


def published(chains: list[str], limit: int = PUBLISHED) -> dict[str, Any]:
    """The public document: the keys that verify, and each chain's newest checkpoints."""
    key = signer()
    rows: list[AuditCheckpoint] = []
    for chain in chains:
        rows += db.session.scalars(sa.select(AuditCheckpoint).where(AuditCheckpoint.chain == chain)
                                   .order_by(AuditCheckpoint.seq.desc()).limit(limit))
    return {"algorithm": ALGORITHM, "key_id": key.key_id, "public_key": key.published_keys()[0]["public_key"],
            "keys": key.published_keys(), "chains": chains, "checkpoints": [as_published(row) for row in rows]}


def installation_chains() -> list[str]:
    return [INSTALLATION, HISTORY]


def verify_published(checkpoints: list[dict[str, Any]]) -> list[str]:
    """What is wrong with this database's log as to published checkpoints (signed by our keys)."""
    return checkpoint_problems(checkpoints, signer().public_keys(), hash_at)
