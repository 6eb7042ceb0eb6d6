"""The media job (app/clips/processing.py): every sample uploaded through tus, probed, and a
browser-playable working copy and poster made from it, the master untouched; failures
said plainly; the concurrency cap, stale claims, retention, the officer's API and the
RQ path. The full matrix of samples runs on SQLite, a representative few on PostgreSQL."""
from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import av
import pytest
import sqlalchemy as sa
from PIL import Image

from app.audit.models import AuditEvent
from app.clips import processing, retention
from app.clips.models import Clip, ClipAccess, ClipDerivative, DerivativeKind, EvidenceHold, MediaStatus
from app.db import utcnow
from app.extensions import db
from app.notifications import queue
from app.privacy import service as privacy
from app.storage import get_storage
from tests.conftest import signed_in
from tests.media_samples import FRAMES, HEIGHT, IPHONE_CREATION_TIME, RATE, SAMPLES, WIDTH
from tests.upload_support import approved_ask, sha256, upload

PLAYABLE = sorted(n for n, s in SAMPLES.items() if s.codec)
# A recorder's export of each kind that is no H.264 MP4, and a phone's.
REPRESENTATIVE = ["dhav", "imkh_mpegps", "iphone_mov", "mpeg2_mpegps"]
TRANSCODED = {"hevc_mp4", "hevc_raw", "iphone_mov", "mpeg2_mpegps", "asf"}
WITH_AUDIO = {"iphone_mov"}


@pytest.fixture(autouse=True)
def clip_root(app, tmp_path):
    app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "clips")
    app.config["MEDIA_WORK_DIR"] = str(tmp_path)
    return tmp_path / "clips"


def _deliver(client, world, data: bytes, filename: str = "clip.mp4") -> Clip:
    ask = approved_ask(world)
    location = upload(client, ask.id, data, chunk=max(1000, len(data) // 3))
    db.session.expire_all()
    return db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))


def _fresh(clip: Clip) -> Clip:
    db.session.expire_all()
    return db.session.get(Clip, clip.id)


def _derivatives(clip: Clip) -> dict[DerivativeKind, ClipDerivative]:
    db.session.expire_all()
    return {d.kind: d for d in db.session.scalars(sa.select(ClipDerivative).where(ClipDerivative.clip_id == clip.id))}


def _stored(key: str) -> bytes:
    return b"".join(get_storage().read(key))


def _audited(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def _check_copy(data: bytes, *, audio: bool, seconds: float = FRAMES / RATE) -> None:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (WIDTH, HEIGHT)
        assert container.duration / av.time_base == pytest.approx(seconds, abs=0.25)
        assert [s.codec_context.name for s in container.streams.audio] == (["aac"] if audio else [])
        assert len(list(container.decode(video))) >= FRAMES - 1
    # faststart: the index before the media data
    assert data.index(b"moov") < data.index(b"mdat")


def _check_ready(clip: Clip, data: bytes, name: str) -> None:
    clip = _fresh(clip)
    assert clip.media_status == MediaStatus.READY, clip.media_error
    assert clip.media_attempts == 1 and clip.media_done_at is not None
    # The master is untouched.
    assert _stored(clip.storage_key) == data and clip.sha256 == sha256(data)
    probe = clip.probe
    assert probe["video_codec"] == SAMPLES[name].codec
    assert (probe["width"], probe["height"]) == (WIDTH, HEIGHT)
    assert probe["streams"][0]["type"] == "video"
    made = _derivatives(clip)
    copy, poster = made[DerivativeKind.WORKING_COPY], made[DerivativeKind.POSTER]
    assert copy.method == ("transcode" if name in TRANSCODED else "remux")
    assert copy.versions["pyav"] == av.__version__
    copy_bytes = _stored(copy.storage_key)
    assert copy.sha256 == sha256(copy_bytes) and copy.size == len(copy_bytes)
    # A raw stream carries no timing: its copy is timed at the rate FFmpeg assumes for it.
    _check_copy(copy_bytes, audio=name in WITH_AUDIO, seconds=FRAMES / probe["frame_rate"])
    assert poster.method == "frame"
    with Image.open(io.BytesIO(_stored(poster.storage_key))) as image:
        assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT)


# --- every sample ------------------------------------------------------------------------------------

@pytest.mark.one_database
@pytest.mark.parametrize("name", PLAYABLE)
def test_every_recorder_export_gets_a_working_copy(app, world, as_owner, samples, name):
    data = samples[name].read_bytes()
    clip = _deliver(as_owner, world, data)
    assert clip.media_status == MediaStatus.PENDING
    assert processing.process_clip(clip.id) == MediaStatus.READY
    _check_ready(clip, data, name)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_recorder_exports_get_a_working_copy_on_both_databases(app, world, as_owner, samples, name):
    data = samples[name].read_bytes()
    clip = _deliver(as_owner, world, data)
    assert processing.process_clip(clip.id) == MediaStatus.READY
    _check_ready(clip, data, name)
    [made] = _audited("clip.working_copy_made")
    assert made.target_id == str(clip.id) and made.actor_id is None
    assert made.details["sha256"] == _derivatives(clip)[DerivativeKind.WORKING_COPY].sha256
    assert made.details["master_sha256"] == sha256(data)
    assert "owner" not in json.dumps(made.details) and "filename" not in made.details


def test_probe_facts_of_an_iphone_movie_and_a_dahua_export(app, world, as_owner, samples):
    iphone = _deliver(as_owner, world, samples["iphone_mov"].read_bytes())
    dahua = _deliver(as_owner, world, samples["dhav"].read_bytes())
    processing.process_due()
    probe = _fresh(iphone).probe
    assert probe["container"].startswith("mov,mp4") and probe["audio_codec"] == "aac"
    assert probe["start_time"] == IPHONE_CREATION_TIME
    assert probe["streams"][1] == {"type": "audio", "codec": "aac", "sample_rate": 44_100, "channels": 2}
    # A Dahua file's frames carry the recorder's own clock (tests/media_samples.py: 2026-03-14 09:30).
    assert _fresh(dahua).probe["start_time"] == "2026-03-14T09:30:00"


@pytest.mark.one_database
@pytest.mark.parametrize("name, reason", [
    ("truncated", "The file ends early or is damaged: its index"),
    ("corrupt", "The file is damaged: no playable copy could be made"),
])
def test_a_damaged_file_fails_with_a_reason_and_the_master_stays(app, world, as_owner, as_officer, samples, name,
                                                                reason):
    data = samples[name].read_bytes()
    clip = _deliver(as_owner, world, data)
    assert processing.process_clip(clip.id) == MediaStatus.FAILED
    clip = _fresh(clip)
    assert clip.media_error.startswith(reason), clip.media_error
    assert "/tmp" not in clip.media_error and str(app.config["MEDIA_WORK_DIR"]) not in clip.media_error
    assert _derivatives(clip) == {}
    # Probe facts are kept when FFmpeg could read the file at all.
    assert (clip.probe is None) == (name == "truncated")
    [failed] = _audited("clip.working_copy_failed")
    assert failed.details["reason"] == clip.media_error
    shown = as_officer.get(f"/api/clips/{clip.id}").json
    assert shown["media"]["status"] == "failed" and shown["media"]["error"] == clip.media_error
    assert shown["working_copy"] is None and shown["poster_url"] is None
    r = as_officer.get(f"/api/clips/{clip.id}/working-copy")
    assert r.status_code == 409 and r.json["error"]["code"] == "media_failed"
    assert clip.media_error in r.json["error"]["message"] and "still there to download" in r.json["error"]["message"]
    download = as_officer.get(f"/api/clips/{clip.id}/download")
    assert download.status_code == 200 and download.data == data


@pytest.mark.one_database
def test_the_time_limit_fails_the_copy_in_plain_words(app, world, as_owner, samples, monkeypatch):
    clip = _deliver(as_owner, world, samples["hevc_mp4"].read_bytes())
    app.config["MEDIA_TIME_LIMIT_SECONDS"] = 0
    monkeypatch.setattr(processing, "MIN_STEP_S", 0.0)
    assert processing.process_clip(clip.id) == MediaStatus.FAILED
    assert _fresh(clip).media_error == "Making the copy took longer than the 0-minute limit."
    assert _fresh(clip).probe["video_codec"] == "hevc"


@pytest.mark.one_database
def test_the_memory_cap_fails_the_copy_in_plain_words(app, world, as_owner, samples):
    clip = _deliver(as_owner, world, samples["hevc_mp4"].read_bytes())
    app.config["MEDIA_MEMORY_LIMIT_MIB"] = 150
    assert processing.process_clip(clip.id) == MediaStatus.FAILED
    assert _fresh(clip).media_error == "Making the copy needed more memory than the 150 MiB limit."


# --- ZIP bundles -------------------------------------------------------------------------------------

def test_a_zip_bundle_is_listed_and_its_video_probed(app, world, as_owner, as_officer, samples):
    data = samples["bundle_zip"].read_bytes()
    clip = _deliver(as_owner, world, data, filename="export.zip")
    assert processing.process_clip(clip.id) == MediaStatus.READY
    clip = _fresh(clip)
    entries = {e["name"]: e for e in clip.bundle_entries}
    assert entries["Player/SmartPlayer.exe"]["kind"] == "executable"
    assert entries["Player/SmartPlayer.exe"]["probe"] is None
    assert entries["Player/readme.txt"]["kind"] == "other"
    dav, mp4 = entries["CH01/20260314093000.dav"], entries["CH02/20260314093000.mp4"]
    assert dav["kind"] == mp4["kind"] == "video"
    assert dav["probe"]["container"] == "dhav" and mp4["probe"]["video_codec"] == "h264"
    # The largest video entry is the copy's source.
    chosen = max((dav, mp4), key=lambda e: e["size"])
    assert chosen["working_copy"] and clip.probe["bundle_entry"] == chosen["name"]
    assert sum(e["working_copy"] for e in entries.values()) == 1
    assert _stored(clip.storage_key) == data
    _check_copy(_stored(_derivatives(clip)[DerivativeKind.WORKING_COPY].storage_key), audio=False)
    shown = as_officer.get(f"/api/clips/{clip.id}").json
    assert [e["name"] for e in shown["bundle_entries"]] == [e["name"] for e in clip.bundle_entries]
    # Nothing of the ZIP was unpacked where anything is served, nor left in the job's directory.
    assert not list(Path(app.config["MEDIA_WORK_DIR"]).glob("porchlight-media-*"))
    stored = {d.storage_key for d in _derivatives(clip).values()} | {clip.storage_key}
    assert {p.name for p in Path(app.config["CLIP_STORAGE_ROOT"]).rglob("*") if p.is_file()} == stored


# --- bounds -----------------------------------------------------------------------------------------

def test_at_most_media_concurrency_copies_at_once(app, world, as_owner, samples):
    data = samples["h264_mp4"].read_bytes()
    first, second = _deliver(as_owner, world, data), _deliver(as_owner, world, data)
    # Another worker holds a fresh claim on the first.
    db.session.execute(sa.update(Clip).where(Clip.id == first.id)
                       .values(media_status=MediaStatus.PROCESSING, media_claimed_at=utcnow(), media_attempts=1))
    db.session.commit()
    assert processing.process_clip(second.id) == MediaStatus.PENDING
    assert _fresh(second).media_attempts == 0
    assert processing.enqueue_due(utcnow() + timedelta(minutes=5)) == 0
    app.config["MEDIA_CONCURRENCY"] = 2
    assert processing.process_clip(second.id) == MediaStatus.READY
    # A claimed clip is never claimed twice.
    assert processing.process_clip(first.id) == MediaStatus.PROCESSING


def test_a_stale_claim_goes_back_to_pending_then_fails_after_the_attempts(app, world, as_owner, samples):
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())
    app.config["MEDIA_MAX_ATTEMPTS"] = 2
    long_ago = utcnow() - processing.stale_after() - timedelta(seconds=1)
    db.session.execute(sa.update(Clip).where(Clip.id == clip.id)
                       .values(media_status=MediaStatus.PROCESSING, media_claimed_at=long_ago, media_attempts=1))
    db.session.commit()
    # A claim this old does not count against the cap: another clip may start.
    assert processing.recover_stale_claims() == 1
    assert _fresh(clip).media_status == MediaStatus.PENDING
    db.session.execute(sa.update(Clip).where(Clip.id == clip.id)
                       .values(media_status=MediaStatus.PROCESSING, media_claimed_at=long_ago, media_attempts=2))
    db.session.commit()
    assert processing.recover_stale_claims() == 0
    clip = _fresh(clip)
    assert clip.media_status == MediaStatus.FAILED and "interrupted" in clip.media_error
    assert len(_audited("clip.working_copy_failed")) == 1
    # The operator tries it again by name.
    assert processing.process_due(clip.id) == {"ready": 1}
    assert _fresh(clip).media_status == MediaStatus.READY and len(_audited("clip.working_copy_retried")) == 1


def test_an_error_of_ours_gives_the_claim_back(app, world, as_owner, samples, monkeypatch, caplog):
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(processing, "_store", broken)
    assert processing.process_clip(clip.id) == MediaStatus.PENDING
    assert "disk full" in caplog.text
    app.config["MEDIA_MAX_ATTEMPTS"] = 2
    assert processing.process_clip(clip.id) == MediaStatus.FAILED
    assert "fault in Porchlight" in _fresh(clip).media_error
    assert _derivatives(clip) == {}


def test_the_tick_hands_pending_clips_over_after_their_grace(app, world, as_owner, samples, monkeypatch):
    handed: list[list[int]] = []
    monkeypatch.setattr(queue, "enqueue_media", lambda app, ids: handed.append(list(ids)))
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())
    assert handed == [[clip.id]]  # by the upload, after its commit
    assert processing.enqueue_due() == 0  # fresh: its upload's job is on its way
    assert processing.enqueue_due(utcnow() + processing.ENQUEUE_GRACE * 2) == 1
    assert handed[-1] == [clip.id]


# --- retention -------------------------------------------------------------------------------------

def test_purge_deletes_the_derivatives_and_a_hold_keeps_them(app, world, as_owner, as_officer, samples):
    data = samples["h264_mp4"].read_bytes()
    kept, purged = _deliver(as_owner, world, data), _deliver(as_owner, world, data)
    for clip in (kept, purged):
        processing.process_clip(clip.id)
    db.session.add(EvidenceHold(request_id=kept.request_id, reason="case 42"))
    db.session.execute(sa.update(Clip).values(retain_until=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert retention.purge_expired_clips() == 1
    gone = _derivatives(purged)
    assert all(d.purged_at is not None for d in gone.values()) and len(gone) == 2
    assert not any(get_storage().exists(d.storage_key) for d in gone.values())
    assert not get_storage().exists(_fresh(purged).storage_key)
    assert _audited("clip.purged")[0].details["derivatives"] == ["poster", "working_copy"]
    r = as_officer.get(f"/api/clips/{purged.id}/working-copy")
    assert r.status_code == 410 and r.json["error"]["code"] == "clip_purged"
    assert as_officer.get(f"/api/clips/{purged.id}").json["working_copy"] is None
    held = _derivatives(kept)
    assert all(d.purged_at is None and get_storage().exists(d.storage_key) for d in held.values())
    assert as_officer.get(f"/api/clips/{kept.id}/working-copy").status_code == 200


def test_retention_ends_a_copy_not_made_yet(app, world, as_owner, samples, monkeypatch):
    monkeypatch.setattr(queue, "enqueue_media", lambda app, ids: None)  # the job never came
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())
    assert _fresh(clip).media_status == MediaStatus.PENDING
    db.session.execute(sa.update(Clip).values(retain_until=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert retention.purge_expired_clips() == 1
    assert _fresh(clip).media_status is None  # nothing left to make a copy of
    later = utcnow() + timedelta(days=1)
    assert processing.due_clip_ids(later) == [] and processing.recover_stale_claims(later) == 0
    assert processing.process_clip(clip.id) is None and _derivatives(clip) == {}


def test_a_clip_purged_while_its_copy_is_made_keeps_nothing(app, world, as_owner, samples, monkeypatch):
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())
    real_work = processing._work

    def purged_meanwhile(claim):
        made = real_work(claim)
        db.session.execute(sa.update(Clip).where(Clip.id == claim.clip_id)
                           .values(status="purged", purged_at=utcnow()))
        db.session.commit()
        return made

    monkeypatch.setattr(processing, "_work", purged_meanwhile)
    processing.process_clip(clip.id)
    assert _derivatives(clip) == {}
    assert _fresh(clip).media_status == MediaStatus.PROCESSING  # purged: nothing more to do for it
    kept = [p.name for p in Path(app.config["CLIP_STORAGE_ROOT"]).rglob("*") if p.is_file()]
    assert kept == [clip.storage_key]  # the master only (the purge deletes it)


# --- the officer's API ------------------------------------------------------------------------------

def test_officers_play_and_download_the_working_copy_each_access_recorded(app, world, as_owner, as_officer,
                                                                          samples):
    data = samples["iphone_mov"].read_bytes()
    clip = _deliver(as_owner, world, data, filename="Jane Doe porch.MOV")
    pending = as_officer.get(f"/api/clips/{clip.id}")
    assert pending.json["media"]["status"] == "pending" and pending.json["working_copy"] is None
    r = as_officer.get(f"/api/clips/{clip.id}/working-copy")
    assert r.status_code == 409 and r.json["error"]["code"] == "media_not_ready"
    processing.process_clip(clip.id)

    shown = as_officer.get(f"/api/clips/{clip.id}").json
    copy = _derivatives(clip)[DerivativeKind.WORKING_COPY]
    assert shown["sha256"] == sha256(data)
    assert shown["working_copy"]["sha256"] == copy.sha256 and shown["working_copy"]["method"] == "transcode"
    assert shown["media"]["probe"]["video_codec"] == "hevc" and shown["media"]["status"] == "ready"
    assert "Jane" not in json.dumps(shown) and "owner" not in shown
    listed = as_officer.get(f"/api/requests/{clip.request_id}/clips").json
    assert listed[0]["working_copy"] == shown["working_copy"]

    whole = as_officer.get(shown["working_copy"]["content_url"])
    assert whole.status_code == 200 and whole.mimetype == "video/mp4" and sha256(whole.data) == copy.sha256
    assert whole.headers["ETag"] == f'"{copy.sha256}"'
    assert whole.headers["Content-Disposition"].startswith("inline")
    part = as_officer.get(shown["working_copy"]["content_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == whole.data[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{copy.size}"
    download = as_officer.get(shown["working_copy"]["download_url"])
    assert download.headers["Content-Disposition"] == \
        f'attachment; filename="porchlight-clip-{clip.id}-working-copy.mp4"'
    poster = as_officer.get(shown["poster_url"])
    assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
    master = as_officer.get(f"/api/clips/{clip.id}/content")
    assert master.data == data

    # One access per file and action (the Range requests of one playback join the first).
    accesses = sorted((a.variant, a.action) for a in db.session.scalars(sa.select(ClipAccess)))
    assert accesses == [("master", "view"), ("poster", "view"), ("working_copy", "download"),
                        ("working_copy", "view")]
    viewed = {e.details["variant"]: e for e in _audited("clip.viewed")}
    assert viewed["working_copy"].details["sha256"] == copy.sha256
    assert viewed["master"].details["sha256"] == sha256(data)
    # The owner sees which file each access was to.
    seen = as_owner.get("/api/me/clip-accesses").json
    assert sorted((a["variant"], a["action"]) for a in seen) == accesses


def test_another_agency_cannot_reach_the_working_copy(app, world, as_owner, samples):
    clip = _deliver(as_owner, world, samples["h264_mp4"].read_bytes())
    processing.process_clip(clip.id)
    stranger = signed_in(app, world.other_officer)
    for path in ("", "/working-copy", "/working-copy/download", "/poster"):
        assert stranger.get(f"/api/clips/{clip.id}{path}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(ClipAccess.id))) == 0


# --- RQ ------------------------------------------------------------------------------------------------

@pytest.mark.one_database
def test_rq_makes_the_working_copy_on_its_own_queue(app, make_app, redis_url, world, samples):
    import redis
    import rq
    from rq import SimpleWorker

    name = f"test-media-{uuid.uuid4().hex[:8]}"
    rq_app = make_app(REDIS_URL=redis_url, JOB_QUEUE_NAME=name, MEDIA_WORK_DIR=app.config["MEDIA_WORK_DIR"])
    connection = redis.Redis.from_url(redis_url)
    try:
        with rq_app.app_context():
            clip = _deliver(signed_in(rq_app, db.session.get(type(world.owner), world.owner.id)), world,
                            samples["dhav"].read_bytes())
            [job] = queue.rq_queue(rq_app, connection, media=True).get_jobs()
            assert job.func_name == queue.MEDIA_JOB and job.args == (clip.id,)
            assert job.timeout > rq_app.config["MEDIA_TIME_LIMIT_SECONDS"]
            assert queue.rq_queue(rq_app, connection).count == 0  # notifications never wait behind it
            SimpleWorker(queue.worker_queues(rq_app, connection, "media"), connection=connection).work(
                burst=True, with_scheduler=False)
            assert _fresh(clip).media_status == MediaStatus.READY
            db.session.remove()
    finally:
        for queue_name in (name, f"{name}-low", f"{name}-media"):
            rq.Queue(queue_name, connection=connection).delete(delete_jobs=True)
        connection.close()


# --- erasure -------------------------------------------------------------------------------------------

def test_erasing_the_owner_keeps_the_working_copy_with_the_clip(app, world, as_owner, as_officer, samples):
    clip = _deliver(as_owner, world, samples["iphone_mov"].read_bytes(), filename="Jane Doe porch.MOV")
    processing.process_clip(clip.id)
    copy = _derivatives(clip)[DerivativeKind.WORKING_COPY]
    # The copy carries none of the phone's movie metadata (its creation time, a location).
    with av.open(io.BytesIO(_stored(copy.storage_key))) as container:
        assert "creation_time" not in container.metadata
    privacy.erase(db.session.get(type(world.owner), world.owner.id), actor=None)
    db.session.commit()
    clip = _fresh(clip)
    assert clip.owner_id is None and clip.filename is None
    assert as_officer.get(f"/api/clips/{clip.id}/working-copy").data == _stored(copy.storage_key)


def test_the_operators_command_makes_the_pending_copies(app, world, as_owner, runner, samples):
    clip = _deliver(as_owner, world, samples["h264_mpegps"].read_bytes())
    result = runner.invoke(args=["media", "process"])
    assert result.exit_code == 0 and "'ready': 1" in result.output, result.output
    assert _fresh(clip).media_status == MediaStatus.READY
    assert "nothing to do" in runner.invoke(args=["media", "process"]).output
