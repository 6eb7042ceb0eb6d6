"""An owner reached by e-mail only answers from the e-mail's link, at 390×844.

The demo neighbor has a verified address and nothing else; the server has no MAIL_URL,
so the e-mail stays in the outbox, read with `flask mail outbox` as README says. The
link opens the answer page (no sign-in, nothing changed by opening it); Approve says
what comes next: the upload page.
"""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, screenshot

NEIGHBOR = "neighbor@demo.porchlight.test"


def _outbox_link(live_server, case: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        outbox = live_server.flask("mail", "outbox", "--limit", "50").stdout
        messages = outbox.split("--- [")
        mine = [m for m in messages if f"to {NEIGHBOR}:" in m and case in m]
        if mine:
            return re.search(r"Answer on this page[^\n]*\n(\S+/m/\S+)", mine[-1]).group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no e-mail for {NEIGHBOR} in the outbox:\n{outbox[-2000:]}")
        time.sleep(0.5)


def test_an_email_owner_answers_from_the_outbox_link(page, live_server, browser_log):
    officer = live_server.sign_in("officer")
    end = datetime.now(UTC) - timedelta(hours=2)
    case = f"MAIL-{int(time.time()) % 100000:05d}"
    r = officer.post("/api/requests", json={
        "latitude": 43.0417, "longitude": -87.9095, "radius_m": 100, "case_number": case,
        "incident_type": "package_theft",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "A parcel taken from a porch.",
        "window_start": (end - timedelta(hours=1)).isoformat(), "window_end": end.isoformat()})
    assert r.status_code == 201, r.text
    link = _outbox_link(live_server, case)
    assert link.startswith(live_server.url("/m/"))

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"asks for footage from your camera “Side gate”"))
    expect(page.get_by_text(case)).to_be_visible()
    expect(page.get_by_text("package theft", exact=False)).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Approve: share footage").click()

    expect(page.get_by_role("heading", name="Thank you: you approved this request")).to_be_visible()
    upload = page.get_by_role("link", name="Upload your clip")
    expect(upload).to_have_attribute("href", re.compile(r"/u/[^/]+$"))
    axe_check(page)
    screenshot(page, "owner-email-answer")
    assert not browser_log.exceptions


def test_the_owner_turns_email_off_and_on_in_settings(page, context, live_server, browser_log):
    live_server.sign_in_context(context, "neighbor")
    page.goto("/#/settings")
    box = page.get_by_label("E-mail (to your verified address)")
    expect(box).to_be_checked()
    box.uncheck()
    expect(page.get_by_text("E-mails off for new requests.")).to_be_visible()
    me = page.evaluate("fetch('/api/auth/me').then(r => r.json())")
    assert me["notify_email"] is False
    box.check()
    expect(page.get_by_text("E-mails on for new requests.")).to_be_visible()
    assert page.evaluate("fetch('/api/auth/me').then(r => r.json())")["notify_email"] is True
    axe_check(page)
    assert not browser_log.exceptions
