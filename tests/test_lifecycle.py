"""The footage-request lifecycle end to end through the HTTP API, on SQLite and PostgreSQL.

An agency on the default policy; three owners who signed up with its enrollment code
and enrolled their cameras through the API: one reached by Web Push, one by SMS only
(a verified phone, no push subscription), one who never answers. An officer previews
and sends a request; the notification jobs run (``flask jobs deliver``, as an operator
or the worker would); the local push service decrypts the push and the SMS lands in
the outbox (no Twilio account) or, in the second variant, at the local Twilio API
through the real twilio Client. One owner approves in the app, the other answers
``YES <code>`` through the signed inbound webhook and uploads through the signed link
of the reply, with no session. Clips go up with tuspy, the first one interrupted and
resumed by a new uploader from the stored URL. The officer sees counts (never who),
plays with HTTP Range and downloads, and the SHA-256 matches the bytes and what each
owner sees; the owners see every access. The request then ends (cancelled by the
officer, or expired by the scheduler's tick) and the audit chain verifies.

Inbound webhooks are signed with the account's auth token, so both variants configure
TWILIO_AUTH_TOKEN; the outbox variant has no account SID, which keeps SMS in the outbox.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.jobs import tick
from app.notifications import sms, webpush
from tests.conftest import signed_in
from tests.peers.push_service import LocalPushService
from tests.peers.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, LocalTwilio, signed_post
from tests.upload_support import KeptOpenBytes, live_server, mp4_bytes, session_cookie

BASE = "http://porchlight.test"  # TestingConfig's PUBLIC_BASE_URL: Twilio signs the public URL
AGENCY = "Riverside Police Department"
LAT, LON = 43.0389, -87.9065  # 0.001 degrees: about 111 m of latitude, 81 m of longitude here
PASSWORD = "porch-light-lifecycle-42"
CHUNK = 64 * 1024
OUTBOX_LINE = re.compile(r"^\[[^\]]+\] to (\+\d+): (.*)$", re.M)


# --- where an owner's texts land ---------------------------------------------------------------

class Outbox:
    """No Twilio account: texts are kept in the outbox, read as an operator would (`flask sms outbox`)."""

    mode = "outbox"

    def __init__(self, runner) -> None:
        self.runner = runner

    def texts_to(self, number: str) -> list[str]:
        db.session.commit()
        result = self.runner.invoke(args=["sms", "outbox", "--limit", "100"])
        assert result.exit_code == 0, result.output
        return [m.group(2) for m in OUTBOX_LINE.finditer(result.output) if m.group(1) == number]


class TwilioAccount:
    """A Twilio account: the real twilio Client sends to the local Twilio API."""

    mode = "twilio"

    def __init__(self, server: LocalTwilio) -> None:
        self.server = server

    def texts_to(self, number: str) -> list[str]:
        return [m.body for m in self.server.to(number)]


@dataclass
class Variant:
    phones: Outbox | TwilioAccount
    ending: str  # "cancel" or "expiry"


@pytest.fixture(params=[("outbox", "cancel"), ("twilio", "expiry")], ids=["outbox-then-cancel", "twilio-then-expiry"])
def variant(request, app, runner):
    sms_mode, ending = request.param
    app.config["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    if sms_mode == "outbox":
        yield Variant(Outbox(runner), ending)
        return
    with LocalTwilio() as server:
        app.config.update(server.config())
        try:
            yield Variant(TwilioAccount(server), ending)
        finally:
            sms.close(app)
    assert not server.errors, server.errors


@pytest.fixture
def push(app):
    with LocalPushService(webpush.public_key(app)) as service:
        yield service.allow_in(app)
    assert not service.errors, f"the push service refused messages: {service.errors}"


# --- helpers -------------------------------------------------------------------------------------

def sign_up(app, code: str, **who) -> tuple[Any, dict]:
    client = app.test_client()
    r = client.post("/api/auth/signup", json={"password": PASSWORD, "enrollment_code": code, **who})
    assert r.status_code == 201, r.json
    assert [m["agency_name"] for m in r.json["memberships"]] == [AGENCY]
    return client, r.json


def add_camera(client, label: str, lat: float, lon: float) -> dict:
    r = client.post("/api/cameras", json={"label": label, "latitude": lat, "longitude": lon,
                                           "retention_days": 14, "public_attestation": True})
    assert r.status_code == 201, r.json
    assert r.json["status"] == "active" and len(r.json["shared_agency_ids"]) == 1  # shared with the agency joined
    return r.json


def when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def twiml_reply(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("application/xml")
    return "".join(m.text or "" for m in ElementTree.fromstring(response.get_data()).iter("Message"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def repr_digest(data: bytes) -> str:
    """RFC 9530's Repr-Digest of the whole clip."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


class OfficerView:
    """The officer's client; keeps every response so the test can check what officers ever learned."""

    def __init__(self, client) -> None:
        self.client = client
        self.seen: list[str] = []
        self.json_keys: set[str] = set()

    def __getattr__(self, method):
        call = getattr(self.client, method)

        def send(*args, **kwargs):
            response = call(*args, **kwargs)
            self.seen.append(json.dumps(dict(response.headers)))
            if response.is_json:
                self.seen.append(response.get_data(as_text=True))
                self.json_keys |= keys_of(response.json)
            return response

        return send


def ask_events(ask_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.target_type == "ask",
                                                                 AuditEvent.target_id == str(ask_id))
                                   .order_by(AuditEvent.seq)))


# --- the lifecycle -----------------------------------------------------------------------------------

def test_request_reaches_push_and_sms_owners_who_answer_upload_and_the_officer_reviews(
        app, world, runner, push, variant, tmp_path):
    phones = variant.phones
    supervisor = signed_in(app, world.supervisor)
    officer = OfficerView(signed_in(app, world.officer))

    # The agency runs on the default policy.
    policy = officer.get("/api/agency/policy").json
    assert (policy["max_radius_m"], policy["max_window_minutes"], policy["request_lifetime_hours"]) == (500, 120, 72)
    assert policy["updated_at"] is None
    code = supervisor.post("/api/enrollment/codes", json={"label": "Block party", "kind": "campaign",
                                                           "max_uses": 10})
    assert code.status_code == 201, code.json
    code = code.json["code"]

    # Owner A: e-mail, push on her phone; a second camera far away that no request near home reaches.
    a, a_me = sign_up(app, code, email="ana.lopez@example.org", display_name="Ana Lopez")
    a_camera = add_camera(a, "Ana's porch", LAT, LON)
    add_camera(a, "Ana's cabin", LAT + 0.05, LON)
    a_device = push.new_subscriber()
    assert a.post("/api/push/subscriptions", json=a_device.subscription()).status_code == 201

    # Owner B: a phone number only, verified by a texted code; no push subscription.
    b, b_me = sign_up(app, code, phone="(414) 555-0177", display_name="Bo Nguyen")
    b_phone = "+14145550177"
    assert b_me["phone"] == b_phone and b_me["phone_verified"] is False
    # Sign-up texted the code that proves the number.
    (verification_text,) = phones.texts_to(b_phone)
    verification = re.search(r"\b(\d{6})\b", verification_text).group(1)
    verified = b.post("/api/auth/phone/verify", json={"code": verification})
    assert verified.json == {"phone": b_phone, "phone_verified": True}
    add_camera(b, "Bo's shop door", LAT + 0.001, LON)
    assert b.get("/api/push/subscriptions").json == []

    # Owner C: push, and never answers.
    c, _ = sign_up(app, code, email="cy.park@example.org", display_name="Cy Park")
    add_camera(c, "Cy's garage", LAT, LON - 0.001)
    c_device = push.new_subscriber()
    assert c.post("/api/push/subscriptions", json=c_device.subscription()).status_code == 201

    # --- the officer previews, then sends -------------------------------------------------------------
    window_start = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    window_end = window_start + timedelta(hours=1)
    draft = {"latitude": LAT, "longitude": LON, "radius_m": 300, "window_start": window_start.isoformat(),
             "window_end": window_end.isoformat(), "case_number": "2026-031415", "incident_type": "burglary",
             "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
             "summary": "Break-in at the corner store around 9 pm; looking for two people on foot."}
    preview = officer.post("/api/requests/preview", json=draft)
    assert preview.status_code == 200, preview.json
    assert preview.json == {"cameras": 3, "exceeded_limits": [], "needs_approval": False, "re_ask_cameras": 0}
    created = officer.post("/api/requests", json=draft)
    assert created.status_code == 201, created.json
    request = created.json
    assert request["status"] == "active" and request["exceeded_limits"] == []
    assert request["asks_total"] == 3 and request["counts"]["queued"] == 3
    assert when(request["expires_at"]) - when(request["activated_at"]) == timedelta(hours=72)
    request_id = request["id"]
    assert push.received == []  # recorded with the request, sent by the jobs

    # --- the notification jobs run --------------------------------------------------------------------
    db.session.commit()
    delivered = runner.invoke(args=["jobs", "deliver"])
    assert delivered.exit_code == 0, delivered.output
    assert "sent=3 " in delivered.output, delivered.output
    assert push.wait_for(2)

    (a_ask,) = a.get("/api/asks").json
    assert a_ask["camera_id"] == a_camera["id"] and a_ask["state"] == "notified"
    (message,) = push.messages_for(a_device)
    payload = message.payload
    assert payload["agency"] == AGENCY and payload["title"] == f"{AGENCY} asks for footage"
    assert payload["camera"] == "Ana's porch" and payload["case"] == "2026-031415"
    assert when(payload["window"]["start"]) == window_start and when(payload["window"]["end"]) == window_end
    assert payload["url"] == f"{BASE}/?ask={a_ask['id']}"
    assert payload["reply_code"] == a_ask["reply_code"] and payload["ask_id"] == a_ask["id"]
    assert message.urgency == "high" and 71 * 3600 < message.ttl <= 72 * 3600
    assert message.claims["aud"] == push.origin
    assert len(push.messages_for(c_device)) == 1
    assert push.messages_for(c_device)[0].payload["camera"] == "Cy's garage"

    (request_text,) = [t for t in phones.texts_to(b_phone) if t != verification_text]
    assert AGENCY in request_text and "2026-031415" in request_text and '"Bo\'s shop door"' in request_text
    reply_code = re.search(r"\bYES (\d{4})\b", request_text).group(1)
    assert f"NO {reply_code}" in request_text and f"NONE {reply_code}" in request_text
    ask_link = re.search(rf"{re.escape(BASE)}/\?ask=(\d+)", request_text)
    assert ask_link, request_text
    status = app.test_client().get("/api/sms/status").json
    if phones.mode == "twilio":
        (sent,) = [m for m in phones.server.to(b_phone) if m.body == request_text]
        assert sent.from_ == FROM_NUMBER and sent.status_callback.startswith(f"{BASE}/api/sms/status-callback")
        # Twilio reports the delivery back, signed.
        callback = signed_post(app.test_client(), sent.status_callback,
                               {"MessageSid": sent.sid, "MessageStatus": "delivered", "To": b_phone})
        assert callback.status_code == 204
        assert status["mode"] == "twilio" and status["sending"] is True
    else:
        assert status["mode"] == "outbox" and status["sending"] is False
    assert officer.get(f"/api/requests/{request_id}").json["counts"]["notified"] == 3

    # --- both owners answer ----------------------------------------------------------------------------
    assert a.get(f"/api/asks/{a_ask['id']}").json["state"] == "seen"
    approved = a.post(f"/api/asks/{a_ask['id']}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved" and approved.json["answered_via"] == "app"

    anonymous = app.test_client()
    reply = {"MessageSid": "SM" + "7" * 32, "AccountSid": ACCOUNT_SID, "From": b_phone, "To": FROM_NUMBER,
             "Body": f"YES {reply_code}", "NumMedia": "0"}
    assert anonymous.post("/api/sms/inbound", data=reply).status_code == 403  # not signed by Twilio
    answer = twiml_reply(signed_post(anonymous, f"{BASE}/api/sms/inbound", reply))
    assert answer.startswith(f"Thank you. Upload your clip for request {reply_code}")
    token = re.search(rf"{re.escape(BASE)}/u/(\S+)$", answer).group(1)
    b_ask_id = int(ask_link.group(1))
    assert [e.details.get("via") for e in ask_events(b_ask_id) if e.action == "ask.approved"] == ["sms"]
    counts = officer.get(f"/api/requests/{request_id}").json["counts"]
    assert (counts["approved"], counts["notified"], counts["seen"]) == (2, 1, 0)

    # --- uploads -------------------------------------------------------------------------------------
    a_clip, b_clip = mp4_bytes(300 * 1024 + 17, seed=31), mp4_bytes(200 * 1024 + 5, seed=32)
    a_name, b_name = "porch-2026-03-14.mp4", "VID_0042.mp4"
    urls = tmp_path / "tus-urls.json"
    db.session.commit()
    with live_server(app) as server:
        endpoint = f"{server}/api/uploads"
        a_meta = {"ask_id": str(a_ask["id"]), "filename": a_name}
        storage = FileStorage(str(urls))
        first = tus_client.TusClient(endpoint, headers=session_cookie(a)).uploader(
            file_stream=KeptOpenBytes(a_clip), chunk_size=CHUNK, metadata=a_meta,
            store_url=True, url_storage=storage, upload_checksum=True)
        first.upload(stop_at=2 * CHUNK)  # the phone loses its network here
        storage.close()
        assert first.offset == 2 * CHUNK
        (partial,) = a.get(f"/api/asks/{a_ask['id']}/clips").json
        assert (partial["status"], partial["received"], partial["sha256"]) == ("uploading", 2 * CHUNK, None)
        (arriving,) = officer.get(f"/api/requests/{request_id}/clips").json
        assert (arriving["status"], arriving["received"], arriving["content_url"]) == ("uploading", 2 * CHUNK, None)
        assert a.get(f"/api/asks/{a_ask['id']}").json["state"] == "uploading"

        # Later, a new uploader finds the upload's URL in the same storage and continues from the offset.
        storage = FileStorage(str(urls))
        resumed = tus_client.TusClient(endpoint, headers=session_cookie(a)).uploader(
            file_stream=KeptOpenBytes(a_clip), chunk_size=CHUNK, metadata=a_meta,
            store_url=True, url_storage=storage, upload_checksum=True)
        assert resumed.url == first.url and resumed.offset == 2 * CHUNK  # from HEAD
        resumed.upload()
        storage.close()
        assert resumed.offset == len(a_clip)

        # B opens the link from the reply on a phone with no session: the page says where and how to upload.
        page = anonymous.get(f"/api/upload-links/{token}")
        assert page.status_code == 200, page.json
        assert page.json["agency"]["name"] == AGENCY and page.json["ask"]["camera_label"] == "Bo's shop door"
        assert page.json["ask"]["id"] == b_ask_id and page.json["ask"]["state"] == "approved"
        assert page.json["limits"]["max_clip_bytes"] == 4 * 1024**3 and page.json["clips"] == []
        upload = page.json["upload"]
        assert upload["authorization"] == f"Bearer {token}"
        linked = tus_client.TusClient(f"{server}{upload['endpoint']}", headers={
            "Authorization": upload["authorization"]}).uploader(
            file_stream=KeptOpenBytes(b_clip), chunk_size=CHUNK, metadata={**upload["metadata"], "filename": b_name},
            upload_checksum=True)
        linked.upload()
        assert linked.offset == len(b_clip)

    # --- the officer reviews -----------------------------------------------------------------------------
    followed = officer.get(f"/api/requests/{request_id}").json
    assert followed["status"] == "active"
    assert {k: v for k, v in followed["counts"].items() if v} == {"delivered": 2, "notified": 1}
    assert [r["id"] for r in officer.get("/api/requests").json] == [request_id]
    clips = officer.get(f"/api/requests/{request_id}/clips")
    assert clips.status_code == 200
    by_hash = {clip["sha256"]: clip for clip in clips.json}
    assert set(by_hash) == {sha256(a_clip), sha256(b_clip)}
    for data in (a_clip, b_clip):
        clip = by_hash[sha256(data)]
        assert clip["status"] == "complete" and clip["size"] == clip["received"] == len(data)
        assert clip["container"] == "mp4" and clip["request_id"] == request_id
        # The player asks for a range first (a seek into the middle, across a chunk boundary).
        played = officer.get(clip["content_url"], headers={"Range": f"bytes=1000-{CHUNK + 999}"})
        assert played.status_code == 206
        assert played.data == data[1000:CHUNK + 1000]
        assert played.headers["Content-Range"] == f"bytes 1000-{CHUNK + 999}/{len(data)}"
        assert played.headers["Content-Type"] == "video/mp4" and played.headers["Accept-Ranges"] == "bytes"
        downloaded = officer.get(clip["download_url"])
        assert downloaded.status_code == 200 and downloaded.data == data
        assert sha256(downloaded.data) == clip["sha256"]
        assert downloaded.headers["Repr-Digest"] == repr_digest(data)
        assert downloaded.headers["Content-Disposition"] == (
            f'attachment; filename="porchlight-clip-{clip["id"]}.mp4"')
    a_clip_id, b_clip_id = by_hash[sha256(a_clip)]["id"], by_hash[sha256(b_clip)]["id"]

    # Each owner sees the same SHA-256, and every time the police opened the clip.
    (mine,) = a.get(f"/api/asks/{a_ask['id']}/clips").json
    assert (mine["id"], mine["sha256"], mine["filename"], mine["status"]) == (
        a_clip_id, sha256(a_clip), a_name, "complete")
    assert [(x["action"], x["accessor_role"], x["agency_name"]) for x in mine["accesses"]] == [
        ("view", "officer", AGENCY), ("download", "officer", AGENCY)]
    assert mine["accesses"][0]["byte_range"] == f"1000-{CHUNK + 999}"
    history = a.get("/api/me/clip-accesses").json
    assert [(x["action"], x["clip_id"], x["ask_id"], x["request_id"]) for x in history] == [
        ("download", a_clip_id, a_ask["id"], request_id), ("view", a_clip_id, a_ask["id"], request_id)]
    (theirs,) = anonymous.get(f"/api/upload-links/{token}").json["clips"]
    assert (theirs["id"], theirs["sha256"], theirs["filename"]) == (b_clip_id, sha256(b_clip), b_name)
    assert [x["action"] for x in theirs["accesses"]] == ["view", "download"]
    assert [(x["action"], x["clip_id"]) for x in b.get("/api/me/clip-accesses").json] == [
        ("download", b_clip_id), ("view", b_clip_id)]

    # --- the request ends ----------------------------------------------------------------------------
    if variant.ending == "cancel":
        ended = officer.post(f"/api/requests/{request_id}/cancel")
        assert ended.status_code == 200, ended.json
        final_state = "cancelled"
    else:
        report = tick(when(request["expires_at"]) + timedelta(seconds=1))
        assert report["expired_requests"] == 1, report
        final_state = "expired"
    ended = officer.get(f"/api/requests/{request_id}").json
    assert ended["status"] == final_state and ended["closed_at"]
    assert {k: v for k, v in ended["counts"].items() if v} == {"delivered": 2, final_state: 1}
    assert a.get(f"/api/asks/{a_ask['id']}").json["state"] == "delivered"
    (b_ask,) = b.get("/api/asks").json
    assert (b_ask["id"], b_ask["state"], b_ask["answered_via"]) == (b_ask_id, "delivered", "sms")
    (c_ask,) = c.get("/api/asks").json
    assert c_ask["state"] == final_state and c_ask["actions"] == []
    closed_link = anonymous.get(f"/api/upload-links/{token}")
    assert closed_link.status_code == 409 and closed_link.json["error"]["code"] == "ask_not_uploadable"
    # The officer still has the delivered clips.
    assert officer.get(f"/api/clips/{a_clip_id}/content", headers={"Range": "bytes=0-15"}).data == a_clip[:16]

    # Officers never learned who was asked, who answered what, nor any phone, e-mail or file name.
    assert not {k for k in officer.json_keys if "owner" in k or "phone" in k or "email" in k}
    secrets = ["ana.lopez@example.org", "cy.park@example.org", b_phone, "4145550177", "Ana Lopez", "Bo Nguyen",
               "Cy Park", "Ana's porch", "Bo's shop door", "Cy's garage", a_name, b_name]
    leaks = [(s, text[:200]) for text in officer.seen for s in secrets if s in text]
    assert leaks == []

    # Every step is in the audit log, and the chain is intact.
    db.session.expire_all()
    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    for expected in ("request.created", "request.activated", "ask.approved", "clip.upload_completed", "ask.delivered",
                     "clip.viewed", "clip.downloaded", f"request.{final_state}"):
        assert expected in actions, expected
    assert actions.count("ask.delivered") == 2 and actions.count("clip.viewed") == 2
    assert [e.action for e in ask_events(b_ask_id)][-3:] == ["ask.approved", "ask.uploading", "ask.delivered"]
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    assert "audit chain intact" in verify.output
