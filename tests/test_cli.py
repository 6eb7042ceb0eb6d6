"""Command-line tools. `flask agency create` bootstraps a tenant and its first supervisor;
a refused command says why, exits non-zero, and leaves nothing behind."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.accounts.models import StaffInvitation, User
from app.agencies.models import Agency
from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.extensions import db
from tests.invitation_support import join

PASSWORD = "first-supervisor-pass"
LINK = re.compile(r"^http://porchlight\.test/#/join/(\S+)$", re.MULTILINE)


def create(runner, *extra, **options):
    values = {"name": "Milwaukee Police Department", "slug": "mpd", "supervisor-email": "Chief@MPD.example.org",
              **options}
    args = ["agency", "create"]
    for key, value in values.items():
        if value is not None:
            args += [f"--{key}", value]
    return runner.invoke(args=args + list(extra))


def counts() -> tuple[int, int, int]:
    # A refused command ends its process: what it did not commit does not exist.
    db.session.rollback()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                 for model in (Agency, StaffInvitation, AuditEvent))


def test_agency_create_prints_the_first_supervisors_invitation_link(app, runner):
    result = create(runner, **{"timezone": "America/Chicago", "supervisor-name": "Chief Ortiz"})
    assert result.exit_code == 0, result.output
    assert "Created agency 'Milwaukee Police Department'" in result.output
    assert "chief@mpd.example.org" in result.output
    token = LINK.search(result.output).group(1)

    agency = db.session.scalar(sa.select(Agency))
    assert (agency.slug, agency.timezone) == ("mpd", "America/Chicago")
    # Nobody has an account, or a password, until the supervisor follows the link.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    assert app.test_client().get(f"/api/invitations/{token}").json["role"] == "supervisor"

    client, joined = join(app, token, PASSWORD)
    assert joined.status_code == 201, joined.json
    assert (joined.json["role"], joined.json["agency_id"], joined.json["display_name"]) == (
        "supervisor", agency.id, "Chief Ortiz")
    assert joined.json["second_factor"]["enabled"] is True
    user = db.session.scalar(sa.select(User))
    assert user.password_hash.startswith("$argon2id$") and user.email_verified_at is not None
    # The new supervisor can start staffing the agency at once.
    assert client.get("/api/agency").json["slug"] == "mpd"
    r = client.post("/api/staff/invitations", json={"email": "ofc@mpd.example.org", "role": "officer"})
    assert r.status_code == 201, r.json
    assert app.test_client().get(f"/api/invitations/{token}").status_code == 410

    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))][:3]
    assert actions == ["agency.created", "staff.invited", "staff.joined"]


def test_agency_create_defaults_to_the_configured_time_zone(app, runner):
    app.config["DEFAULT_TIMEZONE"] = "America/Denver"
    result = create(runner)
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(Agency.timezone)) == "America/Denver"


def test_a_new_link_for_a_supervisor_replaces_the_open_one(app, runner):
    first = LINK.search(create(runner).output).group(1)
    result = runner.invoke(args=["agency", "invite-supervisor", "MPD", "chief@mpd.example.org"])
    assert result.exit_code == 0, result.output
    second = LINK.search(result.output).group(1)
    assert app.test_client().get(f"/api/invitations/{first}").status_code == 410
    assert join(app, second, PASSWORD)[1].json["role"] == "supervisor"
    refused = runner.invoke(args=["agency", "invite-supervisor", "nope", "chief@mpd.example.org"])
    assert refused.exit_code != 0 and "no agency" in refused.output


@pytest.mark.one_database
def test_agency_create_takes_no_password(runner):
    result = create(runner, **{"supervisor-password": PASSWORD})
    assert result.exit_code != 0 and "no such option" in result.output.lower()
    assert counts() == (0, 0, 0)


@pytest.mark.one_database
@pytest.mark.parametrize("options,message", [
    ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
    ({"timezone": "../../etc/passwd"}, "time zone"),
    ({"supervisor-email": "not-an-email"}, "e-mail"),
    ({"supervisor-email": ""}, "e-mail"),
    ({"slug": "no spaces"}, "slug"),
    ({"slug": "ñandú"}, "slug"),
    ({"slug": "-leading"}, "slug"),
    ({"slug": "x" * 65}, "slug"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
])
def test_agency_create_refuses_bad_input_and_creates_nothing(runner, options, message):
    result = create(runner, **options)
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert "Traceback" not in result.output
    assert counts() == (0, 0, 0)


def test_agency_create_refuses_a_taken_slug(runner):
    assert create(runner).exit_code == 0
    before = counts()
    result = create(runner, **{"slug": "MPD", "supervisor-email": "other@mpd.example.org"})
    assert result.exit_code != 0
    assert "already exists" in result.output and "mpd" in result.output
    assert counts() == before


def test_agency_create_refuses_an_address_of_another_agencys_staff(runner, world):
    before = counts()
    result = create(runner, **{"supervisor-email": world.officer.email.upper()})
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert counts() == before


def test_agency_create_takes_an_address_a_resident_uses(runner, world):
    # One person may be a resident and staff: the two accounts stay apart.
    result = create(runner, **{"supervisor-email": world.owner.email})
    assert result.exit_code == 0, result.output
    assert LINK.search(result.output)


@pytest.mark.one_database
def test_agency_create_refuses_a_time_zone_directory(runner):
    result = create(runner, timezone="America")
    assert result.exit_code != 0
    assert "time zone" in result.output.lower()
    assert counts() == (0, 0, 0)


def test_agency_list(runner):
    assert runner.invoke(args=["agency", "list"]).output == ""
    create(runner)
    create(runner, **{"name": "Riverside PD", "slug": "rpd", "supervisor-email": "chief@rpd.example.org",
                      "timezone": "America/New_York"})
    result = runner.invoke(args=["agency", "list"])
    assert result.exit_code == 0
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert [line[1:] for line in lines] == [["mpd", "Milwaukee Police Department", "America/Chicago"],
                                            ["rpd", "Riverside PD", "America/New_York"]]


def test_demo_cameras_are_audited_without_their_labels_or_exact_places(app, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "camera.created")
                                     .order_by(AuditEvent.seq)))
    assert [e.details["via"] for e in events] == ["demo", "demo", "demo"]
    assert events[0].details["latitude"] == 43.04 and events[0].details["longitude"] == -87.91
    assert "label" in events[0].details["changed"]
    text = str([e.details for e in events])
    for secret in ("Front porch", "Driveway", "Side gate", "43.04172", "-87.90951", "43.04189", "-87.90897",
                   "43.0413"):
        assert secret not in text
    assert verify_chain().ok
