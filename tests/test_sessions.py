"""Sessions are records on the server: signing out ends one for good, an account holder
sees and ends their others, password changes and deactivation end them all, and idle
and absolute limits apply to everyone (minutes and hours for police, days for owners)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import UserSession
from app.accounts.sessions import purge_ended_sessions
from app.audit.models import AuditEvent
from app.cameras.models import Camera
from app.db import utcnow
from app.extensions import db
from app.jobs import tick
from tests import factories
from tests.conftest import signed_in

COOKIE = "porchlight_session"
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Mobile Safari/537.36")
LAPTOP_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CAMERA = {"label": "Porch", "latitude": 43.0418, "longitude": -87.9093, "retention_days": 14,
          "public_attestation": True}


def records(user) -> list[UserSession]:
    return list(db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user.id)
                                   .order_by(UserSession.id)))


def _shift(user, *, started: float = 0, seen: float = 0) -> None:
    """Move the account's sessions' start and last request back by the given seconds."""
    for record in records(user):
        record.created_at -= timedelta(seconds=started)
        record.last_seen_at -= timedelta(seconds=seen)
    db.session.commit()


def refused(response, code: str, *words: str) -> None:
    assert response.status_code == 401, response.json
    error = response.json["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error["message"]


def holding(app, cookie: str):
    """A client that sends this session cookie (what an attacker replays)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


# --- the attack as found: a cookie copied before signing out ------------------------------------

def test_a_cookie_copied_before_sign_out_is_refused_afterwards(app, world):
    owner = signed_in(app, world.owner)
    stolen = owner.get_cookie(COOKIE).value
    assert holding(app, stolen).get("/api/auth/me").status_code == 200  # it works while the session is open

    assert owner.post("/api/auth/signout").status_code == 204

    refused(holding(app, stolen).get("/api/auth/me"), "session_revoked", "signed out")
    refused(holding(app, stolen).post("/api/cameras", json=CAMERA), "session_revoked")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Camera)) == 0
    # Replayed again and again it stays refused, and no answer hands out a live cookie.
    for _ in range(3):
        thief = holding(app, stolen)
        refused(thief.get("/api/auth/me"), "session_revoked")
        assert thief.get_cookie(COOKIE) is None
    [record] = records(world.owner)
    assert record.ended_at is not None and record.end_reason == "signed_out"
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.signout")).all()
    assert event.details == {"session_id": record.id}


def test_the_cookie_holds_a_key_the_database_keeps_only_a_hash_of(app, world):
    client = signed_in(app, world.owner)
    cookie = client.get_cookie(COOKIE).value
    [record] = records(world.owner)
    rows = db.session.execute(sa.text("SELECT * FROM user_sessions")).all()
    assert len(record.key_hash) == 64 and all(record.key_hash not in cookie for _ in rows)
    # Flask's cookie is readable (only signed): the key in it is never what the database holds.
    from flask.sessions import SecureCookieSessionInterface

    data = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)
    assert data["sid"] not in str([tuple(r) for r in rows])


def test_an_ordinary_request_does_not_reissue_the_cookie(app, world):
    client = signed_in(app, world.owner)
    response = client.get("/api/auth/me")
    assert response.status_code == 200 and not response.headers.getlist("Set-Cookie")


# --- Settings: the account's sessions --------------------------------------------------------

def test_settings_list_the_sessions_and_sign_out_one_or_all_others(app, world):
    phone = app.test_client(); phone.environ_base["HTTP_USER_AGENT"] = PHONE_UA  # noqa: E702
    phone.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    phone.post("/api/auth/signin", json={"login": world.owner.email, "password": factories.PASSWORD})
    laptop = app.test_client(); laptop.environ_base["HTTP_USER_AGENT"] = LAPTOP_UA  # noqa: E702
    laptop.post("/api/auth/signin", json={"login": world.owner.email, "password": factories.PASSWORD})
    tablet = signed_in(app, world.owner)

    listed = phone.get("/api/auth/sessions").json
    assert len(listed) == 3
    mine = [s for s in listed if s["current"]]
    assert len(mine) == 1 and mine[0]["user_agent"] == "Chrome on Android" and mine[0]["ip_address"] == "198.51.100.20"
    laptop_id = next(s["id"] for s in listed if s["user_agent"] == "Firefox on Linux")

    # "Sign out this one" for the laptop, from the phone.
    assert phone.delete(f"/api/auth/sessions/{laptop_id}").status_code == 204
    refused(laptop.get("/api/auth/me"), "session_revoked", "another device")
    assert len(phone.get("/api/auth/sessions").json) == 2

    # Someone else's session, or one already ended, is not there to end.
    other = signed_in(app, world.other_owner)
    other_id = other.get("/api/auth/sessions").json[0]["id"]
    assert phone.delete(f"/api/auth/sessions/{other_id}").status_code == 404
    assert phone.delete(f"/api/auth/sessions/{laptop_id}").status_code == 404
    assert other.get("/api/auth/me").status_code == 200

    # "Sign out everywhere else".
    response = phone.post("/api/auth/sessions/sign-out-others")
    assert response.status_code == 200 and response.json == {"ended": 1}
    refused(tablet.get("/api/auth/me"), "session_revoked", "every other device")
    assert phone.get("/api/auth/me").status_code == 200
    assert [s["current"] for s in phone.get("/api/auth/sessions").json] == [True]
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"auth.session_signed_out", "auth.signed_out_elsewhere"} <= actions

    # Signing out this one from the list signs this client out.
    this_id = phone.get("/api/auth/sessions").json[0]["id"]
    assert phone.delete(f"/api/auth/sessions/{this_id}").status_code == 204
    refused(phone.get("/api/auth/me"), "unauthenticated")


def test_deactivation_and_a_two_step_reset_end_every_session(app, world):
    laptop, phone = signed_in(app, world.officer), signed_in(app, world.officer)
    supervisor = signed_in(app, world.supervisor)
    assert supervisor.post(f"/api/agency/staff/{world.officer.id}/second-factor/reset").status_code == 200
    for client in (laptop, phone):
        refused(client.get("/api/requests"), "session_revoked", "two-step sign-in was reset")

    manager = signed_in(app, world.manager)
    assert supervisor.patch(f"/api/agency/staff/{world.manager.id}", json={"active": False}).status_code == 200
    refused(manager.get("/api/district/dashboard"), "session_revoked", "deactivated")
    assert all(r.ended_at is not None for r in records(world.officer) + records(world.manager))


# --- limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_a_quiet_staff_session_times_out(app, world, role):
    user = getattr(world, role)
    client = signed_in(app, user)
    assert client.get("/api/auth/me").status_code == 200
    _shift(user, seen=29 * 60)
    assert client.get("/api/auth/me").status_code == 200  # 29 minutes quiet: still signed in
    [record] = records(user)
    assert utcnow() - record.last_seen_at < timedelta(seconds=5)  # ...and that request counted
    _shift(user, seen=31 * 60)
    refused(client.get("/api/auth/me"), "session_expired", "30 minutes")
    # The session is over, not just refused once.
    refused(client.get("/api/auth/me"), "unauthenticated")
    assert client.get("/api/requests").status_code == 401
    assert records(user)[0].end_reason == "idle"


def test_a_staff_session_ends_after_its_lifetime_however_active(app, world):
    client = signed_in(app, world.officer)
    _shift(world.officer, started=11 * 3600)
    assert client.get("/api/requests").status_code == 200
    _shift(world.officer, started=2 * 3600)
    refused(client.get("/api/requests"), "session_expired", "12 hours")


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owners_and_managers_have_limits_of_days(app, world, role):
    user = getattr(world, role)
    client = signed_in(app, user)
    _shift(user, started=80 * 86400, seen=29 * 86400)
    assert client.get("/api/auth/me").status_code == 200  # 29 days away, then back: still in
    _shift(user, seen=31 * 86400)
    refused(client.get("/api/auth/me"), "session_expired", "30 days without activity")

    client = signed_in(app, user)
    _shift(user, started=91 * 86400)  # active every day, but 91 days since signing in
    refused(client.get("/api/auth/me"), "session_expired", "at most 90 days")


def test_the_limits_are_settings(app, world):
    app.config["STAFF_IDLE_TIMEOUT_MINUTES"] = 5
    app.config["SESSION_IDLE_TIMEOUT_DAYS"] = 2
    officer, owner = signed_in(app, world.officer), signed_in(app, world.owner)
    _shift(world.officer, seen=6 * 60)
    refused(officer.get("/api/auth/me"), "session_expired", "5 minutes")
    _shift(world.owner, seen=3 * 86400)
    refused(owner.get("/api/auth/me"), "session_expired", "2 days")


def test_a_screen_polling_in_the_background_does_not_keep_a_session_awake(app, world):
    client = signed_in(app, world.officer)
    background = {"X-Porchlight-Background": "1"}
    _shift(world.officer, seen=20 * 60)
    assert client.get("/api/requests", headers=background).status_code == 200
    _shift(world.officer, seen=11 * 60)  # 31 minutes since the officer last did anything
    refused(client.get("/api/requests", headers=background), "session_expired")


def test_a_background_request_still_answers_and_a_foreground_one_counts(app, world):
    client = signed_in(app, world.officer)
    _shift(world.officer, seen=20 * 60)
    assert client.get("/api/requests").status_code == 200  # the officer opened something
    _shift(world.officer, seen=11 * 60)
    assert client.get("/api/requests", headers={"X-Porchlight-Background": "1"}).status_code == 200


def test_housekeeping_deletes_sessions_long_over(app, world):
    old, recent, open_ = signed_in(app, world.owner), signed_in(app, world.owner), signed_in(app, world.owner)
    old.post("/api/auth/signout")
    recent.post("/api/auth/signout")
    first, second, third = records(world.owner)
    first.ended_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert tick()["ended_sessions"] == 1  # the scheduler's housekeeping
    assert [r.id for r in records(world.owner)] == [second.id, third.id]
    assert purge_ended_sessions(utcnow() + timedelta(days=31)) == 1
    assert open_.get("/api/auth/me").status_code == 200
