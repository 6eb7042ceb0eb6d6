"""An owner sees where they are signed in, signs the other devices out, and a device signed
out from elsewhere is told why on its sign-in screen."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot


def test_owner_signs_out_other_devices_and_a_signed_out_device_is_told_why(page, live_server, browser_log):
    owner = live_server.new_owner()  # its API session is "another device"
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    sessions = page.locator("ul.session-list > li")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("this device")
    expect(sessions.nth(1)).to_contain_text("python-requests")
    page.get_by_role("heading", name="Where you are signed in").scroll_into_view_if_needed()
    axe_check(page)
    screenshot(page, "owner-settings-sessions")
    fits_360(page)

    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.locator("section.sessions [role=status]")).to_contain_text("1 other device is signed out")
    expect(sessions).to_have_count(1)
    refused = owner.session.get("/api/auth/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_revoked"

    # The other way round: signed out from another device, this one says why.
    other = live_server.api()
    assert other.post("/api/auth/signin", json={"login": owner.login, "password": owner.password}).ok
    this_id = next(s["id"] for s in other.get("/api/auth/sessions").json() if not s["current"])
    assert other.delete(f"/api/auth/sessions/{this_id}").status_code == 204
    page.goto("/#/cameras")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("p.alert")).to_contain_text("signed out from your account's settings on another device")
    assert browser_log.script_errors == []
