"""Owners' accounts through the API: sign-up, sign-in, sign-out, password change, the
session cookie, and JSON 401/403 answers on protected routes."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.audit.models import AuditEvent
from app.extensions import db
from tests import factories
from tests.conftest import second_factor_code, signed_in
from tests.invitation_support import invitation_token, join

PASSWORD = "correct horse battery"
INVALID_CREDENTIALS = "That login and password do not match an active account."


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def user_by_id(user_id: int) -> User:
    return db.session.get(User, user_id)


def assert_no_secrets(response) -> None:
    text = response.get_data(as_text=True)
    assert "$argon2" not in text
    assert "password" not in text.lower() or response.status_code >= 400
    assert "session_token" not in text


def session_cookie(response):
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith("porchlight_session=")), None)


# --- sign-up ---------------------------------------------------------------------


def test_signup_with_email_creates_owner_and_signs_in(client):
    r = client.post("/api/auth/signup", json={"email": "  Resident@Example.COM ", "password": PASSWORD,
                                              "display_name": "  Pat  "})
    assert r.status_code == 201, r.json
    assert r.json["email"] == "resident@example.com"
    assert r.json["phone"] is None and r.json["phone_verified"] is False
    assert r.json["role"] == "owner" and r.json["display_name"] == "Pat" and r.json["memberships"] == []
    assert_no_secrets(r)

    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json["id"] == r.json["id"]

    user = user_by_id(r.json["id"])
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    [event] = events("account.signup")
    assert event.actor_id == user.id and event.target_id == str(user.id)
    assert event.details == {"email": True, "phone": False, "via_code": False}


def test_signup_with_national_phone_is_stored_in_e164(client):
    r = client.post("/api/auth/signup", json={"phone": "(414) 286-2200", "password": PASSWORD})
    assert r.status_code == 201, r.json
    assert r.json["phone"] == "+14142862200"
    assert r.json["email"] is None
    assert r.json["phone_verified"] is False, "a typed number is not a verified one"
    assert client.get("/api/auth/me").json["phone"] == "+14142862200"


def test_signup_with_email_and_phone(client):
    r = client.post("/api/auth/signup", json={"email": "both@example.com", "phone": "+1 414 286 2201",
                                              "password": PASSWORD})
    assert r.status_code == 201, r.json
    assert (r.json["email"], r.json["phone"]) == ("both@example.com", "+14142862201")
    # Either login works afterwards.
    for login in ("both@example.com", "414-286-2201"):
        fresh = client.application.test_client()
        assert fresh.post("/api/auth/signin", json={"login": login, "password": PASSWORD}).status_code == 200


@pytest.mark.one_database
@pytest.mark.parametrize("body", [
    {},
    {"email": None, "phone": None},
    {"email": "", "phone": "   "},
], ids=["missing", "null", "blank"])
def test_signup_without_email_or_phone_names_both(client, body):
    r = client.post("/api/auth/signup", json={**body, "password": PASSWORD})
    assert r.status_code == 422
    assert set(r.json["error"]["fields"]) == {"email", "phone"}
    assert r.json["error"]["code"] == "validation_error"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"email": 5}, "email"),
    ({"email": True}, "email"),
    ({"email": ["a@example.com"]}, "email"),
    ({"phone": 4142862200}, "phone"),
    ({"phone": {"number": "4142862200"}}, "phone"),
    ({"email": "a@example.com", "password": 12345678901}, "password"),
    ({"email": "a@example.com", "display_name": 7}, "display_name"),
    ({"email": "a@example.com", "enrollment_code": 1234}, "enrollment_code"),
])
def test_signup_rejects_wrong_types(client, body, field):
    r = client.post("/api/auth/signup", json={"password": PASSWORD, **body})
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-address"}, "email"),
    ({"email": "two@@example.com"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"phone": "call me maybe"}, "phone"),
    ({"phone": "+1 414 000 0000"}, "phone"),
    ({"email": "a@example.com", "display_name": "x" * 121}, "display_name"),
])
def test_signup_rejects_invalid_values(client, body, field):
    r = client.post("/api/auth/signup", json={"password": PASSWORD, **body})
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]


@pytest.mark.one_database
@pytest.mark.parametrize("extra", [{"role": "supervisor"}, {"agency_id": 1}, {"phone_verified": True},
                                   {"password_hash": "$argon2id$x"}])
def test_signup_rejects_unknown_fields(client, extra):
    # Nobody makes themselves staff, or verified, by adding a field.
    r = client.post("/api/auth/signup", json={"email": "a@example.com", "password": PASSWORD, **extra})
    assert r.status_code == 422
    assert r.json["error"]["fields"] == {next(iter(extra)): ["Unknown field."]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.one_database
def test_signup_rejects_non_object_body(client):
    r = client.post("/api/auth/signup", json=["a@example.com", PASSWORD])
    assert r.status_code == 422
    assert r.json["error"]["code"] == "validation_error"


@pytest.mark.one_database
@pytest.mark.parametrize("password", [
    "short",
    "a" * 9,
    "aaaaaaaaaaaaaaaa",
    "1234567890",
    "abcdefghijkl",
    "qwertyuiop",
    "Password2024!",
    "weak@example.com",
    "weak",
    "x" * 257,
])
def test_signup_rejects_weak_password(client, password):
    r = client.post("/api/auth/signup", json={"email": "weak@example.com", "password": password})
    assert r.status_code == 422
    assert list(r.json["error"]["fields"]) == ["password"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_signup_with_a_taken_email_in_any_case_answers_as_a_free_one(client, world):
    """Nobody learns whether an address has an account (tests/test_identities.py has the rest)."""
    r = client.post("/api/auth/signup", json={"email": world.owner.email.upper(), "password": PASSWORD})
    assert r.status_code == 201
    assert (r.json["email"], r.json["email_verified"]) == (world.owner.email, False)
    assert r.json["id"] != world.owner.id
    assert user_by_id(world.owner.id).email_verified_at is not None


def test_signup_with_a_taken_phone_in_another_form_answers_as_a_free_one(client, world):
    holder = factories.user(Role.OWNER, phone="+14142862200", phone_verified=True)
    db.session.commit()
    r = client.post("/api/auth/signup", json={"phone": "414.286.2200", "password": PASSWORD})
    assert r.status_code == 201
    assert (r.json["phone"], r.json["phone_verified"]) == ("+14142862200", False)
    assert user_by_id(holder.id).phone_verified is True


# --- sign-in ---------------------------------------------------------------------


def test_signin_by_email_in_any_case(client, world):
    r = client.post("/api/auth/signin",
                    json={"login": f"  {world.owner.email.upper()} ", "password": factories.PASSWORD})
    assert r.status_code == 200, r.json
    assert r.json["id"] == world.owner.id
    assert [m["agency_id"] for m in r.json["memberships"]] == [world.agency.id]
    assert_no_secrets(r)
    assert client.get("/api/auth/me").json["id"] == world.owner.id
    [event] = events("auth.signin")
    assert event.actor_id == world.owner.id


def test_signin_by_phone_in_national_form(client, world):
    owner = factories.user(Role.OWNER, phone="+14142862200")
    db.session.commit()
    r = client.post("/api/auth/signin", json={"login": "(414) 286-2200", "password": factories.PASSWORD})
    assert r.status_code == 200, r.json
    assert r.json["id"] == owner.id
    assert client.get("/api/auth/me").json["phone"] == "+14142862200"


def test_signin_staff_sees_their_role(app, client, world):
    r = client.post("/api/auth/signin", json={"login": world.officer.email, "password": factories.PASSWORD,
                                              "code": second_factor_code(app, world.officer)})
    assert r.status_code == 200
    assert (r.json["role"], r.json["agency_id"], r.json["memberships"]) == ("officer", world.agency.id, [])


@pytest.mark.parametrize("login,password", [
    ("owner", "wrong-password-123"),
    ("unknown@example.com", factories.PASSWORD),
    ("+14145550199", factories.PASSWORD),
    ("not a login at all", factories.PASSWORD),
], ids=["wrong-password", "unknown-email", "unknown-phone", "garbage"])
def test_failed_signin_is_one_401_audited_without_a_session(client, world, login, password):
    login = world.owner.email if login == "owner" else login
    r = client.post("/api/auth/signin", json={"login": login, "password": password})
    assert r.status_code == 401
    assert r.is_json
    assert r.json["error"] == {"status": 401, "code": "invalid_credentials", "message": INVALID_CREDENTIALS}
    assert session_cookie(r) is None
    assert client.get("/api/auth/me").status_code == 401

    [event] = events("auth.signin_failed")
    assert event.actor_id is None
    assert event.target_id == (str(world.owner.id) if login == world.owner.email else None)
    assert event.details["reason"] == "bad_credentials"
    # Neither the typed login nor the password is kept in the append-only log.
    assert login not in str(event.details) and password not in str(event.details)


def test_repeated_failures_on_one_login_share_a_fingerprint(client, world):
    for login in ("Someone@Example.com", "someone@example.com", "other@example.com"):
        client.post("/api/auth/signin", json={"login": login, "password": "nope-nope-nope"})
    prints = [e.details["login_fingerprint"] for e in events("auth.signin_failed")]
    assert prints[0] == prints[1] != prints[2]


def test_deactivated_account_cannot_sign_in(client, world):
    world.officer.active = False
    db.session.commit()
    r = client.post("/api/auth/signin", json={"login": world.officer.email, "password": factories.PASSWORD})
    assert r.status_code == 401
    assert r.json["error"]["message"] == INVALID_CREDENTIALS
    assert client.get("/api/auth/me").status_code == 401
    [event] = events("auth.signin_failed")
    assert event.details["reason"] == "inactive"
    assert event.agency_id == world.agency.id


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"login": "a@example.com"}, "password"),
    ({"password": PASSWORD}, "login"),
    ({"login": "", "password": PASSWORD}, "login"),
    ({"login": 4142862200, "password": PASSWORD}, "login"),
    ({"login": "a@example.com", "password": None}, "password"),
    ({"login": "a@example.com", "password": PASSWORD, "remember": True}, "remember"),
])
def test_signin_rejects_bad_input(client, body, field):
    r = client.post("/api/auth/signin", json=body)
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]


def test_signin_as_another_user_replaces_the_session(app, client, world):
    for user in (world.owner, world.officer):
        r = client.post("/api/auth/signin", json={"login": user.email, "password": factories.PASSWORD,
                                                  "code": second_factor_code(app, user)})
        assert r.status_code == 200
    assert client.get("/api/auth/me").json["id"] == world.officer.id


# --- sign-out --------------------------------------------------------------------


def test_signout_ends_the_session_and_is_audited(as_owner, world):
    r = as_owner.post("/api/auth/signout")
    assert r.status_code == 204
    assert "Expires=Thu, 01 Jan 1970" in session_cookie(r), "the cookie is deleted"
    r = as_owner.get("/api/auth/me")
    assert r.status_code == 401 and r.is_json
    [event] = events("auth.signout")
    assert event.actor_id == world.owner.id


@pytest.mark.one_database
def test_signout_without_a_session_is_401(client):
    r = client.post("/api/auth/signout")
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthenticated"


# --- password change ---------------------------------------------------------------


def change(client, current, new):
    return client.post("/api/auth/password", json={"current_password": current, "new_password": new})


def test_password_change_with_wrong_current_password_is_403(as_owner, world):
    r = change(as_owner, "not-my-password", "a-brand-new-passphrase")
    assert r.status_code == 403
    assert list(r.json["error"]["fields"]) == ["current_password"]
    assert len(events("auth.password_change_failed")) == 1
    # Nothing changed: still signed in, the old password still works.
    assert as_owner.get("/api/auth/me").status_code == 200
    signed_in(as_owner.application, world.owner)


@pytest.mark.one_database
@pytest.mark.parametrize("new", ["short", "1234567890", "password123", "bbbbbbbbbbbb"])
def test_password_change_to_weak_password_is_422(as_owner, world, new):
    r = change(as_owner, factories.PASSWORD, new)
    assert r.status_code == 422
    assert list(r.json["error"]["fields"]) == ["new_password"]
    assert as_owner.get("/api/auth/me").status_code == 200
    signed_in(as_owner.application, world.owner)


def test_password_change_ends_other_sessions_but_keeps_this_one(app, world):
    laptop = signed_in(app, world.owner)
    phone = signed_in(app, world.owner)
    old_hash = world.owner.password_hash

    r = change(phone, factories.PASSWORD, "a-brand-new-passphrase")
    assert r.status_code == 204

    assert phone.get("/api/auth/me").status_code == 200, "the client that changed it stays signed in"
    r = laptop.get("/api/auth/me")
    assert r.status_code == 401, "a session signed in earlier elsewhere has ended"
    assert r.json["error"]["code"] == "session_revoked" and "password was changed" in r.json["error"]["message"]

    assert signed_in(app, world.owner, "a-brand-new-passphrase").get("/api/auth/me").status_code == 200
    r = app.test_client().post("/api/auth/signin", json={"login": world.owner.email, "password": factories.PASSWORD})
    assert r.status_code == 401

    user = user_by_id(world.owner.id)
    assert user.password_hash != old_hash and user.password_hash.startswith("$argon2id$")
    assert user.password_changed_at is not None
    [event] = events("auth.password_changed")
    assert event.actor_id == world.owner.id


@pytest.mark.one_database
@pytest.mark.parametrize("body,field", [
    ({"new_password": "a-brand-new-passphrase"}, "current_password"),
    ({"current_password": factories.PASSWORD}, "new_password"),
    ({"current_password": factories.PASSWORD, "new_password": 1234567890123}, "new_password"),
])
def test_password_change_rejects_bad_input(as_owner, body, field):
    r = as_owner.post("/api/auth/password", json=body)
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]


# --- profile ---------------------------------------------------------------------------


def test_profile_display_name(as_owner):
    r = as_owner.patch("/api/auth/me", json={"display_name": "  Corner Store  "})
    assert r.status_code == 200
    assert r.json["display_name"] == "Corner Store"
    assert as_owner.patch("/api/auth/me", json={"display_name": None}).json["display_name"] is None
    r = as_owner.patch("/api/auth/me", json={"display_name": 12})
    assert r.status_code == 422 and "display_name" in r.json["error"]["fields"]
    r = as_owner.patch("/api/auth/me", json={"email": "new@example.com", "display_name": "x"})
    assert r.status_code == 422 and "email" in r.json["error"]["fields"]


def test_owners_choose_their_channels(as_owner, as_officer):
    me = as_owner.get("/api/auth/me").json
    assert (me["notify_push"], me["notify_sms"]) == (True, True)
    r = as_owner.patch("/api/auth/me", json={"notify_sms": False})
    assert r.status_code == 200 and (r.json["notify_push"], r.json["notify_sms"]) == (True, False)
    assert as_owner.get("/api/auth/me").json["notify_sms"] is False
    # A name change alone leaves the channels as they are.
    assert as_owner.patch("/api/auth/me", json={"display_name": "Home"}).json["notify_sms"] is False
    r = as_owner.patch("/api/auth/me", json={"notify_push": "no"})
    assert r.status_code == 422 and "notify_push" in r.json["error"]["fields"]
    r = as_owner.patch("/api/auth/me", json={})
    assert r.status_code == 422 and "notify_sms" in r.json["error"]["message"]
    r = as_officer.patch("/api/auth/me", json={"notify_push": False})
    assert r.status_code == 403 and "notify_push" in r.json["error"]["fields"]
    assert as_officer.get("/api/auth/me").json["notify_push"] is True


# --- 401 and 403 are JSON, never a redirect -------------------------------------------

PROTECTED = [
    ("GET", "/api/auth/me"),
    ("PATCH", "/api/auth/me"),
    ("POST", "/api/auth/signout"),
    ("POST", "/api/auth/password"),
    ("GET", "/api/agency"),
    ("GET", "/api/agency/staff"),
    ("GET", "/api/staff/invitations"),
    ("POST", "/api/staff/invitations"),
    ("PATCH", "/api/agency/staff/1"),
    ("GET", "/api/agency/districts"),
    ("POST", "/api/agency/districts"),
    ("GET", "/api/cameras"),
    ("POST", "/api/cameras"),
]


@pytest.mark.one_database
@pytest.mark.parametrize("method,path", PROTECTED)
def test_protected_routes_answer_json_401_without_a_session(client, method, path):
    # An invalid body too: the missing session is what the caller hears about.
    r = client.open(path, method=method, json={"unknown": 1})
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert "Location" not in r.headers
    assert r.json["error"]["code"] == "unauthenticated"


def test_tampered_session_cookie_is_401(app, world):
    client = signed_in(app, world.owner)
    value = client.get_cookie("porchlight_session").value
    client.set_cookie("porchlight_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    r = client.get("/api/auth/me")
    assert r.status_code == 401 and r.is_json


@pytest.mark.one_database
@pytest.mark.parametrize("who,method,path", [
    ("officer", "GET", "/api/cameras"),
    ("supervisor", "POST", "/api/cameras"),
    ("owner", "GET", "/api/agency/staff"),
    ("manager", "GET", "/api/agency/staff"),
    ("officer", "GET", "/api/agency/staff"),
    ("owner", "GET", "/api/agency/districts"),
    ("manager", "POST", "/api/agency/districts"),
    ("owner", "GET", "/api/agency"),
])
def test_wrong_role_gets_json_403(app, world, who, method, path):
    client = signed_in(app, getattr(world, who))
    r = client.open(path, method=method, json={})
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "application/json"
    assert r.json["error"]["code"] == "forbidden"
    assert who in r.json["error"]["message"]


# --- the session cookie ------------------------------------------------------------------


def test_session_cookie_flags(client):
    r = client.post("/api/auth/signup", json={"email": "cookie@example.com", "password": PASSWORD})
    cookie = session_cookie(r)
    assert cookie is not None
    attributes = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert any(a.startswith("Expires=") for a in attributes), "the session outlives a browser restart"
    assert "Secure" not in attributes, "the test config serves plain http"


def test_session_cookie_is_secure_in_production_settings(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    client = app.test_client()
    r = client.post("/api/auth/signup", json={"email": "secure@example.com", "password": PASSWORD},
                    base_url="https://porchlight.test")
    assert r.status_code == 201
    attributes = [part.strip() for part in session_cookie(r).split(";")]
    assert {"Secure", "HttpOnly", "SameSite=Lax"} <= set(attributes)


def test_password_hash_is_argon2id_and_never_in_any_answer(app, world):
    supervisor = signed_in(app, world.supervisor)
    owner = app.test_client()
    answers = [
        owner.post("/api/auth/signup", json={"email": "hash@example.com", "password": PASSWORD}),
        owner.get("/api/auth/me"),
        owner.patch("/api/auth/me", json={"display_name": "H"}),
        app.test_client().post("/api/auth/signin", json={"login": "hash@example.com", "password": PASSWORD}),
        supervisor.get("/api/agency/staff"),
        supervisor.post("/api/staff/invitations", json={"email": "new.officer@example.com", "role": "officer"}),
    ]
    _, joined = join(app, invitation_token("new.officer@example.com"), PASSWORD)
    answers.append(joined)
    for answer in answers:
        assert answer.status_code < 300, answer.json
        assert_no_secrets(answer)
    hashes = db.session.scalars(sa.select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
