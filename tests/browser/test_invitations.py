"""Staff join by invitation, in the app on a phone (390x844): a supervisor invites on the
Staff screen, the invitee opens the e-mail's link (the live server keeps e-mails in its
outbox), chooses a password, adds Porchlight to an authenticator app (pyotp, reading the
key the screen shows), confirms a code, keeps the recovery codes and lands signed in.
"""
from __future__ import annotations

import re
import secrets

import pyotp
from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot

PASSWORD = "harbour-lantern-quiet-42"


def test_supervisor_invites_and_the_officer_joins_from_the_email(page, context, live_server, browser_log):
    email = f"recruit-{secrets.token_hex(3)}@example.org"
    live_server.sign_in_context(context, "supervisor")
    page.goto("/#/officer/staff")
    expect(page.get_by_role("heading", name="Staff", level=1)).to_be_visible()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Role").select_option("officer")
    page.get_by_label("Name").fill("Ofc. Recruit")
    page.get_by_role("button", name="Send invitation").click()
    sent = page.locator(".invitation-list li", has_text=email)
    expect(sent.locator(".success")).to_have_text(f"Invitation sent to {email}.")
    expect(sent.locator(".success")).to_be_focused()
    expect(sent.locator(".invitation-state")).to_contain_text("the link works until")
    axe_check(page)
    screenshot(page, "staff-invite")
    fits_360(page)

    # Another invitation, revoked after a confirmation.
    other = f"mistake-{secrets.token_hex(3)}@example.org"
    page.get_by_label("E-mail address").fill(other)
    page.get_by_role("button", name="Send invitation").click()
    wrong = page.locator(".invitation-list li", has_text=other)
    expect(wrong.locator(".success")).to_be_visible()
    wrong.get_by_role("button", name="Revoke").click()
    expect(wrong.locator(".confirm-question")).to_contain_text("stops working")
    wrong.get_by_role("button", name="Yes, revoke it").click()
    expect(page.locator(".invitation-list li", has_text=other)).to_have_count(0)
    revoked_link = live_server.url(f"/#/join/{live_server.invitation_token(other)}")

    # The invitee's browser: nobody is signed in there.
    context.clear_cookies()
    page.goto(live_server.url(f"/#/join/{live_server.invitation_token(email)}"))
    expect(page.get_by_role("heading", name="Join Demo Police Department", level=1)).to_be_visible()
    expect(page.locator(".join-email")).to_have_text(email)
    axe_check(page)
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD + "x")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#join-password-again-error")).to_contain_text("differ")
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="2. Add Porchlight to your authenticator app")).to_be_focused()
    expect(page.get_by_role("img", name="QR code that adds your Porchlight account to an authenticator app")) \
        .to_be_visible()
    totp = pyotp.TOTP(page.locator(".totp-secret code").inner_text().replace(" ", ""))
    axe_check(page)
    screenshot(page, "join-authenticator")
    fits_360(page)
    wrong_code = f"{(int(totp.now()) + 500000) % 1000000:06d}"
    page.get_by_label("6-digit code from the app").fill(wrong_code)
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#join-code-error")).to_contain_text("does not match")
    page.get_by_label("6-digit code from the app").fill(totp.now())
    page.get_by_role("button", name="Create my account").click()

    expect(page.get_by_role("heading", name="4. Save your recovery codes")).to_be_focused()
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    axe_check(page)
    page.get_by_role("button", name="I have saved them").click()
    expect(page).to_have_url(re.compile(r"#/officer/requests$"))
    expect(page.get_by_role("navigation").get_by_role("link", name="Requests")).to_be_visible()
    me = page.evaluate("fetch('/api/auth/me').then(r => r.json())")
    assert (me["email"], me["role"], me["display_name"]) == (email, "officer", "Ofc. Recruit")
    assert me["second_factor"]["enabled"] is True
    assert page.evaluate("fetch('/api/requests').then(r => r.status)") == 200

    # The link worked once; the revoked one never will.
    for link in (page.url.split("#")[0] + f"#/join/{live_server.invitation_token(email)}", revoked_link):
        page.goto(link)
        expect(page.get_by_role("heading", name="This invitation link no longer works")).to_be_visible()
    assert browser_log.script_errors == []
