"""Two-step sign-in (TOTP, RFC 6238) required for officers and supervisors, optional for
owners and managers, with one-time recovery codes; set-up sessions that can do nothing
else; supervisors' and the CLI's reset; the wrong-code budget."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.accounts import second_factor
from app.accounts.models import RecoveryCode, Role, User
from app.audit.models import AuditEvent
from app.errors import ApiError
from app.extensions import db
from tests import factories
from tests.conftest import second_factor_code, signed_in
from tests.test_rate_limits import assert_limited, limited  # noqa: F401  (fixture)

PASSWORD = factories.PASSWORD


def sign_in(client, user, **extra):
    return client.post("/api/auth/signin", json={"login": user.email, "password": PASSWORD, **extra})


def error_code(response) -> str:
    return response.json["error"]["code"]


def actions(user) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.target_type == "user", AuditEvent.target_id == str(user.id)).order_by(AuditEvent.seq)))


def new_officer(world):
    """An officer whose supervisor just made the account: no authenticator yet."""
    officer = factories.user(Role.OFFICER, agency_id=world.agency.id, totp_secret=None)
    db.session.commit()
    return officer


def set_up(client) -> tuple[str, list[str]]:
    """Run the set-up with a real authenticator (pyotp); returns the secret and recovery codes."""
    setup = client.post("/api/auth/second-factor/setup")
    assert setup.status_code == 200, setup.json
    secret = setup.json["secret"]
    confirm = client.post("/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirm.status_code == 200, confirm.json
    return secret, confirm.json["recovery_codes"]


# --- officers and supervisors must use it -----------------------------------------------------

@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_staff_with_an_authenticator_need_its_code(app, world, role):
    user = getattr(world, role)
    client = app.test_client()
    missing = sign_in(client, user)
    assert missing.status_code == 401 and error_code(missing) == "second_factor_required"
    assert "authenticator" in missing.json["error"]["message"]
    assert client.get("/api/auth/me").status_code == 401  # no session from the password alone
    wrong = sign_in(client, user, code="000000" if pyotp.TOTP(user.totp_secret).now() != "000000" else "111111")
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_second_factor"
    assert wrong.json["error"]["fields"]["code"]
    ok = sign_in(client, user, code=second_factor_code(app, user))
    assert ok.status_code == 200
    assert ok.json["second_factor"] == {"enabled": True, "required": True, "setup_required": False,
                                        "recovery_codes_left": 0}
    assert client.get("/api/auth/me").status_code == 200
    events = actions(user)
    assert "auth.signin_failed" in events and events[-1] == "auth.signin"
    last = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.signin")
                             .order_by(AuditEvent.seq.desc()))
    assert last.details == {"second_factor": "totp"}


def test_a_wrong_password_never_reaches_the_code_question(client, world):
    response = client.post("/api/auth/signin", json={"login": world.officer.email, "password": "not-it-at-all"})
    assert response.status_code == 401 and error_code(response) == "invalid_credentials"


def test_a_code_works_once(app, world):
    code = second_factor_code(app, world.officer)
    assert sign_in(app.test_client(), world.officer, code=code).status_code == 200
    replay = sign_in(app.test_client(), world.officer, code=code)
    assert replay.status_code == 401 and error_code(replay) == "invalid_second_factor"
    assert "already used" in replay.json["error"]["message"]
    failed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.signin_failed")
                               .order_by(AuditEvent.seq.desc()))
    assert failed.details["reason"] == "reused_second_factor"


def test_codes_of_the_neighbouring_steps_are_accepted_and_older_ones_are_not(app, world, monkeypatch):
    totp = pyotp.TOTP(world.officer.totp_secret)
    now = second_factor._now()
    for offset, accepted in ((-90, False), (-30, True), (30, True), (90, False)):
        second_factor_code(app, world.officer)  # a fresh step record each time
        code = totp.at(now + timedelta(seconds=offset))
        if code == totp.at(now):
            continue  # the same six digits as now's code (one in a million): nothing to learn
        response = sign_in(app.test_client(), world.officer, code=code)
        assert (response.status_code == 200) is accepted, (offset, response.json)


def test_a_new_officer_signs_in_to_a_session_that_can_only_set_it_up(app, world):
    officer = new_officer(world)
    client = app.test_client()
    response = sign_in(client, officer)
    assert response.status_code == 200
    assert response.json["second_factor"] == {"enabled": False, "required": True, "setup_required": True,
                                              "recovery_codes_left": 0}
    for method, path in (("get", "/api/requests"), ("get", "/api/agency/cameras/nearby?lat=43&lon=-87"),
                         ("post", "/api/requests"), ("patch", "/api/auth/me"), ("post", "/api/auth/password")):
        refused = getattr(client, method)(path, json={})
        assert refused.status_code == 403, (path, refused.json)
        assert error_code(refused) == "second_factor_setup_required"
        assert "/api/auth/second-factor/setup" in refused.json["error"]["message"]
    assert client.get("/api/auth/me").status_code == 200
    signin = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.signin")
                               .order_by(AuditEvent.seq.desc()))
    assert signin.details == {"second_factor": "setup_required"}
    assert client.post("/api/auth/signout").status_code == 204


def test_set_up_with_a_real_authenticator_then_sign_in_with_it(app, world):
    officer = new_officer(world)
    client = app.test_client()
    other_session = app.test_client()
    sign_in(client, officer)
    sign_in(other_session, officer)

    setup = client.post("/api/auth/second-factor/setup")
    assert setup.status_code == 200
    body = setup.json
    assert body["otpauth_uri"].startswith("otpauth://totp/Porchlight:")
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == body["secret"]
    assert body["qr_svg"].startswith("data:image/svg+xml;base64,")
    # Nothing is on until a code comes back; a wrong one changes nothing.
    assert client.get("/api/requests").status_code == 403
    malformed = client.post("/api/auth/second-factor/confirm", json={"code": "12345"})
    assert malformed.status_code == 422 and "code" in malformed.json["error"]["fields"]
    totp = pyotp.TOTP(body["secret"])
    wrong_code = next(c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=1))
    wrong = client.post("/api/auth/second-factor/confirm", json={"code": wrong_code})
    assert wrong.status_code == 422 and "does not match" in wrong.json["error"]["fields"]["code"][0]
    db.session.refresh(officer)
    assert officer.totp_secret is None

    confirm = client.post("/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(body["secret"]).now()})
    assert confirm.status_code == 200
    codes = confirm.json["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert confirm.json["second_factor"]["enabled"] and confirm.json["second_factor"]["recovery_codes_left"] == 10
    # This session goes on, now with every officer route; the password-only one ended.
    assert client.get("/api/requests").status_code == 200
    assert other_session.get("/api/auth/me").status_code == 401
    db.session.refresh(officer)
    assert officer.totp_secret == body["secret"] and officer.totp_pending_secret is None
    # The hashes are kept, never the codes.
    stored = set(db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == officer.id)))
    assert len(stored) == 10 and not stored & {c.replace("-", "") for c in codes}
    assert ["auth.second_factor_setup_started", "auth.second_factor_setup_failed", "auth.second_factor_enabled"] == [
        a for a in actions(officer) if a.startswith("auth.second_factor")]

    # Next sign-in: the app's code. (Not the one the confirmation used: a code works once.)
    again = app.test_client()
    assert error_code(sign_in(again, officer)) == "second_factor_required"
    assert sign_in(again, officer, code=second_factor_code(app, officer)).status_code == 200
    assert again.get("/api/requests").status_code == 200


def test_setup_can_be_restarted_and_is_refused_once_on(app, world):
    officer = new_officer(world)
    client = app.test_client()
    sign_in(client, officer)
    first = client.post("/api/auth/second-factor/setup").json["secret"]
    second = client.post("/api/auth/second-factor/setup").json["secret"]
    assert first != second
    stale = client.post("/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(first).now()})
    assert stale.status_code == 422  # the replaced secret no longer counts
    assert client.post("/api/auth/second-factor/confirm",
                       json={"code": pyotp.TOTP(second).now()}).status_code == 200
    assert error_code(client.post("/api/auth/second-factor/setup")) == "second_factor_enabled"
    assert client.post("/api/auth/second-factor/confirm", json={"code": "123456"}).status_code == 409


def test_confirm_before_setup_is_a_conflict(app, world):
    client = signed_in(app, new_officer(world))
    response = client.post("/api/auth/second-factor/confirm", json={"code": "123456"})
    assert response.status_code == 409 and error_code(response) == "no_setup_started"


# --- recovery codes ------------------------------------------------------------------------------

def test_each_recovery_code_signs_in_once(app, world):
    officer = new_officer(world)
    client = app.test_client()
    sign_in(client, officer)
    _secret, codes = set_up(client)

    used = codes[3]
    # Typed loosely: upper case, no dash, spaces around.
    response = sign_in(app.test_client(), officer, code=f"  {used.upper().replace('-', '')} ")
    assert response.status_code == 200
    assert response.json["second_factor"]["recovery_codes_left"] == 9
    again = sign_in(app.test_client(), officer, code=used)
    assert again.status_code == 401 and error_code(again) == "invalid_second_factor"
    assert sign_in(app.test_client(), officer, code=codes[4]).status_code == 200
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.recovery_code_used")
                              .order_by(AuditEvent.seq.desc()))
    assert event.details == {"left": 8}
    assert used not in str(db.session.scalars(sa.select(AuditEvent.details)).all())


def test_replacing_recovery_codes_needs_the_password_and_ends_the_old_ones(app, world):
    officer = new_officer(world)
    client = app.test_client()
    sign_in(client, officer)
    _secret, old_codes = set_up(client)
    refused = client.post("/api/auth/second-factor/recovery-codes", json={"password": "wrong-password-1"})
    assert refused.status_code == 403 and "password" in refused.json["error"]["fields"]
    replaced = client.post("/api/auth/second-factor/recovery-codes", json={"password": PASSWORD})
    assert replaced.status_code == 200
    new_codes = replaced.json["recovery_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert sign_in(app.test_client(), officer, code=old_codes[0]).status_code == 401
    assert sign_in(app.test_client(), officer, code=new_codes[0]).status_code == 200
    assert "auth.recovery_codes_replaced" in actions(officer)


@pytest.mark.one_database
def test_replacing_codes_without_a_second_factor_is_a_conflict(as_owner):
    response = as_owner.post("/api/auth/second-factor/recovery-codes", json={"password": PASSWORD})
    assert response.status_code == 409 and error_code(response) == "second_factor_off"


# --- owners and managers may use it -----------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owners_and_managers_may_turn_it_on_and_off(app, world, role):
    user = getattr(world, role)
    client = signed_in(app, user)
    me = client.get("/api/auth/me").json
    assert me["second_factor"] == {"enabled": False, "required": False, "setup_required": False,
                                   "recovery_codes_left": 0}
    _secret, codes = set_up(client)
    assert error_code(sign_in(app.test_client(), user)) == "second_factor_required"
    assert sign_in(app.test_client(), user, code=codes[0]).status_code == 200

    wrong = client.delete("/api/auth/second-factor", json={"password": "wrong-password-1"})
    assert wrong.status_code == 403
    assert client.delete("/api/auth/second-factor", json={"password": PASSWORD}).status_code == 204
    assert sign_in(app.test_client(), user).status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id)) == 0
    assert error_code(client.delete("/api/auth/second-factor", json={"password": PASSWORD})) == "second_factor_off"


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_police_accounts_cannot_turn_it_off(app, world, role):
    client = signed_in(app, getattr(world, role))
    response = client.delete("/api/auth/second-factor", json={"password": PASSWORD})
    assert response.status_code == 403 and error_code(response) == "second_factor_required"
    db.session.refresh(getattr(world, role))
    assert getattr(world, role).totp_secret is not None


# --- resets ---------------------------------------------------------------------------------------

def test_a_supervisor_resets_an_officers_lost_authenticator(app, world, as_supervisor):
    officer_session = signed_in(app, world.officer)
    response = as_supervisor.post(f"/api/agency/staff/{world.officer.id}/second-factor/reset")
    assert response.status_code == 200 and response.json["second_factor_enabled"] is False
    assert officer_session.get("/api/requests").status_code == 401  # the officer's sessions ended
    # The next sign-in takes the password alone into a set-up session.
    client = app.test_client()
    assert sign_in(client, world.officer).json["second_factor"]["setup_required"] is True
    assert client.get("/api/requests").status_code == 403
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "staff.second_factor_reset"))
    assert event.actor_id == world.supervisor.id and event.agency_id == world.agency.id
    assert event.details == {"was_enabled": True, "via": "supervisor", "sessions_ended": 1}
    staff = as_supervisor.get("/api/agency/staff").json
    assert {u["id"]: u["second_factor_enabled"] for u in staff}[world.officer.id] is False


def test_after_a_reset_the_password_alone_cannot_enrol_an_app(app, world, as_supervisor):
    """Whoever knows the password and signs in first after a reset must also hold the mailbox."""
    from app.notifications.models import MailMessage

    assert as_supervisor.post(f"/api/agency/staff/{world.officer.id}/second-factor/reset").status_code == 200
    client = app.test_client()
    sign_in(client, world.officer)
    setup = client.post("/api/auth/second-factor/setup").json
    assert setup["email_code_sent_to"] == world.officer.email
    app_code = pyotp.TOTP(setup["secret"]).now()
    without = client.post("/api/auth/second-factor/confirm", json={"code": app_code})
    assert without.status_code == 422 and "email_code" in without.json["error"]["fields"]
    wrong = client.post("/api/auth/second-factor/confirm", json={"code": app_code, "email_code": "000000"})
    [letter] = db.session.scalars(sa.select(MailMessage).where(MailMessage.to_address == world.officer.email))
    emailed = letter.subject.rsplit(" ", 1)[1]
    if emailed == "000000":  # one chance in a million
        pytest.skip("the e-mailed code happened to be 000000")
    assert wrong.status_code == 422 and "email_code" in wrong.json["error"]["fields"]
    assert client.get("/api/requests").status_code == 403  # still only a set-up session
    done = client.post("/api/auth/second-factor/confirm", json={"code": app_code, "email_code": emailed})
    assert done.status_code == 200, done.json
    db.session.refresh(world.officer)
    assert world.officer.totp_secret is not None and world.officer.second_factor_reset_at is None
    # Next time (a new phone, no reset) nothing is e-mailed: only a reset asks for the mailbox.
    assert second_factor.needs_setup(world.officer) is False


def test_supervisors_reset_only_their_own_agencys_staff_and_never_themselves(world, as_supervisor, as_officer):
    assert as_supervisor.post(f"/api/agency/staff/{world.other_officer.id}/second-factor/reset").status_code == 404
    assert as_supervisor.post(f"/api/agency/staff/{world.supervisor.id}/second-factor/reset").status_code == 403
    assert as_officer.post(f"/api/agency/staff/{world.officer.id}/second-factor/reset").status_code == 403
    db.session.refresh(world.other_officer)
    assert world.other_officer.totp_secret is not None


def test_the_cli_resets_an_agencys_only_supervisor(app, world, runner):
    result = runner.invoke(args=["staff", "reset-second-factor", world.supervisor.email.upper()])
    assert result.exit_code == 0, result.output
    assert "reset" in result.output
    db.session.refresh(world.supervisor)
    assert world.supervisor.totp_secret is None
    assert runner.invoke(args=["staff", "reset-second-factor", "nobody@example.com"]).exit_code == 1


# --- the wrong-code budget --------------------------------------------------------------------

def test_wrong_codes_are_limited_per_account_whatever_the_address(limited):  # noqa: F811
    app = limited(RATELIMIT_SECOND_FACTOR="3 per hour", RATELIMIT_SIGN_IN="100 per hour",
                  RATELIMIT_SIGN_IN_LOGIN="100 per hour")
    world = factories.World.build()
    right = pyotp.TOTP(world.officer.totp_secret).now()
    wrong = "999999" if right != "999999" else "888888"
    for n in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        assert error_code(sign_in(client, world.officer, code=wrong)) == "invalid_second_factor"
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    # Spent: even the right code waits, so guessing cannot go on.
    assert_limited(sign_in(client, world.officer, code=right), "two-step codes")
    # Right codes never count: another account is untouched, and so is signing in often.
    for _ in range(4):
        assert sign_in(app.test_client(), world.supervisor,
                       code=second_factor_code(app, world.supervisor)).status_code == 200


def test_the_export_says_when_but_never_holds_the_secret_or_codes(app, world):
    client = signed_in(app, world.owner)
    secret, codes = set_up(client)
    export = client.get("/api/me/export")
    assert export.status_code == 200
    text = export.get_data(as_text=True)
    assert secret not in text and not any(code in text for code in codes)
    account = export.json["account"]
    assert account["second_factor_enabled_at"] and len(account["recovery_codes"]) == 10


def test_a_code_used_by_a_racing_sign_in_is_refused(app, world):
    """Two sign-ins with one code at the same moment: the step is taken by compare-and-set,
    so the one that read the account before the other recorded the step still loses."""
    code = second_factor_code(app, world.officer)
    officer = db.session.get(User, world.officer.id)
    assert officer.totp_last_step is None  # what this "request" read
    step = pyotp.TOTP(officer.totp_secret).timecode(second_factor._now())
    # The other sign-in records the step meanwhile (this session's copy of the row stays stale).
    db.session.execute(sa.update(User).where(User.id == officer.id).values(totp_last_step=step)
                       .execution_options(synchronize_session=False))
    with pytest.raises(ApiError) as refused:
        second_factor.verify_sign_in_code(officer, code)
    assert refused.value.extra_data["code"] == "invalid_second_factor"
