"""The owner's whole flow in Spanish and in White Hmong, at 390x844, against the real app.

Spanish is chosen with the switch on the first screen, and the phone's camera scans the
demo's QR code; Hmong with the switch on the enrollment page (/e/<code>, the link an owner
is sent). Then: sign up, add the camera, the officer's request in the inbox, approve, upload.
On every screen <html lang> names the language, no English text of the PWA's catalog is
left on it (its visible text and title are read against every English msgid the catalog
translates), and axe-core finds no serious or critical violation. Settings switches the
language of the account at the end.
"""
from __future__ import annotations

import random
import re

import pytest
from playwright.sync_api import expect

from app import pwa_i18n
from tests.browser.helpers import axe_check, fits_360
from tests.browser.test_owner import _issue_request, _place, _script_errors, _video

MIB = 1024 * 1024


def _words(language: str) -> dict[str, str]:
    """msgid -> translation (singular forms) of the PWA's catalog."""
    messages = pwa_i18n.catalog_json(language)["messages"]
    return {msgid: text[0] if isinstance(text, list) else text for msgid, text in messages.items()}


def english_left(page, words: dict[str, str]) -> list[str]:
    """English texts of the catalog visible on ``page`` (or in its title) in place of their translation."""
    # What the officer wrote (a <blockquote>) is theirs, in their words.
    shown = page.evaluate("""() => {
      const quotes = [...document.querySelectorAll("blockquote")];
      quotes.forEach((quote) => { quote.style.display = "none"; });
      const text = document.body.innerText;
      quotes.forEach((quote) => { quote.style.display = ""; });
      return document.title + "\\n" + text;
    }""")
    found = []
    for msgid, translated in words.items():
        english = msgid.strip(" .:…")
        if "%(" in msgid or translated.strip(" .:…") == english or len(english) < 4:
            continue
        if re.search(rf"(?<![\w-]){re.escape(english)}(?![\w-])", shown):
            found.append(english)
    return found


def in_language(page, language: str, words: dict[str, str]) -> None:
    expect(page.locator("html")).to_have_attribute("lang", language)
    assert english_left(page, words) == [], page.url
    axe_check(page)


@pytest.mark.parametrize("language", ["es", "hmn"])
def test_the_owner_flow_in_spanish_and_hmong(language, qr_camera_page, context, page, live_server, tmp_path,
                                             browser_log):
    words = _words(language)

    def tr(msgid: str) -> str:
        return words[msgid]

    code = live_server.enrollment_code
    if language == "es":
        # The first screen's switch; then the phone's camera scans the sheet's QR code.
        page = qr_camera_page(live_server.url(f"/e/{code}"), "/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.get_by_label("Language").select_option(language)
        expect(page.locator("h1")).to_have_text(tr("A community camera registry that leaves owners in control"))
        in_language(page, language, words)
        page.goto("/#/scan")
        expect(page.locator("h1")).to_have_text(tr("Scan your enrollment QR code"))
        in_language(page, language, words)
        page.get_by_role("button", name=tr("Start camera")).click()
        page.wait_for_url(f"**/e/{code}")
    else:
        # The link from the invitation: the enrollment page's own switch.
        page.goto(f"/e/{code}")
        expect(page.locator("#accounts")).to_be_visible()
        page.get_by_label("Language").select_option(language)
    expect(page.locator("#accounts")).to_be_visible()
    expect(page.locator("h1")).to_have_text(tr("Join your community camera registry"))
    in_language(page, language, words)

    email = f"{language}-{random.randint(10**6, 10**7)}@example.com"
    password = "a long enough password"
    page.locator("#signup-email").fill(email)
    page.locator("#signup-password").fill(password)
    page.get_by_role("button", name=tr("Create account and join")).click()
    expect(page.locator("#done")).to_be_visible()
    in_language(page, language, words)
    page.locator("#done-next").click()
    page.wait_for_url("**/#/cameras/new?welcome=1")
    expect(page.locator("h1")).to_have_text(tr("Add your first camera"))
    lat, lon = _place()
    page.get_by_label(tr("Name"), exact=True).fill("Puerta" if language == "es" else "Qhov rooj")
    page.locator("#camera-latitude").fill(str(lat))
    page.locator("#camera-longitude").fill(str(lon))
    page.locator("#camera-retention").fill("14")
    page.locator("#camera-attest").check()
    in_language(page, language, words)
    fits_360(page)
    page.get_by_role("button", name=tr("Add camera")).click()
    expect(page.locator("h1")).to_have_text(tr("Camera added"))
    in_language(page, language, words)

    owner = live_server.sign_in(email, password)
    _issue_request(live_server, lat, lon)
    [ask] = owner.get("/api/asks").json()
    page.get_by_role("link", name=tr("Inbox"), exact=True).click()
    expect(page.locator(".ask-card")).to_have_count(1)
    in_language(page, language, words)
    page.locator(".ask-card a").click()
    expect(page.locator("h1")).to_have_text(tr("%(agency)s asks for footage") % {"agency": ask["agency_name"]})
    in_language(page, language, words)
    page.get_by_role("button", name=tr("Approve"), exact=True).click()
    expect(page.locator("#upload-title")).to_be_focused()
    video, digest = _video(tmp_path, "clip.mp4", 1 * MIB, seed=7)
    page.get_by_label(tr("Choose video files")).set_input_files(video)
    row = page.locator(".upload-row")
    expect(row).to_have_attribute("data-state", "done", timeout=30_000)
    expect(row.locator(".sha256")).to_have_text(digest)
    in_language(page, language, words)
    fits_360(page)

    # Settings: the switch changes the account's language (kept by the server once it has them).
    other = "hmn" if language == "es" else "es"
    page.get_by_role("link", name=tr("Settings"), exact=True).click()
    expect(page.locator("h1")).to_have_text(tr("Settings"))
    in_language(page, language, words)
    page.locator("#language-choice").select_option(other)
    expect(page.locator("html")).to_have_attribute("lang", other)
    expect(page.locator("h1")).to_have_text(_words(other)["Settings"])
    if "languages" in owner.get("/api/app-config").json():
        assert owner.get("/api/auth/me").json()["language"] == other
    assert _script_errors(browser_log) == []


def test_offline_and_upload_link_pages_follow_the_choice(context, page, live_server, browser_log):
    words = _words("es")
    page.goto("/")
    # The choice is stored, then the page reloads in it: wait for that reload, or the check
    # below can run in the page the reload is tearing down.
    with page.expect_navigation():
        page.get_by_label("Language").select_option("es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    # The service worker's own notifications ("Answer sent") read the language from here.
    assert page.evaluate("""async () => {
      const stored = await (await caches.open("porchlight-preferences")).match("/language");
      return stored && stored.text();
    }""") == "es"
    page.goto("/offline.html")
    expect(page.locator("h1")).to_have_text(words["You are offline"])
    in_language(page, "es", words)
    page.goto("/u/not-a-real-token")
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#problem-title")).to_have_text(words["This link is not valid"])
    in_language(page, "es", words)
    assert _script_errors(browser_log) == []
