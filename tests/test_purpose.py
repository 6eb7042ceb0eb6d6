"""Purpose and legal basis of requests, the agency's taxonomy and prohibited purposes, what owners
read of them, how the transparency report counts them, and re-asks held for a supervisor."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import sqlalchemy as sa

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.footage import purpose
from app.footage.matching import match_cameras
from app.footage.models import Ask, AskState, FootageRequest, LegalBasis
from app.notifications import ask_mail
from tests import factories
from tests.test_footage import LAT, LON, body, count, create, created, invalid, shared_camera


def _event(action: str) -> AuditEvent:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id.desc())).first()


def test_a_request_states_its_legal_basis_category_and_affirmation(as_officer, world):
    made = created(as_officer, legal_basis="warrant", warrant_number=" W-2026-118 ", warrant_court="Circuit Court",
                   offense_category="vehicle_theft")
    assert (made["legal_basis"], made["warrant_number"], made["warrant_court"], made["exigent_reason"]) == (
        "warrant", "W-2026-118", "Circuit Court", None)
    assert (made["offense_category"], made["offense_category_label"]) == ("vehicle_theft", "Vehicle theft")
    assert made["prohibited_purposes_affirmed"] == list(purpose.DEFAULT_PROHIBITED_PURPOSES)
    assert made["affirmed_at"] is not None
    details = _event("request.created").details
    assert (details["legal_basis"], details["warrant_number"], details["offense_category"]) == (
        "warrant", "W-2026-118", "vehicle_theft")
    assert details["prohibited_purposes_affirmed"] == list(purpose.DEFAULT_PROHIBITED_PURPOSES)

    # Each refusal names the field; nothing is written.
    cases = [
        ({"legal_basis": None}, "legal_basis"),
        ({"legal_basis": "subpoena"}, "legal_basis"),
        ({"legal_basis": "warrant", "warrant_number": "W-1"}, "warrant_court"),
        ({"legal_basis": "exigent"}, "exigent_reason"),
        ({"legal_basis": "voluntary", "warrant_number": "W-1"}, "warrant_number"),
        ({"offense_category": "jaywalking"}, "offense_category"),
        ({"affirm_no_prohibited_purpose": False}, "affirm_no_prohibited_purpose"),
        ({"affirm_no_prohibited_purpose": None}, "affirm_no_prohibited_purpose"),
    ]
    for changes, field in cases:
        payload = {k: v for k, v in body(**changes).items() if v is not None}
        response = as_officer.post("/api/requests", json=payload)
        assert field in invalid(response), (changes, response.json)
        assert field in response.json["error"]["message"]
    assert count(FootageRequest) == 1


def test_supervisors_edit_the_taxonomy_and_prohibited_purposes(as_officer, as_supervisor, world):
    policy = as_officer.get("/api/agency/policy").json
    assert policy["offense_categories"] == [dict(c) for c in purpose.DEFAULT_OFFENSE_CATEGORIES]
    assert policy["prohibited_purposes"] == list(purpose.DEFAULT_PROHIBITED_PURPOSES)
    mine = {"offense_categories": [{"key": "graffiti", "label": "Graffiti"}, {"key": "other", "label": "Other"}],
            "prohibited_purposes": ["Enforcing civil immigration law."]}
    assert as_officer.patch("/api/agency/policy", json=mine).status_code == 403
    twice = {"offense_categories": [{"key": "other", "label": "Other"}, {"key": "other", "label": "Misc"}]}
    assert "offense_categories" in invalid(as_supervisor.patch("/api/agency/policy", json=twice))
    assert "offense_categories.0.key" in invalid(as_supervisor.patch("/api/agency/policy", json={
        "offense_categories": [{"key": "Not A Key", "label": "x"}]}))
    changed = as_supervisor.patch("/api/agency/policy", json=mine)
    assert changed.status_code == 200, changed.json
    assert {k: changed.json[k] for k in mine} == mine
    assert set(_event("policy.updated").details) == {"offense_categories", "prohibited_purposes"}

    assert "offense_category" in invalid(create(as_officer, offense_category="burglary"))
    made = created(as_officer, offense_category="graffiti")
    assert made["offense_category_label"] == "Graffiti"
    assert made["prohibited_purposes_affirmed"] == ["Enforcing civil immigration law."]


def test_owners_read_the_legal_basis_and_category_in_their_language(app, as_owner, world):
    camera = shared_camera(world)
    request = factories.footage_request(world.agency, world.officer, legal_basis=LegalBasis.WARRANT,
                                        warrant_number="W-SEALED-9", warrant_court="Circuit Court",
                                        offense_category="hit_and_run", offense_category_label="Hit and run")
    ask = factories.ask(request, camera, state=AskState.NOTIFIED)
    db.session.commit()
    seen = as_owner.get(f"/api/asks/{ask.id}", headers={"Accept-Language": "es"}).json
    inbox = as_owner.get("/api/asks", headers={"Accept-Language": "es"}).json[0]
    for view in (seen, inbox):
        assert (view["legal_basis"], view["warrant_court"], view["offense_category"]) == (
            "warrant", "Circuit Court", "hit_and_run")
        assert "W-SEALED-9" not in str(view)  # a warrant may be sealed: its number stays with staff
    # The owner saved no language: the browser's, Spanish, applies.
    assert seen["offense_category_label"] == "Choque con fuga"
    assert seen["legal_basis_text"] == "Orden judicial emitida por Circuit Court"
    with app.test_request_context(headers={"Accept-Language": "es"}):
        mail = ask_mail.ask_mail("request", ask, request, world.agency, "owner@example.org")
    assert "Tipo de delito: Choque con fuga" in mail.text
    assert "Base legal: Orden judicial emitida por Circuit Court" in mail.text


def test_the_report_counts_legal_basis_and_category_with_small_cells_suppressed(client, world):
    made = ([("voluntary", "burglary")] * 7 + [("warrant", "theft")] * 5 + [("exigent", "robbery")]
            + [("exigent", "arson")])
    for basis, key in made:
        label = next(c["label"] for c in purpose.DEFAULT_OFFENSE_CATEGORIES if c["key"] == key)
        factories.footage_request(world.agency, world.officer, legal_basis=LegalBasis(basis), offense_category=key,
                                  offense_category_label=label)
    factories.footage_request(world.other_agency, world.other_officer, legal_basis=LegalBasis.EXIGENT)
    db.session.commit()
    report = client.get(f"/api/public/agencies/{world.agency.slug}/report").json
    # Independently: voluntary 7, warrant 5, exigent 2. Exigent is under 5 and alone, so the next
    # smallest (warrant) is withheld with it: the total would give it back otherwise.
    assert [(c["key"], c["requests"], c["suppressed"]) for c in report["purposes"]["legal_basis"]] == [
        ("voluntary", 7, False), ("warrant", None, True), ("exigent", None, True)]
    categories = {c["key"]: (c["requests"], c["suppressed"]) for c in report["purposes"]["offense_categories"]}
    # Two small cells (robbery 1, arson 1) would add up to 2 by subtraction (so each 1): the next
    # smallest (theft) is withheld with them; zeros are shown.
    assert categories["burglary"] == (7, False) and categories["theft"] == (None, True)
    assert categories["robbery"] == categories["arson"] == (None, True)
    assert categories["homicide"] == (0, False)
    assert sum(m["requests"] for m in report["months"]) == len(made)
    text = client.get(f"/api/public/agencies/{world.agency.slug}/report.csv?table=purposes").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"table": "legal_basis", "key": "warrant", "name": "warrant", "requests": ""} in rows
    assert {"table": "offense_categories", "key": "burglary", "name": "Burglary", "requests": "7"} in rows


def test_which_earlier_answers_make_a_re_ask(app, world):
    """Only the same camera and owner, a refusal (declined, or expired unanswered), an overlapping
    window of the same agency, asked within 30 days."""
    now = utcnow()
    member = factories.user(Role.OWNER)
    factories.membership(member, world.agency)
    cameras = {name: shared_camera(world, LAT + i * 0.0001, LON) for i, name in enumerate(
        ["declined", "unanswered", "no_footage", "approved_then_expired", "cancelled", "long_ago", "other_window",
         "other_agency", "new_owner"])}
    overlapping = factories.footage_request(world.agency, world.officer)
    elsewhere_in_time = factories.footage_request(world.agency, world.officer, window_ago=timedelta(days=2))
    other_agency = factories.footage_request(world.other_agency, world.other_officer)
    factories.ask(overlapping, cameras["declined"], state=AskState.DECLINED, responded_at=now)
    factories.ask(overlapping, cameras["unanswered"], state=AskState.EXPIRED)
    factories.ask(overlapping, cameras["no_footage"], state=AskState.NO_FOOTAGE, responded_at=now)
    factories.ask(overlapping, cameras["approved_then_expired"], state=AskState.EXPIRED, responded_at=now)
    factories.ask(overlapping, cameras["cancelled"], state=AskState.CANCELLED)
    factories.ask(overlapping, cameras["long_ago"], state=AskState.DECLINED, created_at=now - timedelta(days=31))
    factories.ask(elsewhere_in_time, cameras["other_window"], state=AskState.DECLINED)
    factories.ask(other_agency, cameras["other_agency"], state=AskState.DECLINED)
    factories.ask(overlapping, cameras["new_owner"], state=AskState.DECLINED)
    cameras["new_owner"].owner_id = member.id  # the camera changed hands since
    db.session.commit()
    matches = match_cameras(world.agency.id, LAT, LON, 500, now - timedelta(hours=3), now - timedelta(hours=2), now,
                            re_asks_of=world.agency.id)
    assert {m.camera_id for m in matches} == {c.id for c in cameras.values()}
    found = {m.camera_id for m in matches if m.re_asked}
    assert found == {cameras["declined"].id, cameras["unanswered"].id}


def test_a_re_ask_waits_for_a_supervisor(client, as_officer, as_supervisor, world):
    camera = shared_camera(world)
    other = shared_camera(world, LAT + 0.0002, LON)
    earlier = factories.footage_request(world.agency, world.officer, created_at=utcnow() - timedelta(days=3))
    factories.ask(earlier, camera, state=AskState.DECLINED, responded_at=utcnow() - timedelta(days=3))
    factories.ask(earlier, other, state=AskState.APPROVED, responded_at=utcnow() - timedelta(days=3))
    db.session.commit()
    asks_before = count(Ask)

    preview = as_officer.post("/api/requests/preview", json=body()).json
    assert (preview["re_ask_cameras"], preview["exceeded_limits"], preview["needs_approval"]) == (1, ["re_ask"], True)
    refused = invalid(create(as_officer))
    assert "asks again 1 camera whose owner declined or did not answer" in refused["justification"][0]
    held = created(as_officer, justification="The owner's neighbour saw the car; the plate may be on this camera.")
    assert (held["status"], held["exceeded_limits"], held["re_ask_cameras"]) == ("pending_approval", ["re_ask"], 1)
    assert count(Ask) == asks_before  # nobody is asked again without a supervisor

    assert as_officer.post(f"/api/requests/{held['id']}/approve", json={"reason": "mine"}).status_code == 403
    approved = as_supervisor.post(f"/api/requests/{held['id']}/approve", json={"reason": "A new lead, recorded."})
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "active" and approved.json["asks_total"] == 2
    details = _event("request.approved").details
    assert (details["re_ask_cameras"], details["reason"]) == (1, "A new lead, recorded.")

    month = client.get(f"/api/public/agencies/{world.agency.slug}/report").json["months"][-1]
    # One re-ask this month: under 5, so not shown; still counted among the over-limit approvals.
    assert (month["requests_re_ask"], month["requests_re_ask_approved"], month["requests_over_limit_approved"]) == (
        None, None, 1)
