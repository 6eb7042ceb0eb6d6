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
from app.audit.models import GENESIS_HASH, HISTORY, INSTALLATION, AuditChainHead, AuditEvent
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
            heads = conn.execute(sa.text("SELECT chain, length, last_hash, link_hash, sealed_at IS NOT NULL "
                                         "FROM audit_chain_head ORDER BY id")).all()
            # compare_metadata does not compare an index's INCLUDE columns: the geo index's (0018).
            geo_index = (conn.scalar(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_cameras_geo'"))
                         if conn.dialect.name == "postgresql" else None)
        assert differences == [], f"models and migrations disagree: {differences}"
        if geo_index is not None:
            assert geo_index.endswith("(lat_band, longitude, latitude) INCLUDE (id, status)"), geo_index
        # A new installation: the empty history chain sealed, the installation's chain linked to it.
        assert [tuple(h) for h in heads] == [(HISTORY, 0, GENESIS_HASH, GENESIS_HASH, True),
                                             (INSTALLATION, 0, GENESIS_HASH, GENESIS_HASH, False)]
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


def _canonical_hash(row, prev_hash: str) -> str:
    """The event hash (v1, app/audit/service.py), computed here from a plain row of any revision."""
    occurred = row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=UTC)
    details = row.details if isinstance(row.details, dict) else json.loads(row.details or "{}")
    content = {"seq": row.seq, "occurred_at": occurred.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "actor_id": row.actor_id, "actor_role": row.actor_role, "action": row.action,
               "target_type": row.target_type, "target_id": row.target_id, "agency_id": row.agency_id,
               "source_ip": row.source_ip, "details": details, "prev_hash": prev_hash}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def _single_chain_problem() -> str | None:
    """What is wrong with the one chain of the revisions before 0017 (their `audit verify`), or None."""
    with db.engine.connect() as conn:
        events = sa.Table("audit_events", sa.MetaData(), autoload_with=conn)  # typed: SQLite gives back text
        rows = conn.execute(sa.select(events).order_by(events.c.seq)).all()
        head = conn.execute(sa.text("SELECT length, last_hash FROM audit_chain_head WHERE id = 1")).one()
    prev = GENESIS_HASH
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected or row.prev_hash != prev or _canonical_hash(row, row.prev_hash) != row.hash:
            return f"seq {expected}"
        prev = row.hash
    return None if tuple(head) == (len(rows), prev) else "head"


def _single_chain_length() -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT length FROM audit_chain_head WHERE id = 1")).scalar()


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
        assert _single_chain_problem() is None
        old_head = {"length": 6, "last_hash": writer.last_hash}

        upgrade()
        db.session.remove()
        report = verify_chain()
        # 0017 then sealed the chain as the history chain, with one more event.
        assert report.ok and report.events_checked == 8, report.problem
        events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
        signin, created, updated, demo, deleted, request, resealed, sealed = events
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
        assert {e.chain for e in events} == {HISTORY}
        # The re-seal is on record, with the old head for whoever kept it off-site.
        assert (resealed.action, resealed.actor_id, resealed.actor_role) == ("audit.resealed", None, None)
        assert resealed.details["previous_head"] == old_head
        assert resealed.details["events_rewritten"] == 4
        assert resealed.details["rewritten_seqs"] == {"first": 2, "last": 5}
        assert resealed.details["resealed_seqs"] == {"first": 2, "last": 6}
        assert "label, address and blackout_windows never" in resealed.details["rule"]
        assert (sealed.action, sealed.details["sealed_head"]) == ("audit.sealed", {"length": 7,
                                                                                  "last_hash": resealed.hash})

        # The app chains on after it; the downgrade brings nothing back and breaks nothing.
        record("auth.signin", details={"after": "0008"})
        db.session.commit()
        assert verify_chain().ok
        db.session.remove()  # its transaction's locks would hold up the downgrade's ALTER TABLE
        downgrade(revision="0007")
        db.session.remove()
        assert _single_chain_problem() is None and _single_chain_length() == 10  # + the sign-in, + chains_merged
        with db.engine.connect() as conn:
            assert LABEL not in json.dumps(conn.execute(sa.text("SELECT details FROM audit_events")).scalars().all())
        # Upgrading again finds nothing old: no second re-seal (0017 seals once more).
        upgrade()
        db.session.remove()
        assert verify_chain().ok and verify_chain().events_checked == 11
        assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.resealed")) == 1
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
        assert _single_chain_problem() is not None
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


# --- 0017: audit chains per agency -------------------------------------------------------------

def _one_chain_of_two_agencies(conn) -> tuple[OldChainWriter, int, int]:
    """The single chain as 0016 kept it: events of two agencies and of none."""
    now = datetime.now(UTC)
    first, second = (_insert(conn, "agencies", name=f"PD {slug}", slug=slug, timezone="America/Chicago",
                             created_at=now) for slug in ("north", "south"))
    writer = OldChainWriter(conn)
    writer.append("auth.signin", {}, actor_id=41, actor_role="owner", target_type="user", target_id="41")
    writer.append("request.created", {"case_number": "N-1"}, actor_id=7, actor_role="officer",
                  target_type="footage_request", target_id="1", agency_id=first)
    writer.append("request.created", {"case_number": "S-1"}, actor_id=8, actor_role="officer",
                  target_type="footage_request", target_id="2", agency_id=second)
    writer.append("hold.placed", {"request_id": 1}, actor_id=9, actor_role="supervisor",
                  target_type="evidence_hold", target_id="1", agency_id=first)
    return writer, first, second


def test_0017_seals_the_chain_as_history_links_new_chains_and_merges_them_back(empty_database_url, capfd):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0016")
        with db.engine.begin() as conn:
            writer, north, south = _one_chain_of_two_agencies(conn)
        upgrade()
        db.session.remove()
        history = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.chain == HISTORY)
                                          .order_by(AuditEvent.seq)))
        # Every old event keeps its seq and hash in the history chain; one seal follows them.
        assert [e.hash for e in history[:4]] == writer.hashes and [e.seq for e in history] == [1, 2, 3, 4, 5]
        seal, history_hashes = history[-1], [e.hash for e in history]
        assert (seal.action, seal.actor_id, seal.prev_hash) == ("audit.sealed", None, writer.last_hash)
        assert seal.details["sealed_head"] == {"length": 4, "last_hash": writer.last_hash}
        heads = {h.chain: h for h in db.session.scalars(sa.select(AuditChainHead))}
        assert set(heads) == {HISTORY, INSTALLATION, f"agency:{north}", f"agency:{south}"}
        assert (heads[HISTORY].length, heads[HISTORY].last_hash) == (5, seal.hash) and heads[HISTORY].sealed_at
        for chain in (INSTALLATION, f"agency:{north}", f"agency:{south}"):
            assert (heads[chain].length, heads[chain].last_hash, heads[chain].link_hash) == (0, seal.hash, seal.hash)
        assert heads[f"agency:{north}"].agency_id == north

        # The app appends to the new chains; each one's first event chains from the seal.
        record("request.created", target_type="footage_request", target_id=3, agency_id=north)
        record("request.created", target_type="footage_request", target_id=4, agency_id=south)
        record("auth.signin", target_type="user", target_id=41)
        db.session.commit()
        firsts = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.chain != HISTORY)).all()
        assert sorted(e.chain for e in firsts) == sorted([INSTALLATION, f"agency:{north}", f"agency:{south}"])
        assert all(e.seq == 1 and e.prev_hash == seal.hash for e in firsts)
        south_event_id = next(e.id for e in firsts if e.agency_id == south)
        result = app.test_cli_runner().invoke(args=["audit", "verify"])
        assert result.exit_code == 0, result.output
        assert "history: 5 events" in result.output and f"agency:{south}: 1 events" in result.output

        # A broken chain stops the downgrade, changing nothing.
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_events SET target_id = '99' WHERE id = :id"), {"id": south_event_id})
        db.session.remove()
        with db.engine.connect() as conn:
            head = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        capfd.readouterr()
        with pytest.raises(SystemExit):
            downgrade(revision="0016")
        said = capfd.readouterr().err
        assert "0017 refuses to downgrade" in said and f"chain agency:{south}" in said
        with db.engine.begin() as conn:
            # 0017 stays (PostgreSQL also rolls back the later revisions' downgrades with it).
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() in ("0017", head)
            conn.execute(sa.text("UPDATE audit_events SET target_id = '4' WHERE id = :id"), {"id": south_event_id})

        # Downgraded, the chains are one again, which the old verification accepts: the history
        # as it was, the three events re-hashed after it, and the heads they had on record.
        downgrade(revision="0016")
        db.session.remove()
        assert _single_chain_problem() is None and _single_chain_length() == 9
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT seq, action, hash, details FROM audit_events ORDER BY seq")).all()
        assert [r.hash for r in rows[:5]] == history_hashes
        merged = rows[-1]
        details = merged.details if isinstance(merged.details, dict) else json.loads(merged.details)
        assert merged.action == "audit.chains_merged" and details["merged_seqs"] == {"first": 6, "last": 8}
        assert details["heads_before"][f"agency:{north}"]["length"] == 1
        # And up again: the merged chain is sealed as the history.
        upgrade()
        db.session.remove()
        report = verify_chain()
        assert report.ok and report.events_checked == 10, report.problem
        db.session.remove()
        db.engine.dispose()


def test_0017_refuses_a_chain_that_does_not_verify(empty_database_url, capfd):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0016")
        with db.engine.begin() as conn:
            _one_chain_of_two_agencies(conn)
            conn.execute(sa.text("UPDATE audit_events SET details = :d WHERE seq = 3"), {"d": '{"case_number": "X"}'})
        capfd.readouterr()
        with pytest.raises(SystemExit):
            upgrade()
        said = capfd.readouterr().err
        assert "0017 refuses to run: the audit chain does not verify" in said and "seq 3" in said
        assert "Nothing was changed" in said
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0016"
            assert "chain" not in {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
        db.engine.dispose()
