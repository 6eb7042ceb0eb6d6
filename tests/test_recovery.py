"""Account recovery: a reset link by e-mail (a real SMTP server, STARTTLS) or a code by SMS
(a local Twilio API), the same answer whether or not the login has an account, single use,
30 minutes, only hashes stored, rate limits, every session ended, audited, no sign-in —
police accounts still need their second factor — and the operator's CLI link."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts import tokens
from app.accounts.models import OneTimeToken, Role, User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.logs import redact
from app.notifications import mail, mail_log, sms
from app.notifications.models import MailMessage, SmsOptOut
from tests import factories
from tests.conftest import second_factor_code, signed_in
from tests.peers import scenario
from tests.peers.smtp_server import LocalSmtpServer

NEW_PASSWORD = "a-brand-new-passphrase-42"
LINK = re.compile(r"http://porchlight\.test/#/reset/(\S+)")


@pytest.fixture
def smtp(tmp_path):
    with LocalSmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def rapp(make_app, smtp, twilio):
    """An app that sends e-mail to the local SMTP server and SMS to the local Twilio API."""
    app = make_app(**smtp.settings(), **twilio.config())
    ctx = app.app_context()
    ctx.push()
    yield app
    mail.close(app)
    sms.close(app)
    db.session.remove()
    ctx.pop()


@pytest.fixture
def rworld(rapp):
    return factories.World.build()


def ask(client, login):
    response = client.post("/api/auth/password-reset", json={"login": login})
    assert response.status_code == 202, response.json
    return response.json


def link_in(received) -> str:
    found = LINK.findall(received.text)
    assert found, received.text
    return found[0]


def actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def sms_owner(**kw) -> User:
    owner = scenario.owner(phone=scenario.phone_number(), **kw)
    db.session.commit()
    return owner


def confirm(client, **body):
    return client.post("/api/auth/password-reset/confirm", json={"password": NEW_PASSWORD, **body})


def can_sign_in(app, login, password) -> int:
    return app.test_client().post("/api/auth/signin", json={"login": login, "password": password}).status_code


# --- asking ---------------------------------------------------------------------------------------------

def test_the_answer_is_the_same_whether_or_not_the_login_has_an_account(rapp, rworld, smtp, twilio):
    unverified = factories.user(Role.OWNER, email="unverified@example.org", email_verified_at=None)
    inactive = factories.user(Role.OWNER, email="gone@example.org", active=False)
    texted = sms_owner()
    unverified_phone = sms_owner(verified=False)
    db.session.commit()
    client = rapp.test_client()
    answers = [ask(client, login) for login in (
        rworld.owner.email, "nobody@example.org", unverified.email, inactive.email, "not a login",
        texted.phone, "+14145559999", unverified_phone.phone, rworld.owner.email.upper())]
    assert all(a == answers[0] for a in answers), answers
    assert "If an account uses this address" in answers[0]["message"]
    # Only the verified, active holders heard of it (the upper-cased login is the same address).
    smtp.wait_for(2)
    time.sleep(0.2)
    assert [r.recipients for r in smtp.received] == [(rworld.owner.email,)] * 2
    assert [m.to for m in twilio.messages] == [texted.phone]
    assert not smtp.to(unverified.email) and not smtp.to(inactive.email)


def test_the_answer_takes_as_long_either_way(make_app):
    floored = make_app(PASSWORD_RESET_MIN_RESPONSE_MS=300)
    with floored.app_context():
        owner = factories.user(Role.OWNER)
        db.session.commit()
        email = owner.email
    client = floored.test_client()
    for login in ("nobody@example.org", email):
        started = time.monotonic()
        assert client.post("/api/auth/password-reset", json={"login": login}).status_code == 202
        assert time.monotonic() - started >= 0.3


def test_rate_limited_per_account_and_address_yet_answered_the_same(rapp, rworld, smtp):
    client = rapp.test_client()
    first = ask(client, rworld.owner.email)
    for _ in range(4):
        assert ask(client, rworld.owner.email) == first
    assert len(smtp.wait_for(3)) == 3
    time.sleep(0.2)
    assert len(smtp.received) == 3
    assert len(actions("account.password_reset_requested")) == 3
    assert len(actions("account.password_reset_limited")) == 2
    # Only the newest link works.
    links = [link_in(r) for r in smtp.received]
    assert rapp.test_client().get("/api/auth/password-reset/link", query_string={"token": links[0]}).status_code == 410
    assert rapp.test_client().get("/api/auth/password-reset/link", query_string={"token": links[-1]}).status_code == 200


def test_requests_per_client_address_are_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PASSWORD_RESET="2 per hour")
    client = app.test_client()
    codes = [client.post("/api/auth/password-reset", json={"login": f"x{n}@example.org"}).status_code
             for n in range(3)]
    assert codes == [202, 202, 429]


def test_rate_limited_per_address(make_app, smtp):
    app = make_app(**smtp.settings(), PASSWORD_RESET_PER_ACCOUNT_PER_HOUR=10, PASSWORD_RESET_PER_ADDRESS_PER_HOUR=2)
    with app.app_context():
        owner = factories.user(Role.OWNER)
        db.session.commit()
        client = app.test_client()
        for _ in range(3):
            ask(client, owner.email)
        assert len(smtp.wait_for(2)) == 2
        assert len(actions("account.password_reset_limited")) == 1
        mail.close(app)


def test_reset_attempts_per_client_address_are_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PASSWORD_RESET_CONFIRM="2 per hour")
    client = app.test_client()
    codes = [confirm(client, token=f"{n}.not-a-secret").status_code for n in range(3)]
    assert codes == [410, 410, 429]


def test_the_link_is_not_logged(rapp, rworld, smtp, caplog):
    ask(rapp.test_client(), rworld.owner.email)
    token = link_in(smtp.wait_for(1)[0])
    assert token not in redact(f"GET /api/auth/password-reset/link?token={token} HTTP/1.1")
    assert token not in caplog.text


# --- by e-mail link ------------------------------------------------------------------------------------

def test_reset_by_e_mail_link(rapp, rworld, smtp):
    owner = rworld.owner
    earlier = signed_in(rapp, owner)
    assert earlier.get("/api/auth/me").status_code == 200
    ask(rapp.test_client(), owner.email)
    [received] = smtp.wait_for(1)
    assert received.message["Subject"] == "Reset the password of your Porchlight camera owner account"
    assert received.message.get_content_type() == "multipart/alternative"
    token = link_in(received)

    # Only the hash is stored: the secret in the link appears nowhere in the table.
    row = db.session.scalar(sa.select(OneTimeToken).where(OneTimeToken.purpose == "password_reset"))
    assert token.split(".", 1)[1] not in (row.secret_hash or "")
    assert row.expires_at - row.created_at == timedelta(minutes=30)

    # Looking at the link (an e-mail scanner, the reset screen) uses nothing.
    client = rapp.test_client()
    for _ in range(2):
        looked = client.get("/api/auth/password-reset/link", query_string={"token": token})
        assert looked.status_code == 200
        assert (looked.json["account"], looked.json["email"]) == ("camera owner account", owner.email)

    # A refused password leaves the link working.
    weak = confirm(client, token=token, password="password1234")
    assert weak.status_code == 422 and "password" in weak.json["error"]["fields"]
    done = confirm(client, token=token)
    assert done.status_code == 204
    # Nobody is signed in by it; every earlier session has ended.
    assert client.get("/api/auth/me").status_code == 401
    refused = earlier.get("/api/auth/me")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "session_revoked"
    assert can_sign_in(rapp, owner.email, factories.PASSWORD) == 401
    assert can_sign_in(rapp, owner.email, NEW_PASSWORD) == 200

    # Single use.
    again = confirm(client, token=token, password="another-new-passphrase-7")
    assert again.status_code == 410 and again.json["error"]["code"] == "link_invalid"
    assert client.get("/api/auth/password-reset/link", query_string={"token": token}).status_code == 410

    [event] = actions("account.password_reset")
    assert event.details["channel"] == "email" and event.details["sessions_ended"] >= 1
    assert event.target_id == str(owner.id)
    db.session.refresh(owner)
    assert owner.password_changed_at is not None
    # The holder is told.
    changed = smtp.wait_for(2)[1]
    assert changed.message["Subject"].startswith("Your Porchlight password was changed")
    assert changed.recipients == (owner.email,)


def test_a_link_expires_after_30_minutes(rapp, rworld, smtp, monkeypatch):
    ask(rapp.test_client(), rworld.owner.email)
    token = link_in(smtp.wait_for(1)[0])
    later = utcnow() + timedelta(minutes=30, seconds=1)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    client = rapp.test_client()
    assert client.get("/api/auth/password-reset/link", query_string={"token": token}).status_code == 410
    gone = confirm(client, token=token)
    assert gone.status_code == 410 and "ask for a new one" in gone.json["error"]["message"]
    assert can_sign_in(rapp, rworld.owner.email, factories.PASSWORD) == 200


def test_made_up_links_are_refused(rapp, rworld):
    client = rapp.test_client()
    for token in ("1.abc", "999999.x" * 3, "nonsense", "1." + "a" * 43):
        assert client.get("/api/auth/password-reset/link", query_string={"token": token}).status_code == 410
        assert confirm(client, token=token).status_code == 410
    assert confirm(client).status_code == 422


def totp_secret_of(user) -> str | None:
    return db.session.scalar(sa.select(User.totp_secret).where(User.id == user.id))


def test_officers_still_need_their_second_factor_after_a_reset(rapp, rworld, smtp):
    officer = rworld.officer
    secret_before = totp_secret_of(officer)
    ask(rapp.test_client(), officer.email)
    received = smtp.wait_for(1)[0]
    assert f"officer account at {rworld.agency.name}" in received.text
    assert confirm(rapp.test_client(), token=link_in(received)).status_code == 204
    client = rapp.test_client()
    without = client.post("/api/auth/signin", json={"login": officer.email, "password": NEW_PASSWORD})
    assert without.status_code == 401 and without.json["error"]["code"] == "second_factor_required"
    code = second_factor_code(rapp, officer)
    with_code = client.post("/api/auth/signin", json={"login": officer.email, "password": NEW_PASSWORD,
                                                      "code": code})
    assert with_code.status_code == 200 and with_code.json["second_factor"]["enabled"] is True
    # The reset kept the authenticator: same secret. (Checking the code against it instead
    # failed whenever the 30-second step turned between the sign-in and the check.)
    assert secret_before and totp_secret_of(officer) == secret_before


def test_a_deactivated_account_s_link_stops_working(rapp, rworld, smtp):
    ask(rapp.test_client(), rworld.officer.email)
    token = link_in(smtp.wait_for(1)[0])
    as_supervisor = signed_in(rapp, rworld.supervisor)
    assert as_supervisor.patch(f"/api/agency/staff/{rworld.officer.id}", json={"active": False}).status_code == 200
    client = rapp.test_client()
    assert client.get("/api/auth/password-reset/link", query_string={"token": token}).status_code == 410
    assert confirm(client, token=token).status_code == 410


# --- by SMS code ---------------------------------------------------------------------------------------

def texted_code(twilio, phone, index=-1) -> str:
    body = twilio.to(phone)[index].body
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_reset_by_sms_code(rapp, rworld, twilio):
    owner = sms_owner()
    earlier = signed_in(rapp, owner)
    national = owner.phone.removeprefix("+1")  # typed as sign-in takes it
    ask(rapp.test_client(), national)
    assert "reset the password of your camera owner account" in twilio.to(owner.phone)[0].body
    code = texted_code(twilio, owner.phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    client = rapp.test_client()
    refused = confirm(client, login=owner.phone, code=wrong)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "code_invalid"
    assert confirm(client, login=national, code=f"{code[:3]} {code[3:]}").status_code == 204
    assert earlier.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me").status_code == 401
    assert can_sign_in(rapp, owner.phone, NEW_PASSWORD) == 200
    # Single use.
    assert confirm(client, login=owner.phone, code=code, password="yet-another-pass-99").status_code == 422
    [event] = actions("account.password_reset")
    assert event.details["channel"] == "sms"
    assert "password of your camera owner account was changed" in twilio.to(owner.phone)[-1].body
    # Only the keyed hash of the code is stored.
    assert all(code not in (row.secret_hash or "") for row in db.session.scalars(sa.select(OneTimeToken)))


def test_a_code_for_a_number_without_an_account_is_refused_like_a_wrong_one(rapp, rworld, twilio):
    owner = sms_owner()
    ask(rapp.test_client(), owner.phone)
    client = rapp.test_client()
    nobody = confirm(client, login="+14145559999", code="123456")
    code = texted_code(twilio, owner.phone)
    wrong = confirm(client, login=owner.phone, code=f"{(int(code) + 1) % 10**6:06d}")
    assert (nobody.status_code, nobody.json) == (wrong.status_code, wrong.json)


def test_five_wrong_codes_void_the_code(rapp, rworld, twilio):
    owner = sms_owner()
    ask(rapp.test_client(), owner.phone)
    code = texted_code(twilio, owner.phone)
    client = rapp.test_client()
    for n in range(1, 6):
        assert confirm(client, login=owner.phone, code=f"{(int(code) + n) % 10**6:06d}").status_code == 422
    assert confirm(client, login=owner.phone, code=code).status_code == 422
    assert can_sign_in(rapp, owner.phone, factories.PASSWORD) == 200


def test_an_opted_out_number_gets_nothing_and_the_answer_is_the_same(rapp, rworld, twilio):
    owner = sms_owner()
    db.session.add(SmsOptOut(phone=owner.phone))
    db.session.commit()
    assert ask(rapp.test_client(), owner.phone)["message"]
    assert twilio.messages == []
    [event] = actions("account.password_reset_not_sent")
    assert event.details == {"channel": "sms", "reason": "sms_opted_out"}


def test_the_answer_never_waits_for_the_mail_server(rapp, rworld, smtp):
    # A relay that takes 1.5 s per message would otherwise make a login with an account
    # answer 1.5 s later than one without: the e-mail leaves after the answer.
    rapp.config["PASSWORD_RESET_MIN_RESPONSE_MS"] = 300
    smtp.data_delay = 1.5
    client = rapp.test_client()
    took = {}
    for login in ("nobody@example.org", rworld.owner.email):
        started = time.monotonic()
        ask(client, login)
        took[login] = time.monotonic() - started
    assert all(0.3 <= seconds < 1.2 for seconds in took.values()), took
    assert link_in(smtp.wait_for(1)[0])


def test_a_refusing_mail_server_is_not_told_to_the_asker_and_its_answer_is_kept(rapp, rworld, smtp):
    smtp.refuse(rworld.owner.email, 550)
    client = rapp.test_client()
    assert ask(client, rworld.owner.email) == ask(client, "nobody@example.org")
    deadline = time.monotonic() + 10
    while (row := _only_mail()).status == "sending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert row.status == "failed" and "550" in row.error and row.to_address == rworld.owner.email
    assert smtp.received == []


def test_a_temporary_refusal_is_tried_again(rapp, rworld, smtp, monkeypatch):
    monkeypatch.setattr(mail_log, "RETRY_DELAYS_S", (0.1, 0.1))
    smtp.refuse(rworld.owner.email, 451, times=2)
    ask(rapp.test_client(), rworld.owner.email)
    assert link_in(smtp.wait_for(1)[0])
    deadline = time.monotonic() + 10
    while (row := _only_mail()).status == "sending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert row.status == "sent" and row.error is None


def _only_mail() -> MailMessage:
    db.session.expire_all()
    return db.session.scalars(sa.select(MailMessage)).one()


# --- outbox mode ----------------------------------------------------------------------------------------

def test_without_mail_url_the_link_waits_in_the_outbox(app, world, client, runner):
    ask(client, world.owner.email)
    row = db.session.scalar(sa.select(MailMessage))
    assert row.status == "outbox" and row.to_address == world.owner.email
    assert LINK.search(runner.invoke(args=["mail", "outbox"]).output)


# --- the operator's CLI --------------------------------------------------------------------------------

def test_operator_prints_a_one_time_link(app, world, runner):
    result = runner.invoke(args=["accounts", "reset-password", f"  {world.owner.email.upper()} "])
    assert result.exit_code == 0, result.output
    assert "camera owner account" in result.output and "30 minutes" in result.output
    [token] = LINK.findall(result.output)
    client = app.test_client()
    assert confirm(client, token=token).status_code == 204
    assert can_sign_in(app, world.owner.email, NEW_PASSWORD) == 200
    assert confirm(client, token=token).status_code == 410
    [issued] = actions("account.password_reset_link_issued")
    assert issued.actor_id is None and issued.details == {"via": "cli", "actor": "operator"}
    assert issued.target_id == str(world.owner.id)


def test_operator_link_for_an_unknown_address_fails(app, world, runner):
    result = runner.invoke(args=["accounts", "reset-password", "nobody@example.org"])
    assert result.exit_code != 0
    assert "no active account" in result.output
    assert actions("account.password_reset_link_issued") == []


def test_operator_link_for_an_account_whose_e_mail_is_not_verified_says_so(app, world, runner):
    owner = factories.user(Role.OWNER, email="fresh@example.org", email_verified_at=None)
    db.session.commit()
    result = runner.invoke(args=["accounts", "reset-password", owner.email])
    assert result.exit_code == 0, result.output
    assert "the e-mail address is not verified" in result.output and LINK.search(result.output)


def test_two_accounts_on_one_address_get_a_link_each(rapp, rworld, smtp):
    shared = rworld.owner.email
    factories.user(Role.OFFICER, email=shared, agency_id=rworld.agency.id)
    db.session.commit()
    ask(rapp.test_client(), shared)
    received = smtp.wait_for(2)
    subjects = sorted(r.message["Subject"] for r in received)
    assert subjects == ["Reset the password of your Porchlight camera owner account",
                        f"Reset the password of your Porchlight officer account at {rworld.agency.name}"], subjects
    officer_mail = next(r for r in received if "officer account" in r.message["Subject"])
    assert confirm(rapp.test_client(), token=link_in(officer_mail)).status_code == 204
    # The owner's password is untouched; the officer's changed.
    assert can_sign_in(rapp, shared, factories.PASSWORD) in (200, 409)
    result = rapp.test_cli_runner().invoke(args=["accounts", "reset-password", shared])
    assert result.exit_code == 0, result.output
    assert len(LINK.findall(result.output)) == 2 and "officer account" in result.output
