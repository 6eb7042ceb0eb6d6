"""What a recorder's ZIP export holds, read from its central directory.

Recorders export footage as a ZIP with the vendor's player beside the video. Such a
bundle is kept as received, the master: it is never extracted into served paths and
nothing in it is ever run. This module only lists it: each entry's name and sizes,
whether it is video (its name and its own leading bytes, judged by app.clips.sniff) or
something else (players, executables, notes), and what about it is suspect. Limits are
checked on the central directory before any entry is opened, so a ZIP bomb costs
nothing; an entry is opened only to read its first few hundred bytes.
"""
from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from app.clips import sniff
from app.storage.base import ClipStorage

# Names recorders give their video files; judged together with the entry's leading bytes.
VIDEO_EXTENSIONS = frozenset({
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "m2ts", "mts", "mpg", "mpeg", "ps", "vob", "dav",
    "264", "h264", "265", "h265", "hevc", "asf", "wmv",
})
EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "dll", "com", "scr", "msi", "bat", "cmd", "ps1", "vbs", "js", "jar", "sh", "app", "dmg", "pkg", "lnk",
})
# Leading bytes of executables: Windows PE, ELF, Mach-O (both byte orders, 32/64-bit, fat).
_EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                     b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Bounds on what a bundle may declare, checked before any entry is opened."""

    max_entries: int = 2_000
    max_total_bytes: int = 64 * 1024**3  # all entries, uncompressed
    max_ratio: int = 200  # uncompressed / compressed, per entry ...
    ratio_floor_bytes: int = 1024**2  # ... for entries larger than this (small files compress well)
    max_name_length: int = 1_024


class BundleError(ValueError):
    """A file that is no ZIP, or a ZIP past the limits; ``code`` names which (for an API error)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Entry:
    name: str
    size: int  # uncompressed, as the central directory declares it
    compressed_size: int
    container: str | None  # what the entry's leading bytes are (app.clips.sniff), None if no video container
    named_as_video: bool
    executable: bool
    # Why the entry's name could not be used as a path: "parent" (a .. component),
    # "absolute", "drive" (C:), "backslash". The bundle is never extracted; flagged for the reader.
    unsafe_name: tuple[str, ...] = ()
    # Why the entry's bytes could not be read: "encrypted", "unsupported_compression", "damaged".
    unreadable: str | None = None

    @property
    def is_video(self) -> bool:
        return self.container is not None and self.container != "zip"


@dataclass(frozen=True)
class Bundle:
    entries: tuple[Entry, ...]
    total_size: int = field(default=0)

    @property
    def videos(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.is_video)

    @property
    def others(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if not e.is_video)


def _extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower().lstrip(".")


def unsafe_name(name: str) -> tuple[str, ...]:
    """What would let ``name`` escape a directory it was extracted into (empty when nothing)."""
    reasons = []
    parts = re.split(r"[/\\]", name)
    if ".." in parts:
        reasons.append("parent")
    if name.startswith(("/", "\\")):
        reasons.append("absolute")
    if _DRIVE_LETTER.match(name):
        reasons.append("drive")
    if "\\" in name:
        reasons.append("backslash")
    return tuple(reasons)


def _check_limits(infos: list[zipfile.ZipInfo], limits: Limits) -> int:
    if len(infos) > limits.max_entries:
        raise BundleError("bundle_too_many_entries",
                          f"This ZIP has {len(infos)} entries; at most {limits.max_entries} are accepted.")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise BundleError("bundle_too_large",
                          f"This ZIP unpacks to {total} bytes; at most {limits.max_total_bytes} are accepted.")
    for info in infos:
        if len(info.filename) > limits.max_name_length:
            raise BundleError("bundle_name_too_long",
                              f"An entry's name is {len(info.filename)} characters long; "
                              f"at most {limits.max_name_length} are accepted.")
        if info.file_size > limits.ratio_floor_bytes and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise BundleError("bundle_compression_ratio",
                              f"The entry {info.filename!r} unpacks to {info.file_size} bytes from "
                              f"{info.compress_size}: more than {limits.max_ratio} times, as ZIP bombs do.")
    return total


def _head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes, str | None]:
    """The entry's first bytes, enough for app.clips.sniff; or why they cannot be read."""
    if info.flag_bits & 0x1:
        return b"", "encrypted"
    try:
        with archive.open(info) as member:
            return member.read(sniff.SNIFF_BYTES), None
    except NotImplementedError:
        return b"", "unsupported_compression"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError):
        return b"", "damaged"


def _entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Entry:
    head, unreadable = _head(archive, info)
    container = sniff.detect(head, info.file_size, list(sniff.CONTAINERS)) if head else None
    if not isinstance(container, str):
        container = None
    return Entry(name=info.filename, size=info.file_size, compressed_size=info.compress_size, container=container,
                 named_as_video=_extension(info.filename) in VIDEO_EXTENSIONS,
                 executable=_extension(info.filename) in EXECUTABLE_EXTENSIONS or head.startswith(_EXECUTABLE_MAGIC),
                 unsafe_name=unsafe_name(info.filename), unreadable=unreadable)


class StoredObject(io.RawIOBase):
    """A stored clip as a seekable, read-only file, read by range: zipfile reads the
    central directory at the end and a few bytes per entry, never the whole object."""

    # zipfile reads a header, then a name, then a few bytes of data, each a separate small read:
    # one read of this many bytes serves them all (one request each, on an object store).
    READ_AHEAD = 64 * 1024

    def __init__(self, storage: ClipStorage, key: str, size: int):
        self._storage, self._key, self._size, self._position = storage, key, size, 0
        self._window_start, self._window = 0, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the object")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        end = min(self._size, self._position + len(buffer))
        if end <= self._position:
            return 0
        window_end = self._window_start + len(self._window)
        if not (self._window_start <= self._position and end <= window_end):
            fetch_end = min(self._size, max(end, self._position + self.READ_AHEAD))
            self._window_start = self._position
            self._window = self._storage.read_bytes(self._key, self._position, fetch_end)
        data = self._window[self._position - self._window_start:end - self._window_start]
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


def list_entries(path: str | Path | io.RawIOBase, limits: Limits | None = None) -> Bundle:
    """The files of the ZIP at ``path`` (or in a seekable file), directories left out, in the order it lists them.

    Raises BundleError when ``path`` is no readable ZIP or declares more than ``limits`` allow.
    """
    limits = limits or Limits()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            total = _check_limits(infos, limits)
            return Bundle(entries=tuple(_entry(archive, i) for i in infos), total_size=total)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, BundleError):
            raise
        raise BundleError("bundle_unreadable", "This file is no ZIP whose list of entries can be read.") from None


def require_video(bundle: Bundle) -> Bundle:
    """``bundle`` if it holds a video entry; a BundleError otherwise (a ZIP of documents is no footage)."""
    if not bundle.videos:
        raise BundleError("bundle_without_video",
                          "This ZIP holds no video file a recorder exports; send the video itself.")
    return bundle
