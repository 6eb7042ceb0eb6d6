"""Owner control and the supervisor's audit log in a real browser, against the real app.

- An owner downloads their data from Settings (a JSON file with their account in it).
- An owner leaves an agency after confirming; the agency disappears from their memberships.
- An owner deletes their account with their password and the typed word DELETE; they
  land signed out and can no longer sign in.
- A supervisor opens the audit log: the status of the agency's chain and of the history
  chain, events (a hold among them), filters, the CSV export link. Every screen passes axe-core and is screenshotted.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot


def test_owner_downloads_their_data(page, live_server, browser_log):
    owner = live_server.new_owner(display_name="Export Tester")
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    expect(page.get_by_role("heading", name="Your data")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download my data").click()
    download = info.value
    assert download.suggested_filename.startswith("porchlight-my-data-")
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert document["account"]["email"] == owner.login
    assert [m["agency_id"] for m in document["memberships"]] == [m["agency_id"] for m in owner.user["memberships"]]
    page.get_by_role("heading", name="Your data").scroll_into_view_if_needed()
    axe_check(page)
    screenshot(page, "owner-settings-privacy")
    fits_360(page)
    assert browser_log.script_errors == []


def test_owner_leaves_an_agency_after_confirming(page, live_server, browser_log):
    owner = live_server.new_owner()
    [membership] = owner.user["memberships"]
    name = membership["agency_name"]
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    page.get_by_role("button", name=f"Leave {name}").click()
    confirm = page.get_by_role("button", name=f"Yes, leave {name}")
    expect(confirm).to_be_focused()
    axe_check(page)
    confirm.click()
    expect(page.locator(".leave-agency .success")).to_contain_text(f"You left {name}")
    assert owner.session.get("/api/auth/me").json()["memberships"] == []
    assert browser_log.script_errors == []


def test_owner_deletes_their_account(page, live_server, browser_log):
    owner = live_server.new_owner(display_name="Delete Tester")
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    form = page.locator("form.delete-account-form")
    # The typed confirmation is required, and a wrong password is refused by the server.
    form.get_by_label("Your password").fill(owner.password)
    form.get_by_label("Type DELETE to confirm").fill("delete")
    form.get_by_role("button", name="Delete my account").click()
    expect(form.locator("#delete-confirm-error")).to_contain_text("Type DELETE")
    form.get_by_label("Your password").fill("not-the-password")
    form.get_by_label("Type DELETE to confirm").fill("DELETE")
    form.get_by_role("button", name="Delete my account").click()
    expect(form.locator("#delete-password-error")).to_contain_text("Does not match")
    axe_check(page)
    form.get_by_label("Your password").fill(owner.password)
    form.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    assert page.context.request.get(live_server.url("/api/auth/me")).status == 401
    again = live_server.api().post("/api/auth/signin", json={"login": owner.login, "password": owner.password})
    assert again.status_code == 401
    assert browser_log.script_errors == []


def test_supervisor_reads_the_audit_log(page, live_server, browser_log):
    officer = live_server.sign_in("officer")
    now = datetime.now().astimezone()
    made = officer.post("/api/requests", json={
        "case_number": f"AU-{now:%H%M%S}", "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "Audit viewer test request.",
        "latitude": 43.0417, "longitude": -87.9095, "radius_m": 150,
        "window_start": (now - timedelta(hours=2)).isoformat(), "window_end": (now - timedelta(hours=1)).isoformat()})
    assert made.status_code == 201, made.text
    supervisor = live_server.sign_in("supervisor")
    held = supervisor.post(f"/api/requests/{made.json()['id']}/holds", json={"reason": "Court order AU-1."})
    assert held.status_code == 201, held.text

    live_server.sign_in_context(page.context, "supervisor")
    page.goto("/#/officer/audit")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(page.locator(".chain-status")).to_contain_text("Chains verified.")
    # The agency's own chain (where its writes go), then the sealed history chain it continues.
    chains = page.locator(".chain-list li")
    expect(chains.first).to_contain_text("Your agency's chain")
    expect(chains.first).to_contain_text("verified")
    expect(chains.nth(1)).to_contain_text("History chain (sealed)")
    expect(page.locator("li.audit-event[data-action='hold.placed']").first).to_contain_text("Court order AU-1.")
    csv_link = page.get_by_role("link", name="Export these events as CSV")
    assert csv_link.get_attribute("href") == "/api/agency/audit.csv"
    axe_check(page)
    screenshot(page, "supervisor-audit")
    fits_360(page)

    # Filtering by action narrows the list and the CSV link follows the filter.
    page.get_by_text("Filter events").click()
    page.get_by_label("Action").fill("hold.*")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("li.audit-event").first).to_have_attribute("data-action", "hold.placed")
    actions = set(page.locator("li.audit-event").evaluate_all("items => items.map(i => i.dataset.action)"))
    assert actions <= {"hold.placed", "hold.released"}
    assert "action=hold.*" in page.get_by_role("link", name="Export these events as CSV").get_attribute("href") \
        .replace("%2A", "*")
    # Owners and officers are not shown the screen's data.
    assert live_server.sign_in("officer").get("/api/agency/audit").status_code == 403
    assert browser_log.script_errors == []
