"""The append-only, hash-chained audit log."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One state change. ``hash`` covers every column and the previous event's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain: 1, 2, 3 ... with no gaps, so a deleted row shows.
    seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
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

    __table_args__ = (sa.Index("ix_audit_events_target", "target_type", "target_id"),)


class AuditChainHead(Base):
    """The single row that records the chain's length and last hash.

    A committing transaction updates it before writing its events, which serialises
    appenders (a row lock on PostgreSQL, the write lock on SQLite) for the last few
    statements of the transaction (app/audit/service.py), and verification compares it with the last event so that
    deleting the newest events shows too.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    length: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)


@sa.event.listens_for(AuditChainHead.__table__, "after_create")
def _seed_chain_head(table, connection, **kw):
    # metadata.create_all (tests, benchmarks) seeds the head as migration 0001 does.
    connection.execute(table.insert().values(id=1, length=0, last_hash=GENESIS_HASH))
