"""The clip-storage contract, on local disk and on a real S3-compatible server (moto's, started
by the tests: tests/s3_support.py), plus what only an object store has: multipart parts of
S3's 5 MiB floor built from chunks of any size, the writer lock shared through the database,
server-side encryption, and no orphaned parts."""
from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

import config
from app.db import utcnow
from app.storage import (
    LocalDiskStorage,
    ObjectMissing,
    StorageBusy,
    StorageError,
    StorageUnavailable,
    get_storage,
    new_key,
)
from app.storage.locks import FileLocks, PostgresAdvisoryLocks
from app.storage.s3 import MIN_PART_SIZE, S3Storage, from_config, parse_storage_url
from tests.s3_support import CREDENTIALS, new_bucket, s3_client, settings

PART = MIN_PART_SIZE


def _data(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _s3(url: str, bucket: str, tmp_path, **kw) -> S3Storage:
    return S3Storage(s3_client(url), bucket, "clips/", locks=FileLocks(tmp_path / "locks"), part_size=PART, **kw)


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalDiskStorage(tmp_path / "clips")
    url = request.getfixturevalue("s3_server")
    return _s3(url, new_bucket(url), tmp_path, encryption={"ServerSideEncryption": "AES256"})


def _append(storage, key, offset, data, *, last=False) -> int:
    with storage.open_append(key, offset) as out:
        out.write(data)
        out.flush(last=last)
        return offset + out.written


def _leftovers(storage: S3Storage) -> tuple[list, list]:
    """(objects under partial/, unfinished multipart uploads) in the storage's bucket."""
    client = storage.client
    partial = client.list_objects_v2(Bucket=storage.bucket, Prefix="clips/partial/").get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    return partial, uploads


def test_chunks_of_any_size_make_the_object(storage):
    # Chunks smaller than a part, one that crosses two part boundaries, and a short last part.
    data = _data(2 * PART + 300_001)
    key = new_key()
    storage.create(key)
    assert storage.exists(key)
    assert b"".join(storage.read(key)) == b""
    offset = 0
    for size in (1000, 200_000, PART + PART // 2, 17):
        offset = _append(storage, key, offset, data[offset:offset + size])
        if offset < PART:  # the leading bytes, sniffed before assembly (and before a part is full)
            assert storage.read_bytes(key, 0, offset) == data[:offset]
    offset = _append(storage, key, offset, data[offset:], last=True)
    assert offset == len(data) == storage.size(key)
    assert b"".join(storage.read(key)) == data
    if isinstance(storage, S3Storage):
        assert _leftovers(storage) == ([], [])
        head = storage.client.head_object(Bucket=storage.bucket, Key=f"clips/{key}")
        assert head["ServerSideEncryption"] == "AES256"


def test_ranges_read_back_exactly(storage):
    data = _data(300_000, seed=3)
    key = new_key()
    storage.create(key)
    _append(storage, key, 0, data, last=True)
    for start, end in ((0, 1), (5, 70_000), (299_990, 300_000), (123_456, None), (299_999, 400_000)):
        assert b"".join(storage.read(key, start, end, chunk_size=4096)) == data[start:end]
    assert b"".join(storage.read(key, 300_000)) == b""
    assert b"".join(storage.read(key, 10, 10)) == b""
    # Read in pieces no larger than asked for: memory stays flat whatever the size.
    assert max(len(c) for c in storage.read(key, 0, None, chunk_size=4096)) <= 4096


def test_discard_leaves_nothing_behind(storage):
    data = _data(PART + 500_000, seed=5)
    wrong = _data(PART, seed=6)
    key = new_key()
    storage.create(key)
    offset = _append(storage, key, 0, data[:400_000])
    # A chunk whose checksum fails, after it filled (and sent) a whole part.
    with storage.open_append(key, offset) as out:
        out.write(wrong)
        out.discard()
        assert out.written == 0
    # One that failed after it was made durable, as when its offset could not be committed.
    with storage.open_append(key, offset) as out:
        out.write(wrong[:1000])
        out.flush()
        out.discard()
    assert storage.read_bytes(key, 0, 400_000) == data[:400_000]
    _append(storage, key, offset, data[offset:], last=True)
    assert b"".join(storage.read(key)) == data
    if isinstance(storage, S3Storage):
        assert _leftovers(storage) == ([], [])


def test_a_writer_that_died_leaves_bytes_the_next_one_drops(storage):
    # Bytes past the committed offset, made durable but never committed (the node died then).
    data = _data(PART + 10_000, seed=8)
    key = new_key()
    storage.create(key)
    _append(storage, key, 0, data[:100])
    with storage.open_append(key, 100) as out:
        out.write(_data(PART, seed=9))
        out.flush()
    _append(storage, key, 100, data[100:], last=True)
    assert b"".join(storage.read(key)) == data


def test_an_assembled_object_continues_from_an_earlier_offset(storage):
    # The last chunk assembled the object but its offset was never committed (the database
    # failed): the client sends that chunk again, from the offset that was committed.
    data = _data(PART + 70_000, seed=10)
    key = new_key()
    storage.create(key)
    offset = _append(storage, key, 0, data[:PART + 1000])
    _append(storage, key, offset, data[offset:], last=True)
    _append(storage, key, offset, data[offset:], last=True)
    assert b"".join(storage.read(key)) == data
    if isinstance(storage, S3Storage):
        assert _leftovers(storage) == ([], [])


def test_one_writer_at_a_time(storage):
    key = new_key()
    storage.create(key)
    with storage.open_append(key, 0) as out:
        with pytest.raises(StorageBusy):
            with storage.open_append(key, 0):
                pass
        out.write(b"\x00\x00\x00\x18ftyp")
        out.flush()
    with storage.open_append(key, 8) as out:  # released when the first writer left
        out.write(b"more")


def test_delete_removes_finished_and_unfinished_objects(storage):
    finished, unfinished = new_key(), new_key()
    for key in (finished, unfinished):
        storage.create(key)
        _append(storage, key, 0, _data(PART + 10, seed=11), last=key == finished)
    for key in (finished, unfinished):
        assert storage.delete(key) is True
        assert not storage.exists(key)
        with pytest.raises(ObjectMissing):
            b"".join(storage.read(key))
        with pytest.raises(ObjectMissing):
            with storage.open_append(key, 0):
                pass
        assert storage.delete(key) is False
    if isinstance(storage, S3Storage):
        assert _leftovers(storage) == ([], [])  # the unfinished upload's parts went with it


def test_store_file_copies_a_file_in(storage, tmp_path):
    path = tmp_path / "copy.mp4"
    data = _data(PART + 4321, seed=12)  # larger than a part: boto3 sends it in parts of its own
    path.write_bytes(data)
    key = new_key()
    assert storage.store_file(key, path) == len(data)
    assert b"".join(storage.read(key)) == data
    assert storage.unfinished(utcnow() + timedelta(days=1)) == []


def test_keys_are_only_the_servers(storage):
    for key in ("../etc/passwd", "ABCDEF" * 6, "", "0" * 31):
        with pytest.raises(StorageError):
            storage.create(key)


def test_a_refusal_is_a_storage_error(request, tmp_path):
    # Local disk: the root cannot be made (a file stands where its directory should be).
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageUnavailable):
        LocalDiskStorage(tmp_path / "file" / "clips").create(new_key())
    with pytest.raises(StorageUnavailable):
        LocalDiskStorage(tmp_path / "file" / "clips").check()
    # The object store: a bucket that answers AccessDenied, then an endpoint that hangs up.
    proxy = request.getfixturevalue("refusing_proxy")
    bucket = new_bucket(proxy.url)
    storage = _s3(proxy.url, bucket, tmp_path)
    key = new_key()
    storage.create(key)
    storage.check()
    proxy.refuse("AccessDenied", 403)
    with pytest.raises(StorageUnavailable, match="AccessDenied"):
        storage.create(new_key())
    with pytest.raises(StorageUnavailable):
        storage.check()
    proxy.refuse("InternalError", 500, writes_only=True)
    with pytest.raises(StorageUnavailable), storage.open_append(key, 0) as out:
        out.write(_data(PART, seed=13))  # a whole part: sent, and refused
    proxy.refuse(None)
    with pytest.raises(StorageUnavailable):
        b"".join(storage.read(key))
    proxy.allow()
    _append(storage, key, 0, b"all of it", last=True)
    assert b"".join(storage.read(key)) == b"all of it"


def test_unfinished_objects_are_found_and_dropped(s3_server, tmp_path):
    storage = _s3(s3_server, new_bucket(s3_server), tmp_path)
    done, stuck = new_key(), new_key()
    for key in (done, stuck):
        storage.create(key)
        _append(storage, key, 0, b"bytes", last=key == done)
    # moto reports one fixed time (2010) as every upload's Initiated; S3 reports the real one.
    assert storage.unfinished(datetime(2001, 1, 1, tzinfo=UTC)) == []
    assert storage.unfinished(utcnow() + timedelta(minutes=5)) == [stuck]
    storage.discard_unfinished(stuck)
    assert storage.unfinished(utcnow() + timedelta(minutes=5)) == []
    assert _leftovers(storage) == ([], [])
    assert b"".join(storage.read(done)) == b"bytes"


@pytest.mark.one_database
def test_storage_url_is_checked():
    assert parse_storage_url("s3://bucket/some/prefix/") == ("bucket", "some/prefix/")
    assert parse_storage_url("s3://bucket") == ("bucket", "")
    for bad in ("http://bucket/x", "s3:///x", "s3://bucket/x?y=1"):
        with pytest.raises(ValueError, match="STORAGE_URL"):
            parse_storage_url(bad)
    with pytest.raises(ValueError, match="S3_PART_SIZE"):
        S3Storage(None, "b", "", locks=FileLocks(), part_size=PART - 1)
    # The environment's values, checked when config.py is read (start-up stops, naming the setting).
    assert config._storage_url(" s3://bucket/clips ") == "s3://bucket/clips" and config._storage_url("") == ""
    assert config._sse("aes256") == "AES256" and config._sse("AWS:KMS") == "aws:kms" and config._sse("") == ""
    for name, check, bad in (("STORAGE_URL", config._storage_url, "https://bucket"),
                             ("STORAGE_URL", config._storage_url, "s3:///clips"),
                             ("S3_SERVER_SIDE_ENCRYPTION", config._sse, "aws:kms:dsse")):
        with pytest.raises(RuntimeError, match=name):
            check(bad)


def test_the_writer_lock_holds_across_apps_through_the_database(make_app, s3_server, database):
    # Two apps on one database and bucket, as two nodes are: PostgreSQL's advisory lock (SQLite:
    # a lock file on the one machine its database file lives on) lets one writer at a time in.
    bucket = new_bucket(s3_server)
    first, second = make_app(**settings(s3_server, bucket)), make_app(**settings(s3_server, bucket))
    key = new_key()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with first.app_context(), get_storage().open_append(key, 0) as out:
            out.write(b"first writer")
            holding.set()
            release.wait(10)
            out.flush()

    with first.app_context():
        get_storage().create(key)
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with second.app_context():
            with pytest.raises(StorageBusy):
                with get_storage().open_append(key, 0):
                    pass
            expected = PostgresAdvisoryLocks if database == "postgresql" else FileLocks
            assert isinstance(get_storage().locks._chosen, expected)
    finally:
        release.set()
        thread.join(10)
    with second.app_context():
        _append(get_storage(), key, 12, b", then the second", last=True)
        assert b"".join(get_storage().read(key)) == b"first writer, then the second"


@pytest.mark.one_database
def test_kms_encryption_from_the_settings(s3_server, tmp_path):
    # S3_SERVER_SIDE_ENCRYPTION=aws:kms with S3_SSE_KMS_KEY_ID: every object Porchlight makes says so.
    kms = boto3.client("kms", endpoint_url=s3_server, region_name=CREDENTIALS["S3_REGION"],
                       aws_access_key_id="k", aws_secret_access_key="s")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    config = {**settings(s3_server, new_bucket(s3_server)), "S3_SERVER_SIDE_ENCRYPTION": "aws:kms",
              "S3_SSE_KMS_KEY_ID": key_id}
    storage = from_config(config, FileLocks(tmp_path / "locks"))
    upload, copy = new_key(), new_key()
    storage.create(upload)
    _append(storage, upload, 0, b"master", last=True)
    (tmp_path / "copy").write_bytes(b"working copy")
    storage.store_file(copy, tmp_path / "copy")
    for key in (upload, copy):
        head = storage.client.head_object(Bucket=storage.bucket, Key=f"clips/{key}")
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_id)
