"""The public transparency page, signed out, on a phone."""
from __future__ import annotations

from datetime import date

from tests.browser.helpers import axe_check, screenshot

# Far from the demo cameras near City Hall, so other screens' counts stay as they were.
DENSE_CELL = [(43.10012 + i * 0.0004, -87.95031 - i * 0.0003) for i in range(5)]


def _cameras_in_one_cell(live_server) -> None:
    owner = live_server.new_owner(display_name="Transparency Test Owner")
    for i, (lat, lon) in enumerate(DENSE_CELL):
        r = owner.session.post("/api/cameras", json={
            "label": f"Secret label {i}", "latitude": lat, "longitude": lon, "retention_days": 14,
            "public_attestation": True})
        assert r.status_code == 201, r.text


def test_public_report_of_the_demo_agency(live_server, page, browser_log):
    from playwright.sync_api import expect

    _cameras_in_one_cell(live_server)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto("/#/transparency")
    expect(page.locator("h1")).to_have_text("Transparency reports")
    page.get_by_role("link", name="Demo Police Department").click()

    expect(page.locator("h1")).to_have_text("Transparency report: Demo Police Department")
    assert "#/transparency/demo-pd" in page.url
    # The month table, newest month first, one card per month on a phone.
    rows = page.locator(".transparency-table tbody tr")
    expect(rows).to_have_count(12)
    # The area with 5 cameras is listed (by its centre) and drawn; no camera's own label or place.
    cells = page.locator(".transparency-cells li")
    expect(cells).to_have_count(1)
    expect(cells.first).to_contain_text("5 registered")
    expect(cells.first).to_contain_text("43.105, -87.955")
    expect(page.locator(".transparency-map[data-ready='true']")).to_be_visible()
    text = page.locator("main").inner_text()
    assert "Secret label" not in text and "Transparency Test Owner" not in text
    assert "43.10012" not in text
    # What is never shown is said plainly.
    expect(page.get_by_text("An area with fewer than 5 cameras")).to_be_visible()
    # The CSV link downloads the same months.
    href = page.get_by_role("link", name="Download the table (CSV)").get_attribute("href")
    assert href.startswith("/api/public/agencies/demo-pd/report.csv?from=")
    csv_text = page.evaluate("async (url) => (await fetch(url)).text()", href)
    assert csv_text.startswith("month,requests,") and len(csv_text.strip().splitlines()) == 13
    # The installation's signing key, as the checkpoints document has it, and the document to keep.
    published = live_server.api().get("/api/public/agencies/demo-pd/checkpoints").json()
    expect(page.locator(".transparency-checkpoints code.public-key")).to_have_text(published["public_key"])
    assert page.get_by_role("link", name="Download the signed checkpoints (JSON)").get_attribute("href") \
        == "/api/public/agencies/demo-pd/checkpoints"
    # No sideways scrolling at 360 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    axe_check(page)
    screenshot(page, "public-transparency")
    assert browser_log.script_errors == []


def test_unknown_agency_says_so(live_server, page):
    from playwright.sync_api import expect

    page.goto("/#/transparency/no-such-agency")
    expect(page.get_by_role("alert")).to_contain_text("There is no agency at this address.")


def test_annual_report_page(live_server, page, browser_log):
    """A supervisor enters the agency's costs; the public annual report, on a phone, shows the
    computed figures, explains hidden small counts, sets the entries apart, and links the PDF."""
    from playwright.sync_api import expect

    year = date.today().year - 1
    page.set_viewport_size({"width": 360, "height": 800})
    live_server.sign_in_context(page.context, "supervisor")
    page.goto(f"/#/officer/report?year={year}")
    expect(page.locator("h2#entries-title")).to_have_text(f"Entered by the agency for {year}")
    page.get_by_label("Costs").fill("Staff time, about 120 hours.")
    page.get_by_label("Policy changes").fill("Retention cut to 60 days. " * 30)
    axe_check(page)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".report-entries-form .success")).to_contain_text("Saved.")
    page.get_by_role("link", name=f"Open the public report for {year}").click()

    expect(page.locator("h1")).to_have_text(f"Annual report {year}: Demo Police Department")
    expect(page.locator(".annual-table")).to_have_count(10)
    expect(page.get_by_text("Porchlight has no way to pass a clip to another agency")).to_be_visible()
    expect(page.locator("[data-verified='true']")).to_contain_text("verified intact")
    entered = page.locator(".annual-entered")
    expect(entered.get_by_role("heading")).to_have_text("Entered by the agency, not computed")
    expect(entered).to_contain_text("Staff time, about 120 hours.")
    expect(entered).to_contain_text("Nothing entered.")  # no funding source given
    pdf = page.get_by_role("link", name="Printable report (PDF)").get_attribute("href")
    assert pdf == f"/api/public/agencies/demo-pd/reports/{year}.pdf"
    head = page.evaluate("async (url) => (await (await fetch(url)).text()).slice(0, 5)", pdf)
    assert head == "%PDF-"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    axe_check(page)
    assert browser_log.script_errors == []
