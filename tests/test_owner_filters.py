"""Owners' filters (auto-declines nobody is told of, indistinguishable to officers) and the yearly
re-confirmation of cameras, through the API on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.cameras.models import Camera, CameraStatus
from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState, OwnerFilter
from app.footage.purpose import DEFAULT_OFFENSE_CATEGORIES
from app.jobs import tick
from app.notifications import dispatcher
from app.notifications.models import MailMessage, Notification
from app.transparency import service as transparency
from tests import factories
from tests.conftest import signed_in

LAT, LON = 43.0389, -87.9065


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    # Notifications are recorded as in production; nothing is handed to a queue.
    monkeypatch.setattr(dispatcher, "enqueue", lambda ids: None)


def draft(**changes) -> dict:
    now = utcnow()
    return {"latitude": LAT, "longitude": LON, "radius_m": 300, "window_start": (now - timedelta(hours=3)).isoformat(),
            "window_end": (now - timedelta(hours=2)).isoformat(), "case_number": "2026-017017",
            "incident_type": "burglary", "summary": "Break-in at the corner store; looking for people on foot.",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            **changes}


def issue(client, **changes) -> dict:
    response = client.post("/api/requests", json=draft(**changes))
    assert response.status_code == 201, response.json
    return response.json


def owner_with_camera(world, label: str, **filters):
    owner = factories.user(Role.OWNER)
    factories.membership(owner, world.agency)
    factories.membership(owner, world.other_agency)
    factories.camera(owner, LAT, LON, shared_with=[world.agency], label=label)
    if filters:
        db.session.add(OwnerFilter(user_id=owner.id, **{"declined_categories": [], **filters}))
    db.session.commit()
    return owner


def actions(prefix: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%"))
                                   .order_by(AuditEvent.id)))


def test_owner_sets_filters_and_mistakes_are_named(app, world, as_owner):
    assert as_owner.get("/api/me/filters").json == {
        "declined_categories": [], "agency_ids": None, "max_footage_age_days": None, "paused_until": None,
        "paused": False, "agencies": [{"id": world.agency.id, "name": world.agency.name}],
        "categories": [{"key": c["key"], "label": c["label"]} for c in DEFAULT_OFFENSE_CATEGORIES]}
    until = (utcnow() + timedelta(days=10)).isoformat()
    changed = as_owner.patch("/api/me/filters", json={
        "declined_categories": ["theft", "theft", "arson"], "agency_ids": [world.agency.id],
        "max_footage_age_days": 7, "paused_until": until})
    assert changed.status_code == 200, changed.json
    assert changed.json["declined_categories"] == ["arson", "theft"] and changed.json["paused"] is True
    assert changed.json["agency_ids"] == [world.agency.id] and changed.json["max_footage_age_days"] == 7
    # Only the fields given change; null clears one.
    assert as_owner.patch("/api/me/filters", json={"paused_until": None}).json["paused"] is False
    assert as_owner.get("/api/me/filters").json["max_footage_age_days"] == 7
    for body, field in (({"agency_ids": [world.other_agency.id]}, "agency_ids"),  # not joined
                        ({"agency_ids": []}, "agency_ids"),
                        ({"paused_until": (utcnow() - timedelta(hours=1)).isoformat()}, "paused_until"),
                        ({"paused_until": (utcnow() + timedelta(days=400)).isoformat()}, "paused_until"),
                        ({"max_footage_age_days": 0}, "max_footage_age_days"),
                        ({"declined_categories": ["Not a key!"]}, "declined_categories.0"),
                        ({"declined_categories": ["jaywalking"]}, "declined_categories")):  # in no taxonomy
        refused = as_owner.patch("/api/me/filters", json=body)
        assert refused.status_code == 422 and field in refused.json["error"]["fields"], (body, refused.json)
    assert [e.details["changed"].keys() for e in actions("owner.filters_changed")] == [
        {"declined_categories", "agency_ids", "max_footage_age_days", "paused_until"}, {"paused_until"}]
    assert signed_in(app, world.officer).get("/api/me/filters").status_code == 403
    # The owner's export holds them; leaving the only agency chosen answers every agency again.
    assert as_owner.get("/api/me/export").json["filters"]["agency_ids"] == [world.agency.id]
    assert as_owner.post(f"/api/me/agencies/{world.agency.id}/leave").status_code == 200
    assert as_owner.get("/api/me/filters").json["agency_ids"] is None


def test_filters_decline_untold_and_officers_see_only_declines(app, world, as_officer):
    fresh = utcnow()
    caught = {
        "paused": owner_with_camera(world, "Paused", paused_until=fresh + timedelta(days=3)),
        "agency": owner_with_camera(world, "Other agency only", agency_ids=[world.other_agency.id]),
        "category": owner_with_camera(world, "No burglaries", declined_categories=["burglary"]),
        "age": owner_with_camera(world, "Fresh only", max_footage_age_days=1),
    }
    # Filters that do not catch this request: it is asked as usual.
    passes = owner_with_camera(world, "Open", agency_ids=[world.agency.id], max_footage_age_days=30,
                               declined_categories=["vandalism"], paused_until=fresh - timedelta(minutes=1))
    request = issue(as_officer, window_start=(fresh - timedelta(days=2)).isoformat(),
                    window_end=(fresh - timedelta(days=2) + timedelta(hours=1)).isoformat())
    asks = {a.owner_id: a for a in db.session.scalars(sa.select(Ask).where(Ask.request_id == request["id"]))}
    assert asks[passes.id].state == AskState.QUEUED and asks[passes.id].filter_rule is None
    for rule, owner in caught.items():
        ask = asks[owner.id]
        assert (ask.state, ask.answered_via, ask.filter_rule) == (AskState.DECLINED, "filter", rule)
    declined_ids = [asks[o.id].id for o in caught.values()]
    # Never notified: the only notifications are the open ask's.
    assert set(db.session.scalars(sa.select(Notification.ask_id))) == {asks[passes.id].id}
    # The officer cannot tell a filter's decline from a typed one, nor when: at first they wait like any ask...
    assert request["counts"]["declined"] == 0 and request["counts"]["notified"] == 4
    assert request["counts"]["queued"] == 1
    # Nor does asking them again at once give them away: a re-ask of a decliner needs a supervisor's
    # approval only once the decline shows.
    assert issue(as_officer, case_number="2026-017020")["status"] == "active"
    # ... and once their (randomised) time has come they are declines like any other.
    db.session.execute(sa.update(Ask).where(Ask.id.in_(declined_ids))
                       .values(responded_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    counts = as_officer.get(f"/api/requests/{request['id']}").json["counts"]
    assert counts["declined"] == 4 and counts["notified"] == 0
    # The public report counts them the same way (the second request's still wait for their time).
    month = transparency.report(world.agency.slug)["months"][-1]
    assert (month["declined"], month["open"], month["answered"]) == (4, 4 + 2, 4)
    # Nothing in the agency's audit log names the filter; the installation's chain keeps the record.
    agency_events = actions("")
    assert not [e for e in agency_events if e.agency_id == world.agency.id and "filter" in str(e.details)]
    record = actions("asks.declined_by_filters")
    assert len(record) == 2 and record[0].agency_id is None and record[0].actor_id is None
    assert sorted(sum(record[0].details["asks"].values(), [])) == sorted(declined_ids)
    # The owner sees it in the inbox, declined by their filter when the request came.
    inbox = signed_in(app, caught["category"]).get("/api/asks").json
    seen = [(a["state"], a["answered_via"], a["filter_rule"]) for a in inbox]
    assert seen == [("declined", "filter", "category")] * 2
    assert inbox[0]["responded_at"] == inbox[0]["created_at"] and inbox[0]["actions"] == []


def test_pause_everything_ends_by_itself_at_its_date(app, world, as_officer):
    owner = owner_with_camera(world, "Away", paused_until=utcnow() + timedelta(hours=1))
    first = issue(as_officer)
    assert db.session.scalar(sa.select(Ask.filter_rule).where(Ask.request_id == first["id"])) == "paused"
    tick(utcnow() + timedelta(hours=2))
    assert db.session.get(OwnerFilter, owner.id).paused_until is None
    assert [e.target_id for e in actions("owner.pause_ended")] == [str(owner.id)]
    later = utcnow() - timedelta(hours=6)
    second = issue(as_officer, case_number="2026-017018", window_start=later.isoformat(),
                   window_end=(later + timedelta(hours=1)).isoformat())
    assert db.session.scalar(sa.select(Ask.state).where(Ask.request_id == second["id"])) == AskState.QUEUED


def test_unconfirmed_camera_pauses_with_notice_and_confirming_resumes_it(app, world, as_officer):
    owner = factories.user(Role.OWNER, email="yearly@example.com", email_verified_at=utcnow())
    factories.membership(owner, world.agency)
    camera = factories.camera(owner, LAT, LON, shared_with=[world.agency], label="Side door",
                              confirmed_at=utcnow() - timedelta(days=366))
    kept = factories.camera(owner, LAT, LON, shared_with=[world.agency], label="Front")
    db.session.commit()
    now = utcnow()
    tick(now)
    db.session.expire_all()
    assert db.session.get(Camera, camera.id).confirm_requested_at is not None
    assert db.session.get(Camera, kept.id).confirm_requested_at is None
    asked = db.session.scalars(sa.select(MailMessage).where(MailMessage.user_id == owner.id)).one()
    assert "Side door" in asked.body_text and "/#/cameras" in asked.body_text
    link = asked.body_text.split("with this link:\n")[1].split()[0]
    page = app.test_client().get(link)
    assert page.status_code == 200 and "Side door" in page.text and "Front" not in page.text
    client = signed_in(app, owner)
    shown = client.get(f"/api/cameras/{camera.id}").json
    assert shown["status"] == "active" and shown["confirm_by"] is not None
    # A month later, still unconfirmed: paused, and the owner told how to resume.
    tick(now + timedelta(days=31))
    db.session.expire_all()
    assert (db.session.get(Camera, camera.id).status, db.session.get(Camera, camera.id).pause_reason) == (
        CameraStatus.PAUSED, "unconfirmed")
    notices = list(db.session.scalars(sa.select(MailMessage.body_text).where(MailMessage.user_id == owner.id)))
    assert len(notices) == 2 and "paused" in notices[1] and "Confirm" in notices[1]
    request = issue(as_officer)
    assert request["asks_total"] == 1  # the paused camera is not asked; the confirmed one is
    # The e-mailed link's button confirms that round's cameras, which resume.
    done = app.test_client().post(link)
    assert done.status_code == 200 and "Side door" in done.text
    assert client.get(f"/api/cameras/{camera.id}").json["status"] == "active"
    assert "Nothing to confirm" in app.test_client().post(link).text  # that round is over
    # One tap in the app confirms too: the clock restarts, a year before it is asked again.
    confirmed = client.post(f"/api/cameras/{camera.id}/confirm")
    assert confirmed.status_code == 200
    assert (confirmed.json["status"], confirmed.json["pause_reason"], confirmed.json["confirm_by"]) == (
        "active", None, None)
    assert issue(as_officer, case_number="2026-017019", window_start=(now - timedelta(hours=9)).isoformat(),
                 window_end=(now - timedelta(hours=8)).isoformat())["asks_total"] == 2
    assert [(e.action, e.details.get("via")) for e in actions("camera.")] == [
        ("camera.confirmation_requested", None), ("camera.paused", None), ("camera.confirmed", "email"),
        ("camera.confirmed", "app")]
    assert actions("camera.paused")[0].details == {"reason": "unconfirmed"}
    assert app.test_client().get(link[:-2] + "xx").status_code == 404  # an altered link
    # An owner who paused a camera that then fell due confirms it by resuming it (or it would pause again).
    assert client.post(f"/api/cameras/{kept.id}/pause").status_code == 200
    db.session.execute(sa.update(Camera).where(Camera.id == kept.id).values(confirm_requested_at=now))
    db.session.commit()
    resumed = client.post(f"/api/cameras/{kept.id}/resume").json
    assert (resumed["status"], resumed["confirm_requested_at"]) == ("active", None)
    assert client.post(f"/api/cameras/{kept.id + 1000}/confirm").status_code == 404


def test_a_text_reply_confirms_the_cameras_due(sms_app, twilio):
    from tests.peers import scenario
    from tests.test_sms import inbound, reply_text

    owner = scenario.owner(phone=scenario.phone_number(), language="es")
    camera = factories.camera(owner, LAT, LON, label="Patio", confirmed_at=utcnow() - timedelta(days=400))
    db.session.commit()
    tick(utcnow())
    [asked] = twilio.to(owner.phone)
    assert "responda CONFIRMAR" in asked.body  # the owner's language, its keyword
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "confirmar"))
    assert "1 camara confirmada" in reply
    db.session.expire_all()
    assert db.session.get(Camera, camera.id).confirm_requested_at is None
    assert actions("camera.confirmed")[0].details == {"resumed": False, "via": "sms"}
    assert "ninguna" in reply_text(inbound(sms_app.test_client(), owner.phone, "CONFIRMAR"))
