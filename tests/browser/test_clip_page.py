"""Recorder exports on the officer's clip page, in a real browser at 390×844.

An owner uploads, through tus, what recorders and phones really give them: a Dahua
``.dav``, a Hikvision program stream behind its ``IMKH`` header, an iPhone's HEVC
``.mov`` (none of which a browser plays as it is), and a damaged file. The live server's
in-process worker makes each one's working copy. On ``#/officer/clips/<id>`` the officer:

- plays the working copy in Chromium: the video reaches HAVE_CURRENT_DATA, its
  currentTime advances, and videoWidth is the recorder's;
- sees the master's SHA-256 (the uploaded bytes') and the copy's, with how it was made;
- finds the master's download first, and it gives back the uploaded bytes untouched;
- sees the recorder's clock (the offset the owner gave) and the window in recorder time;
- for the damaged file, reads why no playable copy could be made and can still download
  the master.

Every page passes axe-core and fits 360 px.
"""
from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from tusclient import client as tus_client

from tests.browser.helpers import axe_check, fits_360, screenshot

# Far from the demo cameras and from the other browser tests' areas.
AREA = ((44.10, 44.25), (-88.95, -88.75))
RECORDER_AHEAD_S = 3 * 3600 + 125  # the recorder shows 3 h 2 min 5 s later than the true time


def _owner_with_approved_ask(live_server):
    owner = live_server.new_owner(display_name="Clip Page Tester")
    (lat0, lat1), (lon0, lon1) = AREA
    lat, lon = round(random.uniform(lat0, lat1), 6), round(random.uniform(lon0, lon1), 6)
    camera = owner.session.post("/api/cameras", json={
        "label": "Shop DVR", "latitude": lat, "longitude": lon, "bearing": 180, "retention_days": 30,
        "public_attestation": True})
    assert camera.status_code == 201, camera.text
    now = datetime.now(UTC).replace(microsecond=0)
    officer = live_server.sign_in("officer")
    made = officer.post("/api/requests", json={
        "latitude": lat, "longitude": round(lon + 0.0003, 6), "radius_m": 60,
        "case_number": f"CP-{random.randint(10000, 99999)}", "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "Clip page test.", "window_start": (now - timedelta(hours=5)).isoformat(),
        "window_end": (now - timedelta(hours=4)).isoformat()})
    assert made.status_code == 201, made.text
    [ask] = [a for a in owner.session.get("/api/asks").json() if a["request_id"] == made.json()["id"]]
    assert owner.session.post(f"/api/asks/{ask['id']}/approve").status_code == 200
    return owner, officer, made.json(), ask


def _upload(live_server, owner, ask, path, **metadata) -> int:
    data = path.read_bytes()
    with path.open("rb") as stream:
        uploader = tus_client.TusClient(live_server.url("/api/uploads"),
                                        headers={"Cookie": owner.session.cookie_header}).uploader(
            file_stream=stream, chunk_size=64 * 1024, upload_checksum=True,
            metadata={"ask_id": str(ask["id"]), "filename": path.name, **metadata})
        uploader.upload()
    [clip] = [c for c in owner.session.get(f"/api/asks/{ask['id']}/clips").json()
              if c["sha256"] == hashlib.sha256(data).hexdigest()]
    return clip["id"]


def _settled(officer, clip_id: int, timeout: float = 90.0) -> dict:
    """The clip once the worker has made its copy or given up (it runs in the live server)."""
    deadline = time.monotonic() + timeout
    while True:
        clip = officer.get(f"/api/clips/{clip_id}").json()
        if clip["media"]["status"] in ("ready", "failed") or time.monotonic() > deadline:
            return clip
        time.sleep(0.25)


def _plays(page, width: int) -> None:
    video = page.locator(".clip-player video")
    expect(video).to_be_visible()
    assert video.evaluate("v => v.readyState") == 0  # preload="none": nothing fetched before play
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("""() => { const v = document.querySelector('.clip-player video');
        return v.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && v.currentTime > 0.2; }""", timeout=15_000)
    assert video.evaluate("v => v.videoWidth") == width
    assert video.evaluate("v => v.error") is None
    video.evaluate("v => v.pause()")


@pytest.mark.parametrize("sample, offset", [("dhav", RECORDER_AHEAD_S), ("imkh_mpegps", None), ("iphone_mov", -95)])
def test_the_officer_plays_a_recorder_export_and_downloads_the_untouched_master(
        page, live_server, samples, browser_log, sample, offset):
    owner, officer, request, ask = _owner_with_approved_ask(live_server)
    master = samples[sample]
    data = master.read_bytes()
    extra = {"recorder_offset": str(offset)} if offset is not None else {}
    clip_id = _upload(live_server, owner, ask, master, **extra)
    clip = _settled(officer, clip_id)
    assert clip["media"]["status"] == "ready", clip["media"]
    copy = clip["working_copy"]

    live_server.sign_in_context(page.context, "officer")
    page.goto(f"/#/officer/clips/{clip_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"case {request['case_number']}")
    _plays(page, clip["media"]["probe"].get("width") or 64)

    # Both hashes: the master's is the uploaded bytes'; the copy's is the server's record of it.
    expect(page.locator(".master-facts code.sha256")).to_have_text(hashlib.sha256(data).hexdigest())
    expect(page.locator(".copy-facts code.sha256")).to_have_text(copy["sha256"])
    expect(page.locator(".copy-facts .made-how")).to_contain_text(
        "Remuxed" if copy["method"] == "remux" else "Transcoded to H.264")
    expect(page.locator(".probe-facts")).to_contain_text("H.265 (HEVC)" if sample == "iphone_mov" else "H.264")

    # The master's download comes first, and it is the uploaded file, byte for byte.
    downloads = page.locator("a[download]")
    expect(downloads.first).to_have_text("Download the master")
    expect(downloads.nth(1)).to_have_text("Download the working copy")
    got = page.context.request.get(live_server.url(downloads.first.get_attribute("href")))
    assert got.status == 200 and got.body() == data
    got_copy = page.context.request.get(live_server.url(downloads.nth(1).get_attribute("href")))
    assert got_copy.status == 200 and hashlib.sha256(got_copy.body()).hexdigest() == copy["sha256"]

    clock = page.locator(".clip-recorder-clock")
    if offset is None:
        expect(clock).to_contain_text("did not say what time their recorder showed")
    else:
        expect(clock.locator(".recorder-offset")).to_contain_text(
            "3 h 2 min 5 s ahead of" if offset > 0 else "1 min 35 s behind")
        window = clip["recorder_window"]
        shown = datetime.fromisoformat(window["start"]) - datetime.fromisoformat(request["window_start"])
        assert shown == timedelta(seconds=offset)
        expect(clock.locator(".recorder-window")).not_to_be_empty()

    # The owner sees the officer's play and downloads, each with which file it was.
    accesses = owner.session.get("/api/me/clip-accesses").json()
    mine = [a for a in accesses if a["clip_id"] == clip_id]
    assert {(a["action"], a["variant"]) for a in mine} >= {
        ("view", "working_copy"), ("download", "master"), ("download", "working_copy")}

    axe_check(page)
    fits_360(page)
    if sample == "dhav":
        page.locator(".clip-player video").evaluate("v => { v.currentTime = 0.5; }")
        screenshot(page, "officer-clip", full_page=True)
        # The owner's History says which file each access was to.
        page.context.clear_cookies()
        live_server.sign_in_context(page.context, owner.login, owner.password)
        page.goto("/#/history")
        page.reload()  # the app read who is signed in when it loaded: the officer
        rows = page.locator(f".history-access:has-text('clip {clip_id}')")
        expect(rows.filter(has_text="played clip")).to_contain_text("(the playable copy made from it)")
        expect(page.locator(".history-access[data-variant=master]")).to_contain_text(f"downloaded clip {clip_id}")
        axe_check(page)
    assert browser_log.script_errors == []


def test_a_damaged_file_says_why_no_copy_was_made_and_the_master_stays_downloadable(
        page, live_server, samples, browser_log):
    owner, officer, request, ask = _owner_with_approved_ask(live_server)
    data = samples["truncated"].read_bytes()
    clip_id = _upload(live_server, owner, ask, samples["truncated"])
    clip = _settled(officer, clip_id)
    assert clip["media"]["status"] == "failed" and clip["working_copy"] is None

    live_server.sign_in_context(page.context, "officer")
    page.goto(f"/#/officer/clips/{clip_id}")
    failed = page.locator(".copy-failed")
    expect(failed).to_contain_text("No playable copy could be made.")
    expect(failed).to_contain_text(clip["media"]["error"])
    expect(page.locator(".clip-player video")).to_have_count(0)
    expect(page.locator(".master-facts code.sha256")).to_have_text(hashlib.sha256(data).hexdigest())
    download = page.get_by_role("link", name="Download the master")
    got = page.context.request.get(live_server.url(download.get_attribute("href")))
    assert got.status == 200 and got.body() == data
    expect(page.get_by_role("link", name="Download the working copy")).to_have_count(0)
    axe_check(page)
    fits_360(page)

    # The request's page links each clip to its page and says the same in short.
    page.goto(f"/#/officer/requests/{request['id']}")
    card = page.locator(f"li.clip[data-clip-id='{clip_id}']")
    expect(card.locator(".copy-failed")).to_contain_text("No playable copy could be made")
    card.get_by_role("link", name="Open clip").click()
    expect(page).to_have_url(f"{live_server.origin}/#/officer/clips/{clip_id}")
    assert browser_log.script_errors == []
