"""Scratch PostgreSQL databases for test runs and benchmarks (no pytest imports here)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from config import _sqlalchemy_url


@contextmanager
def scratch_pg_database(url: str, suffix: str) -> Iterator[str]:
    """A database of this process's own beside ``url``'s, dropped afterwards.

    Runs in parallel (or a crashed earlier run) never share tables.
    """
    base = sa.engine.make_url(_sqlalchemy_url(url))
    name = f"{base.database}_{suffix}_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
