"""SQL that every domain writes the same way: on both databases Porchlight runs on.

PostgreSQL in production, SQLite for ``make run`` and half the tests: where they
differ (INSERT ... ON CONFLICT, row locks, how many parameters one statement takes),
the difference is handled here once.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

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


def insert_rows(table: sa.Table, rows: Sequence[Mapping[str, Any]], **same: Any) -> None:
    """INSERT ``rows`` (each naming the same columns) in one statement with one parameter, in their
    order; ``same`` are the values every row shares.

    The rows travel as one JSON array that the database unpacks (``jsonb_array_elements`` on
    PostgreSQL, ``json_each`` on SQLite) in an INSERT ... SELECT. An executemany binds every
    value through the driver and, on PostgreSQL, runs the statement once a row: for a request's
    1,000 asks this takes a third of the CPU and half the time (bench/fanout.py). Each value
    goes through its column type's bind processing first (enums, UTC timestamps), as it would
    in an executemany. Scalar columns only.
    """
    if not rows:
        return
    dialect_ = db.session.get_bind().dialect
    columns = list(rows[0])
    processors = [(name, table.c[name].type.bind_processor(dialect_)) for name in columns]
    values = [[row[name] if process is None else process(row[name]) for name, process in processors] for row in rows]
    payload = sa.bindparam("rows", json.dumps(values, default=_json_value, separators=(",", ":")), type_=sa.Text)
    if dialect_.name == "postgresql":
        elements = (sa.func.jsonb_array_elements(sa.cast(payload, postgresql.JSONB))
                    .table_valued("value", with_ordinality="n").render_derived(name="r"))
        selected = [sa.cast(elements.c.value.op("->>")(sa.literal_column(str(i))), table.c[name].type)
                    for i, name in enumerate(columns)]
        order = elements.c.n
    else:
        elements = sa.func.json_each(payload).table_valued("key", "value").alias("r")
        selected = [sa.func.json_extract(elements.c.value, sa.literal_column(f"'$[{i}]'"))
                    for i in range(len(columns))]
        order = elements.c.key
    shared = [sa.literal(value, table.c[name].type) for name, value in same.items()]
    query = sa.select(*selected, *shared).select_from(elements).order_by(order)
    db.session.execute(sa.insert(table).from_select([*columns, *same], query, include_defaults=False))


def _json_value(value: object) -> object:
    """A value JSON has no type for, as the database reads it back from text (timestamps, after bind processing)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value insert_rows can send")
