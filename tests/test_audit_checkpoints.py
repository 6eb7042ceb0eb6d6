"""Signed checkpoints of the audit chains: a log trimmed after a published checkpoint (its
newest rows deleted and its head rolled back, which `flask audit verify` alone cannot see)
is caught by `flask audit verify --checkpoints` and by the standalone verifier; a forged
checkpoint is refused."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.audit import service as audit
from app.audit import signing, verify_export
from app.audit.models import INSTALLATION, AuditCheckpoint, AuditEvent, agency_chain
from app.db import utcnow
from app.extensions import db
from app.jobs import tick
from tests.conftest import production_app

AUDIT_DIR = Path(verify_export.__file__).parent


def _record(count: int, agency_id: int | None = None) -> None:
    for n in range(count):
        audit.record("test.event", target_type="thing", target_id=n, agency_id=agency_id, details={"n": n})
    db.session.commit()


def _published(client, path: str, tmp_path: Path, name: str) -> tuple[dict, Path]:
    response = client.get(path)
    assert response.status_code == 200, response.json
    saved = tmp_path / name
    saved.write_text(json.dumps(response.json))
    return response.json, saved


def _export(runner, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    result = runner.invoke(args=["audit", "export", "--installation", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _trim_installation_to(seq: int) -> None:
    """What the checkpoints are for: the newest rows deleted and the head rolled back to match."""
    kept = db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.chain == INSTALLATION, AuditEvent.seq == seq))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE chain = 'installation' AND seq > :s"), {"s": seq})
    db.session.execute(sa.text("UPDATE audit_chain_head SET length = :s, last_hash = :h WHERE chain = 'installation'"),
                       {"s": seq, "h": kept})
    db.session.commit()


def _standalone(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The verifier copied out of the app with proofs.py and canonical.py, run with nothing of the app importable."""
    copy = tmp_path / "verifier"
    copy.mkdir(exist_ok=True)
    for name in ("verify_export.py", "proofs.py", "canonical.py"):
        shutil.copy(AUDIT_DIR / name, copy / name)
    return subprocess.run([sys.executable, "-I", str(copy / "verify_export.py"), *args], capture_output=True,
                          text=True, timeout=60, cwd=copy)


def test_a_trimmed_log_is_caught_by_a_published_checkpoint(app, client, runner, tmp_path):
    _record(4)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "installation: signed seq 4" in result.output
    fifth = sa.select(AuditEvent.action).where(AuditEvent.chain == INSTALLATION, AuditEvent.seq == 5)
    assert db.session.scalar(fifth) == "audit.checkpointed"
    doc, published = _published(client, "/api/public/audit/checkpoints", tmp_path, "checkpoints.json")
    assert [(c["chain"], c["seq"]) for c in doc["checkpoints"]] == [(INSTALLATION, 4)]
    public_key = doc["public_key"]
    assert doc["keys"][0] == {"key_id": doc["key_id"], "algorithm": "Ed25519", "public_key": public_key,
                              "current": True}
    _record(2)
    assert runner.invoke(args=["audit", "verify", "--checkpoints", str(published)]).exit_code == 0
    intact = _export(runner, tmp_path, "intact.jsonl")
    out = io.StringIO()
    assert verify_export.main(["log", str(intact), "--checkpoints", str(published), "--public-key", public_key],
                              out=out) == 0, out.getvalue()
    assert "1 of 1 published checkpoints found in the export" in out.getvalue()

    _trim_installation_to(3)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0  # the chain alone still verifies
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(published)])
    assert result.exit_code == 1
    assert "the log no longer contains published checkpoint (installation, seq 4)" in result.output
    trimmed = _export(runner, tmp_path, "trimmed.jsonl")
    run = _standalone(tmp_path, "log", str(trimmed), "--checkpoints", str(published), "--public-key", public_key)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the log no longer contains published checkpoint (installation, seq 4)" in run.stdout
    # Nor will the installation sign the trimmed chain again.
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 1 and "installation: NOT signed" in result.output


def test_a_forged_checkpoint_is_refused(app, client, runner, tmp_path):
    _record(3)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    doc, _ = _published(client, "/api/public/audit/checkpoints", tmp_path, "real.json")
    # Someone publishes a "checkpoint" of a log they rewrote: another hash under the real signature.
    doc["checkpoints"][0]["hash"] = "f" * 64
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(forged)])
    assert result.exit_code == 1
    assert "checkpoint (installation, seq 3) is refused: its signature does not verify" in result.output
    export = _export(runner, tmp_path, "log.jsonl")
    run = _standalone(tmp_path, "log", str(export), "--checkpoints", str(forged), "--public-key", doc["public_key"])
    assert run.returncode == 1 and "is refused: its signature does not verify" in run.stdout


def test_after_a_key_rotation_old_checkpoints_verify_under_the_retired_key(app, client, runner, tmp_path):
    _record(2)
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    old, published = _published(client, "/api/public/audit/checkpoints", tmp_path, "old.json")
    new_key = signing.parse_private_key(signing.generate_key())
    # What a restart with a new AUDIT_SIGNING_KEY (and, then, the old key's public half retired) loads.
    app.extensions[signing.EXTENSION] = signing.Signer(new_key)
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(published)])
    assert result.exit_code == 1
    assert f"is signed with key '{old['key_id']}', which is not among the keys it is checked with" in result.output
    retired = signing.parse_public_key(old["public_key"], signing.RETIRED_SETTING)
    app.extensions[signing.EXTENSION] = signing.Signer(new_key, (retired,))
    assert runner.invoke(args=["audit", "verify", "--checkpoints", str(published)]).exit_code == 0
    keys = client.get("/api/public/audit/checkpoints").json["keys"]
    current = signing.Signer(new_key).key_id
    assert [(k["key_id"], k["current"]) for k in keys] == [(current, True), (old["key_id"], False)]


def test_the_scheduler_signs_every_chain_daily_and_the_agency_page_publishes_its_own(app, client, world):
    app.config["AUDIT_CHECKPOINT_INTERVAL_HOURS"] = 24
    _record(2, agency_id=world.agency.id)
    now = utcnow()
    assert tick(now)["audit_checkpoints"] >= 1
    assert tick(now + timedelta(hours=23))["audit_checkpoints"] == 0  # not due yet: nothing signed
    signed = {row.chain for row in db.session.scalars(sa.select(AuditCheckpoint))}
    assert agency_chain(world.agency.id) in signed
    doc = client.get(f"/api/public/agencies/{world.agency.slug}/checkpoints").json
    assert {c["chain"] for c in doc["checkpoints"]} == {agency_chain(world.agency.id)}
    other = client.get(f"/api/public/agencies/{world.other_agency.slug}/checkpoints").json
    assert other["checkpoints"] == [] and other["public_key"] == doc["public_key"]
    assert client.get("/api/public/agencies/nope/checkpoints").status_code == 404
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.checkpointed"))
    assert event.details["via"] == "schedule" and event.actor_id is None


def test_production_needs_a_signing_key_and_development_makes_one_once(tmp_path, monkeypatch):
    database = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}"}
    with pytest.raises(RuntimeError, match="AUDIT_SIGNING_KEY must be set in production"):
        production_app(**database, AUDIT_SIGNING_KEY=None)
    with pytest.raises(RuntimeError, match="AUDIT_SIGNING_KEY is not an Ed25519 private key") as failure:
        production_app(**database, AUDIT_SIGNING_KEY="c2VjcmV0LWJ1dC1zaG9ydA==")
    assert "c2VjcmV0LWJ1dC1zaG9ydA" not in str(failure.value)  # a malformed key is still not printed
    key_file = tmp_path / "audit-signing.key"
    key_file.write_text(signing.generate_key() + "\n")
    assert signing.signer(production_app(**database, AUDIT_SIGNING_KEY=str(key_file))).key_id

    monkeypatch.setattr("app.INSTANCE_DIR", tmp_path)
    development = {**database, "AUDIT_SIGNING_KEY": None, "ENCRYPTION_KEYS": None, "RUN_IN_PROCESS_WORKER": False}
    first = create_app("development", development)
    assert (tmp_path / signing.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert signing.signer(create_app("development", development)).public_key == signing.signer(first).public_key
