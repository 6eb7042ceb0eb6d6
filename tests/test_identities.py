"""Verified identities: an address is unique only once proved and only within its side
(owner-side accounts vs police staff), and sign-in tells a person's two accounts apart
without telling a stranger whether a login exists."""
from __future__ import annotations

import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.jobs import tick
from app.notifications import mail, sms
from app.notifications.models import SmsOptOut
from tests import factories
from tests.conftest import second_factor_code, signed_in
from tests.peers.smtp_server import LocalSmtpServer
from tests.peers.twilio_api import LocalTwilio

SHARED = "pat@example.com"
OTHER_PASSWORD = "another-secret-456"


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


# --- the schema --------------------------------------------------------------------------------

def test_the_side_follows_the_role(app, world):
    assert [world.owner.is_staff, world.manager.is_staff] == [False, False]
    assert [world.officer.is_staff, world.supervisor.is_staff] == [True, True]
    db.session.execute(sa.insert(User), [{"role": Role.OFFICER, "email": "bulk@example.com", "password_hash": "x"}])
    assert db.session.scalar(sa.select(User.is_staff).where(User.email == "bulk@example.com")) is True


def test_unverified_claims_never_block_and_a_verified_address_is_unique_per_side(app, world):
    factories.user(Role.OWNER, email=SHARED, email_verified_at=None, unverified_since=utcnow())
    factories.user(Role.OWNER, email=SHARED, email_verified_at=None, unverified_since=utcnow())
    factories.user(Role.OWNER, email=SHARED)            # the first to prove it
    factories.user(Role.OFFICER, email=SHARED)          # the same person's police account
    db.session.commit()
    with pytest.raises(IntegrityError):
        factories.user(Role.MANAGER, email=SHARED)      # a second proved owner-side holder
    db.session.rollback()
    factories.user(Role.OWNER, phone="+14145550101", phone_verified=True)
    factories.user(Role.OWNER, phone="+14145550101", phone_verified=False, unverified_since=utcnow())
    factories.user(Role.SUPERVISOR, phone="+14145550101", phone_verified=True)
    db.session.commit()
    with pytest.raises(IntegrityError):
        factories.user(Role.OWNER, phone="+14145550101", phone_verified=True)
    db.session.rollback()


# --- sign-in ------------------------------------------------------------------------------------

def _signin(client, **body):
    return client.post("/api/auth/signin", json={"login": SHARED, "password": factories.PASSWORD, **body})


@pytest.fixture
def two_accounts(app, world):
    """One person with a resident account and an officer account on the same address."""
    owner = factories.user(Role.OWNER, email=SHARED)
    officer = factories.user(Role.OFFICER, email=SHARED, agency_id=world.agency.id, password=OTHER_PASSWORD)
    db.session.commit()
    return owner, officer


def test_the_password_decides_which_account_signs_in(client, app, two_accounts):
    owner, officer = two_accounts
    r = _signin(client)
    assert r.status_code == 200, r.json
    assert (r.json["id"], r.json["role"]) == (owner.id, "owner")
    client.post("/api/auth/signout")
    r = _signin(client, password=OTHER_PASSWORD, code=second_factor_code(app, officer))
    assert r.status_code == 200, r.json
    assert (r.json["id"], r.json["role"]) == (officer.id, "officer")


def test_one_password_for_both_asks_which_account(client, app, world):
    owner = factories.user(Role.OWNER, email=SHARED)
    officer = factories.user(Role.OFFICER, email=SHARED, agency_id=world.agency.id)
    db.session.commit()
    r = _signin(client)
    assert r.status_code == 409
    assert r.json["error"]["code"] == "account_choice_required"
    assert client.get("/api/auth/me").status_code == 401
    r = _signin(client, account="owner")
    assert (r.status_code, r.json["id"]) == (200, owner.id)
    client.post("/api/auth/signout")
    r = _signin(client, account="staff", code=second_factor_code(app, officer))
    assert (r.status_code, r.json["id"]) == (200, officer.id)


def test_choosing_a_side_without_an_account_there_is_the_usual_401(client, two_accounts):
    r = _signin(client, account="staff")   # the owner's password, but the staff side
    assert (r.status_code, r.json["error"]["code"]) == (401, "invalid_credentials")
    r = _signin(client, account="manager")
    assert r.status_code == 422


def test_an_unproved_claim_signs_in_with_its_own_password(client, world):
    """Sign-up makes the account whether or not the address was taken, so signing in
    afterwards tells nothing; the holder's password still opens only the holder's account."""
    squatter = factories.user(Role.OWNER, email=SHARED, email_verified_at=None, unverified_since=utcnow(),
                              password=OTHER_PASSWORD)
    holder = factories.user(Role.OWNER, email=SHARED)
    db.session.commit()
    r = _signin(client)
    assert (r.status_code, r.json["id"], r.json["email_verified"]) == (200, holder.id, True)
    client.post("/api/auth/signout")
    r = _signin(client, password=OTHER_PASSWORD)
    assert (r.status_code, r.json["id"], r.json["email_verified"]) == (200, squatter.id, False)


def test_accounts_from_before_verification_still_sign_in(client, world):
    owner = factories.user(Role.OWNER, email=SHARED, email_verified_at=None)
    db.session.commit()
    r = _signin(client)
    assert (r.status_code, r.json["id"]) == (200, owner.id)


def test_sign_in_spends_the_same_work_whatever_holds_the_login(client, world, monkeypatch, two_accounts):
    """Two password checks every time: none, one or two accounts cannot be told apart by time."""
    from app.accounts import service

    checks = []
    real = service.verify_password
    monkeypatch.setattr(service, "verify_password", lambda h, p: checks.append(h is None) or real(h, p))
    for login in ("nobody@example.com", world.owner.email, SHARED):
        checks.clear()
        client.post("/api/auth/signin", json={"login": login, "password": "wrong-password-1"})
        assert len(checks) == 2, login


def test_an_officer_side_totp_is_still_asked_after_the_choice(client, app, world):
    factories.user(Role.OWNER, email=SHARED)
    factories.user(Role.OFFICER, email=SHARED, agency_id=world.agency.id, totp_secret=pyotp.random_base32())
    db.session.commit()
    r = _signin(client, account="staff")
    assert (r.status_code, r.json["error"]["code"]) == (401, "second_factor_required")


def test_0012_puts_existing_staff_on_their_side_and_their_addresses_never_expire(empty_database_url):
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from app import create_app
    from tests.test_migrations import _insert

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0011")
        now = datetime.now(UTC)
        with db.engine.begin() as conn:
            agency = _insert(conn, "agencies", name="Riverside PD", slug="riverside", timezone="America/Chicago",
                             created_at=now)
            for role in ("owner", "manager", "officer", "supervisor"):
                _insert(conn, "users", role=role, email=f"{role}@example.com", phone_verified=False,
                        password_hash="x", agency_id=agency if role in ("officer", "supervisor") else None,
                        active=True, created_at=now, notify_push=True, notify_sms=True)
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT email, is_staff, unverified_since FROM users ORDER BY id")).all()
        assert [(email.split("@")[0], bool(staff), since) for email, staff, since in rows] == [
            ("owner", False, None), ("manager", False, None), ("officer", True, None), ("supervisor", True, None)]
        db.engine.dispose()


# --- sign-up and phone verification against the real peers ------------------------------------

ALICE_EMAIL, ALICE_PHONE = "alice@example.org", "+14145550177"
STRANGER_PASSWORD = "strangers-own-pw-99"
ALICE_PASSWORD = "alices-real-pw-2026"
LINK = re.compile(r"/#/verify-email/([0-9]+\.[A-Za-z0-9_-]+)")
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def peers(make_app, tmp_path):
    """An app that sends e-mail to a local SMTP server and texts through a local Twilio."""
    with LocalSmtpServer(tmp_path) as smtp, LocalTwilio() as twilio:
        app = make_app(**smtp.settings(), **twilio.config())
        ctx = app.app_context()
        ctx.push()
        world = factories.World.build()
        db.session.commit()
        yield SimpleNamespace(app=app, smtp=smtp, twilio=twilio, world=world)
        mail.close(app)
        sms.close(app)
        db.session.remove()
        ctx.pop()
        assert not twilio.errors, twilio.errors


def _sign_up(app, **body):
    client = app.test_client()
    return client, client.post("/api/auth/signup", json={"password": STRANGER_PASSWORD, **body})


def _mails(smtp, address, count):
    deadline = time.monotonic() + 10
    while len(smtp.to(address)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    found = smtp.to(address)
    assert len(found) == count, [m.message["Subject"] for m in found]
    return found


def _link_token(received) -> str:
    return LINK.search(received.text).group(1)


def _texts(twilio, number, count):
    found = twilio.to(number)
    assert len(found) == count, [m.body for m in found]
    return found


def _user(user_id):
    db.session.expire_all()
    return db.session.get(User, user_id)


def test_squatting_fails_the_first_to_verify_owns_the_address(peers):
    stranger, r = _sign_up(peers.app, email=ALICE_EMAIL, phone=ALICE_PHONE)
    assert r.status_code == 201, r.json
    squatter_id = r.json["id"]
    assert (r.json["email_verified"], r.json["phone_verified"]) == (False, False)
    # The link and the code went to the addresses, which the stranger does not have.
    [stranger_link] = _mails(peers.smtp, ALICE_EMAIL, 1)
    [stranger_code] = _texts(peers.twilio, ALICE_PHONE, 1)

    alice, r = _sign_up(peers.app, email=ALICE_EMAIL, phone=ALICE_PHONE, password=ALICE_PASSWORD)
    assert r.status_code == 201, r.json
    alice_id = r.json["id"]
    _, alice_mail = _mails(peers.smtp, ALICE_EMAIL, 2)
    assert "Confirm your e-mail address" in alice_mail.message["Subject"]
    assert alice_mail.html and "Confirm my e-mail address" in alice_mail.html
    # Opening the link (a GET, as a mail scanner does) changes nothing: the page asks to confirm.
    page = alice.get("/")
    page.close()
    assert page.status_code == 200 and _user(alice_id).email_verified_at is None
    r = alice.post("/api/auth/verify-email", json={"token": _link_token(alice_mail)})
    assert (r.status_code, r.json) == (200, {"email": ALICE_EMAIL, "email_verified": True})
    r = alice.post("/api/auth/phone/verify",
                   json={"code": CODE.search(_texts(peers.twilio, ALICE_PHONE, 2)[1].body).group(1)})
    assert r.status_code == 200, r.json

    alice_row, squatter = _user(alice_id), _user(squatter_id)
    assert alice_row.email_verified_at is not None and alice_row.phone_verified and alice_row.unverified_since is None
    # The squatter's claims went with Alice's proof; with no login left the account is closed...
    assert squatter.active is False and stranger.get("/api/auth/me").status_code == 401
    assert [e.details["outcome"] for e in events("account.claim_lost")] == ["address_cleared", "account_closed"]
    # ...its own link and code are worthless now...
    r = stranger.post("/api/auth/verify-email", json={"token": _link_token(stranger_link)})
    assert (r.status_code, r.json["error"]["code"]) == (410, "link_invalid")
    assert CODE.search(stranger_code.body)
    # ...and the scheduler deletes it with its data.
    tick()
    assert _user(squatter_id) is None
    [deleted] = events("account.deleted")
    assert deleted.target_id == str(squatter_id) and deleted.details["reason"] == "unverified_claim_lost"
    assert _signin_as(peers.app, ALICE_EMAIL, ALICE_PASSWORD).status_code == 200


def _signin_as(app, login, password):
    return app.test_client().post("/api/auth/signin", json={"login": login, "password": password})


def _shape(response) -> tuple:
    body = response.json
    cookies = sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
    return (response.status_code, sorted(body), sorted(body.get("second_factor", {})), body["role"],
            body["email_verified"], body["phone_verified"], cookies, sorted(response.headers.keys()))


def test_sign_up_answers_the_same_for_taken_and_free_addresses_and_tells_the_holder(peers):
    holder = factories.user(Role.OWNER, email=ALICE_EMAIL, phone=ALICE_PHONE, phone_verified=True)
    db.session.commit()
    taken_client, taken = _sign_up(peers.app, email=ALICE_EMAIL, phone=ALICE_PHONE)
    free_client, free = _sign_up(peers.app, email="nobody@example.org", phone="+14145550178")
    assert taken.status_code == 201 and _shape(taken) == _shape(free)
    assert (taken.json["email"], taken.json["phone"]) == (ALICE_EMAIL, ALICE_PHONE)
    # The holder is told, with the way back in; no link or code for the new account went anywhere.
    [notice] = _mails(peers.smtp, ALICE_EMAIL, 1)
    assert "tried to sign up" in notice.message["Subject"] and "/#/forgot" in notice.text
    assert not LINK.search(notice.text)
    [texted] = _texts(peers.twilio, ALICE_PHONE, 1)
    assert "someone tried to use this number" in texted.body and not CODE.search(texted.body)
    assert [e.target_id for e in events("account.email_claimed_elsewhere")] == [str(holder.id)]
    # Nothing the new account can read tells it apart from the free sign-up.
    squatter = _user(taken.json["id"])
    assert {e.action for e in events_of(squatter.id)} == {e.action for e in events_of(free.json["id"])}
    # Nor its data export: no notice, no link or code (which would prove an address it does not hold).
    exports = [c.get("/api/me/export").json for c in (taken_client, free_client)]
    assert [{k: len(v) for k, v in e.items() if isinstance(v, list)} for e in exports][0] == \
        [{k: len(v) for k, v in e.items() if isinstance(v, list)} for e in exports][1]
    assert exports[0]["sms_messages"] == exports[0]["mail_messages"] == []
    # Asking again from Settings sends the holder another notice, never a link (three an hour).
    client = peers.app.test_client()
    client.post("/api/auth/signin", json={"login": ALICE_EMAIL, "password": STRANGER_PASSWORD})
    assert "tried" not in client.get("/api/me/export").get_data(as_text=True)
    for _ in range(3):
        assert client.post("/api/auth/email/verification").status_code == 202
    assert all(not LINK.search(m.text) for m in _mails(peers.smtp, ALICE_EMAIL, 3))
    assert _user(holder.id).email_verified_at is not None


def events_of(user_id):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.target_id == str(user_id),
                                                               AuditEvent.target_type == "user")))


def test_phone_verification_answers_the_same_for_a_taken_number(peers):
    holder = factories.user(Role.OWNER, phone=ALICE_PHONE, phone_verified=True)
    me_ = factories.user(Role.OWNER)
    db.session.commit()
    client = signed_in(peers.app, me_)
    taken = client.post("/api/auth/phone/verification", json={"phone": ALICE_PHONE})
    free = client.post("/api/auth/phone/verification", json={"phone": "+14145550179"})
    assert taken.status_code == free.status_code == 202
    assert sorted(taken.json) == sorted(free.json) and taken.json["message"] == free.json["message"]
    [notice] = _texts(peers.twilio, ALICE_PHONE, 1)
    assert "someone tried to use this number" in notice.body and not CODE.search(notice.body)
    # A guessed code gets what a wrong code for a free number gets.
    client.post("/api/auth/phone/verification", json={"phone": ALICE_PHONE})
    wrong = client.post("/api/auth/phone/verify", json={"code": "000000"})
    assert wrong.status_code == 422 and wrong.json["error"]["fields"] == {"code": ["Wrong code; 4 tries left."]}
    assert _user(holder.id).phone_verified and _user(me_.id).phone is None
    assert [e.target_id for e in events("phone.claimed_elsewhere")] == [str(holder.id)] * 2


def test_a_stopped_number_is_still_refused(peers):
    db.session.add(SmsOptOut(phone=ALICE_PHONE))
    me_ = factories.user(Role.OWNER)
    db.session.commit()
    r = signed_in(peers.app, me_).post("/api/auth/phone/verification", json={"phone": ALICE_PHONE})
    assert (r.status_code, r.json["error"]["code"]) == (409, "sms_opted_out")


def test_verifying_a_number_ends_an_unverified_claim_to_it(peers):
    stranger, r = _sign_up(peers.app, email="stranger@example.org", phone=ALICE_PHONE)
    squatter_id = r.json["id"]
    alice = factories.user(Role.OWNER, email=ALICE_EMAIL)
    db.session.commit()
    client = signed_in(peers.app, alice)
    assert client.post("/api/auth/phone/verification", json={"phone": ALICE_PHONE}).status_code == 202
    code = CODE.search(_texts(peers.twilio, ALICE_PHONE, 2)[1].body).group(1)
    assert client.post("/api/auth/phone/verify", json={"code": code}).status_code == 200
    squatter = _user(squatter_id)
    assert squatter.phone is None and squatter.email == "stranger@example.org" and squatter.active
    assert stranger.get("/api/auth/me").json["phone"] is None


def test_owner_and_staff_accounts_with_the_same_address_verify_apart(peers):
    """Proving an address on one side ends no claim on the other: the two accounts stay apart."""
    officer = factories.user(Role.OFFICER, email=ALICE_EMAIL, agency_id=peers.world.agency.id,
                             password=OTHER_PASSWORD)
    db.session.commit()
    client, r = _sign_up(peers.app, email=ALICE_EMAIL, password=ALICE_PASSWORD)
    [link] = _mails(peers.smtp, ALICE_EMAIL, 1)   # a link, not a notice: the officer is on the other side
    assert client.post("/api/auth/verify-email", json={"token": _link_token(link)}).status_code == 200
    assert _user(officer.id).email_verified_at is not None and _user(r.json["id"]).email_verified_at is not None
    assert _signin_as(peers.app, ALICE_EMAIL, ALICE_PASSWORD).json["id"] == r.json["id"]
    r = _signin_as(peers.app, ALICE_EMAIL, OTHER_PASSWORD)
    assert (r.status_code, r.json["error"]["code"]) == (401, "second_factor_required")


# --- the end of unproved claims ------------------------------------------------------------------

def test_an_unverified_claim_expires_after_seven_days(peers):
    _, r = _sign_up(peers.app, email=ALICE_EMAIL)
    only_claims = r.json["id"]
    client, r = _sign_up(peers.app, email="pat@example.org", phone=ALICE_PHONE)
    one_proved = r.json["id"]
    assert client.post("/api/auth/phone/verify",
                       json={"code": CODE.search(_texts(peers.twilio, ALICE_PHONE, 1)[0].body).group(1)}
                       ).status_code == 200
    legacy = factories.user(Role.OWNER, email="old@example.org", email_verified_at=None)
    db.session.commit()
    now = utcnow()
    assert tick(now + timedelta(days=6, hours=23)).get("expired_claims", 0) == 0
    assert tick(now + timedelta(days=7, minutes=1))["expired_claims"] == 2
    assert _user(only_claims) is None
    [deleted] = events("account.deleted")
    assert deleted.details["reason"] == "unverified_claim_expired"
    kept = _user(one_proved)
    assert (kept.email, kept.phone, kept.phone_verified, kept.unverified_since) == (None, ALICE_PHONE, True, None)
    assert [e.details["dropped"] for e in events("account.claim_expired")] == [["email"]]
    assert _user(legacy.id).email == "old@example.org"
    assert tick(now + timedelta(days=30)).get("expired_claims", 0) == 0


def test_requests_reach_only_verified_channels(peers):
    from app.notifications.models import Channel
    from app.notifications.service import channels_for

    client, r = _sign_up(peers.app, phone=ALICE_PHONE)
    owner_id = r.json["id"]
    assert channels_for([owner_id])[owner_id] == set()
    code = CODE.search(_texts(peers.twilio, ALICE_PHONE, 1)[0].body).group(1)
    assert client.post("/api/auth/phone/verify", json={"code": code}).status_code == 200
    assert channels_for([owner_id])[owner_id] == {Channel.SMS}


# --- adding or changing an e-mail address in Settings ---------------------------------------------

VERIFY_LINK = re.compile(r"/#/verify-email/(\S+)")


def _outbox_to(address: str) -> list:
    from app.notifications.models import MailMessage
    db.session.expire_all()
    return list(db.session.scalars(sa.select(MailMessage).where(MailMessage.to_address == address)
                                   .order_by(MailMessage.id)))


def test_an_sms_only_owner_adds_an_email_address_and_gets_requests_by_email(app, client):
    owner = factories.user(Role.OWNER, email=None, phone="+14145550177", phone_verified=True)
    db.session.commit()
    client = signed_in(app, owner)
    sent = client.post("/api/auth/email/verification", json={"email": "New.Address@Example.org"})
    assert sent.status_code == 202, sent.json
    assert sent.json["email"] == "new.address@example.org"
    me = client.get("/api/auth/me").json
    assert me["email"] is None  # the account has the address only once it is proved
    [letter] = _outbox_to("new.address@example.org")
    token = VERIFY_LINK.search(letter.body_text).group(1)
    assert app.test_client().post("/api/auth/verify-email", json={"token": token}).status_code == 200
    me = client.get("/api/auth/me").json
    assert (me["email"], me["email_verified"]) == ("new.address@example.org", True)
    assert client.patch("/api/auth/me", json={"notify_email": True}).status_code == 200
    [event] = events("account.email_verified")
    assert event.details["changed"] is True


def test_changing_a_verified_address_keeps_the_old_one_until_the_new_is_proved_and_tells_it(app, world, as_owner):
    old = world.owner.email
    sent = as_owner.post("/api/auth/email/verification", json={"email": "moved@example.org"})
    assert sent.status_code == 202
    assert as_owner.get("/api/auth/me").json["email"] == old
    token = VERIFY_LINK.search(_outbox_to("moved@example.org")[0].body_text).group(1)
    assert app.test_client().post("/api/auth/verify-email", json={"token": token}).status_code == 200
    assert as_owner.get("/api/auth/me").json["email"] == "moved@example.org"
    [told] = _outbox_to(old)
    assert "moved@example.org" in told.body_text and "changed" in told.subject
    # The same link again, or one for the old address, does nothing more.
    assert app.test_client().post("/api/auth/verify-email", json={"token": token}).status_code == 410
    assert as_owner.post("/api/auth/email/verification", json={"email": "moved@example.org"}).json["error"][
        "code"] == "already_verified"


def test_asking_for_someone_elses_address_answers_the_same_and_tells_its_holder(app, world, as_owner):
    holder = factories.user(Role.OWNER, email="held@example.org")
    db.session.commit()
    held = as_owner.post("/api/auth/email/verification", json={"email": "held@example.org"})
    free = as_owner.post("/api/auth/email/verification", json={"email": "free@example.org"})
    assert held.status_code == free.status_code == 202
    assert held.json.keys() == free.json.keys()
    [notice] = _outbox_to("held@example.org")
    assert not VERIFY_LINK.search(notice.body_text) and "already yours" in notice.body_text
    assert notice.user_id == holder.id
    assert as_owner.get("/api/auth/me").json["email"] == world.owner.email


def test_links_asked_for_are_limited_per_account_and_bad_addresses_named(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        owner = factories.user(Role.OWNER)
        db.session.commit()
        client = signed_in(app, owner)
        bad = client.post("/api/auth/email/verification", json={"email": "not an address"})
        assert bad.status_code == 422 and "email" in bad.json["error"]["fields"]
        answers = [client.post("/api/auth/email/verification", json={"email": f"try{n}@example.org"}).status_code
                   for n in range(5)]
        # 5 an hour whatever the address (the refused one above included), so the limit
        # cannot tell an address someone holds from a free one.
        assert answers == [202] * 4 + [429], answers
