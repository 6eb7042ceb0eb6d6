"""WCAG 2.1 AA (issue 15): axe-core's WCAG rules on every screen of every role, contrast in
dark mode too, every screen again in Spanish and White Hmong (light mode), text at 200% at
390 px, a keyboard-only run through the owner's flow and the officer's new request, form
errors announced, and the accessibility statement.

Screens with an id in their address (an ask, a request, a clip, a transparency report,
an upload link) are checked by the tests of their own flows, which call axe_check too.
"""
from __future__ import annotations

import random
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import VIEWPORT, axe_check
from tests.browser.test_owner import AREA, _add_camera, _issue_request

SCREENS = {
    "visitor": ["/#/", "/#/signin", "/#/signup", "/#/forgot", "/#/scan", "/#/transparency",
                "/#/transparency/demo-pd", "/#/accessibility", "/#/reset/1.not-a-live-link", "/#/nowhere"],
    "owner": ["/#/inbox", "/#/cameras", "/#/cameras/new", "/#/history", "/#/settings", "/#/two-step",
              "/#/accessibility"],
    "supervisor": ["/#/officer/requests", "/#/officer/new", "/#/officer/map", "/#/officer/approvals",
                   "/#/officer/audit", "/#/officer/staff", "/#/settings", "/#/two-step"],
    "manager": ["/#/district/members", "/#/district/import", "/#/district", "/#/settings"],
}
CONTRAST_ONLY = {"runOnly": {"type": "rule", "values": ["color-contrast"]}}


def _open(page, path: str) -> None:
    page.goto(path)
    page.wait_for_selector("main h1")
    page.wait_for_load_state("networkidle")


def _settled_count(page, locator) -> int:
    """How many there are once the screen has stopped adding any: Settings draws its sections
    as their data arrives, and on a busy machine one can land after the network went idle."""
    count = locator.count()
    for _ in range(20):
        page.wait_for_timeout(150)
        again = locator.count()
        if again == count:
            return count
        count = again
    return count


@pytest.mark.parametrize("role", list(SCREENS))
def test_every_screen_meets_wcag_21_aa_in_light_and_dark_mode(context, page, live_server, role):
    screens = list(SCREENS[role])
    if role == "visitor":
        screens.append(f"/e/{live_server.enrollment_code}")
    else:
        live_server.sign_in_context(context, role)
    for path in screens:
        page.emulate_media(color_scheme="light")
        _open(page, path)
        axe_check(page)
        # The dark palette changes colours only: its contrast is what there is to check.
        page.emulate_media(color_scheme="dark")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        axe_check(page, options=CONTRAST_ONLY)


# -- in every language --------------------------------------------------------------------

# A phone set to a zone 15 hours from the demo agency's: times must still be the agency's.
FAR_ZONE = "Asia/Tokyo"

# How the window's start reads in `zone`: what i18n.js's dateTimeFormat does, written out
# (Hmong: numeric, 24-hour clock, never another script's month names).
START_IN_ZONE = """([iso, zone, language]) => language === "hmn"
  ? new Intl.DateTimeFormat("en-US", {year: "numeric", month: "numeric", day: "numeric", hour: "2-digit",
                                      minute: "2-digit", hourCycle: "h23", timeZone: zone}).format(new Date(iso))
  : new Intl.DateTimeFormat(language, {dateStyle: "medium", timeStyle: "short", timeZone: zone})
      .format(new Date(iso))"""


def _accounts_in(live_server, language: str) -> dict:
    """A fresh account of each role, its saved language ``language`` (the demo's stay English
    for the other tests), and for the owner an ask to open. Role -> (Account, extra screens)."""
    owner = live_server.new_owner()
    lat, lon = (round(random.uniform(*AREA[0]), 6), round(random.uniform(*AREA[1]), 6))
    _add_camera(owner, lat, lon)
    _issue_request(live_server, lat, lon)
    [ask] = owner.session.get("/api/asks").json()
    accounts = {"owner": (owner, [f"/#/asks/{ask['id']}"]),
                "supervisor": (live_server.new_staff("supervisor"), []),
                "manager": (live_server.new_staff("manager"), [])}
    for account, _ in accounts.values():
        response = account.session.patch("/api/auth/me", json={"language": language})
        assert response.status_code == 200 and response.json()["language"] == language, response.text
    return accounts | {"ask": ask}


@pytest.mark.parametrize("language", ["es", "hmn"])
def test_every_screen_meets_wcag_21_aa_in_spanish_and_hmong(browser, context_options, live_server,
                                                             language):
    accounts = _accounts_in(live_server, language)
    ask = accounts.pop("ask")
    options = {**context_options, "timezone_id": FAR_ZONE}
    walks = [("visitor", None, [*SCREENS["visitor"], f"/e/{live_server.enrollment_code}"])]
    walks += [(role, account, SCREENS[role] + extra) for role, (account, extra) in accounts.items()]
    for role, account, screens in walks:
        context = browser.new_context(**options)
        try:
            if account is None:
                # A visitor's choice is kept on the device, as the language switch keeps it.
                context.add_init_script(f"localStorage.setItem('porchlight.language', '{language}')")
            else:
                live_server.sign_in_context(context, account.login, account.password)
            page = context.new_page()
            page.emulate_media(color_scheme="light")
            for path in screens:
                _open(page, path)
                expect(page.locator("html")).to_have_attribute("lang", language)
                # Longer words than English's still fit the phone (CLIPPED: below).
                assert page.evaluate(CLIPPED) == [], f"{role} in {language}: {path}"
                try:
                    axe_check(page)
                except AssertionError as error:
                    raise AssertionError(f"{role} in {language}: {error}") from None
            if role == "owner":
                # The window asked for, in the agency's zone, not the phone's.
                zone = account.session.get("/api/auth/me").json()["time_zone"]
                assert zone and zone != FAR_ZONE
                # "Time asked for", after the case, the incident, the offense category and the legal basis.
                window = page.locator(".ask-facts dd").nth(4)
                shown = window.inner_text()
                assert shown.startswith(page.evaluate(START_IN_ZONE, [ask["window_start"], zone, language])), shown
                assert not shown.startswith(page.evaluate(START_IN_ZONE, [ask["window_start"], FAR_ZONE, language]))
        finally:
            context.close()


# -- text at 200% ----------------------------------------------------------------------------

# Whether anything in <main> is cut off: wider than the page, or hidden by its own box
# (overflow hidden or text-overflow) while its content is larger. The map is left out:
# Leaflet clips its panes by design.
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.querySelectorAll("main *, header *, footer *")) {
    if (el.closest(".map, .visually-hidden, [hidden], datalist, option, script")) continue;
    const box = el.getBoundingClientRect();
    // Nothing, or 1 px: hidden for sight on purpose (a table's head read out to screen readers).
    if (box.width <= 1 && box.height <= 1) continue;
    const style = getComputedStyle(el);
    const name = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")}`;
    if (box.left < -1 || box.right > width + 1) {
      found.push(`${name} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    const hides = ["hidden", "clip"].includes(style.overflowX) || style.textOverflow === "ellipsis";
    if (hides && el.scrollWidth > el.clientWidth + 1) found.push(`${name} cuts ${el.scrollWidth - el.clientWidth} px`);
  }
  return found;
}"""


@pytest.mark.parametrize("role", ["visitor", "owner", "officer"])
def test_text_at_200_percent_fits_390_px_without_loss(context, page, live_server, role):
    screens = {"visitor": ["/#/", "/#/signin", "/#/signup", "/#/accessibility"],
               "owner": ["/#/inbox", "/#/cameras", "/#/cameras/new", "/#/history", "/#/settings"],
               "officer": ["/#/officer/new", "/#/officer/requests"]}[role]
    if role != "visitor":
        live_server.sign_in_context(context, role)
    assert page.viewport_size["width"] == VIEWPORT["width"] == 390
    for path in screens:
        _open(page, path)
        controls = page.locator("main :is(button, a, input, select, textarea):visible")
        count = _settled_count(page, controls)
        # What a browser's text size setting does: the root font size, which every rem and em follows.
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        page.wait_for_timeout(100)
        assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") == 32
        assert page.evaluate(CLIPPED) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        # The screen's controls are all still there to use.
        assert controls.count() == count, path
        expect(page.locator("main h1")).to_be_visible()


# -- keyboard only ---------------------------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  // The ring may be drawn by the element or by its ::after (a card's link covering the card).
  const after = getComputedStyle(el, "::after");
  const ring = [style, after].some((s) => s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2)
    || style.boxShadow !== "none";
  return {tag: el.tagName.toLowerCase(), id: el.id, type: el.getAttribute("type") || "",
          text: (el.textContent || el.value || "").trim().replace(/\\s+/g, " ").slice(0, 50),
          visible: el.matches(":focus-visible") && ring && box.width > 0 && box.height > 0,
          top: box.top + scrollY, bottom: box.bottom + scrollY,
          where: el.closest("main") ? "main" : el.closest("footer") ? "footer" : "header"};
}"""


def _tab_until(page, done, *, act=None, limit: int = 120) -> list[dict]:
    """Press Tab until ``done(stop)``; check every stop on the way: focus visible, a name,
    and an order that follows the page (header, then main top to bottom, then footer;
    past the footer Tab leaves the page and comes back at the top). ``act(stop)`` may type
    into a stop. Returns the stops."""
    stops: list[dict] = []
    regions = ["header", "main", "footer"]
    before = None
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop is None:
            before = None  # out of the page: the next Tab starts again at the top
            continue
        if before and (stop["id"], stop["text"], stop["top"]) == (before["id"], before["text"], before["top"]):
            continue  # one control with several parts (a date and time field)
        assert stop["visible"], f"no visible focus on {stop}"
        expect(page.locator(":focus")).to_have_accessible_name(re.compile(r"\S"), timeout=2000)
        if before:
            assert regions.index(stop["where"]) >= regions.index(before["where"]), (before, stop)
            if stop["where"] == before["where"] == "main":
                # Never up past the control before: the order follows what is seen.
                assert stop["bottom"] > before["top"], f"focus went up from {before} to {stop}"
        stops.append(stop)
        before = stop
        if act:
            act(stop)
        if done(stop):
            return stops
    raise AssertionError(f"not reached in {limit} Tab presses: {[s['text'] or s['id'] for s in stops]}")


def _type_into(page, values: dict[str, str]):
    """An ``act`` for :func:`_tab_until`: types the value given for the focused field's id."""
    def act(stop):
        if stop["id"] in values:
            page.keyboard.press("Control+A")
            page.keyboard.type(values[stop["id"]])
    return act


def test_owner_flow_and_officer_request_by_keyboard_alone(browser, context_options, context, page, live_server):
    lat, lon = (round(random.uniform(*AREA[0]), 6), round(random.uniform(*AREA[1]), 6))

    # The enrollment page (the QR code's link): sign up and join.
    page.goto(f"/e/{live_server.enrollment_code}")
    expect(page.locator("#accounts")).to_be_visible()
    account = {"signup-email": f"keys-{random.randint(10**6, 10**7)}@example.com",
               "signup-password": "a long enough password"}
    _tab_until(page, lambda s: s["tag"] == "button" and s["text"] == "Create account and join",
               act=_type_into(page, account))
    page.keyboard.press("Enter")
    expect(page.locator("#done")).to_be_visible()
    _tab_until(page, lambda s: s["id"] == "done-next")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/cameras/new?welcome=1")
    page.wait_for_selector("#camera-label")
    page.wait_for_load_state("networkidle")

    # The camera form, filled and sent.
    form = {"camera-label": "Side gate", "camera-latitude": f"{lat}", "camera-longitude": f"{lon}",
            "camera-retention": "14"}

    def camera(stop):
        if stop["id"] == "camera-attest":
            page.keyboard.press("Space")
        else:
            _type_into(page, form)(stop)
    stops = _tab_until(page, lambda s: s["tag"] == "button" and s["type"] == "submit" and "camera" in s["text"].lower(),
                       act=camera, limit=200)
    assert {"camera-label", "camera-latitude", "camera-longitude", "camera-retention",
            "camera-attest"} <= {s["id"] for s in stops}
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Camera added")
    _tab_until(page, lambda s: s["tag"] == "button" and s["text"] == "Turn on notifications")

    # A request arrives; the owner opens it from the inbox and approves, all by keyboard.
    _issue_request(live_server, lat, lon)
    _tab_until(page, lambda s: s["text"] == "Inbox")
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Requests for footage")
    page.wait_for_load_state("networkidle")
    _tab_until(page, lambda s: s["tag"] == "a" and s["where"] == "main" and "case " in s["text"])
    page.keyboard.press("Enter")
    page.wait_for_selector(".answer-buttons")
    _tab_until(page, lambda s: s["tag"] == "button" and s["text"] == "Approve")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("Upload the clip below")
    # The clip's file input is reached and named like any control (the picker itself is the system's).
    _tab_until(page, lambda s: s["tag"] == "input" and s["type"] == "file")

    # The officer's new request: every control reached in order, the form filled and sent.
    officer = browser.new_context(**context_options)
    try:
        live_server.sign_in_context(officer, "officer")
        officer_page = officer.new_page()
        officer_page.goto("/#/officer/new")
        officer_page.wait_for_selector("#req-case")
        officer_page.wait_for_load_state("networkidle")
        request = {"req-latitude": f"{lat}", "req-longitude": f"{lon}",
                   "req-case": f"24-{random.randint(10**4, 10**5)}",
                   "req-type": "burglary", "req-summary": "Keyboard test: a bicycle taken from a porch."}

        # The legal basis and the category chosen by typing their first letters, the affirmation with Space.
        choose = {"req-basis": "Voluntary", "req-category": "Burglary"}
        typed = _type_into(officer_page, request)

        def act(stop):
            typed(stop)
            if stop["id"] in choose:
                officer_page.keyboard.type(choose[stop["id"]])
            if stop["id"] == "req-affirm":
                officer_page.keyboard.press("Space")

        stops = _tab_until(officer_page, lambda s: s["tag"] == "button" and s["type"] == "submit",
                           act=act, limit=200)
        page_ids = [s["id"] for s in stops]
        for name in ("req-latitude", "req-longitude", "req-radius", "req-start", "req-end", "req-case", "req-type",
                     "req-summary", "req-basis", "req-category", "req-affirm"):
            assert name in page_ids, (name, page_ids)
        expect(officer_page.locator("#req-count")).to_contain_text("camera")
        officer_page.keyboard.press("Enter")
        officer_page.wait_for_url(re.compile(r"#/officer/requests/\d+"))
    finally:
        officer.close()


# -- errors announced ----------------------------------------------------------------------------

def test_form_errors_are_announced_and_focus_goes_to_the_problem(page, live_server):
    page.goto("/#/signin")
    page.wait_for_selector("#signin-login")
    page.locator("#signin-login").fill("nobody@example.gov")
    page.locator("#signin-password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_be_empty()
    axe_check(page)

    # A field's own error: marked invalid, its message tied to it, focus on it.
    page.goto("/#/signup")
    page.wait_for_selector("main form")
    page.locator("main form button[type=submit]").click()
    invalid = page.locator("main [aria-invalid=true]").first
    expect(invalid).to_be_focused()
    described = invalid.get_attribute("aria-describedby")
    error = [i for i in described.split() if i.endswith("-error")][0]
    expect(page.locator(f"#{error}")).to_be_visible()
    expect(page.locator("main .form-error[role=alert]")).to_be_visible()
    axe_check(page)


def test_accessibility_statement_is_linked_from_every_screen(page, live_server):
    page.goto("/#/signin")
    page.wait_for_selector("main h1")
    page.locator("footer").get_by_role("link", name="Accessibility").click()
    expect(page.locator("main h1")).to_have_text("Accessibility")
    main = page.locator("main")
    expect(main).to_contain_text("WCAG) 2.1 at level AA")
    expect(main).to_contain_text("Known limitations")
    expect(main).to_contain_text("the police department running this service")
    expect(main).to_contain_text("issue tracker")
    axe_check(page)
