"""The browser harness end to end: the home page in headless chromium at a phone's size,
checked by axe-core, and the vendored scripts the PWA loads."""
from app.pwa import VENDOR_FILES
from tests.browser.helpers import axe_check, screenshot


def test_home_page_loads_and_is_accessible(page, browser_log):
    from playwright.sync_api import expect  # here: without playwright the module still collects and skips

    response = page.goto("/")
    assert response.status == 200
    assert page.viewport_size == {"width": 390, "height": 844}
    # The app draws its screens with JS: wait for the heading before checking anything.
    expect(page.locator("h1").first).to_be_visible()
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    axe_check(page)
    screenshot(page, "home")
    # Uncaught exceptions only: the screens' own tests hold their pages to browser_log.script_errors.
    assert browser_log.exceptions == []


def test_vendored_scripts_are_served_to_the_page(page):
    page.goto("/")
    statuses = page.evaluate("""async (names) => {
        const out = {};
        for (const name of names) {
            const r = await fetch('/app/vendor/' + name);
            out[name] = [r.status, r.headers.get('content-type')];
        }
        return out;
    }""", sorted(VENDOR_FILES))
    assert {name: status for name, (status, _) in statuses.items()} == {name: 200 for name in VENDOR_FILES}
    for name in ("jsqr.js", "tus.js", "leaflet.js"):
        assert statuses[name][1].startswith("text/javascript")
    assert statuses["leaflet.css"][1].startswith("text/css")
