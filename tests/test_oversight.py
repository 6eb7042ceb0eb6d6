"""Civilian oversight: invited with two-step sign-in, read-only within its agency, every view
audited, never footage or owners; and the complaint log kept by supervisors and oversight.

(The authorization walk, tests/test_authz_walk.py, calls every route as oversight too.)
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.accounts import sessions
from app.accounts.models import Role, User
from app.audit.models import AuditEvent
from app.clips.models import Clip, ClipStatus, EvidenceHold
from app.db import utcnow
from app.extensions import db
from app.footage.models import AskState, RequestStatus
from app.oversight.complaints import complaint_counts
from tests import factories
from tests.conftest import signed_in
from tests.invitation_support import invite_and_join

PASSWORD = "commission-lantern-42"


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def overseer(world):
    user = factories.user(Role.OVERSIGHT, agency_id=world.agency.id, display_name="Commission Analyst")
    db.session.commit()
    return user


@pytest.fixture
def as_oversight(app, overseer):
    return signed_in(app, overseer)


def _clip(request, ask, status, *, retain_until, purged_at=None, filename="owner-porch-secret.mp4") -> Clip:
    clip = Clip(upload_id=f"{ask.id:08d}{status.value:0>24}"[:32], ask_id=ask.id, request_id=request.id,
                agency_id=request.agency_id, owner_id=ask.owner_id, status=status, filename=filename, size=10,
                upload_offset=10, storage_key=f"k-{ask.id}-{status.value}", sha256="ab" * 32,
                completed_at=utcnow(), retain_until=retain_until, purged_at=purged_at)
    db.session.add(clip)
    return clip


def test_a_supervisor_invites_oversight_and_two_step_sign_in_is_required(app, world, as_supervisor):
    client, joined = invite_and_join(app, as_supervisor, PASSWORD, email="analyst@commission.example",
                                     role="oversight", display_name="Analyst")
    assert joined.status_code == 201, joined.json
    assert (joined.json["role"], joined.json["agency_id"]) == ("oversight", world.agency.id)
    assert joined.json["second_factor"]["required"] is True and joined.json["second_factor"]["enabled"] is True
    assert client.get("/api/oversight/requests").status_code == 200
    assert sessions.limits_for(Role.OVERSIGHT) == sessions.limits_for(Role.OFFICER)  # short staff sessions
    user = db.session.scalar(sa.select(User).where(User.email == "analyst@commission.example"))
    # Kept apart from a resident account with the same address, like police accounts.
    assert user.is_staff and not user.role.is_agency_staff
    r = app.test_client().post("/api/auth/signin", json={"login": user.email, "password": PASSWORD})
    assert r.status_code == 401 and r.json["error"]["code"] == "second_factor_required"
    assert any(s["id"] == user.id for s in as_supervisor.get("/api/agency/staff").json)
    # An overseer is never made police, nor police an overseer.
    r = as_supervisor.patch(f"/api/agency/staff/{user.id}", json={"role": "officer"})
    assert r.status_code == 409 and r.json["error"]["code"] == "role_change_not_allowed"
    # An oversight account made without an authenticator can do nothing but set one up.
    bare = factories.user(Role.OVERSIGHT, agency_id=world.agency.id, totp_secret=None)
    db.session.commit()
    r = signed_in(app, bare).get("/api/oversight/requests")
    assert r.status_code == 403 and r.json["error"]["code"] == "second_factor_setup_required"


def test_oversight_reads_requests_with_purpose_approvals_counts_holds_and_retention(app, world, as_oversight,
                                                                                    overseer):
    camera = factories.camera(world.owner, shared_with=[world.agency], label="Owner's porch cam",
                              address="12 Hidden Lane")
    request = factories.footage_request(world.agency, world.supervisor, exceeded_limits=["radius"],
                                        justification="Wider area: the suspect fled on foot", radius_m=900,
                                        reviewed_by_id=world.supervisor.id, reviewed_at=utcnow(),
                                        review_reason="Policy allows it", self_approved=True)
    delivered = factories.ask(request, camera, state=AskState.DELIVERED)
    other_camera = factories.camera(world.owner, label="Owner's garage cam")
    purged = factories.ask(request, other_camera, state=AskState.DELIVERED)
    now = utcnow()
    _clip(request, delivered, ClipStatus.COMPLETE, retain_until=now + timedelta(days=30))
    _clip(request, purged, ClipStatus.PURGED, retain_until=now - timedelta(days=2), purged_at=now - timedelta(days=1))
    db.session.add(EvidenceHold(request_id=request.id, reason="Court date pending", placed_by_id=world.supervisor.id))
    elsewhere = factories.footage_request(world.other_agency, world.other_officer)
    db.session.commit()

    listed = as_oversight.get("/api/oversight/requests")
    assert listed.status_code == 200, listed.json
    [item] = listed.json
    assert item["id"] == request.id and item["justification"].startswith("Wider area")
    assert item["officer"] == {"id": world.supervisor.id, "name": world.supervisor.display_name or
                               world.supervisor.email}
    assert item["reviewed_by"]["id"] == world.supervisor.id and item["self_approved"] is True
    assert (item["asks_total"], item["counts"]["delivered"], item["clips_delivered"], item["held"]) == (2, 2, 2, True)
    assert "legal_basis" in item and "offense_category" in item
    detail = as_oversight.get(f"/api/oversight/requests/{request.id}")
    assert detail.status_code == 200, detail.json
    assert [h["reason"] for h in detail.json["holds"]] == ["Court date pending"]
    retention = detail.json["retention"]
    assert (retention["clips_kept"], retention["clips_purged"], len(retention["purges"])) == (1, 1, 1)
    # Never the owner, the cameras or the footage.
    for answer in (listed, detail):
        text = answer.get_data(as_text=True)
        for secret in (world.owner.email, "porch cam", "garage cam", "Hidden Lane", "owner-porch-secret", "ab" * 32):
            assert secret not in text
    assert as_oversight.get(f"/api/oversight/requests/{elsewhere.id}").status_code == 404
    # One audit event per view, naming what was read.
    views = events("oversight.viewed")
    assert [(e.actor_id, e.agency_id, e.details["view"]) for e in views] == [
        (overseer.id, world.agency.id, "requests"), (overseer.id, world.agency.id, "request")]
    assert views[1].details["request_id"] == request.id


CLOSED = [("GET", "/api/requests"), ("POST", "/api/requests/preview"), ("GET", "/api/requests/1/clips"),
          ("GET", "/api/clips/1/content"), ("GET", "/api/clips/1/poster"), ("GET", "/api/agency/policy"),
          ("GET", "/api/agency/cameras/nearby"), ("POST", "/api/requests/1/holds"), ("GET", "/api/agency/staff"),
          ("POST", "/api/staff/invitations"), ("GET", "/api/enrollment/codes"), ("GET", "/api/cameras")]


@pytest.mark.one_database
def test_police_and_owner_routes_stay_closed_to_oversight(world, as_oversight):
    # A sample: the authorization walk calls every route as oversight.
    for method, path in CLOSED:
        r = as_oversight.open(path, method=method, json={} if method == "POST" else None)
        assert r.status_code == 403 and r.json["error"]["code"] == "forbidden", (path, r.json)


def test_the_complaint_log(app, world, as_supervisor, as_oversight, as_officer, overseer):
    request = factories.footage_request(world.agency, world.officer)
    elsewhere = factories.footage_request(world.other_agency, world.other_officer)
    db.session.commit()
    today = datetime.now(ZoneInfo(world.agency.timezone)).date()  # the agency's today, as the rules read it
    body = {"request_id": request.id, "received_on": (today - timedelta(days=3)).isoformat(),
            "summary": "Resident says the request was too wide.", "source": "resident"}
    r = as_supervisor.post("/api/oversight/complaints", json=body)
    assert r.status_code == 201, r.json
    assert (r.json["outcome"], r.json["case_number"], r.json["outcome_on"]) == ("open", request.case_number, None)
    first = r.json["id"]
    decided = {**body, "source": "owner", "outcome": "unfounded", "outcome_on": today.isoformat(),
               "outcome_note": "Within policy."}
    assert as_oversight.post("/api/oversight/complaints", json=decided).status_code == 201
    for bad, field in (({"outcome": "sustained"}, "outcome_on"), ({"request_id": elsewhere.id}, "request_id"),
                       ({"received_on": (today + timedelta(days=2)).isoformat()}, "received_on"),
                       ({"source": "press"}, "source"), ({"summary": "  "}, "summary")):
        r = as_oversight.post("/api/oversight/complaints", json={**body, **bad})
        assert r.status_code == 422 and field in r.json["error"]["fields"], (bad, r.json)
    assert as_officer.post("/api/oversight/complaints", json=body).status_code == 403

    r = as_oversight.patch(f"/api/oversight/complaints/{first}",
                           json={"outcome": "sustained", "outcome_on": today.isoformat(), "outcome_note": "Agreed."})
    assert r.status_code == 200 and (r.json["outcome"], r.json["outcome_note"]) == ("sustained", "Agreed."), r.json
    r = as_oversight.patch(f"/api/oversight/complaints/{first}",
                           json={"outcome_on": (today - timedelta(days=9)).isoformat()})
    assert r.status_code == 422 and "outcome_on" in r.json["error"]["fields"]
    other = factories.user(Role.SUPERVISOR, agency_id=world.other_agency.id)
    db.session.commit()
    assert signed_in(app, other).patch(f"/api/oversight/complaints/{first}", json={}).status_code == 404

    listed = as_oversight.get("/api/oversight/complaints", query_string={"request_id": request.id})
    assert [c["outcome"] for c in listed.json] == ["unfounded", "sustained"]  # the same day: newest first
    assert as_supervisor.get("/api/oversight/complaints?outcome=open").json == []
    assert [e.details["view"] for e in events("oversight.viewed")] == ["complaints"]  # supervisors' reads are not
    recorded, updated = events("complaint.recorded"), events("complaint.updated")
    assert [e.actor_id for e in recorded] == [world.supervisor.id, overseer.id]
    assert updated[0].details["changed"]["outcome"] == ["open", "sustained"]
    counts = complaint_counts(world.agency.id, (today - timedelta(days=3)).year)
    assert counts["total"] == 2 and counts["sustained"] == 1 and counts["unfounded"] == 1 and counts["open"] == 0
    assert complaint_counts(world.other_agency.id, today.year)["total"] == 0


def test_oversight_reads_the_audit_log_and_its_verification_each_read_audited(world, as_oversight, as_officer,
                                                                               as_owner, as_supervisor, overseer):
    request = factories.footage_request(world.agency, world.officer)
    ask = factories.ask(request, factories.camera(world.owner, shared_with=[world.agency]), state=AskState.NOTIFIED)
    db.session.commit()
    assert as_owner.post(f"/api/asks/{ask.id}/decline", json={"reason": "no"}).status_code == 200
    # Supervisors see the owner by account number; oversight not even that (it would tie one
    # owner's answers together), and a filter on the owner's number finds nothing of theirs.
    [seen] = as_supervisor.get("/api/agency/audit", query_string={"action": "ask.declined"}).json["events"]
    assert seen["actor_id"] == world.owner.id
    page = as_oversight.get("/api/agency/audit", query_string={"action": "ask.declined"})
    [blind] = page.json["events"]
    assert (blind["actor_id"], blind["actor_role"], blind["hash"]) == (None, "owner", seen["hash"])
    assert as_oversight.get("/api/agency/audit", query_string={"actor_id": world.owner.id}).json["events"] == []
    row = next(line for line in as_oversight.get("/api/agency/audit.csv").get_data(as_text=True).splitlines()
               if "ask.declined" in line)
    assert row.split(",")[3:5] == ["", "owner"]
    page = as_oversight.get("/api/agency/audit", query_string={"action": "auth.*"})
    assert page.status_code == 200 and page.json["events"], page.json
    assert as_oversight.get("/api/agency/audit/verification").json["ok"] is True
    csv = as_oversight.get("/api/agency/audit.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    views = [e for e in events("oversight.viewed") if e.details.get("action") != "ask.declined"]
    assert [(e.details["view"], e.actor_id) for e in views] == [
        ("audit_log", overseer.id), ("audit_log", overseer.id), ("audit_verification", overseer.id)]
    assert views[-2].details["action"] == "auth.*" and views[0].details["actor_id"] == world.owner.id
    assert [e.actor_id for e in events("audit.exported")] == [overseer.id, overseer.id]
    assert as_officer.get("/api/agency/audit").status_code == 403
    assert as_oversight.get("/api/oversight/requests", query_string={"status": RequestStatus.EXPIRED.value}).json == []
