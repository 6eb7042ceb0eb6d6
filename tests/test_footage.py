"""Footage requests and asks through the HTTP API: agency policy, scope limits and the
supervisor's approval, matching, reply codes, counts that never name an owner,
cancel and expiry, the owner's inbox and answers, and signed notification links."""
from __future__ import annotations

import itertools
import json
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from app import links
from app.accounts.models import Role
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.cameras.models import CameraStatus
from app.db import utcnow
from app.extensions import db
from app.footage import answers, lifecycle, matching
from app.footage.models import AgencyPolicy, Ask, AskState, FootageRequest, RequestStatus
from app.notifications import dispatcher
from app.transparency import service as transparency
from tests import factories
from tests.conftest import signed_in

# Milwaukee City Hall; 0.001 degrees of latitude is about 111 m.
LAT, LON = 43.0389, -87.9065
CHICAGO = ZoneInfo("America/Chicago")
STATES = ["queued", "notified", "seen", "approved", "uploading", "delivered", "declined", "no_footage",
          "expired", "cancelled"]
REQUEST_KEYS = {"id", "agency_id", "officer_id", "status", "case_number", "incident_type", "summary", "latitude",
                "longitude", "radius_m", "window_start", "window_end", "exceeded_limits", "justification",
                "reviewed_by_id", "reviewed_at", "review_reason", "self_approved", "created_at", "activated_at",
                "expires_at", "closed_at", "asks_total", "counts", "legal_basis", "warrant_number", "warrant_court",
                "exigent_reason", "offense_category", "offense_category_label", "prohibited_purposes_affirmed",
                "affirmed_at", "re_ask_cameras"}


def iso(value: datetime) -> str:
    return value.isoformat()


def ago(**delta) -> str:
    return iso(utcnow() - timedelta(**delta))


def body(**changes) -> dict:
    valid = {"latitude": LAT, "longitude": LON, "radius_m": 300, "window_start": ago(hours=3),
             "window_end": ago(hours=2), "case_number": "2026-004821", "incident_type": "burglary",
             "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
             "summary": "Break-in at the corner store around 9 pm; looking for two people on foot."}
    return {**valid, **changes}


def create(client, **changes):
    return client.post("/api/requests", json=body(**changes))


def created(client, **changes) -> dict:
    response = create(client, **changes)
    assert response.status_code == 201, response.json
    return response.json


def invalid(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    return error["fields"]


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.json
    return response.json["error"]["code"]


def shared_camera(world, lat=LAT, lon=LON, *, owner=None, **kw):
    """A camera (the world's owner's unless ``owner``), shared with the world's agency unless ``shared_with``."""
    return factories.camera(owner or world.owner, lat, lon, shared_with=kw.pop("shared_with", [world.agency]), **kw)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def events(prefix: str) -> list[AuditEvent]:
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.seq)))


def overrides_reported(world) -> int:
    """The approvals over the agency's limits its public transparency report counts."""
    report = transparency.report(world.agency.slug)
    return sum(month["requests_over_limit_approved"] for month in report["months"])


def asks_of(request_id: int) -> list[Ask]:
    return list(db.session.scalars(sa.select(Ask).where(Ask.request_id == request_id).order_by(Ask.id)))


def owner_with_login(world):
    owner = factories.user(Role.OWNER)
    factories.membership(owner, world.agency)
    db.session.commit()
    return owner


# --- agency policy ---------------------------------------------------------------------------

def test_staff_read_the_default_policy_without_creating_one(as_officer, world):
    response = as_officer.get("/api/agency/policy")
    assert response.status_code == 200, response.json
    policy = response.json
    assert policy["agency_id"] == world.agency.id
    assert (policy["max_radius_m"], policy["max_window_minutes"], policy["request_lifetime_hours"]) == (500, 120, 72)
    assert (policy["escalation_minutes"], policy["clip_retention_days"]) == (30, 90)
    assert (policy["max_clip_bytes"], policy["max_clips_per_ask"]) == (4 * 1024**3, 16)
    assert policy["updated_at"] is None and policy["updated_by_id"] is None
    assert policy["allow_self_approval"] is False
    assert count(AgencyPolicy) == 0


def test_supervisor_changes_the_policy_and_the_audit_has_before_and_after(as_supervisor, world):
    response = as_supervisor.patch("/api/agency/policy", json={"max_radius_m": 800, "request_lifetime_hours": 48,
                                                                "max_clip_bytes": 8 * 1024**3})
    assert response.status_code == 200, response.json
    assert response.json["max_radius_m"] == 800 and response.json["request_lifetime_hours"] == 48
    assert response.json["max_clip_bytes"] == 8 * 1024**3
    assert response.json["updated_by_id"] == world.supervisor.id and response.json["updated_at"]
    assert as_supervisor.get("/api/agency/policy").json == response.json
    [event] = events("policy.")
    assert event.actor_id == world.supervisor.id and event.agency_id == world.agency.id
    assert event.details == {"max_radius_m": {"before": 500, "after": 800},
                             "request_lifetime_hours": {"before": 72, "after": 48},
                             "max_clip_bytes": {"before": 4 * 1024**3, "after": 8 * 1024**3}}
    # The same values again change nothing and record nothing.
    assert as_supervisor.patch("/api/agency/policy", json={"max_radius_m": 800}).status_code == 200
    assert len(events("policy.")) == 1


def test_policy_is_per_agency(app, world, as_supervisor):
    other = signed_in(app, world.other_supervisor)
    assert other.patch("/api/agency/policy", json={"max_radius_m": 250}).status_code == 200
    assert as_supervisor.get("/api/agency/policy").json["max_radius_m"] == 500
    assert other.get("/api/agency/policy").json["max_radius_m"] == 250


@pytest.mark.one_database
@pytest.mark.parametrize("field, value", [
    ("max_radius_m", 0), ("max_radius_m", 5001), ("max_radius_m", "800"), ("max_radius_m", 800.5),
    ("max_radius_m", None), ("max_radius_m", True), ("max_window_minutes", 0), ("max_window_minutes", 20000),
    ("request_lifetime_hours", 0), ("request_lifetime_hours", 721), ("escalation_minutes", -1),
    ("clip_retention_days", 0), ("max_clip_bytes", 10), ("max_clip_bytes", 65 * 1024**3),
    ("max_clip_bytes", "4GiB"), ("max_clips_per_ask", 0), ("max_clips_per_ask", 101),
    ("allow_self_approval", "true"), ("allow_self_approval", 1), ("allow_self_approval", None),
])
def test_policy_rejects_out_of_range_values(as_supervisor, field, value):
    assert field in invalid(as_supervisor.patch("/api/agency/policy", json={field: value}))
    assert count(AgencyPolicy) == 0
    assert events("policy.") == []


def test_policy_reminder_must_come_before_expiry(as_supervisor):
    fields = invalid(as_supervisor.patch("/api/agency/policy", json={"reminder_before_expiry_hours": 72}))
    assert "reminder_before_expiry_hours" in fields
    fields = invalid(as_supervisor.patch("/api/agency/policy", json={"request_lifetime_hours": 12}))
    assert "request_lifetime_hours" in fields
    ok = as_supervisor.patch("/api/agency/policy", json={"request_lifetime_hours": 12,
                                                          "reminder_before_expiry_hours": 2})
    assert ok.status_code == 200, ok.json


@pytest.mark.one_database
@pytest.mark.parametrize("role", ["officer", "owner", "manager"])
def test_only_supervisors_change_the_policy(app, world, role):
    client = signed_in(app, getattr(world, role))
    assert error_code(client.patch("/api/agency/policy", json={"max_radius_m": 900}), 403) == "forbidden"


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_policy_is_for_staff_only(app, world, role):
    assert signed_in(app, getattr(world, role)).get("/api/agency/policy").status_code == 403
    assert app.test_client().get("/api/agency/policy").status_code == 401


# --- creating requests ---------------------------------------------------------------------------

@pytest.fixture
def notifications(monkeypatch):
    """Records what the dispatcher was given: new asks in the transaction, ids after the commit."""
    calls = {"recorded": [], "enqueued": [], "committed_asks": []}
    ids = itertools.count(1000)

    def record_new_asks(request_id):
        # The asks are in the transaction before the dispatcher records their notifications.
        asks = db.session.scalars(sa.select(Ask.id).where(Ask.request_id == request_id, Ask.state == AskState.QUEUED)
                                  .order_by(Ask.id)).all()
        calls["recorded"].append(asks)
        return [next(ids) for _ in asks]

    def enqueue(notification_ids):
        calls["enqueued"].append(list(notification_ids))
        # Another connection sees the asks: enqueue runs after the commit.
        with db.engine.connect() as conn:
            calls["committed_asks"].append(conn.execute(sa.select(sa.func.count()).select_from(Ask)).scalar())

    monkeypatch.setattr(dispatcher, "record_new_asks", record_new_asks)
    monkeypatch.setattr(dispatcher, "enqueue", enqueue)
    return calls


def test_request_within_limits_goes_out_at_once(as_officer, world, notifications):
    first, second = shared_camera(world, label="Porch"), shared_camera(world, LAT + 0.001, LON, label="Garage")
    neighbour = owner_with_login(world)
    third = shared_camera(world, LAT, LON + 0.001, owner=neighbour)
    request = created(as_officer)
    assert set(request) == REQUEST_KEYS
    assert request["status"] == "active" and request["exceeded_limits"] == []
    assert request["officer_id"] == world.officer.id and request["agency_id"] == world.agency.id
    assert request["asks_total"] == 3
    assert request["counts"] == {**dict.fromkeys(STATES, 0), "queued": 3}
    activated = datetime.fromisoformat(request["activated_at"])
    assert datetime.fromisoformat(request["expires_at"]) - activated == timedelta(hours=72)
    asks = asks_of(request["id"])
    assert {a.camera_id for a in asks} == {first.id, second.id, third.id}
    assert {a.owner_id for a in asks} == {world.owner.id, neighbour.id}
    assert {a.camera_label for a in asks} >= {"Porch", "Garage"}
    assert all(a.state == AskState.QUEUED for a in asks)
    # Nearest first, each with its distance.
    assert asks[0].camera_id == first.id and asks[0].distance_m == 0
    assert 100 < next(a for a in asks if a.camera_id == second.id).distance_m < 120
    # The dispatcher recorded notifications for exactly these asks, and the queue got them after the commit.
    assert notifications["recorded"] == [[a.id for a in asks]]
    assert notifications["enqueued"] == [[1000, 1001, 1002]]
    assert notifications["committed_asks"] == [3]
    assert [e.action for e in events("request.")] == ["request.created", "request.activated"]
    assert events("request.activated")[0].details["asks"] == 3


def test_request_with_no_matching_camera_is_active_with_no_asks(as_officer, notifications):
    request = created(as_officer)
    assert request["status"] == "active" and request["asks_total"] == 0
    assert notifications["enqueued"] == []


def test_request_body_is_trimmed_and_times_are_utc(as_officer):
    start = datetime.now(CHICAGO).replace(microsecond=0) - timedelta(hours=5)
    request = created(as_officer, window_start=iso(start), window_end=iso(start + timedelta(minutes=45)),
                      case_number="  2026-1  ", summary=" Look for a red bike. ")
    assert request["case_number"] == "2026-1" and request["summary"] == "Look for a red bike."
    assert datetime.fromisoformat(request["window_start"]) == start
    assert datetime.fromisoformat(request["window_start"]).utcoffset() == timedelta(0)


@pytest.mark.one_database
@pytest.mark.parametrize("field", ["latitude", "longitude", "radius_m", "window_start", "window_end",
                                   "case_number", "incident_type", "summary"])
def test_request_requires_field(as_officer, field):
    payload = {k: v for k, v in body().items() if k != field}
    assert field in invalid(as_officer.post("/api/requests", json=payload))
    assert count(FootageRequest) == 0


@pytest.mark.one_database
@pytest.mark.parametrize("field, value", [
    ("latitude", 91), ("latitude", "43.0"), ("longitude", -181), ("longitude", None), ("radius_m", 0),
    ("radius_m", 5001), ("radius_m", "300"), ("radius_m", True),
    ("window_start", "2026-01-01T10:00:00"), ("window_start", "yesterday"), ("window_start", 1767261600),
    ("window_end", "2026-01-01 10:00"), ("window_start", "0001-01-01T00:00:00+01:00"),
    ("case_number", ""), ("case_number", "   "), ("case_number", "x" * 65), ("incident_type", 12),
    ("summary", "x" * 1001), ("summary", None), ("justification", "x" * 1001),
])
def test_request_rejects_bad_values(as_officer, field, value):
    assert field in invalid(create(as_officer, **{field: value}))
    assert count(FootageRequest) == 0


@pytest.mark.one_database
def test_naive_times_are_refused_with_a_reason(as_officer):
    fields = invalid(create(as_officer, window_start="2026-01-01T10:00:00", window_end="2026-01-01T11:00:00"))
    assert set(fields) == {"window_start", "window_end"}
    assert "aware" in fields["window_start"][0]


@pytest.mark.one_database
@pytest.mark.parametrize("start, end, named", [
    ({"hours": -2}, {"hours": -3}, {"window_start", "window_end"}),  # both in the future
    ({"hours": 1}, {"hours": -1}, {"window_end"}),                    # ends in the future
    ({"hours": 2}, {"hours": 3}, {"window_end"}),                     # ends before it starts
    ({"hours": 2}, {"hours": 2}, {"window_end"}),                     # empty
    ({"days": 9}, {"days": 1}, {"window_end"}),                       # longer than a week
    ({"days": 400}, {"days": 399}, {"window_start"}),                 # older than any recorder keeps
])
def test_window_must_lie_in_the_past_in_order(as_officer, start, end, named):
    now = utcnow()
    fields = invalid(create(as_officer, window_start=iso(now - timedelta(**start)),
                            window_end=iso(now - timedelta(**end))))
    assert set(fields) == named


@pytest.mark.one_database
def test_every_bad_field_is_named_in_one_answer(as_officer):
    payload = body(window_start=ago(hours=-1), radius_m=-5)
    del payload["summary"]
    assert set(invalid(as_officer.post("/api/requests", json=payload))) == {"window_start", "window_end",
                                                                             "radius_m", "summary"}


def test_supervisors_make_requests_too(as_supervisor, world):
    assert created(as_supervisor)["officer_id"] == world.supervisor.id


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owners_and_managers_cannot_use_request_routes(app, world, role):
    client = signed_in(app, getattr(world, role))
    assert client.post("/api/requests", json=body()).status_code == 403
    assert client.post("/api/requests/preview", json=body()).status_code == 403
    assert client.get("/api/requests").status_code == 403
    assert client.get("/api/requests/1").status_code == 403
    assert client.post("/api/requests/1/cancel").status_code == 403
    assert app.test_client().post("/api/requests", json=body()).status_code == 401


# --- limits and the supervisor's approval ----------------------------------------------------------

@pytest.mark.one_database
@pytest.mark.parametrize("changes, exceeded", [
    ({"radius_m": 800}, ["radius"]),
    ({"window_start": ago(hours=5)}, ["window"]),
    ({"radius_m": 501, "window_start": ago(hours=4, seconds=1)}, ["radius", "window"]),
])
def test_over_a_limit_needs_a_justification(as_officer, world, changes, exceeded):
    shared_camera(world)
    response = create(as_officer, **changes)
    fields = invalid(response)
    assert list(fields) == ["justification"]
    for limit in exceeded:
        assert limit.replace("window", "time window") in fields["justification"][0]
    assert count(FootageRequest) == 0
    request = created(as_officer, **changes, justification="Armed robbery; suspects fled on foot.")
    assert request["status"] == "pending_approval" and request["exceeded_limits"] == exceeded
    assert request["justification"] == "Armed robbery; suspects fled on foot."
    assert request["asks_total"] == 0 and request["activated_at"] is None and request["expires_at"] is None
    assert count(Ask) == 0
    assert [e.action for e in events("request.")] == ["request.created"]


def test_exactly_at_the_limits_needs_no_approval(as_officer):
    end = utcnow() - timedelta(hours=2)
    request = created(as_officer, radius_m=500, window_start=iso(end - timedelta(hours=2)), window_end=iso(end))
    assert request["status"] == "active"


def test_a_blank_justification_counts_as_missing(as_officer):
    assert "justification" in invalid(create(as_officer, radius_m=800, justification="   "))


def test_the_policy_moves_the_limits(as_supervisor, as_officer):
    as_supervisor.patch("/api/agency/policy", json={"max_radius_m": 1000, "max_window_minutes": 300})
    assert created(as_officer, radius_m=800, window_start=ago(hours=6))["status"] == "active"


def test_supervisor_approves_an_override(as_officer, as_supervisor, world, notifications):
    camera = shared_camera(world)
    pending = created(as_officer, radius_m=900, justification="Homicide; wide area.")
    response = as_supervisor.post(f"/api/requests/{pending['id']}/approve", json={"reason": "Homicide, approved."})
    assert response.status_code == 200, response.json
    request = response.json
    assert request["status"] == "active" and request["asks_total"] == 1
    assert request["reviewed_by_id"] == world.supervisor.id and request["review_reason"] == "Homicide, approved."
    assert request["reviewed_at"] and request["activated_at"] and request["expires_at"]
    assert [a.camera_id for a in asks_of(pending["id"])] == [camera.id]
    assert len(notifications["enqueued"]) == 1
    [event] = events("request.approved")
    assert event.actor_id == world.supervisor.id
    assert event.details["override"] is True and event.details["exceeded_limits"] == ["radius"]
    assert event.details["reason"] == "Homicide, approved."
    assert overrides_reported(world) == 1
    # Decided once.
    again = as_supervisor.post(f"/api/requests/{pending['id']}/approve", json={"reason": "again"})
    assert error_code(again, 409) == "not_pending"
    assert error_code(as_supervisor.post(f"/api/requests/{pending['id']}/reject", json={"reason": "no"}),
                      409) == "not_pending"
    assert len(asks_of(pending["id"])) == 1


def _month_figures(client, slug: str) -> dict:
    month = utcnow().astimezone(CHICAGO).strftime("%Y-%m")
    report = client.get(f"/api/public/agencies/{slug}/report", query_string={"from": month, "to": month})
    assert report.status_code == 200, report.json
    [figures] = report.json["months"]
    csv_text = client.get(f"/api/public/agencies/{slug}/report.csv",
                          query_string={"from": month, "to": month}).get_data(as_text=True)
    header, row = (line.split(",") for line in csv_text.strip().splitlines())
    assert dict(zip(header, row, strict=True))["requests_over_limit_self_approved"] == str(
        figures["requests_over_limit_self_approved"])
    return figures


def test_a_supervisor_cannot_approve_their_own_over_limit_request(app, world, as_supervisor, notifications):
    shared_camera(world)
    mine = created(as_supervisor, radius_m=900, justification="Homicide; wide area.")
    assert mine["officer_id"] == world.supervisor.id and mine["status"] == "pending_approval"

    refused = as_supervisor.post(f"/api/requests/{mine['id']}/approve", json={"reason": "I say so."})
    assert error_code(refused, 403) == "self_approval_not_allowed"
    message = refused.json["error"]["message"]
    assert "another supervisor" in message and "keeps waiting" in message and "72 h" in message
    # Nothing changed and nobody was asked; the attempt itself is on record.
    after = as_supervisor.get(f"/api/requests/{mine['id']}").json
    assert after["status"] == "pending_approval" and after["reviewed_by_id"] is None
    assert after["self_approved"] is False and after["activated_at"] is None
    assert count(Ask) == 0 and notifications["recorded"] == [] and notifications["enqueued"] == []
    assert events("request.approved") == []
    [refusal] = events("request.approval_refused")
    assert refusal.actor_id == world.supervisor.id and refusal.details["reason"] == "self_approval"
    assert overrides_reported(world) == 0
    # It waits in the queue for another supervisor.
    queue = as_supervisor.get("/api/requests", query_string={"status": "pending_approval"}).json
    assert [r["id"] for r in queue] == [mine["id"]]

    second = factories.user(Role.SUPERVISOR, agency_id=world.agency.id)
    db.session.commit()
    approved = signed_in(app, second).post(f"/api/requests/{mine['id']}/approve", json={"reason": "Agreed."})
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "active" and approved.json["asks_total"] == 1
    assert approved.json["reviewed_by_id"] == second.id and approved.json["self_approved"] is False
    [event] = events("request.approved")
    assert event.actor_id == second.id and event.details["self_approved"] is False
    assert len(notifications["enqueued"]) == 1
    figures = _month_figures(app.test_client(), world.agency.slug)
    assert (figures["requests_over_limit_approved"], figures["requests_over_limit_self_approved"]) == (1, 0)


def test_self_approval_where_the_agency_policy_allows_it(app, world, as_supervisor, notifications):
    shared_camera(world)
    allowed = as_supervisor.patch("/api/agency/policy", json={"allow_self_approval": True})
    assert allowed.status_code == 200 and allowed.json["allow_self_approval"] is True
    [change] = events("policy.")
    assert change.actor_id == world.supervisor.id
    assert change.details == {"allow_self_approval": {"before": False, "after": True}}

    mine = created(as_supervisor, radius_m=900, justification="Homicide; wide area.")
    approved = as_supervisor.post(f"/api/requests/{mine['id']}/approve", json={"reason": "Only supervisor on duty."})
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "active" and approved.json["self_approved"] is True
    assert as_supervisor.get(f"/api/requests/{mine['id']}").json["self_approved"] is True
    listed = as_supervisor.get("/api/requests").json
    assert [(r["id"], r["self_approved"]) for r in listed] == [(mine["id"], True)]
    [event] = events("request.approved")
    assert event.actor_id == world.supervisor.id and event.details["self_approved"] is True
    assert event.details["officer_id"] == world.supervisor.id
    figures = _month_figures(app.test_client(), world.agency.slug)
    assert (figures["requests_over_limit_approved"], figures["requests_over_limit_self_approved"]) == (1, 1)

    # Turned off again, the next one waits for another supervisor.
    assert as_supervisor.patch("/api/agency/policy", json={"allow_self_approval": False}).status_code == 200
    again = created(as_supervisor, radius_m=900, justification="Another wide area.")
    assert error_code(as_supervisor.post(f"/api/requests/{again['id']}/approve", json={"reason": "x"}),
                      403) == "self_approval_not_allowed"


def test_supervisor_rejects_an_override(as_officer, as_supervisor, world):
    shared_camera(world)
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    response = as_supervisor.post(f"/api/requests/{pending['id']}/reject", json={"reason": "Too broad for a theft."})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "rejected" and response.json["closed_at"]
    assert response.json["review_reason"] == "Too broad for a theft."
    assert count(Ask) == 0
    assert events("request.rejected")[0].details["reason"] == "Too broad for a theft."
    assert overrides_reported(world) == 0
    assert error_code(as_supervisor.post(f"/api/requests/{pending['id']}/approve", json={"reason": "x"}),
                      409) == "not_pending"


@pytest.mark.one_database
@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": 5}])
def test_approval_and_rejection_need_a_reason(as_officer, as_supervisor, payload):
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    for verb in ("approve", "reject"):
        assert "reason" in invalid(as_supervisor.post(f"/api/requests/{pending['id']}/{verb}", json=payload))
    assert as_officer.get(f"/api/requests/{pending['id']}").json["status"] == "pending_approval"


def test_within_limits_request_cannot_be_approved(as_officer, as_supervisor):
    active = created(as_officer)
    assert error_code(as_supervisor.post(f"/api/requests/{active['id']}/approve", json={"reason": "x"}),
                      409) == "not_pending"


def test_officers_cannot_approve(as_officer):
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    for verb in ("approve", "reject"):
        assert error_code(as_officer.post(f"/api/requests/{pending['id']}/{verb}", json={"reason": "x"}),
                          403) == "forbidden"


def test_another_agencys_supervisor_cannot_see_or_approve(app, world, as_officer):
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    other = signed_in(app, world.other_supervisor)
    for verb in ("approve", "reject"):
        assert other.post(f"/api/requests/{pending['id']}/{verb}", json={"reason": "x"}).status_code == 404
    assert other.get(f"/api/requests/{pending['id']}").status_code == 404
    assert other.get("/api/requests?status=pending_approval").json == []


def test_the_approval_queue(as_officer, as_supervisor):
    active = created(as_officer)
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    queue = as_supervisor.get("/api/requests", query_string={"status": "pending_approval"})
    assert queue.status_code == 200, queue.json
    assert [r["id"] for r in queue.json] == [pending["id"]]
    everything = as_supervisor.get("/api/requests").json
    assert [r["id"] for r in everything] == [pending["id"], active["id"]]  # newest first
    assert [r["id"] for r in as_supervisor.get("/api/requests?limit=1").json] == [pending["id"]]
    assert "status" in invalid(as_supervisor.get("/api/requests?status=open"))
    assert "limit" in invalid(as_supervisor.get("/api/requests?limit=0"))


# --- preview ----------------------------------------------------------------------------------------------

def test_preview_counts_cameras_and_changes_nothing(as_officer, world):
    shared_camera(world)
    shared_camera(world, LAT + 0.001, LON)
    shared_camera(world, status=CameraStatus.PAUSED)
    audit_before = count(AuditEvent)
    response = as_officer.post("/api/requests/preview", json=body())
    assert response.status_code == 200, response.json
    assert response.json == {"cameras": 2, "exceeded_limits": [], "needs_approval": False, "re_ask_cameras": 0}
    wide = as_officer.post("/api/requests/preview", json=body(radius_m=900)).json
    assert wide == {"cameras": 2, "exceeded_limits": ["radius"], "needs_approval": True, "re_ask_cameras": 0}
    assert count(FootageRequest) == count(Ask) == count(AgencyPolicy) == 0
    assert count(AuditEvent) == audit_before
    assert "window_end" in invalid(as_officer.post("/api/requests/preview", json=body(window_end=ago(hours=-1))))
    # A half-filled form previews too: only where and when decide the count.
    scope = {k: v for k, v in body().items() if k not in ("case_number", "incident_type", "summary")}
    assert as_officer.post("/api/requests/preview", json=scope).json["cameras"] == 2
    assert "radius_m" in invalid(as_officer.post("/api/requests/preview", json={**scope, "radius_m": None}))


# --- matching ----------------------------------------------------------------------------------------------

def _excluded_camera(world, rule):
    if rule == "paused":
        return shared_camera(world, status=CameraStatus.PAUSED)
    if rule == "out_of_radius":
        return shared_camera(world, LAT + 0.0035, LON)  # about 390 m, radius 300
    if rule == "retention_too_short":
        return shared_camera(world, retention_days=1)
    if rule == "not_shared":
        return shared_camera(world, shared_with=[])
    if rule == "another_agency":
        return shared_camera(world, owner=world.other_owner, shared_with=[world.other_agency])
    if rule == "owner_inactive":
        owner = owner_with_login(world)
        owner.active = False
        return shared_camera(world, owner=owner)
    if rule == "blackout_whole_window":
        # Dark around the clock from the day before the window to the day after, in local time.
        day = (utcnow() - timedelta(days=2)).astimezone(CHICAGO).weekday()
        return shared_camera(world, blackout_windows=[w for d in ((day - 1) % 7, day, (day + 1) % 7) for w in (
            {"day": d, "start": "00:00", "end": "12:00"}, {"day": d, "start": "12:00", "end": "00:00"})])
    raise AssertionError(rule)


@pytest.mark.parametrize("rule", ["paused", "out_of_radius", "retention_too_short", "not_shared",
                                  "another_agency", "owner_inactive", "blackout_whole_window"])
def test_matching_leaves_out(as_officer, world, rule):
    good = shared_camera(world, LAT + 0.002, LON)
    _excluded_camera(world, rule)
    db.session.commit()
    # Two days ago: a 1-day recorder has overwritten it, the default 30-day one has not.
    request = created(as_officer, window_start=ago(days=2), window_end=ago(days=2, minutes=-30))
    assert [a.camera_id for a in asks_of(request["id"])] == [good.id]
    preview = as_officer.post("/api/requests/preview",
                              json=body(window_start=ago(days=2), window_end=ago(days=2, minutes=-30)))
    assert preview.json["cameras"] == 1


@pytest.mark.parametrize("days, matches", [(2.9, True), (3.1, False)])
def test_retention_must_still_cover_the_window_start(as_officer, world, days, matches):
    shared_camera(world, retention_days=3)
    request = created(as_officer, window_start=ago(days=days), window_end=ago(days=days, minutes=-30))
    assert request["asks_total"] == (1 if matches else 0)


def _last_week(hour: int, minute: int = 0, days_back: int = 7) -> datetime:
    """A local (agency) time some days ago, as an aware datetime."""
    day = datetime.now(CHICAGO).date() - timedelta(days=days_back)
    return datetime.combine(day, time(hour, minute), tzinfo=CHICAGO)


def _matches(client, start: datetime, end: datetime) -> int:
    response = client.post("/api/requests/preview", json=body(window_start=iso(start), window_end=iso(end)))
    assert response.status_code == 200, response.json
    return response.json["cameras"]


@pytest.mark.one_database
@pytest.mark.parametrize("window, blackout, asked", [
    # 14:00-15:00 local on day D.
    ((14, 15), [(0, "13:00", "16:00")], False),               # the whole window
    ((14, 15), [(0, "14:00", "15:00")], False),               # exactly
    ((14, 15), [(0, "14:30", "16:00")], True),                # partly: the camera may hold 14:00-14:30
    ((14, 15), [(0, "13:00", "14:30"), (0, "14:40", "16:00")], True),  # a gap in the middle
    ((14, 15), [(0, "13:00", "14:30"), (0, "14:30", "16:00")], False),  # two windows that meet
    ((14, 15), [(1, "13:00", "16:00")], True),                # another weekday
    ((14, 15), [(0, "19:00", "21:00")], True),                # 19-20 UTC is 14-15 in Chicago: local time counts
    # 01:00-02:00 local on day D, inside the night that began on day D-1.
    ((1, 2), [(-1, "22:00", "06:00")], False),                # overnight window covers it
    ((1, 2), [(0, "22:00", "06:00")], True),                  # day D's night starts too late
    ((1, 2), [(-1, "22:00", "01:30")], True),                 # the night ends at 01:30
])
def test_blackout_hours(as_officer, world, window, blackout, asked):
    start = _last_week(window[0])
    end = _last_week(window[1])
    windows = [{"day": (start.weekday() + offset) % 7, "start": s, "end": e} for offset, s, e in blackout]
    shared_camera(world, blackout_windows=windows)
    db.session.commit()
    assert _matches(as_officer, start, end) == (1 if asked else 0)


@pytest.mark.parametrize("second_night_ends, asked", [("05:00", False), ("03:00", True)])
def test_blackout_over_a_window_spanning_midnight_and_days(as_officer, world, second_night_ends, asked):
    start, end = _last_week(20), _last_week(4, days_back=6)  # day D 20:00 to day D+1 04:00
    day = start.weekday()
    shared_camera(world, blackout_windows=[
        {"day": day, "start": "19:00", "end": "00:00"},
        {"day": (day + 1) % 7, "start": "00:00", "end": second_night_ends},
    ])
    db.session.commit()
    assert _matches(as_officer, start, end) == (1 if asked else 0)


def test_blackout_over_several_days(as_officer, world):
    start, end = _last_week(9), _last_week(17, days_back=5)  # day D 09:00 to day D+2 17:00
    days = [(start.weekday() + i) % 7 for i in range(3)]
    # Dark from 08:00 to 18:00 each day: the nights are recorded, so it is asked.
    shared_camera(world, blackout_windows=[{"day": d, "start": "08:00", "end": "18:00"} for d in days])
    # Dark around the clock on all three days (two halves a day, meeting at noon and midnight).
    shared_camera(world, blackout_windows=[w for d in days for w in (
        {"day": d, "start": "00:00", "end": "12:00"}, {"day": d, "start": "12:00", "end": "00:00"})])
    db.session.commit()
    assert _matches(as_officer, start, end) == 1


def test_blackout_across_a_dst_change():
    # 2025-11-02: Chicago falls back at 02:00 CDT; 01:00-02:00 local happens twice.
    windows = [{"day": 5, "start": "22:00", "end": "03:00"}]  # Saturday night to Sunday 03:00
    start = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)   # 00:30 CDT
    end = datetime(2025, 11, 2, 8, 30, tzinfo=UTC)     # 02:30 CST, after the repeated hour
    assert matching.blackout_covers(windows, start, end, CHICAGO)
    later = datetime(2025, 11, 2, 9, 30, tzinfo=UTC)   # 03:30 CST
    assert not matching.blackout_covers(windows, start, later, CHICAGO)


# --- reply codes -----------------------------------------------------------------------------------------

def test_reply_codes_are_unique_among_the_owners_open_asks(as_officer, world, monkeypatch):
    cameras = [shared_camera(world, LAT + i * 0.0001, LON) for i in range(3)]
    # Another time window: a declined ask of an overlapping one would make this a re-ask.
    earlier = factories.footage_request(world.agency, world.officer, window_ago=timedelta(days=1))
    factories.ask(earlier, cameras[0], reply_code="0002")                           # open: taken
    factories.ask(earlier, cameras[1], reply_code="0001", state=AskState.DECLINED)  # closed: free again
    db.session.commit()
    draws = iter([1, 1, 2, 3, 3, 2, 1, 4])
    monkeypatch.setattr(lifecycle.secrets, "randbelow", lambda n: next(draws))
    request = created(as_officer)
    assert [a.reply_code for a in asks_of(request["id"])] == ["0001", "0003", "0004"]


def test_reply_codes_differ_across_many_asks(as_officer, world):
    for i in range(40):
        shared_camera(world, LAT + i * 0.00002, LON)
    request = created(as_officer)
    codes = [a.reply_code for a in asks_of(request["id"])]
    assert len(codes) == len(set(codes)) == 40
    assert all(len(c) == 4 and c.isdigit() for c in codes)


def test_the_database_refuses_a_duplicate_open_reply_code(world):
    camera = shared_camera(world)
    other_camera = shared_camera(world)
    first, second = factories.footage_request(world.agency), factories.footage_request(world.agency)
    factories.ask(first, camera, reply_code="4821", state=AskState.NO_FOOTAGE)
    factories.ask(second, other_camera, reply_code="4821")  # the closed one does not count
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        factories.ask(first, other_camera, reply_code="4821")
    db.session.rollback()


def test_a_code_taken_by_a_concurrent_request_is_retried(as_officer, world, monkeypatch):
    camera = shared_camera(world)
    other = factories.footage_request(world.agency, world.officer)
    factories.ask(other, shared_camera(world, LAT + 0.01, LON), reply_code="0001")
    db.session.commit()
    real = lifecycle._open_reply_codes
    blind = iter([True])  # the first read misses the other request's code, as if it committed just after
    monkeypatch.setattr(lifecycle, "_open_reply_codes",
                        lambda owners: defaultdict(set) if next(blind, False) else real(owners))
    draws = iter([1, 1, 2])
    monkeypatch.setattr(lifecycle.secrets, "randbelow", lambda n: next(draws))
    request = created(as_officer)
    [ask] = asks_of(request["id"])
    assert (ask.camera_id, ask.reply_code) == (camera.id, "0002")
    assert [e.action for e in events("request.")] == ["request.created", "request.activated"]
    assert audit.verify_chain().ok


def test_requests_activated_at_the_same_moment_share_no_code(app, world, monkeypatch):
    for i in range(30):
        shared_camera(world, LAT + i * 0.00002, LON)
    colleague = factories.user(Role.OFFICER, agency_id=world.agency.id)
    db.session.commit()
    clients = [signed_in(app, world.officer), signed_in(app, colleague)]
    draws = random.Random(7)
    # 60 codes for 60 open asks: any overlap between the two requests would collide.
    monkeypatch.setattr(lifecycle.secrets, "randbelow", lambda n: draws.randrange(60))
    barrier = threading.Barrier(len(clients))
    statuses = []

    def send(client):
        barrier.wait()
        statuses.append(client.post("/api/requests", json=body()).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201, 201]
    codes = list(db.session.scalars(sa.select(Ask.reply_code).where(Ask.owner_id == world.owner.id)))
    assert len(codes) == len(set(codes)) == 60
    assert audit.verify_chain().ok


# --- what officers see --------------------------------------------------------------------------------

def test_counts_never_name_an_owner(app, as_officer, world):
    world.owner.phone = "+14145550123"
    neighbour = owner_with_login(world)
    labels = ["Alley cam 7", "Front door cam", "Driveway cam"]
    shared_camera(world, label=labels[0])
    shared_camera(world, LAT + 0.0005, LON, label=labels[1])
    shared_camera(world, LAT, LON + 0.0005, owner=neighbour, label=labels[2])
    db.session.commit()
    request = created(as_officer)
    owner_client, neighbour_client = signed_in(app, world.owner), signed_in(app, neighbour)
    mine = owner_client.get("/api/asks").json
    assert owner_client.post(f"/api/asks/{mine[0]['id']}/approve").status_code == 200
    assert owner_client.post(f"/api/asks/{mine[1]['id']}/decline", json={"reason": "Private matter"}).status_code == 200
    [theirs] = neighbour_client.get("/api/asks").json
    assert neighbour_client.post(f"/api/asks/{theirs['id']}/no-footage").status_code == 200
    for view in (as_officer.get(f"/api/requests/{request['id']}").json, as_officer.get("/api/requests").json[0]):
        assert set(view) == REQUEST_KEYS
        assert view["counts"] == {**dict.fromkeys(STATES, 0), "approved": 1, "declined": 1, "no_footage": 1}
        assert view["asks_total"] == 3
        text = json.dumps(view)
        for secret in [world.owner.email, world.owner.phone, neighbour.email, "Private matter", *labels,
                       ]:
            assert secret not in text, secret


def test_officers_see_their_agencys_requests_only(app, world, as_officer):
    colleague = factories.user(Role.OFFICER, agency_id=world.agency.id)
    db.session.commit()
    theirs = created(signed_in(app, colleague))
    mine = created(as_officer)
    assert [r["id"] for r in as_officer.get("/api/requests").json] == [mine["id"], theirs["id"]]
    assert as_officer.get(f"/api/requests/{theirs['id']}").status_code == 200
    other = signed_in(app, world.other_officer)
    assert other.get("/api/requests").json == []
    for path in (f"/api/requests/{mine['id']}", "/api/requests/999999", "/api/requests/99999999999"):
        assert error_code(other.get(path), 404) == "not_found"
    assert other.post(f"/api/requests/{mine['id']}/cancel").status_code == 404
    assert as_officer.get(f"/api/requests/{mine['id']}").json["status"] == "active"


# --- cancel ----------------------------------------------------------------------------------------------

def test_officer_cancels_and_open_asks_close(app, as_officer, world):
    cameras = [shared_camera(world, LAT + i * 0.0003, LON) for i in range(3)]
    request = created(as_officer)
    asks = {a.camera_id: a for a in asks_of(request["id"])}
    owner = signed_in(app, world.owner)
    assert owner.post(f"/api/asks/{asks[cameras[1].id].id}/approve").status_code == 200
    assert owner.post(f"/api/asks/{asks[cameras[2].id].id}/decline", json={}).status_code == 200
    response = as_officer.post(f"/api/requests/{request['id']}/cancel")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled" and response.json["closed_at"]
    # The unanswered and the approved ask are cancelled; the owner's decline stands.
    assert response.json["counts"] == {**dict.fromkeys(STATES, 0), "cancelled": 2, "declined": 1}
    cancelled = events("ask.cancelled")
    assert len(cancelled) == 2 and {e.actor_id for e in cancelled} == {world.officer.id}
    assert events("request.cancelled")[0].details == {"asks_cancelled": 2, "notices": 0}
    # A cancelled ask cannot be answered; the request cannot be cancelled twice.
    assert error_code(owner.post(f"/api/asks/{asks[cameras[0].id].id}/approve"), 409) == "illegal_transition"
    assert error_code(as_officer.post(f"/api/requests/{request['id']}/cancel"), 409) == "request_closed"


def test_an_answer_racing_a_cancel_ends_cancelled(app, as_officer, world):
    shared_camera(world)
    request = created(as_officer)
    [ask_id] = [a.id for a in asks_of(request["id"])]
    owner = signed_in(app, world.owner)
    barrier = threading.Barrier(2)
    statuses = {}

    def run(name, call):
        barrier.wait()
        statuses[name] = call().status_code

    threads = [threading.Thread(target=run, args=("cancel", lambda: as_officer.post(
                   f"/api/requests/{request['id']}/cancel"))),
               threading.Thread(target=run, args=("approve", lambda: owner.post(f"/api/asks/{ask_id}/approve")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Approved then cancelled, or cancelled then refused: the ask ends cancelled either way.
    assert statuses["cancel"] == 200 and statuses["approve"] in (200, 409)
    assert db.session.get(Ask, ask_id).state == AskState.CANCELLED
    assert audit.verify_chain().ok


def test_only_the_requesting_officer_or_a_supervisor_cancels(app, as_officer, as_supervisor, world):
    request = created(as_officer)
    colleague = factories.user(Role.OFFICER, agency_id=world.agency.id)
    db.session.commit()
    response = signed_in(app, colleague).post(f"/api/requests/{request['id']}/cancel")
    assert error_code(response, 403) == "forbidden"
    assert as_supervisor.post(f"/api/requests/{request['id']}/cancel").json["status"] == "cancelled"


def test_a_pending_request_can_be_cancelled(as_officer, as_supervisor):
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    assert as_officer.post(f"/api/requests/{pending['id']}/cancel").json["status"] == "cancelled"
    assert error_code(as_supervisor.post(f"/api/requests/{pending['id']}/approve", json={"reason": "x"}),
                      409) == "not_pending"


# --- expiry ----------------------------------------------------------------------------------------------

def test_expiry_closes_unfinished_asks_and_the_request(app, as_officer, as_supervisor, world):
    as_supervisor.patch("/api/agency/policy", json={"request_lifetime_hours": 24, "reminder_before_expiry_hours": 2})
    cameras = [shared_camera(world, LAT + i * 0.0003, LON) for i in range(3)]
    request = created(as_officer)
    assert datetime.fromisoformat(request["expires_at"]) - datetime.fromisoformat(request["activated_at"]) \
        == timedelta(hours=24)
    asks = {a.camera_id: a.id for a in asks_of(request["id"])}
    owner = signed_in(app, world.owner)
    owner.post(f"/api/asks/{asks[cameras[1].id]}/approve")
    owner.post(f"/api/asks/{asks[cameras[2].id]}/no-footage")
    assert lifecycle.expire_due_requests() == 0
    assert lifecycle.expire_due_requests(utcnow() + timedelta(hours=25)) == 1
    view = as_officer.get(f"/api/requests/{request['id']}").json
    assert view["status"] == "expired" and view["closed_at"]
    assert view["counts"] == {**dict.fromkeys(STATES, 0), "expired": 2, "no_footage": 1}
    assert len(events("ask.expired")) == 2
    assert events("request.expired")[0].details == {"asks_expired": 2, "notices": 0}
    assert lifecycle.expire_due_requests(utcnow() + timedelta(hours=50)) == 0
    assert error_code(owner.post(f"/api/asks/{asks[cameras[0].id]}/approve"), 409) == "illegal_transition"


def test_expiry_leaves_closed_requests_and_ends_stale_pending_ones(as_officer, world):
    cancelled = created(as_officer)
    created(as_officer)  # active
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    factories.footage_request(world.agency, world.officer, status=RequestStatus.PENDING_APPROVAL,
                              created_at=utcnow() - timedelta(hours=80))
    db.session.commit()
    as_officer.post(f"/api/requests/{cancelled['id']}/cancel")
    assert lifecycle.expire_due_requests() == 1  # the stale pending one
    assert as_officer.get(f"/api/requests/{pending['id']}").json["status"] == "pending_approval"
    assert lifecycle.expire_due_requests(utcnow() + timedelta(hours=73)) == 2
    assert as_officer.get(f"/api/requests/{cancelled['id']}").json["status"] == "cancelled"


def test_an_answer_after_the_deadline_but_before_the_sweep_is_refused(app, as_officer, world):
    shared_camera(world)
    request = created(as_officer)
    db.session.get(FootageRequest, request["id"]).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    owner = signed_in(app, world.owner)
    [ask] = owner.get("/api/asks").json
    assert error_code(owner.post(f"/api/asks/{ask['id']}/approve"), 409) == "request_expired"


# --- the owner's side --------------------------------------------------------------------------------------

@pytest.fixture
def asked(as_officer, world):
    """An active request that asks the world's owner about one camera; returns (request, ask id)."""
    shared_camera(world, label="Back door")
    request = created(as_officer)
    [ask] = asks_of(request["id"])
    return request, ask.id


def test_owner_inbox(as_owner, asked, world):
    request, ask_id = asked
    response = as_owner.get("/api/asks")
    assert response.status_code == 200, response.json
    [ask] = response.json
    assert ask["id"] == ask_id and ask["request_id"] == request["id"]
    assert ask["agency_name"] == "Riverside Police Department"
    assert (ask["case_number"], ask["incident_type"], ask["summary"]) == (
        request["case_number"], request["incident_type"], request["summary"])
    assert ask["window_start"] == request["window_start"] and ask["window_end"] == request["window_end"]
    assert ask["deadline"] == request["expires_at"]
    assert ask["state"] == "queued" and ask["camera_label"] == "Back door" and ask["distance_m"] == 0
    assert ask["actions"] == ["approve", "decline", "no_footage"]
    assert len(ask["reply_code"]) == 4
    assert ask["seen_at"] is None and ask["responded_at"] is None and ask["answered_via"] is None
    # Listing is not opening.
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED


def test_opening_an_ask_marks_it_seen_once(as_owner, asked, world):
    _, ask_id = asked
    response = as_owner.get(f"/api/asks/{ask_id}")
    assert response.status_code == 200, response.json
    assert response.json["state"] == "seen" and response.json["seen_at"]
    assert as_owner.get(f"/api/asks/{ask_id}").json["state"] == "seen"
    [event] = events("ask.seen")
    assert event.actor_id == world.owner.id and event.target_id == str(ask_id)
    assert event.details["from"] == "queued" and event.agency_id == world.agency.id


def test_owner_approves(as_owner, asked, world, as_officer):
    request, ask_id = asked
    response = as_owner.post(f"/api/asks/{ask_id}/approve")
    assert response.status_code == 200, response.json
    assert response.json["state"] == "approved" and response.json["answered_via"] == "app"
    assert response.json["responded_at"] and response.json["actions"] == []
    [event] = events("ask.approved")
    assert event.actor_id == world.owner.id and event.details["via"] == "app"
    assert as_officer.get(f"/api/requests/{request['id']}").json["counts"]["approved"] == 1
    # An answer given stays given.
    for action in ("approve", "no-footage"):
        assert error_code(as_owner.post(f"/api/asks/{ask_id}/{action}"), 409) == "illegal_transition"
    assert error_code(as_owner.post(f"/api/asks/{ask_id}/decline", json={}), 409) == "illegal_transition"


def test_owner_declines_with_an_optional_reason(as_owner, asked):
    _, ask_id = asked
    response = as_owner.post(f"/api/asks/{ask_id}/decline", json={"reason": "  Not comfortable sharing.  "})
    assert response.status_code == 200, response.json
    assert response.json["state"] == "declined" and response.json["decline_reason"] == "Not comfortable sharing."
    assert events("ask.declined")[0].details["via"] == "app"
    assert error_code(as_owner.post(f"/api/asks/{ask_id}/approve"), 409) == "illegal_transition"


def test_decline_without_a_reason(as_owner, asked):
    _, ask_id = asked
    response = as_owner.post(f"/api/asks/{ask_id}/decline", json={})
    assert response.status_code == 200 and response.json["decline_reason"] is None


@pytest.mark.one_database
def test_decline_reason_too_long(as_owner, asked):
    _, ask_id = asked
    assert "reason" in invalid(as_owner.post(f"/api/asks/{ask_id}/decline", json={"reason": "x" * 501}))
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED


def test_owner_has_no_footage(as_owner, asked):
    _, ask_id = asked
    response = as_owner.post(f"/api/asks/{ask_id}/no-footage")
    assert response.status_code == 200 and response.json["state"] == "no_footage"
    assert [e.action for e in events("ask.")] == ["ask.no_footage"]


def test_another_owners_ask_is_not_found(app, asked, world):
    _, ask_id = asked
    other = signed_in(app, world.other_owner)
    assert other.get("/api/asks").json == []
    assert error_code(other.get(f"/api/asks/{ask_id}"), 404) == "not_found"
    for action in ("approve", "no-footage"):
        assert other.post(f"/api/asks/{ask_id}/{action}").status_code == 404
    assert other.post(f"/api/asks/{ask_id}/decline", json={}).status_code == 404
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED
    assert other.get("/api/asks/99999999999").status_code == 404


@pytest.mark.one_database
@pytest.mark.parametrize("role", ["officer", "supervisor", "manager"])
def test_staff_cannot_use_owner_routes(app, asked, world, role):
    _, ask_id = asked
    client = signed_in(app, getattr(world, role))
    assert error_code(client.get("/api/asks"), 403) == "forbidden"
    assert client.get(f"/api/asks/{ask_id}").status_code == 403
    assert client.post(f"/api/asks/{ask_id}/approve").status_code == 403
    assert client.post(f"/api/asks/{ask_id}/decline", json={}).status_code == 403
    assert client.post(f"/api/asks/{ask_id}/no-footage").status_code == 403
    assert app.test_client().get("/api/asks").status_code == 401
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED


def test_sms_helpers_find_and_answer_open_asks(as_officer, world):
    cameras = [shared_camera(world, LAT + i * 0.0003, LON) for i in range(2)]
    shared_camera(world, owner=world.other_owner, shared_with=[world.agency])
    request = created(as_officer)
    owner = db.session.get(type(world.owner), world.owner.id)
    open_asks = answers.open_asks_of(owner)
    assert {a.camera_id for a in open_asks} == {c.id for c in cameras}
    target = open_asks[0]
    answered = answers.answer_ask(target, owner, "no_footage", "sms")
    assert answered.state == AskState.NO_FOOTAGE and answered.answered_via == "sms"
    assert [a.id for a in answers.open_asks_of(owner)] == [a.id for a in open_asks[1:]]
    assert answers.ask_for_owner(owner, target.id).id == target.id
    with pytest.raises(Exception) as denied:
        answers.ask_for_owner(db.session.get(type(world.owner), world.other_owner.id), target.id)
    assert denied.value.status_code == 404
    assert events("ask.no_footage")[0].details["via"] == "sms"
    assert request["id"] == target.request_id


# --- signed action links ---------------------------------------------------------------------------------

def _token(ask_id: int, action: str) -> str:
    return links.action_token(db.session.get(Ask, ask_id), action)


def test_action_link_answers_without_a_session(app, asked, world):
    _, ask_id = asked
    anonymous = app.test_client()
    response = anonymous.post(f"/api/ask-actions/{_token(ask_id, 'approve')}")
    assert response.status_code == 200, response.json
    assert response.json == {"ask_id": ask_id, "request_id": asked[0]["id"], "state": "approved"}
    ask = db.session.get(Ask, ask_id)
    assert ask.state == AskState.APPROVED and ask.answered_via == "notification"
    [event] = events("ask.approved")
    assert event.actor_id == world.owner.id and event.details["via"] == "notification"
    # Pressing the button again is harmless; another answer is not.
    assert anonymous.post(f"/api/ask-actions/{_token(ask_id, 'approve')}").status_code == 200
    assert len(events("ask.approved")) == 1
    response = anonymous.post(f"/api/ask-actions/{_token(ask_id, 'decline')}")
    assert error_code(response, 409) == "illegal_transition"


@pytest.mark.parametrize("action, state", [("decline", "declined"), ("no_footage", "no_footage")])
def test_action_link_declines_or_has_no_footage(app, asked, action, state):
    _, ask_id = asked
    response = app.test_client().post(links.action_path(db.session.get(Ask, ask_id), action))
    assert response.status_code == 200 and response.json["state"] == state


@pytest.mark.one_database
def test_a_tampered_action_link_is_refused(app, asked):
    _, ask_id = asked
    token = _token(ask_id, "decline")
    payload, _, signature = token.rpartition(".")
    forged_payload = URLSafeSerializer("x").dump_payload({"ask": ask_id, "owner": 1, "action": "approve",
                                                          "exp": 4102444800}).decode()
    other_key = URLSafeSerializer("another-secret", salt="porchlight.ask-action").dumps(
        {"ask": ask_id, "owner": 1, "action": "approve", "exp": 4102444800})
    # The first character: all six of its bits are signature (the last one's low bits are padding).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    client = app.test_client()
    for bad in (f"{payload}.{flipped}", f"{forged_payload}.{signature}", other_key, "not-a-token", "x.y.z"):
        response = client.post(f"/api/ask-actions/{bad}")
        assert error_code(response, 403) == "invalid_token", bad
        assert "not valid" in response.json["error"]["message"]
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED


def test_an_expired_action_link_is_gone(app, asked):
    request, ask_id = asked
    db.session.get(FootageRequest, request["id"]).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = app.test_client().post(f"/api/ask-actions/{_token(ask_id, 'approve')}")
    assert error_code(response, 410) == "token_expired"
    assert "expired" in response.json["error"]["message"]
    assert db.session.get(Ask, ask_id).state == AskState.QUEUED


def test_an_action_link_of_a_cancelled_request_is_gone(app, asked, as_officer):
    request, ask_id = asked
    token = _token(ask_id, "approve")
    as_officer.post(f"/api/requests/{request['id']}/cancel")
    assert error_code(app.test_client().post(f"/api/ask-actions/{token}"), 410) == "request_closed"


def test_an_action_link_of_a_deactivated_owner_is_refused(app, asked, world):
    _, ask_id = asked
    token = _token(ask_id, "approve")
    db.session.get(type(world.owner), world.owner.id).active = False
    db.session.commit()
    assert error_code(app.test_client().post(f"/api/ask-actions/{token}"), 403) == "forbidden"


# --- the whole loop in the audit log ------------------------------------------------------------------------

def test_every_change_is_in_the_audit_chain(app, as_officer, as_supervisor, world):
    shared_camera(world)
    pending = created(as_officer, radius_m=900, justification="Wide area.")
    as_supervisor.post(f"/api/requests/{pending['id']}/approve", json={"reason": "Serious case."})
    owner = signed_in(app, world.owner)
    [ask] = owner.get("/api/asks").json
    owner.get(f"/api/asks/{ask['id']}")
    owner.post(f"/api/asks/{ask['id']}/approve")
    as_officer.post(f"/api/requests/{pending['id']}/cancel")
    actions = [e.action for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.like("request.%") | AuditEvent.action.like("ask.%"))
        .order_by(AuditEvent.seq))]
    assert actions == ["request.created", "request.approved", "request.activated", "ask.seen", "ask.approved",
                       "ask.cancelled", "request.cancelled"]
    assert audit.verify_chain().ok
