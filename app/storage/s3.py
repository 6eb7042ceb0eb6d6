"""Clips in an S3-compatible object store (``STORAGE_URL=s3://bucket/prefix``), through boto3.

Names in the bucket, built only from validated server-generated keys:

    <prefix><key>                        the object, once assembled
    <prefix>partial/<key>/manifest       an unfinished object: its multipart UploadId (JSON)
    <prefix>partial/<key>/seg-<start>    bytes received from offset <start> on, not yet in a part

An upload is one multipart upload. S3 wants parts of at least 5 MiB (but the last), and
tus chunks come in any size, so parts have one fixed size (S3_PART_SIZE; part *i*
holds bytes [(i-1)·size, i·size)) and the bytes of a part not yet full wait in the
bucket as small segment objects, one per chunk: each chunk writes only its own bytes,
and a part is sent once enough have arrived. Everything a writer needs is in the bucket
(the manifest, the parts, the segments) and in the caller's committed offset, so the next
chunk can reach any node; nothing stays in one node's memory or disk between requests.

Bytes past the committed offset (a writer that crashed, a chunk whose checksum failed)
are never trusted: a part only counts when its last byte is below the committed offset,
a segment only when the chain of segments from the last part boundary reaches the
offset; the next writer deletes stale segments and simply sends any later part again
(S3 keeps the last upload of a part number). Parts cannot be deleted one by one; the
ones beyond the final size are never named in CompleteMultipartUpload, and an abort
drops them all. One writer at a time holds an object: app/storage/locks.py.

Reads stream from the bucket through the app (the API records every access; no
pre-signed URL bypasses it). Errors become StorageError subclasses: ObjectMissing for a
missing object or upload, StorageUnavailable for a refusal (AccessDenied, 5xx) or an
endpoint that does not answer.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.base import (
    CHUNK_SIZE,
    Appender,
    ClipStorage,
    ObjectMissing,
    StorageError,
    StorageUnavailable,
    check_key,
)
from app.storage.locks import WriterLocks

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
MAX_PARTS = 10_000
_MISSING = {"NoSuchKey", "NoSuchUpload", "404", "NotFound"}


def parse_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix ending in '/' or empty); ValueError naming the problem."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"STORAGE_URL must look like s3://bucket/prefix, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError("STORAGE_URL takes no query or fragment")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _translate(error: Exception, what: str) -> StorageError:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _MISSING:
            return ObjectMissing(what)
        message = error.response.get("Error", {}).get("Message") or code
        return StorageUnavailable(f"the object store refused to {what}: {code} ({status}) {message}".strip())
    return StorageUnavailable(f"the object store could not be reached to {what}: {error}")


@contextmanager
def _calls(what: str) -> Iterator[None]:
    """boto3's errors as the storage interface's."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise _translate(error, what) from None


@dataclass
class _Pending:
    """An unfinished object as found in the bucket."""

    upload_id: str
    part_size: int
    segments: dict[int, int] = field(default_factory=dict)  # start -> size


class _Body:
    """An object's bytes as an iterable that werkzeug closes (so a HEAD never leaks a connection)."""

    def __init__(self, body: Any, chunk_size: int) -> None:
        self._body, self._chunks = body, body.iter_chunks(chunk_size)

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, "read an object") from None

    def close(self) -> None:
        self._body.close()


class _PartAppender(Appender):
    def __init__(self, store: S3Storage, key: str, offset: int, pending: _Pending, base: list[tuple[int, int]]):
        self._store, self._key, self._pending = store, key, pending
        self.offset = offset
        self.written = 0
        self._size = pending.part_size
        # Committed segments of the part now being filled, then the new bytes after them, kept as
        # the pieces they came in: a part is joined once, so a writer holds about two parts at most.
        self._base = base
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._buffer_start = offset
        self._segment_put: int | None = None
        self._completed = False

    def write(self, data: bytes | memoryview) -> None:
        self._pieces.append(bytes(data))
        self._buffered += len(data)
        self.written += len(data)
        while self._part_end() - self._buffer_start <= self._buffered:
            self._send_part(self._part_end() - self._buffer_start)

    def _part_end(self) -> int:
        start = self._base[0][0] if self._base else self._buffer_start
        return (start // self._size + 1) * self._size

    def _take(self, count: int) -> list[bytes]:
        """The first ``count`` buffered bytes, as pieces, removed from the buffer."""
        taken, need = [], count
        while need:
            piece = self._pieces[0]
            if len(piece) <= need:
                taken.append(self._pieces.pop(0))
                need -= len(piece)
            else:
                taken.append(piece[:need])
                self._pieces[0] = piece[need:]
                need = 0
        self._buffered -= count
        return taken

    def _send_part(self, take: int) -> None:
        start = self._base[0][0] if self._base else self._buffer_start
        earlier = [self._store._get_segment(self._key, s, n) for s, n in self._base]
        body = b"".join(earlier + self._take(take))
        del earlier
        self._store._upload_part(self._key, self._pending.upload_id, start // self._size + 1, body)
        self._base = []
        self._buffer_start += take

    def discard(self) -> None:
        if self._completed:
            # Assembled already: put it back to an unfinished object of ``offset`` bytes.
            self._store._reopen(self._key, self.offset)
            self._completed = False
        elif self._segment_put is not None:
            self._store._delete_objects([self._store._segment_name(self._key, self._segment_put)])
        self._segment_put = None
        self._pieces, self._buffered = [], 0
        self.written = 0

    def flush(self, *, last: bool = False) -> None:
        if last:
            if self._base or self._buffered:
                self._send_part(self._buffered)
            self._store._complete(self._key, self._pending, self.offset + self.written)
            self._completed = True
        elif self._buffered:
            self._store._put(self._store._segment_name(self._key, self._buffer_start), b"".join(self._pieces))
            self._segment_put = self._buffer_start


class S3Storage(ClipStorage):
    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str, *, locks: WriterLocks,
                 part_size: int = 8 * 1024 * 1024, encryption: dict[str, str] | None = None,
                 probe_client: Any = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3_PART_SIZE must be at least {MIN_PART_SIZE} bytes (S3's smallest part)")
        self.client, self.bucket, self.prefix = client, bucket, prefix
        # The health check's client: one attempt and a short timeout, so a load balancer's probe
        # of a store that does not answer gets its answer in seconds, not after every retry.
        self.probe_client = probe_client or client
        self.part_size = part_size
        self.locks = locks
        # ServerSideEncryption (+ SSEKMSKeyId) for every object and multipart upload we create.
        self.encryption = dict(encryption or {})

    # --- names ------------------------------------------------------------------------------------------

    def _object(self, key: str) -> str:
        return f"{self.prefix}{check_key(key)}"

    def _partial(self, key: str) -> str:
        return f"{self.prefix}partial/{check_key(key)}/"

    def _segment_name(self, key: str, start: int) -> str:
        return f"{self._partial(key)}seg-{start:016d}"

    # --- small operations ---------------------------------------------------------------------------

    def _put(self, name: str, body: bytes) -> None:
        with _calls("write an object"):
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body, **self.encryption)

    def _get_segment(self, key: str, start: int, size: int) -> bytes:
        with _calls("read an unfinished upload"):
            data = self.client.get_object(Bucket=self.bucket, Key=self._segment_name(key, start))["Body"].read()
        if len(data) < size:
            raise ObjectMissing(f"{key}: a segment is shorter than listed")
        return data[:size]

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> None:
        if number > MAX_PARTS:
            raise StorageError(f"{key}: more than {MAX_PARTS} parts; raise S3_PART_SIZE")
        with _calls("store a part of an upload"):
            self.client.upload_part(Bucket=self.bucket, Key=self._object(key), UploadId=upload_id,
                                    PartNumber=number, Body=body)

    def _list(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        with _calls("list objects"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found

    def _delete_objects(self, names: list[str]) -> None:
        with _calls("delete objects"):
            for at in range(0, len(names), 1000):
                self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": n} for n in names[at:at + 1000]], "Quiet": True})

    def _head(self, key: str) -> int | None:
        try:
            with _calls("look up an object"):
                return self.client.head_object(Bucket=self.bucket, Key=self._object(key))["ContentLength"]
        except ObjectMissing:
            return None

    def _pending(self, key: str) -> _Pending | None:
        """The unfinished object's manifest and segments, or None when there is none."""
        partial = self._partial(key)
        listed = self._list(partial)
        if f"{partial}manifest" not in listed:
            return None
        try:
            with _calls("read an upload's manifest"):
                manifest = json.loads(self.client.get_object(Bucket=self.bucket,
                                                             Key=f"{partial}manifest")["Body"].read())
        except ObjectMissing:
            return None
        segments = {int(name[len(partial) + 4:]): size for name, size in listed.items()
                    if name.startswith(f"{partial}seg-")}
        return _Pending(manifest["upload_id"], int(manifest["part_size"]), segments)

    def _begin(self, key: str) -> _Pending:
        with _calls("begin an upload"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._object(key),
                                                            **self.encryption)["UploadId"]
        try:
            self._put(f"{self._partial(key)}manifest",
                      json.dumps({"upload_id": upload_id, "part_size": self.part_size}).encode())
        except StorageError:
            self._abort_upload(key, upload_id)
            raise
        return _Pending(upload_id, self.part_size)

    def _abort_upload(self, key: str, upload_id: str) -> None:
        try:
            with _calls("abort an upload"):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._object(key), UploadId=upload_id)
        except ObjectMissing:
            pass

    def _parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        parts: dict[int, tuple[str, int]] = {}
        with _calls("list an upload's parts"):
            for page in self.client.get_paginator("list_parts").paginate(
                    Bucket=self.bucket, Key=self._object(key), UploadId=upload_id):
                parts.update({p["PartNumber"]: (p["ETag"], p["Size"]) for p in page.get("Parts", [])})
        return parts

    def _complete(self, key: str, pending: _Pending, size: int) -> None:
        count = -(-size // pending.part_size)
        parts = self._parts(key, pending.upload_id)
        expected = [min(pending.part_size, size - (n - 1) * pending.part_size) for n in range(1, count + 1)]
        if [parts.get(n, ("", -1))[1] for n in range(1, count + 1)] != expected:
            raise ObjectMissing(f"{key}: the upload's parts do not add up to its {size} bytes")
        with _calls("assemble an upload"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._object(key), UploadId=pending.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n][0]} for n in range(1, count + 1)]})
        self._delete_objects(list(self._list(self._partial(key))))

    def _reopen(self, key: str, offset: int) -> _Pending:
        """An assembled object made unfinished again at ``offset`` (its bytes past that dropped).

        The case of a node that assembled an upload but could not record its last offset
        (the database failed at that moment): the client resends the last chunk, and this
        node carries on from the offset recorded. Whole parts are copied inside the store."""
        size = self._head(key)
        if size is None or size < offset:
            raise ObjectMissing(f"{key} holds fewer than {offset} bytes")
        pending = self._begin(key)
        source = {"Bucket": self.bucket, "Key": self._object(key)}
        whole = offset // pending.part_size
        with _calls("reopen an assembled upload"):
            for number in range(1, whole + 1):
                first = (number - 1) * pending.part_size
                self.client.upload_part_copy(Bucket=self.bucket, Key=self._object(key), UploadId=pending.upload_id,
                                             PartNumber=number, CopySource=source,
                                             CopySourceRange=f"bytes={first}-{first + pending.part_size - 1}")
        start = whole * pending.part_size
        if offset > start:
            self._put(self._segment_name(key, start), self.read_bytes(key, start, offset))
            pending.segments[start] = offset - start
        with _calls("reopen an assembled upload"):
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        return pending

    # --- the interface -------------------------------------------------------------------------------

    def create(self, key: str) -> None:
        self._begin(key)

    @contextmanager
    def open_append(self, key: str, offset: int) -> Iterator[Appender]:
        with self.locks.hold(key):
            pending = self._pending(key) or self._reopen(key, offset)
            size = pending.part_size
            first = offset // size * size
            # The committed segments from the part boundary up to ``offset``; anything else is stale.
            base, at = [], first
            while at < offset:
                length = pending.segments.get(at)
                if not length:
                    raise ObjectMissing(f"{key}: the bytes before offset {offset} are not all in the store")
                base.append((at, min(length, offset - at)))
                at += length
            keep = {s for s, _ in base}
            stale = [self._segment_name(key, s) for s in pending.segments if s not in keep]
            if stale:
                self._delete_objects(stale)
            yield _PartAppender(self, key, offset, pending, base)

    def read(self, key: str, start: int = 0, end: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        if end is not None and end <= start:
            self._require(key)
            return iter(())
        span = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            with _calls("read an object"):
                response = self.client.get_object(Bucket=self.bucket, Key=self._object(key), Range=span)
        except ObjectMissing:
            return iter([self._read_unfinished(key, start, end)])
        except StorageUnavailable as error:
            # 416 from the store: the range starts at or past the end of the object.
            if "InvalidRange" in str(error):
                return iter(())
            raise
        return _Body(response["Body"], chunk_size)

    def _require(self, key: str) -> None:
        if not self.exists(key):
            raise ObjectMissing(key)

    def _read_unfinished(self, key: str, start: int, end: int | None) -> bytes:
        """Bytes of an upload not yet assembled, from its segments (the first bytes, to sniff them)."""
        pending = self._pending(key)
        if pending is None:
            raise ObjectMissing(key)
        candidates = [s for s in pending.segments if s <= start]
        if not pending.segments and not self._parts(key, pending.upload_id):
            return b""  # nothing received yet
        if not candidates:
            raise ObjectMissing(f"{key}: bytes from {start} on are in parts, not readable before assembly")
        at, chunks = max(candidates), []
        while end is None or at < end:
            length = pending.segments.get(at)
            if not length:
                if end is None:
                    break
                raise ObjectMissing(f"{key}: bytes {at}-{end} are not readable before assembly")
            chunks.append(self._get_segment(key, at, length))
            at += length
        data = b"".join(chunks)
        first = max(candidates)
        return data[start - first:(None if end is None else end - first)]

    def size(self, key: str) -> int:
        size = self._head(key)
        if size is not None:
            return size
        pending = self._pending(key)
        if pending is None:
            raise ObjectMissing(key)
        in_parts = sum(n for _, n in self._parts(key, pending.upload_id).values())
        return max([in_parts, *(s + n for s, n in pending.segments.items())])

    def exists(self, key: str) -> bool:
        return self._head(key) is not None or bool(self._list(self._partial(key)))

    def _uploads_of(self, key: str) -> list[str]:
        name = self._object(key)
        with _calls("list unfinished uploads"):
            listed = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=name)
        return [u["UploadId"] for u in listed.get("Uploads", []) if u["Key"] == name]

    def delete(self, key: str) -> bool:
        existed = False
        for upload_id in self._uploads_of(key):
            self._abort_upload(key, upload_id)
            existed = True
        partial = list(self._list(self._partial(key)))
        if partial:
            self._delete_objects(partial)
            existed = True
        if self._head(key) is not None:
            with _calls("delete an object"):
                self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
            existed = True
        return existed

    def discard_unfinished(self, key: str) -> None:
        for upload_id in self._uploads_of(key):
            self._abort_upload(key, upload_id)
        partial = list(self._list(self._partial(key)))
        if partial:
            self._delete_objects(partial)

    def unfinished(self, older_than: datetime) -> list[str]:
        keys: set[str] = set()
        with _calls("list unfinished uploads"):
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                     Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    name = upload["Key"][len(self.prefix):]
                    if upload["Initiated"] < older_than and len(name) == 32 and name.isalnum():
                        keys.add(name)
        return sorted(keys)

    def store_file(self, key: str, path: Path) -> int:
        name = self._object(key)
        try:
            with _calls("store a file"):
                # boto3 sends large files as a multipart upload of its own, and aborts it if it fails.
                self.client.upload_file(str(path), self.bucket, name, ExtraArgs=dict(self.encryption),
                                        Config=TransferConfig(multipart_chunksize=self.part_size,
                                                              multipart_threshold=self.part_size))
        except Exception:
            try:
                self.delete(key)
            except StorageError:
                pass
            raise
        return path.stat().st_size

    def check(self) -> None:
        with _calls("answer"):
            self.probe_client.head_bucket(Bucket=self.bucket)


def from_config(config: dict[str, Any], locks: WriterLocks) -> S3Storage:
    """An S3Storage for STORAGE_URL and the S3_* settings (config.py documents them)."""
    bucket, prefix = parse_storage_url(config["STORAGE_URL"])
    endpoint = config.get("S3_ENDPOINT_URL") or None
    credentials = {}
    if config.get("S3_ACCESS_KEY_ID") or config.get("S3_SECRET_ACCESS_KEY"):
        credentials = {"aws_access_key_id": config.get("S3_ACCESS_KEY_ID"),
                       "aws_secret_access_key": config.get("S3_SECRET_ACCESS_KEY")}
    session = boto3.session.Session()

    def client(attempts: int, timeout: float) -> Any:
        return session.client(
            "s3", endpoint_url=endpoint, region_name=config.get("S3_REGION") or None, **credentials,
            config=BotoConfig(
                # A local S3-compatible server has no bucket subdomains; AWS takes either form.
                s3={"addressing_style": "path" if endpoint else "auto"},
                retries={"mode": "standard", "max_attempts": attempts},
                connect_timeout=timeout, read_timeout=timeout,
                # Checksums only where S3 requires them: older S3-compatible servers refuse the newer headers.
                request_checksum_calculation="when_required", response_checksum_validation="when_required"))

    timeout = config.get("S3_TIMEOUT_SECONDS", 10)
    encryption: dict[str, str] = {}
    if config.get("S3_SERVER_SIDE_ENCRYPTION"):
        encryption["ServerSideEncryption"] = config["S3_SERVER_SIDE_ENCRYPTION"]
        if config.get("S3_SSE_KMS_KEY_ID"):
            encryption["SSEKMSKeyId"] = config["S3_SSE_KMS_KEY_ID"]
    return S3Storage(client(config.get("S3_MAX_ATTEMPTS", 3), timeout), bucket, prefix, locks=locks,
                     part_size=config.get("S3_PART_SIZE", 8 * 1024 * 1024), encryption=encryption,
                     probe_client=client(1, min(timeout, 3)))
