"""Clips as files under CLIP_STORAGE_ROOT: ``<root>/<key[:2]>/<key>``.

Paths are built only from validated server-generated keys. One writer at a time
holds an exclusive ``flock`` on the file, which every app process on the machine
honours; a process that dies releases its lock with its file descriptors.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.storage.base import (
    CHUNK_SIZE,
    Appender,
    ClipStorage,
    ObjectMissing,
    StorageBusy,
    StorageUnavailable,
    check_key,
)


@contextmanager
def _refusals(what: str) -> Iterator[None]:
    """A disk that refuses (full, read-only, not a directory) as the interface's StorageUnavailable:
    the caller answers 503 and the bytes that counted before are untouched."""
    try:
        yield
    except FileExistsError:
        raise
    except OSError as error:
        raise StorageUnavailable(f"could not {what}: {error.strerror or error}") from None


class _FileAppender(Appender):
    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self.offset = offset
        self.written = 0
        self._prepared = False

    def write(self, data: bytes | memoryview) -> None:
        if not self._prepared:
            # Whatever lies past the committed offset came from a writer that never
            # committed it (a crash, a failed checksum): it is not part of the upload.
            os.ftruncate(self._fd, self.offset)
            os.lseek(self._fd, self.offset, os.SEEK_SET)
            self._prepared = True
        view = memoryview(data)
        with _refusals("write a clip"):
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self.written += n

    def discard(self) -> None:
        if self._prepared:
            os.ftruncate(self._fd, self.offset)
        self.written = 0


class LocalDiskStorage(ClipStorage):
    name = "local"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        key = check_key(key)
        return self.root / key[:2] / key

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageUnavailable(f"{self.root}: {error.strerror}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"{self.root} is not writable")

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def create(self, key: str) -> None:
        path = self._path(key)
        with _refusals(f"create {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a key is never reused, so an existing file means a bug, not a retry.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)

    @contextmanager
    def open_append(self, key: str, offset: int) -> Iterator[Appender]:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StorageBusy(key) from None
            if os.fstat(fd).st_size < offset:
                raise ObjectMissing(f"{key} holds fewer than {offset} bytes")
            yield _FileAppender(fd, offset)
        finally:
            # Closing releases the lock; the page cache makes the bytes readable at once.
            os.close(fd)

    def read(self, key: str, start: int = 0, end: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise ObjectMissing(key)
        # Opened on the first chunk: a response never iterated (a HEAD) leaves no file open.
        return self._chunks(path, start, end, chunk_size)

    @staticmethod
    def _chunks(path: Path, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115
        except FileNotFoundError:
            raise ObjectMissing(path.name) from None
        with handle:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                data = handle.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True
