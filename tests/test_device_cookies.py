"""Device cookies: strangers' wrong guesses cannot lock a police officer out.

The attack as found: ten wrong passwords for an officer's e-mail, from any address,
made the real officer's correct password and code answer 429. Now the per-login limit
still stops guessing from untrusted clients, while the browser the officer signed in
with before holds a device cookie and signs in regardless, spending only a small
failure budget of its own.
"""
from __future__ import annotations

import pytest

from app.accounts.models import Role
from app.extensions import db
from tests import factories
from tests.conftest import second_factor_code
from tests.test_rate_limits import assert_limited, from_ip

DEVICE = "porchlight_device"


@pytest.fixture
def app(make_app):
    """Rate limits on, at their production defaults."""
    app = make_app(RATELIMIT_ENABLED=True)
    with app.app_context():
        yield app


def sign_in(app, client, user, password=factories.PASSWORD, code: str | None = "right"):
    body = {"login": user.email, "password": password}
    if code == "right":
        code = second_factor_code(app, user)
    if code:
        body["code"] = code
    return client.post("/api/auth/signin", json=body)


def test_strangers_guessing_an_officers_password_do_not_lock_out_the_officers_browser(app):
    world = factories.World.build()
    officer = world.officer
    browser = from_ip(app, "198.51.100.10")
    assert sign_in(app, browser, officer).status_code == 200
    assert browser.get_cookie(DEVICE, path="/api/auth/signin") is not None
    browser.post("/api/auth/signout")

    # The attack: 12 wrong passwords for the officer's e-mail, each from another address.
    answers = [sign_in(app, from_ip(app, f"203.0.113.{n}"), officer, "guess-" + str(n), code=None).status_code
               for n in range(1, 13)]
    # (the officer's own sign-in above counted too: 10 per 10 minutes per login)
    assert answers[:9] == [401] * 9 and answers[9:] == [429, 429, 429]

    # A new browser, even with the right password and code, meets the lockout...
    assert_limited(sign_in(app, from_ip(app, "198.51.100.11"), officer), "sign-in attempts for this login")
    # ...the officer's own browser does not.
    response = sign_in(app, browser, officer)
    assert response.status_code == 200, response.json
    assert browser.get("/api/requests").status_code == 200


def test_a_device_cookie_has_its_own_small_budget_of_failures(app):
    world = factories.World.build()
    browser = app.test_client()
    assert sign_in(app, browser, world.owner).status_code == 200
    for n in range(5):
        assert sign_in(app, browser, world.owner, f"wrong-{n}").status_code == 401
    assert_limited(sign_in(app, browser, world.owner), "failed sign-ins from this device")
    # Spending it took nothing from other clients' budgets: a new browser still signs in.
    assert sign_in(app, app.test_client(), world.owner).status_code == 200


def test_a_sign_in_that_only_lacks_its_code_is_not_a_failure(app):
    world = factories.World.build()
    browser = app.test_client()
    assert sign_in(app, browser, world.officer).status_code == 200
    for _ in range(8):  # the PWA sends the password first, then asks for the code
        response = sign_in(app, browser, world.officer, code=None)
        assert response.status_code == 401 and response.json["error"]["code"] == "second_factor_required"
    assert sign_in(app, browser, world.officer).status_code == 200


def test_wrong_codes_from_strangers_holding_the_password_do_not_lock_out_the_device(app):
    world = factories.World.build()
    browser = app.test_client()
    assert sign_in(app, browser, world.officer).status_code == 200
    for n in range(6):  # the account's budget of wrong codes (5 per 10 minutes) is spent by others
        sign_in(app, from_ip(app, f"203.0.113.{n + 1}"), world.officer, code="000000")
    assert_limited(sign_in(app, app.test_client(), world.officer), "wrong two-step codes")
    assert sign_in(app, browser, world.officer).status_code == 200


def test_the_cookie_is_per_login_signed_and_kept_to_the_sign_in_route(app):
    world = factories.World.build()
    browser = app.test_client()
    response = sign_in(app, browser, world.owner)
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(DEVICE + "=")]
    assert "Path=/api/auth/signin" in header and "HttpOnly" in header and "SameSite=Strict" in header
    assert world.owner.email not in header  # a keyed fingerprint, never the address

    # It does not exempt another login from that login's lockout...
    for n in range(10):
        sign_in(app, from_ip(app, f"203.0.113.{n + 1}"), world.other_owner, "guess", code=None)
    assert_limited(sign_in(app, browser, world.other_owner), "sign-in attempts for this login")
    # ...and a forged or altered cookie is no cookie at all.
    forged = app.test_client()
    value = browser.get_cookie(DEVICE, path="/api/auth/signin").value
    forged.set_cookie(DEVICE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"), path="/api/auth/signin")
    for n in range(10):
        sign_in(app, from_ip(app, f"203.0.114.{n + 1}"), world.owner, "guess", code=None)
    assert_limited(sign_in(app, forged, world.owner), "sign-in attempts for this login")
    assert sign_in(app, browser, world.owner).status_code == 200


def test_no_device_cookie_without_every_factor(app):
    world = factories.World.build()
    new_officer = factories.user(Role.OFFICER, agency_id=world.agency.id, totp_secret=None)
    db.session.commit()
    browser = app.test_client()
    assert sign_in(app, browser, world.owner, "wrong").status_code == 401
    assert browser.get_cookie(DEVICE, path="/api/auth/signin") is None
    # An officer still owing the two-step set-up signed in with the password alone.
    response = sign_in(app, browser, new_officer, code=None)
    assert response.status_code == 200 and response.json["second_factor"]["setup_required"] is True
    assert browser.get_cookie(DEVICE, path="/api/auth/signin") is None
