"""The owner's inbox (GET /api/asks) answers exactly what its documented schema, AskOut,
would: app/footage/inbox.py builds it from plain rows for speed, and this holds the two
to each other for asks in every state, with and without a camera, paged."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState, FootageRequest, LegalBasis
from app.footage.schemas import AskOut
from tests import factories


def _documented(owner_id: int, ids: list[int]) -> list[dict]:
    """What the schema makes of the same asks, loaded as ORM objects, newest first."""
    asks = db.session.scalars(sa.select(Ask).where(Ask.owner_id == owner_id, Ask.id.in_(ids))
                              .order_by(Ask.id.desc()))
    return AskOut(many=True).dump(list(asks))


def test_the_inbox_is_what_askout_documents(app, world, as_owner):
    camera = factories.camera(world.owner, shared_with=[world.agency], label="Back gate")
    now = utcnow()
    ids = []
    for n, state in enumerate(AskState):
        # Legal bases and categories as owners read them: a warrant's court, an agency's own category.
        purpose = ({"legal_basis": LegalBasis.WARRANT, "warrant_number": "W-26-1", "warrant_court": "Circuit Court"}
                   if n == 1 else {"offense_category": "graffiti", "offense_category_label": "Graffiti"} if n == 2
                   else {"legal_basis": LegalBasis.EXIGENT, "exigent_reason": "A child is missing"} if n == 3 else {})
        request = factories.footage_request(world.agency, world.officer, case_number=f"2026-INBOX-{n}",
                                            expires_at=None if n == 0 else now + timedelta(hours=n), **purpose)
        extra = {}
        if state in (AskState.SEEN, AskState.APPROVED, AskState.DECLINED):
            extra["seen_at"] = now - timedelta(minutes=n)
        if state in (AskState.APPROVED, AskState.DECLINED, AskState.NO_FOOTAGE):
            extra.update(responded_at=now - timedelta(seconds=n), answered_via="sms")
        if state == AskState.DECLINED:
            extra["decline_reason"] = "Nothing on that side of the house, sorry — ünïcode too"
        ask = factories.ask(request, camera, state=state, distance_m=12.5 + n, **extra)
        ids.append(ask.id)
    # An ask whose camera has since been deleted keeps its label and loses its id.
    gone = factories.ask(factories.footage_request(world.agency, world.officer), camera, state=AskState.EXPIRED)
    gone.camera_id = None
    ids.append(gone.id)
    # Someone else's ask never shows.
    other_camera = factories.camera(world.other_owner, shared_with=[world.other_agency])
    factories.ask(factories.footage_request(world.other_agency, world.other_officer), other_camera)
    db.session.commit()

    answer = as_owner.get("/api/asks")
    assert answer.status_code == 200
    assert answer.json == _documented(world.owner.id, ids)
    assert len(answer.json) == len(ids)
    assert {a["state"] for a in answer.json} == {s.value for s in AskState}
    assert {(a["legal_basis"], a["warrant_court"], a["offense_category_label"]) for a in answer.json} == {
        ("voluntary", None, "Other"), ("warrant", "Circuit Court", "Other"), ("voluntary", None, "Graffiti"),
        ("exigent", None, "Other")}
    assert [a for a in answer.json if a["state"] == "notified"][0]["actions"] == ["approve", "decline", "no_footage"]

    page = as_owner.get("/api/asks?limit=3").json
    assert page == _documented(world.owner.id, ids)[:3]
    rest = as_owner.get(f"/api/asks?before_id={page[-1]['id']}&limit=100").json
    assert page + rest == answer.json


def test_an_empty_inbox_is_an_empty_list(as_owner):
    response = as_owner.get("/api/asks")
    assert response.status_code == 200 and response.json == []
    assert response.mimetype == "application/json"


def test_requests_of_every_agency_the_owner_joined_show(app, world, as_owner):
    factories.membership(world.owner, world.other_agency)
    camera = factories.camera(world.owner, shared_with=[world.agency, world.other_agency])
    mine = factories.ask(factories.footage_request(world.agency, world.officer), camera)
    theirs = factories.ask(factories.footage_request(world.other_agency, world.other_officer), camera)
    db.session.commit()
    names = {a["id"]: a["agency_name"] for a in as_owner.get("/api/asks").json}
    assert names == {mine.id: world.agency.name, theirs.id: world.other_agency.name}
    assert db.session.get(FootageRequest, mine.request_id).agency_id == world.agency.id


def test_answers_return_the_ask_as_askout_documents(app, world, as_owner):
    camera = factories.camera(world.owner, shared_with=[world.agency])
    asks = [factories.ask(factories.footage_request(world.agency, world.officer), camera, state=AskState.NOTIFIED)
            for _ in range(3)]
    db.session.commit()
    answers = [as_owner.post(f"/api/asks/{asks[0].id}/approve"),
               as_owner.post(f"/api/asks/{asks[1].id}/decline", json={"reason": "Not that night"}),
               as_owner.post(f"/api/asks/{asks[2].id}/no-footage")]
    assert [a.status_code for a in answers] == [200, 200, 200]
    for answer, ask in zip(answers, asks, strict=True):
        assert answer.json == _documented(world.owner.id, [ask.id])[0]
    assert [a.json["state"] for a in answers] == ["approved", "declined", "no_footage"]
    assert answers[1].json["decline_reason"] == "Not that night"
    # Another owner's ask, or none, is a 404 and changes nothing.
    other_camera = factories.camera(world.other_owner, shared_with=[world.other_agency])
    theirs = factories.ask(factories.footage_request(world.other_agency, world.other_officer), other_camera,
                           state=AskState.NOTIFIED)
    db.session.commit()
    for ask_id in (theirs.id, 10**6, 2**63):
        assert as_owner.post(f"/api/asks/{ask_id}/approve").status_code == 404
    db.session.refresh(theirs)
    assert theirs.state == AskState.NOTIFIED
