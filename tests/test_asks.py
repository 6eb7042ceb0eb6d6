"""The ask state machine (app.footage.asks): every legal move is audited, every illegal
one is a 409 that changes nothing, and a decision taken on a stale read never
overwrites what another process wrote."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.errors import ApiError
from app.extensions import db
from app.footage import asks
from app.footage.models import Ask, AskState
from tests import factories

S = AskState


@pytest.fixture
def make_ask(world):
    camera = factories.camera(world.owner, shared_with=[world.agency])

    def make(state: AskState) -> Ask:
        ask = factories.ask(factories.footage_request(world.agency, world.officer), camera, state=state)
        db.session.commit()
        return ask

    return make


def ask_events(ask: Ask) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.target_type == "ask", AuditEvent.target_id == str(ask.id)).order_by(AuditEvent.seq)))


def _write_elsewhere(ask: Ask, state: AskState) -> None:
    """Another process changes the ask; this session still holds the old state."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(Ask.__table__).where(Ask.__table__.c.id == ask.id).values(state=state))


ALL = [(before, to) for before in S for to in S]


@pytest.mark.one_database
@pytest.mark.parametrize("before, to", [(b, t) for b, t in ALL if t in asks.TRANSITIONS[b]],
                         ids=lambda s: s.value)
def test_legal_moves_are_made_and_audited(make_ask, world, before, to):
    ask = make_ask(before)
    asks.transition(ask, to, actor=world.owner, via="app")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == to
    [event] = ask_events(ask)
    assert event.action == f"ask.{to.value}"
    assert event.details["from"] == before.value and event.agency_id == world.agency.id


@pytest.mark.one_database
@pytest.mark.parametrize("before, to", [(b, t) for b, t in ALL if t not in asks.TRANSITIONS[b]],
                         ids=lambda s: s.value)
def test_illegal_moves_are_409_and_change_nothing(make_ask, before, to):
    ask = make_ask(before)
    with pytest.raises(ApiError) as refused:
        asks.transition(ask, to)
    assert refused.value.status_code == 409
    assert refused.value.extra_data["code"] == "illegal_transition"
    db.session.rollback()
    assert db.session.get(Ask, ask.id).state == before
    assert ask_events(ask) == []


def test_timestamps_follow_the_state(make_ask, world):
    ask = make_ask(S.QUEUED)
    asks.mark_notified(ask)
    asks.mark_seen(ask, world.owner)
    asks.answer(ask, world.owner, "approve", via="sms")
    asks.start_upload(ask, world.owner)
    asks.deliver(ask)
    db.session.commit()
    db.session.expire_all()
    ask = db.session.get(Ask, ask.id)
    assert ask.notified_at <= ask.seen_at <= ask.responded_at <= ask.delivered_at == ask.closed_at
    assert ask.answered_via == "sms"
    assert [e.action for e in ask_events(ask)] == ["ask.notified", "ask.seen", "ask.approved", "ask.uploading",
                                                   "ask.delivered"]


def test_conditional_moves_leave_other_states_alone(make_ask, world):
    ask = make_ask(S.SEEN)
    assert asks.mark_notified(ask).state == S.SEEN
    assert asks.mark_seen(ask, world.owner).state == S.SEEN
    assert asks.start_upload(ask).state == S.SEEN
    assert asks.deliver(ask).state == S.SEEN
    declined = make_ask(S.DECLINED)
    assert asks.cancel(declined).state == S.DECLINED
    assert asks.expire(declined).state == S.DECLINED
    assert ask_events(ask) == ask_events(declined) == []


def test_a_stale_notified_never_overwrites_an_answer(make_ask):
    ask = make_ask(S.QUEUED)
    _write_elsewhere(ask, S.APPROVED)  # the owner approved while the worker was sending
    asks.mark_notified(ask)           # the worker still believes the ask is queued
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == S.APPROVED
    assert ask_events(ask) == []


def test_a_stale_answer_is_decided_again_on_the_fresh_state(make_ask, world):
    ask = make_ask(S.SEEN)
    _write_elsewhere(ask, S.CANCELLED)  # the officer cancelled meanwhile
    with pytest.raises(ApiError) as refused:
        asks.answer(ask, world.owner, "approve", via="app")
    assert refused.value.status_code == 409 and "cancelled" in refused.value.message
    db.session.rollback()
    assert db.session.get(Ask, ask.id).state == S.CANCELLED


def test_a_stale_cancel_still_cancels_from_the_fresh_state(make_ask, world):
    ask = make_ask(S.QUEUED)
    _write_elsewhere(ask, S.APPROVED)
    asks.cancel(ask, world.officer)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == S.CANCELLED
    [event] = ask_events(ask)
    assert event.details["from"] == "approved" and event.actor_id == world.officer.id
