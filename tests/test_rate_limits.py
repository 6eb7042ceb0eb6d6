"""Rate limits: sign-in, phone codes (the SMS pumping guard), enrollment lookups, upload creation."""
from __future__ import annotations

import random
import time
import uuid

import pytest
import redis
import sqlalchemy as sa

from app.extensions import db
from app.notifications.models import SmsDirection, SmsMessage, SmsOptOut
from tests import factories
from tests.conftest import second_factor_code, signed_in
from tests.peers import scenario

TUS = {"Tus-Resumable": "1.0.0", "Upload-Length": "100"}


@pytest.fixture
def limited(make_app):
    """An app with rate limits on (memory storage); each setting can be overridden."""
    contexts = []

    def make(**overrides):
        app = make_app(RATELIMIT_ENABLED=True, **overrides)
        ctx = app.app_context()
        ctx.push()
        contexts.append(ctx)
        return app

    yield make
    for ctx in reversed(contexts):
        db.session.remove()
        ctx.pop()


def from_ip(app, ip):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def assert_limited(response, what):
    assert response.status_code == 429, response.json
    error = response.json["error"]
    assert error["status"] == 429 and error["code"] == "rate_limited"
    assert what in error["message"] and "Try again in" in error["message"]
    assert int(response.headers["Retry-After"]) >= 1


def sign_in(client, login, password="wrong-password"):
    return client.post("/api/auth/signin", json={"login": login, "password": password})


def outbound_sms() -> int:
    return db.session.scalar(sa.select(sa.func.count(SmsMessage.id))
                             .where(SmsMessage.direction == SmsDirection.OUTBOUND))


def test_sign_in_is_limited_per_address(limited):
    app = limited(RATELIMIT_SIGN_IN="3 per minute", RATELIMIT_SIGN_IN_LOGIN="100 per minute")
    world = factories.World.build()
    attacker = from_ip(app, "203.0.113.7")
    for n in range(3):
        assert sign_in(attacker, f"nobody{n}@example.org").status_code == 401
    r = sign_in(attacker, "someone-else@example.org")
    assert_limited(r, "sign-in attempts from this address")
    # The right password does not get through either, from the limited address...
    assert sign_in(attacker, world.owner.email, factories.PASSWORD).status_code == 429
    # ...while another address signs in.
    assert sign_in(from_ip(app, "198.51.100.2"), world.owner.email, factories.PASSWORD).status_code == 200


def test_sign_ups_are_limited_per_address_so_taken_logins_cannot_be_listed(limited):
    app = limited(RATELIMIT_SIGN_UP="3 per hour")
    world = factories.World.build()
    prober = from_ip(app, "203.0.113.8")
    for n in range(2):
        r = prober.post("/api/auth/signup", json={"email": f"probe{n}@example.org", "password": "a-long-password-1"})
        assert r.status_code == 201
    # A taken address answers as a free one does (its holder is told); the limit slows probing all the same.
    taken = prober.post("/api/auth/signup", json={"email": world.owner.email, "password": "a-long-password-1"})
    assert taken.status_code == 201
    r = prober.post("/api/auth/signup", json={"email": "probe9@example.org", "password": "a-long-password-1"})
    assert_limited(r, "sign-ups from this address")
    fresh = from_ip(app, "198.51.100.3").post("/api/auth/signup",
                                              json={"email": "neighbour@example.org", "password": "a-long-password-1"})
    assert fresh.status_code == 201


def test_sign_in_is_limited_per_login_across_addresses(limited):
    app = limited(RATELIMIT_SIGN_IN="100 per minute", RATELIMIT_SIGN_IN_LOGIN="3 per minute")
    world = factories.World.build()
    for n in range(3):
        assert sign_in(from_ip(app, f"203.0.113.{n + 1}"), world.owner.email).status_code == 401
    # The same login, spelled differently, from a fresh address.
    r = sign_in(from_ip(app, "203.0.113.99"), f"  {world.owner.email.upper()} ")
    assert_limited(r, "sign-in attempts for this login")
    r = from_ip(app, "203.0.113.99").post("/api/auth/signin", json={
        "login": world.officer.email, "password": factories.PASSWORD, "code": second_factor_code(app, world.officer)})
    assert r.status_code == 200


def test_limits_count_in_redis_without_the_login(limited, redis_url):
    app = limited(RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_SIGN_IN="2 per minute",
                  RATELIMIT_SIGN_IN_LOGIN="100 per minute")
    ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    login = f"victim-{uuid.uuid4().hex[:8]}@example.org"
    r = redis.Redis.from_url(redis_url)
    try:
        for _ in range(2):
            assert sign_in(from_ip(app, ip), login).status_code == 401
        assert_limited(sign_in(from_ip(app, ip), login), "sign-in attempts from this address")
        keys = [k.decode() for k in r.scan_iter("*porchlight-limits*")]
        assert any(ip in k for k in keys)
        assert not any("victim" in k for k in keys)
        assert sign_in(from_ip(app, "203.0.113.9"), login).status_code == 401
    finally:
        for key in r.scan_iter("*porchlight-limits*"):
            if ip.encode() in key or b"203.0.113.9/" in key or b"login:" in key:
                r.delete(key)
        r.close()


def test_phone_verification_limit_stops_the_texts(limited):
    app = limited(RATELIMIT_PHONE_VERIFICATION="2 per 10 minutes")
    factories.World.build()
    owner = scenario.owner()
    other = scenario.owner()
    db.session.commit()
    client = signed_in(app, owner)
    before = outbound_sms()
    for n in range(2):
        assert client.post("/api/auth/phone/verification",
                           json={"phone": f"+1414555017{n}"}).status_code == 202
    assert outbound_sms() == before + 2
    r = client.post("/api/auth/phone/verification", json={"phone": "+14145550179"})
    assert_limited(r, "verification codes sent to your account")
    assert outbound_sms() == before + 2
    # Another owner is not held back by this one.
    assert signed_in(app, other).post("/api/auth/phone/verification",
                                      json={"phone": "+14145550188"}).status_code == 202


def test_phone_verification_limit_per_destination_number(limited):
    app = limited(RATELIMIT_PHONE_VERIFICATION="1 per 10 minutes")
    factories.World.build()
    first, second = scenario.owner(), scenario.owner()
    db.session.commit()
    assert signed_in(app, first).post("/api/auth/phone/verification",
                                      json={"phone": "+14145550166"}).status_code == 202
    before = outbound_sms()
    r = signed_in(app, second).post("/api/auth/phone/verification", json={"phone": "(414) 555-0166"})
    assert_limited(r, "verification codes sent to this number")
    assert outbound_sms() == before


def test_verification_texts_have_an_instance_wide_cap(limited):
    app = limited(RATELIMIT_VERIFICATION_SMS_TOTAL="2 per hour")
    factories.World.build()
    owners = [scenario.owner() for _ in range(3)]
    db.session.commit()
    clients = [signed_in(app, o) for o in owners]
    # A refused request (a number that texted STOP) does not use up the budget.
    db.session.add(SmsOptOut(phone="+14145550150"))
    db.session.commit()
    assert clients[0].post("/api/auth/phone/verification", json={"phone": "+14145550150"}).status_code == 409
    for n, client in enumerate(clients[:2]):
        assert client.post("/api/auth/phone/verification", json={"phone": f"+1414555016{n}"}).status_code == 202
    before = outbound_sms()
    r = clients[2].post("/api/auth/phone/verification", json={"phone": "+14145550169"})
    assert_limited(r, "verification texts sent by this server")
    assert outbound_sms() == before


def test_code_attempts_are_limited_per_user(limited):
    app = limited(RATELIMIT_PHONE_VERIFY="3 per 10 minutes", RATELIMIT_PHONE_VERIFICATION="100 per hour")
    factories.World.build()
    owner, other = scenario.owner(), scenario.owner()
    db.session.commit()
    client = signed_in(app, owner)
    for _ in range(3):
        assert client.post("/api/auth/phone/verify", json={"code": "000000"}).status_code != 429
    assert_limited(client.post("/api/auth/phone/verify", json={"code": "000000"}), "attempts at the texted code")
    assert signed_in(app, other).post("/api/auth/phone/verify", json={"code": "000000"}).status_code != 429


def test_enrollment_lookups_are_limited_per_address(limited):
    app = limited(RATELIMIT_ENROLLMENT_LOOKUP="3 per minute")
    world = factories.World.build()
    code = factories.enrollment_code(world.agency)
    db.session.commit()
    guesser = from_ip(app, "203.0.113.50")
    for guess in ("AAAA-AAAA", "AAAA-AAAB", "AAAA-AAAC"):
        assert guesser.get(f"/api/enrollment/lookup/{guess}").status_code == 404
    r = guesser.get(f"/api/enrollment/lookup/{code.code}")
    assert_limited(r, "enrollment codes tried from this address")
    # Sign-up with a code counts into the same budget.
    r = guesser.post("/api/auth/signup", json={"email": "g@example.org", "password": "a long passphrase 1",
                                               "enrollment_code": code.code})
    assert_limited(r, "enrollment codes tried")
    assert from_ip(app, "198.51.100.50").get(f"/api/enrollment/lookup/{code.code}").status_code == 200


@pytest.mark.one_database
def test_upload_creation_is_limited_per_link_token(limited):
    app = limited(RATELIMIT_UPLOAD_CREATION="2 per hour")
    client = from_ip(app, "203.0.113.60")
    for _ in range(2):
        r = client.post("/api/uploads", headers={**TUS, "Authorization": "Bearer link-token-one"})
        assert r.status_code != 429
    r = client.post("/api/uploads", headers={**TUS, "Authorization": "Bearer link-token-one"})
    assert_limited(r, "uploads started")
    assert r.headers["Tus-Resumable"] == "1.0.0"
    r = client.post("/api/uploads", headers={**TUS, "Authorization": "Bearer link-token-two"})
    assert r.status_code != 429


def test_limits_reset_after_their_window(limited):
    app = limited(RATELIMIT_ENROLLMENT_LOOKUP="2 per 2 seconds")
    client = from_ip(app, "203.0.113.70")
    for _ in range(2):
        assert client.get("/api/enrollment/lookup/AAAA-AAAA").status_code == 404
    r = client.get("/api/enrollment/lookup/AAAA-AAAA")
    assert_limited(r, "enrollment codes")
    assert int(r.headers["Retry-After"]) <= 2
    time.sleep(2.1)
    assert client.get("/api/enrollment/lookup/AAAA-AAAA").status_code == 404


def test_nothing_is_limited_when_disabled(make_app):
    app = make_app(RATELIMIT_ENABLED=False, RATELIMIT_SIGN_IN="1 per hour", RATELIMIT_ENROLLMENT_LOOKUP="1 per hour")
    client = from_ip(app, "203.0.113.80")
    for _ in range(5):
        assert sign_in(client, "nobody@example.org").status_code == 401
        assert client.get("/api/enrollment/lookup/AAAA-AAAA").status_code == 404


@pytest.mark.one_database
def test_limited_operations_document_429(limited):
    app = limited()
    spec = app.test_client().get("/api/openapi.json").json
    for path, method in [("/api/auth/signin", "post"), ("/api/auth/phone/verification", "post"),
                         ("/api/auth/phone/verify", "post"), ("/api/enrollment/lookup/{code}", "get"),
                         ("/api/enrollment/redeem", "post"), ("/api/uploads", "post")]:
        response = spec["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in response["headers"], path


@pytest.mark.one_database
def test_a_malformed_limit_stops_start_up(make_app):
    with pytest.raises(RuntimeError, match="RATELIMIT_SIGN_IN"):
        make_app(RATELIMIT_SIGN_IN="ten a minute")


def test_an_unreachable_limit_store_does_not_take_sign_in_down(make_app):
    """Redis down (here: nothing listens on the port): limits count in memory meanwhile."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0",
                   RATELIMIT_SIGN_IN="2 per minute")
    with app.app_context():
        world = factories.World.build()
        login = world.owner.email
    # A fresh browser each time: one that signed in holds a device cookie, exempt from this limit.
    for _ in range(2):
        r = app.test_client().post("/api/auth/signin", json={"login": login, "password": factories.PASSWORD})
        assert r.status_code == 200, r.json
    assert_limited(app.test_client().post("/api/auth/signin", json={"login": login, "password": factories.PASSWORD}),
                   "sign-in attempts from this address")


@pytest.mark.one_database
def test_annual_reports_are_limited_per_address(limited):
    # Each one verifies the agency's whole audit chain: JSON, CSV and PDF share one budget.
    app = limited(RATELIMIT_ANNUAL_REPORT="2 per minute")
    world = factories.World.build()
    client = from_ip(app, "203.0.113.80")
    base = f"/api/public/agencies/{world.agency.slug}/reports/2025"
    assert client.get(base).status_code == 200 and client.get(base + ".csv").status_code == 200
    assert_limited(client.get(base + ".pdf"), "annual reports generated for this address")
    assert from_ip(app, "198.51.100.80").get(base).status_code == 200
