"""QR enrollment: issuing codes, their QR images, looking codes up, signing up or
redeeming with one, and the /e/<code> page that starts it all."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import Membership
from app.audit.models import AuditEvent
from app.enrollment import codes
from app.extensions import db
from tests import factories
from tests.conftest import second_factor_code, signed_in

BASE_URL = "http://porchlight.test"  # TestingConfig.PUBLIC_BASE_URL
NEW_PASSWORD = "a-fresh-password-42"


# --- helpers ---------------------------------------------------------------------

def _issue(client, **payload):
    body = {"label": "Riverwest block party", "kind": "single", **payload}
    r = client.post("/api/enrollment/codes", json=body)
    assert r.status_code == 201, r.json
    return r.json


def _error(response, status, code):
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code, response.json
    assert response.json["error"]["status"] == status
    assert response.json["error"]["message"]
    return response.json["error"]


def _audit(action, target_id=None):
    query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if target_id is not None:
        query = query.where(AuditEvent.target_type == "enrollment_code", AuditEvent.target_id == str(target_id))
    db.session.expire_all()
    return db.session.scalars(query).all()


def _user_count():
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def _sign_up(app, code, email, overrides=None):
    client = app.test_client()
    body = {"email": email, "password": NEW_PASSWORD, "display_name": "Pat", "enrollment_code": code,
            **(overrides or {})}
    return client, client.post("/api/auth/signup", json=body)


def _code_state(client, code_id):
    r = client.get(f"/api/enrollment/codes/{code_id}")
    assert r.status_code == 200, r.json
    return r.json


def _typed_forms(code):
    return [code, code.lower(), f"{code[:4]}-{code[4:]}", f"{code[:4].lower()} {code[4:].lower()}",
            f" {code[:2]}-{code[2:5]}-{code[5:]} "]


# --- issuing ---------------------------------------------------------------------

def test_supervisor_issues_single_use_code(as_supervisor, world):
    before = datetime.now(UTC)
    code = _issue(as_supervisor)
    assert code["kind"] == "single" and code["max_uses"] == 1
    assert (code["use_count"], code["uses_left"], code["status"]) == (0, 1, "active")
    assert code["agency_id"] == world.agency.id and code["district_id"] is None
    assert len(code["code"]) == codes.LENGTH and set(code["code"]) <= set(codes.ALPHABET)
    assert not set(code["code"]) & set("01OIL")
    assert code["display_code"] == f"{code['code'][:4]}-{code['code'][4:]}"
    assert code["url"] == f"{BASE_URL}/e/{code['code']}"
    expires = datetime.fromisoformat(code["expires_at"])
    assert timedelta(days=29, hours=23) < expires - before <= timedelta(days=30, minutes=1)

    assert _code_state(as_supervisor, code["id"]) == code
    listed = as_supervisor.get("/api/enrollment/codes")
    assert [c["id"] for c in listed.json] == [code["id"]]

    [event] = _audit("enrollment_code.issued", code["id"])
    assert event.actor_id == world.supervisor.id and event.agency_id == world.agency.id
    assert event.details["kind"] == "single" and event.details["label"] == "Riverwest block party"


def test_supervisor_issues_campaign_code_for_district(as_supervisor, world):
    expires = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    code = _issue(as_supervisor, kind="campaign", max_uses=250, label="  Downtown flyers  ",
                  district_id=world.district.id, expires_at=expires.isoformat())
    assert (code["kind"], code["max_uses"], code["uses_left"]) == ("campaign", 250, 250)
    assert code["label"] == "Downtown flyers"
    assert code["district_id"] == world.district.id
    assert datetime.fromisoformat(code["expires_at"]) == expires
    # Default lifetime of a campaign code: 90 days.
    default = _issue(as_supervisor, kind="campaign", max_uses=5)
    lifetime = datetime.fromisoformat(default["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)


def test_issued_codes_differ(as_supervisor):
    issued = {_issue(as_supervisor)["code"] for _ in range(5)}
    assert len(issued) == 5


BAD_ISSUES = [
    ({"label": None}, "label"),
    ({"label": "   "}, "label"),
    ({"label": "x" * 121}, "label"),
    ({"label": 42}, "label"),
    ({"kind": "forever"}, "kind"),
    ({"kind": 1}, "kind"),
    ({"kind": None}, "kind"),
    ({"kind": "single", "max_uses": 3}, "max_uses"),
    ({"kind": "campaign"}, "max_uses"),
    ({"kind": "campaign", "max_uses": 0}, "max_uses"),
    ({"kind": "campaign", "max_uses": -4}, "max_uses"),
    ({"kind": "campaign", "max_uses": 100_001}, "max_uses"),
    ({"kind": "campaign", "max_uses": "10"}, "max_uses"),
    ({"kind": "campaign", "max_uses": 2.5}, "max_uses"),
    ({"kind": "campaign", "max_uses": True}, "max_uses"),
    ({"expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
    ({"expires_at": "2099-01-01T00:00:00+00:00"}, "expires_at"),
    ({"expires_at": "2031-01-01T00:00:00"}, "expires_at"),  # naive: which zone?
    ({"expires_at": "next week"}, "expires_at"),
    ({"expires_at": 1700000000}, "expires_at"),
    ({"district_id": "1"}, "district_id"),
    ({"district_id": 0}, "district_id"),
    ({"district_id": 2**40}, "district_id"),
    ({"district_id": 987654}, "district_id"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.one_database
@pytest.mark.parametrize("patch,field", BAD_ISSUES, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_ISSUES)])
def test_issue_rejects_bad_input(as_supervisor, patch, field):
    body = {"label": "Block party", "kind": "single", **patch}
    error = _error(as_supervisor.post("/api/enrollment/codes", json=body), 422, "validation_error")
    assert field in error["fields"], error
    assert as_supervisor.get("/api/enrollment/codes").json == []
    assert _audit("enrollment_code.issued") == []


@pytest.mark.one_database
def test_issue_rejects_non_object_body(as_supervisor):
    assert as_supervisor.post("/api/enrollment/codes", json=["single"]).status_code == 422
    r = as_supervisor.post("/api/enrollment/codes", data="{not json", content_type="application/json")
    assert r.status_code == 400 and "error" in r.json


def test_supervisor_cannot_issue_for_other_agencys_district(as_supervisor, world):
    foreign = factories.district(world.other_agency, "Hillcrest BID")
    db.session.commit()
    error = _error(as_supervisor.post("/api/enrollment/codes", json={
        "label": "x", "kind": "single", "district_id": foreign.id}), 422, "validation_error")
    assert "district_id" in error["fields"]


def test_manager_issues_for_own_district_only(as_manager, world):
    code = _issue(as_manager)
    assert code["district_id"] == world.district.id and code["agency_id"] == world.agency.id
    explicit = _issue(as_manager, district_id=world.district.id, kind="campaign", max_uses=40)
    assert explicit["district_id"] == world.district.id
    [event, _] = _audit("enrollment_code.issued")
    assert event.actor_id == world.manager.id and event.agency_id == world.agency.id

    neighbour = factories.district(world.agency, "Harbor BID")
    foreign = factories.district(world.other_agency, "Hillcrest BID")
    db.session.commit()
    for district_id in (neighbour.id, foreign.id):
        error = _error(as_manager.post("/api/enrollment/codes", json={
            "label": "x", "kind": "single", "district_id": district_id}), 422, "validation_error")
        assert "own district" in error["fields"]["district_id"][0]
    assert len(as_manager.get("/api/enrollment/codes").json) == 2


def test_manager_sees_only_own_district_codes(as_supervisor, as_manager, world):
    agency_wide = _issue(as_supervisor, label="Agency-wide")
    district_code = _issue(as_supervisor, label="Downtown", district_id=world.district.id)
    assert [c["id"] for c in as_manager.get("/api/enrollment/codes").json] == [district_code["id"]]
    _error(as_manager.get(f"/api/enrollment/codes/{agency_wide['id']}"), 404, "not_found")
    _error(as_manager.post(f"/api/enrollment/codes/{agency_wide['id']}/revoke"), 404, "not_found")
    assert as_manager.get(f"/api/enrollment/codes/{district_code['id']}").status_code == 200
    # The supervisor sees every code of the agency.
    assert {c["id"] for c in as_supervisor.get("/api/enrollment/codes").json} == {
        agency_wide["id"], district_code["id"]}


@pytest.mark.parametrize("role", ["owner", "officer"])
def test_owners_and_officers_cannot_issue_or_manage_codes(app, world, as_supervisor, role):
    code = _issue(as_supervisor)
    client = signed_in(app, getattr(world, role))
    _error(client.post("/api/enrollment/codes", json={"label": "x", "kind": "single"}), 403, "forbidden")
    for path in ("", f"/{code['id']}", f"/{code['id']}/uses", f"/{code['id']}/qr.png", f"/{code['id']}/qr.svg"):
        _error(client.get(f"/api/enrollment/codes{path}"), 403, "forbidden")
    _error(client.post(f"/api/enrollment/codes/{code['id']}/revoke"), 403, "forbidden")
    assert _code_state(as_supervisor, code["id"])["status"] == "active"
    assert len(_audit("enrollment_code.issued")) == 1


def test_anonymous_cannot_issue_or_manage_codes(client, world, as_supervisor):
    code = _issue(as_supervisor)
    _error(client.post("/api/enrollment/codes", json={"label": "x", "kind": "single"}), 401, "unauthenticated")
    _error(client.get("/api/enrollment/codes"), 401, "unauthenticated")
    _error(client.get(f"/api/enrollment/codes/{code['id']}/qr.png"), 401, "unauthenticated")
    _error(client.post(f"/api/enrollment/codes/{code['id']}/revoke"), 401, "unauthenticated")


def test_other_agencys_supervisor_gets_404(app, world, as_supervisor):
    code = _issue(as_supervisor)
    other = signed_in(app, world.other_supervisor)
    assert other.get("/api/enrollment/codes").json == []
    for path in ("", "/uses", "/qr.png", "/qr.svg"):
        _error(other.get(f"/api/enrollment/codes/{code['id']}{path}"), 404, "not_found")
    _error(other.post(f"/api/enrollment/codes/{code['id']}/revoke"), 404, "not_found")
    assert _code_state(as_supervisor, code["id"])["status"] == "active"
    assert _audit("enrollment_code.revoked") == []


@pytest.mark.parametrize("code_id", [987654, 2**31, 2**53])
def test_missing_code_ids_are_404(as_supervisor, code_id):
    _error(as_supervisor.get(f"/api/enrollment/codes/{code_id}"), 404, "not_found")
    _error(as_supervisor.post(f"/api/enrollment/codes/{code_id}/revoke"), 404, "not_found")


# --- QR images ---------------------------------------------------------------------

def _decode_qr(image: np.ndarray) -> str:
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    if not text:
        # The classic detector misses about one clean code in 500 (random codes make this
        # test flaky); OpenCV's ArUco-based detector reads those.
        text, points, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert points is not None, "no QR code found in the image"
    return text


def test_qr_png_holds_the_enrollment_url(as_supervisor, as_manager, world):
    code = _issue(as_supervisor, district_id=world.district.id)
    for client in (as_supervisor, as_manager):
        r = client.get(code["qr_png_url"])
        assert r.status_code == 200 and r.mimetype == "image/png"
        assert r.data.startswith(b"\x89PNG\r\n\x1a\n")
        image = cv2.imdecode(np.frombuffer(r.data, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image is not None and image.shape[0] >= 200
        assert _decode_qr(image) == f"{BASE_URL}/e/{code['code']}" == code["url"]


def _rasterize_svg_path(root: ET.Element, scale: int = 10) -> np.ndarray:
    """Draw the squares of qrcode's SVG path image, enough to read it back with a decoder."""
    x0, y0, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x0, y0) == (0, 0)
    canvas = np.full((int(height) * scale, int(width) * scale), 255, np.uint8)
    [path] = root.iter("{http://www.w3.org/2000/svg}path")
    squares = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", path.attrib["d"])
    assert squares
    for left, top, right, bottom in squares:
        canvas[int(float(top) * scale):int(float(bottom) * scale),
               int(float(left) * scale):int(float(right) * scale)] = 0
    return canvas


def test_qr_svg_is_valid_svg_holding_the_url(as_supervisor):
    code = _issue(as_supervisor)
    r = as_supervisor.get(code["qr_svg_url"])
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    root = ET.fromstring(r.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"] and root.attrib["width"].endswith("mm")
    assert _decode_qr(_rasterize_svg_path(root)) == code["url"]


def test_qr_url_is_the_public_base_url_whatever_host_the_request_names(app, world):
    host = "https://porch.example.org"  # a forged Host: links never follow it (app/links.py)
    client = app.test_client()
    assert client.post("/api/auth/signin", base_url=host,
                       json={"login": world.supervisor.email, "password": factories.PASSWORD,
                             "code": second_factor_code(app, world.supervisor)}).status_code == 200
    code = client.post("/api/enrollment/codes", base_url=host, json={"label": "x", "kind": "single"}).json
    assert code["url"] == f"{BASE_URL}/e/{code['code']}"
    png = client.get(code["qr_png_url"], base_url=host).data
    assert _decode_qr(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)) == code["url"]


# --- looking a code up -------------------------------------------------------------

def test_lookup_shows_what_a_code_enrolls_in(client, as_supervisor, world):
    code = _issue(as_supervisor, district_id=world.district.id, label="Downtown flyers")
    for typed in _typed_forms(code["code"]):
        r = client.get(f"/api/enrollment/lookup/{typed}")
        assert r.status_code == 200, (typed, r.json)
        assert r.json["code"] == code["code"] and r.json["display_code"] == code["display_code"]
        assert r.json["label"] == "Downtown flyers"
        assert r.json["agency"] == {"id": world.agency.id, "name": "Riverside Police Department"}
        assert r.json["district"] == {"id": world.district.id, "name": "Downtown BID"}
    agency_wide = _issue(as_supervisor)
    assert client.get(f"/api/enrollment/lookup/{agency_wide['code']}").json["district"] is None
    # Looking up uses nothing.
    assert _code_state(as_supervisor, code["id"])["use_count"] == 0


@pytest.mark.parametrize("typed", ["ZZZZ-ZZZZ", "2345", "ABCDEFGHJ", "O0O0-I1I1", "----"])
def test_lookup_unknown_codes(client, world, typed):
    error = _error(client.get(f"/api/enrollment/lookup/{typed}"), 404, "enrollment_code_unknown")
    assert "check" in error["message"]


def test_lookup_distinguishes_expired_revoked_and_used_up(client, as_supervisor, world):
    expired = factories.enrollment_code(world.agency, expires_in=timedelta(seconds=-1))
    used_up = factories.enrollment_code(world.agency, use_count=1)
    db.session.commit()
    revoked = _issue(as_supervisor)
    assert as_supervisor.post(f"/api/enrollment/codes/{revoked['id']}/revoke").status_code == 200
    messages = {
        _error(client.get(f"/api/enrollment/lookup/{expired.code}"), 410, "enrollment_code_expired")["message"],
        _error(client.get(f"/api/enrollment/lookup/{used_up.code}"), 410, "enrollment_code_used_up")["message"],
        _error(client.get(f"/api/enrollment/lookup/{revoked['code']}"), 410, "enrollment_code_revoked")["message"],
    }
    assert len(messages) == 3


# --- signing up with a code ------------------------------------------------------------

def test_sign_up_with_code_joins_agency_and_district(app, as_supervisor, world):
    code = _issue(as_supervisor, district_id=world.district.id)
    typed = f"{code['code'][:4].lower()}-{code['code'][4:].lower()}"
    owner, r = _sign_up(app, typed, "pat@example.com")
    assert r.status_code == 201, r.json
    assert r.json["role"] == "owner" and r.json["email"] == "pat@example.com"
    [membership] = r.json["memberships"]
    assert membership["agency_id"] == world.agency.id and membership["district_id"] == world.district.id
    assert membership["agency_name"] == "Riverside Police Department" and membership["district_name"] == "Downtown BID"
    me = owner.get("/api/auth/me")
    assert me.status_code == 200 and me.json["memberships"] == r.json["memberships"]

    camera = owner.post("/api/cameras", json={"label": "Shop door", "latitude": 43.04, "longitude": -87.91,
                                              "retention_days": 14, "public_attestation": True})
    assert camera.status_code == 201, camera.json
    assert camera.json["shared_agency_ids"] == [world.agency.id]
    assert camera.json["district_id"] == world.district.id

    state = _code_state(as_supervisor, code["id"])
    assert (state["use_count"], state["uses_left"], state["status"]) == (1, 0, "used_up")
    [use] = as_supervisor.get(f"/api/enrollment/codes/{code['id']}/uses").json
    assert use["owner_id"] == r.json["id"] and use["used_at"]
    [event] = _audit("enrollment_code.used", code["id"])
    assert event.actor_id == r.json["id"] and event.actor_role == "owner"
    assert event.agency_id == world.agency.id
    assert event.details["owner_id"] == r.json["id"] and event.details["district_id"] == world.district.id
    [signup] = _audit("account.signup")
    assert signup.details["via_code"] is True and signup.seq < event.seq


def test_sign_up_with_phone_and_campaign_code(app, as_supervisor, world):
    code = _issue(as_supervisor, kind="campaign", max_uses=10)
    client = app.test_client()
    r = client.post("/api/auth/signup", json={"phone": "+14145550199", "password": NEW_PASSWORD,
                                              "enrollment_code": code["display_code"]})
    assert r.status_code == 201, r.json
    assert [(m["agency_id"], m["district_id"]) for m in r.json["memberships"]] == [(world.agency.id, None)]
    assert _code_state(as_supervisor, code["id"])["uses_left"] == 9


def test_single_use_code_cannot_sign_up_a_second_owner(app, as_supervisor, world):
    code = _issue(as_supervisor, district_id=world.district.id)
    _, first = _sign_up(app, code["code"], "first@example.com")
    assert first.status_code == 201
    users = _user_count()

    second, r = _sign_up(app, code["code"], "second@example.com")
    _error(r, 410, "enrollment_code_used_up")
    assert _user_count() == users
    assert db.session.scalar(sa.select(User).where(User.email == "second@example.com")) is None
    _error(second.get("/api/auth/me"), 401, "unauthenticated")
    signin = app.test_client().post("/api/auth/signin", json={"login": "second@example.com",
                                                                "password": NEW_PASSWORD})
    _error(signin, 401, "invalid_credentials")
    assert len(_audit("account.signup")) == 1
    assert _code_state(as_supervisor, code["id"])["use_count"] == 1
    assert len(as_supervisor.get(f"/api/enrollment/codes/{code['id']}/uses").json) == 1


def test_failed_sign_up_neither_creates_account_nor_uses_code(app, as_supervisor, world):
    code = _issue(as_supervisor)
    users = _user_count()
    # Each of these is refused after the code was found usable: nothing may stick.
    attempts = [
        ({"password": "short"}, 422, "validation_error", "password"),
        ({"email": "not-an-address"}, 422, "validation_error", "email"),
        ({"email": None, "phone": None}, 422, "validation_error", "email"),
        ({"phone": "12"}, 422, "validation_error", "phone"),
        ({"enrollment_code": 12345678}, 422, "validation_error", "enrollment_code"),
        ({"enrollment_code": "X" * 40}, 422, "validation_error", "enrollment_code"),
        ({"display_name": ["Pat"]}, 422, "validation_error", "display_name"),
    ]
    for patch, status, error_code, field in attempts:
        _, r = _sign_up(app, code["code"], "new@example.com", patch)
        error = _error(r, status, error_code)
        assert field in error["fields"], (patch, error)
    assert _user_count() == users
    state = _code_state(as_supervisor, code["id"])
    assert (state["use_count"], state["status"]) == (0, "active")
    assert _audit("enrollment_code.used") == [] and _audit("account.signup") == []
    # The code still works for a correct sign-up.
    assert _sign_up(app, code["code"], "new@example.com")[1].status_code == 201


def test_sign_up_with_unusable_codes_creates_nothing(app, as_supervisor, world):
    expired = factories.enrollment_code(world.agency, expires_in=timedelta(minutes=-5))
    db.session.commit()
    revoked = _issue(as_supervisor)
    as_supervisor.post(f"/api/enrollment/codes/{revoked['id']}/revoke")
    users = _user_count()
    for typed, status, error_code in [
        ("ZZZZ-ZZZZ", 404, "enrollment_code_unknown"),
        ("not a code", 404, "enrollment_code_unknown"),
        (expired.code, 410, "enrollment_code_expired"),
        (revoked["code"], 410, "enrollment_code_revoked"),
    ]:
        client, r = _sign_up(app, typed, "hopeful@example.com")
        _error(r, status, error_code)
        _error(client.get("/api/auth/me"), 401, "unauthenticated")
    assert _user_count() == users


# --- redeeming with an existing account ----------------------------------------------------

def test_existing_owner_signs_in_and_redeems(app, as_supervisor, world):
    code = _issue(as_supervisor, district_id=world.district.id)
    owner = signed_in(app, world.other_owner)  # a member of the other agency only
    r = owner.post("/api/enrollment/redeem", json={"code": code["display_code"].lower()})
    assert r.status_code == 200, r.json
    assert (r.json["agency_id"], r.json["district_id"]) == (world.agency.id, world.district.id)
    assert r.json["agency_name"] == "Riverside Police Department"
    memberships = owner.get("/api/auth/me").json["memberships"]
    assert {(m["agency_id"], m["district_id"]) for m in memberships} == {
        (world.other_agency.id, None), (world.agency.id, world.district.id)}

    [use] = as_supervisor.get(f"/api/enrollment/codes/{code['id']}/uses").json
    assert use["owner_id"] == world.other_owner.id
    [event] = _audit("enrollment_code.used", code["id"])
    assert event.actor_id == world.other_owner.id

    camera = owner.post("/api/cameras", json={"label": "Garage", "latitude": 43.05, "longitude": -87.92,
                                              "retention_days": 7, "public_attestation": True})
    assert camera.status_code == 201
    assert sorted(camera.json["shared_agency_ids"]) == sorted([world.agency.id, world.other_agency.id])
    assert camera.json["district_id"] == world.district.id


@pytest.mark.parametrize("kind,max_uses", [("single", None), ("campaign", 5)])
def test_redeeming_twice_is_idempotent(app, as_supervisor, world, kind, max_uses):
    code = _issue(as_supervisor, kind=kind, max_uses=max_uses, district_id=world.district.id)
    owner = signed_in(app, world.other_owner)
    first = owner.post("/api/enrollment/redeem", json={"code": code["code"]})
    assert first.status_code == 200, first.json
    # The owner's own used-up code still looks fine to them, and joining again changes nothing.
    assert owner.get(f"/api/enrollment/lookup/{code['code']}").status_code == 200
    again = owner.post("/api/enrollment/redeem", json={"code": code["display_code"]})
    assert again.status_code == 200, again.json
    assert again.json == first.json
    state = _code_state(as_supervisor, code["id"])
    assert state["use_count"] == 1
    assert len(as_supervisor.get(f"/api/enrollment/codes/{code['id']}/uses").json) == 1
    assert len(_audit("enrollment_code.used", code["id"])) == 1
    assert len(owner.get("/api/auth/me").json["memberships"]) == 2
    # Anyone else still finds a used-up single-use code used up.
    if kind == "single":
        _error(app.test_client().get(f"/api/enrollment/lookup/{code['code']}"), 410, "enrollment_code_used_up")


def test_redeeming_a_revoked_code_again_is_refused(app, as_supervisor, world):
    code = _issue(as_supervisor, kind="campaign", max_uses=5)
    owner = signed_in(app, world.other_owner)
    assert owner.post("/api/enrollment/redeem", json={"code": code["code"]}).status_code == 200
    as_supervisor.post(f"/api/enrollment/codes/{code['id']}/revoke")
    _error(owner.post("/api/enrollment/redeem", json={"code": code["code"]}), 410, "enrollment_code_revoked")
    # Joining earlier is not undone by revoking the code.
    assert len(owner.get("/api/auth/me").json["memberships"]) == 2


def test_owner_who_left_rejoins_with_the_code_they_used(app, as_supervisor, world):
    code = _issue(as_supervisor, district_id=world.district.id)
    owner = signed_in(app, world.other_owner)
    assert owner.post("/api/enrollment/redeem", json={"code": code["code"]}).status_code == 200
    # Leaving has no endpoint yet: drop the membership as leaving will.
    db.session.execute(sa.delete(Membership).where(Membership.owner_id == world.other_owner.id,
                                                   Membership.agency_id == world.agency.id))
    db.session.commit()
    r = owner.post("/api/enrollment/redeem", json={"code": code["code"]})
    assert r.status_code == 200, r.json
    assert (r.json["agency_id"], r.json["district_id"]) == (world.agency.id, world.district.id)
    assert _code_state(as_supervisor, code["id"])["use_count"] == 1
    events = _audit("enrollment_code.used", code["id"])
    assert [e.details.get("rejoined", False) for e in events] == [False, True]


def test_campaign_code_counts_every_use_until_used_up(app, as_supervisor, world):
    code = _issue(as_supervisor, kind="campaign", max_uses=2, district_id=world.district.id)
    owners = [factories.user(Role.OWNER) for _ in range(3)]
    db.session.commit()
    for owner in owners[:2]:
        r = signed_in(app, owner).post("/api/enrollment/redeem", json={"code": code["code"]})
        assert r.status_code == 200, r.json
    third = signed_in(app, owners[2])
    _error(third.post("/api/enrollment/redeem", json={"code": code["code"]}), 410, "enrollment_code_used_up")
    assert third.get("/api/auth/me").json["memberships"] == []

    state = _code_state(as_supervisor, code["id"])
    assert (state["use_count"], state["uses_left"], state["status"]) == (2, 0, "used_up")
    uses = as_supervisor.get(f"/api/enrollment/codes/{code['id']}/uses").json
    assert [u["owner_id"] for u in uses] == [owners[0].id, owners[1].id]
    events = _audit("enrollment_code.used", code["id"])
    assert [e.details["use"] for e in events] == [1, 2]
    assert [e.actor_id for e in events] == [owners[0].id, owners[1].id]


def test_redeem_rejects_bad_input_and_unusable_codes(app, as_owner, as_supervisor, world):
    for body, field in [({}, "code"), ({"code": None}, "code"), ({"code": 12345678}, "code"),
                        ({"code": ""}, "code"), ({"code": "A" * 33}, "code"), ({"code": ["ABCD"]}, "code")]:
        error = _error(as_owner.post("/api/enrollment/redeem", json=body), 422, "validation_error")
        assert field in error["fields"], body
    expired = factories.enrollment_code(world.agency, expires_in=timedelta(seconds=-30))
    db.session.commit()
    revoked = _issue(as_supervisor)
    as_supervisor.post(f"/api/enrollment/codes/{revoked['id']}/revoke")
    used = _issue(as_supervisor)
    other = signed_in(app, world.other_owner)
    assert other.post("/api/enrollment/redeem", json={"code": used["code"]}).status_code == 200
    for typed, status, error_code in [
        ("ZZZZ-ZZZZ", 404, "enrollment_code_unknown"),
        ("hello", 404, "enrollment_code_unknown"),
        (expired.code, 410, "enrollment_code_expired"),
        (revoked["code"], 410, "enrollment_code_revoked"),
        (used["code"], 410, "enrollment_code_used_up"),
    ]:
        _error(as_owner.post("/api/enrollment/redeem", json={"code": typed}), status, error_code)
    assert len(_audit("enrollment_code.used")) == 1


def test_only_signed_in_owners_redeem(app, client, as_supervisor, world):
    code = _issue(as_supervisor)
    _error(client.post("/api/enrollment/redeem", json={"code": code["code"]}), 401, "unauthenticated")
    for staff in (world.officer, world.supervisor, world.manager):
        _error(signed_in(app, staff).post("/api/enrollment/redeem", json={"code": code["code"]}), 403, "forbidden")
    assert _code_state(as_supervisor, code["id"])["use_count"] == 0


# --- revoking ------------------------------------------------------------------------

def test_revoke_withdraws_a_code(app, as_supervisor, as_manager, world):
    code = _issue(as_supervisor, district_id=world.district.id, kind="campaign", max_uses=10)
    r = as_manager.post(f"/api/enrollment/codes/{code['id']}/revoke")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "revoked" and r.json["revoked_at"]
    again = as_supervisor.post(f"/api/enrollment/codes/{code['id']}/revoke")
    assert again.status_code == 200 and again.json["revoked_at"] == r.json["revoked_at"]
    [event] = _audit("enrollment_code.revoked", code["id"])
    assert event.actor_id == world.manager.id and event.agency_id == world.agency.id
    assert event.details == {"uses": 0}

    users = _user_count()
    _error(_sign_up(app, code["code"], "late@example.com")[1], 410, "enrollment_code_revoked")
    assert _user_count() == users
    owner = signed_in(app, world.other_owner)
    _error(owner.post("/api/enrollment/redeem", json={"code": code["code"]}), 410, "enrollment_code_revoked")


# --- the /e/<code> page -----------------------------------------------------------------

class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.styles = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [name for name in attrs if name.startswith("on")]
        self.styles += "style" in attrs or tag == "style"
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self.inline_scripts += 1
        if tag == "link" and attrs.get("rel") in ("stylesheet", "icon", "manifest"):
            self.urls.append(attrs["href"])


def _fetch(client, url):
    # Files are streamed from disk; closing the response closes the file.
    with client.get(url) as response:
        response.text = response.get_data(as_text=True)
        return response


def _check_page(client, path):
    r = _fetch(client, path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.text
    assets = _Assets()
    assets.feed(page)
    # Ready for a strict Content-Security-Policy: no inline code or styles, nothing from elsewhere.
    assert (assets.inline_scripts, assets.handlers, assets.styles) == (0, [], 0)
    assert assets.urls and all(url.startswith("/") and not url.startswith("//") for url in assets.urls)
    scripts = [u for u in assets.urls if u.endswith(".js")]
    seen = set()
    pending = [urljoin(path, url) for url in assets.urls]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        asset = _fetch(client, url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert "javascript" in asset.mimetype
            # Follow the module's own imports (static ones and the screens it loads) too.
            imported = re.findall(r"""^(?:import|export)\s[^;]*?from\s+["']([^"']+)["']""", asset.text, re.M)
            imported += re.findall(r"""module:\s*["'](\.[^"']+)["']""", asset.text)
            pending += [urljoin(url, found) for found in imported]
        elif url.endswith(".css"):
            assert asset.mimetype == "text/css"
    return page, scripts, seen


def test_enroll_page_and_its_assets(client, as_supervisor):
    code = _issue(as_supervisor)
    page, scripts, seen = _check_page(client, f"/e/{code['code']}")
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert scripts == ["/app/js/enroll.js"] and "/app/css/base.css" in seen
    assert "/app/js/api.js" in seen
    # The page is the same for every code, typed forms and unknown ones included: it asks the API.
    assert _fetch(client, "/e/zzzz-zzzz").text == page


@pytest.mark.one_database
def test_landing_page_and_its_assets(client):
    page, _, seen = _check_page(client, "/")
    assert "Porchlight" in page and '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert {"/app/css/base.css", "/app/js/app.js", "/app/js/views/home.js"} <= seen


@pytest.mark.one_database
def test_assets_outside_pwa_are_not_served(client):
    for url in ("/app/../config.py", "/app/%2e%2e/config.py", "/app/js/missing.js"):
        assert _fetch(client, url).status_code == 404
