"""An officer whose session timed out is sent to sign in, told why, and brought back."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.liveserver import DEMO_LOGINS


def test_a_timed_out_officer_is_told_why_and_signs_in_again(live_server_factory, browser, context_options):
    # Zero minutes: every request after signing in finds the session idle too long.
    server = live_server_factory(STAFF_IDLE_TIMEOUT_MINUTES="0")
    context = browser.new_context(**{**context_options, "base_url": server.base_url})
    try:
        page = context.new_page()
        page.goto("/#/signin?next=/officer/requests")
        login, password = DEMO_LOGINS["officer"]
        page.get_by_label("E-mail or mobile number").fill(login)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        # The requests screen asks the API, which answers session_expired: back to sign-in, with the reason.
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.locator("p.alert")).to_contain_text("without activity")
        assert "next=" in page.url and "officer" in page.url
    finally:
        context.close()
