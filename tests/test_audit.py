"""The hash-chained audit log: every change appends to its agency's chain (or the
installation's), and `flask audit verify` finds each chain's first changed, inserted,
deleted or misplaced row and any broken link to the history chain."""
from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.audit import service as audit
from app.audit.models import GENESIS_HASH, HISTORY, INSTALLATION, AuditChainHead, AuditEvent, agency_chain
from app.extensions import db
from tests.conftest import require_postgresql


def _events(chain: str = INSTALLATION):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)).all()


def _head(chain: str) -> AuditChainHead | None:
    return db.session.scalar(sa.select(AuditChainHead).where(AuditChainHead.chain == chain))


@pytest.fixture
def chain(app, world):
    """Four events made through the API, all of no agency (an owner's): a sign-in, a camera and its
    change, a failed sign-in; they are the installation's chain."""
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
    assert {e.chain for e in chain} == {INSTALLATION} and chain[0].prev_hash == GENESIS_HASH
    for previous, event in zip(chain, chain[1:]):
        assert event.prev_hash == previous.hash
    updated = chain[2]
    assert updated.actor_id == world.owner.id and updated.actor_role == "owner"
    assert updated.target_type == "camera"
    assert updated.details == {"changed": ["label"]}
    assert updated.source_ip == "127.0.0.1"
    failed = chain[3]
    assert failed.actor_id is None and failed.details["reason"] == "bad_credentials"
    head = _head(INSTALLATION)
    assert (head.length, head.last_hash, head.link_hash) == (4, chain[-1].hash, GENESIS_HASH)
    # The history chain (empty in a new installation) is sealed: nothing joined it.
    assert (_head(HISTORY).length, _head(HISTORY).sealed_at is not None) == (0, True)


def test_verify_intact_chain(chain, runner):
    assert audit.verify_chain().ok
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"installation: 4 events, head {chain[-1].hash}: OK" in result.output
    assert f"history: 0 events, head {GENESIS_HASH} (sealed): OK" in result.output
    assert "audit chain intact: every chain verifies (2 chains, 4 events)" in result.output


def test_changed_row_is_reported(chain, runner):
    _tamper("UPDATE audit_events SET details = :d WHERE seq = 2", d='{"label": "Forged"}')
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("changed", 2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "installation: 4 events" in result.output and "BROKEN at seq 2" in result.output
    assert "kind=changed" in result.output and "history: 0 events" in result.output


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
        id=1000, chain=INSTALLATION, seq=5, occurred_at=forged.occurred_at, action="x", details={},
        prev_hash=chain[-1].hash,
        hash=audit.event_hash(AuditEvent(seq=5, occurred_at=forged.occurred_at, action="x", details={}),
                              chain[-1].hash)))
    db.session.commit()
    report = audit.verify_chain()
    assert (report.problem.kind, report.problem.seq) == ("inserted", 5)


def test_rows_appended_behind_the_heads_back_are_reported(chain):
    # Appending a well-formed row without the head's knowledge is still caught.
    last = chain[-1]
    ghost = AuditEvent(chain=INSTALLATION, seq=5, occurred_at=last.occurred_at, action="auth.signin", details={},
                       prev_hash=last.hash)
    ghost.hash = audit.event_hash(ghost, ghost.prev_hash)
    db.session.add(ghost)
    db.session.commit()
    report = audit.verify_chain()
    assert report.problem.kind == "inserted"


def test_an_append_committed_while_verify_walks_is_no_break(chain, monkeypatch):
    # The head was read before the newest event and its head bump were committed (a writer
    # between verify's two reads): the walk sees one event more than that head recorded.
    real = audit.head_row
    stale = real(INSTALLATION)
    reads = []

    def head_row(name):
        reads.append(name)
        if name == INSTALLATION and reads.count(INSTALLATION) == 1:
            return SimpleNamespace(**{**stale._asdict(), "length": stale.length - 1})
        return real(name)

    monkeypatch.setattr(audit, "head_row", head_row)
    report = audit.verify_one(INSTALLATION)
    assert report.problem is None and report.length == stale.length


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


# --- one chain per agency ------------------------------------------------------------------------

@pytest.fixture
def chains(app, world):
    """Events of two agencies and of none, interleaved as their writers would commit them."""
    for n in range(3):
        audit.record("request.created", target_type="footage_request", target_id=n, agency_id=world.agency.id)
        audit.record("request.created", target_type="footage_request", target_id=10 + n,
                     agency_id=world.other_agency.id)
        db.session.commit()
    audit.record("auth.signin", target_type="user", target_id=world.owner.id)
    db.session.commit()
    return agency_chain(world.agency.id), agency_chain(world.other_agency.id)


def test_each_agency_has_its_own_chain_from_the_history_chains_final_hash(chains):
    ours, theirs = chains
    for chain, length in ((ours, 3), (theirs, 3), (INSTALLATION, 1)):
        events = _events(chain)
        assert [e.seq for e in events] == list(range(1, length + 1))
        assert events[0].prev_hash == GENESIS_HASH  # the history chain of a new installation is empty
        head = _head(chain)
        assert (head.length, head.last_hash, head.link_hash) == (length, events[-1].hash, GENESIS_HASH)
        assert head.agency_id == (None if chain == INSTALLATION else int(chain.split(":")[1]))
    assert audit.verify_chain().ok


def test_a_new_chain_links_to_a_non_empty_history(app, world):
    # A history chain as migration 0017 leaves one: two events, sealed.
    first = AuditEvent(chain=HISTORY, seq=1, occurred_at=audit.utcnow(), action="auth.signin", details={},
                       prev_hash=GENESIS_HASH)
    first.hash = audit.event_hash(first, GENESIS_HASH)
    second = AuditEvent(chain=HISTORY, seq=2, occurred_at=audit.utcnow(), action="audit.sealed",
                        agency_id=world.agency.id, details={}, prev_hash=first.hash)
    second.hash = audit.event_hash(second, first.hash)
    db.session.add_all([first, second])
    history = _head(HISTORY)
    history.length, history.last_hash = 2, second.hash
    db.session.commit()
    audit.record("request.created", agency_id=world.agency.id)
    db.session.commit()
    [event] = _events(agency_chain(world.agency.id))
    assert event.prev_hash == second.hash and _head(event.chain).link_hash == second.hash
    assert audit.verify_chain().ok
    # The link is verified: a chain whose recorded start is not the history's final hash is broken.
    _tamper("UPDATE audit_chain_head SET link_hash = :h WHERE chain = :c", h=GENESIS_HASH, c=event.chain)
    report = audit.verify_chain([event.chain])
    assert (report.problem.kind, report.problem.chain) == ("link", event.chain)
    # And so is the history's end: a rewritten history no longer matches the links of the chains after it.
    _tamper("UPDATE audit_chain_head SET link_hash = :h WHERE chain = :c", h=second.hash, c=event.chain)
    _tamper("UPDATE audit_chain_head SET last_hash = :h WHERE chain = 'history'", h=first.hash)
    broken = {r.chain: r.problem.kind for r in audit.verify_chain().chains if r.problem}
    assert broken == {HISTORY: "changed", event.chain: "link"}


def test_verify_checks_one_chain_or_every_chain(chains, world, runner):
    ours, theirs = chains
    _tamper(f"UPDATE audit_events SET target_id = 'forged' WHERE chain = '{theirs}' AND seq = 2")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"{ours}: 3 events, head {_head(ours).last_hash}: OK" in result.output
    assert f"{theirs}: 3 events" in result.output and "BROKEN at seq 2" in result.output
    assert f"audit chain BROKEN: {theirs} (4 chains checked)" in result.output
    # One agency's break is not another's: each chain verifies on its own.
    result = runner.invoke(args=["audit", "verify", "--agency", str(world.agency.id)])
    assert result.exit_code == 0 and ours in result.output and theirs not in result.output
    result = runner.invoke(args=["audit", "verify", "--installation"])
    assert result.exit_code == 0 and "installation: 1 events" in result.output
    assert "(1 chains, 1 events)" in result.output
    result = runner.invoke(args=["audit", "verify", "--history"])
    assert result.exit_code == 0 and "history: 0 events" in result.output
    result = runner.invoke(args=["audit", "verify", "--agency", str(world.other_agency.id)])
    assert result.exit_code == 1 and "kind=changed seq=2" in result.output


@pytest.mark.parametrize("args, said", [
    (["--agency", "424242"], "no agency with id 424242"),
    (["--agency", "0"], "0 is not in the range x>=1"),
    (["--agency", "x"], "'x' is not a valid integer"),
    (["--installation", "--history"], "choose one of --agency, --installation and --history"),
])
def test_verify_refuses_a_bad_choice_of_chain(app, runner, args, said):
    result = runner.invoke(args=["audit", "verify", *args])
    assert result.exit_code != 0 and said in result.output


def test_an_event_moved_to_another_agencys_chain_is_reported(chains):
    ours, theirs = chains
    # Moved to the end of the other chain, re-hashed there, its head brought along: the
    # agency it names (which the hash covers) gives it away.
    moved, head = _events(ours)[-1], _head(theirs)
    moved.chain, moved.seq, moved.prev_hash = theirs, 4, head.last_hash
    moved.hash = audit.event_hash(moved, moved.prev_hash)
    head.length, head.last_hash = 4, moved.hash
    db.session.commit()
    report = audit.verify_chain([ours, theirs])
    by_chain = {r.chain: r.problem for r in report.chains}
    assert by_chain[ours].kind == "deleted" and by_chain[ours].seq == 3
    assert (by_chain[theirs].kind, by_chain[theirs].seq, by_chain[theirs].event_id) == ("misplaced", 4, moved.id)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_writers_of_different_agencies_do_not_wait_on_each_other(app, world):
    # One agency's head row held (a writer of it in the middle of its commit): another
    # agency's writer commits at once; a writer of the same agency waits for it.
    require_postgresql()
    audit.record("request.created", agency_id=world.agency.id)
    db.session.commit()
    ours = agency_chain(world.agency.id)
    blocker = db.engine.connect()
    blocker.execute(sa.text("SELECT 1 FROM audit_chain_head WHERE chain = :c FOR UPDATE"), {"c": ours})
    outcomes = {}

    def write(agency_id: int) -> None:
        with app.app_context():
            db.session.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
            audit.record("request.created", agency_id=agency_id)
            try:
                db.session.commit()
                outcomes[agency_id] = "committed"
            except sa.exc.OperationalError as exc:
                outcomes[agency_id] = type(exc.orig).__name__
            db.session.remove()

    try:
        for agency_id in (world.other_agency.id, world.agency.id):
            thread = threading.Thread(target=write, args=(agency_id,))
            thread.start()
            thread.join()
    finally:
        blocker.rollback()
        blocker.close()
    assert outcomes == {world.other_agency.id: "committed", world.agency.id: "LockNotAvailable"}
    db.session.expire_all()
    assert audit.verify_chain().ok and _head(ours).length == 1


def _history(*agency_ids) -> list[AuditEvent]:
    """A sealed history chain as migration 0017 leaves one: an event of each agency given."""
    prev, events = GENESIS_HASH, []
    for seq, agency_id in enumerate(agency_ids, start=1):
        event = AuditEvent(chain=HISTORY, seq=seq, occurred_at=audit.utcnow(), action="request.created",
                           target_type="footage_request", target_id=str(500 + seq), agency_id=agency_id,
                           details={"case_number": f"H-{agency_id}-{seq}"}, prev_hash=prev)
        event.hash = prev = audit.event_hash(event, prev)
        events.append(event)
    db.session.add_all(events)
    history = _head(HISTORY)
    history.length, history.last_hash = len(events), prev
    db.session.commit()
    return events


def test_the_supervisors_viewer_shows_the_agencys_chain_and_its_history(app, world):
    from tests.conftest import signed_in

    old_ours, old_theirs = _history(world.agency.id, world.other_agency.id)
    client = signed_in(app, world.supervisor)  # the sign-in: the first event of the agency's chain
    audit.record("hold.placed", target_type="evidence_hold", target_id=1, agency_id=world.agency.id)
    db.session.commit()
    page = client.get("/api/agency/audit").json
    assert [(e["chain"], e["seq"], e["action"]) for e in page["events"]] == [
        (agency_chain(world.agency.id), 2, "hold.placed"), (agency_chain(world.agency.id), 1, "auth.signin"),
        (HISTORY, 1, "request.created")]
    status = client.get("/api/agency/audit/verification").json
    ours, history = status["chains"]
    assert (ours["kind"], ours["length"], ours["link_hash"], ours["ok"]) == ("agency", 2, old_theirs.hash, True)
    assert (history["kind"], history["length"], history["last_hash"], history["sealed"]) == (
        "history", 2, old_theirs.hash, True)
    assert status["ok"] and status["events_checked"] == 4

    # A break in another agency's history event shows by its position only.
    _tamper("UPDATE audit_events SET details = :d WHERE id = :id", d='{"case_number": "rewritten"}', id=old_theirs.id)
    status = client.get("/api/agency/audit/verification").json
    assert status["ok"] is False and status["chains"][0]["ok"] is True
    problem = status["chains"][1]["problem"]
    assert problem == status["problem"]
    assert (problem["chain"], problem["seq"], problem["in_your_agency"], problem["event_id"]) == (
        HISTORY, 2, False, None)
    assert "rewritten" not in json.dumps(status) and "H-" not in json.dumps(status)
    # The CSV says which chain each event is in.
    rows = client.get("/api/agency/audit.csv").get_data(as_text=True).splitlines()
    assert rows[0].endswith(",chain") and rows[1].endswith(",history") and old_ours.hash in rows[1]
