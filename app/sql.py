"""SQL that every domain writes the same way: on both databases Porchlight runs on.

PostgreSQL in production, SQLite for ``make run`` and half the tests: where they
differ (INSERT ... ON CONFLICT, row locks, how many parameters one statement takes),
the difference is handled here once.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

T = TypeVar("T")
# Ids per IN (...) list where nothing else decides.
ID_CHUNK = 5_000


def dialect() -> str:
    """The database this session talks to: ``"postgresql"`` or ``"sqlite"``."""
    return db.session.get_bind().dialect.name


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of at most ``size``, for IN (...) lists and batched writes.

    SQLite binds at most 32,766 parameters in one statement; a list of ids can be longer
    (a dense downtown holds more cameras than that).
    """
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def dialect_insert(table: sa.Table | type) -> postgresql.Insert | sqlite.Insert:
    """The database's own INSERT of ``table``, which has ``on_conflict_do_nothing``."""
    return (postgresql.insert if dialect() == "postgresql" else sqlite.insert)(table)


def for_update(query: sa.Select, table: sa.Table, *criteria: sa.ColumnElement[bool]) -> sa.Select:
    """``query`` (selecting the row ``criteria`` name) made to hold that row until commit.

    PostgreSQL locks the row (FOR UPDATE). SQLite has no row locks: a no-op UPDATE
    takes its database-wide write lock first, so the read sees the latest commit and
    no other writer can change the row before ours commits.
    """
    if dialect() == "sqlite":
        db.session.execute(sa.update(table).where(*criteria).values(id=table.c.id))
    return query.with_for_update().execution_options(populate_existing=True)


# pg_advisory_xact_lock keys: one number per installation-wide critical section.
ADVISORY_LOCKS = {"media_claim": 0x5052_4D31}


def serialise(name: str, table: sa.Table, *criteria: sa.ColumnElement[bool]) -> None:
    """Let one transaction at a time past this point, until it commits (``name``: ADVISORY_LOCKS).

    PostgreSQL takes a transaction-scoped advisory lock. SQLite has none: a no-op UPDATE
    of the rows ``criteria`` name takes its database-wide write lock, which serialises
    as much (and the reads after it see the latest commit).
    """
    if dialect() == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCKS[name])))
    else:
        db.session.execute(sa.update(table).where(*criteria).values(id=table.c.id))
