"""The recorder's clock in a real browser (issue 14), on a 390x844 phone.

The owner approves an ask, answers "What time does your recorder show right now?" on the
upload screen with a time five minutes ahead of the phone, and uploads: the clip carries
the offset, and the camera remembers it. The next request for that camera shows its
window as the recorder shows it and the days before the recorder records over it; the
upload field starts from the remembered offset and sends nothing until the owner answers.
On the camera form the owner sees the offset and forgets it. Every screen passes axe.
"""
from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.helpers import axe_check, fits_360, screenshot
from tests.upload_support import mp4_bytes

FIVE_MINUTES = 300
# Far from the demo cameras and from test_owner.py's area.
AREA = ((43.45, 43.60), (-88.60, -88.50))
RETENTION_DAYS = 14


def _place() -> tuple[float, float]:
    (lat0, lat1), (lon0, lon1) = AREA
    return round(random.uniform(lat0, lat1), 6), round(random.uniform(lon0, lon1), 6)


def _issue_request(live_server, lat: float, lon: float) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"latitude": round(lat + 0.00036, 6), "longitude": lon, "radius_m": 80,
            "window_start": (now - timedelta(hours=3)).isoformat(),
            "window_end": (now - timedelta(hours=2)).isoformat(),
            "case_number": f"24-{random.randint(10000, 99999)}", "incident_type": "theft",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            "summary": "A bicycle taken from the rack; looking for someone on foot."}
    response = live_server.sign_in("officer").post("/api/requests", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _ask_of(owner, request_id: int) -> dict:
    [ask] = [a for a in owner.session.get("/api/asks").json() if a["request_id"] == request_id]
    return ask


def _offset_text(page, seconds: int) -> str:
    """What the PWA says of an offset: its own words, from its module."""
    return page.evaluate("async (s) => (await import('/app/js/recorder-clock.js')).offsetText(s)", seconds)


def _recorder_window_text(page, window: dict) -> str:
    return page.evaluate("async ([a, b]) => (await import('/app/js/ui.js')).formatWindow(a, b)",
                         [window["start"], window["end"]])


def test_the_owner_reads_the_recorder_clock_and_the_next_ask_uses_it(context, page, live_server, tmp_path,
                                                                     browser_log):
    owner = live_server.new_owner()
    lat, lon = _place()
    camera = owner.session.post("/api/cameras", json={
        "label": "Bike rack", "latitude": lat, "longitude": lon, "bearing": 90,
        "retention_days": RETENTION_DAYS, "public_attestation": True}).json()
    first = _issue_request(live_server, lat, lon)
    ask = _ask_of(owner, first["id"])
    assert ask["recorder_window"] is None and ask["overwrite_days_left"] == RETENTION_DAYS - 1

    live_server.sign_in_context(context, owner.login, owner.password)
    page.goto(f"/#/asks/{ask['id']}")
    # Open and not answered: how long the recorder keeps it, with the reminder.
    reminder = page.locator(".overwrite-reminder")
    expect(reminder).to_contain_text(f"in about {RETENTION_DAYS - 1} days")
    expect(reminder).to_contain_text("Export it now, decide later")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#upload-title")).to_be_focused()

    # The question starts at the phone's time and is not an answer yet.
    clock = page.locator("fieldset.recorder-clock")
    field = page.get_by_label("What time does your recorder show right now?")
    assert field.input_value().startswith(str(datetime.now(UTC).year)[:3])
    expect(clock.locator(".recorder-clock-status")).to_contain_text("Not answered")
    expect(page.locator(".uploader")).to_contain_text("choose the file from Files, not Photos")
    expect(page.locator(".uploader")).to_contain_text("Dahua .dav")
    assert page.get_by_label("Choose video files").get_attribute("accept") is None

    # The recorder is five minutes ahead of the phone.
    ahead = page.evaluate("""(s) => { const d = new Date(Date.now() + s * 1000);
        const p = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:`
             + `${p(d.getMinutes())}:${p(d.getSeconds())}`; }""", FIVE_MINUTES)
    field.fill(ahead)
    answered = int(clock.get_attribute("data-offset"))
    assert abs(answered - FIVE_MINUTES) <= 2
    expect(clock.locator(".recorder-clock-status")).to_contain_text(
        f"Your recorder’s clock is {_offset_text(page, answered)}")
    axe_check(page)
    fits_360(page)
    clock.scroll_into_view_if_needed()
    screenshot(page, "owner-recorder-clock")

    data = mp4_bytes(256 * 1024, seed=41)
    video = tmp_path / "bike-rack.mp4"
    video.write_bytes(data)
    page.get_by_label("Choose video files").set_input_files(video)
    row = page.locator(".upload-row")
    expect(row).to_have_attribute("data-state", "done", timeout=30_000)
    expect(row.locator(".sha256")).to_have_text(hashlib.sha256(data).hexdigest())

    [clip] = owner.session.get(f"/api/asks/{ask['id']}/clips").json()
    assert clip["recorder_offset_s"] == answered
    expect(page.locator(f".clip[data-clip-id='{clip['id']}'] .clip-clock")).to_have_text(
        f"Your recorder’s clock was {_offset_text(page, answered)} when you sent it.")
    # What the browser reported of the file: its last-modified time (to the millisecond).
    modified = datetime.fromisoformat(clip["file_modified_at"])
    assert abs(modified.timestamp() - video.stat().st_mtime) < 1
    assert owner.session.get(f"/api/cameras/{camera['id']}").json()["recorder_offset_s"] == answered
    officer_clip = live_server.sign_in("officer").get(f"/api/requests/{first['id']}/clips").json()[0]
    assert officer_clip["recorder_offset_s"] == answered
    assert datetime.fromisoformat(officer_clip["recorder_window"]["start"]) == \
        datetime.fromisoformat(first["window_start"]) + timedelta(seconds=answered)

    # The next request for that camera gives its window as the recorder shows it.
    second = _issue_request(live_server, lat, lon)
    next_ask = _ask_of(owner, second["id"])
    assert next_ask["recorder_window"]["offset_s"] == answered
    page.goto(f"/#/asks/{next_ask['id']}")
    shown = page.locator("dd.recorder-window")
    expect(shown).to_contain_text(_recorder_window_text(page, next_ask["recorder_window"]))
    expect(shown).to_contain_text(f"your recorder was {_offset_text(page, answered)} when last read")
    expect(page.locator(".overwrite-reminder")).to_contain_text(f"in about {RETENTION_DAYS - 1} days")
    axe_check(page)

    # Approved, the upload field starts from the remembered offset, and says it is no answer yet.
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#upload-title")).to_be_focused()
    clock = page.locator("fieldset.recorder-clock")
    expect(clock).to_contain_text(f"Last time your recorder was {_offset_text(page, answered)}")
    expect(clock.locator(".recorder-clock-status")).to_contain_text("Not answered")
    expect(page.locator(".upload-section")).to_contain_text("on your recorder’s clock")

    # On the camera form: what is known, and forgetting it.
    page.goto(f"/#/cameras/{camera['id']}")
    expect(page.locator(".recorder-clock-setting")).to_contain_text(
        f"Your recorder’s clock was {_offset_text(page, answered)}")
    axe_check(page)
    page.get_by_label("Forget it: requests then give only the real time").check()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url("**/#/cameras")
    assert owner.session.get(f"/api/cameras/{camera['id']}").json()["recorder_offset_s"] is None
    assert _ask_of(owner, second["id"])["recorder_window"] is None
    assert browser_log.script_errors == []
