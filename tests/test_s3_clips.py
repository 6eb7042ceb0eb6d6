"""Clips kept in an S3-compatible bucket (moto's server, tests/s3_support.py), through the API:
tus uploads interrupted and resumed on another app sharing the bucket, Range downloads,
the media job's working copy, retention purge and evidence holds, uploads that end leaving
no parts, and a bucket that refuses (503, offset unchanged, the retry succeeds).

What the database decides here (the writer lock, the offset's compare-and-set, resuming on
another app) runs on both databases; the rest is the same SQL as on local disk, which
tests/test_uploads.py, test_review.py and test_processing.py run on both, so it runs on
SQLite only (``one_database``) to keep the suite within its time."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from app import create_app
from app.clips import processing, retention, uploads
from app.clips.models import Clip, ClipAccess, ClipDerivative, ClipStatus, EvidenceHold, MediaStatus
from app.db import utcnow
from app.extensions import db
from app.storage import get_storage
from tests import media_samples
from tests.conftest import build_app, signed_in
from tests.s3_support import new_bucket, s3_client, settings
from tests.upload_support import (
    KeptOpenBytes,
    approved_ask,
    create,
    live_server,
    mp4_bytes,
    patch,
    session_cookie,
    sha256,
    upload,
)

MIB = 1024 * 1024


@pytest.fixture
def bucket(s3_server) -> str:
    return new_bucket(s3_server)


@pytest.fixture
def app(database, tmp_path, request, s3_server, bucket):
    """The test's app, its clips in a fresh bucket (parts of S3's smallest size, 5 MiB)."""
    (tmp_path / "work").mkdir()
    app = build_app(database, tmp_path, request, **settings(s3_server, bucket), MEDIA_WORK_DIR=str(tmp_path / "work"))
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


def _other_app(app, endpoint: str, bucket: str):
    """Another app process on the same database and bucket: nothing shared in memory."""
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                  **settings(endpoint, bucket)})


def _clip(location: str) -> Clip:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[-1].split("?")[0]))


def _in_bucket(bucket: str, s3_server: str) -> dict[str, int]:
    client = s3_client(s3_server)
    return {o["Key"]: o["Size"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _unfinished_uploads(bucket: str, s3_server: str) -> list:
    return s3_client(s3_server).list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_an_interrupted_upload_resumes_through_another_app_sharing_the_bucket(app, world, as_owner, tmp_path,
                                                                             s3_server, bucket):
    ask = approved_ask(world)
    data = mp4_bytes(6 * MIB + 12_345)  # two parts: one full, one short
    cookie = session_cookie(as_owner)
    urls = tmp_path / "tus-urls.json"
    other = _other_app(app, s3_server, bucket)
    try:
        with live_server(app) as first:
            url_storage = FileStorage(str(urls))
            # Chunks of 1 MiB, well under S3's 5 MiB parts.
            uploader = tus_client.TusClient(f"{first}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=MIB, metadata={"ask_id": str(ask.id)},
                store_url=True, url_storage=url_storage, upload_checksum=True)
            uploader.upload(stop_at=3 * MIB)
            url_storage.close()
        location = uploader.url
        clip = _clip(location)
        assert clip.status == ClipStatus.UPLOADING and clip.upload_offset == 3 * MIB
        assert get_storage().read_bytes(clip.storage_key, 0, 4096) == data[:4096]
        db.session.commit()
        with live_server(other) as second:
            url_storage = FileStorage(str(urls))
            stored_url = url_storage.get_item(next(iter(url_storage._db.all()))["key"])
            resumed = tus_client.TusClient(f"{second}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=MIB, url=stored_url.replace(first, second),
                upload_checksum=True)
            assert resumed.offset == 3 * MIB
            resumed.upload()
            url_storage.close()
    finally:
        with other.app_context():
            db.engine.dispose()
    clip = _clip(location)
    assert clip.status == ClipStatus.COMPLETE and clip.sha256 == sha256(data)
    assert b"".join(get_storage().read(clip.storage_key)) == data
    assert _in_bucket(bucket, s3_server) == {f"clips/{clip.storage_key}": len(data)}
    assert _unfinished_uploads(bucket, s3_server) == []


@pytest.mark.one_database
def test_range_requests_stream_from_the_bucket_each_recorded(app, world, as_owner, as_officer):
    data = mp4_bytes(300_000, seed=3)
    location = upload(as_owner, approved_ask(world).id, data, chunk=100_000)
    clip = _clip(location)
    r = as_officer.get(f"/api/clips/{clip.id}/content", headers={"Range": "bytes=1000-70999"})
    assert r.status_code == 206 and r.data == data[1000:71000]
    assert r.headers["Content-Range"] == f"bytes 1000-70999/{len(data)}"
    r = as_officer.get(f"/api/clips/{clip.id}/download")
    assert r.status_code == 200 and r.data == data
    db.session.expire_all()
    accesses = list(db.session.scalars(sa.select(ClipAccess).where(ClipAccess.clip_id == clip.id)))
    assert [a.byte_range for a in accesses] == ["1000-70999", None]


@pytest.mark.one_database
def test_working_copy_purge_and_hold_on_the_bucket(app, world, as_owner, as_officer, samples, s3_server, bucket,
                                                    tmp_path):
    data = samples["h264_mp4"].read_bytes()
    kept, purged = (_clip(upload(as_owner, approved_ask(world).id, data, chunk=max(1000, len(data) // 3)))
                    for _ in range(2))
    for clip in (kept, purged):
        # local_path() is None on S3: the job copies the master into its private directory.
        assert get_storage().local_path(clip.storage_key) is None
        assert processing.process_clip(clip.id) == MediaStatus.READY
    assert list((tmp_path / "work").iterdir()) == []  # the copy of the master went with the job
    r = as_officer.get(f"/api/clips/{kept.id}/working-copy")
    assert r.status_code == 200 and r.data[4:8] == b"ftyp"
    keys = {c.id: [c.storage_key, *db.session.scalars(sa.select(ClipDerivative.storage_key)
                                                      .where(ClipDerivative.clip_id == c.id))] for c in (kept, purged)}
    assert all(len(k) == 3 for k in keys.values())  # master, working copy, poster
    assert set(_in_bucket(bucket, s3_server)) == {f"clips/{k}" for ks in keys.values() for k in ks}

    db.session.add(EvidenceHold(request_id=kept.request_id, reason="case 42"))
    db.session.execute(sa.update(Clip).values(retain_until=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert retention.purge_expired_clips() == 1
    assert set(_in_bucket(bucket, s3_server)) == {f"clips/{k}" for k in keys[kept.id]}
    db.session.expire_all()
    assert db.session.get(Clip, purged.id).status == ClipStatus.PURGED
    assert as_officer.get(f"/api/clips/{purged.id}/content").status_code == 410
    assert as_officer.get(f"/api/clips/{kept.id}/content").data == data


@pytest.mark.one_database
def test_ended_uploads_leave_no_parts_in_the_bucket(app, world, as_owner, s3_server, bucket):
    data = mp4_bytes(5 * MIB + 1000)
    terminated = create(as_owner, approved_ask(world).id, len(data)).headers["Location"]
    assert patch(as_owner, terminated, data[:5 * MIB + 10], 0).status_code == 204  # a whole part sent
    abandoned = create(as_owner, approved_ask(world).id, len(data)).headers["Location"]
    assert patch(as_owner, abandoned, data[:5 * MIB + 10], 0).status_code == 204
    assert len(_unfinished_uploads(bucket, s3_server)) == 2
    assert as_owner.delete(terminated, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert uploads.clean_abandoned_uploads(utcnow() + timedelta(days=30)) == 1
    assert _clip(abandoned).status == ClipStatus.ABORTED
    assert _unfinished_uploads(bucket, s3_server) == [] and _in_bucket(bucket, s3_server) == {}


@pytest.mark.one_database
def test_a_delete_the_bucket_refused_is_swept_later(app, world, as_owner, refusing_proxy, s3_server, bucket):
    other = _other_app(app, refusing_proxy.url, bucket)
    try:
        owner = signed_in(other, world.owner)
        location = create(owner, approved_ask(world).id, 10_000).headers["Location"]
        assert patch(owner, location, mp4_bytes(10_000)[:4000], 0).status_code == 204
        refusing_proxy.refuse("AccessDenied", 403, writes_only=True)
        # The upload ends (its row says so) even though its bytes could not be deleted yet.
        assert owner.delete(location, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
        assert _clip(location).status == ClipStatus.ABORTED
        assert len(_unfinished_uploads(bucket, s3_server)) == 1
    finally:
        refusing_proxy.allow()
        with other.app_context():
            db.engine.dispose()
    # The scheduler's sweep finds the unfinished upload no live upload owns.
    uploads.clean_abandoned_uploads(utcnow() + timedelta(hours=2))
    assert _unfinished_uploads(bucket, s3_server) == [] and _in_bucket(bucket, s3_server) == {}


def test_a_bucket_denying_writes_answers_503_and_nothing_is_lost(app, world, refusing_proxy, bucket):
    # The refused chunk fills the first part: the part's upload is what the bucket refuses.
    _refused_then_retried(app, world, refusing_proxy, bucket, ("AccessDenied", 403), size=5 * MIB + 100_000)


@pytest.mark.one_database
@pytest.mark.parametrize("refusal", [("InternalError", 500), (None, 0)], ids=["server-error", "unreachable"])
def test_a_failing_or_unreachable_bucket_answers_503_and_nothing_is_lost(app, world, refusing_proxy, bucket,
                                                                          refusal):
    # A chunk that fits in a part: what is refused is the write of its bytes as a segment.
    _refused_then_retried(app, world, refusing_proxy, bucket, refusal, size=300_000)


def _refused_then_retried(app, world, refusing_proxy, bucket, refusal, *, size: int) -> None:
    other = _other_app(app, refusing_proxy.url, bucket)
    try:
        owner = signed_in(other, world.owner)
        ask = approved_ask(world)
        data = mp4_bytes(size, seed=9)
        location = create(owner, ask.id, len(data)).headers["Location"]
        assert patch(owner, location, data[:100_000], 0).status_code == 204
        refusing_proxy.refuse(*refusal, writes_only=refusal[0] is not None)
        r = patch(owner, location, data[100_000:], 100_000)
        assert r.status_code == 503, r.get_data(as_text=True)
        assert r.json["error"]["code"] == "storage_unavailable" and "nothing was lost" in r.json["error"]["message"]
        assert r.headers["Upload-Offset"] == "100000" and r.headers["Retry-After"]
        if refusal[0] is None:  # nothing answers at all: reads fail too, clearly
            assert other.test_client().get("/api/health").json["storage"] == "unavailable"
        r = create(owner, ask.id, 1000)
        assert r.status_code == 503 and r.json["error"]["code"] == "storage_unavailable"
        db.session.expire_all()
        assert db.session.scalar(sa.select(sa.func.count(Clip.id))) == 1  # no row without its object
        refusing_proxy.allow()
        head = owner.head(location, headers={"Tus-Resumable": "1.0.0"})
        assert head.headers["Upload-Offset"] == "100000"
        assert patch(owner, location, data[100_000:], 100_000).status_code == 204  # the same chunk again
    finally:
        refusing_proxy.allow()
        with other.app_context():
            db.engine.dispose()
    clip = _clip(location)
    assert clip.status == ClipStatus.COMPLETE and clip.sha256 == sha256(data)
    assert b"".join(get_storage().read(clip.storage_key)) == data


@pytest.mark.one_database
def test_health_names_the_backend_and_whether_it_answers(app, refusing_proxy, bucket):
    assert app.test_client().get("/api/health").json == {
        "status": "ok", "database": "ok", "redis": "not configured", "storage": "ok", "storage_backend": "s3"}
    other = _other_app(app, refusing_proxy.url, bucket)
    try:
        refusing_proxy.refuse("AccessDenied", 403)
        r = other.test_client().get("/api/health")
        assert r.status_code == 503
        assert r.json["storage"] == "unavailable" and r.json["storage_backend"] == "s3"
    finally:
        with other.app_context():
            db.engine.dispose()


@pytest.mark.one_database
def test_a_zip_is_listed_from_the_bucket_and_one_without_video_leaves_nothing(app, world, as_owner, samples,
                                                                              s3_server, bucket):
    # The central directory is read by ranges from the assembled object, at the last byte and by the job.
    data = samples["bundle_zip"].read_bytes()
    clip = _clip(upload(as_owner, approved_ask(world).id, data, chunk=max(1000, len(data) // 3)))
    assert clip.status == ClipStatus.COMPLETE
    assert processing.process_clip(clip.id) == MediaStatus.READY
    db.session.expire_all()
    entries = {e["name"]: e for e in db.session.get(Clip, clip.id).bundle_entries}
    assert sum(e["working_copy"] for e in entries.values()) == 1 and entries["Player/readme.txt"]["kind"] == "other"
    before = set(_in_bucket(bucket, s3_server))
    documents = media_samples.zip_bytes({"letter.txt": b"no footage here\n" * 400})
    location = create(as_owner, approved_ask(world).id, len(documents), filename="export.zip").headers["Location"]
    r = patch(as_owner, location, documents, 0)
    assert r.status_code == 422 and r.json["error"]["code"] == "bundle_without_video"
    assert set(_in_bucket(bucket, s3_server)) == before and _unfinished_uploads(bucket, s3_server) == []
