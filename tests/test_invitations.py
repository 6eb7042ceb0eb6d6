"""Staff join by invitation: a supervisor invites an address, the e-mail's single-use link
(72 hours) lets its holder choose a password and set up two-step sign-in, and only then
does the account exist. No supervisor ever knows a staff password, and the invitation
answers the same whether or not the address has a resident's account.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.accounts.models import Role, StaffInvitation, User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.notifications import mail
from app.notifications.models import MailMessage
from tests import factories
from tests.conftest import signed_in
from tests.invitation_support import invitation_token
from tests.invitation_support import join as join_with
from tests.peers.smtp_server import LocalSmtpServer

NEW_PASSWORD = "lantern-harbour-quiet-7"
LINK = re.compile(r"http://porchlight\.test/#/join/(\S+)")


@pytest.fixture
def smtp(app, tmp_path):
    with LocalSmtpServer(tmp_path) as server:
        app.config.update(server.settings())
        mail.close(app)
        yield server
        mail.close(app)


def actions(*names: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(names))
                                   .order_by(AuditEvent.seq)))


def invite(client, email="new.officer@example.org", role="officer", **body):
    return client.post("/api/staff/invitations", json={"email": email, "role": role, **body})


def token_from_outbox(email: str) -> str:
    return invitation_token(email)


def join(app, token: str, password: str = NEW_PASSWORD):
    return join_with(app, token, password)


def test_invited_officer_joins_from_the_email_signed_in_with_two_step_on(app, smtp, as_supervisor, world):
    r = invite(as_supervisor, email="New.Officer@Example.org", display_name=" Ofc. Nguyen ")
    assert r.status_code == 201, r.json
    assert (r.json["email"], r.json["role"], r.json["state"]) == ("new.officer@example.org", "officer", "pending")
    assert r.json["display_name"] == "Ofc. Nguyen"
    # The supervisor never sees the link: only the address's holder can join.
    assert "join" not in r.get_data(as_text=True) and "token" not in r.json
    assert r.json["expires_at"] > r.json["sent_at"]

    [received] = smtp.wait_for(1)
    assert received.recipients == ("new.officer@example.org",)
    assert world.agency.name in received.message["Subject"]
    inviter = world.supervisor.display_name or world.supervisor.email
    assert inviter in received.text and world.agency.name in received.text and "an officer" in received.text
    token = LINK.search(received.text).group(1)
    assert f"/#/join/{token}" in received.html and "72 hours" in received.html

    preview = app.test_client().get(f"/api/invitations/{token}")
    assert preview.status_code == 200
    assert preview.json == {"agency_name": world.agency.name, "role": "officer", "email": "new.officer@example.org",
                            "display_name": "Ofc. Nguyen", "expires_at": preview.json["expires_at"]}
    assert app.test_client().get(f"/api/invitations/{token}").status_code == 200  # looking does not use it

    client, joined = join(app, token)
    assert joined.status_code == 201, joined.json
    assert (joined.json["role"], joined.json["agency_id"]) == ("officer", world.agency.id)
    assert joined.json["second_factor"] == {"enabled": True, "required": True, "setup_required": False,
                                            "recovery_codes_left": 10}
    assert len(joined.json["recovery_codes"]) == 10
    # Signed in for real: officer routes answer at once, no set-up session in between.
    assert client.get("/api/auth/me").json["email"] == "new.officer@example.org"
    assert client.get("/api/requests").status_code == 200

    user = db.session.scalar(sa.select(User).where(User.email == "new.officer@example.org"))
    assert user.email_verified_at is not None and user.totp_enabled and user.agency_id == world.agency.id
    # Later sign-ins need the password they chose and a code.
    fresh = app.test_client()
    r = fresh.post("/api/auth/signin", json={"login": user.email, "password": NEW_PASSWORD})
    assert r.status_code == 401 and r.json["error"]["code"] == "second_factor_required"
    assert signed_in(app, user, NEW_PASSWORD).get("/api/auth/me").status_code == 200

    # Single use.
    assert app.test_client().get(f"/api/invitations/{token}").status_code == 410
    again = app.test_client().post(f"/api/invitations/{token}/second-factor", json={"password": NEW_PASSWORD})
    assert again.status_code == 410 and again.json["error"]["code"] == "invitation_invalid"
    assert as_supervisor.get("/api/staff/invitations").json == []

    [invited, joined_event] = actions("staff.invited", "staff.joined")
    assert (invited.actor_id, invited.agency_id, invited.details["role"]) == (world.supervisor.id, world.agency.id,
                                                                              "officer")
    assert (joined_event.actor_id, joined_event.target_id, joined_event.agency_id) == (user.id, str(user.id),
                                                                                       world.agency.id)
    assert joined_event.details["invited_by"] == world.supervisor.id


def test_a_wrong_code_creates_nothing_and_the_link_still_works(app, as_supervisor):
    assert invite(as_supervisor).status_code == 201
    token = token_from_outbox("new.officer@example.org")
    client = app.test_client()
    # Before the QR step there is nothing to confirm.
    r = client.post(f"/api/invitations/{token}/accept", json={"password": NEW_PASSWORD, "code": "123456"})
    assert r.status_code == 409 and r.json["error"]["code"] == "no_setup_started"
    setup = client.post(f"/api/invitations/{token}/second-factor", json={"password": NEW_PASSWORD}).json
    assert setup["otpauth_uri"].startswith("otpauth://totp/") and setup["qr_svg"].startswith("data:image/svg+xml")
    wrong = f"{(int(pyotp.TOTP(setup['secret']).now()) + 500_000) % 1_000_000:06d}"
    r = client.post(f"/api/invitations/{token}/accept", json={"password": NEW_PASSWORD, "code": wrong})
    assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["code"]
    assert db.session.scalar(sa.select(User).where(User.email == "new.officer@example.org")) is None
    assert client.get("/api/auth/me").status_code == 401
    r = client.post(f"/api/invitations/{token}/accept",
                    json={"password": NEW_PASSWORD, "code": pyotp.TOTP(setup["secret"]).now()})
    assert r.status_code == 201, r.json


@pytest.mark.one_database
@pytest.mark.parametrize("password,problem", [("short", "at least"), ("new.officer@example.org", "")])
def test_the_usual_password_rules_apply(app, as_supervisor, password, problem):
    invite(as_supervisor)
    token = token_from_outbox("new.officer@example.org")
    r = app.test_client().post(f"/api/invitations/{token}/second-factor", json={"password": password})
    assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["password"]
    assert problem in r.json["error"]["message"]


def test_links_expire_after_72_hours(app, as_supervisor):
    invited = invite(as_supervisor).json
    row = db.session.get(StaffInvitation, invited["id"])
    assert row.expires_at - row.sent_at == timedelta(hours=72)
    token = token_from_outbox("new.officer@example.org")
    client = app.test_client()
    setup = client.post(f"/api/invitations/{token}/second-factor", json={"password": NEW_PASSWORD}).json
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for r in (client.get(f"/api/invitations/{token}"),
              client.post(f"/api/invitations/{token}/accept",
                          json={"password": NEW_PASSWORD, "code": pyotp.TOTP(setup["secret"]).now()})):
        assert r.status_code == 410 and "72 hours" in r.json["error"]["message"]
    [listed] = as_supervisor.get("/api/staff/invitations").json
    assert listed["state"] == "expired"
    # An expired invitation can be sent again, with a new link.
    assert as_supervisor.post(f"/api/staff/invitations/{invited['id']}/resend").json["state"] == "pending"
    assert join(app, token_from_outbox("new.officer@example.org"))[1].status_code == 201


@pytest.mark.parametrize("made_up", ["1", "1.", "x.y", "99999.abc", "1." + "a" * 43, "9" * 30 + ".a"])
@pytest.mark.one_database
def test_made_up_links_are_410(app, as_supervisor, made_up):
    invite(as_supervisor)
    r = app.test_client().get(f"/api/invitations/{made_up}")
    assert r.status_code == 410 and r.json["error"]["code"] == "invitation_invalid"


def test_resend_makes_a_new_link_and_the_old_one_dies(app, smtp, as_supervisor, world):
    invited = invite(as_supervisor).json
    first = LINK.search(smtp.wait_for(1)[0].text).group(1)
    r = as_supervisor.post(f"/api/staff/invitations/{invited['id']}/resend")
    assert r.status_code == 200 and r.json["id"] == invited["id"]
    second = LINK.search(smtp.wait_for(2)[1].text).group(1)
    assert first != second
    assert app.test_client().get(f"/api/invitations/{first}").status_code == 410
    assert join(app, second)[1].status_code == 201
    # Accepted: nothing left to resend or revoke.
    assert as_supervisor.post(f"/api/staff/invitations/{invited['id']}/resend").status_code == 409
    assert as_supervisor.delete(f"/api/staff/invitations/{invited['id']}").status_code == 409
    assert [e.details["role"] for e in actions("staff.invitation_resent")] == ["officer"]


def test_revoke_kills_the_link(app, as_supervisor, world):
    invited = invite(as_supervisor).json
    token = token_from_outbox("new.officer@example.org")
    client = app.test_client()
    setup = client.post(f"/api/invitations/{token}/second-factor", json={"password": NEW_PASSWORD}).json
    assert as_supervisor.delete(f"/api/staff/invitations/{invited['id']}").status_code == 204
    r = client.post(f"/api/invitations/{token}/accept",
                    json={"password": NEW_PASSWORD, "code": pyotp.TOTP(setup["secret"]).now()})
    assert r.status_code == 410
    assert db.session.scalar(sa.select(User).where(User.email == "new.officer@example.org")) is None
    assert as_supervisor.get("/api/staff/invitations").json == []
    [event] = actions("staff.invitation_revoked")
    assert (event.actor_id, event.agency_id) == (world.supervisor.id, world.agency.id)
    # The address may be invited again.
    assert invite(as_supervisor).status_code == 201


def test_another_agencys_supervisor_gets_404(app, as_supervisor, world):
    invited = invite(as_supervisor).json
    other = signed_in(app, world.other_supervisor)
    assert other.get("/api/staff/invitations").json == []
    assert other.post(f"/api/staff/invitations/{invited['id']}/resend").status_code == 404
    assert other.delete(f"/api/staff/invitations/{invited['id']}").status_code == 404
    assert as_supervisor.post("/api/staff/invitations/999999/resend").status_code == 404
    assert as_supervisor.get("/api/staff/invitations").json[0]["state"] == "pending"
    assert not actions("staff.invitation_resent", "staff.invitation_revoked")


@pytest.mark.one_database
@pytest.mark.parametrize("who", ["officer", "manager", "owner"])
def test_only_supervisors_invite(app, world, who):
    client = signed_in(app, getattr(world, who))
    r = invite(client)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert client.get("/api/staff/invitations").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffInvitation)) == 0


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_owner_account(as_supervisor, world):
    def answer(email):
        r = invite(as_supervisor, email=email)
        body = {k: v for k, v in r.json.items() if k not in ("id", "email", "created_at", "sent_at", "expires_at")}
        return r.status_code, sorted(r.headers.keys()), body

    assert answer(world.owner.email) == answer("nobody.yet@example.org")
    sent = db.session.scalars(sa.select(MailMessage.to_address).order_by(MailMessage.id)).all()
    assert sent == [world.owner.email, "nobody.yet@example.org"]


def test_supervisor_invites_a_district_manager(app, as_supervisor, world):
    other_district = factories.district(world.other_agency, "Uptown BID")
    db.session.commit()
    for district_id in (None, other_district.id, 999_999):
        r = invite(as_supervisor, email="bid@example.org", role="manager", district_id=district_id)
        assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["district_id"], r.json
    r = invite(as_supervisor, email="bid@example.org", role="officer", district_id=world.district.id)
    assert r.status_code == 422
    r = invite(as_supervisor, email="bid@example.org", role="manager", district_id=world.district.id)
    assert r.status_code == 201 and r.json["district_id"] == world.district.id
    client, joined = join(app, token_from_outbox("bid@example.org"))
    assert joined.status_code == 201, joined.json
    assert (joined.json["role"], joined.json["district_id"], joined.json["agency_id"]) == (
        "manager", world.district.id, None)
    assert client.get("/api/agency/staff").status_code == 403


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"email": "x@example.org", "role": "owner"}, "role"),
    ({"email": "x@example.org", "role": None}, "role"),
    ({"email": "x@example.org"}, "role"),
    ({"role": "officer"}, "email"),
    ({"email": "not-an-email", "role": "officer"}, "email"),
    ({"email": "x@example.org", "role": "officer", "password": "initial-passphrase-1"}, "password"),
    ({"email": "x@example.org", "role": "officer", "agency_id": 2}, "agency_id"),
])
def test_invite_rejects_bad_input(as_supervisor, body, field):
    r = as_supervisor.post("/api/staff/invitations", json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffInvitation)) == 0


def test_existing_staff_and_open_invitations_are_named(as_supervisor, world):
    r = invite(as_supervisor, email=world.officer.email.upper())
    assert r.status_code == 409 and r.json["error"]["code"] == "already_staff"
    assert invite(as_supervisor).status_code == 201
    r = invite(as_supervisor, role="supervisor")
    assert r.status_code == 409 and r.json["error"]["code"] == "invitation_pending"


def test_the_staff_password_route_is_gone(as_supervisor):
    r = as_supervisor.post("/api/agency/staff", json={"email": "x@example.org", "password": "initial-passphrase-1",
                                                      "role": "officer"})
    assert r.status_code == 405


@pytest.mark.one_database
def test_invitations_are_rate_limited_per_supervisor(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_INVITATIONS="2 per hour")
    with app.app_context():
        client = signed_in(app, db.session.get(User, world.supervisor.id))
        assert invite(client, email="a@example.org").status_code == 201
        resent = client.post(f"/api/staff/invitations/{invite(client, email='b@example.org').json['id']}/resend")
        assert resent.status_code == 429 and resent.headers["Retry-After"]


def test_a_resident_joins_the_staff_with_the_same_address_and_the_accounts_stay_apart(app, as_supervisor, world):
    resident = world.owner
    assert invite(as_supervisor, email=resident.email).status_code == 201
    client, joined = join(app, token_from_outbox(resident.email))
    assert joined.status_code == 201, joined.json
    assert joined.json["id"] != resident.id and joined.json["role"] == "officer"
    staff = db.session.get(User, joined.json["id"])
    db.session.refresh(resident)
    assert (staff.email, staff.is_staff, staff.email_verified_at is not None) == (resident.email, True, True)
    # The resident account is untouched: its address, password and sessions are its own.
    assert resident.active and resident.email_verified_at is not None and resident.role.value == "owner"
    assert staff.password_hash != resident.password_hash
    owner_client = signed_in(app, resident)
    assert owner_client.get("/api/auth/me").json["id"] == resident.id
    assert owner_client.get("/api/requests").status_code == 403
    assert client.get("/api/auth/me").json["id"] == staff.id
    assert client.get("/api/asks").status_code == 403
    # The password decides which account signs in; the staff one still needs its code.
    r = app.test_client().post("/api/auth/signin", json={"login": resident.email, "password": NEW_PASSWORD})
    assert r.status_code == 401 and r.json["error"]["code"] == "second_factor_required"
    assert signed_in(app, staff, NEW_PASSWORD).get("/api/auth/me").json["role"] == "officer"
    # A second invitation of that address to the staff side cannot make another staff account.
    other = signed_in(app, world.other_supervisor)
    assert invite(other, email=resident.email).status_code == 201
    _, again = join(app, token_from_outbox(resident.email))
    assert again.status_code == 409 and again.json["error"]["code"] == "account_exists"


def test_joining_ends_unproved_staff_claims_to_the_address(app, as_supervisor, world):
    # An older invitation cannot exist without an account; a claim comes from a staff
    # account whose address was never proved (as identities makes them).
    claimant = factories.user(Role.OFFICER, email="claimed@example.org", agency_id=world.other_agency.id)
    claimant.email_verified_at, claimant.unverified_since = None, utcnow()
    db.session.commit()
    invite(as_supervisor, email="claimed@example.org")
    assert join(app, token_from_outbox("claimed@example.org"))[1].status_code == 201
    db.session.refresh(claimant)
    assert claimant.active is False  # its only login went to the account that proved it
