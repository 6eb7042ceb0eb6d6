"""The time zone the PWA shows dates and times in (issue 15): the agency's, from
/api/auth/me's `time_zone` once signed in and /api/app-config's before, never a guess."""
from __future__ import annotations

from app.accounts.models import Role
from app.extensions import db
from tests import factories
from tests.conftest import signed_in


def test_me_carries_the_zone_of_the_accounts_agency(app, world, as_owner, as_officer, as_manager):
    world.agency.timezone = "America/Denver"
    db.session.commit()
    # Staff: their agency's; a manager: their district's agency's; an owner: their agencies'.
    for client in (as_officer, as_manager, as_owner):
        assert client.get("/api/auth/me").json["time_zone"] == "America/Denver"
    assert signed_in(app, world.other_officer).get("/api/auth/me").json["time_zone"] == "America/Chicago"

    # An owner in agencies of two zones: no one zone is theirs, the device's stands.
    factories.membership(world.owner, world.other_agency)
    db.session.commit()
    assert as_owner.get("/api/auth/me").json["time_zone"] is None
    world.other_agency.timezone = "America/Denver"
    db.session.commit()
    assert as_owner.get("/api/auth/me").json["time_zone"] == "America/Denver"

    # An owner who has joined no agency yet.
    loner = factories.user(Role.OWNER)
    db.session.commit()
    assert signed_in(app, loner).get("/api/auth/me").json["time_zone"] is None


def test_app_config_names_the_zone_only_when_there_is_one_agency(app, client):
    assert client.get("/api/app-config").json["time_zone"] is None
    factories.agency(timezone="Pacific/Honolulu")
    db.session.commit()
    assert client.get("/api/app-config").json["time_zone"] == "Pacific/Honolulu"
    factories.agency(timezone="Pacific/Honolulu")
    db.session.commit()
    # Two agencies: signed-out screens cannot tell whose they are.
    assert client.get("/api/app-config").json["time_zone"] is None
