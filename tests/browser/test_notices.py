"""A withdrawn request and the order of an owner's channels, in a real browser at 390×844.

- An officer withdraws a request: the owner's inbox shows the ask "withdrawn" with when,
  and the ask's screen says the agency withdrew it (nothing more to do, no answer buttons).
- The push the server sends then (decrypted by the local push service, delivered into
  the PWA's service worker) replaces the request's notification: same tag, "Withdrawn: …",
  no buttons; tapping it opens the inbox.
- In Settings the owner moves "Text message" before "Push notification" with the Up
  button (keyboard reachable, focus kept on the moved channel); the server has the order.

Both screens pass axe-core.
"""
from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, push_until_shown

# Far from the demo cameras and from the other owner tests' area.
AREA = ((43.45, 43.60), (-88.45, -88.25))


def starts(text: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(text)}")


def _pushes(push_service, subscriber, count: int) -> list:
    deadline = time.monotonic() + 15
    while len(push_service.messages_for(subscriber)) < count and time.monotonic() < deadline:
        push_service.wait_for(len(push_service.received) + 1, timeout=0.5)
    return push_service.messages_for(subscriber)


def _request(live_server, lat: float, lon: float, case: str):
    now = datetime.now(UTC).replace(microsecond=0)
    officer = live_server.sign_in("officer")
    made = officer.post("/api/requests", json={
        "latitude": round(lat + 0.0003, 6), "longitude": lon, "radius_m": 80, "case_number": case,
        "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "Withdrawn-request test.",
        "window_start": (now - timedelta(hours=3)).isoformat(), "window_end": (now - timedelta(hours=2)).isoformat()})
    assert made.status_code == 201, made.text
    return officer, made.json()


def _owner_with_camera(live_server):
    owner = live_server.new_owner(display_name="Notice Tester")
    (lat0, lat1), (lon0, lon1) = AREA
    lat, lon = round(random.uniform(lat0, lat1), 6), round(random.uniform(lon0, lon1), 6)
    camera = owner.session.post("/api/cameras", json={
        "label": "Side gate", "latitude": lat, "longitude": lon, "bearing": 90, "retention_days": 14,
        "public_attestation": True})
    assert camera.status_code == 201, camera.text
    return owner, lat, lon


def test_the_inbox_shows_a_withdrawn_request(page, live_server, browser_log):
    owner, lat, lon = _owner_with_camera(live_server)
    case = f"WD-{random.randint(10000, 99999)}"
    officer, made = _request(live_server, lat, lon, case)
    assert officer.post(f"/api/requests/{made['id']}/cancel").status_code == 200
    [ask] = owner.session.get("/api/asks").json()
    assert ask["state"] == "cancelled" and ask["closed_at"]

    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/inbox")
    card = page.locator(f"li.ask-card[data-ask-id='{ask['id']}']")
    expect(card).to_be_visible()
    expect(card.locator(".pill")).to_have_text("withdrawn")
    expect(card.locator("dt", has_text="Withdrawn")).to_be_visible()
    expect(card.locator("dd time")).to_have_attribute("datetime", ask["closed_at"])
    expect(card).not_to_contain_text("Answer by")
    expect(page.locator("p.lead")).to_have_text("Nothing is waiting for your answer.")
    axe_check(page)
    fits_360(page)

    card.get_by_role("link", name=f"case {case}").click()
    expect(page.get_by_text("The agency withdrew this request on")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    axe_check(page)
    assert browser_log.script_errors == []


def test_the_withdrawn_push_replaces_the_request_on_the_device(context, page, live_server, push_service,
                                                               browser_log):
    owner, lat, lon = _owner_with_camera(live_server)
    subscriber = push_service.new_subscriber()
    assert owner.session.post("/api/push/subscriptions", json=subscriber.subscription()).status_code == 201
    context.grant_permissions(["notifications"], origin=live_server.origin)
    live_server.sign_in_context(context, owner.login, owner.password)
    page.goto("/#/settings")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    officer, made = _request(live_server, lat, lon, f"WP-{random.randint(10000, 99999)}")
    [request_push] = _pushes(push_service, subscriber, 1)
    [shown] = push_until_shown(context, page, live_server.origin, request_push.payload, until=lambda shown: shown)
    assert [a["action"] for a in shown["actions"]] == ["approve", "decline"]
    request_shown_title = shown["title"]

    assert officer.post(f"/api/requests/{made['id']}/cancel").status_code == 200
    _, notice = _pushes(push_service, subscriber, 2)
    assert notice.topic == request_push.topic
    [replaced] = push_until_shown(  # one notification: the notice took the request's place
        context, page, live_server.origin, notice.payload,
        until=lambda shown: bool(shown) and shown[0]["title"] != request_shown_title)
    assert replaced["tag"] == shown["tag"] == f"ask-{request_push.payload['ask_id']}"
    assert replaced["title"] == "Withdrawn: Demo Police Department's request for footage"
    assert replaced["actions"] == [] and "No need to answer." in replaced["body"]

    # A test cannot tap a system notification: run the worker's click handler on it.
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    worker.evaluate("""async (tag) => {
        const [notification] = await self.registration.getNotifications({tag});
        await handleNotificationClick(notification, "");
    }""", replaced["tag"])
    expect(page).to_have_url(re.compile(r"#/inbox$"))
    expect(page.locator(f"li.ask-card[data-ask-id='{request_push.payload['ask_id']}'] .pill")).to_have_text("withdrawn")
    assert browser_log.script_errors == []


def test_the_owner_orders_their_channels_in_settings(page, live_server, browser_log):
    owner = live_server.new_owner()
    live_server.sign_in_context(page.context, owner.login, owner.password)
    page.goto("/#/settings")
    order = page.locator("ol.channel-order li")
    expect(order).to_have_text([starts("Push notification"), starts("Text message"), starts("E-mail")])
    up = page.get_by_role("button", name="Up: try Text message earlier")
    expect(page.get_by_role("button", name="Up: try Push notification earlier")).to_be_disabled()
    up.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".channel-order-setting [role=status]")).to_have_text("Text message is now tried first.")
    expect(order).to_have_text([starts("Text message"), starts("Push notification"), starts("E-mail")])
    # Focus stays with the channel that moved (its Up button is now disabled: on its Down button).
    expect(page.get_by_role("button", name="Down: try Text message later")).to_be_focused()
    assert owner.session.get("/api/auth/me").json()["channel_order"] == ["sms", "push", "email"]
    axe_check(page)
    fits_360(page)
    assert browser_log.script_errors == []
