"""Owners' control over their data (export, leaving an agency, deleting the account) and the
supervisors' audit viewer, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from app.accounts.models import Role, User
from app.agencies.models import Membership
from app.audit.models import AuditEvent
from app.audit.service import record, verify_chain
from app.cameras.models import Camera, camera_shares
from app.clips.models import Clip, ClipStatus
from app.db import utcnow
from app.enrollment.models import EnrollmentUse
from app.extensions import db
from app.footage.models import Ask, AskState
from app.notifications.models import PhoneVerification, PushSubscription, SmsDirection, SmsMessage
from app.storage import get_storage
from tests import factories
from tests.conftest import signed_in
from tests.upload_support import ask as make_ask
from tests.upload_support import create, footage_request, mp4_bytes, patch, upload

EMAIL = "jane.privacy@example.com"
PHONE = "+14145550123"
NAME = "Jane Privacyperson"
ADDRESS = "1234 Quietwater Lane"


@pytest.fixture(autouse=True)
def clip_root(app, tmp_path):
    app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "clips")
    return tmp_path / "clips"


class Owned:
    """Everything one owner has: two agencies, a camera, asks in every kind of state, a clip."""

    def __init__(self, app, world):
        self.user = factories.user(Role.OWNER, email=EMAIL, phone=PHONE, display_name=NAME, phone_verified=True)
        factories.membership(self.user, world.agency, world.district)
        factories.membership(self.user, world.other_agency)
        self.camera = factories.camera(self.user, shared_with=[world.agency, world.other_agency],
                                       label=f"{NAME} porch", address=ADDRESS,
                                       blackout_windows=[{"day": 0, "start": "22:00", "end": "06:00"}])
        code = factories.enrollment_code(world.agency)
        db.session.add(EnrollmentUse(code_id=code.id, owner_id=self.user.id, source_ip="198.51.100.7"))
        db.session.add(PushSubscription(user_id=self.user.id, endpoint="https://push.example.net/send/jane-1",
                                        p256dh="BPk" + "a" * 80, auth="secret-auth-0123"))
        db.session.add(PhoneVerification(user_id=self.user.id, phone=PHONE, code_hash="hash-never-exported",
                                         expires_at=utcnow() + timedelta(minutes=10), verified_at=utcnow()))
        db.session.add(SmsMessage(user_id=self.user.id, direction=SmsDirection.OUTBOUND, to_number=PHONE,
                                  from_number="+15550001111", body=f"Hi {NAME}, Riverside PD asks for footage",
                                  status="outbox"))
        db.session.add(SmsMessage(user_id=None, direction=SmsDirection.INBOUND, to_number="+15550001111",
                                  from_number=PHONE, body="YES 4821", status="received"))
        # Asks: delivered (agency A), open (A and B), uploading with a half-sent clip (A).
        self.delivered = make_ask(footage_request(world.agency, world.officer), self.user, label=f"{NAME} porch")
        self.open_a = make_ask(footage_request(world.agency, world.officer), self.user, state=AskState.NOTIFIED)
        self.open_b = make_ask(footage_request(world.other_agency, world.other_officer), self.user,
                               state=AskState.SEEN)
        self.uploading = make_ask(footage_request(world.agency, world.officer), self.user)
        self.declined = make_ask(footage_request(world.agency, world.officer), self.user, state=AskState.DECLINED)
        self.declined.decline_reason = f"{NAME} is away"
        db.session.commit()
        client = signed_in(app, self.user)
        self.data = mp4_bytes(6000, seed=3)
        location = upload(client, self.delivered.id, self.data)
        self.clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))
        partial = create(client, self.uploading.id, 6000, filename=f"{NAME} backyard.mp4").headers["Location"]
        assert patch(client, partial, mp4_bytes(6000, seed=4)[:2000], 0).status_code == 204
        self.partial = db.session.scalar(sa.select(Clip).where(Clip.upload_id == partial.rsplit("/", 1)[1]))
        officer = signed_in(app, world.officer)
        assert officer.get(f"/api/clips/{self.clip.id}/content").status_code == 200
        self.client = client
        db.session.expire_all()


@pytest.fixture
def owned(app, world):
    # The world's other owner has data too, which must never show in this owner's export.
    other_camera = factories.camera(world.owner, shared_with=[world.agency], label="Someone else's garage")
    factories.ask(factories.footage_request(world.agency, world.officer), other_camera)
    db.session.commit()
    return Owned(app, world)


def _error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    if code:
        assert response.json["error"]["code"] == code, response.json
    return response.json


# --- export -------------------------------------------------------------------------------------

CATEGORIES = ["account", "memberships", "cameras", "enrollment_uses", "asks", "clips", "clip_accesses",
              "notifications", "push_subscriptions", "sms_messages", "phone_verifications", "sessions",
              "audit_events"]


def test_export_holds_every_category_and_nothing_of_anyone_else(app, world, owned):
    r = owned.client.get("/api/me/export")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["Content-Disposition"].endswith('.json"')
    doc = json.loads(r.get_data(as_text=True))
    for name in CATEGORIES:
        assert name in doc, name
    assert doc["account"]["email"] == EMAIL and doc["account"]["phone"] == PHONE
    assert "password_hash" not in json.dumps(doc["account"])
    assert {m["agency_id"] for m in doc["memberships"]} == {world.agency.id, world.other_agency.id}
    [camera] = doc["cameras"]
    assert camera["address"] == ADDRESS and camera["blackout_windows"][0]["start"] == "22:00"
    assert {a["agency_id"] for a in camera["shared_with"]} == {world.agency.id, world.other_agency.id}
    assert len(doc["enrollment_uses"]) == 1
    assert {a["id"] for a in doc["asks"]} == {owned.delivered.id, owned.open_a.id, owned.open_b.id,
                                             owned.uploading.id, owned.declined.id}
    assert any(a["decline_reason"] == f"{NAME} is away" for a in doc["asks"])
    delivered = next(c for c in doc["clips"] if c["id"] == owned.clip.id)
    assert delivered["sha256"] == owned.clip.sha256 and delivered["status"] == "complete"
    assert "storage_key" not in delivered
    [access] = doc["clip_accesses"]
    assert access["clip_id"] == owned.clip.id and access["accessor_role"] == "officer"
    [sub] = doc["push_subscriptions"]
    assert sub["endpoint"].endswith("jane-1") and "auth" not in sub and "p256dh" not in sub
    assert {m["direction"] for m in doc["sms_messages"]} == {"outbound", "inbound"}
    [verification] = doc["phone_verifications"]
    assert verification["phone"] == PHONE and "code_hash" not in verification
    assert doc["sessions"] and all(s["ended_at"] is None and "key_hash" not in s for s in doc["sessions"])
    assert "hash-never-exported" not in r.get_data(as_text=True)
    actions = {e["action"] for e in doc["audit_events"]}
    assert {"auth.signin", "clip.upload_completed", "clip.viewed", "clip.upload_started"} <= actions
    assert all(e["actor_id"] in (owned.user.id, None) for e in doc["audit_events"])
    viewed = next(e for e in doc["audit_events"] if e["action"] == "clip.viewed")
    assert viewed["actor_role"] == "officer" and viewed["actor_id"] is None and viewed["source_ip"] is None
    # Nobody else's data: the other owner's e-mail, camera and asks are absent.
    text = r.get_data(as_text=True)
    assert world.owner.email not in text and "Someone else's garage" not in text
    # The export itself is audited, with counts only.
    db.session.expire_all()
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.exported"))
    assert event.actor_id == owned.user.id and EMAIL not in json.dumps(event.details)


@pytest.mark.one_database
def test_export_is_for_owners(app, world, as_officer, as_supervisor):
    assert _error(as_officer.get("/api/me/export"), 403)
    assert _error(app.test_client().get("/api/me/export"), 401)


# --- deleting the account ------------------------------------------------------------------------

def _rows_mentioning(*needles: str) -> list[str]:
    """Every table row holding any needle in any column, as "table: row"."""
    found = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(v) for v in row)
                if any(n.lower() in text.lower() for n in needles):
                    found.append(f"{table.name}: {text[:200]}")
    return found


def test_wrong_password_or_no_confirmation_deletes_nothing(app, world, owned):
    _error(owned.client.delete("/api/me", json={"password": "not-my-password", "confirm": "DELETE"}), 403)
    _error(owned.client.delete("/api/me", json={"password": factories.PASSWORD, "confirm": "delete it"}), 422)
    _error(owned.client.delete("/api/me", json={"confirm": "DELETE"}), 422)
    db.session.expire_all()
    assert db.session.get(User, owned.user.id) is not None
    assert owned.client.get("/api/auth/me").status_code == 200
    failed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.delete_failed"))
    assert failed is not None and failed.actor_id == owned.user.id


@pytest.mark.one_database
def test_staff_cannot_delete_themselves_here(app, world, as_officer):
    _error(as_officer.delete("/api/me", json={"password": factories.PASSWORD, "confirm": "DELETE"}), 403)
    db.session.expire_all()
    officer = db.session.get(User, world.officer.id)
    assert officer is not None and officer.active and officer.email == world.officer.email
    assert officer.agency_id == world.agency.id
    assert as_officer.get("/api/auth/me").json["id"] == world.officer.id  # still signed in
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.deleted")) is None


def test_deletion_removes_personal_data_and_keeps_delivered_clips_deidentified(app, world, owned):
    user_id, clip_id = owned.user.id, owned.clip.id
    partial_key = owned.partial.storage_key
    r = owned.client.delete("/api/me", json={"password": factories.PASSWORD, "confirm": "DELETE"})
    assert r.status_code == 204, r.json
    db.session.expire_all()

    # Personal data is gone from every table, the audit log included.
    assert _rows_mentioning(EMAIL, PHONE, NAME, ADDRESS, "jane-1") == []
    assert db.session.get(User, user_id) is None
    for model, column in ((Membership, Membership.owner_id), (Camera, Camera.owner_id),
                          (EnrollmentUse, EnrollmentUse.owner_id), (PushSubscription, PushSubscription.user_id),
                          (PhoneVerification, PhoneVerification.user_id)):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model).where(column == user_id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(camera_shares)) == 1  # the other owner's

    # Open asks are cancelled; the unfinished upload is discarded with its bytes.
    for ask in (owned.open_a, owned.open_b, owned.uploading):
        assert db.session.get(Ask, ask.id).state == AskState.CANCELLED
    assert db.session.get(Clip, owned.partial.id).status == ClipStatus.ABORTED
    assert not get_storage().exists(partial_key)

    # The delivered clip stays reviewable by the agency, linked to no one.
    clip = db.session.get(Clip, clip_id)
    assert clip.status == ClipStatus.COMPLETE and clip.owner_id is None and clip.filename is None
    delivered = db.session.get(Ask, owned.delivered.id)
    assert delivered.owner_id is None and delivered.camera_id is None and NAME not in delivered.camera_label
    assert db.session.get(Ask, owned.declined.id).decline_reason is None
    officer = signed_in(app, world.officer)
    listed = officer.get(f"/api/requests/{owned.delivered.request_id}/clips")
    assert listed.status_code == 200 and [c["id"] for c in listed.json] == [clip_id]
    content = officer.get(f"/api/clips/{clip_id}/content")
    assert content.status_code == 200 and content.data == owned.data

    # The session ended and the account cannot sign in again.
    assert owned.client.get("/api/auth/me").status_code == 401
    assert app.test_client().post("/api/auth/signin", json={"login": EMAIL, "password": factories.PASSWORD}
                                  ).status_code == 401

    # The chain verifies, and the deletion event holds counts only.
    assert verify_chain().ok
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.deleted"))
    assert event.target_id == str(user_id)
    assert all(isinstance(v, int) for v in event.details.values())


# --- leaving one agency --------------------------------------------------------------------------

def test_leaving_one_agency_keeps_the_other(app, world, owned):
    r = owned.client.post(f"/api/me/agencies/{world.agency.id}/leave")
    assert r.status_code == 200, r.json
    assert r.json == {"agency_id": world.agency.id, "cameras_unshared": 1, "asks_cancelled": 2}
    db.session.expire_all()
    agencies = set(db.session.scalars(sa.select(Membership.agency_id).where(Membership.owner_id == owned.user.id)))
    assert agencies == {world.other_agency.id}
    camera = db.session.get(Camera, owned.camera.id)
    assert [a.id for a in camera.shared_with] == [world.other_agency.id] and camera.district_id is None
    assert db.session.get(Ask, owned.open_a.id).state == AskState.CANCELLED
    assert db.session.get(Ask, owned.uploading.id).state == AskState.CANCELLED
    assert db.session.get(Clip, owned.partial.id).status == ClipStatus.ABORTED
    assert db.session.get(Ask, owned.open_b.id).state == AskState.SEEN  # the other agency's ask is untouched
    assert db.session.get(Ask, owned.delivered.id).state == AskState.DELIVERED
    # History stays: every ask is still listed for the owner.
    listed = owned.client.get("/api/asks?limit=500").json
    assert {a["id"] for a in listed} >= {owned.open_a.id, owned.delivered.id, owned.declined.id}
    me = owned.client.get("/api/auth/me").json
    assert [m["agency_id"] for m in me["memberships"]] == [world.other_agency.id]
    cancelled = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ask.cancelled")).all()
    assert {e.target_id for e in cancelled} == {str(owned.open_a.id), str(owned.uploading.id)}
    left = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "membership.left"))
    assert left.agency_id == world.agency.id
    # Leaving again, or an agency never joined: 404.
    _error(owned.client.post(f"/api/me/agencies/{world.agency.id}/leave"), 404, "not_found")
    assert verify_chain().ok


@pytest.mark.one_database
def test_leave_is_for_owners(app, world, as_officer):
    _error(as_officer.post(f"/api/me/agencies/{world.agency.id}/leave"), 403)
    db.session.expire_all()
    assert db.session.get(User, world.officer.id).agency_id == world.agency.id  # still the agency's officer
    assert as_officer.get("/api/requests").status_code == 200
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "membership.left")) is None


# --- the supervisors' audit viewer ---------------------------------------------------------------

@pytest.fixture
def logged(app, world):
    """Events of both agencies, including a hold and a cell a spreadsheet would run."""
    for n in range(7):
        record("request.created", target_type="footage_request", target_id=100 + n, agency_id=world.agency.id,
               actor=world.officer, details={"n": n})
    record("hold.placed", target_type="evidence_hold", target_id=5, agency_id=world.agency.id,
           actor=world.supervisor, details={"request_id": 100, "reason": "Court order 17"})
    record("request.created", target_type="footage_request", target_id="=HYPERLINK(\"http://evil\")",
           agency_id=world.agency.id, actor=world.officer, details={"summary": "+1 cmd"})
    record("request.created", target_type="footage_request", target_id=999, agency_id=world.other_agency.id,
           actor=world.other_officer, details={"secret": "other agency case Z-42"})
    db.session.commit()


def test_viewer_filters_pages_and_scopes_to_the_agency(app, world, logged, as_supervisor):
    r = as_supervisor.get("/api/agency/audit?limit=4")
    assert r.status_code == 200
    page1 = r.json
    assert len(page1["events"]) == 4 and page1["next_cursor"] == page1["events"][-1]["id"]
    ids = [e["id"] for e in page1["events"]]
    assert ids == sorted(ids, reverse=True)
    assert {e["chain"] for e in page1["events"]} == {f"agency:{world.agency.id}"}
    everything, cursor = list(page1["events"]), page1["next_cursor"]
    while cursor:
        page = as_supervisor.get(f"/api/agency/audit?limit=4&cursor={cursor}").json
        everything += page["events"]
        cursor = page["next_cursor"]
    assert len({e["id"] for e in everything}) == len(everything)
    assert "other agency case Z-42" not in json.dumps(everything)
    assert all(e["target_id"] != "999" for e in everything)
    holds = as_supervisor.get("/api/agency/audit?action=hold.placed").json["events"]
    assert [h["details"]["reason"] for h in holds] == ["Court order 17"]
    family = as_supervisor.get("/api/agency/audit?action=request.*&limit=500").json["events"]
    assert len(family) == 8
    by_target = as_supervisor.get("/api/agency/audit?target_type=footage_request&target_id=103").json["events"]
    assert [e["details"] for e in by_target] == [{"n": 3}]
    by_actor = as_supervisor.get(f"/api/agency/audit?actor_id={world.supervisor.id}&action=hold.placed").json
    assert len(by_actor["events"]) == 1
    future = (utcnow() + timedelta(days=1)).isoformat()
    assert as_supervisor.get(f"/api/agency/audit?from={future.replace('+', '%2B')}").json["events"] == []
    past = (utcnow() - timedelta(days=1)).isoformat()
    assert as_supervisor.get(f"/api/agency/audit?to={past.replace('+', '%2B')}").json["events"] == []
    _error(as_supervisor.get("/api/agency/audit?limit=0"), 422)
    _error(as_supervisor.get("/api/agency/audit?from=yesterday"), 422)


@pytest.mark.one_database
def test_viewer_is_for_supervisors(app, world, logged, as_owner, as_officer, as_manager):
    for client in (as_owner, as_officer, as_manager):
        for path in ("/api/agency/audit", "/api/agency/audit.csv", "/api/agency/audit/verification"):
            _error(client.get(path), 403)
    _error(app.test_client().get("/api/agency/audit"), 401)


def test_csv_export_is_injection_safe_and_scoped(app, world, logged, as_supervisor):
    r = as_supervisor.get("/api/agency/audit.csv?action=request.*")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["seq", "occurred_at", "action"]
    assert len(body) == 8
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert any(cell == "'=HYPERLINK(\"http://evil\")" for row in body for cell in row)
    assert "Z-42" not in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.exported")) is not None


def test_csv_export_streams_after_the_request_session_has_ended(app, world, logged):
    # Under a real server nothing outlives the request but the streamed body; a request
    # made from another thread holds none of the test's contexts either.
    cookie = signed_in(app, world.supervisor).get_cookie("porchlight_session").value
    answer = {}

    def export():
        client = Client(app)
        client.set_cookie("porchlight_session", cookie, domain="localhost")
        response = client.get("/api/agency/audit.csv")
        answer.update(status=response.status_code, text=response.get_data(as_text=True))

    thread = threading.Thread(target=export)
    thread.start()
    thread.join()
    assert answer["status"] == 200
    rows = list(csv.reader(io.StringIO(answer["text"].lstrip("\ufeff"))))
    assert rows[0][:3] == ["seq", "occurred_at", "action"] and len(rows) > 9


def test_verification_reports_ok_then_the_first_break(app, world, logged, as_supervisor):
    status = as_supervisor.get("/api/agency/audit/verification").json
    assert status["ok"] is True and status["problem"] is None and status["events_checked"] >= 10
    ours = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "hold.placed"))
    db.session.execute(sa.text("UPDATE audit_events SET details = :d WHERE id = :id"),
                       {"d": '{"reason": "Forged"}', "id": ours.id})
    db.session.commit()
    status = as_supervisor.get("/api/agency/audit/verification").json
    assert status["ok"] is False
    assert status["problem"]["kind"] == "changed" and status["problem"]["seq"] == ours.seq
    assert status["problem"]["in_your_agency"] is True and status["problem"]["event_id"] == ours.id


def test_verification_is_of_the_agencys_own_chain(app, world, logged, as_supervisor):
    # Another agency's chain is its own: a break there is neither ours nor shown to us
    # (tests/test_audit.py: a break in the shared history chain shows by position only).
    theirs = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.target_id == "999"))
    db.session.execute(sa.text("UPDATE audit_events SET details = :d WHERE id = :id"),
                       {"d": '{"secret": "rewritten"}', "id": theirs.id})
    db.session.commit()
    status = as_supervisor.get("/api/agency/audit/verification").json
    assert status["ok"] is True and status["problem"] is None
    assert [c["chain"] for c in status["chains"]] == [f"agency:{world.agency.id}", "history"]
    assert "Z-42" not in json.dumps(status) and "rewritten" not in json.dumps(status)


# --- the owner's full history --------------------------------------------------------------------

def test_ask_history_pages_past_the_list_limit(app, world, as_owner):
    camera = factories.camera(world.owner, shared_with=[world.agency])
    made = [factories.ask(factories.footage_request(world.agency, world.officer), camera,
                          state=AskState.EXPIRED).id for _ in range(5)]
    db.session.commit()
    seen, before = [], None
    while True:
        r = as_owner.get("/api/asks?limit=2" + (f"&before_id={before}" if before else ""))
        assert r.status_code == 200
        seen += [a["id"] for a in r.json]
        if len(r.json) < 2:
            break
        before = r.json[-1]["id"]
    assert seen == sorted(made, reverse=True)
    _error(as_owner.get("/api/asks?before_id=0"), 422)
