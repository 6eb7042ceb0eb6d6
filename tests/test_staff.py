"""Supervisors manage their agency's staff and districts; nobody reaches another agency's."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import District
from app.audit.models import AuditEvent
from app.extensions import db
from tests import factories
from tests.conftest import signed_in
from tests.invitation_support import invite_and_join

PASSWORD = "initial-passphrase-1"


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def new_staff(app, supervisor, **invitation):
    """Invite and join (staff are never created with a password a supervisor chose)."""
    return invite_and_join(app, supervisor, PASSWORD, **invitation)


# --- joining the staff (the invitation itself: tests/test_invitations.py) ---------------------


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_invited_staff_join_and_sign_in(app, as_supervisor, world, role):
    client, r = new_staff(app, as_supervisor, email="New.Person@Example.com", role=role, display_name=" Sgt. New ")
    assert r.status_code == 201, r.json
    assert (r.json["role"], r.json["email"], r.json["display_name"]) == (role, "new.person@example.com", "Sgt. New")
    assert (r.json["agency_id"], r.json["district_id"], r.json["active"]) == (world.agency.id, None, True)
    assert "password" not in r.get_data(as_text=True)
    assert client.get("/api/auth/me").json["role"] == role

    me = signed_in(app, db.session.get(User, r.json["id"]), PASSWORD).get("/api/auth/me")
    assert me.json["role"] == role
    listed = {u["id"]: u for u in as_supervisor.get("/api/agency/staff").json}
    assert listed[r.json["id"]]["second_factor_enabled"] is True

    [event] = events("staff.joined")
    assert (event.actor_id, event.agency_id) == (r.json["id"], world.agency.id)
    assert event.target_id == str(r.json["id"])
    assert (event.details["role"], event.details["invited_by"]) == (role, world.supervisor.id)


def test_invited_district_manager_joins(app, as_supervisor, world):
    _, r = new_staff(app, as_supervisor, email="bid@example.com", role="manager", district_id=world.district.id)
    assert r.status_code == 201, r.json
    assert (r.json["role"], r.json["district_id"], r.json["agency_id"]) == ("manager", world.district.id, None)
    manager = signed_in(app, db.session.get(User, r.json["id"]), PASSWORD)
    assert manager.get("/api/auth/me").json["district_id"] == world.district.id
    assert manager.get("/api/agency/staff").status_code == 403


def test_nobody_creates_staff_with_a_password(as_supervisor):
    before = user_count()
    r = as_supervisor.post("/api/agency/staff", json={"email": "x@example.com", "password": PASSWORD,
                                                      "role": "officer"})
    assert r.status_code == 405
    assert user_count() == before


@pytest.mark.one_database
@pytest.mark.parametrize("who", ["officer", "manager", "owner"])
def test_only_supervisors_manage_staff(app, world, who):
    client = signed_in(app, getattr(world, who))
    before = user_count()
    r = client.post("/api/staff/invitations", json={"email": "sneaky@example.com", "role": "supervisor"})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert client.get("/api/agency/staff").status_code == 403
    r = client.patch(f"/api/agency/staff/{world.supervisor.id}", json={"active": False})
    assert r.status_code == 403
    assert user_count() == before
    db.session.refresh(world.supervisor)
    assert world.supervisor.active


# --- listing -----------------------------------------------------------------------------


def test_staff_list_is_only_this_agency(app, as_supervisor, world):
    new_staff(app, as_supervisor, email="second.officer@example.com", role="officer")
    r = as_supervisor.get("/api/agency/staff")
    assert r.status_code == 200
    emails = {u["email"] for u in r.json}
    assert emails == {world.supervisor.email, world.officer.email, world.manager.email, "second.officer@example.com"}
    for other in (world.other_supervisor, world.other_officer, world.owner, world.other_owner):
        assert other.email not in emails
    assert all("password" not in key for u in r.json for key in u)


def test_other_agency_supervisor_sees_only_theirs(app, world):
    r = signed_in(app, world.other_supervisor).get("/api/agency/staff")
    assert {u["id"] for u in r.json} == {world.other_supervisor.id, world.other_officer.id}


# --- role changes and deactivation --------------------------------------------------------


def test_promote_officer_to_supervisor_is_audited(as_supervisor, as_officer, world):
    assert as_officer.get("/api/agency/staff").status_code == 403
    r = as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json={"role": "supervisor"})
    assert r.status_code == 200, r.json
    assert r.json["role"] == "supervisor"
    # The new role applies to the session already open.
    assert as_officer.get("/api/agency/staff").status_code == 200

    [event] = events("staff.role_changed")
    assert event.actor_id == world.supervisor.id and event.actor_role == "supervisor"
    assert event.target_id == str(world.officer.id) and event.agency_id == world.agency.id
    assert event.details == {"role": ["officer", "supervisor"]}


def test_same_role_changes_nothing(as_supervisor, world):
    r = as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json={"role": "officer"})
    assert r.status_code == 200
    assert not events("staff.role_changed")


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"role": "manager"}, "role"),
    ({"role": "owner"}, "role"),
    ({"active": "false"}, "active"),
    ({"active": 0}, "active"),
    ({"email": "x@example.com"}, "email"),
])
def test_update_staff_rejects_bad_input(as_supervisor, world, body, field):
    r = as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json=body)
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]


@pytest.mark.one_database
def test_manager_role_cannot_change(as_supervisor, world):
    r = as_supervisor.patch(f"/api/agency/staff/{world.manager.id}", json={"role": "supervisor"})
    assert r.status_code == 409 and r.json["error"]["code"] == "role_change_not_allowed"
    assert list(r.json["error"]["fields"]) == ["role"]
    db.session.refresh(world.manager)
    assert world.manager.role == Role.MANAGER


def test_deactivated_officer_is_signed_out_and_cannot_sign_in(app, as_supervisor, as_officer, world):
    nearby = "/api/agency/cameras/nearby?lat=43&lon=-87.9&radius_m=100"
    assert as_officer.get(nearby).status_code == 200
    r = as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json={"active": False})
    assert r.status_code == 200 and r.json["active"] is False

    assert as_officer.get("/api/auth/me").status_code == 401
    assert as_officer.get(nearby).status_code == 401
    r = app.test_client().post("/api/auth/signin", json={"login": world.officer.email, "password": factories.PASSWORD})
    assert r.status_code == 401
    [event] = events("staff.deactivated")
    assert event.actor_id == world.supervisor.id and event.target_id == str(world.officer.id)

    # Reactivated, they sign in again; the session open before stays ended.
    r = as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json={"active": True})
    assert r.status_code == 200 and r.json["active"] is True
    assert len(events("staff.reactivated")) == 1
    assert as_officer.get("/api/auth/me").status_code == 401
    signed_in(app, world.officer)


def test_supervisor_cannot_deactivate_themselves(as_supervisor, world):
    r = as_supervisor.patch(f"/api/agency/staff/{world.supervisor.id}", json={"active": False})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert list(r.json["error"]["fields"]) == ["active"]
    assert as_supervisor.get("/api/auth/me").status_code == 200


def test_last_supervisor_cannot_step_down(app, as_supervisor, world):
    r = as_supervisor.patch(f"/api/agency/staff/{world.supervisor.id}", json={"role": "officer"})
    assert r.status_code == 409
    assert r.json["error"]["code"] == "last_supervisor"
    assert as_supervisor.get("/api/agency/staff").status_code == 200

    # With a second supervisor the first may step down, and loses the supervisor's rights.
    assert as_supervisor.patch(f"/api/agency/staff/{world.officer.id}", json={"role": "supervisor"}).status_code == 200
    r = as_supervisor.patch(f"/api/agency/staff/{world.supervisor.id}", json={"role": "officer"})
    assert r.status_code == 200, r.json
    assert as_supervisor.get("/api/agency/staff").status_code == 403
    # ...and the one left is now the last.
    promoted = signed_in(app, world.officer)
    r = promoted.patch(f"/api/agency/staff/{world.officer.id}", json={"role": "officer"})
    assert r.status_code == 409


def test_inactive_supervisor_does_not_count_towards_the_last(as_supervisor, world):
    retired = factories.user(Role.SUPERVISOR, agency_id=world.agency.id, active=False)
    db.session.commit()
    # The active one is still the last...
    r = as_supervisor.patch(f"/api/agency/staff/{world.supervisor.id}", json={"role": "officer"})
    assert r.status_code == 409 and r.json["error"]["code"] == "last_supervisor"
    # ...and the inactive one is not, so their role may change.
    r = as_supervisor.patch(f"/api/agency/staff/{retired.id}", json={"role": "officer"})
    assert r.status_code == 200, r.json
    assert r.json["role"] == "officer"
    db.session.refresh(retired)
    db.session.refresh(world.supervisor)
    assert (retired.role, retired.active) == (Role.OFFICER, False)
    assert world.supervisor.role == Role.SUPERVISOR
    assert [(e.target_id, e.details) for e in events("staff.role_changed")] == [
        (str(retired.id), {"role": ["supervisor", "officer"]})]


def test_refused_update_changes_nothing(as_supervisor, world):
    # A role change in the same request as a refused self-deactivation is not applied either.
    second = factories.user(Role.SUPERVISOR, agency_id=world.agency.id)
    db.session.commit()
    r = as_supervisor.patch(f"/api/agency/staff/{world.supervisor.id}", json={"role": "officer", "active": False})
    assert r.status_code == 403 and r.json["error"]["fields"] == {"active": ["You cannot deactivate your own account."]}
    db.session.refresh(world.supervisor)
    assert (world.supervisor.role, world.supervisor.active) == (Role.SUPERVISOR, True)
    assert not events("staff.role_changed")
    assert second.active


@pytest.mark.parametrize("target", ["other_officer", "other_supervisor", "owner", "missing", "huge"])
def test_staff_outside_the_agency_is_404(as_supervisor, world, target):
    user_id = {"missing": 999_999, "huge": 10**20}.get(target) or getattr(world, target).id
    r = as_supervisor.patch(f"/api/agency/staff/{user_id}", json={"active": False})
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"
    if target not in ("missing", "huge"):
        db.session.refresh(getattr(world, target))
        assert getattr(world, target).active


# --- districts ----------------------------------------------------------------------------


def test_supervisor_creates_district(as_supervisor, as_officer, world):
    r = as_supervisor.post("/api/agency/districts", json={"name": "  Harbor Merchants  "})
    assert r.status_code == 201, r.json
    assert (r.json["name"], r.json["agency_id"]) == ("Harbor Merchants", world.agency.id)
    [event] = events("district.created")
    assert event.actor_id == world.supervisor.id and event.details == {"name": "Harbor Merchants"}

    listed = as_officer.get("/api/agency/districts")
    assert listed.status_code == 200
    assert [d["name"] for d in listed.json] == ["Downtown BID", "Harbor Merchants"]


def test_duplicate_district_name_is_409(as_supervisor, world):
    for name in ("Downtown BID", "downtown bid"):
        r = as_supervisor.post("/api/agency/districts", json={"name": name})
        assert r.status_code == 409
        assert list(r.json["error"]["fields"]) == ["name"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(District)) == 1


def test_another_agency_may_reuse_a_district_name(app, world):
    r = signed_in(app, world.other_supervisor).post("/api/agency/districts", json={"name": "Downtown BID"})
    assert r.status_code == 201
    assert r.json["agency_id"] == world.other_agency.id


@pytest.mark.one_database
@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x" * 201},
                                  {"name": "Ok", "agency_id": 2}])
def test_create_district_rejects_bad_input(as_supervisor, body):
    r = as_supervisor.post("/api/agency/districts", json=body)
    assert r.status_code == 422
    assert r.json["error"]["code"] == "validation_error"
    assert list(r.json["error"]["fields"]) == ["agency_id" if "agency_id" in body else "name"]
    assert [d.name for d in db.session.scalars(sa.select(District))] == ["Downtown BID"]
    assert not events("district.created")


def test_officer_cannot_create_districts_and_lists_only_their_agency(app, as_officer, world):
    factories.district(world.other_agency, "Uptown BID")
    db.session.commit()
    r = as_officer.post("/api/agency/districts", json={"name": "Mine"})
    assert r.status_code == 403
    assert [d["id"] for d in as_officer.get("/api/agency/districts").json] == [world.district.id]
    assert signed_in(app, world.manager).get("/api/agency/districts").status_code == 403


def test_staff_see_their_own_agency(as_officer, world):
    r = as_officer.get("/api/agency")
    assert r.status_code == 200
    assert (r.json["id"], r.json["name"]) == (world.agency.id, "Riverside Police Department")
