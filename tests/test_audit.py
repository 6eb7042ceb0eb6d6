"""The hash-chained audit log: every change appends, and `flask audit verify` finds the
first changed, inserted or deleted row."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.audit import service as audit
from app.audit.models import AuditChainHead, AuditEvent
from app.extensions import db


def _events():
    return db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()


@pytest.fixture
def chain(app, world):
    """Six events made through the API: sign-ins, a failed sign-in, a camera and its change."""
    from tests.conftest import signed_in

    client = signed_in(app, world.owner)
    r = client.post("/api/cameras", json={"label": "Porch", "latitude": 43.05, "longitude": -87.95,
                                         "retention_days": 14, "public_attestation": True})
    assert r.status_code == 201
    assert client.patch(f"/api/cameras/{r.json['id']}", json={"label": "Front porch"}).status_code == 200
    bad = app.test_client().post("/api/auth/signin", json={"login": world.owner.email, "password": "wrong-password"})
    assert bad.status_code == 401
    db.session.expire_all()
    return _events()


def _tamper(sql: str, **params) -> None:
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def test_changes_append_chained_events(chain, world):
    actions = [e.action for e in chain]
    assert actions == ["auth.signin", "camera.created", "camera.updated", "auth.signin_failed"]
    assert [e.seq for e in chain] == [1, 2, 3, 4]
    for previous, event in zip(chain, chain[1:]):
        assert event.prev_hash == previous.hash
    updated = chain[2]
    assert updated.actor_id == world.owner.id and updated.actor_role == "owner"
    assert updated.target_type == "camera"
    assert updated.details == {"changed": ["label"]}
    assert updated.source_ip == "127.0.0.1"
    failed = chain[3]
    assert failed.actor_id is None and failed.details["reason"] == "bad_credentials"
    head = db.session.get(AuditChainHead, 1)
    assert (head.length, head.last_hash) == (4, chain[-1].hash)


def test_verify_intact_chain(chain, runner):
    assert audit.verify_chain().ok
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 4 events" in result.output


def test_changed_row_is_reported(chain, runner):
    _tamper("UPDATE audit_events SET details = :d WHERE seq = 2", d='{"label": "Forged"}')
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("changed", 2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "seq 2" in result.output and "changed" in result.output


def test_changed_and_rehashed_row_is_reported(chain):
    # A forger who recomputes the row's own hash still breaks the link from the next row.
    event = chain[1]
    event.action = "camera.forged"
    event.hash = audit.event_hash(event, event.prev_hash)
    db.session.commit()
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq, report.problem.event_id) == ("changed", 2, event.id)


def test_deleted_middle_row_is_reported(chain, runner):
    _tamper("DELETE FROM audit_events WHERE seq = 3")
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("deleted", 3)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "seq 3 deleted" in result.output


def test_deleted_newest_rows_are_reported(chain):
    _tamper("DELETE FROM audit_events WHERE seq >= 3")
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("deleted", 3)
    assert "end of the chain" in report.problem.message


def test_inserted_row_is_reported(chain):
    forged = AuditEvent(seq=2, occurred_at=chain[1].occurred_at, action="camera.created", details={},
                        prev_hash=chain[0].hash)
    forged.hash = audit.event_hash(forged, forged.prev_hash)
    # The unique seq would stop a plain INSERT, so a forger must also drop it; simulate that.
    table = AuditEvent.__table__
    db.session.execute(table.insert().values(
        id=1000, seq=5, occurred_at=forged.occurred_at, action="x", details={}, prev_hash=chain[-1].hash,
        hash=audit.event_hash(AuditEvent(seq=5, occurred_at=forged.occurred_at, action="x", details={}),
                              chain[-1].hash)))
    db.session.commit()
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("inserted", 5)


def test_rows_appended_behind_the_heads_back_are_reported(chain):
    # Appending a well-formed row without the head's knowledge is still caught.
    last = chain[-1]
    ghost = AuditEvent(seq=5, occurred_at=last.occurred_at, action="auth.signin", details={}, prev_hash=last.hash)
    ghost.hash = audit.event_hash(ghost, ghost.prev_hash)
    db.session.add(ghost)
    db.session.commit()
    report = audit.verify_chain()
    assert report.problem.kind == "inserted"


def test_concurrent_appends_keep_one_chain(app):
    errors = []

    def append(worker: int) -> None:
        try:
            with app.app_context():
                for n in range(10):
                    audit.record("test.concurrent", target_type="worker", target_id=worker, details={"n": n})
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.expire_all()
    assert [e.seq for e in _events()] == list(range(1, 41))
    assert audit.verify_chain().ok
