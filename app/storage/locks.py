"""One writer at a time per stored object, across every process and node that shares the store.

An object-store upload has no file to ``flock`` (app/storage/local.py), so the writer
lock lives in the database every node already shares:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a
  connection of its own, in autocommit mode, held while the chunk's bytes arrive and
  released when the writer leaves. No transaction stays open meanwhile, and no row is
  touched. It is not a lease: a slow but living writer never loses it to a second one
  (two writers interleaving parts would corrupt the upload), and a node that dies loses
  it with its connection, so nobody waits on a dead node for longer than the server
  takes to notice the connection is gone.
- SQLite: the database is one file on one machine, so every process that can share the
  upload runs on that machine: an ``flock`` on a lock file there does the same job.

Redis (also shared by a fleet) was not chosen: it is optional here (the embedded default
has none), and its locks are leases that expire under a stalled writer.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import sqlalchemy as sa

from app.storage.base import StorageBusy, StorageUnavailable, check_key

# The first key of pg_try_advisory_lock(int4, int4): this lock's namespace ("PLS3").
_NAMESPACE = 0x504C_5333


class WriterLocks(ABC):
    @abstractmethod
    def hold(self, key: str) -> AbstractContextManager[None]:
        """Exclusive use of ``key`` until the block ends; StorageBusy if another writer has it."""


class FileLocks(WriterLocks):
    """``flock`` on ``<directory>/<key>.lock``: every process on this machine honours it."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory or Path(tempfile.gettempdir()) / "porchlight-storage-locks")

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{check_key(key)}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StorageBusy(key) from None
            try:
                # The holder before us removes the file as it leaves: a lock taken on a file no
                # longer at ``path`` guards nothing, so take the one that is there now.
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)


class PostgresAdvisoryLocks(WriterLocks):
    def __init__(self, engine: Callable[[], sa.Engine]) -> None:
        self._engine = engine

    @staticmethod
    def lock_id(key: str) -> int:
        # 32 bits of a random key: two uploads sharing them only make one wait (423) for the other.
        value = int(check_key(key)[:8], 16)
        return value - (1 << 32) if value >= 1 << 31 else value

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        lock = self.lock_id(key)
        try:
            connection = self._engine().connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.DBAPIError as error:
            raise StorageUnavailable(f"the database that holds upload locks is unavailable: {error.orig}") from None
        try:
            if not connection.scalar(sa.select(sa.func.pg_try_advisory_lock(_NAMESPACE, lock))):
                raise StorageBusy(key)
            try:
                yield
            finally:
                try:
                    connection.scalar(sa.select(sa.func.pg_advisory_unlock(_NAMESPACE, lock)))
                except sa.exc.DBAPIError:
                    # The session is gone, and its locks with it; never pool a connection that may hold one.
                    connection.invalidate()
        finally:
            connection.close()


def database_locks(engine: Callable[[], sa.Engine]) -> WriterLocks:
    """The writer locks for the app's database (see the module's docstring)."""

    class _ByDialect(WriterLocks):
        def __init__(self) -> None:
            self._chosen: WriterLocks | None = None

        def hold(self, key: str) -> AbstractContextManager[None]:
            if self._chosen is None:
                dialect = engine().dialect.name
                self._chosen = PostgresAdvisoryLocks(engine) if dialect == "postgresql" else FileLocks()
            return self._chosen.hold(key)

    return _ByDialect()
