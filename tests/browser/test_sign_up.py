"""Signing up in the app (390x844): the account starts with its e-mail address unverified,
the link from the e-mail opens a page that confirms only when pressed (opening it changes
nothing), and Settings then shows the address verified, and changes it the same way. One person's resident and police
accounts on one login: the sign-in screen asks which to use when the password opens both.

The e-mail is read from the live server's outbox (`flask mail outbox`): without MAIL_URL
that is where it goes, as on `make run`.
"""
from __future__ import annotations

import re
import secrets

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360

LINK = re.compile(r"(https?://\S+/#/verify-email/([0-9]+\.[A-Za-z0-9_-]+))")


def _link_for(live_server, address: str) -> str:
    outbox = live_server.flask("mail", "outbox", "--limit", "50").stdout
    blocks = [block for block in outbox.split("--- [") if f"to {address}:" in block]
    assert blocks, outbox
    return LINK.search(blocks[-1]).group(2)


def test_sign_up_then_confirm_the_address_from_the_email(page, context, live_server, browser_log):
    address = f"new-{secrets.token_hex(4)}@example.org"
    page.goto("/#/signup")
    page.get_by_label("E-mail").fill(address)
    page.get_by_label("Password").fill("a-good-long-password-7")
    page.get_by_role("button", name="Create account").click()

    step = page.get_by_role("heading", name="Confirm your e-mail and number")
    expect(step).to_be_visible()
    expect(page.locator(".confirm-addresses")).to_contain_text(address)
    axe_check(page)
    fits_360(page)

    token = _link_for(live_server, address)
    # Opening the link (what a mail scanner does too) shows a page and changes nothing.
    page.goto(f"/#/verify-email/{token}")
    expect(page.locator("h1")).to_have_text("Confirm your e-mail address")
    axe_check(page)
    me = page.evaluate("fetch('/api/auth/me').then(r => r.json())")
    assert me["email"] == address and me["email_verified"] is False

    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status").filter(has_text="is verified")).to_contain_text(address)
    page.get_by_role("link", name="Back to Settings").click()
    expect(page.locator(".account-facts")).to_contain_text(f"{address} (verified)")

    # The link worked once.
    page.goto(f"/#/verify-email/{token}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".form-error")).to_contain_text("has been used")

    # Changing the address: the old one stays the account's until the new one is proved.
    moved = f"moved-{secrets.token_hex(4)}@example.org"
    page.goto("/#/settings")
    section = page.locator(".email-setting")
    section.get_by_label("New e-mail address").fill(moved)
    section.get_by_role("button", name="Send a link to the new address").click()
    expect(section.get_by_role("status")).to_contain_text(moved)
    expect(page.locator(".account-facts")).to_contain_text(f"{address} (verified)")
    axe_check(page)
    page.goto(f"/#/verify-email/{_link_for(live_server, moved)}")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="Back to Settings").click()
    expect(page.locator(".account-facts")).to_contain_text(f"{moved} (verified)")
    assert browser_log.exceptions == []


def test_one_login_two_accounts_the_sign_in_screen_asks_which(page, live_server):
    address = f"both-{secrets.token_hex(4)}@example.org"
    password = "shared-password-2026"
    staff = live_server.new_staff("officer", email=address, password=password, signed_in=False)
    owner = live_server.new_owner(email=address, password=password)
    assert owner.user["id"] != staff.user["id"]

    page.goto("/#/signin")
    page.get_by_label("E-mail or mobile number").fill(address)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    choice = page.get_by_role("group", name="Sign in as")
    expect(choice).to_be_visible()
    axe_check(page)
    choice.get_by_label("Resident (camera owner)").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Requests for footage")
