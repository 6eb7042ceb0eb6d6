"""An owner's account deletion leaves nothing of them in any table, the audit log included.

Security round, finding 8: camera audit events used to keep a camera's label, address
and exact position after the owner deleted the camera and the account. Here an owner
with an e-mail and a verified phone, enrolled with a code, uses everything through the
API: two cameras (one moved and relabelled, one deleted), a push subscription, an ask
answered with a clip delivered, texts in the outbox. After the account is deleted, every
column of every table in the database is read back as text (JSON included), and the
float columns are compared with the exact coordinates: none holds any of it. Delivered
footage stays with the agency, de-identified, and the audit chain still verifies.
"""
from __future__ import annotations

import base64
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.db import utcnow
from app.extensions import db
from app.notifications.models import Notification, SmsMessage
from tests.conftest import signed_in
from tests.upload_support import create, mp4_bytes, patch

PASSWORD = "quiet-water-lane-2026"
EMAIL = "Adaeze.Okonkwo@example.org"
PHONE = "+14145550199"
NAME = "Adaeze Okonkwo"
LABEL, LABEL_MOVED, LABEL_DELETED = "Okonkwo front porch", "Okonkwo side gate", "Okonkwo garage"
ADDRESS, ADDRESS_DELETED = "4417 North Quietwater Lane", "4419 North Quietwater Lane"
# Exact positions: where the first camera was, where it was moved, where the deleted one was.
COORDINATES = (43.041837, -87.909312, 43.042251, -87.908178, 43.041561, -87.909874)
DEVICE = "https://push.example.net/send/okonkwo-phone-1"
INCIDENT = (43.0421, -87.9087)  # the officer's incident point, a few metres from the moved camera

NEEDLES = (EMAIL, PHONE, PHONE.removeprefix("+1"), NAME, DEVICE, LABEL, LABEL_MOVED, LABEL_DELETED, ADDRESS,
           ADDRESS_DELETED, *(repr(c) for c in COORDINATES))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _found_anywhere() -> dict[str, list[str]]:
    """Per table: every needle found in any column, read back as text, or a float column equal to a coordinate.

    The tables are the database's own (not the models'), so a table nobody thought of is read too.
    """
    found: dict[str, list[str]] = {}
    with db.engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            texts = conn.execute(sa.select(*(sa.cast(c, sa.Text).label(c.name) for c in table.c))).all()
            hits = {needle for row in texts for value in row if value is not None
                    for needle in NEEDLES if needle.lower() in value.lower()}
            for column in table.c:
                if isinstance(column.type, sa.Float):
                    equal = conn.execute(sa.select(sa.func.count()).select_from(table)
                                         .where(column.in_(COORDINATES))).scalar()
                    if equal:
                        hits.add(f"{column.name} = an exact coordinate")
            if hits:
                found[name] = sorted(hits)
    return found


def test_deleting_the_account_leaves_none_of_the_owners_data_in_any_table(app, world, runner):
    # The phone's push service: a made-up origin, let in as tests let their push peers in.
    app.config["PUSH_TEST_ORIGINS"] = "https://push.example.net"
    supervisor = signed_in(app, world.supervisor)
    officer = signed_in(app, world.officer)
    code = supervisor.post("/api/enrollment/codes", json={"label": "Block party", "kind": "campaign", "max_uses": 5})
    assert code.status_code == 201, code.json

    # The owner signs up with the code, verifies the phone and takes requests by text.
    owner = app.test_client()
    signed_up = owner.post("/api/auth/signup", json={"email": EMAIL, "phone": PHONE, "password": PASSWORD,
                                                     "display_name": NAME, "enrollment_code": code.json["code"]})
    assert signed_up.status_code == 201, signed_up.json
    user_id = signed_up.json["id"]
    # Sign-up texted the code that proves the number (and e-mailed a link for the address).
    texted = db.session.scalar(sa.select(SmsMessage.body).where(SmsMessage.to_number == PHONE))
    verified = owner.post("/api/auth/phone/verify", json={"code": re.search(r"\b(\d{6})\b", texted).group(1)})
    assert verified.json == {"phone": PHONE, "phone_verified": True}
    assert owner.patch("/api/auth/me", json={"notify_push": False}).status_code == 200
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    device = {"endpoint": DEVICE,
              "keys": {"p256dh": _b64(point), "auth": _b64(bytes(range(16)))}}
    subscribed = owner.post("/api/push/subscriptions", json=device)
    assert subscribed.status_code == 201, subscribed.json

    # Two cameras; the first is moved and relabelled, the second deleted by the owner. Their
    # blackout hours (kept as personal data) fall three days after the incident's local day,
    # so the request below asks them whatever the hour the test runs at.
    end = utcnow() - timedelta(hours=2)
    incident_day = (end - timedelta(hours=1)).astimezone(ZoneInfo(world.agency.timezone)).weekday()
    blackout_day = (incident_day + 3) % 7

    def add(label, address, lat, lon):
        r = owner.post("/api/cameras", json={
            "label": label, "address": address, "latitude": lat, "longitude": lon, "retention_days": 30,
            "bearing": 200, "public_attestation": True,
            "blackout_windows": [{"day": blackout_day, "start": "23:00", "end": "07:00"}]})
        assert r.status_code == 201, r.json
        return r.json["id"]

    porch = add(LABEL, ADDRESS, *COORDINATES[0:2])
    garage = add(LABEL_DELETED, ADDRESS_DELETED, *COORDINATES[4:6])
    moved = owner.patch(f"/api/cameras/{porch}", json={"label": LABEL_MOVED, "latitude": COORDINATES[2],
                                                       "longitude": COORDINATES[3]})
    assert moved.status_code == 200, moved.json
    assert owner.delete(f"/api/cameras/{garage}").status_code == 204

    # An officer asks; the text goes out; the owner approves and delivers a clip; the officer plays it.
    request = officer.post("/api/requests", json={
        "latitude": INCIDENT[0], "longitude": INCIDENT[1], "radius_m": 150, "window_start": (end - timedelta(hours=1))
        .isoformat(), "window_end": end.isoformat(), "case_number": "2026-0815", "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "Package theft; looking for a person on foot."})
    assert request.status_code == 201 and request.json["asks_total"] == 1, request.json
    db.session.commit()
    assert runner.invoke(args=["jobs", "deliver"]).exit_code == 0
    db.session.expire_all()
    texts = list(db.session.scalars(sa.select(SmsMessage.body).where(SmsMessage.to_number == PHONE)))
    assert len(texts) == 2 and LABEL_MOVED in texts[1]
    # An earlier attempt had failed at the provider, whose error text quotes the number (Twilio's 21211).
    db.session.execute(sa.update(Notification).values(
        last_error=f"HTTP 400 error: Unable to create record: The 'To' number {PHONE} is not a valid phone number."))
    db.session.commit()
    [ask] = owner.get("/api/asks").json
    assert owner.post(f"/api/asks/{ask['id']}/approve").status_code == 200
    clip = mp4_bytes(8000, seed=8)
    location = create(owner, ask["id"], len(clip), filename=f"{LABEL_MOVED} {ADDRESS}.mp4").headers["Location"]
    assert patch(owner, location, clip, 0).status_code == 204
    [listed] = officer.get(f"/api/requests/{request.json['id']}/clips").json
    assert officer.get(f"/api/clips/{listed['id']}/content").data == clip

    # Before: the owner's data is where it belongs (the search finds what it looks for).
    before = _found_anywhere()
    assert {"users", "cameras", "sms_messages", "push_subscriptions", "asks", "clips", "notifications"} <= set(before)
    assert "audit_events" not in before, before["audit_events"]

    deleted = owner.delete("/api/me", json={"password": PASSWORD, "confirm": "DELETE"})
    assert deleted.status_code == 204, deleted.json

    # After: nothing, in any column of any table, the audit log included.
    assert _found_anywhere() == {}
    db.session.expire_all()
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.target_type == "camera")
                                      .order_by(AuditEvent.seq)))
    assert actions == ["camera.created", "camera.created", "camera.updated", "camera.deleted"]
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "account.deleted",
                                                            AuditEvent.target_id == str(user_id)))
    # The delivered clip stays with the agency, and the chain verifies.
    assert officer.get(f"/api/clips/{listed['id']}/content").data == clip
    assert verify_chain().ok
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
