"""Officers' review of delivered clips (lists, HTTP Range playback, downloads), the access
history owners see, evidence holds and retention, on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.clips import retention, review
from app.clips.models import Clip, ClipAccess, ClipStatus, EvidenceHold
from app.db import utcnow
from app.extensions import db
from app.storage import get_storage
from tests.conftest import signed_in
from tests.upload_support import approved_ask, create, mp4_bytes, patch, sha256, upload

SIZE = 10_000


@pytest.fixture(autouse=True)
def clip_root(app, tmp_path):
    app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "clips")
    return tmp_path / "clips"


@pytest.fixture
def delivered(app, world, as_owner):
    """A clip the world's owner delivered for a request of the world's agency: (clip, its bytes)."""
    ask = approved_ask(world)
    data = mp4_bytes(SIZE, seed=7)
    location = upload(as_owner, ask.id, data, chunk=4000)
    clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))
    return clip, data


def _error(response, status, code):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.json["error"]["code"] == code, response.json
    return response.json["error"]


def _accesses() -> list[ClipAccess]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ClipAccess).order_by(ClipAccess.id)))


def _audited(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


# --- the officer's list -------------------------------------------------------------------------

def test_officers_list_a_requests_clips_without_the_owner(app, world, delivered, as_officer, as_owner):
    clip, data = delivered
    unfinished = create(as_owner, clip.ask_id, 5000, filename="Jane Doe backyard.mp4").headers["Location"]
    patch(as_owner, unfinished, mp4_bytes(5000)[:1000], 0)
    r = as_officer.get(f"/api/requests/{clip.request_id}/clips")
    assert r.status_code == 200
    first, second = r.json
    assert first["id"] == clip.id and first["status"] == "complete" and first["sha256"] == sha256(data)
    assert first["size"] == first["received"] == SIZE and first["container"] == "mp4"
    assert first["content_url"] == f"/api/clips/{clip.id}/content"
    assert first["download_url"] == f"/api/clips/{clip.id}/download"
    assert first["held"] is False and first["retain_until"]
    assert second["status"] == "uploading" and second["received"] == 1000 and second["content_url"] is None
    # Nothing that says who sent it: no owner, ask, camera or file name.
    text = r.get_data(as_text=True)
    for secret in ("owner", "ask", "filename", "camera", "Jane", world.owner.email):
        assert secret not in text


def test_another_agency_and_other_roles_see_nothing(app, world, delivered):
    clip, _ = delivered
    other = signed_in(app, world.other_officer)
    _error(other.get(f"/api/requests/{clip.request_id}/clips"), 404, "not_found")
    for path in (f"/api/clips/{clip.id}/content", f"/api/clips/{clip.id}/download"):
        _error(other.get(path), 404, "not_found")
        _error(signed_in(app, world.owner).get(path), 403, "forbidden")
        _error(signed_in(app, world.manager).get(path), 403, "forbidden")
        _error(app.test_client().get(path), 401, "unauthenticated")
    _error(signed_in(app, world.manager).get(f"/api/requests/{clip.request_id}/clips"), 403, "forbidden")
    assert _accesses() == []


# --- playback with HTTP Range -----------------------------------------------------------------

def test_range_requests(app, world, delivered, as_officer):
    clip, data = delivered
    url = f"/api/clips/{clip.id}/content"
    whole = as_officer.get(url)
    assert whole.status_code == 200 and whole.data == data
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Content-Length"] == str(SIZE) and whole.headers["ETag"] == f'"{sha256(data)}"'
    assert whole.headers["Content-Disposition"].startswith("inline")
    assert whole.headers["Cache-Control"] == "private, no-store"
    digest = base64.b64encode(bytes.fromhex(sha256(data))).decode()
    assert whole.headers["Repr-Digest"] == f"sha-256=:{digest}:"

    first = as_officer.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.data == data[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{SIZE}" and first.headers["Content-Length"] == "100"

    suffix = as_officer.get(url, headers={"Range": "bytes=-500"})
    assert suffix.status_code == 206 and suffix.data == data[-500:]
    assert suffix.headers["Content-Range"] == f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}"

    open_ended = as_officer.get(url, headers={"Range": "bytes=9000-"})
    assert open_ended.status_code == 206 and open_ended.data == data[9000:]
    assert open_ended.headers["Content-Range"] == f"bytes 9000-{SIZE - 1}/{SIZE}"

    past_end = as_officer.get(url, headers={"Range": "bytes=9990-20000"})
    assert past_end.status_code == 206 and past_end.data == data[9990:]

    unsatisfiable = as_officer.get(url, headers={"Range": f"bytes={SIZE}-"})
    _error(unsatisfiable, 416, "range_not_satisfiable")
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{SIZE}"

    # Unparseable or several ranges: the whole clip, as RFC 9110 allows.
    assert as_officer.get(url, headers={"Range": "bytes=abc"}).status_code == 200
    assert as_officer.get(url, headers={"Range": "bytes=0-1,5-6"}).data == data
    # If-Range with another validator: the whole clip.
    stale = as_officer.get(url, headers={"Range": "bytes=0-9", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and stale.data == data
    fresh = as_officer.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{sha256(data)}"'})
    assert fresh.status_code == 206 and fresh.data == data[:10]


def test_download_is_an_attachment(app, world, delivered, as_supervisor):
    clip, data = delivered
    r = as_supervisor.get(f"/api/clips/{clip.id}/download")
    assert r.status_code == 200 and r.data == data
    assert r.headers["Content-Disposition"] == f'attachment; filename="porchlight-clip-{clip.id}.mp4"'
    resumed = as_supervisor.get(f"/api/clips/{clip.id}/download", headers={"Range": "bytes=5000-"})
    assert resumed.status_code == 206 and resumed.data == data[5000:]


def test_a_zip_bundle_is_never_served_inline(app, world, as_owner, as_officer, samples):
    """A recorder's export holds the vendor's player: even the play URL sends it as a file, as received."""
    data = samples["bundle_zip"].read_bytes()
    location = upload(as_owner, approved_ask(world).id, data)
    clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))
    for path in ("content", "download"):
        r = as_officer.get(f"/api/clips/{clip.id}/{path}")
        assert r.status_code == 200 and r.data == data and r.mimetype == "application/zip"
        assert r.headers["Content-Disposition"] == f'attachment; filename="porchlight-clip-{clip.id}.zip"'
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unfinished_or_purged_clip_cannot_be_played(app, world, as_owner, as_officer, delivered):
    clip, _ = delivered
    location = create(as_owner, clip.ask_id, 5000).headers["Location"]
    unfinished = db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))
    _error(as_officer.get(f"/api/clips/{unfinished.id}/content"), 409, "clip_not_ready")
    assert retention.purge_expired_clips(utcnow() + timedelta(days=91)) == 1
    _error(as_officer.get(f"/api/clips/{clip.id}/content"), 410, "clip_purged")
    _error(as_officer.get(f"/api/clips/{clip.id}/download"), 410, "clip_purged")


# --- every access recorded, audited and shown to the owner --------------------------------------

def test_views_and_downloads_are_recorded_and_the_owner_sees_them(app, world, delivered, as_officer, as_owner,
                                                                  as_supervisor):
    clip, data = delivered
    as_officer.get(f"/api/clips/{clip.id}/content", headers={"Range": "bytes=0-1023"})
    # The player's next range requests belong to the same view.
    as_officer.get(f"/api/clips/{clip.id}/content", headers={"Range": "bytes=1024-"})
    as_supervisor.get(f"/api/clips/{clip.id}/download")
    accesses = _accesses()
    assert [(a.user_id, a.action, a.byte_range) for a in accesses] == [
        (world.officer.id, "view", "0-1023"), (world.supervisor.id, "download", None)]
    viewed, downloaded = _audited("clip.viewed"), _audited("clip.downloaded")
    assert len(viewed) == 1 and viewed[0].actor_id == world.officer.id
    assert viewed[0].agency_id == world.agency.id and viewed[0].target_id == str(clip.id)
    assert viewed[0].details["sha256"] == sha256(data)
    assert len(downloaded) == 1 and downloaded[0].actor_id == world.supervisor.id
    assert verify_chain().ok

    mine = as_owner.get(f"/api/asks/{clip.ask_id}/clips")
    assert mine.status_code == 200
    (only,) = mine.json
    assert only["sha256"] == sha256(data) and only["filename"] == "clip.mp4" and only["status"] == "complete"
    assert [(a["action"], a["accessor_role"], a["agency_name"]) for a in only["accesses"]] == [
        ("view", "officer", "Riverside Police Department"), ("download", "supervisor", "Riverside Police Department")]

    history = as_owner.get("/api/me/clip-accesses")
    assert history.status_code == 200
    assert [(a["action"], a["clip_id"], a["ask_id"]) for a in history.json] == [
        ("download", clip.id, clip.ask_id), ("view", clip.id, clip.ask_id)]
    page = as_owner.get(f"/api/me/clip-accesses?limit=1&before_id={history.json[0]['id']}").json
    assert [a["action"] for a in page] == ["view"]
    # Staff details stay with the agency: no officer e-mail or name in the owner's history.
    assert world.officer.email not in history.get_data(as_text=True)
    # Another owner sees none of it; another owner's ask is not found.
    other = signed_in(app, world.other_owner)
    assert other.get("/api/me/clip-accesses").json == []
    _error(other.get(f"/api/asks/{clip.ask_id}/clips"), 404, "not_found")
    _error(as_officer.get("/api/me/clip-accesses"), 403, "forbidden")


def test_a_later_view_is_a_new_access(app, world, delivered):
    clip, _ = delivered
    officer = db.session.get(type(world.officer), world.officer.id)
    now = utcnow()
    assert review.record_access(clip, officer, review.VIEW, now=now) is not None
    assert review.record_access(clip, officer, review.VIEW, now=now + timedelta(minutes=5)) is None
    assert review.record_access(clip, officer, review.DOWNLOAD, now=now + timedelta(minutes=5)) is not None
    assert review.record_access(clip, officer, review.VIEW, now=now + timedelta(minutes=11)) is not None
    db.session.commit()
    assert [a.action for a in _accesses()] == ["view", "download", "view"]


# --- evidence holds and retention ---------------------------------------------------------------

def test_purge_after_retention_unless_held(app, world, delivered, as_supervisor, as_officer, as_owner):
    clip, data = delivered
    other_ask = approved_ask(world)
    other_location = upload(as_owner, other_ask.id, mp4_bytes(3000, seed=9))
    storage = get_storage()
    assert clip.retain_until - clip.completed_at == timedelta(days=90)
    assert retention.purge_expired_clips(utcnow() + timedelta(days=89)) == 0

    _error(as_officer.post(f"/api/requests/{clip.request_id}/holds", json={"reason": "Trial"}), 403, "forbidden")
    missing = as_supervisor.post(f"/api/requests/{clip.request_id}/holds", json={"reason": "   "})
    assert missing.status_code == 422 and "reason" in missing.json["error"]["fields"]
    r = as_supervisor.post(f"/api/requests/{clip.request_id}/holds", json={"reason": "Case 24-118 goes to trial"})
    assert r.status_code == 201
    hold = r.json
    assert hold["active"] is True and hold["reason"] == "Case 24-118 goes to trial"
    assert hold["placed_by_id"] == world.supervisor.id
    assert as_officer.get(f"/api/requests/{clip.request_id}/clips").json[0]["held"] is True
    assert [h["id"] for h in as_officer.get(f"/api/requests/{clip.request_id}/holds").json] == [hold["id"]]

    later = utcnow() + timedelta(days=91)
    # The held request's clip stays; the other request's clip goes.
    assert retention.purge_expired_clips(later) == 1
    db.session.expire_all()
    assert db.session.get(Clip, clip.id).status == ClipStatus.COMPLETE and storage.exists(clip.storage_key)
    gone = db.session.scalar(sa.select(Clip).where(Clip.upload_id == other_location.rsplit("/", 1)[1]))
    assert gone.status == ClipStatus.PURGED and gone.purged_at and not storage.exists(gone.storage_key)
    assert as_officer.get(f"/api/clips/{clip.id}/content").data == data

    _error(as_supervisor.post(f"/api/holds/{hold['id']}/release", json={}), 422, "validation_error")
    released = as_supervisor.post(f"/api/holds/{hold['id']}/release", json={"reason": "Verdict reached"})
    assert released.status_code == 200
    assert released.json["active"] is False and released.json["release_reason"] == "Verdict reached"
    _error(as_supervisor.post(f"/api/holds/{hold['id']}/release", json={"reason": "again"}), 409, "hold_released")
    assert retention.purge_expired_clips(later) == 1
    db.session.expire_all()
    assert db.session.get(Clip, clip.id).status == ClipStatus.PURGED and not storage.exists(clip.storage_key)
    # The owner still sees the clip's record and hash; the bytes are gone.
    mine = as_owner.get(f"/api/asks/{clip.ask_id}/clips").json
    assert mine[0]["status"] == "purged" and mine[0]["sha256"] == sha256(data) and mine[0]["purged_at"]

    assert [e.details["reason"] for e in _audited("hold.placed")] == ["Case 24-118 goes to trial"]
    assert [e.details["reason"] for e in _audited("hold.released")] == ["Verdict reached"]
    assert len(_audited("clip.purged")) == 2
    assert verify_chain().ok


def test_holds_belong_to_their_agency(app, world, delivered, as_supervisor):
    clip, _ = delivered
    other = signed_in(app, world.other_supervisor)
    _error(other.post(f"/api/requests/{clip.request_id}/holds", json={"reason": "x"}), 404, "not_found")
    hold = as_supervisor.post(f"/api/requests/{clip.request_id}/holds", json={"reason": "x"}).json
    _error(other.post(f"/api/holds/{hold['id']}/release", json={"reason": "x"}), 404, "not_found")
    _error(other.get(f"/api/requests/{clip.request_id}/holds"), 404, "not_found")
    # The hold survives the other agency's release: still the only one, active, and it keeps the clip.
    (kept,) = as_supervisor.get(f"/api/requests/{clip.request_id}/holds").json
    assert kept["id"] == hold["id"] and kept["active"] is True and kept["release_reason"] is None
    db.session.expire_all()
    row = db.session.get(EvidenceHold, hold["id"])
    assert row.released_at is None and row.released_by_id is None
    assert _audited("hold.released") == [] and len(_audited("hold.placed")) == 1
    assert retention.purge_expired_clips(utcnow() + timedelta(days=91)) == 0
    assert db.session.get(Clip, clip.id).status == ClipStatus.COMPLETE
