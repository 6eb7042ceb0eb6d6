"""Civilian oversight's screens in a real browser: the demo oversight account (two-step
sign-in set up at its first sign-in) reads an approved over-limit request — purpose,
justification, who approved it and why — without any owner or camera on the page,
records a complaint against it and its outcome, and opens the audit log with its
verification. Every screen passes axe-core.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.helpers import axe_check

ZONE = ZoneInfo("America/Chicago")  # the contexts' timezone_id (conftest)
# Between the demo's two cameras ("Front porch" and "Driveway").
INCIDENT = {"latitude": 43.0417, "longitude": -87.9095}
# Sent only when the server asks for a request's legal basis and purpose (issue 17).
PURPOSE = {"legal_basis": "warrant", "warrant_number": "24-117", "warrant_court": "Circuit Court",
           "offense_category": "burglary", "affirm_no_prohibited_purpose": True}


def _approved_request(live_server, case: str) -> dict:
    end = datetime.now(ZONE).replace(second=0, microsecond=0) - timedelta(minutes=30)
    body = {**INCIDENT, "radius_m": 800, "window_start": (end - timedelta(hours=1)).isoformat(),
            "window_end": end.isoformat(), "case_number": case, "incident_type": "burglary",
            "summary": "Break-in on Market Street; looking for two people on foot.",
            "justification": "The suspects fled across the river."}
    officer = live_server.sign_in("officer")
    made = officer.post("/api/requests", json=body)
    if made.status_code == 422 and "legal_basis" in made.json()["error"].get("fields", {}):
        made = officer.post("/api/requests", json={**body, **PURPOSE})
    assert made.status_code == 201, made.text
    approved = live_server.sign_in("supervisor").post(f"/api/requests/{made.json()['id']}/approve",
                                                      json={"reason": "Route of escape confirmed."})
    assert approved.status_code == 200, approved.text
    return approved.json()


def test_oversight_reads_a_request_records_a_complaint_and_checks_the_audit_log(page, live_server, browser_log):
    case = f"OS-{datetime.now():%H%M%S%f}"[:20]
    request = _approved_request(live_server, case)
    live_server.sign_in_context(page.context, "oversight")

    page.goto("/#/oversight/requests")
    expect(page.get_by_role("heading", name="Footage requests")).to_be_visible()
    card = page.locator(f"li[data-request-id='{request['id']}']")
    expect(card).to_contain_text(f"Case {case}")
    expect(card).to_contain_text("over the limits")
    axe_check(page)

    card.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Case {case}")).to_be_visible()
    detail = page.locator("section.oversight-request")
    expect(detail).to_contain_text("The suspects fled across the river.")
    expect(detail).to_contain_text("Route of escape confirmed.")
    expect(detail).to_contain_text("Sgt. Demo Supervisor")
    expect(detail).to_contain_text("Clips delivered")
    text = detail.inner_text()
    for secret in ("Front porch", "Driveway", "Demo Owner", "owner@demo"):
        assert secret not in text
    axe_check(page)

    page.get_by_role("link", name="Record a complaint").click()
    expect(page.get_by_role("heading", name="Complaints", exact=True)).to_be_visible()
    expect(page.get_by_label("Request number")).to_have_value(str(request["id"]))
    page.get_by_label("Summary").fill("A resident says the area asked was far too wide.")
    page.get_by_role("button", name="Record complaint").click()
    expect(page.locator("p.success")).to_contain_text(f"Complaint recorded against case {case}")
    complaint = page.locator("li[data-complaint-id]").first
    expect(complaint).to_contain_text("Open")
    received = page.get_by_label("Received on").input_value() or datetime.now(ZONE).date().isoformat()
    complaint.locator("summary").click()
    complaint.get_by_label("Outcome", exact=True).select_option("unfounded")
    complaint.get_by_label("Outcome date").fill(received)
    complaint.get_by_role("button", name="Save outcome").click()
    expect(page.locator("li[data-complaint-id][data-outcome='unfounded']").first).to_contain_text("Unfounded")
    axe_check(page)

    page.get_by_role("link", name="Audit log").first.click()
    expect(page.locator(".chain-status")).to_contain_text("Chains verified.")
    expect(page.locator("li.audit-event[data-action='oversight.viewed']").first).to_be_visible()
    axe_check(page)
    assert browser_log.script_errors == []
