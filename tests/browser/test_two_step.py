"""Two-step sign-in in the app: a new officer sets up an authenticator app at the first
sign-in (QR code or typed key, then its code), keeps the recovery codes, and signs in
later with the app's code or a recovery code; a supervisor resets it for a lost phone;
an owner may turn it on and off in Settings.

The authenticator app is pyotp, reading the key the screen shows (and the QR code,
decoded by OpenCV from a screenshot of it).
"""
from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pyotp
from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot

RECOVERY_CODE = re.compile(r"^[a-z2-9]{5}-[a-z2-9]{5}$")


def _step(totp: pyotp.TOTP) -> int:
    return totp.timecode(datetime.now(UTC))


def _type_credentials(page, login: str, password: str) -> None:
    page.get_by_label("E-mail or mobile number").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _sign_out(page) -> None:
    page.goto("/#/settings")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()


def _qr_text(page, image) -> str:
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    png = image.screenshot()
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    # A white margin, as a printed code has, helps the detector.
    picture = cv2.copyMakeBorder(picture, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, _, _ = detector.detectAndDecode(picture)
        if text:
            return text
    raise AssertionError("the QR code on the screen could not be decoded")


def test_new_officer_sets_up_two_step_sign_in_and_signs_in_with_codes(page, context, live_server, browser_log):
    officer = live_server.new_staff("officer", display_name="Ofc. New Recruit", signed_in=False)
    assert officer.user["second_factor_enabled"] is False

    # -- first sign-in: the password alone opens nothing but the set-up
    page.goto("/#/signin?next=/officer/map")
    _type_credentials(page, officer.login, officer.password)
    expect(page).to_have_url(re.compile(r"#/two-step\?next=%2Fofficer%2Fmap$"))
    expect(page.get_by_role("heading", name="Set up two-step sign-in", level=1)).to_be_focused()
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link")).to_have_count(1)
    expect(nav.get_by_role("link", name="Two-step sign-in")).to_be_visible()
    # Any other screen leads back here (and the API refuses it anyway).
    page.goto("/#/officer/requests")
    expect(page).to_have_url(re.compile(r"#/two-step\?next=%2Fofficer%2Frequests$"))
    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    assert page.evaluate("fetch('/api/requests').then(r => r.status)") == 403
    axe_check(page)

    # -- Start: the QR code and the key for typing
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="1. Add Porchlight to your app")).to_be_focused()
    image = page.get_by_role("img", name="QR code that adds your Porchlight account to an authenticator app")
    shown_key = page.locator(".totp-secret code").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} )*[A-Z2-7]{1,4}", shown_key), shown_key
    secret = shown_key.replace(" ", "")
    uri = _qr_text(page, image)
    assert uri.startswith("otpauth://totp/")
    scanned = pyotp.parse_uri(uri)
    assert scanned.secret == secret and scanned.name == officer.login and scanned.issuer == "Porchlight"
    axe_check(page)
    page.locator("h1").scroll_into_view_if_needed()
    screenshot(page, "two-step-setup")
    fits_360(page)

    # After a reset the set-up also needs the code e-mailed to the account: the password
    # alone must not let someone else enrol their app.
    expect(page.locator("#two-step-email-code-hint")).to_contain_text(officer.login)
    outbox = live_server.flask("mail", "outbox", "--limit", "50").stdout
    emailed = re.findall(rf"to {re.escape(officer.login)}: Porchlight code: (\d{{6}})", outbox)
    assert emailed, outbox
    page.get_by_label("6-digit code from the e-mail").fill(emailed[-1])

    # A code that does not match is said on the field.
    totp = pyotp.TOTP(secret)
    wrong = f"{(int(totp.now()) + 500000) % 1000000:06d}"
    page.get_by_label("6-digit code from the app").fill(wrong)
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#two-step-code-error")).to_contain_text("does not match")
    expect(page.get_by_label("6-digit code from the app")).to_be_focused()

    # -- the app's code turns it on; the recovery codes are shown once
    step = _step(totp)
    page.get_by_label("6-digit code from the app").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_focused()
    expect(page.locator("p.success")).to_have_text("Two-step sign-in is on.")
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(code) for code in codes), codes
    axe_check(page)
    screenshot(page, "two-step-recovery-codes")
    fits_360(page)

    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.origin)
    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copy-status")).to_have_text("Copied 10 codes. Paste them somewhere safe.")
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as a text file").click()
    assert download.value.suggested_filename == "porchlight-recovery-codes.txt"
    saved = Path(download.value.path()).read_text()
    assert all(code in saved for code in codes) and officer.login in saved

    page.get_by_role("button", name="I have saved them").click()
    expect(page).to_have_url(re.compile(r"#/officer/requests$"))
    expect(page.get_by_role("heading", name="Footage requests", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="New request")).to_be_visible()
    page.goto("/#/settings")
    expect(page.locator(".two-step-status")).to_contain_text("10 recovery codes left")

    # -- signing in again takes the app's code
    _sign_out(page)
    page.goto("/#/signin")
    _type_credentials(page, officer.login, officer.password)
    code_field = page.get_by_label("Code from your authenticator app or a recovery code")
    expect(code_field).to_be_focused()
    assert code_field.get_attribute("autocomplete") == "one-time-code"
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    axe_check(page)
    screenshot(page, "signin-two-step-code")
    # The code already used to turn it on is refused: one code, one sign-in.
    code_field.fill(totp.generate_otp(step))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#signin-code-error")).to_contain_text("already used")
    expect(code_field).to_be_focused()
    # The next step's code (a phone clock a little ahead is accepted) has not been used.
    code_field.fill(totp.generate_otp(step + 1))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Footage requests", level=1)).to_be_visible()

    # -- and a recovery code works once, typed in any case, with or without its dash
    _sign_out(page)
    page.goto("/#/signin")
    _type_credentials(page, officer.login, officer.password)
    code_field.fill(codes[0].replace("-", "").upper())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Footage requests", level=1)).to_be_visible()
    page.goto("/#/settings")
    expect(page.locator(".two-step-status")).to_contain_text("9 recovery codes left")
    _sign_out(page)
    page.goto("/#/signin")
    _type_credentials(page, officer.login, officer.password)
    code_field.fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#signin-code-error")).to_contain_text("does not match")

    # The harness signs the officer in from here on with what the page showed.
    live_server.remember_authenticator(officer.login, secret, codes[1:], last_step=step + 1)
    assert live_server.sign_in(officer.login, officer.password).get("/api/requests").status_code == 200
    assert browser_log.script_errors == []


def test_supervisor_resets_the_two_step_sign_in_of_an_officer_who_lost_their_phone(page, live_server, browser_log):
    officer = live_server.new_staff("officer", display_name=f"Ofc. Lost Phone {secrets.token_hex(2)}")
    assert officer.session.get("/api/auth/me").json()["second_factor"]["enabled"] is True
    supervisor = live_server.sign_in_context(page.context, "supervisor")
    page.goto("/#/officer/staff")
    expect(page.get_by_role("heading", name="Staff", level=1)).to_be_visible()
    card = page.locator(f"li[data-user-id='{officer.id}']")
    expect(card).to_contain_text(officer.user["display_name"])
    expect(card.locator(".two-step-state")).to_have_text("Two-step sign-in on")
    # Nobody resets their own.
    mine = page.locator(f"li[data-user-id='{supervisor['id']}']")
    expect(mine).to_contain_text("(you)")
    expect(mine.get_by_role("button", name="Reset two-step sign-in")).to_have_count(0)
    axe_check(page)
    fits_360(page)
    screenshot(page, "supervisor-staff")

    card.get_by_role("button", name="Reset two-step sign-in").click()
    expect(card.locator(".confirm-question")).to_be_focused()
    card.get_by_role("button", name="Keep it").click()
    expect(card.get_by_role("button", name="Reset two-step sign-in")).to_be_focused()
    card.get_by_role("button", name="Reset two-step sign-in").click()
    axe_check(page)
    card.get_by_role("button", name=re.compile(r"^Yes, reset")).click()
    card = page.locator(f"li[data-user-id='{officer.id}']")
    expect(card.locator(".success")).to_be_focused()
    expect(card.locator(".success")).to_contain_text("was reset")
    expect(card.locator(".two-step-state")).to_have_text("Sets up two-step sign-in at next sign-in")

    # The officer's sessions ended; the next sign-in leads to setting it up again.
    assert officer.session.get("/api/auth/me").status_code == 401
    live_server.forget_authenticator(officer.login)
    again = live_server.api().post("/api/auth/signin", json={"login": officer.login, "password": officer.password})
    assert again.status_code == 200 and again.json()["second_factor"]["setup_required"] is True
    assert browser_log.script_errors == []


def test_an_owner_turns_two_step_sign_in_on_and_off_in_settings(page, live_server, browser_log):
    owner = live_server.new_owner()
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    expect(page.locator(".two-step-status")).to_contain_text("Off: your password alone signs you in.")
    page.get_by_role("link", name="Set up two-step sign-in").click()
    expect(page.get_by_role("heading", name="Set up two-step sign-in", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)  # not forced: no "Not now?"
    page.get_by_role("button", name="Start").click()
    totp = pyotp.TOTP(page.locator(".totp-secret code").inner_text().replace(" ", ""))
    page.get_by_label("6-digit code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator(".two-step-status")).to_contain_text("On.")
    expect(page.locator(".codes-left")).to_have_text("10 recovery codes left.")

    # New recovery codes need the password.
    page.get_by_label("Your password").first.fill("not my password")
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.locator("#two-step-codes-password-error")).to_contain_text("Does not match")
    page.get_by_label("Your password").first.fill(owner.password)
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_focused()
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="I have saved them").click()
    axe_check(page)

    # Owners may turn it off.
    page.locator("#two-step-off-password").fill(owner.password)
    page.get_by_role("button", name="Turn off two-step sign-in").click()
    expect(page.locator("p.success")).to_have_text("Two-step sign-in is off: your password alone signs you in.")
    again = live_server.api().post("/api/auth/signin", json={"login": owner.login, "password": owner.password})
    assert again.status_code == 200
    assert browser_log.script_errors == []
