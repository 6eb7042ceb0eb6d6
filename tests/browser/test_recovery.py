"""A forgotten password recovered in the app at 390x844: from the sign-in screen to "Forgot
password?", a link by e-mail (a real SMTP server with STARTTLS) or a code by SMS (a local
Twilio API), a new password, and signed in with it; a browser signed in before is signed out
and told why."""
from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot
from tests.browser.liveserver import LiveServer
from tests.peers.smtp_server import LocalSmtpServer
from tests.peers.twilio_api import LocalTwilio

NEW_PASSWORD = "violet-harbour-lantern-42"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    with LocalSmtpServer(tmp_path_factory.mktemp("smtp")) as smtp, LocalTwilio() as twilio:
        yield smtp, twilio


@pytest.fixture(scope="module")
def server(tmp_path_factory, peers):
    """A server that sends e-mail to the local SMTP server and SMS to the local Twilio API
    (stopped before them: it holds a connection to the SMTP server open for reuse)."""
    smtp, twilio = peers
    with LiveServer(tmp_path_factory.mktemp("live_server"), env={**smtp.settings(), **twilio.config()}) as server:
        yield server


@pytest.fixture
def context_options(server) -> dict:
    return {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
            "has_touch": True, "locale": "en-US", "timezone_id": "America/Chicago", "base_url": server.base_url}


def verify_email(server, user_id: int) -> None:
    # Sign-up's verification link has its own browser test (test_sign_up.py); here the
    # address counts as proved without it.
    database = server.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE users SET email_verified_at = ? WHERE id = ?",
                           (datetime.now(UTC).replace(tzinfo=None).isoformat(" "), user_id))


def earlier_browser(browser, context_options, server, owner):
    """Another browser, signed in before the reset, showing the owner's cameras."""
    context = browser.new_context(**context_options)
    server.sign_in_context(context, owner.login, owner.password)
    page = context.new_page()
    page.goto("/#/cameras")
    expect(page.get_by_role("heading", name="Your cameras")).to_be_visible()
    return context, page


def open_forgot(page, login: str) -> None:
    page.goto("/#/signin")
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot password", level=1)).to_be_visible()
    page.get_by_label("E-mail or mobile number").fill(login)
    page.get_by_role("button", name="Send link or code").click()
    expect(page.locator("#main p.success")).to_contain_text("If an account uses this address")


def type_new_password(page, again: str = NEW_PASSWORD) -> None:
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(again)
    page.get_by_role("button", name="Set new password").click()


def signs_in_with_the_new_password(page, login: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("p.alert")).to_contain_text("Password changed")
    page.get_by_label("E-mail or mobile number").fill(login)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"#/inbox$"))


def is_signed_out(page) -> None:
    page.goto("/#/history")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("p.alert")).to_contain_text("Your password was changed")


def test_password_reset_by_e_mail_link(page, browser, context_options, server, peers, browser_log):
    smtp, _ = peers
    owner = server.new_owner()
    verify_email(server, owner.user["id"])
    earlier, earlier_page = earlier_browser(browser, context_options, server, owner)

    before = len(smtp.received)  # sign-up's verification e-mail among them
    open_forgot(page, owner.login)
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_focused()
    axe_check(page)
    fits_360(page)
    [received] = smtp.wait_for(before + 1)[before:]
    assert received.recipients == (owner.login,)
    link = re.search(r"(http://127\.0\.0\.1:\d+/#/reset/\S+)", received.text).group(1)

    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.get_by_text(f"For your camera owner account ({owner.login})")).to_be_visible()
    type_new_password(page, again="something-else-entirely")
    expect(page.locator("#reset-password-again-error")).to_contain_text("The two passwords differ")
    expect(page.get_by_label("New password again")).to_be_focused()
    axe_check(page)
    screenshot(page, "password-reset-link")
    type_new_password(page)
    signs_in_with_the_new_password(page, owner.login)
    is_signed_out(earlier_page)

    # The link is used up: opening it again says so and offers a new one.
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("has been used")
    expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
    earlier.close()
    assert browser_log.script_errors == []


def test_password_reset_by_sms_code(page, browser, context_options, server, peers, browser_log):
    _, twilio = peers
    phone = f"+1414555{secrets.randbelow(10_000):04d}"
    owner = server.new_owner(phone=phone)
    # The number is verified as the app does it: a texted code typed back.
    assert owner.session.post("/api/auth/phone/verification", json={}).status_code == 202
    code = re.search(r"\b(\d{6})\b", twilio.to(phone)[-1].body).group(1)
    assert owner.session.post("/api/auth/phone/verify", json={"code": code}).ok
    earlier, earlier_page = earlier_browser(browser, context_options, server, owner)

    open_forgot(page, phone.removeprefix("+1"))
    expect(page.get_by_role("heading", name="Check your text messages")).to_be_focused()
    assert twilio.wait_for(2)
    texted = twilio.to(phone)[-1].body
    assert "reset the password of your camera owner account" in texted
    reset_code = re.search(r"\b(\d{6})\b", texted).group(1)
    wrong = f"{(int(reset_code) + 1) % 10**6:06d}"
    page.get_by_label("Code from the text message").fill(wrong)
    type_new_password(page)
    expect(page.locator("#reset-code-error")).to_contain_text("wrong, used or expired")
    axe_check(page)
    fits_360(page)
    screenshot(page, "password-reset-code")
    page.get_by_label("Code from the text message").fill(reset_code)
    page.get_by_role("button", name="Set new password").click()
    signs_in_with_the_new_password(page, phone)
    is_signed_out(earlier_page)
    earlier.close()
    assert browser_log.script_errors == []
