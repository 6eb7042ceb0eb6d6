"""The officer, supervisor and district-manager screens in a real browser, against the real app.

- An officer signs in through the UI, places the incident point with a map tap and the
  phone's GPS, sets radius and window, states the legal basis (a warrant: number and court),
  the offense category and affirms none of the listed prohibited purposes applies, sees the
  live match count, sends; an owner
  approves and uploads a real WebM through tus (tuspy); the officer's request page shows
  the clip arriving by itself, plays it and shows the server's SHA-256 of those bytes.
- A supervisor approves an over-limit request from the approval queue.
- The district manager sees the demo campaign code and its QR image.
- The camera map lists the demo cameras without tiles, and without Leaflet at all.

Every screen passes axe-core (no serious or critical violation) and is screenshotted.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from tusclient import client as tus_client

from tests.browser.helpers import axe_check, fits_360, screenshot

CLIP = Path(__file__).resolve().parents[1] / "data" / "clip.webm"
# Between the demo's two cameras ("Front porch" and "Driveway", about 45 m apart).
INCIDENT = {"latitude": 43.0417, "longitude": -87.9095}
ZONE = ZoneInfo("America/Chicago")  # the contexts' timezone_id (conftest)


@pytest.fixture
def context_options(context_options):
    """The phone is at the incident, with location permission granted. No service worker:
    its app-shell cache would answer the requests a test blocks (Leaflet), and the shell's
    offline behaviour is tested elsewhere."""
    return {**context_options, "geolocation": dict(INCIDENT), "permissions": ["geolocation"],
            "service_workers": "block"}


@pytest.fixture
def page(page):
    """No map tile ever loads: whatever tile server is configured, requests leaving the
    machine fail at once (the screens must work without tiles)."""
    page.context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    return page


def _local(dt: datetime) -> str:
    return dt.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def _window(minutes_ago: int, minutes: int) -> tuple[datetime, datetime]:
    end = datetime.now(ZONE).replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    return end - timedelta(minutes=minutes), end


def _set_range(page, selector: str, value: int) -> None:
    page.eval_on_selector(selector, """(input, value) => {
        input.value = String(value);
        input.dispatchEvent(new Event('input', {bubbles: true}));
    }""", value)


def _request_body(case_number: str, radius_m: float, start: datetime, end: datetime, **extra) -> dict:
    return {**INCIDENT, "radius_m": radius_m, "window_start": start.isoformat(), "window_end": end.isoformat(),
            "case_number": case_number, "incident_type": "burglary",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            "summary": "Break-in on Market Street; looking for two people on foot.", **extra}


def _scroll_to(page, selector: str) -> None:
    """Scroll so that ``selector`` sits just under the sticky header, nothing focused (for screenshots)."""
    page.locator(selector).first.evaluate("""el => { document.activeElement?.blur();
        window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY
                           - document.querySelector('.site').offsetHeight - 12); }""")


def _sign_in_ui(page, live_server, role: str) -> None:
    """Sign in by typing, as an officer would: login, password, then the authenticator's code."""
    from tests.browser.liveserver import DEMO_LOGINS

    login, password = DEMO_LOGINS[role]
    code = live_server.next_code(role)
    page.goto("/#/signin")
    page.get_by_label("E-mail or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app or a recovery code").fill(code)
    page.get_by_role("button", name="Continue").click()


def test_officer_creates_a_request_on_the_map_and_plays_the_clip_an_owner_sends(
        page, live_server, browser_log):
    start, end = _window(30, 60)
    case = f"BR-{datetime.now():%H%M%S}"
    officer_api = live_server.sign_in("officer")
    expected = officer_api.post("/api/requests/preview", json=_request_body(case, 300, start, end)).json()
    # The demo cameras keep 14 days of video, with no blackout: both match (and any an
    # owner test added nearby).
    assert expected["cameras"] >= 2 and expected["needs_approval"] is False

    # -- the officer signs in through the UI and opens New request
    _sign_in_ui(page, live_server, "officer")
    expect(page.get_by_role("heading", name="Footage requests", level=1)).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="New request").click()
    expect(page.get_by_role("heading", name="New footage request")).to_be_visible()
    expect(page.locator(".map-request[data-ready=true]")).to_be_visible()

    # A tap on the map places the incident point (pin, circle, coordinates).
    page.locator(".map-request").tap(position={"x": 120, "y": 100})
    expect(page.locator("#req-latitude")).not_to_have_value("")
    expect(page.locator(".map-request .leaflet-marker-icon")).to_have_count(1)
    expect(page.locator(".map-request path.leaflet-interactive").first).to_be_visible()
    tapped = float(page.locator("#req-latitude").input_value())
    assert 42.9 < tapped < 43.2

    # "Use my location" moves it to the phone's GPS position (the context's geolocation).
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#req-latitude")).to_have_value("43.041700")
    expect(page.locator("#req-longitude")).to_have_value("-87.909500")

    # Radius over the agency's limit: said plainly, and a justification is asked for.
    _set_range(page, "#req-radius", 800)
    expect(page.locator(".limit-warning").first).to_contain_text("over your agency's 500 m limit")
    expect(page.get_by_label("Justification for the supervisor")).to_be_visible()
    page.get_by_role("button", name="Send to a supervisor for approval").click()
    expect(page.locator("#req-justification-error")).to_have_text(
        "Say why this request needs more than your agency's limits.")
    expect(page.get_by_label("Justification for the supervisor")).to_be_focused()
    _set_range(page, "#req-radius", 300)
    expect(page.get_by_label("Justification for the supervisor")).to_be_hidden()
    expect(page.get_by_text("Radius 300 m")).to_be_visible()

    page.get_by_label("From", exact=True).fill(_local(start))
    page.get_by_label("To", exact=True).fill(_local(end))
    expect(page.locator(".window-length")).to_have_text("Window: 1 h.")
    # The API's field errors land next to their inputs.
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#req-case-error")).to_be_visible()
    expect(page.locator("#req-summary-error")).to_be_visible()
    expect(page.get_by_label("Case number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Case number")).to_be_focused()
    page.get_by_label("Case number").fill(case)
    page.get_by_label("Incident type").fill("burglary")
    page.get_by_label("Summary for camera owners").fill("Break-in on Market Street; looking for two people on foot.")

    # Purpose and legal basis: the same answer named them; a warrant asks for its number and court.
    expect(page.locator("#req-basis-error")).to_contain_text("Choose the legal basis")
    expect(page.locator("#req-category-error")).to_be_visible()
    expect(page.locator("#req-affirm-error")).to_contain_text("prohibited purposes")
    expect(page.get_by_label("Warrant number")).to_be_hidden()
    page.get_by_label("Legal basis").select_option("warrant")
    page.get_by_label("Warrant number").fill("W-2026-0042")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#req-warrant-court-error")).to_contain_text("Name the court that issued the warrant")
    expect(page.get_by_label("Issuing court")).to_be_focused()
    page.get_by_label("Issuing court").fill("Milwaukee County Circuit Court")
    page.get_by_label("Offense category").select_option("burglary")
    # The agency's prohibited purposes are listed above the affirmation.
    expect(page.locator("#req-prohibited li")).to_have_count(4)
    expect(page.locator("#req-prohibited")).to_contain_text("Immigration enforcement")
    page.get_by_label("I affirm that none of these purposes applies to this request.").check()

    # The live count, from POST /api/requests/preview, in a polite live region.
    count = page.locator("#req-count")
    expect(count).to_have_attribute("aria-live", "polite")
    expect(count).to_have_attribute("data-cameras", str(expected["cameras"]))
    expect(count).to_contain_text(f"{expected['cameras']} cameras match")
    axe_check(page)
    _scroll_to(page, ".map-request")  # the map, with the sticky live count below it
    expect(count).to_be_in_viewport()
    screenshot(page, "officer-new-request")
    fits_360(page)

    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_url(re.compile(r"#/officer/requests/\d+$"))
    request_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", name=f"Case {case}", level=1)).to_be_visible()
    expect(page.locator(".request-counts [data-outcome=asked] dd")).to_have_text(str(expected["cameras"]))
    expect(page.locator(".request-counts [data-outcome=waiting] dd")).to_have_text(str(expected["cameras"]))
    created = officer_api.get(f"/api/requests/{request_id}").json()
    assert created["status"] == "active" and created["radius_m"] == 300
    assert (created["legal_basis"], created["warrant_number"], created["warrant_court"]) == (
        "warrant", "W-2026-0042", "Milwaukee County Circuit Court")
    assert created["offense_category"] == "burglary"
    assert len(created["prohibited_purposes_affirmed"]) == 4
    assert abs(created["latitude"] - INCIDENT["latitude"]) < 1e-6

    # -- an owner approves through the API and uploads a real WebM with a tus client
    owner = live_server.sign_in("owner")
    asks = [a for a in owner.get("/api/asks").json() if a["request_id"] == request_id]
    assert asks, "the demo owner's cameras are among those asked"
    approved = owner.post(f"/api/asks/{asks[0]['id']}/approve")
    assert approved.status_code == 200, approved.text
    expect(page.locator(".request-counts [data-outcome=approved] dd")).to_have_text("1", timeout=10_000)

    data = CLIP.read_bytes()
    with CLIP.open("rb") as stream:
        tus_client.TusClient(live_server.url("/api/uploads"), headers={"Cookie": owner.cookie_header}).uploader(
            file_stream=stream, chunk_size=4096, metadata={"ask_id": str(asks[0]["id"]), "filename": "porch.webm"},
            upload_checksum=True).upload()

    # The clip arrives on the officer's page by itself (polling), with the server's SHA-256.
    clip = page.locator("li.clip[data-status=complete]")
    expect(clip).to_have_count(1, timeout=12_000)
    expect(clip.locator("code.sha256")).to_have_text(hashlib.sha256(data).hexdigest())
    expect(page.locator(".request-counts [data-outcome=delivered] dd")).to_have_text("1")

    # It plays: Chromium fetches it from /api/clips/<id>/content (HTTP Range) and decodes it.
    video = clip.locator("video")
    assert video.evaluate("v => v.readyState") == 0  # preload="none": nothing fetched, no view logged
    video.evaluate("""v => { window.__loaded = false;
        v.addEventListener('loadeddata', () => { window.__loaded = true; }); }""")
    video.focus()
    page.keyboard.press("Space")  # the native player's keyboard control
    page.wait_for_function("() => window.__loaded", timeout=10_000)
    page.wait_for_function("""() => { const v = document.querySelector('li.clip video');
        return v.readyState >= 2 && v.currentTime > 0.2; }""", timeout=10_000)

    # The download link gives the same bytes.
    href = clip.get_by_role("link", name=re.compile("Download the master")).get_attribute("href")
    downloaded = page.context.request.get(live_server.url(href))
    assert downloaded.status == 200 and downloaded.body() == data
    assert "attachment" in downloaded.headers["content-disposition"]

    video.evaluate("v => { v.pause(); v.currentTime = 1; }")
    axe_check(page)
    _scroll_to(page, "li.clip")
    screenshot(page, "officer-request-clip")
    fits_360(page)

    # Nothing on the page names an owner or their camera.
    text = page.locator("main").inner_text()
    for secret in ("owner@demo", "Demo Owner", "Front porch", "Driveway", "porch.webm"):
        assert secret not in text

    # The requests list shows it with live counts.
    page.get_by_role("navigation").get_by_role("link", name="Requests").click()
    item = page.locator(f"li[data-request-id='{request_id}']")
    expect(item).to_contain_text(f"Case {case}")
    expect(item.locator(".counts-sentence")).to_contain_text("1 delivered")
    axe_check(page)
    _scroll_to(page, "h1")
    screenshot(page, "officer-requests")
    fits_360(page)
    assert browser_log.script_errors == []


def test_supervisor_approves_an_over_limit_request_from_the_queue(page, live_server, browser_log):
    start, end = _window(60, 60)
    case = f"OV-{datetime.now():%H%M%S%f}"[:20]
    officer = live_server.sign_in("officer")
    made = officer.post("/api/requests", json=_request_body(
        case, 800, start, end, justification="The suspect fled across the river; cameras along the route."))
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["status"] == "pending_approval" and request["exceeded_limits"] == ["radius"]

    live_server.sign_in_context(page.context, "supervisor")
    page.goto("/#/officer/approvals")
    expect(page.get_by_role("heading", name="Approval queue")).to_be_visible()
    card = page.locator(f"li[data-request-id='{request['id']}']")
    expect(card).to_contain_text(f"Case {case}")
    expect(card).to_contain_text("Radius 800 m — over the 500 m limit")
    expect(card.locator(".justification")).to_have_text(
        "The suspect fled across the river; cameras along the route.")
    expect(card).to_contain_text("Requested by Ofc. Demo Officer")
    axe_check(page)
    _scroll_to(page, "h1")
    screenshot(page, "supervisor-approvals")
    fits_360(page)

    # A reason is required.
    card.get_by_role("button", name="Approve and send").click()
    expect(card.locator(".field-error")).to_contain_text("Give the reason")
    card.get_by_label("Your reason").fill("Route of escape confirmed by two witnesses.")
    card.get_by_role("button", name="Approve and send").click()
    expect(page.locator(".success")).to_contain_text(f"Case {case} approved and sent")
    expect(card).to_have_count(0)
    after = officer.get(f"/api/requests/{request['id']}").json()
    assert after["status"] == "active" and after["review_reason"] == "Route of escape confirmed by two witnesses."
    assert after["asks_total"] >= 2

    # The supervisor's request page offers evidence holds.
    page.goto(f"/#/officer/requests/{request['id']}")
    expect(page.get_by_role("heading", name="Evidence holds")).to_be_visible()
    page.get_by_label("Reason for a new hold").fill("Court order 24-CV-118.")
    page.get_by_role("button", name="Place an evidence hold").click()
    expect(page.locator(".hold-list li[data-active=true]")).to_contain_text("Court order 24-CV-118.")
    axe_check(page)
    assert browser_log.script_errors == []


def test_a_supervisors_own_request_waits_for_another_unless_the_policy_allows(page, live_server, browser_log):
    start, end = _window(60, 60)
    case = f"OWN-{datetime.now():%H%M%S%f}"[:20]
    supervisor = live_server.new_staff("supervisor", display_name="Sgt. Lone Supervisor")
    made = supervisor.session.post("/api/requests", json=_request_body(
        case, 800, start, end, justification="Suspect seen along the river path."))
    assert made.status_code == 201, made.text
    request = made.json()
    try:
        live_server.sign_in_context(page.context, supervisor.login, supervisor.password)
        page.goto("/#/officer/approvals")
        card = page.locator(f"li[data-request-id='{request['id']}']")
        expect(card).to_contain_text("Requested by you")
        # No Approve button that could only fail: the card says the request waits for someone else.
        expect(card.locator(".own-request")).to_contain_text("another supervisor must approve it")
        expect(card.locator(".own-request")).to_contain_text("only supervisor it keeps waiting")
        expect(card.get_by_role("button", name="Approve and send")).to_have_count(0)
        expect(card.get_by_role("button", name="Reject")).to_be_visible()
        setting = page.get_by_label("Allow a supervisor to approve their own over-limit request")
        expect(setting).not_to_be_checked()
        axe_check(page)
        _scroll_to(page, f"li[data-request-id='{request['id']}']")
        screenshot(page, "supervisor-own-request-waits")
        fits_360(page)

        # The agency allows self-approval: the card offers it, saying what it means.
        setting.check()
        expect(page.locator(".self-approval-setting [role=status]")).to_contain_text("Self-approval allowed")
        expect(card.locator(".own-request")).to_contain_text("marked self-approved")
        card.get_by_label("Your reason").fill("Only supervisor on duty tonight.")
        card.get_by_role("button", name="Approve and send").click()
        expect(page.locator(".success")).to_contain_text(f"Case {case} approved and sent")
        after = supervisor.session.get(f"/api/requests/{request['id']}").json()
        assert after["status"] == "active" and after["self_approved"] is True
        page.goto(f"/#/officer/requests/{request['id']}")
        expect(page.locator(".request-details")).to_contain_text("Self-approved (by the supervisor who made it)")
        assert browser_log.script_errors == []
    finally:
        # The demo agency is shared by the session's tests: four eyes again.
        reset = supervisor.session.patch("/api/agency/policy", json={"allow_self_approval": False})
        assert reset.status_code == 200, reset.text


def test_officer_cancels_a_request_after_confirming(page, live_server):
    start, end = _window(45, 30)
    officer = live_server.sign_in("officer")
    request = officer.post("/api/requests", json=_request_body("CX-1", 200, start, end)).json()
    live_server.sign_in_context(page.context, "officer")
    page.goto(f"/#/officer/requests/{request['id']}")
    page.get_by_role("button", name="Cancel this request").click()
    expect(page.get_by_text("Cancel this request? Owners who have not answered")).to_be_focused()
    page.get_by_role("button", name="Yes, cancel the request").click()
    expect(page.locator(".request-status")).to_contain_text("Cancelled")
    expect(page.locator(".request-counts [data-outcome=cancelled] dd")).to_have_text(str(request["asks_total"]))
    assert officer.get(f"/api/requests/{request['id']}").json()["status"] == "cancelled"


def test_district_manager_sees_the_demo_code_and_its_qr(page, live_server, browser_log):
    live_server.sign_in_context(page.context, "manager")
    page.goto("/#/district")
    code = live_server.enrollment_code
    display = f"{code[:4]}-{code[4:]}"
    expect(page.get_by_role("heading", name="Downtown BID", level=1)).to_be_visible()
    card = page.locator("li.code-card", has_text="Demo campaign").first
    expect(card.locator(".code-value")).to_have_text(display)
    expect(card).to_contain_text("campaign code")
    qr = card.get_by_role("img", name=f"QR code for enrollment code {display}")
    qr.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    expect(page.get_by_role("link", name="Import members")).to_be_visible()
    axe_check(page)
    _scroll_to(page, "h1")
    screenshot(page, "manager-district")
    fits_360(page)
    assert browser_log.script_errors == []


def test_camera_map_lists_cameras_without_tiles_and_without_leaflet(page, live_server, browser_log):
    live_server.sign_in_context(page.context, "officer")
    page.goto("/#/officer/map")
    expect(page.get_by_role("heading", name="Camera map")).to_be_visible()
    expect(page.locator(".map-cameras[data-ready=true]")).to_be_visible()
    page.get_by_label("Latitude").fill("43.04170")
    page.get_by_label("Longitude").fill("-87.90950")
    page.get_by_label("Within").select_option("500")
    page.get_by_role("button", name="Show cameras here").click()
    summary = page.locator(".camera-summary")
    expect(summary).to_contain_text("within 500 m of 43.04170, -87.90950")
    count = int(summary.get_attribute("data-count"))
    assert count >= 2
    porch = page.locator("li.camera", has_text="43.04172, -87.90951")  # the demo's "Front porch"
    expect(porch).to_contain_text("2 m away · facing south (180°) · 100° field of view")
    # Pins on the map, and no tile loaded (none configured, or none reachable): the grid shows instead.
    assert page.locator(".map-cameras path.leaflet-interactive").count() >= 2 * 2  # a dot and a direction line each
    assert page.locator(".map-cameras img.leaflet-tile-loaded").count() == 0
    assert "Front porch" not in page.locator("main").inner_text()
    axe_check(page)
    _scroll_to(page, "h1")
    screenshot(page, "officer-map")
    fits_360(page)

    # Without Leaflet at all, the list still works.
    page.route("**/app/vendor/leaflet.js", lambda route: route.abort())
    page.reload()
    expect(page.locator(".map-cameras.map-missing")).to_contain_text("The map could not be loaded")
    page.get_by_label("Latitude").fill("43.04170")
    page.get_by_label("Longitude").fill("-87.90950")
    page.get_by_role("button", name="Show cameras here").click()
    expect(page.locator(".camera-summary")).to_contain_text("within 1 km of 43.04170, -87.90950")
    expect(page.locator("li.camera")).to_have_count(int(page.locator(".camera-summary").get_attribute("data-count")))
    assert page.locator("li.camera").count() >= 2
    axe_check(page)
    assert browser_log.script_errors == []


def test_a_request_page_refreshing_itself_does_not_count_as_activity(page, live_server):
    """Its timed refreshes carry X-Porchlight-Background, so an officer's session still goes idle."""
    start, end = _window(45, 30)
    officer = live_server.sign_in("officer")
    request = officer.post("/api/requests", json=_request_body("BG-1", 200, start, end)).json()
    live_server.sign_in_context(page.context, "officer")
    path = f"/api/requests/{request['id']}"
    with page.expect_request(lambda r: r.url.endswith(path)) as opened:
        page.goto(f"/#/officer/requests/{request['id']}")
    assert "x-porchlight-background" not in opened.value.headers  # opening it is the officer's doing
    with page.expect_request(lambda r: r.url.endswith(path), timeout=10_000) as refreshed:
        pass  # the page refreshes every 4 s
    assert refreshed.value.headers.get("x-porchlight-background") == "1"


def test_leaving_a_map_while_it_zooms_throws_nothing(page, live_server, browser_log):
    """Leaflet 1.9 throws when a map is removed in the middle of a zoom animation; a
    screen left at that moment must finish the animation before it removes the map."""
    start, end = _window(45, 30)
    officer = live_server.sign_in("officer")
    request = officer.post("/api/requests", json=_request_body("ZM-1", 200, start, end)).json()
    live_server.sign_in_context(page.context, "officer")
    page.goto(f"/#/officer/requests/{request['id']}")
    zoom_in = page.locator(".map-officer .leaflet-control-zoom-in")
    expect(zoom_in).to_be_visible()
    zoom_in.evaluate("button => { button.click(); location.hash = '#/officer/requests'; }")
    expect(page.get_by_role("heading", name="Footage requests", level=1)).to_be_visible()
    page.wait_for_timeout(600)  # past Leaflet's 250 ms end-of-zoom timer
    assert browser_log.script_errors == []
