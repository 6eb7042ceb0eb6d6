"""The camera registry through its HTTP API: owners manage only their own cameras, bad
input is answered with a 422 naming the field, every change is audited, and officers
find shared active cameras nearby without learning who owns them."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.cameras.models import Camera, CameraStatus
from app.extensions import db
from tests import factories
from tests.conftest import signed_in

# Milwaukee City Hall; 0.001 degrees of latitude is about 111 m.
LAT, LON = 43.0389, -87.9065

VALID = {"label": "Front porch", "latitude": LAT, "longitude": LON,
         "retention_days": 14, "public_attestation": True}


def _create(client, **changes):
    return client.post("/api/cameras", json={**VALID, **changes})


def _created(client, **changes) -> dict:
    response = _create(client, **changes)
    assert response.status_code == 201, response.json
    return response.json


def _invalid(response) -> dict[str, list[str]]:
    """The field errors of a 422, after checking the response is one."""
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    return error["fields"]


def _camera_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Camera))


def _camera_events() -> list[AuditEvent]:
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.like("camera.%")).order_by(AuditEvent.seq)))


def _nearby(client, lat=LAT, lon=LON, radius_m=500):
    return client.get("/api/agency/cameras/nearby", query_string={"lat": lat, "lon": lon, "radius_m": radius_m})


# --- create ---------------------------------------------------------------------------

def test_create_with_every_field(as_owner, world):
    body = {
        "label": "Corner store, north wall", "latitude": 43.05, "longitude": -87.95,
        "address": "1200 N Water St", "bearing": 270, "field_of_view": 110, "retention_days": 30,
        "mode": "integrate", "public_attestation": True,
        "blackout_windows": [{"day": 4, "start": "22:00", "end": "06:00"}],
        "shared_agency_ids": [world.agency.id],
    }
    response = as_owner.post("/api/cameras", json=body)
    assert response.status_code == 201, response.json
    camera = response.json
    for key, value in body.items():
        assert camera[key] == value, key
    assert camera["status"] == "active"
    assert camera["district_id"] == world.district.id
    assert camera["attested_at"] and camera["created_at"]
    assert as_owner.get(f"/api/cameras/{camera['id']}").json == camera


def test_create_defaults(app, world):
    # The owner has joined two agencies: a new camera is shared with both.
    factories.membership(world.owner, world.other_agency)
    client = signed_in(app, world.owner)
    camera = _created(client)
    assert camera["shared_agency_ids"] == sorted([world.agency.id, world.other_agency.id])
    assert camera["mode"] == "register"
    assert camera["status"] == "active"
    assert camera["field_of_view"] == 90
    assert camera["bearing"] is None and camera["address"] is None
    assert camera["blackout_windows"] == []


def test_create_accepts_the_edges_of_every_range(as_owner):
    low = _created(as_owner, latitude=-90, longitude=-180, bearing=0, field_of_view=1, retention_days=1)
    high = _created(as_owner, latitude=90.0, longitude=180.0, bearing=359, field_of_view=360, retention_days=365)
    assert (low["latitude"], low["longitude"], low["retention_days"]) == (-90, -180, 1)
    assert (high["bearing"], high["field_of_view"], high["retention_days"]) == (359, 360, 365)


@pytest.mark.one_database
@pytest.mark.parametrize("field", ["label", "latitude", "longitude", "retention_days", "public_attestation"])
def test_create_requires_field(as_owner, field):
    body = {k: v for k, v in VALID.items() if k != field}
    assert field in _invalid(as_owner.post("/api/cameras", json=body))
    assert _camera_count() == 0


@pytest.mark.one_database
@pytest.mark.parametrize("field, value", [
    ("latitude", "43.05"),
    ("longitude", "-87.95"),
    ("latitude", True),
    ("retention_days", "14"),
    ("retention_days", 14.5),
    ("retention_days", 14.0),
    ("bearing", 90.0),
    ("bearing", "north"),
    ("field_of_view", True),
    ("public_attestation", "true"),
    ("public_attestation", 1),
    ("label", 12),
    ("address", ["1200 N Water St"]),
    ("mode", "live"),
    ("label", None),
    ("latitude", None),
    ("retention_days", None),
    ("public_attestation", None),
    ("field_of_view", None),
    ("blackout_windows", None),
    ("blackout_windows", {"day": 1, "start": "22:00", "end": "06:00"}),
    ("shared_agency_ids", None),
    ("shared_agency_ids", ["1"]),
])
def test_create_rejects_wrong_type(as_owner, field, value):
    fields = _invalid(_create(as_owner, **{field: value}))
    assert any(name.split(".")[0] == field for name in fields), fields
    assert _camera_count() == 0


@pytest.mark.one_database
@pytest.mark.parametrize("field, value", [
    ("latitude", 90.0001),
    ("latitude", -91),
    ("longitude", 180.5),
    ("longitude", -181),
    ("bearing", -1),
    ("bearing", 360),
    ("field_of_view", 0),
    ("field_of_view", 361),
    ("retention_days", 0),
    ("retention_days", 366),
    ("retention_days", 10**30),
    ("latitude", 1e308),
    ("latitude", 10**400),
])
def test_create_rejects_out_of_range(as_owner, field, value):
    assert field in _invalid(_create(as_owner, **{field: value}))
    assert _camera_count() == 0


@pytest.mark.one_database
def test_create_rejects_infinity_spelled_as_a_huge_exponent(as_owner):
    # JSON has no Infinity, but Python's parser reads 1e400 as one.
    raw = json.dumps(VALID).replace(f'"latitude": {LAT}', '"latitude": 1e400')
    response = as_owner.post("/api/cameras", data=raw, content_type="application/json")
    assert _invalid(response) == {"latitude": ["Must be a finite number."]}


@pytest.mark.one_database
@pytest.mark.parametrize("attestation", [False, "missing"])
def test_create_requires_a_true_attestation(as_owner, attestation):
    body = {k: v for k, v in VALID.items() if k != "public_attestation"}
    if attestation != "missing":
        body["public_attestation"] = attestation
    assert "public_attestation" in _invalid(as_owner.post("/api/cameras", json=body))
    assert _camera_count() == 0
    assert _camera_events() == []


def test_label_is_trimmed_and_must_not_be_blank_or_too_long(as_owner):
    assert _created(as_owner, label="  Garage  ")["label"] == "Garage"
    assert _created(as_owner, label="x" * 120)["label"] == "x" * 120
    assert "label" in _invalid(_create(as_owner, label="   "))
    assert "label" in _invalid(_create(as_owner, label="x" * 121))
    assert "label" in _invalid(_create(as_owner, label="Porch\x00"))


def test_blank_address_is_no_address(as_owner):
    assert _created(as_owner, address="   ")["address"] is None
    assert _created(as_owner, address=" 12 Elm St ")["address"] == "12 Elm St"
    assert "address" in _invalid(_create(as_owner, address="x" * 301))


@pytest.mark.one_database
def test_unknown_fields_are_rejected(as_owner):
    assert _invalid(_create(as_owner, owner_id=1)) == {"owner_id": ["Unknown field."]}
    window = {"day": 1, "start": "22:00", "end": "06:00", "timezone": "UTC"}
    assert "blackout_windows.0.timezone" in _invalid(_create(as_owner, blackout_windows=[window]))
    assert _camera_count() == 0


# --- blackout windows -----------------------------------------------------------------

def test_overnight_blackout_window_is_kept(as_owner):
    windows = [{"day": 4, "start": "22:00", "end": "06:00"}, {"day": 6, "start": "00:00", "end": "23:59"}]
    camera = _created(as_owner, blackout_windows=windows)
    assert camera["blackout_windows"] == windows
    assert as_owner.get(f"/api/cameras/{camera['id']}").json["blackout_windows"] == windows


@pytest.mark.one_database
@pytest.mark.parametrize("window, field", [
    ({"day": 1, "start": "25:00", "end": "06:00"}, "start"),
    ({"day": 1, "start": "7:00", "end": "09:00"}, "start"),
    ({"day": 1, "start": "22:00", "end": "06:60"}, "end"),
    ({"day": 1, "start": "22:00\n", "end": "06:00"}, "start"),
    ({"day": 1, "start": "10 pm", "end": "06:00"}, "start"),
    ({"day": 7, "start": "22:00", "end": "06:00"}, "day"),
    ({"day": -1, "start": "22:00", "end": "06:00"}, "day"),
    ({"day": "1", "start": "22:00", "end": "06:00"}, "day"),
    ({"day": 1, "start": "22:00", "end": "22:00"}, "end"),
    ({"day": 1, "start": "22:00"}, "end"),
    ({"day": 1, "start": 2200, "end": "06:00"}, "start"),
])
def test_bad_blackout_window_is_rejected(as_owner, window, field):
    assert f"blackout_windows.0.{field}" in _invalid(_create(as_owner, blackout_windows=[window]))
    assert _camera_count() == 0


def test_at_most_28_blackout_windows(as_owner):
    windows = [{"day": d % 7, "start": f"{h:02d}:00", "end": f"{h:02d}:30"} for d in range(7) for h in range(4)]
    assert len(_created(as_owner, blackout_windows=windows)["blackout_windows"]) == 28
    one_more = [*windows, {"day": 0, "start": "12:00", "end": "13:00"}]
    assert "blackout_windows" in _invalid(_create(as_owner, blackout_windows=one_more))


# --- sharing --------------------------------------------------------------------------

def test_cannot_share_with_an_agency_not_joined(as_owner, world):
    fields = _invalid(_create(as_owner, shared_agency_ids=[world.agency.id, world.other_agency.id]))
    assert str(world.other_agency.id) in fields["shared_agency_ids"][0]
    assert "shared_agency_ids" in _invalid(_create(as_owner, shared_agency_ids=[999_999]))
    assert _camera_count() == 0


def test_sharing_with_nobody_hides_the_camera_from_officers(as_owner, as_officer):
    camera = _created(as_owner, shared_agency_ids=[])
    assert camera["shared_agency_ids"] == []
    assert _nearby(as_officer).json == {"count": 0, "cameras": []}


# --- list and read --------------------------------------------------------------------

def test_list_returns_only_your_own_cameras(app, as_owner, world):
    factories.camera(world.other_owner, label="Not yours")
    first = _created(as_owner, label="Porch")
    second = _created(as_owner, label="Driveway")
    assert [c["id"] for c in as_owner.get("/api/cameras").json] == [first["id"], second["id"]]
    other = signed_in(app, world.other_owner)
    assert [c["label"] for c in other.get("/api/cameras").json] == ["Not yours"]


def test_unknown_camera_is_404(as_owner):
    for camera_id in (12345, 2**63, 10**30):
        response = as_owner.get(f"/api/cameras/{camera_id}")
        assert response.status_code == 404, camera_id
        assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("method, action, body", [
    ("get", "", None),
    ("patch", "", {"label": "Mine now"}),
    ("patch", "", {"public_attestation": True}),
    ("post", "/pause", None),
    ("post", "/resume", None),
    ("delete", "", None),
])
def test_another_owners_camera_is_404_and_unchanged(as_owner, world, method, action, body):
    theirs = factories.camera(world.other_owner, label="Their porch", status=CameraStatus.PAUSED)
    db.session.commit()
    response = getattr(as_owner, method)(f"/api/cameras/{theirs.id}{action}", json=body)
    assert response.status_code == 404
    assert response.json["error"] == {"status": 404, "code": "not_found", "message": "Camera not found."}
    camera = db.session.get(Camera, theirs.id)
    assert (camera.label, camera.status) == ("Their porch", CameraStatus.PAUSED)
    assert _camera_events() == []


def test_withdrawing_the_attestation_is_refused_by_the_schema_whatever_the_camera(as_owner, world):
    # The document says public_attestation can only be true, so the refusal comes before
    # any lookup and tells nothing about whether the camera exists or whose it is.
    mine = factories.camera(world.owner)
    theirs = factories.camera(world.other_owner)
    db.session.commit()
    for camera_id in (mine.id, theirs.id, 999_999):
        response = as_owner.patch(f"/api/cameras/{camera_id}", json={"public_attestation": False})
        assert response.status_code == 422, camera_id
        assert response.json["error"]["fields"] == {
            "public_attestation": ["Cannot be withdrawn; pause or delete the camera instead."]}
    assert db.session.get(Camera, mine.id).public_attestation is True


# --- edit -----------------------------------------------------------------------------

def test_patch_changes_only_the_fields_given(as_owner):
    camera = _created(as_owner, bearing=90, address="12 Elm St",
                      blackout_windows=[{"day": 0, "start": "22:00", "end": "06:00"}])
    response = as_owner.patch(f"/api/cameras/{camera['id']}", json={"label": "Back door", "retention_days": 7})
    assert response.status_code == 200, response.json
    changed = response.json
    assert (changed["label"], changed["retention_days"]) == ("Back door", 7)
    untouched = {k: v for k, v in camera.items() if k not in ("label", "retention_days", "updated_at")}
    assert {k: changed[k] for k in untouched} == untouched
    assert as_owner.get(f"/api/cameras/{camera['id']}").json == changed


def test_patch_can_clear_optional_fields(as_owner):
    camera = _created(as_owner, bearing=90, address="12 Elm St",
                      blackout_windows=[{"day": 0, "start": "22:00", "end": "06:00"}])
    response = as_owner.patch(f"/api/cameras/{camera['id']}",
                              json={"bearing": None, "address": None, "blackout_windows": []})
    assert response.status_code == 200, response.json
    assert (response.json["bearing"], response.json["address"], response.json["blackout_windows"]) == (None, None, [])


def test_patch_moves_a_camera_only_with_both_coordinates(as_owner):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    assert "longitude" in _invalid(as_owner.patch(url, json={"latitude": 43.1}))
    assert "latitude" in _invalid(as_owner.patch(url, json={"longitude": -87.8}))
    assert (as_owner.get(url).json["latitude"], as_owner.get(url).json["longitude"]) == (LAT, LON)
    moved = as_owner.patch(url, json={"latitude": 43.1, "longitude": -87.8})
    assert (moved.json["latitude"], moved.json["longitude"]) == (43.1, -87.8)


def test_attestation_cannot_be_withdrawn(as_owner):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    assert "public_attestation" in _invalid(as_owner.patch(url, json={"public_attestation": False, "label": "X"}))
    assert as_owner.get(url).json["label"] == camera["label"]
    assert as_owner.patch(url, json={"public_attestation": True}).status_code == 200


@pytest.mark.one_database
@pytest.mark.parametrize("body, field", [
    ({"label": None}, "label"),
    ({"label": " "}, "label"),
    ({"retention_days": 366}, "retention_days"),
    ({"retention_days": 0}, "retention_days"),
    ({"bearing": 360}, "bearing"),
    ({"field_of_view": 0}, "field_of_view"),
    ({"latitude": 91, "longitude": 0}, "latitude"),
    ({"latitude": "43", "longitude": "-87"}, "latitude"),
    ({"mode": None}, "mode"),
    ({"status": "paused"}, "status"),
    ({"blackout_windows": [{"day": 7, "start": "22:00", "end": "06:00"}]}, "blackout_windows.0.day"),
])
def test_bad_patch_changes_nothing(as_owner, body, field):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    assert field in _invalid(as_owner.patch(url, json=body))
    assert as_owner.get(url).json == camera


def test_patch_sharing(app, as_owner, world):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    # Nothing in a rejected patch changes, not even its valid fields.
    fields = _invalid(as_owner.patch(url, json={"label": "Moved", "shared_agency_ids": [world.other_agency.id]}))
    assert "shared_agency_ids" in fields
    assert as_owner.get(url).json == camera
    assert as_owner.patch(url, json={"shared_agency_ids": []}).json["shared_agency_ids"] == []
    restored = as_owner.patch(url, json={"shared_agency_ids": [world.agency.id]})
    assert restored.json["shared_agency_ids"] == [world.agency.id]


def test_empty_patch_changes_nothing(as_owner):
    camera = _created(as_owner)
    response = as_owner.patch(f"/api/cameras/{camera['id']}", json={})
    assert response.status_code == 200
    assert response.json == camera
    assert [e.action for e in _camera_events()] == ["camera.created"]


# --- pause, resume, delete ------------------------------------------------------------

def test_pause_and_resume_toggle_status_and_repeat_safely(as_owner):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    for _ in range(2):
        response = as_owner.post(f"{url}/pause")
        assert response.status_code == 200 and response.json["status"] == "paused"
    assert as_owner.get(url).json["status"] == "paused"
    for _ in range(2):
        response = as_owner.post(f"{url}/resume")
        assert response.status_code == 200 and response.json["status"] == "active"
    # Repeating a pause or resume is not a second change.
    assert [e.action for e in _camera_events()] == ["camera.created", "camera.paused", "camera.resumed"]


def test_delete(as_owner):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    response = as_owner.delete(url)
    assert response.status_code == 204 and response.data == b""
    assert as_owner.get(url).status_code == 404
    assert as_owner.get("/api/cameras").json == []
    assert as_owner.delete(url).status_code == 404
    assert as_owner.patch(url, json={"label": "Back"}).status_code == 404


# --- who may call ---------------------------------------------------------------------

OWNER_ROUTES = [
    ("get", "/api/cameras"),
    ("post", "/api/cameras"),
    ("get", "/api/cameras/{id}"),
    ("patch", "/api/cameras/{id}"),
    ("post", "/api/cameras/{id}/pause"),
    ("post", "/api/cameras/{id}/resume"),
    ("delete", "/api/cameras/{id}"),
]


@pytest.mark.one_database
@pytest.mark.parametrize("role", ["as_officer", "as_supervisor", "as_manager"])
@pytest.mark.parametrize("method, path", OWNER_ROUTES)
def test_staff_cannot_use_owner_routes(request, world, role, method, path):
    camera = factories.camera(world.owner, label="Porch")
    db.session.commit()
    client = request.getfixturevalue(role)
    # Even an invalid body is answered 403: the role is checked before the input.
    response = getattr(client, method)(path.format(id=camera.id), json={"label": 7})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert db.session.get(Camera, camera.id).label == "Porch"
    assert _camera_events() == []


@pytest.mark.one_database
@pytest.mark.parametrize("method, path", [*OWNER_ROUTES, ("get", "/api/agency/cameras/nearby")])
def test_no_session_is_401_json(client, world, method, path):
    camera = factories.camera(world.owner)
    db.session.commit()
    response = getattr(client, method)(path.format(id=camera.id), json={"label": 7})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


# --- audit ----------------------------------------------------------------------------

def test_every_change_is_audited_with_its_actor_and_what_changed(as_owner, world):
    camera = _created(as_owner, label="Porch", bearing=90, latitude=43.041837, longitude=-87.909312,
                      blackout_windows=[{"day": 0, "start": "22:00", "end": "06:00"}])
    url = f"/api/cameras/{camera['id']}"
    as_owner.patch(url, json={"label": "Front porch", "bearing": 180, "address": "12 Elm St",
                              "shared_agency_ids": [], "retention_days": camera["retention_days"],
                              "latitude": 43.046512, "longitude": -87.909312, "blackout_windows": []})
    as_owner.post(f"{url}/pause")
    as_owner.post(f"{url}/resume")
    as_owner.delete(url)

    events = _camera_events()
    assert [e.action for e in events] == [
        "camera.created", "camera.updated", "camera.paused", "camera.resumed", "camera.deleted"]
    for event in events:
        assert (event.actor_id, event.actor_role) == (world.owner.id, "owner")
        assert (event.target_type, event.target_id) == ("camera", str(camera["id"]))
    created, updated, _, _, deleted = events
    # Which fields were set, the values of the non-personal ones, the place to 0.01° only;
    # never the label, the address or the blackout hours (when someone is at home).
    assert created.details == {
        "changed": ["bearing", "blackout_windows", "field_of_view", "label", "latitude", "longitude", "mode",
                    "retention_days", "shared_agency_ids", "status"],
        "bearing": 90, "field_of_view": 90, "retention_days": 14, "mode": "register", "status": "active",
        "shared_agency_ids": [world.agency.id], "latitude": 43.04, "longitude": -87.91,
    }
    # Only what changed (retention_days and longitude were sent unchanged), with new values.
    assert updated.details == {
        "changed": ["address", "bearing", "blackout_windows", "label", "latitude", "shared_agency_ids"],
        "bearing": 180, "shared_agency_ids": [], "latitude": 43.05,
    }
    assert deleted.details == {}
    text = json.dumps([e.details for e in events])
    for secret in ("Porch", "12 Elm St", "43.041837", "-87.909312", "43.046512", "22:00"):
        assert secret not in text


def test_rejected_changes_are_not_audited(as_owner):
    camera = _created(as_owner)
    url = f"/api/cameras/{camera['id']}"
    as_owner.patch(url, json={"public_attestation": False})
    as_owner.patch(url, json={"latitude": 43.0})
    as_owner.patch(url, json={"retention_days": 0})
    assert [e.action for e in _camera_events()] == ["camera.created"]


# --- officers' radius search ----------------------------------------------------------

def test_officer_finds_shared_active_camera_with_its_distance(as_owner, as_officer):
    camera = _created(as_owner, label="Smith family porch", address="12 Elm St", bearing=45, field_of_view=100)
    response = _nearby(as_officer, lat=LAT + 0.001, radius_m=200)
    assert response.status_code == 200, response.json
    assert response.json["count"] == 1
    [hit] = response.json["cameras"]
    assert set(hit) == {"id", "latitude", "longitude", "bearing", "field_of_view", "mode", "distance_m"}
    assert (hit["id"], hit["bearing"], hit["field_of_view"], hit["mode"]) == (camera["id"], 45, 100, "register")
    assert 110 < hit["distance_m"] < 112.5


def test_nearby_search_tells_nothing_of_the_owner(as_owner, as_supervisor, world):
    _created(as_owner, label="Smith family porch", address="12 Elm St")
    response = _nearby(as_supervisor)
    assert response.json["count"] == 1
    text = response.get_data(as_text=True)
    for secret in ("owner", "email", "phone", "label", "address", "Smith", "Elm", world.owner.email):
        assert secret not in text


def test_nearby_search_is_nearest_first_and_within_the_radius(as_owner, as_officer):
    far = _created(as_owner, latitude=LAT + 0.003)
    near = _created(as_owner, latitude=LAT + 0.001)
    _created(as_owner, latitude=LAT + 0.01)  # about 1.1 km away
    response = _nearby(as_officer, radius_m=500)
    assert [c["id"] for c in response.json["cameras"]] == [near["id"], far["id"]]


def test_nearby_search_leaves_out_paused_unshared_and_other_agencies_cameras(app, as_owner, as_officer, world):
    paused = _created(as_owner, label="Paused")
    as_owner.post(f"/api/cameras/{paused['id']}/pause")
    _created(as_owner, label="Shared with nobody", shared_agency_ids=[])
    theirs = factories.camera(world.other_owner, shared_with=[world.other_agency])
    db.session.commit()
    assert _nearby(as_officer).json == {"count": 0, "cameras": []}
    # The other agency's officer finds only the camera shared with it.
    other_officer = signed_in(app, world.other_officer)
    assert [c["id"] for c in _nearby(other_officer).json["cameras"]] == [theirs.id]
    # Resumed, the paused camera is found again.
    as_owner.post(f"/api/cameras/{paused['id']}/resume")
    assert [c["id"] for c in _nearby(as_officer).json["cameras"]] == [paused["id"]]


def test_officer_without_an_agency_finds_nothing(app, as_owner):
    _created(as_owner)
    loner = factories.user(Role.OFFICER)
    db.session.commit()
    assert _nearby(signed_in(app, loner)).json == {"count": 0, "cameras": []}


@pytest.mark.one_database
@pytest.mark.parametrize("query, field", [
    ({"lat": LAT, "lon": LON, "radius_m": 0}, "radius_m"),
    ({"lat": LAT, "lon": LON, "radius_m": 5001}, "radius_m"),
    ({"lat": LAT, "lon": LON, "radius_m": "nan"}, "radius_m"),
    ({"lat": LAT, "lon": LON}, "radius_m"),
    ({"lon": LON, "radius_m": 100}, "lat"),
    ({"lat": 91, "lon": LON, "radius_m": 100}, "lat"),
    ({"lat": LAT, "lon": -181, "radius_m": 100}, "lon"),
    ({"lat": "north", "lon": LON, "radius_m": 100}, "lat"),
])
def test_nearby_search_rejects_bad_query(as_officer, query, field):
    assert field in _invalid(as_officer.get("/api/agency/cameras/nearby", query_string=query))


@pytest.mark.parametrize("role", ["as_owner", "as_manager"])
def test_only_agency_staff_search_nearby(request, world, role):
    response = _nearby(request.getfixturevalue(role))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
