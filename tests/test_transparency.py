"""The public transparency report: exact monthly figures, camera counts only over cells of
at least 5 cameras, no personal data, no sign-in needed."""
from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.accounts.models import Role
from app.cameras.models import CameraMode, CameraStatus
from app.clips.models import Clip, ClipStatus
from app.db import utcnow
from app.extensions import db
from app.footage.models import AskState, RequestStatus
from app.transparency import service
from tests import factories

_clip_seq = itertools.count(1)


def at(text: str) -> datetime:
    """A UTC instant from "2026-03-05 15:00"."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def clip(ask, status: ClipStatus, completed: str | None = None, purged: str | None = None) -> Clip:
    n = next(_clip_seq)
    obj = Clip(upload_id=f"up{n:030d}", ask_id=ask.id, request_id=ask.request_id,
               agency_id=ask.request.agency_id, owner_id=ask.owner_id, status=status, size=1000,
               upload_offset=1000 if completed else 10, storage_key=f"key{n:061d}", filename="porch.mp4",
               completed_at=at(completed) if completed else None, purged_at=at(purged) if purged else None,
               sha256="ab" * 32 if completed else None)
    db.session.add(obj)
    db.session.flush()
    return obj


def ask(request, camera, state: AskState, created: str, answered_after_min: int | None = None):
    created_at = at(created)
    responded = created_at + timedelta(minutes=answered_after_min) if answered_after_min is not None else None
    return factories.ask(request, camera, state=state, created_at=created_at, responded_at=responded)


class Data:
    """Two months (March and April 2026, America/Chicago) of one agency's activity."""

    SECRETS: list[str]


@pytest.fixture
def data(world):
    w = world
    w.owner.display_name = "Zelda Quartermain"
    w.owner.phone = "+14145550123"
    w.owner.email = "zelda.quartermain@example.com"
    d = Data()
    d.world = w
    # A dense cell (row 4304, column -8791: centre 43.045, -87.905) with 6 counted cameras,
    # 2 of them integrated; a paused and an unshared camera there do not count.
    dense = [factories.camera(w.owner, 43.04121 + i * 0.00013, -87.90613 - i * 0.00011, shared_with=[w.agency],
                              label=f"Zelda porch {i}",
                              mode=CameraMode.INTEGRATE if i < 2 else CameraMode.REGISTER)
             for i in range(6)]
    factories.camera(w.owner, 43.04177, -87.90777, shared_with=[w.agency], status=CameraStatus.PAUSED,
                     label="Zelda paused")
    factories.camera(w.owner, 43.04188, -87.90766, shared_with=[], label="Zelda unshared")
    # A sparse cell: 3 cameras, never shown.
    sparse = [factories.camera(w.owner, 43.06123 + i * 0.0001, -87.93217, shared_with=[w.agency],
                               label=f"Zelda garage {i}") for i in range(3)]
    # Another agency's 5 cameras in the dense cell are its own, not this agency's.
    for i in range(5):
        factories.camera(w.other_owner, 43.04231 + i * 0.0001, -87.90519, shared_with=[w.other_agency],
                         label=f"Other side {i}")
    cams = dense + sparse

    def req(created: str, case: str, **kw):
        return factories.footage_request(w.agency, w.officer, created_at=at(created), case_number=case, **kw)

    # March (CST until 8 March, then CDT; April begins 2026-04-01 05:00 UTC).
    r1 = req("2026-03-05 15:00", "CASE-SECRET-001")
    r2 = req("2026-03-20 15:00", "CASE-SECRET-002", exceeded_limits=["radius"], justification="Wide area",
             reviewed_at=at("2026-03-20 16:00"), reviewed_by_id=w.supervisor.id, status=RequestStatus.EXPIRED)
    req("2026-03-21 15:00", "CASE-SECRET-003", exceeded_limits=["window"], justification="Long window",
        reviewed_at=at("2026-03-21 16:00"), reviewed_by_id=w.supervisor.id, status=RequestStatus.REJECTED)
    req("2026-04-01 04:30", "CASE-SECRET-004")  # 23:30 on 31 March in Chicago: March
    req("2026-03-01 05:59", "CASE-SECRET-000")  # 23:59 on 28 February in Chicago: out of range
    ask(r1, cams[0], AskState.APPROVED, "2026-03-05 15:01", 10)
    delivered = ask(r1, cams[1], AskState.DELIVERED, "2026-03-05 15:01", 30)
    ask(r1, cams[2], AskState.DECLINED, "2026-03-05 15:01", 20)
    ask(r1, cams[3], AskState.NO_FOOTAGE, "2026-03-05 15:01", 60)
    ask(r1, cams[4], AskState.EXPIRED, "2026-03-05 15:01")
    ask(r1, cams[5], AskState.CANCELLED, "2026-03-05 15:01")
    ask(r1, cams[6], AskState.SEEN, "2026-03-05 15:01")
    ask(r2, cams[0], AskState.DECLINED, "2026-04-01 03:00", 60)  # 22:00 on 31 March in Chicago
    clip(delivered, ClipStatus.COMPLETE, completed="2026-03-06 10:00")
    clip(delivered, ClipStatus.PURGED, completed="2026-03-07 10:00", purged="2026-04-15 10:00")
    clip(delivered, ClipStatus.UPLOADING)
    clip(delivered, ClipStatus.ABORTED)

    # April.
    r4 = req("2026-04-10 12:00", "CASE-SECRET-005")
    req("2026-04-30 12:00", "CASE-SECRET-006", exceeded_limits=["window"], justification="Long window",
        reviewed_at=at("2026-05-01 04:59"), reviewed_by_id=w.supervisor.id)  # 23:59 on 30 April in Chicago
    # A supervisor's own over-limit request, self-approved under a policy allowing it.
    factories.footage_request(w.agency, w.supervisor, created_at=at("2026-04-20 12:00"), case_number="CASE-SECRET-007",
                              exceeded_limits=["radius"], justification="Wide area", reviewed_by_id=w.supervisor.id,
                              reviewed_at=at("2026-04-20 12:30"), self_approved=True, status=RequestStatus.EXPIRED)
    uploading = ask(r4, cams[0], AskState.UPLOADING, "2026-04-10 12:01", 5)
    ask(r4, cams[1], AskState.DECLINED, "2026-04-10 12:01", 45)
    ask(r4, cams[2], AskState.EXPIRED, "2026-04-10 12:01")
    ask(r4, cams[3], AskState.EXPIRED, "2026-04-10 12:01")
    clip(uploading, ClipStatus.COMPLETE, completed="2026-04-11 09:00")

    # The other agency's activity is not this agency's.
    other = factories.footage_request(w.other_agency, w.other_officer, created_at=at("2026-03-10 12:00"))
    other_cam = factories.camera(w.other_owner, 43.1, -87.9, shared_with=[w.other_agency])
    ask(other, other_cam, AskState.APPROVED, "2026-03-10 12:01", 1)
    db.session.commit()

    d.SECRETS = [w.owner.email, w.owner.phone, w.owner.display_name, "Zelda", "CASE-SECRET", "porch.mp4",
                 w.officer.email, w.supervisor.email, "Break-in at the corner store", "Wide area", "Long window"]
    for cam in cams:
        d.SECRETS += [repr(cam.latitude), repr(cam.longitude)]
    d.SECRETS += ["43.0389", "-87.9065"]  # where the requests were
    return d


def report(client, slug, **query):
    return client.get(f"/api/public/agencies/{slug}/report", query_string=query)


MARCH = {
    "month": "2026-03", "requests": 4, "requests_over_limit_approved": 1, "requests_over_limit_self_approved": 0,
    "requests_re_ask": 0, "requests_re_ask_approved": 0,
    "cameras_asked": 8,
    "approved": 2, "declined": 2, "no_footage": 1, "expired": 1, "cancelled": 1, "open": 1, "outcomes": 6,
    "approved_rate": 0.3333, "declined_rate": 0.3333, "no_footage_rate": 0.1667, "expired_rate": 0.1667,
    "answered": 5, "median_time_to_respond_minutes": 30.0, "clips_received": 2, "clips_purged": 0,
}
APRIL = {
    "month": "2026-04", "requests": 3, "requests_over_limit_approved": 2, "requests_over_limit_self_approved": 1,
    "requests_re_ask": 0, "requests_re_ask_approved": 0,
    "cameras_asked": 4,
    "approved": 1, "declined": 1, "no_footage": 0, "expired": 2, "cancelled": 0, "open": 0, "outcomes": 4,
    "approved_rate": 0.25, "declined_rate": 0.25, "no_footage_rate": 0.0, "expired_rate": 0.5,
    "answered": 2, "median_time_to_respond_minutes": 25.0, "clips_received": 1, "clips_purged": 1,
}
EMPTY_MAY = {key: 0 for key in MARCH} | {
    "month": "2026-05", "approved_rate": None, "declined_rate": None, "no_footage_rate": None,
    "expired_rate": None, "median_time_to_respond_minutes": None}


def test_monthly_figures_are_exact_in_the_agency_time_zone(client, data):
    r = report(client, data.world.agency.slug, **{"from": "2026-03", "to": "2026-05"})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["agency"] == {"slug": data.world.agency.slug, "name": "Riverside Police Department",
                              "timezone": "America/Chicago"}
    assert (body["from"], body["to"]) == ("2026-03", "2026-05")
    assert body["months"] == [MARCH, APRIL, EMPTY_MAY]


def test_cameras_only_over_cells_of_at_least_five(client, data):
    cameras = report(client, data.world.agency.slug).json["cameras"]
    assert cameras == {
        "cell_size_degrees": 0.01, "min_cameras_per_cell": 5,
        # 2 integrated cameras of 6 is a small cell inside a shown one: not shown, nor counted in the total.
        "cells": [{"latitude": 43.045, "longitude": -87.905, "registered": 6, "integrated": None}],
        # The sums over shown cells: the 3 cameras of the sparse cell are not in any figure.
        "registered": 6, "integrated": 0,
    }
    # The sparse cell's centre (43.065, -87.935) appears nowhere.
    text = report(client, data.world.agency.slug).get_data(as_text=True)
    assert "43.065" not in text and "-87.935" not in text


def test_integrated_sub_count_shown_only_when_it_and_the_rest_reach_five(client, data):
    w = data.world
    dense = [factories.camera(w.owner, 43.04222 + i * 0.0001, -87.90644, shared_with=[w.agency],
                              mode=CameraMode.INTEGRATE) for i in range(3)]
    db.session.commit()

    def cell():
        cameras = report(client, w.agency.slug).json["cameras"]
        return cameras["cells"][0]["registered"], cameras["cells"][0]["integrated"], cameras["integrated"]

    assert cell() == (9, None, 0)   # 5 integrated, but the other 4 would follow by subtraction
    for cam in dense[:2]:
        cam.mode = CameraMode.REGISTER
    db.session.commit()
    assert cell() == (9, None, 0)   # 3 integrated: small
    dense[0].mode = dense[1].mode = CameraMode.INTEGRATE
    factories.camera(w.owner, 43.04255, -87.90655, shared_with=[w.agency])
    db.session.commit()
    assert cell() == (10, 5, 5)     # 5 and 5: both shown


def test_a_cell_reaching_five_cameras_appears_and_one_under_disappears(client, data):
    w = data.world
    slug = w.agency.slug
    # Two more cameras in the sparse cell make it 5: now it shows.
    extra = [factories.camera(w.owner, 43.06155, -87.93244 + i * 0.0001, shared_with=[w.agency]) for i in range(2)]
    db.session.commit()
    cells = report(client, slug).json["cameras"]["cells"]
    assert {(c["latitude"], c["longitude"], c["registered"]) for c in cells} == {
        (43.045, -87.905, 6), (43.065, -87.935, 5)}
    # Pausing one takes it back under the threshold: it disappears, and from the totals too.
    extra[0].status = CameraStatus.PAUSED
    db.session.commit()
    cameras = report(client, slug).json["cameras"]
    assert [(c["latitude"], c["registered"]) for c in cameras["cells"]] == [(43.045, 6)]
    assert cameras["registered"] == 6


def test_negative_coordinates_fall_in_the_right_cell(client, world):
    # South and west of zero, truncating toward zero would merge cells across the axes.
    owner = factories.user(Role.OWNER)
    factories.membership(owner, world.agency)
    for i in range(5):
        factories.camera(owner, -33.86791 - i * 0.0001, 151.20712, shared_with=[world.agency])
    db.session.commit()
    cells = report(client, world.agency.slug).json["cameras"]["cells"]
    assert cells == [{"latitude": -33.865, "longitude": 151.205, "registered": 5, "integrated": 0}]


def test_no_personal_data_in_any_answer(client, data):
    slug = data.world.agency.slug
    query = {"from": "2026-03", "to": "2026-04"}
    texts = [
        client.get("/api/public/agencies").get_data(as_text=True),
        report(client, slug, **query).get_data(as_text=True),
        report(client, slug).get_data(as_text=True),
        client.get(f"/api/public/agencies/{slug}/report.csv", query_string=query).get_data(as_text=True),
    ]
    for text in texts:
        for secret in data.SECRETS:
            assert secret.lower() not in text.lower(), f"{secret!r} leaked"
    body = report(client, slug, **query).json
    keys = set()

    def walk(value):
        if isinstance(value, dict):
            keys.update(value)
            for sub in value.values():
                walk(sub)
        elif isinstance(value, list):
            for sub in value:
                walk(sub)

    walk(body)
    assert not keys & {"id", "owner_id", "camera_id", "case_number", "email", "phone", "label", "address"}


def test_csv_has_the_monthly_table(client, data):
    slug = data.world.agency.slug
    r = client.get(f"/api/public/agencies/{slug}/report.csv", query_string={"from": "2026-03", "to": "2026-04"})
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert f'filename="porchlight-transparency-{slug}-2026-03-2026-04.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["month"] for row in rows] == ["2026-03", "2026-04"]
    assert list(rows[0]) == list(service.MONTH_COLUMNS)
    assert rows[0]["requests"] == "4" and rows[0]["approved_rate"] == "0.3333"
    assert rows[1]["median_time_to_respond_minutes"] == "25.0" and rows[1]["clips_purged"] == "1"
    assert rows[1]["requests_over_limit_approved"] == "2" and rows[1]["requests_over_limit_self_approved"] == "1"


def test_csv_cells_cannot_run_as_formulas():
    row = {column: 0 for column in service.MONTH_COLUMNS}
    row |= {"month": "=HYPERLINK(\"http://evil\")", "requests": "+1", "cameras_asked": "-2", "approved": "@SUM(A1)",
            "declined": "\tx", "expired": "\rx", "approved_rate": None, "no_footage": 3}
    text = service.report_csv({"months": [row]})
    cells = next(itertools.islice(csv.reader(io.StringIO(text)), 1, None))
    values = dict(zip(service.MONTH_COLUMNS, cells, strict=True))
    assert values["month"] == "'=HYPERLINK(\"http://evil\")"
    assert values["requests"] == "'+1"
    assert values["cameras_asked"] == "'-2"
    assert values["approved"] == "'@SUM(A1)"
    assert values["declined"] == "'\tx"
    assert values["expired"] == "'\rx"
    assert values["approved_rate"] == "" and values["no_footage"] == "3"


def test_default_range_is_the_last_twelve_months(client, data):
    r = report(client, data.world.agency.slug)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=300"
    now = utcnow().astimezone(ZoneInfo("America/Chicago"))
    months = [m["month"] for m in r.json["months"]]
    assert len(months) == 12 and months[-1] == f"{now.year:04d}-{now.month:02d}"
    assert months == sorted(months)
    # Only `from`: twelve months from there.
    months = [m["month"] for m in report(client, data.world.agency.slug, **{"from": "2025-01"}).json["months"]]
    assert (months[0], months[-1], len(months)) == ("2025-01", "2025-12", 12)


def test_agencies_are_listed_without_signing_in(client, world):
    r = client.get("/api/public/agencies")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.json == [{"slug": world.other_agency.slug, "name": "Hillcrest Police Department"},
                      {"slug": world.agency.slug, "name": "Riverside Police Department"}]


def test_signed_in_users_see_the_same_report(as_owner, client, data):
    query = {"from": "2026-03", "to": "2026-04"}
    slug = data.world.agency.slug
    assert report(as_owner, slug, **query).json["months"] == report(client, slug, **query).json["months"]


@pytest.mark.parametrize("path", ["report", "report.csv"])
def test_unknown_agency_is_404(client, world, path):
    r = client.get(f"/api/public/agencies/no-such-agency/{path}")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"


@pytest.mark.one_database
@pytest.mark.parametrize(("query", "field"), [
    ({"from": "2026-3"}, "from"),
    ({"from": "2026-13"}, "from"),
    ({"to": "March"}, "to"),
    ({"to": "2026-00"}, "to"),
    ({"from": "2026-05", "to": "2026-04"}, "from"),
    ({"from": "2023-01", "to": "2026-01"}, "to"),  # 37 months
])
@pytest.mark.parametrize("path", ["report", "report.csv"])
def test_bad_ranges_are_422_naming_the_field(client, world, query, field, path):
    r = client.get(f"/api/public/agencies/{world.agency.slug}/{path}", query_string=query)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["error"]["code"] == "validation_error"
    assert list(r.json["error"]["fields"]) == [field]


def test_thirty_six_months_is_the_longest_range(client, world):
    r = report(client, world.agency.slug, **{"from": "2023-02", "to": "2026-01"})
    assert r.status_code == 200
    assert len(r.json["months"]) == 36


@pytest.mark.one_database
def test_report_is_documented_as_public(app):
    spec = app.test_client().get("/api/openapi.json").json
    for path in ("/api/public/agencies", "/api/public/agencies/{slug}/report",
                 "/api/public/agencies/{slug}/report.csv"):
        operation = spec["paths"][path]["get"]
        assert not operation.get("security"), path
    params = {p["name"] for p in spec["paths"]["/api/public/agencies/{slug}/report"]["get"]["parameters"]}
    assert {"from", "to", "slug"} <= params
    assert json.dumps(spec["paths"]["/api/public/agencies/{slug}/report.csv"]["get"]["responses"]["200"]).count(
        "text/csv") == 1
