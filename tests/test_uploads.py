"""Clip uploads over tus 1.0.0: a real client (tuspy) against the app on a real socket,
interruption and resumption from another app process, and every refusal the protocol
and the agency's policy call for, on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from app import create_app, links
from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.clips import digest, sniff, tus, uploads
from app.clips.models import Clip, ClipStatus
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from app.footage.models import AgencyPolicy, AskState, RequestStatus
from app.storage import InvalidKey, LocalDiskStorage, StorageBusy, get_storage
from tests import media_samples
from tests.conftest import signed_in
from tests.media_samples import SAMPLES
from tests.upload_support import (
    NOT_VIDEO,
    OFFSET_TYPE,
    TUS,
    KeptOpenBytes,
    approved_ask,
    avi_bytes,
    checksum,
    create,
    footage_request,
    h264_bytes,
    live_server,
    metadata,
    mkv_bytes,
    mp4_bytes,
    patch,
    session_cookie,
    sha256,
    ts_bytes,
    upload,
)
from tests.upload_support import ask as make_ask


@pytest.fixture(autouse=True)
def clip_root(request, tmp_path):
    """Clips of each test under its own directory (tests without an app stay off the databases)."""
    root = tmp_path / "clips"
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["CLIP_STORAGE_ROOT"] = str(root)
    return root


def _clip(location: str) -> Clip:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[-1].split("?")[0]))


def _stored(clip: Clip) -> bytes:
    return get_storage().read_bytes(clip.storage_key, 0, clip.size + 1)


def _error(response, status, code):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.json["error"]
    assert body["code"] == code, body
    assert body["status"] == status and body["message"]
    return body


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def _files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _policy(agency, **values):
    policy = db.session.get(AgencyPolicy, agency.id)
    if policy is None:
        policy = AgencyPolicy.defaults(agency.id)
        db.session.add(policy)
    for key, value in values.items():
        setattr(policy, key, value)
    db.session.commit()


# --- the real client, interrupted and resumed -------------------------------------------------

def test_tuspy_upload_interrupted_resumes_from_another_app_process(app, world, as_owner, tmp_path, clip_root):
    ask = approved_ask(world)
    data = mp4_bytes(300 * 1024 + 17)
    cookie = session_cookie(as_owner)
    urls = tmp_path / "tus-urls.json"
    # A second app process: same database and storage, nothing shared in memory.
    other = create_app("testing", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                   "CLIP_STORAGE_ROOT": str(clip_root)})
    try:
        with live_server(app) as first:
            url_storage = FileStorage(str(urls))
            uploader = tus_client.TusClient(f"{first}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=64 * 1024, metadata={"ask_id": str(ask.id),
                                                                                  "filename": "porch.mp4"},
                store_url=True, url_storage=url_storage, upload_checksum=True)
            uploader.upload(stop_at=128 * 1024)
            url_storage.close()
        location = uploader.url
        clip = _clip(location)
        assert clip.status == ClipStatus.UPLOADING and clip.upload_offset == 128 * 1024
        assert _stored(clip) == data[:128 * 1024]
        db.session.commit()

        with live_server(other) as second:
            # The phone comes back later: a new client reads the stored URL and continues.
            url_storage = FileStorage(str(urls))
            stored_url = url_storage.get_item(next(iter(url_storage._db.all()))["key"])
            resumed = tus_client.TusClient(f"{second}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=64 * 1024, url=stored_url.replace(first, second),
                upload_checksum=True)
            assert resumed.offset == 128 * 1024  # from HEAD
            resumed.upload()
            url_storage.close()
    finally:
        with other.app_context():
            db.engine.dispose()

    clip = _clip(location)
    assert clip.status == ClipStatus.COMPLETE and clip.upload_offset == clip.size == len(data)
    assert _stored(clip) == data
    assert clip.sha256 == sha256(data)
    assert clip.container == "mp4" and clip.filename == "porch.mp4"
    assert clip.retain_until == clip.completed_at + timedelta(days=90)
    assert clip.upload_expires_at is None
    db.session.refresh(ask)
    assert ask.state == AskState.DELIVERED
    actions = _actions()
    assert actions.count("clip.upload_started") == 1 and actions.count("clip.upload_completed") == 1
    assert {"ask.uploading", "ask.delivered"} <= set(actions)
    assert verify_chain().ok
    completed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "clip.upload_completed"))
    assert completed.details["sha256"] == sha256(data) and completed.actor_id == world.owner.id


@pytest.mark.one_database
def test_options_advertises_the_protocol(client, world):
    r = client.options("/api/uploads")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert int(r.headers["Tus-Max-Size"]) == 4 * 1024**3
    assert {"sha1", "md5", "sha256"} <= set(r.headers["Tus-Checksum-Algorithm"].split(","))


def test_creation_answers_location_and_expiry_and_head_reports_progress(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(10_000)
    r = create(as_owner, ask.id, len(data))
    assert r.status_code == 201 and r.headers["Tus-Resumable"] == "1.0.0"
    location = r.headers["Location"]
    assert location.startswith("/api/uploads/") and len(location.rsplit("/", 1)[1]) == 32
    assert r.headers["Upload-Expires"].endswith("GMT")
    assert patch(as_owner, location, data[:4000], 0).headers["Upload-Offset"] == "4000"
    head = as_owner.head(location, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "4000" and head.headers["Upload-Length"] == "10000"
    assert head.headers["Cache-Control"] == "no-store" and head.headers["Tus-Resumable"] == "1.0.0"
    done = patch(as_owner, location, data[4000:], 4000)
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "10000"
    assert "Upload-Expires" not in done.headers
    # A finished upload still answers HEAD, so a client that lost the last answer learns it is done.
    assert as_owner.head(location, headers=TUS).headers["Upload-Offset"] == "10000"
    assert patch(as_owner, location, b"", 10000).status_code == 204


# --- refusals ---------------------------------------------------------------------------------

def test_tus_resumable_is_required(app, world, as_owner):
    ask = approved_ask(world)
    r = as_owner.post("/api/uploads", headers={"Upload-Length": "100", "Upload-Metadata": metadata(ask_id=ask.id)})
    _error(r, 412, "tus_version_unsupported")
    assert r.headers["Tus-Version"] == "1.0.0"
    _error(as_owner.post("/api/uploads", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "1"}), 412,
           "tus_version_unsupported")
    location = create(as_owner, ask.id, 1000).headers["Location"]
    assert as_owner.head(location).status_code == 412
    _error(as_owner.patch(location, data=b"x", headers={"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}), 412,
           "tus_version_unsupported")


def test_wrong_offset_is_409_and_changes_nothing(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(8000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    assert patch(as_owner, location, data[:3000], 0).status_code == 204
    r = patch(as_owner, location, data[1000:2000], 1000)
    _error(r, 409, "offset_mismatch")
    assert r.headers["Upload-Offset"] == "3000"
    _error(patch(as_owner, location, data[5000:], 5000), 409, "offset_mismatch")
    clip = _clip(location)
    assert clip.upload_offset == 3000 and _stored(clip) == data[:3000]


@pytest.mark.one_database
@pytest.mark.parametrize("header", ["abc", "-1", "1.5", ""])
def test_malformed_lengths_and_offsets_are_400(app, world, as_owner, header):
    ask = approved_ask(world)
    r = as_owner.post("/api/uploads", headers={**TUS, "Upload-Length": header,
                                               "Upload-Metadata": metadata(ask_id=ask.id)})
    assert _error(r, 400, "invalid_header")["fields"] == {"Upload-Length": [_length_message(header)]}
    location = create(as_owner, ask.id, 100).headers["Location"]
    _error(patch(as_owner, location, b"x", header), 400, "invalid_header")


def _length_message(header: str) -> str:
    return "Required." if header == "" else "Must be a non-negative integer."


def test_oversize_is_413_at_creation_before_any_byte(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    _policy(world.agency, max_clip_bytes=50_000)
    r = create(as_owner, ask.id, 50_001)
    _error(r, 413, "clip_too_large")
    assert r.headers["Tus-Max-Size"] == "50000"
    assert db.session.scalar(sa.select(sa.func.count(Clip.id))) == 0 and _files(clip_root) == []
    assert create(as_owner, ask.id, 50_000).status_code == 201
    # The default (4 GiB) applies to an agency that never changed its policy.
    other_ask = approved_ask(world)
    _policy(world.agency, max_clip_bytes=4 * 1024**3)
    _error(create(as_owner, other_ask.id, 4 * 1024**3 + 1), 413, "clip_too_large")
    _error(create(as_owner, other_ask.id, 10**40), 413, "clip_too_large")


def test_body_longer_than_the_upload_is_413_before_it_is_read(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    data = mp4_bytes(5000)
    location = create(as_owner, ask.id, 4000).headers["Location"]
    _error(patch(as_owner, location, data, 0), 413, "chunk_too_large")
    clip = _clip(location)
    assert clip.upload_offset == 0 and _stored(clip) == b""


@pytest.mark.one_database
@pytest.mark.parametrize("kind", sorted(NOT_VIDEO))
def test_non_video_is_415_and_nothing_is_stored(app, world, as_owner, kind):
    ask = approved_ask(world)
    data = NOT_VIDEO[kind]
    location = create(as_owner, ask.id, len(data), filename=f"file.{kind}").headers["Location"]
    _error(patch(as_owner, location, data, 0), 415, "not_a_video")
    clip = _clip(location)
    assert clip.upload_offset == 0 and _stored(clip) == b"" and clip.container is None


def test_patch_needs_the_offset_content_type(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(2000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    r = as_owner.patch(location, data=data, headers={**TUS, "Upload-Offset": "0",
                                                     "Content-Type": "application/octet-stream"})
    _error(r, 415, "unsupported_media_type")
    assert _clip(location).upload_offset == 0


@pytest.mark.one_database
@pytest.mark.parametrize("name,data", [
    ("mp4", mp4_bytes(5000)), ("mp4", mp4_bytes(5000, brand=b"qt  ")), ("matroska", mkv_bytes()),
    ("avi", avi_bytes()), ("mpegts", ts_bytes()), ("mpegts", ts_bytes(packet=192)), ("h264", h264_bytes()),
])
def test_every_configured_container_is_accepted(app, world, as_owner, name, data):
    ask = approved_ask(world)
    clip = _clip(upload(as_owner, ask.id, data))
    assert clip.status == ClipStatus.COMPLETE and clip.container == name and clip.sha256 == sha256(data)


def test_containers_follow_the_configuration(app, world, as_owner):
    app.config["ALLOWED_VIDEO_CONTAINERS"] = "mp4"
    ask = approved_ask(world)
    data = mkv_bytes()
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    _error(patch(as_owner, location, data, 0), 415, "not_a_video")
    assert _clip(upload(as_owner, ask.id, mp4_bytes(3000))).container == "mp4"


@pytest.mark.parametrize("name", sorted(n for n, s in SAMPLES.items() if s.container != "zip"))
def test_recorder_exports_upload_byte_exact(app, world, as_owner, samples, name):
    """Real files of every recognised container through tus, in chunks smaller than the
    leading bytes a check needs: kept as sent, with their SHA-256 and container."""
    ask = approved_ask(world)
    data = samples[name].read_bytes()
    clip = _clip(upload(as_owner, ask.id, data, chunk=3000 if len(data) > 6000 else 30))
    assert clip.status == ClipStatus.COMPLETE and clip.container == SAMPLES[name].container
    assert clip.sha256 == sha256(data) and _stored(clip) == data


def test_an_imkh_header_split_across_chunks_is_decided_when_the_pack_arrives(app, world, as_owner, samples):
    ask = approved_ask(world)
    data = samples["imkh_mpegps"].read_bytes()
    location = create(as_owner, ask.id, len(data), filename="hikvision.mp4").headers["Location"]
    assert patch(as_owner, location, data[:42], 0).status_code == 204
    assert _clip(location).container is None
    assert patch(as_owner, location, data[42:], 42).status_code == 204
    clip = _clip(location)
    assert clip.container == "mpegps" and _stored(clip) == data


def test_a_zip_bundle_is_refused_when_the_allow_list_leaves_it_out(app, world, as_owner, samples):
    ask = approved_ask(world)
    data = samples["bundle_zip"].read_bytes()
    clip = _clip(upload(as_owner, ask.id, data))
    assert clip.container == "zip" and clip.sha256 == sha256(data) and _stored(clip) == data
    app.config["ALLOWED_VIDEO_CONTAINERS"] = "mp4,mpegps,dhav"
    location = create(as_owner, ask.id, len(data), filename="export.zip").headers["Location"]
    _error(patch(as_owner, location, data, 0), 415, "not_a_video")
    assert _stored(_clip(location)) == b""


def test_a_zip_bundle_must_hold_video_within_the_limits(app, world, as_owner, samples, clip_root):
    """Listed at its last byte, never extracted: a ZIP with no video, or a ZIP bomb, ends with 422."""
    app.config["ALLOWED_VIDEO_CONTAINERS"] = "mp4,zip"
    ask = approved_ask(world)
    bundle = samples["bundle_zip"].read_bytes()
    clip = _clip(upload(as_owner, ask.id, bundle, chunk=1000))
    assert clip.status == ClipStatus.COMPLETE and _stored(clip) == bundle
    for data, code in [
        (media_samples.zip_bytes({"report.docx": b"words", "setup.exe": media_samples.FAKE_PLAYER}),
         "bundle_without_video"),
        (media_samples.zip_bytes({"clip.mp4": bytes(8 * 1024**2)}), "bundle_compression_ratio"),
    ]:
        location = create(as_owner, ask.id, len(data), filename="export.zip").headers["Location"]
        _error(patch(as_owner, location, data, 0), 422, code)
        refused = _clip(location)
        assert refused.status == ClipStatus.ABORTED and refused.sha256 is None
        assert not get_storage().exists(refused.storage_key)
        _error(patch(as_owner, location, data, 0), 410, "upload_gone")  # ended, not waiting for a retry
    assert _actions().count("clip.upload_refused") == 2
    assert [p.name for p in _files(clip_root)] == [clip.storage_key]


def test_a_first_chunk_too_short_to_tell_is_decided_by_the_next(app, world, as_owner):
    ask = approved_ask(world)
    data = ts_bytes(10)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    assert patch(as_owner, location, data[:200], 0).status_code == 204  # one packet: cannot tell yet
    assert _clip(location).container is None
    assert patch(as_owner, location, data[200:], 200).status_code == 204
    assert _clip(location).container == "mpegts"
    # A prefix that already rules every container out is refused at once.
    png = NOT_VIDEO["png"]
    location = create(as_owner, ask.id, len(png)).headers["Location"]
    _error(patch(as_owner, location, png[:10], 0), 415, "not_a_video")
    # And a plausible start followed by the wrong bytes is refused when they arrive, nothing kept.
    fake = b"\x00\x00\x00\x20" + b"free" + bytes(1000)
    location = create(as_owner, ask.id, len(fake)).headers["Location"]
    assert patch(as_owner, location, fake[:5], 0).status_code == 204
    _error(patch(as_owner, location, fake[5:], 5), 415, "not_a_video")
    assert _clip(location).upload_offset == 5


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksum_mismatch_is_460_and_nothing_is_written(app, world, as_owner, algorithm):
    ask = approved_ask(world)
    data = mp4_bytes(6000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    first = patch(as_owner, location, data[:2000], 0, headers={"Upload-Checksum": checksum(data[:2000], algorithm)})
    assert first.status_code == 204
    r = patch(as_owner, location, data[2000:], 2000, headers={"Upload-Checksum": checksum(b"other", algorithm)})
    _error(r, 460, "checksum_mismatch")
    assert r.status == "460 Checksum Mismatch"
    clip = _clip(location)
    assert clip.upload_offset == 2000 and _stored(clip) == data[:2000]
    r = patch(as_owner, location, data[2000:], 2000, headers={"Upload-Checksum": checksum(data[2000:], algorithm)})
    assert r.status_code == 204 and _clip(location).sha256 == sha256(data)


def test_unknown_checksum_algorithm_is_400(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(2000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
    _error(patch(as_owner, location, data, 0, headers={"Upload-Checksum": f"crc32 {digest}"}), 400,
           "checksum_algorithm_unsupported")
    _error(patch(as_owner, location, data, 0, headers={"Upload-Checksum": "sha1 !!!"}), 400, "invalid_header")
    assert _clip(location).upload_offset == 0


def test_another_owners_ask_and_upload_are_404(app, world, as_owner):
    theirs = approved_ask(world, owner=world.other_owner)
    _error(create(as_owner, theirs.id, 1000), 404, "not_found")
    as_other = signed_in(app, world.other_owner)
    location = create(as_other, theirs.id, 1000).headers["Location"]
    assert as_owner.head(location, headers=TUS).status_code == 404
    _error(patch(as_owner, location, mp4_bytes(1000), 0), 404, "not_found")
    _error(as_owner.delete(location, headers=TUS), 404, "not_found")
    assert as_owner.head("/api/uploads/not-an-id", headers=TUS).status_code == 404
    assert _clip(location).upload_offset == 0


def test_uploads_need_an_owner(app, world, client, as_officer):
    ask = approved_ask(world)
    _error(create(client, ask.id, 1000), 401, "unauthenticated")
    _error(create(as_officer, ask.id, 1000), 403, "forbidden")
    r = create(signed_in(app, world.owner), None, 1000)
    assert _error(r, 400, "validation_error")["fields"] == {
        "Upload-Metadata": ["ask_id: required, the id of your approved ask."]}


@pytest.mark.one_database
@pytest.mark.parametrize("state", [AskState.QUEUED, AskState.SEEN, AskState.DECLINED, AskState.NO_FOOTAGE,
                                   AskState.EXPIRED, AskState.CANCELLED])
def test_an_ask_not_approved_takes_no_upload(app, world, as_owner, state):
    request = footage_request(world.agency, world.officer)
    ask = make_ask(request, world.owner, state=state)
    db.session.commit()
    _error(create(as_owner, ask.id, 1000), 409, "ask_not_uploadable")


def test_a_closed_or_expired_request_takes_no_upload(app, world, as_owner):
    ask = approved_ask(world)
    ask.request.status = RequestStatus.CANCELLED
    db.session.commit()
    _error(create(as_owner, ask.id, 1000), 409, "ask_not_uploadable")
    ask = approved_ask(world)
    ask.request.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _error(create(as_owner, ask.id, 1000), 409, "ask_not_uploadable")


def test_the_clip_count_limit(app, world, as_owner):
    ask = approved_ask(world)
    _policy(world.agency, max_clips_per_ask=2)
    upload(as_owner, ask.id, mp4_bytes(2000, seed=1))
    second = create(as_owner, ask.id, 2000).headers["Location"]
    _error(create(as_owner, ask.id, 2000), 403, "clip_limit_reached")
    # A terminated upload gives its place back.
    assert as_owner.delete(second, headers=TUS).status_code == 204
    assert create(as_owner, ask.id, 2000).status_code == 201
    _error(create(as_owner, ask.id, 2000), 403, "clip_limit_reached")


def test_more_clips_for_a_delivered_ask(app, world, as_owner):
    ask = approved_ask(world)
    upload(as_owner, ask.id, mp4_bytes(2000, seed=1))
    upload(as_owner, ask.id, mp4_bytes(3000, seed=2))
    db.session.refresh(ask)
    assert ask.state == AskState.DELIVERED
    assert _actions().count("ask.delivered") == 1


# --- signed links for SMS owners ----------------------------------------------------------------

def test_signed_link_uploads_without_an_account(app, world):
    ask = approved_ask(world)
    link = links.upload_link(ask)
    assert link.startswith("http://porchlight.test/u/")
    token = link.rsplit("/", 1)[1]
    data = mp4_bytes(200 * 1024)
    with live_server(app) as base:
        page = app.test_client().get(f"/api/upload-links/{token}")
        assert page.status_code == 200, page.json
        info = page.json
        assert info["agency"]["name"] == "Riverside Police Department"
        # No camera (it was deleted): nothing is known of its recorder.
        assert info["ask"] == {"id": ask.id, "state": "approved", "camera_label": "Porch camera",
                               "recorder_window": None, "overwrite_at": None, "overwrite_days_left": None}
        assert info["request"]["summary"].startswith("Break-in")
        assert info["limits"]["max_clip_bytes"] == 4 * 1024**3 and info["limits"]["clips_remaining"] == 16
        assert info["upload"]["endpoint"] == "/api/uploads" and info["upload"]["tus_version"] == "1.0.0"
        uploader = tus_client.TusClient(base + info["upload"]["endpoint"],
                                        headers={"Authorization": info["upload"]["authorization"]}).uploader(
            file_stream=KeptOpenBytes(data), chunk_size=50 * 1024, metadata={"filename": "door.mp4"},
            upload_checksum=True)
        uploader.upload()
    clip = _clip(uploader.url)
    assert clip.sha256 == sha256(data) and clip.owner_id == world.owner.id
    started = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "clip.upload_started"))
    assert started.details["via"] == "link" and started.actor_id == world.owner.id
    page = app.test_client().get(f"/api/upload-links/{token}").json
    assert [c["sha256"] for c in page["clips"]] == [sha256(data)]
    assert page["limits"]["clips_remaining"] == 15


def test_link_token_in_the_query_string(app, world, client):
    ask = approved_ask(world)
    token = links.upload_token(ask)
    data = mp4_bytes(3000)
    r = client.post(f"/api/uploads?token={token}", headers={**TUS, "Upload-Length": str(len(data))})
    assert r.status_code == 201
    location = r.headers["Location"]
    assert location.endswith(f"?token={token}")
    assert patch(client, location, data, 0).status_code == 204
    assert _clip(location).sha256 == sha256(data)


def test_tampered_expired_and_foreign_links_are_refused(app, world, client):
    ask = approved_ask(world)
    token = links.upload_token(ask)
    bearer = {"Authorization": f"Bearer {token}"}
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    _error(client.get(f"/api/upload-links/{tampered}"), 404, "invalid_link")
    _error(create(client, None, 1000, headers={"Authorization": f"Bearer {tampered}"}), 404, "invalid_link")
    # Another ask's id in the metadata: the token speaks for one ask only.
    other = approved_ask(world, owner=world.other_owner)
    _error(create(client, other.id, 1000, headers=bearer), 404, "not_found")
    # A token signed with another key is not ours.
    app.config["SECRET_KEY"], key = "another-key", app.config["SECRET_KEY"]
    forged = links.upload_token(ask)
    app.config["SECRET_KEY"] = key
    _error(client.get(f"/api/upload-links/{forged}"), 404, "invalid_link")
    # An upload made with the link cannot be reached with another ask's link.
    location = create(client, None, 1000, headers=bearer).headers["Location"]
    other_bearer = {"Authorization": f"Bearer {links.upload_token(other)}"}
    assert client.head(location, headers={**TUS, **other_bearer}).status_code == 404
    # The request expires: so does the link.
    ask.request.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    _error(client.get(f"/api/upload-links/{token}"), 410, "link_expired")
    _error(create(client, None, 1000, headers=bearer), 410, "link_expired")
    assert client.head(location, headers={**TUS, **bearer}).status_code == 410


def test_a_link_whose_token_outlived_its_request_is_expired(app, world, client):
    ask = approved_ask(world, lifetime=timedelta(seconds=30))
    token = links.upload_token(ask)
    with pytest.raises(ApiError) as raised:
        uploads.ask_for_link(token, now=utcnow() + timedelta(minutes=1))
    assert raised.value.status_code == 410 and raised.value.extra_data["code"] == "link_expired"


def test_link_page_for_an_ask_not_approved_is_409(app, world, client):
    request = footage_request(world.agency, world.officer)
    ask = make_ask(request, world.owner, state=AskState.SEEN)
    db.session.commit()
    _error(client.get(f"/api/upload-links/{links.upload_token(ask)}"), 409, "ask_not_uploadable")


# --- termination, expiry, discarding --------------------------------------------------------

def test_termination_deletes_the_bytes(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    data = mp4_bytes(9000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, location, data[:5000], 0)
    assert len(_files(clip_root)) == 1
    r = as_owner.delete(location, headers=TUS)
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert _clip(location).status == ClipStatus.ABORTED and _files(clip_root) == []
    assert as_owner.head(location, headers=TUS).status_code == 410
    _error(patch(as_owner, location, data[5000:], 5000), 410, "upload_gone")
    _error(as_owner.delete(location, headers=TUS), 410, "upload_gone")
    assert "clip.upload_terminated" in _actions()
    # A delivered clip is evidence now: termination cannot withdraw it.
    done = upload(as_owner, ask.id, mp4_bytes(2000))
    _error(as_owner.delete(done, headers=TUS), 409, "clip_delivered")


def test_abandoned_uploads_are_cleaned_up(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    data = mp4_bytes(9000)
    stale = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, stale, data[:4000], 0)
    fresh = create(as_owner, ask.id, len(data)).headers["Location"]
    done = upload(as_owner, ask.id, mp4_bytes(3000))
    expiry = _clip(stale).upload_expires_at
    assert expiry - utcnow() == pytest.approx(timedelta(hours=24), abs=timedelta(minutes=1))
    # The fresh upload moves on: its expiry moves with it.
    later = utcnow() + timedelta(hours=20)
    clip = _clip(fresh)
    clip.upload_expires_at = later + timedelta(hours=24)
    db.session.commit()
    assert uploads.clean_abandoned_uploads(utcnow() + timedelta(hours=23)) == 0
    assert uploads.clean_abandoned_uploads(utcnow() + timedelta(hours=25)) == 1
    assert _clip(stale).status == ClipStatus.ABORTED and not get_storage().exists(_clip(stale).storage_key)
    assert _clip(fresh).status == ClipStatus.UPLOADING and _clip(done).status == ClipStatus.COMPLETE
    assert len(_files(clip_root)) == 2
    assert "clip.upload_abandoned" in _actions()
    assert as_owner.head(stale, headers=TUS).status_code == 410
    assert uploads.clean_abandoned_uploads(utcnow() + timedelta(hours=25)) == 0


def test_an_upload_past_its_expiry_is_gone_before_the_sweep(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(2000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    assert patch(as_owner, location, data[:800], 0).status_code == 204
    clip = _clip(location)
    clip.upload_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _error(patch(as_owner, location, data[800:], 800), 410, "upload_expired")
    # Nothing of the refused chunk was taken: the offset and the stored bytes are as before.
    clip = _clip(location)
    assert clip.status == ClipStatus.UPLOADING and clip.upload_offset == 800
    assert get_storage().size(clip.storage_key) == 800 and _stored(clip) == data[:800]


def test_an_upload_never_outlives_its_request(app, world, as_owner):
    ask = approved_ask(world, lifetime=timedelta(hours=2))
    location = create(as_owner, ask.id, 2000).headers["Location"]
    assert _clip(location).upload_expires_at == ask.request.expires_at


def test_a_closed_ask_keeps_no_unfinished_upload(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    data = mp4_bytes(9000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, location, data[:3000], 0)
    db.session.refresh(ask)
    from app.footage import asks

    asks.cancel(ask)
    assert uploads.discard_uploads_for(ask) == 1
    db.session.commit()
    assert _clip(location).status == ClipStatus.ABORTED and _files(clip_root) == []
    assert "clip.upload_discarded" in _actions()
    _error(patch(as_owner, location, data[3000:], 3000), 410, "upload_gone")


@pytest.mark.parametrize("ending", ["cancel", "expire"])
def test_closing_the_request_discards_a_half_sent_clip(app, world, as_owner, clip_root, ending):
    from app.footage import lifecycle

    ask = approved_ask(world)
    data = mp4_bytes(9000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, location, data[:3000], 0)
    request_id = ask.request_id
    if ending == "cancel":
        lifecycle.cancel_request(world.officer, request_id)
    else:
        ask.request.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert lifecycle.expire_due_requests() == 1
    db.session.expire_all()
    assert _clip(location).status == ClipStatus.ABORTED and _files(clip_root) == []
    assert "clip.upload_discarded" in _actions()
    _error(patch(as_owner, location, data[3000:], 3000), 410, "upload_gone")


def test_the_sweep_also_ends_uploads_of_closed_asks(app, world, as_owner, clip_root):
    ask = approved_ask(world)
    location = create(as_owner, ask.id, 9000).headers["Location"]
    patch(as_owner, location, mp4_bytes(9000)[:3000], 0)
    db.session.refresh(ask)
    ask.state = AskState.EXPIRED
    db.session.commit()
    _error(patch(as_owner, location, b"\x00" * 10, 3000), 410, "ask_closed")
    assert uploads.clean_abandoned_uploads() == 1
    assert _files(clip_root) == []


# --- robustness ----------------------------------------------------------------------------------

def test_a_dropped_connection_keeps_what_arrived(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(100_000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    cookie = session_cookie(as_owner)["Cookie"]
    with live_server(app) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = (f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                    f"Upload-Offset: 0\r\nContent-Type: {OFFSET_TYPE}\r\nContent-Length: {len(data)}\r\n"
                    f"Cookie: {cookie}\r\n\r\n")
            sock.sendall(head.encode() + data[:40_000])
        # The server notices the end of the body when its read comes back empty.
        for _ in range(200):
            clip = _clip(location)
            if clip.upload_offset:
                break
            time.sleep(0.02)
    assert clip.upload_offset == 40_000 and _stored(clip) == data[:40_000]
    assert patch(as_owner, location, data[40_000:], 40_000).status_code == 204
    assert _clip(location).sha256 == sha256(data)


def test_a_dropped_connection_with_a_checksum_keeps_nothing(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(100_000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    # The body ends 60,000 bytes short of its Content-Length: the client went away.
    r = as_owner.patch(location, input_stream=io.BytesIO(data[:40_000]),
                       environ_overrides={"CONTENT_LENGTH": str(len(data))},
                       headers={**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE,
                                "Upload-Checksum": checksum(data)})
    assert r.status_code == 400
    clip = _clip(location)
    # Nothing can be checked against the checksum, so nothing is kept.
    assert clip.upload_offset == 0 and _stored(clip) == b""
    r = as_owner.patch(location, input_stream=io.BytesIO(data[:40_000]),
                       environ_overrides={"CONTENT_LENGTH": str(len(data))},
                       headers={**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE})
    assert r.status_code == 400
    assert _clip(location).upload_offset == 40_000


def test_a_concurrent_writer_gets_423(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(3000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    clip = _clip(location)
    with get_storage().open_append(clip.storage_key, 0):
        _error(patch(as_owner, location, data, 0), 423, "upload_locked")
    assert patch(as_owner, location, data, 0).status_code == 204


def test_a_writer_that_lost_the_race_cannot_overwrite(app, world, as_owner):
    """Bytes past the committed offset (a crash mid-PATCH) are dropped; committed bytes never are."""
    ask = approved_ask(world)
    data = mp4_bytes(6000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, location, data[:2000], 0)
    clip = _clip(location)
    with get_storage().open_append(clip.storage_key, 2000) as out:
        out.write(b"garbage that was never committed")
    assert _stored(clip).startswith(data[:2000]) and len(_stored(clip)) > 2000
    assert patch(as_owner, location, data[2000:], 2000).status_code == 204
    assert _stored(_clip(location)) == data


# --- storage ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "abc", "",
                                 "0123456789abcdef0123456789abcdef/..", "0123456789abcdef0123456789abcdeg"])
def test_storage_refuses_keys_it_did_not_make(tmp_path, key):
    storage = LocalDiskStorage(tmp_path)
    for call in (lambda: storage.create(key), lambda: storage.exists(key), lambda: storage.delete(key),
                 lambda: storage.size(key), lambda: storage.read(key)):
        with pytest.raises(InvalidKey):
            call()
    assert list(tmp_path.iterdir()) == []


def test_local_storage_round_trip(tmp_path):
    storage = LocalDiskStorage(tmp_path)
    key = "0123456789abcdef0123456789abcdef"
    storage.create(key)
    with storage.open_append(key, 0) as out:
        out.write(b"hello ")
        with pytest.raises(StorageBusy), storage.open_append(key, 0):
            pass
    with storage.open_append(key, 6) as out:
        out.write(b"world")
        out.discard()
    with storage.open_append(key, 6) as out:
        out.write(memoryview(b"clips"))
    assert storage.size(key) == 11 and storage.read_bytes(key, 0, 11) == b"hello clips"
    assert b"".join(storage.read(key, 2, 9, chunk_size=3)) == b"llo cli"
    assert b"".join(storage.read(key, 6)) == b"clips"
    assert (tmp_path / key[:2] / key).is_file()
    assert storage.delete(key) and not storage.exists(key) and not storage.delete(key)


@pytest.mark.one_database
def test_storage_backend_is_chosen_by_configuration(make_app):
    with pytest.raises(RuntimeError, match="CLIP_STORAGE_BACKEND"):
        get_storage(make_app(CLIP_STORAGE_BACKEND="ftp"))


# --- sniffing ----------------------------------------------------------------------------------

def test_sniffing_decides_from_leading_bytes_only():
    every = list(sniff.CONTAINERS)
    assert sniff.detect(mp4_bytes(2000)[:8], 2000, every) == "mp4"
    assert sniff.detect(mp4_bytes(2000)[:6], 2000, every) is sniff.UNDECIDED
    assert sniff.detect(b"\x00\x00\x00\x01ftyp", 12, every) == "mp4"  # 64-bit box size
    assert sniff.detect(b"\x00\x00\x00\x04ftyp", 12, every) is None
    assert sniff.detect(ts_bytes(2), 376, every) == "mpegts"  # a short file: every packet it has
    assert sniff.detect(ts_bytes(4)[:189], 752, every) is sniff.UNDECIDED
    assert sniff.detect(b"\x00\x00\x01\x09\xf0", 5, every) == "h264"  # 3-byte start code, AUD
    assert sniff.detect(b"\x00\x00\x01\xe0", 4, every) is None  # MPEG-PS video PES, not H.264
    assert sniff.detect(b"\x00\x00\x00", 3, every) is None
    assert sniff.detect(b"RIFF\x00\x00\x00\x00WAVE", 12, every) is None
    with pytest.raises(RuntimeError, match="ALLOWED_VIDEO_CONTAINERS"):
        sniff.allowed_containers("mp4,gif")


def test_tuspy_reports_refusals(app, world, as_owner):
    """The real client sees the protocol's answers: 413 on creation, 460 not retried as success."""
    ask = approved_ask(world)
    _policy(world.agency, max_clip_bytes=1000)
    cookie = session_cookie(as_owner)
    with live_server(app) as base:
        uploader = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
            file_stream=KeptOpenBytes(mp4_bytes(5000)), chunk_size=1000, metadata={"ask_id": str(ask.id)})
        with pytest.raises(TusCommunicationError) as raised:
            uploader.upload()
        assert raised.value.status_code == 413
        _policy(world.agency, max_clip_bytes=10_000)
        uploader = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
            file_stream=KeptOpenBytes(NOT_VIDEO["pdf"]), chunk_size=1000, metadata={"ask_id": str(ask.id)})
        with pytest.raises(TusUploadFailed) as raised:
            uploader.upload()
        assert raised.value.status_code == 415


# --- the running SHA-256 -----------------------------------------------------------------------

def test_the_running_hash_resumes_from_its_saved_state():
    assert digest.available()
    first = digest.ResumableSha256()
    first.update(b"a" * 5000)
    state = first.state()
    assert len(state) == digest.STATE_SIZE
    resumed = digest.resume(state, 5000)
    resumed.update(b"b" * 7000)
    assert resumed.hexdigest() == hashlib.sha256(b"a" * 5000 + b"b" * 7000).hexdigest()
    assert resumed.hexdigest() == resumed.hexdigest()  # reading the digest leaves the state alone
    assert digest.resume(state, 4999) is None  # a state for other bytes than the committed ones
    assert digest.resume(b"junk", 5000) is None and digest.resume(None, 5000) is None
    assert digest.resume(None, 0).hexdigest() == hashlib.sha256().hexdigest()


def test_the_saved_state_follows_the_offset_and_is_cleared_at_the_end(app, world, as_owner):
    ask = approved_ask(world)
    data = mp4_bytes(9000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    patch(as_owner, location, data[:4000], 0)
    state = _clip(location).sha256_state
    assert digest.resume(state, 4000).length == 4000
    patch(as_owner, location, data[4000:], 4000)
    clip = _clip(location)
    assert clip.sha256 == sha256(data) and clip.sha256_state is None


def test_without_a_saved_state_the_clip_is_hashed_from_storage(app, world, as_owner, monkeypatch):
    """A chunk taken by a process that could not save the running hash: the end reads the clip back."""
    ask = approved_ask(world)
    data = mp4_bytes(9000)
    location = create(as_owner, ask.id, len(data)).headers["Location"]
    monkeypatch.setattr(digest, "_available", False)
    patch(as_owner, location, data[:4000], 0)
    assert _clip(location).sha256_state is None
    monkeypatch.setattr(digest, "_available", True)
    reads = []
    original = uploads._sha256
    monkeypatch.setattr(uploads, "_sha256", lambda key: reads.append(key) or original(key))
    patch(as_owner, location, data[4000:], 4000)
    assert _clip(location).sha256 == sha256(data) and len(reads) == 1


@pytest.mark.one_database
def test_the_checksum_thread_hashes_every_block_and_always_stops():
    blocks = [os.urandom(300_000) for _ in range(9)]  # more than the queue holds
    good = tus.Checksum("sha1", hashlib.sha1(b"".join(blocks)).digest())
    with good.check_body() as check:
        for block in blocks:
            check.update(block)
        assert check.matches()
    with pytest.raises(RuntimeError), tus.Checksum("sha256", hashlib.sha256(b"x").digest()).check_body() as bad:
        bad.update(b"y" * 5000)
        thread = bad._thread
        raise RuntimeError("the body was refused half-way")
    assert not thread.is_alive()
    assert not bad.matches()
