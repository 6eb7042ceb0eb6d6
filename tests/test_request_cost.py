"""What the owner's two busiest calls ask of the database, statement by statement.

Tens of thousands of owners open the inbox and approve within a minute of a request
going out (bench/surge.py); each round trip a call makes, and each one made while the
agency's audit head row is locked, is paid by all of them. These hold the counts
bench/request_cpu.py reports: an approval is one transaction that takes the head row's
lock only for its last statements, and an owner's first call in a while writes "last
seen" without reading their account a second time.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from app.accounts.models import UserSession
from app.audit.service import verify_chain
from app.db import utcnow
from app.extensions import db
from app.footage.models import AskState
from tests import factories


@contextmanager
def steps(app):
    """Every statement (its text, on one line), commit and rollback the app's engine runs meanwhile."""
    seen: list[str] = []
    engine = db.engine

    def statement(_conn, _cursor, text, *_args):
        seen.append(" ".join(text.split()))

    def commit(_conn):
        seen.append("COMMIT")

    def rollback(_conn):
        seen.append("ROLLBACK")

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "commit", commit)
    sa.event.listen(engine, "rollback", rollback)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "commit", commit)
        sa.event.remove(engine, "rollback", rollback)


def test_an_approval_is_one_transaction_and_locks_the_audit_head_last(app, world, as_owner):
    camera = factories.camera(world.owner, shared_with=[world.agency])
    first, ask = (factories.ask(factories.footage_request(world.agency, world.officer), camera,
                                state=AskState.NOTIFIED) for _ in range(2))
    db.session.commit()
    ask_id = ask.id
    # The agency's chain has its head row, and "last seen" is fresh: the session lookup only reads.
    assert as_owner.post(f"/api/asks/{first.id}/approve").status_code == 200
    db.session.close()  # nothing of the test's own in what is counted

    with steps(app) as seen:
        answer = as_owner.post(f"/api/asks/{ask_id}/approve")
    assert answer.status_code == 200 and answer.json["state"] == "approved"
    # One transaction: the answer's document is read before its commit, not in a second one.
    assert seen.count("COMMIT") == 1 and seen[-1] == "COMMIT" and "ROLLBACK" not in seen, seen
    # The head row is locked by its UPDATE ... RETURNING, then only the new hash, the event and the commit.
    bump = next(i for i, step in enumerate(seen) if step.startswith("UPDATE audit_chain_head SET length"))
    assert [step.split()[0:3] for step in seen[bump + 1:]] == [
        ["UPDATE", "audit_chain_head", "SET"], ["INSERT", "INTO", "audit_events"], ["COMMIT"]], seen
    # Session, the ask with its request (locked; SQLite's lock is an UPDATE first), the answer, its document.
    before_lock = [step for step in seen[:bump] if not step.startswith("UPDATE asks SET id")]
    assert len(before_lock) == 4, seen
    assert verify_chain().ok


def test_the_first_call_in_a_while_writes_last_seen_and_reads_the_account_once(app, world, as_owner):
    owner_id = world.owner.id
    for record in db.session.scalars(sa.select(UserSession).where(UserSession.user_id == owner_id)):
        record.last_seen_at -= timedelta(hours=1)
    db.session.commit()
    db.session.close()

    with steps(app) as seen:
        assert as_owner.get("/api/asks").status_code == 200
    reads_of_the_account = [step for step in seen if re.search(r"\b(FROM|JOIN) users\b", step)]
    touches = [step for step in seen if step.startswith("UPDATE user_sessions")]
    assert len(touches) == 1 and seen.count("COMMIT") == 1, seen
    assert len(reads_of_the_account) <= 1, seen
    # The session lookup, the touch (and its commit), the inbox.
    assert len([step for step in seen if step not in ("COMMIT", "ROLLBACK")]) == 3, seen
    db.session.expire_all()
    stamps = db.session.scalars(sa.select(UserSession.last_seen_at).where(UserSession.user_id == owner_id))
    assert all(stamp > utcnow() - timedelta(minutes=1) for stamp in stamps)
