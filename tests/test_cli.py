"""Command-line tools. `flask agency create` bootstraps a tenant and its first supervisor;
a refused command says why, exits non-zero, and leaves nothing behind."""
from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import Agency
from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.extensions import db

PASSWORD = "first-supervisor-pass"


def create(runner, *extra, **options):
    values = {"name": "Milwaukee Police Department", "slug": "mpd", "supervisor-email": "Chief@MPD.example.org",
              "supervisor-password": PASSWORD, **options}
    args = ["agency", "create"]
    for key, value in values.items():
        if value is not None:
            args += [f"--{key}", value]
    return runner.invoke(args=args + list(extra))


def counts() -> tuple[int, int, int]:
    # A refused command ends its process: what it did not commit does not exist.
    db.session.rollback()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                 for model in (Agency, User, AuditEvent))


def test_agency_create_makes_agency_and_supervisor_who_signs_in(app, runner):
    result = create(runner, **{"timezone": "America/Chicago", "supervisor-name": "Chief Ortiz"})
    assert result.exit_code == 0, result.output
    assert "Created agency 'Milwaukee Police Department'" in result.output
    assert "chief@mpd.example.org" in result.output
    assert PASSWORD not in result.output

    agency = db.session.scalar(sa.select(Agency))
    assert (agency.slug, agency.timezone) == ("mpd", "America/Chicago")
    user = db.session.scalar(sa.select(User))
    assert (user.role, user.agency_id, user.display_name) == (Role.SUPERVISOR, agency.id, "Chief Ortiz")
    assert user.password_hash.startswith("$argon2id$")

    client = app.test_client()
    r = client.post("/api/auth/signin", json={"login": "chief@mpd.example.org", "password": PASSWORD})
    assert r.status_code == 200, r.json
    assert (r.json["role"], r.json["agency_id"]) == ("supervisor", agency.id)
    # The first sign-in of a police account sets up two-step sign-in before anything else.
    assert r.json["second_factor"]["setup_required"] is True
    assert client.get("/api/agency").status_code == 403
    secret = client.post("/api/auth/second-factor/setup").json["secret"]
    assert client.post("/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert client.get("/api/agency").json["slug"] == "mpd"
    # The new supervisor can start staffing the agency at once.
    r = client.post("/api/agency/staff", json={"email": "ofc@mpd.example.org", "password": "officer-pass-1",
                                               "role": "officer"})
    assert r.status_code == 201

    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))][:2]
    assert actions == ["agency.created", "staff.created"]


def test_agency_create_defaults_to_the_configured_time_zone(app, runner):
    app.config["DEFAULT_TIMEZONE"] = "America/Denver"
    result = create(runner)
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(Agency.timezone)) == "America/Denver"


def test_agency_create_reads_the_password_from_the_environment(runner):
    result = runner.invoke(args=["agency", "create", "--name", "MPD", "--slug", "mpd",
                                 "--supervisor-email", "chief@mpd.example.org"],
                           env={"SUPERVISOR_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert counts()[:2] == (1, 1)


def test_agency_create_prompts_for_the_password(runner):
    result = runner.invoke(args=["agency", "create", "--name", "MPD", "--slug", "mpd",
                                 "--supervisor-email", "chief@mpd.example.org"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert counts()[:2] == (1, 1)


@pytest.mark.one_database
@pytest.mark.parametrize("options,message", [
    ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
    ({"timezone": "../../etc/passwd"}, "time zone"),
    ({"supervisor-email": "not-an-email"}, "e-mail"),
    ({"supervisor-email": ""}, "e-mail"),
    ({"supervisor-password": "short"}, "at least 10 characters"),
    ({"supervisor-password": "password123"}, "too easy to guess"),
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


def test_agency_create_refuses_a_taken_supervisor_email(runner):
    assert create(runner).exit_code == 0
    before = counts()
    result = create(runner, **{"slug": "mpd2", "supervisor-email": "CHIEF@mpd.example.org"})
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert counts() == before


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
    assert [e.details["via"] for e in events] == ["demo", "demo"]
    assert events[0].details["latitude"] == 43.04 and events[0].details["longitude"] == -87.91
    assert "label" in events[0].details["changed"]
    text = str([e.details for e in events])
    for secret in ("Front porch", "Driveway", "43.04172", "-87.90951", "43.04189", "-87.90897"):
        assert secret not in text
    assert verify_chain().ok
