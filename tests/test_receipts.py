"""Owners' signed receipts for delivered clips (checked offline by the standalone verifier)
and what they are told of their clips' fate: first viewed, held, released, purged."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.audit import verify_export
from app.clips.models import Clip
from app.extensions import db
from tests.conftest import signed_in
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
    pinned = {receipt["key_id"]: verify_export.public_key_bytes(public_key)}
    assert verify_export.receipt_problems(receipt, pinned, data) == []
    saved, clip_file = tmp_path / "receipt.json", tmp_path / "clip.mp4"
    saved.write_text(json.dumps(receipt))
    clip_file.write_bytes(data)
    assert verify_export.main(["receipt", str(saved), "--public-key", public_key, "--clip", str(clip_file)]) == 0

    tampered = {**receipt, "size": SIZE * 2}
    assert verify_export.receipt_problems(tampered, pinned) == [
        "the receipt is refused: its signature does not verify: it was forged or altered"]
    saved.write_text(json.dumps({**receipt, "received_at": "2026-01-01T00:00:00.000000Z"}))
    assert verify_export.main(["receipt", str(saved), "--public-key", public_key]) == 1
    assert verify_export.receipt_problems(receipt, pinned, data + b"x") == [
        "the clip file's SHA-256 is not the receipt's", f"the clip file has {SIZE + 1} bytes, the receipt {SIZE}"]

    # Only its owner gets it.
    assert signed_in(app, world.other_owner).get(f"/api/me/clips/{clip.id}/receipt").status_code == 404
    assert signed_in(app, world.officer).get(f"/api/me/clips/{clip.id}/receipt").status_code == 403
