"""The browser-test harness proves itself: accounts made through the API, the vendored
UMD scripts' globals, the fake camera read by jsQR, and a push delivered into a service
worker through the DevTools protocol. If one of these fails, the PWA's browser tests
cannot be trusted either."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest

from app.demo import PASSWORDS
from tests.browser.helpers import deliver_push, notifications, push_until_shown
from tests.browser.liveserver import DEMO_LOGINS


def test_demo_logins_match_the_demo_data():
    assert {email: password for email, password in DEMO_LOGINS.values()} == PASSWORDS


def test_accounts_made_through_the_api_sign_a_context_in(live_server, context, page):
    owner = live_server.new_owner()
    other = live_server.new_owner()
    assert owner.login != other.login
    assert owner.user["memberships"][0]["agency_name"] == "Demo Police Department"
    assert owner.session.get("/api/auth/me").json()["email"] == owner.login
    live_server.sign_in_context(context, owner.login, owner.password)
    page.goto("/")
    me = page.evaluate("fetch('/api/auth/me').then(r => r.json())")
    assert me["email"] == owner.login
    officer = live_server.new_staff("officer")
    assert officer.user["role"] == "officer"
    assert "audit chain intact" in live_server.flask("audit", "verify").stdout


def test_the_harness_answers_two_step_sign_in_for_staff(live_server, context, page):
    # A new officer: the first sign-in sets up the authenticator; then, within one
    # 30-second step, recovery codes sign it in, and are topped up before they run out.
    officer = live_server.new_staff("officer")
    me = officer.session.get("/api/auth/me").json()
    assert me["second_factor"] == {"enabled": True, "required": True, "setup_required": False,
                                   "recovery_codes_left": 10}
    for _ in range(12):
        assert live_server.sign_in(officer.login, officer.password).get("/api/requests").status_code == 200
    assert len(live_server.authenticators[officer.login].recovery_codes) >= 2
    live_server.sign_in_context(context, officer.login, officer.password)
    page.goto("/")
    assert page.evaluate("fetch('/api/requests').then(r => r.status)") == 200
    code = live_server.next_code(officer.login)
    typed = live_server.api().post("/api/auth/signin", json={"login": officer.login, "password": officer.password,
                                                             "code": code})
    assert typed.status_code == 200, typed.text
    # Owners have no second step unless they turn it on.
    owner = live_server.new_owner()
    assert live_server.next_code(owner.login, owner.password) == ""


def test_vendored_scripts_define_their_globals(page):
    page.goto("/")
    for name in ("jsqr.js", "tus.js", "leaflet.js"):
        page.add_script_tag(url=f"/app/vendor/{name}")
    assert page.evaluate("""() => [typeof window.jsQR, typeof window.tus.Upload,
                                   window.tus.isSupported, typeof window.L.map]""") == [
        "function", "function", True, "function"]


def test_fake_camera_shows_a_qr_code_that_jsqr_decodes(qr_camera_page, live_server):
    text = live_server.url(f"/e/{live_server.enrollment_code}")
    page = qr_camera_page(text, "/")
    page.add_script_tag(url="/app/vendor/jsqr.js")
    decoded = page.evaluate("""async () => {
        const stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}});
        const video = document.createElement('video');
        video.muted = true;
        video.srcObject = stream;
        await video.play();
        const canvas = document.createElement('canvas');
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        const ctx = canvas.getContext('2d', {willReadFrequently: true});
        for (let i = 0; i < 50; i++) {
            ctx.drawImage(video, 0, 0);
            const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
            const code = jsQR(image.data, image.width, image.height);
            if (code) { stream.getTracks().forEach(t => t.stop()); return code.data; }
            await new Promise(r => setTimeout(r, 100));
        }
        return null;
    }""")
    assert decoded == text


SERVICE_WORKER = """
self.addEventListener('install', event => event.waitUntil(self.skipWaiting()));
self.addEventListener('activate', event => event.waitUntil(self.clients.claim()));
self.addEventListener('push', event => {
  const data = event.data ? event.data.json() : {};
  event.waitUntil(self.registration.showNotification(data.title, {
    body: data.body, tag: data.tag, data,
    actions: [{action: 'approve', title: 'Approve'}, {action: 'decline', title: 'Decline'}],
  }));
});
"""


@pytest.fixture
def worker_origin(tmp_path):
    """A bare origin serving a page and a service worker of this test's own (not the PWA's)."""
    (tmp_path / "index.html").write_text("<!doctype html><title>sw</title><h1>sw</h1>")
    (tmp_path / "sw.js").write_text(SERVICE_WORKER)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_delivered_through_devtools_shows_a_notification(context, page, worker_origin):
    context.grant_permissions(["notifications"], origin=worker_origin)
    page.goto(worker_origin + "/index.html")
    page.evaluate("navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready)")
    payload = {"title": "Footage request", "body": "Case 24-001 near Front porch", "tag": "ask-1"}
    # Delivered again if nothing shows at first (DevTools' delivery is not acknowledged, and once
    # in a loaded run a push showed nothing in time); the tag makes a second one replace the first.
    shown = push_until_shown(context, page, worker_origin, payload, until=lambda found: len(found) >= 1)
    assert len(shown) == 1
    assert shown[0]["title"] == "Footage request"
    assert shown[0]["body"] == payload["body"]
    assert shown[0]["data"] == payload
    assert [a["action"] for a in shown[0]["actions"]] == ["approve", "decline"]


def test_deliver_push_without_a_worker_fails_fast(context, page, worker_origin):
    # navigator.serviceWorker.ready never settles without a worker: the helper must not hang.
    page.goto(worker_origin + "/index.html")
    with pytest.raises(AssertionError, match="no service worker"):
        deliver_push(context, page, worker_origin, {"title": "x"}, timeout=1)
    with pytest.raises(AssertionError, match="no service worker"):
        notifications(page, count=1, timeout=1)
