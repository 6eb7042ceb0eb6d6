"""Bulk enrollment of a business improvement district in a real browser, against the real app.

A district manager of a district of their own (so the counts are exact):

- uploads a real CSV with a bad row through the import screen: the upload shows its
  progress bar (the upload is throttled so that it is seen), then the dry-run report
  with the problem under its line and column, "Nothing has been saved yet", and no
  import button; the server holds no member;
- uploads a corrected file, reads its report (3 new) and imports it; the result links
  to the dashboard;
- a file that is no spreadsheet is refused with the server's message;
- on the dashboard sees the totals, a member who enrolled with their code and
  registered a camera, searches and filters the members;
- downloads the CSV export and finds a member's row in it, downloads the QR sheet (a
  PDF), sends the SMS invitations after confirming and reads what was queued and
  skipped;
- on a server that allows one SMS an hour, is told plainly when to try again (429).

Every screen passes axe-core, fits 360 px, and is screenshotted.
"""
from __future__ import annotations

import csv
import io
import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot

HEADER = ["member_ref", "business_name", "contact_name", "phone", "email", "address", "latitude", "longitude",
          "cameras"]
MEMBERS = [
    ["RW-001", "Bay View Hardware", "Ana Díaz", "(414) 286-2201", "ana@bayview.example", "2401 S Kinnickinnic Ave",
     "42.9985", "-87.8999", "2"],
    ["RW-002", "Kinnickinnic Books", "Ben Okafor", "+1 414 286 2202", "", "2255 S Kinnickinnic Ave", "", "", "1"],
    ["RW-003", "Lake Park Bakery", "Chen Wu", "", "chen@lakepark.example", "3133 E Newport Ave", "", "", "3"],
]


@pytest.fixture
def context_options(context_options):
    """No service worker (its shell cache is tested elsewhere); downloads allowed."""
    return {**context_options, "service_workers": "block", "accept_downloads": True}


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _district_manager(live_server):
    """A manager of a new district of the demo agency (the demo district is shared by other tests)."""
    name = f"Bay View BID {secrets.token_hex(3)}"
    response = live_server.sign_in("supervisor").post("/api/agency/districts", json={"name": name})
    assert response.status_code == 201, response.text
    return name, live_server.new_staff("manager", district_id=response.json()["id"])


def _scroll_to(page, selector: str) -> None:
    """Scroll ``selector`` to the top of the viewport, nothing focused (for screenshots)."""
    page.locator(selector).first.evaluate("""el => { document.activeElement?.blur();
        window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 12); }""")


def _count(page, key: str):
    return page.locator(f"[data-total={key}] dd")


def _throttle_uploads(page, bytes_per_second: int):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": bytes_per_second})
    return cdp


def test_manager_imports_members_and_invites_them(page, live_server, browser_log, tmp_path):
    district, manager = _district_manager(live_server)
    live_server.sign_in_context(page.context, manager.login, manager.password)

    # -- a file with a bad row: the report, and nothing saved ----------------------------------
    # Padding rows make the upload long enough, throttled, for its progress to be seen.
    padding = [[f"PAD-{i:04}", f"Padding shop {i}", "Pat Doe", "", f"pad{i}@shops.example", "1 Main St "
                + "x" * 120, "", "", "0"] for i in range(400)]
    bad_rows = [MEMBERS[0], ["RW-002", "Kinnickinnic Books", "Ben Okafor", "12345", "not-an-e-mail",
                             "", "", "", "1"], *padding]
    bad = _write_csv(tmp_path / "members-with-a-problem.csv", bad_rows)
    assert bad.stat().st_size > 60_000

    page.goto("/#/district/import")
    expect(page.get_by_role("heading", name="Import members", level=1)).to_be_visible()
    axe_check(page)
    fits_360(page)
    cdp = _throttle_uploads(page, 40_000)
    page.get_by_label("Member spreadsheet").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click()
    progress = page.get_by_role("progressbar", name="Upload progress")
    expect(progress).to_be_visible()
    expect(page.locator(".import-progress-status")).to_contain_text("Uploading members-with-a-problem.csv")
    # The bar follows the bytes sent (XHR upload progress), part way through at some point.
    page.wait_for_function("() => { const bar = document.querySelector('#import-progress');"
                           " return bar && bar.value > 0 && bar.value < 100; }", polling=20)
    expect(page.locator(".import-progress-detail")).to_contain_text(re.compile(r"KB of \d+ KB sent"))
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    cdp.detach()

    report = page.get_by_role("heading", name="members-with-a-problem.csv: cannot be imported")
    expect(report).to_be_focused()
    expect(page.locator(".import-saved")).to_contain_text("Nothing has been saved yet.")
    expect(_count(page, "rows")).to_have_text(str(len(bad_rows)))
    expect(_count(page, "valid")).to_have_text(str(len(bad_rows) - 1))
    expect(_count(page, "problems")).to_have_text("1")
    line = page.locator("li.problem-line[data-line='3']")  # header = line 1, RW-001 = 2
    expect(line).to_contain_text("Line 3")
    expect(line.locator("li", has_text="phone")).to_be_visible()
    expect(line.locator("li", has_text="email")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Import"))).to_have_count(0)
    expect(_count(page, "new")).to_have_count(0)  # a rejected file is not matched: nothing to import
    assert manager.session.get("/api/district/dashboard").json()["members"] == 0
    axe_check(page)
    _scroll_to(page, "#import-report-title")
    screenshot(page, "district-import-report")
    fits_360(page)

    # -- not a spreadsheet: refused plainly --------------------------------------------------
    page.get_by_role("button", name="Upload a corrected file").click()
    expect(page.get_by_label("Member spreadsheet")).to_be_focused()
    page.get_by_label("Member spreadsheet").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + bytes(200)}])
    page.get_by_role("button", name="Upload and check").click()
    refused = page.locator(".import-error .alert")
    expect(refused.get_by_role("heading", name="The file was not accepted")).to_be_focused()
    expect(refused).to_have_attribute("data-status", "415")
    expect(refused).to_contain_text("This is not a spreadsheet Porchlight can read.")
    expect(refused).to_contain_text("Nothing has been saved.")
    axe_check(page)

    # -- the corrected file: report, then the import -------------------------------------------
    good = _write_csv(tmp_path / "members.csv", MEMBERS)
    page.get_by_label("Member spreadsheet").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="members.csv: ready to import")).to_be_focused()
    expect(page.locator(".import-saved")).to_contain_text("Nothing has been saved yet.")
    expect(_count(page, "rows")).to_have_text("3")
    expect(_count(page, "new")).to_have_text("3")
    expect(_count(page, "updated")).to_have_text("0")
    assert re.search(r"#/district/imports/\d+$", page.url)
    axe_check(page)
    page.get_by_role("button", name="Import: 3 new, 0 updated").click()
    expect(page.get_by_role("heading", name="Import complete")).to_be_focused()
    expect(_count(page, "created")).to_have_text("3")
    expect(page.locator(".import-saved")).to_contain_text("Saved.")
    axe_check(page)
    fits_360(page)
    # The report's address survives a reload, now as the import's result.
    page.reload()
    expect(page.get_by_role("heading", name="members.csv: imported")).to_be_visible()
    expect(_count(page, "created")).to_have_text("3")
    expect(page.get_by_role("button", name=re.compile(r"^Import:"))).to_have_count(0)

    # One member enrolls with their code and registers a camera.
    members = manager.session.get("/api/district/members").json()["members"]
    books = next(m for m in members if m["member_ref"] == "RW-002")
    owner = live_server.new_owner(enrollment_code=books["code_display"].replace("-", ""))
    response = owner.session.post("/api/cameras", json={
        "label": "Shop front", "latitude": 43.0005, "longitude": -87.9001, "bearing": 90, "retention_days": 14,
        "public_attestation": True})
    assert response.status_code == 201, response.text

    # -- the dashboard ----------------------------------------------------------------------------
    page.get_by_role("link", name="Open the dashboard").click()
    expect(page.get_by_role("heading", name="District dashboard", level=1)).to_be_visible()
    expect(page.locator(".district-dashboard .lead")).to_contain_text(district)
    expect(_count(page, "members")).to_have_text("3")
    expect(_count(page, "enrolled")).to_have_text("1")
    expect(_count(page, "cameras_registered")).to_have_text("1")
    expect(_count(page, "cameras_active")).to_have_text("1")
    cards = page.locator("li.member-card")
    expect(cards).to_have_count(3)
    expect(page.locator("li.member-card[data-status=enrolled]")).to_contain_text("Kinnickinnic Books")
    expect(page.locator("li.member-card", has_text="Bay View Hardware").locator(".pill")).to_have_text("not invited")
    expect(page.locator(".member-count")).to_have_text("Members 1–3 of 3.")

    page.get_by_label("Search by name, reference, phone or e-mail").fill("bakery")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Lake Park Bakery")
    expect(page.locator(".member-count")).to_have_text("Members 1–1 of 1 found.")
    page.get_by_label("Search by name, reference, phone or e-mail").fill("")
    page.get_by_label("Show").select_option("enrolled")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Kinnickinnic Books")
    assert "status=enrolled" in page.url
    page.get_by_label("Show").select_option("")
    expect(cards).to_have_count(3)
    axe_check(page)
    _scroll_to(page, "h1")
    screenshot(page, "district-dashboard")
    fits_360(page)

    # -- the CSV export -----------------------------------------------------------------------
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export members (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = {row["member_ref"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {"RW-001", "RW-002", "RW-003"}
    assert rows["RW-001"]["business_name"] == "Bay View Hardware"
    assert rows["RW-001"]["phone"] == "'+14142862201"  # E.164, neutralised like any cell starting with +
    assert rows["RW-002"]["status"] == "enrolled" and rows["RW-002"]["cameras_registered"] == "1"
    assert rows["RW-003"]["email"] == "chen@lakepark.example"

    # -- the QR sheet ---------------------------------------------------------------------------
    sheet = page.get_by_role("link", name="Print QR sheet (PDF)")
    response = page.context.request.get(live_server.url(sheet.get_attribute("href")))
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body().startswith(b"%PDF")
    with page.expect_download() as download_info:
        sheet.click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")

    # -- SMS invitations: confirm, then what was queued and skipped -----------------------------
    page.get_by_role("button", name="Send SMS invitations…").click()
    question = page.locator(".confirm-question")
    expect(question).to_be_focused()
    expect(question).to_contain_text("2 members not enrolled yet")
    axe_check(page)
    page.get_by_role("button", name="Yes, send the invitations").click()
    result = page.locator(".sms-result")
    expect(result.locator(".sms-headline")).to_have_text(re.compile(r"^1 invitation queued\."))
    expect(result.locator(".sms-headline")).to_be_focused()
    expect(result.locator("[data-total=queued] dd")).to_have_text("1")
    expect(result.locator("[data-total=skipped_no_phone] dd")).to_have_text("1")    # Lake Park Bakery
    expect(result.locator("[data-total=skipped_enrolled] dd")).to_have_text("1")    # Kinnickinnic Books
    expect(result.locator("[data-total=skipped_opted_out] dd")).to_have_text("0")
    # The totals and the list are read again: the members sent the sheet and the SMS are invited.
    expect(page.locator(".district-totals [data-total=invited] dd")).to_have_text("2")
    expect(page.locator("li.member-card", has_text="Bay View Hardware").locator(".pill")).to_have_text("invited")
    axe_check(page)
    fits_360(page)
    assert browser_log.script_errors == []


def test_refusals_are_plain_and_member_codes_fold_away(browser, context_options, live_server_factory,
                                                       browser_log, tmp_path):
    """On a server taking 2,000-byte files and one SMS an hour: a larger file is refused
    (413), a file without a required column is rejected naming it, SMS invitations
    are refused with when to try again (429), and the codes screen folds away the
    single-use codes of a 12-member import."""
    server = live_server_factory(DISTRICT_SMS_PER_HOUR="1", DISTRICT_IMPORT_MAX_BYTES="2000")
    _, manager = _district_manager(server)
    rows = [MEMBERS[0], MEMBERS[1]] + [[f"LK-{i:02}", f"Lakefront shop {i}", "Dee Roe", "", f"shop{i}@lake.example",
                                        "", "", "", "1"] for i in range(10)]
    twelve = _write_csv(tmp_path / "twelve.csv", rows)
    assert twelve.stat().st_size < 2000
    with open(twelve, "rb") as upload:
        checked = manager.session.post("/api/district/imports", files={"file": ("twelve.csv", upload, "text/csv")})
    assert checked.status_code == 201, checked.text
    committed = manager.session.post(f"/api/district/imports/{checked.json()['id']}/commit")
    assert committed.status_code == 200 and committed.json()["created"] == 12, committed.text

    context = browser.new_context(**{**context_options, "base_url": server.base_url})
    try:
        context.set_default_timeout(10_000)
        context.on("page", browser_log.attach)
        server.sign_in_context(context, manager.login, manager.password)
        page = context.new_page()

        # Too large: 413, said plainly.
        big = _write_csv(tmp_path / "big.csv", rows * 3)
        page.goto("/#/district/import")
        page.get_by_label("Member spreadsheet").set_input_files(str(big))
        page.get_by_role("button", name="Upload and check").click()
        refused = page.locator(".import-error .alert")
        expect(refused.get_by_role("heading", name="The file was not accepted")).to_be_focused()
        expect(refused).to_have_attribute("data-status", "413")
        expect(refused).to_contain_text("The file is too large.")
        expect(refused).to_contain_text("2,000 bytes")
        axe_check(page)

        # A required column missing: named in the report, for the whole header line.
        no_contact = tmp_path / "no-contact.csv"
        no_contact.write_text("member_ref,business_name,phone\r\nX-1,Corner Deli,+14142862209\r\n", encoding="utf-8")
        page.get_by_label("Member spreadsheet").set_input_files(str(no_contact))
        page.get_by_role("button", name="Upload and check").click()
        expect(page.get_by_role("heading", name="no-contact.csv: cannot be imported")).to_be_focused()
        expect(page.locator(".problem-list")).to_contain_text("contact_name")
        expect(page.locator(".import-saved")).to_contain_text("Nothing has been saved yet.")
        axe_check(page)

        # SMS over the hourly limit: 429 with when to try again.
        page.goto("/#/district/members")
        expect(page.locator("li.member-card")).to_have_count(12)
        page.get_by_role("button", name="Send SMS invitations…").click()
        page.get_by_role("button", name="Yes, send the invitations").click()
        alert = page.locator(".sms-result .alert")
        expect(alert).to_have_attribute("data-status", "429")
        expect(alert).to_contain_text("Too many invitations were sent just now.")
        expect(alert).to_contain_text(re.compile(r"You can send again in \d+ minutes? \(at \d"))
        expect(alert.locator("p[tabindex]")).to_be_focused()
        axe_check(page)
        fits_360(page)

        # The codes screen: 10 single-use codes, the other 2 behind a button.
        page.goto("/#/district")
        expect(page.locator("li.code-card")).to_have_count(10)
        page.get_by_role("button", name="Show 2 more single-use codes").click()
        expect(page.locator("li.code-card")).to_have_count(12)
        expect(page.locator("li.code-card").nth(10).locator("h3")).to_be_focused()
        axe_check(page)
        assert [e for e in browser_log.script_errors if "the server responded with a status" not in e] == []
    finally:
        context.close()
