"""Owners' signed receipts for delivered clips (checked offline by the standalone verifier)
and what they are told of their clips' fate: first viewed, held, released, purged."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit import proofs, verify_export
from app.clips import retention
from app.clips.models import Clip
from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState
from app.i18n import in_language
from app.notifications import ask_mail, delivery, messages
from app.notifications.models import FATE_KINDS, Channel, Notification, NotificationKind
from tests import factories
from tests.conftest import signed_in
from tests.peers import scenario
from tests.upload_support import approved_ask, mp4_bytes, upload

SIZE = 6_000


@pytest.fixture(autouse=True)
def clip_root(app, tmp_path):
    app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "clips")


@pytest.fixture
def delivered(app, world, as_owner):
    """A clip the world's owner delivered for a request of the world's agency: (clip, its bytes)."""
    ask = approved_ask(world)
    data = mp4_bytes(SIZE, seed=3)
    location = upload(as_owner, ask.id, data)
    return db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1])), data


def test_the_owner_downloads_a_receipt_that_verifies_offline_and_a_tampered_one_fails(app, world, delivered,
                                                                                     as_owner, client, tmp_path):
    clip, data = delivered
    response = as_owner.get(f"/api/me/clips/{clip.id}/receipt")
    assert response.status_code == 200, response.json
    assert response.headers["Content-Disposition"] == f'attachment; filename="porchlight-receipt-clip-{clip.id}.json"'
    receipt = response.json
    assert (receipt["agency_name"], receipt["request_id"], receipt["sha256"], receipt["size"]) == (
        world.agency.name, clip.request_id, clip.sha256, SIZE)
    # The key to check it with is the one on the public transparency page, not the one it carries.
    public_key = client.get("/api/public/audit/checkpoints").json["public_key"]
    pinned = {receipt["key_id"]: proofs.public_key_bytes(public_key)}
    assert proofs.receipt_problems(receipt, pinned, data) == []
    saved, clip_file = tmp_path / "receipt.json", tmp_path / "clip.mp4"
    saved.write_text(json.dumps(receipt))
    clip_file.write_bytes(data)
    assert verify_export.main(["receipt", str(saved), "--public-key", public_key, "--clip", str(clip_file)]) == 0

    tampered = {**receipt, "size": SIZE * 2}
    assert proofs.receipt_problems(tampered, pinned) == [
        "the receipt is refused: its signature does not verify: it was forged or altered"]
    saved.write_text(json.dumps({**receipt, "received_at": "2026-01-01T00:00:00.000000Z"}))
    assert verify_export.main(["receipt", str(saved), "--public-key", public_key]) == 1
    assert proofs.receipt_problems(receipt, pinned, data + b"x") == [
        "the clip file's SHA-256 is not the receipt's", f"the clip file has {SIZE + 1} bytes, the receipt {SIZE}"]

    # Only its owner gets it.
    assert signed_in(app, world.other_owner).get(f"/api/me/clips/{clip.id}/receipt").status_code == 404
    assert signed_in(app, world.officer).get(f"/api/me/clips/{clip.id}/receipt").status_code == 403


def test_the_owner_is_told_of_their_clips_fate_on_their_channel_and_sees_it_in_history(sms_app, twilio, tmp_path):
    sms_app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "sms-clips")
    world = factories.World.build()
    owner = scenario.owner(phone=scenario.phone_number())
    request, (ask,), ids = scenario.issue(world.agency, [owner], world.officer)
    assert delivery.deliver(ids).sent == 1  # the request reached the owner by SMS
    ask = db.session.get(Ask, ask.id)
    ask.state, ask.responded_at, ask.answered_via = AskState.APPROVED, utcnow(), "app"
    db.session.commit()
    location = upload(signed_in(sms_app, owner), ask.id, mp4_bytes(SIZE, seed=5))
    clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == location.rsplit("/", 1)[1]))

    officer, supervisor = signed_in(sms_app, world.officer), signed_in(sms_app, world.supervisor)
    assert officer.get(f"/api/clips/{clip.id}/content").status_code == 200
    assert officer.get(f"/api/clips/{clip.id}/download").status_code == 200  # not the first: no second notice
    hold = supervisor.post(f"/api/requests/{request.id}/holds", json={"reason": "Trial"}).json
    assert supervisor.post(f"/api/holds/{hold['id']}/release", json={"reason": "Verdict"}).status_code == 200
    assert retention.purge_expired_clips(utcnow() + timedelta(days=91)) == 1

    fates = list(db.session.scalars(sa.select(Notification).where(Notification.kind.in_(FATE_KINDS))
                                    .order_by(Notification.id)))
    assert [(n.kind, n.channel) for n in fates] == [(kind, Channel.SMS) for kind in FATE_KINDS]
    assert delivery.deliver([n.id for n in fates]).sent == 4
    texts = [m.body for m in twilio.to(owner.phone)][1:]
    # Sent by parallel workers: in any order.
    assert sorted(t.split(": ", 1)[1].split(" (case")[0] for t in texts) == sorted([
        f'{world.agency.name} opened the clip you shared from "{ask.camera_label}"',
        f'{world.agency.name} placed the clip you shared from "{ask.camera_label}"',
        f'{world.agency.name} released the evidence hold on the clip you shared from "{ask.camera_label}"',
        f'{world.agency.name} deleted the clip you shared from "{ask.camera_label}"'])
    assert all(messages.sms_segments(t) <= 2 and "/#/history" in t for t in texts)

    (mine,) = signed_in(sms_app, owner).get(f"/api/asks/{ask.id}/clips").json
    assert [f["event"] for f in mine["fate"]] == ["received", "first_viewed", "held", "released", "purged"]
    assert "Trial" not in str(mine)  # the hold's reason is the investigation's, never the owner's


@pytest.mark.one_database  # words only: nothing here differs between databases
def test_fate_push_and_email_say_what_happened_in_the_owners_language(app, world):
    ask = approved_ask(world)
    request, agency = ask.request, world.agency
    payload = json.loads(messages.fate_push_payload(NotificationKind.HOLD_PLACED, ask, request, agency))
    assert (payload["type"], payload["actions"], payload["url"]) == ("clip_fate", {}, "http://porchlight.test/#/history")
    assert payload["title"] == "Your clip is under an evidence hold" and request.case_number in payload["body"]
    with in_language("es"):
        letter = ask_mail.fate_mail(NotificationKind.CLIP_PURGED, ask, request, agency, "owner@example.com")
    assert letter.subject == "Porchlight: Su video fue eliminado"
    assert f"{agency.name} eliminó el video que compartió de" in letter.text and "/#/history" in letter.html
    assert letter.in_reply_to == ask_mail.thread_id(ask.id)
