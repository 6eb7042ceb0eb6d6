"""The append-only audit log: hash chains, one per agency, one for the installation, and
the sealed history chain that held every event before migration 0017."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

GENESIS_HASH = "0" * 64

# The chains' keys. An agency's chain is "agency:<id>"; events without an agency (owners,
# sign-ins, the operator's commands) are in the installation's. The history chain is the
# single chain every event was in before 0017: sealed, nothing is appended to it, and
# every other chain's first event chains from its final hash.
HISTORY = "history"
INSTALLATION = "installation"
AGENCY_PREFIX = "agency:"


def agency_chain(agency_id: int) -> str:
    return f"{AGENCY_PREFIX}{agency_id}"


def chain_for(agency_id: int | None) -> str:
    """The chain an event of this agency (None: of the installation) is appended to."""
    return INSTALLATION if agency_id is None else agency_chain(agency_id)


def chain_agency(chain: str) -> int | None:
    """The agency whose chain this is (None for the installation's and the history chain)."""
    return int(chain[len(AGENCY_PREFIX):]) if chain.startswith(AGENCY_PREFIX) else None


class AuditEvent(Base):
    """One state change. ``hash`` covers every column but ``chain`` and the previous event's hash.

    The chain an event is in is bound by its seq and links (moving it leaves a gap in one
    chain and a duplicate in another) and, outside the history chain, by its agency_id,
    which the hash covers and must name the chain's agency.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(sa.String(32))
    # Position in its chain: 1, 2, 3 ... with no gaps, so a deleted row shows.
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    agency_id: Mapped[int | None] = mapped_column(index=True)
    source_ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.UniqueConstraint("chain", "seq"),
                      sa.Index("ix_audit_events_target", "target_type", "target_id"))


class AuditChainHead(Base):
    """One row per chain: its length and last hash, and the hash its first event chains from.

    A committing transaction updates its chains' rows before writing its events, which
    serialises appenders to the same chain (a row lock on PostgreSQL, the write lock on
    SQLite) for the last few statements of the transaction (app/audit/service.py); writers
    to different chains (agencies) do not wait on each other. Verification compares the
    row with the chain's last event, so that deleting the newest events shows too.

    ``link_hash`` is the recorded link: the genesis hash for the history chain, the
    history chain's final hash for every other (verification checks both ends of it).
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(sa.String(32), unique=True)
    agency_id: Mapped[int | None] = mapped_column()
    length: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
    link_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
    # Set on the history chain only: from then on nothing may be appended to it.
    sealed_at: Mapped[datetime | None] = mapped_column()


HISTORY_HEAD_ROW = {"chain": HISTORY, "agency_id": None, "length": 0, "last_hash": GENESIS_HASH,
                    "link_hash": GENESIS_HASH}


@sa.event.listens_for(AuditChainHead.__table__, "after_create")
def _seed_chain_head(table, connection, **kw):
    # metadata.create_all (tests, benchmarks) seeds the empty, sealed history chain as
    # migrations 0001 + 0017 leave a new installation. No explicit id: on PostgreSQL that
    # would leave the id sequence behind, and the first agency's head would collide with it.
    connection.execute(table.insert().values(**HISTORY_HEAD_ROW, sealed_at=utcnow()))


class AuditCheckpoint(Base):
    """A signed statement of a chain's head: "chain X had seq N with hash H at time T".

    Published on the public transparency pages (app/audit/checkpoints.py). Once someone
    has a copy, the log can no longer lose or rewrite its events up to seq N unnoticed:
    verification finds the event at seq N missing or with another hash. One per chain
    and seq: a chain that has not grown since is not signed again.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (sa.UniqueConstraint("chain", "seq", name="uq_audit_checkpoints_chain_seq"),
                      sa.Index("ix_audit_checkpoints_chain_signed", "chain", "signed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(sa.String(32))
    agency_id: Mapped[int | None] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime] = mapped_column()
    key_id: Mapped[str] = mapped_column(sa.String(16))
    # Base64 of the 64-byte Ed25519 signature over canonical.checkpoint_message(...).
    signature: Mapped[str] = mapped_column(sa.String(88))
