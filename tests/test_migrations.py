"""Migrations: one head, named revisions, an upgrade from empty on both databases that
matches the models exactly, and a clean downgrade."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import create_app
from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from app.audit.service import record, verify_chain
from app.extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _scripts() -> ScriptDirectory:
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_single_head():
    assert len(_scripts().get_heads()) == 1


def test_every_revision_has_a_message():
    for revision in _scripts().walk_revisions():
        assert revision.doc and revision.doc.strip(), f"revision {revision.revision} has no message"
        assert not revision.doc.lower().startswith("empty message")


def test_upgrade_from_empty_matches_models(empty_database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
            head = conn.execute(sa.text("SELECT length, last_hash FROM audit_chain_head WHERE id = 1")).one()
        assert differences == [], f"models and migrations disagree: {differences}"
        assert tuple(head) == (0, GENESIS_HASH)
        downgrade(revision="base")
        with db.engine.connect() as conn:
            remaining = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()


# --- data migrations of the security round ---------------------------------------------------

def _insert(conn, table_name: str, **values) -> int:
    """A row written with the table as the database has it at this revision (columns it lacks are left out)."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    return conn.execute(table.insert().values(**{k: v for k, v in values.items() if k in table.c})
                        ).inserted_primary_key[0]


def test_0006_marks_requests_their_own_officer_approved_as_self_approved(empty_database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    now = datetime.now(UTC)
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            agency = _insert(conn, "agencies", name="Riverside PD", slug="riverside", timezone="America/Chicago",
                             created_at=now)
            sergeant, officer = (
                _insert(conn, "users", role=role, email=f"{role}@example.com", phone_verified=False,
                        password_hash="x", agency_id=agency, active=True, session_token=role[:32], created_at=now,
                        notify_push=True, notify_sms=True)
                for role in ("supervisor", "officer"))

            def request(officer_id, reviewed_by_id, status, activated):
                return _insert(conn, "footage_requests", agency_id=agency, officer_id=officer_id, case_number="C-1",
                               incident_type="burglary", summary="s", latitude=43.0, longitude=-87.9, radius_m=900,
                               window_start=now - timedelta(hours=3), window_end=now - timedelta(hours=2),
                               status=status, exceeded_limits=["radius"], justification="j",
                               reviewed_by_id=reviewed_by_id, reviewed_at=now if reviewed_by_id else None,
                               created_at=now, activated_at=now if activated else None)

            own = request(sergeant, sergeant, "active", True)
            other = request(officer, sergeant, "active", True)
            own_rejected = request(sergeant, sergeant, "rejected", False)
            waiting = request(sergeant, None, "pending_approval", False)
        upgrade(revision="0006")
        with db.engine.connect() as conn:
            marked = dict(conn.execute(sa.text("SELECT id, self_approved FROM footage_requests")).all())
            allowed = conn.execute(sa.text("SELECT count(*) FROM agency_policies WHERE allow_self_approval")).scalar()
        assert {k: bool(v) for k, v in marked.items()} == {own: True, other: False, own_rejected: False,
                                                          waiting: False}
        assert allowed == 0
        db.engine.dispose()


LABEL, LABEL_AFTER = "Okonkwo family front porch", "Okonkwo side gate"
ADDRESS = "4417 North Quietwater Lane"
LAT, LON, LAT_AFTER, LON_AFTER = 43.041837, -87.909312, 43.046251, -87.911178


class OldChainWriter:
    """Appends events as the app did before 0008: the v1 chain format, frozen here."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.seq, self.last_hash = 0, GENESIS_HASH
        self.hashes: list[str] = []

    def append(self, action: str, details: dict, **columns) -> None:
        self.seq += 1
        content = {"seq": self.seq, "occurred_at": "", "actor_id": columns.get("actor_id"),
                   "actor_role": columns.get("actor_role"), "action": action,
                   "target_type": columns.get("target_type"), "target_id": columns.get("target_id"),
                   "agency_id": columns.get("agency_id"), "source_ip": columns.get("source_ip"),
                   "details": details, "prev_hash": self.last_hash}
        occurred = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=self.seq, microseconds=self.seq)
        content["occurred_at"] = occurred.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).hexdigest()
        _insert(self.conn, "audit_events", seq=self.seq, occurred_at=occurred, action=action, details=details,
                prev_hash=self.last_hash, hash=digest, **columns)
        self.last_hash = digest
        self.hashes.append(digest)
        self.conn.execute(sa.text("UPDATE audit_chain_head SET length = :n, last_hash = :h WHERE id = 1"),
                          {"n": self.seq, "h": digest})


def _old_camera_history(conn) -> OldChainWriter:
    """An owner's camera created, moved and relabelled, deleted; the demo's; around them, other events."""
    owner = {"actor_id": 41, "actor_role": "owner", "target_type": "camera", "source_ip": "203.0.113.9"}
    writer = OldChainWriter(conn)
    writer.append("auth.signin", {"second_factor": "off"}, actor_id=41, actor_role="owner", target_type="user",
                  target_id="41")
    writer.append("camera.created", {
        "label": LABEL, "address": ADDRESS, "latitude": LAT, "longitude": LON, "bearing": 180, "field_of_view": 90,
        "retention_days": 14, "mode": "register", "status": "active",
        "blackout_windows": [{"day": 0, "start": "22:00", "end": "06:00"}], "shared_agency_ids": [3]},
        target_id="9", **owner)
    writer.append("camera.updated", {"label": [LABEL, LABEL_AFTER], "latitude": [LAT, LAT_AFTER],
                                     "longitude": [LON, LON_AFTER], "retention_days": [14, 30],
                                     "shared_agency_ids": [[3], [3, 4]]}, target_id="9", **owner)
    writer.append("camera.created", {"label": "Front porch", "via": "demo"}, target_id="10", **owner)
    writer.append("camera.deleted", {"label": LABEL_AFTER}, target_id="9", **owner)
    writer.append("request.created", {"case_number": "2026-1", "radius_m": 300.0}, actor_id=7,
                  actor_role="officer", target_type="footage_request", target_id="1", agency_id=3)
    return writer


def test_0008_rewrites_old_camera_events_and_reseals_the_chain(empty_database_url, monkeypatch):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            writer = _old_camera_history(conn)
        assert verify_chain().ok
        old_head = {"length": 6, "last_hash": writer.last_hash}

        upgrade()
        db.session.remove()
        report = verify_chain()
        assert report.ok and report.events_checked == 7, report.problem
        events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
        signin, created, updated, demo, deleted, request, resealed = events
        # No label, address or exact position is left; other events keep their details.
        text = json.dumps([e.details for e in events], ensure_ascii=False)
        for secret in (LABEL, LABEL_AFTER, ADDRESS, "Front porch", str(LAT), str(LON), str(LAT_AFTER),
                       str(LON_AFTER), "22:00"):
            assert secret not in text
        assert created.details == {
            "changed": ["address", "bearing", "blackout_windows", "field_of_view", "label", "latitude", "longitude",
                        "mode", "retention_days", "shared_agency_ids", "status"],
            "bearing": 180, "field_of_view": 90, "retention_days": 14, "mode": "register", "status": "active",
            "shared_agency_ids": [3], "latitude": 43.04, "longitude": -87.91}
        assert updated.details == {"changed": ["label", "latitude", "longitude", "retention_days", "shared_agency_ids"],
                                   "latitude": 43.05, "longitude": -87.91, "retention_days": 30,
                                   "shared_agency_ids": [3, 4]}
        assert demo.details == {"changed": ["label"], "via": "demo"}
        assert deleted.details == {}
        assert request.details == {"case_number": "2026-1", "radius_m": 300.0}
        assert (created.source_ip, created.actor_id, created.target_id) == ("203.0.113.9", 41, "9")
        # Before the first rewritten event the chain is as it was; from there it is re-sealed.
        assert signin.hash == writer.hashes[0]
        assert all(e.hash != old for e, old in zip(events[1:6], writer.hashes[1:], strict=True))
        # The re-seal is on record, with the old head for whoever kept it off-site.
        assert (resealed.action, resealed.actor_id, resealed.actor_role) == ("audit.resealed", None, None)
        assert resealed.details["previous_head"] == old_head
        assert resealed.details["events_rewritten"] == 4
        assert resealed.details["rewritten_seqs"] == {"first": 2, "last": 5}
        assert resealed.details["resealed_seqs"] == {"first": 2, "last": 6}
        assert "label, address and blackout_windows never" in resealed.details["rule"]
        head = db.session.get(AuditChainHead, 1)
        assert (head.length, head.last_hash) == (7, resealed.hash)

        # The app chains on after it; the downgrade brings nothing back and breaks nothing.
        record("auth.signin", details={"after": "0008"})
        db.session.commit()
        assert verify_chain().ok
        downgrade(revision="0007")
        db.session.remove()
        assert verify_chain().ok and verify_chain().events_checked == 8
        assert LABEL not in json.dumps([e.details for e in db.session.scalars(sa.select(AuditEvent))])
        # Upgrading again finds nothing old: no second re-seal.
        upgrade()
        db.session.remove()
        assert verify_chain().events_checked == 8
        db.session.remove()
        db.engine.dispose()


def test_0008_refuses_a_chain_that_does_not_verify(empty_database_url, capfd):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            _old_camera_history(conn)
            # Someone deleted the request event and rewound the head: the end of the chain is gone.
            conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 6"))
        assert not verify_chain().ok
        db.session.remove()
        # `flask db upgrade` logs the migration's RuntimeError and exits 1.
        # `flask db upgrade` logs the migration's RuntimeError (to stderr, by alembic.ini) and exits 1.
        capfd.readouterr()
        with pytest.raises(SystemExit):
            upgrade()
        said = capfd.readouterr().err
        assert "0008 refuses to run: the audit chain does not verify" in said and "Nothing was changed" in said
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0007"
            details = conn.execute(sa.text("SELECT details FROM audit_events WHERE seq = 2")).scalar()
        assert LABEL in str(details)
        db.engine.dispose()
