"""The tus 1.0.0 protocol's headers: parsing what clients send, writing what they expect.

Porchlight speaks core tus plus the creation, termination, checksum and expiration
extensions (https://tus.io/protocols/resumable-upload). The rules about uploads
live in :mod:`app.clips.uploads`; this module only translates HTTP headers.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import request
from werkzeug.http import http_date

from app.errors import ApiError

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "checksum", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CHECKSUM_MISMATCH = 460
# Cheap in hashlib, and what tus clients send: tuspy and tus-js-client use sha1.
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
}
# An Upload-Length or Upload-Offset of more digits is not a size any policy allows.
_MAX_DIGITS = 19
_MAX_METADATA = 4096


class ChecksumMismatch(ApiError):
    """460, the checksum extension's own status (not one werkzeug knows, hence the class attribute)."""

    status_code = CHECKSUM_MISMATCH

    def __init__(self, message: str) -> None:
        super().__init__(None, "checksum_mismatch", message)  # type: ignore[arg-type]


def require_resumable() -> None:
    """Every request but OPTIONS names the protocol version it speaks (412 otherwise)."""
    version = request.headers.get("Tus-Resumable")
    if version != TUS_VERSION:
        raise ApiError(412, "tus_version_unsupported",
                       f"Send Tus-Resumable: {TUS_VERSION}; this server speaks tus {TUS_VERSION}.",
                       headers={"Tus-Version": TUS_VERSION})


def _bad_header(name: str, message: str, code: str = "invalid_header") -> ApiError:
    return ApiError(400, code, f"{name}: {message}", fields={name: [message]})


def parse_size(name: str, value: str | None) -> int:
    """A non-negative byte count from a header; 400 naming the header otherwise."""
    if value is None or value == "":
        raise _bad_header(name, "Required.")
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise _bad_header(name, "Must be a non-negative integer.")
    if len(text) > _MAX_DIGITS:
        # Too many digits to be a real size: treat it as "too large", not as garbage.
        return 2**63 - 1
    return int(text)


def parse_metadata(value: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated ``key base64(value)`` pairs (a key may stand alone)."""
    if not value:
        return {}
    if len(value) > _MAX_METADATA:
        raise _bad_header("Upload-Metadata", f"At most {_MAX_METADATA} characters.")
    metadata: dict[str, str] = {}
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or not key.isascii():
            raise _bad_header("Upload-Metadata", "Expected comma-separated 'key base64value' pairs.")
        if key in metadata:
            raise _bad_header("Upload-Metadata", f"Key {key!r} given twice.")
        try:
            metadata[key] = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, ValueError):
            raise _bad_header("Upload-Metadata", f"The value of {key!r} is not base64-encoded UTF-8.") from None
    return metadata


@dataclass(frozen=True)
class Checksum:
    """An Upload-Checksum header: the algorithm and the digest the client computed."""

    algorithm: str
    digest: bytes

    def new(self):
        return CHECKSUM_ALGORITHMS[self.algorithm]()

    def check_body(self) -> BodyCheck:
        return BodyCheck(self)


class BodyCheck:
    """The Upload-Checksum of one PATCH body, hashed on a thread of its own.

    The request thread already writes each block and adds it to the clip's running
    SHA-256; a second hash in line with them made a checksummed upload 0.53 of the
    disk+hash limit against 0.94 without (docs/BENCHMARKS.md). hashlib lets go of the GIL
    on blocks this size, so this thread hashes a block while the request thread writes
    it and receives the next. At most ``DEPTH`` blocks wait, so memory stays flat.
    Use it as a context manager: leaving stops the thread whatever happened.
    """

    DEPTH = 4
    _END = None

    def __init__(self, checksum: Checksum) -> None:
        self.checksum = checksum
        self._hasher = checksum.new()
        self._blocks: queue.Queue[bytes | None] = queue.Queue(self.DEPTH)
        self._thread = threading.Thread(target=self._run, name="tus-checksum", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._blocks.get()) is not self._END:
            self._hasher.update(block)

    def update(self, data: bytes) -> None:
        self._blocks.put(data)

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._blocks.put(self._END)
            self._thread.join()

    def matches(self) -> bool:
        """Whether everything given so far hashes to the client's digest."""
        self._finish()
        return self._hasher.digest() == self.checksum.digest

    def __enter__(self) -> BodyCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()


def parse_checksum(value: str | None) -> Checksum | None:
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        # The checksum extension's answer to an unknown algorithm.
        raise ApiError(400, "checksum_algorithm_unsupported",
                       f"Upload-Checksum: use one of {', '.join(CHECKSUM_ALGORITHMS)}.",
                       fields={"Upload-Checksum": [f"Unsupported algorithm {algorithm!r}."]})
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_header("Upload-Checksum", "The digest must be base64-encoded.") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise _bad_header("Upload-Checksum", f"Not a {algorithm} digest.")
    return Checksum(algorithm, digest)


def expires_header(moment: datetime | None) -> dict[str, str]:
    return {"Upload-Expires": http_date(moment)} if moment else {}


def options_headers(max_size: int) -> dict[str, str]:
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
