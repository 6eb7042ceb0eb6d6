"""The owner's filters in Settings, in a real browser against the real app: standing answers
saved, "pause all requests" with a return date and resumed again; axe-clean."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.helpers import axe_check


def test_owner_sets_filters_and_pauses_all_requests(page, live_server, browser_log):
    owner = live_server.new_owner()
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    section = page.locator("section.filters")
    expect(section.get_by_role("heading", name="Requests you decline automatically")).to_be_visible()
    section.get_by_label("Decline requests for footage older than (days)").fill("14")
    section.get_by_label("Burglary").check()
    section.get_by_role("button", name="Save filters").click()
    expect(section.get_by_role("status").last).to_have_text("Filters saved.")
    saved = owner.session.get("/api/me/filters").json()
    assert (saved["max_footage_age_days"], saved["declined_categories"]) == (14, ["burglary"])

    back = date.today() + timedelta(days=3)
    section.get_by_label("Pause all requests until").fill(back.isoformat())
    section.get_by_role("button", name="Pause requests").click()
    expect(section.get_by_text("All requests are paused until")).to_be_visible()
    assert owner.session.get("/api/me/filters").json()["paused"] is True
    section.scroll_into_view_if_needed()
    axe_check(page)
    section.get_by_role("button", name="Resume requests now").click()
    expect(section.get_by_role("button", name="Pause requests")).to_be_visible()
    assert owner.session.get("/api/me/filters").json()["paused"] is False
    assert browser_log.script_errors == []
