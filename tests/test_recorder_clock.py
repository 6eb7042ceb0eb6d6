"""The recorder's clock (issue 14): the offset an upload reads (tus metadata), kept with the
clip and remembered on the camera, edited on the camera, and what asks and clips say with
it: the window in the recorder's time and the days before the recorder overwrites it. On
SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import links
from app.audit.models import AuditEvent
from app.cameras import recorder_clock
from app.cameras.models import Camera
from app.clips.models import Clip
from app.db import utcnow
from app.extensions import db
from app.footage.models import AskState
from app.notifications import messages
from tests import factories
from tests.upload_support import TUS, metadata, mp4_bytes, patch

FAST_5_MIN = 300
SLOW_1_HOUR = -3600


def _approved_ask(world, *, offset=None, retention_days=30, window_ago=timedelta(hours=3), owner=None):
    camera = factories.camera(owner or world.owner, shared_with=[world.agency], retention_days=retention_days,
                              recorder_offset_s=offset)
    request = factories.footage_request(world.agency, world.officer, window_ago=window_ago)
    ask = factories.ask(request, camera, state=AskState.APPROVED)
    db.session.commit()
    return ask, camera, request


def _create(client, ask_id, length=4096, token=None, **meta):
    values = {"filename": "dvr-export.mp4", **meta}
    if ask_id is not None:
        values["ask_id"] = str(ask_id)
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**values)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/uploads", headers=headers)


def _clip(location: str) -> Clip:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[-1]))


def _camera(camera_id: int) -> Camera:
    db.session.expire_all()
    return db.session.get(Camera, camera_id)


def _camera_events(camera_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.target_type == "camera",
                                                               AuditEvent.target_id == str(camera_id))
                                   .order_by(AuditEvent.seq)))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# --- the rules, without a database -------------------------------------------------------------

@pytest.mark.one_database
@pytest.mark.parametrize("value,ok", [(0, True), (300, True), (-3600, True), (recorder_clock.MAX_OFFSET_S, True),
                                      (-recorder_clock.MAX_OFFSET_S, True), (recorder_clock.MAX_OFFSET_S + 1, False),
                                      (True, False), (1.5, False), ("300", False)])
def test_what_an_offset_may_be(value, ok):
    assert (recorder_clock.offset_problem(value) is None) is ok


@pytest.mark.one_database
def test_the_window_in_recorder_time_and_the_days_left():
    start = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    assert recorder_clock.recorder_window(start, end, None) is None
    # Five minutes fast: what happened at 21:00 is stamped 21:05.
    assert recorder_clock.recorder_window(start, end, FAST_5_MIN) == {
        "start": datetime(2026, 3, 1, 21, 5, tzinfo=UTC), "end": datetime(2026, 3, 1, 22, 5, tzinfo=UTC),
        "offset_s": FAST_5_MIN}
    gone = recorder_clock.overwrite(start, 14, now=start + timedelta(days=11, hours=12))
    assert gone.at == start + timedelta(days=14) and gone.days_left == 2  # 2.5 days: "2"
    assert recorder_clock.overwrite(start, 14, now=start + timedelta(days=13, hours=23)).days_left == 0
    assert recorder_clock.overwrite(start, 14, now=start + timedelta(days=15)).days_left == -1
    assert recorder_clock.overwrite(start, None) is None


# --- the upload reads the recorder's clock ------------------------------------------------------

def test_an_upload_keeps_the_offset_and_file_time_and_the_camera_remembers_it(app, world, as_owner):
    ask, camera, _ = _approved_ask(world)
    modified = datetime(2026, 2, 27, 18, 30, 15, 250000, tzinfo=UTC)
    data = mp4_bytes(4096)
    before = utcnow()
    created = _create(as_owner, ask.id, len(data), recorder_offset=str(FAST_5_MIN),
                      last_modified=str(int(modified.timestamp() * 1000)))
    assert created.status_code == 201, created.json
    clip = _clip(created.headers["Location"])
    assert (clip.recorder_offset_s, clip.file_modified_at) == (FAST_5_MIN, modified)
    remembered = _camera(camera.id)
    assert remembered.recorder_offset_s == FAST_5_MIN and remembered.recorder_offset_at >= before
    [event] = _camera_events(camera.id)
    assert event.action == "camera.updated" and event.actor_id == world.owner.id
    assert event.details == {"changed": ["recorder_offset_s"], "recorder_offset_s": FAST_5_MIN, "clip_id": clip.id}
    started = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "clip.upload_started"))
    assert started.details["recorder_offset_s"] == FAST_5_MIN

    # The same reading again changes nothing worth an event, but is the latest reading.
    again = _create(as_owner, ask.id, recorder_offset="+300")
    assert again.status_code == 201
    assert len(_camera_events(camera.id)) == 1
    assert _camera(camera.id).recorder_offset_at >= remembered.recorder_offset_at

    # Finished, the owner and the officer both see it.
    assert patch(as_owner, created.headers["Location"], data, 0).status_code == 204
    [mine] = [c for c in as_owner.get(f"/api/asks/{ask.id}/clips").json if c["id"] == clip.id]
    assert (mine["recorder_offset_s"], mine["file_modified_at"]) == (FAST_5_MIN, _iso(modified))


def test_without_a_reading_nothing_changes(app, world, as_owner):
    ask, camera, _ = _approved_ask(world, offset=SLOW_1_HOUR)
    created = _create(as_owner, ask.id)
    assert created.status_code == 201
    clip = _clip(created.headers["Location"])
    assert clip.recorder_offset_s is None and clip.file_modified_at is None
    assert _camera(camera.id).recorder_offset_s == SLOW_1_HOUR
    assert _camera_events(camera.id) == []


@pytest.mark.parametrize("key,value,words", [
    ("recorder_offset", "abc", "whole number"),
    ("recorder_offset", "1.5", "whole number"),
    ("recorder_offset", "5 min", "whole number"),
    ("recorder_offset", "1e3", "whole number"),
    ("recorder_offset", str(recorder_clock.MAX_OFFSET_S + 1), "±20 years"),
    ("recorder_offset", str(-10**12), "±20 years"),
    ("recorder_offset", "9" * 40, "whole number"),
    ("last_modified", "yesterday", "whole number"),
    ("last_modified", "-1", "since 1970"),
    ("last_modified", "4102444800000", "far future"),  # 2100
])
def test_a_bad_reading_is_400_and_starts_nothing(app, world, as_owner, key, value, words):
    ask, camera, _ = _approved_ask(world)
    response = _create(as_owner, ask.id, **{key: value})
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error" and key in error["message"] and words in error["message"]
    assert error["fields"]["Upload-Metadata"][0].startswith(f"{key}: ")
    assert db.session.scalar(sa.select(sa.func.count(Clip.id))) == 0
    assert _camera(camera.id).recorder_offset_s is None


def test_an_upload_link_reads_the_clock_too(app, world, client):
    ask, camera, request = _approved_ask(world)
    token = links.upload_token(ask)
    created = _create(client, None, token=token, recorder_offset=str(SLOW_1_HOUR), last_modified="1700000000000")
    assert created.status_code == 201, created.json
    clip = _clip(created.headers["Location"])
    assert clip.recorder_offset_s == SLOW_1_HOUR
    assert clip.file_modified_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert _camera(camera.id).recorder_offset_s == SLOW_1_HOUR
    [event] = _camera_events(camera.id)
    assert event.actor_id == world.owner.id

    # The link's page now names the window as the recorder shows it.
    page = client.get(f"/api/upload-links/{token}").json
    assert page["ask"]["recorder_window"] == {
        "start": _iso(request.window_start - timedelta(hours=1)), "end": _iso(request.window_end - timedelta(hours=1)),
        "offset_s": SLOW_1_HOUR}
    assert page["ask"]["overwrite_days_left"] == 29


def test_a_camera_that_changed_hands_keeps_its_own_clock(app, world, as_owner):
    ask, camera, _ = _approved_ask(world)
    camera.owner_id = world.other_owner.id
    db.session.commit()
    assert _create(as_owner, ask.id, recorder_offset="120").status_code == 201
    assert _camera(camera.id).recorder_offset_s is None


# --- the camera's offset, edited -----------------------------------------------------------------

def test_the_owner_sets_and_clears_the_offset(app, world, as_owner):
    camera = factories.camera(world.owner, shared_with=[world.agency])
    db.session.commit()
    url = f"/api/cameras/{camera.id}"
    assert as_owner.get(url).json["recorder_offset_s"] is None

    set_ = as_owner.patch(url, json={"recorder_offset_s": -90})
    assert set_.status_code == 200, set_.json
    assert set_.json["recorder_offset_s"] == -90 and set_.json["recorder_offset_at"] is not None
    cleared = as_owner.patch(url, json={"recorder_offset_s": None})
    assert cleared.json["recorder_offset_s"] is None and cleared.json["recorder_offset_at"] is None
    assert [e.details for e in _camera_events(camera.id)] == [
        {"changed": ["recorder_offset_s"], "recorder_offset_s": -90},
        {"changed": ["recorder_offset_s"], "recorder_offset_s": None}]

    created = as_owner.post("/api/cameras", json={"label": "Alley", "latitude": 43.04, "longitude": -87.9,
                                                  "retention_days": 7, "public_attestation": True,
                                                  "recorder_offset_s": 3600})
    assert created.status_code == 201 and created.json["recorder_offset_s"] == 3600
    event = _camera_events(created.json["id"])[0]
    assert event.details["recorder_offset_s"] == 3600


@pytest.mark.parametrize("value", [recorder_clock.MAX_OFFSET_S + 1, -recorder_clock.MAX_OFFSET_S - 1, "300", 1.5,
                                   True, 2**40])
def test_a_bad_offset_is_422_and_changes_nothing(app, world, as_owner, value):
    camera = factories.camera(world.owner, shared_with=[world.agency], recorder_offset_s=60)
    db.session.commit()
    response = as_owner.patch(f"/api/cameras/{camera.id}", json={"recorder_offset_s": value})
    assert response.status_code == 422
    assert "recorder_offset_s" in response.json["error"]["fields"]
    assert _camera(camera.id).recorder_offset_s == 60


# --- what asks and clips say with it ------------------------------------------------------------------

def test_the_ask_shows_the_window_in_recorder_time_and_the_days_left(app, world, as_owner):
    ask, camera, request = _approved_ask(world, offset=FAST_5_MIN, retention_days=14,
                                         window_ago=timedelta(days=3, hours=1))
    shown = as_owner.get(f"/api/asks/{ask.id}").json
    assert shown["recorder_window"] == {"start": _iso(request.window_start + timedelta(minutes=5)),
                                        "end": _iso(request.window_end + timedelta(minutes=5)),
                                        "offset_s": FAST_5_MIN}
    assert shown["overwrite_at"] == _iso(request.window_start + timedelta(days=14))
    assert shown["overwrite_days_left"] == 10  # 10 days 23 hours
    # The inbox (read as plain rows) says the same.
    [listed] = [a for a in as_owner.get("/api/asks").json if a["id"] == ask.id]
    assert {k: listed[k] for k in ("recorder_window", "overwrite_at", "overwrite_days_left")} == \
        {k: shown[k] for k in ("recorder_window", "overwrite_at", "overwrite_days_left")}

    # Without an offset: no recorder window, the days left all the same.
    as_owner.patch(f"/api/cameras/{camera.id}", json={"recorder_offset_s": None})
    plain = as_owner.get(f"/api/asks/{ask.id}").json
    assert plain["recorder_window"] is None and plain["overwrite_days_left"] == 10


def test_a_window_older_than_the_recorder_keeps_may_be_gone(app, world, as_owner):
    ask, _, _ = _approved_ask(world, retention_days=3, window_ago=timedelta(days=3, hours=2))
    shown = as_owner.get(f"/api/asks/{ask.id}").json
    assert shown["overwrite_days_left"] <= 0


def test_the_officer_sees_the_offset_the_window_in_recorder_time_and_the_file_time(app, world, as_owner,
                                                                                      as_officer):
    ask, _, request = _approved_ask(world)
    data = mp4_bytes(4096)
    read = _create(as_owner, ask.id, len(data), recorder_offset=str(SLOW_1_HOUR), last_modified="1772217015000")
    unread = _create(as_owner, ask.id, len(data))
    for created in (read, unread):
        assert patch(as_owner, created.headers["Location"], data, 0).status_code == 204
    clips = as_officer.get(f"/api/requests/{request.id}/clips").json
    first, second = sorted(clips, key=lambda c: c["id"])
    assert first["recorder_offset_s"] == SLOW_1_HOUR
    assert first["recorder_window"] == {"start": _iso(request.window_start - timedelta(hours=1)),
                                        "end": _iso(request.window_end - timedelta(hours=1))}
    assert first["file_modified_at"] == "2026-02-27T18:30:15+00:00"
    assert (second["recorder_offset_s"], second["recorder_window"], second["file_modified_at"]) == (None, None, None)


def test_the_email_answer_page_gives_the_recorder_time_and_the_days_left(app, world, client):
    camera = factories.camera(world.owner, shared_with=[world.agency], retention_days=7, recorder_offset_s=-125)
    request = factories.footage_request(world.agency, world.officer, window_ago=timedelta(days=2))
    ask = factories.ask(request, camera, state=AskState.NOTIFIED)
    db.session.commit()
    path = links.ask_page_link(ask).split("://", 1)[1].split("/", 1)[1]
    html = client.get(f"/{path}").get_data(as_text=True)
    shifted = messages.span_text(request.window_start - timedelta(seconds=125),
                                 request.window_end - timedelta(seconds=125), world.agency)
    assert f"{shifted} (your recorder was 2 min 5 s slow when last read)" in html
    assert "records over this time in about 4 days. Export it now, decide later" in html

    # Answered "no footage", the reminder has done its work; the recorder's time stays.
    ask.state = AskState.NO_FOOTAGE
    db.session.commit()
    html = client.get(f"/{path}").get_data(as_text=True)
    assert "Export it now" not in html and shifted in html


@pytest.mark.one_database
@pytest.mark.parametrize("seconds,words", [(0, "right (it matches the phone it was read with)"), (300, "5 min fast"),
                                           (-3725, "1 h 2 min slow"), (302, "5 min 2 s fast"),
                                           (3 * 86400 + 7200, "3 days 2 h fast")])
def test_offsets_in_words(seconds, words):
    assert messages.offset_text(seconds) == words
