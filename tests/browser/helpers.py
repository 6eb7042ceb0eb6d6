"""Helpers for the browser tests, written once.

    from tests.browser.helpers import axe_check, screenshot, deliver_push, notifications, qr_y4m

- :func:`axe_check` runs axe-core (node_modules/axe-core) in the page with the WCAG 2.1 A
  and AA rules and fails on any violation, listing each with the elements concerned.
- :func:`screenshot` saves ``docs/screenshots/<name>.png`` (committed; the README shows them).
- :func:`deliver_push` pushes a message into the page's service worker through the
  DevTools protocol, as a push service would; :func:`notifications` reads back what
  the worker showed.
- :func:`qr_y4m` writes a Y4M video of a QR code for Chromium's fake camera.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
ARTIFACT_DIR = ROOT / "tests" / "_artifacts"

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps calling Google's services, which a test
# machine cannot reach (and may have no network for at all).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 390, "height": 844}


def fake_camera_args(video: Path | str) -> list[str]:
    """Chromium flags for a fake camera playing ``video`` (a .y4m or .mjpeg file), with the
    permission prompt answered yes."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={Path(video).resolve()}"]


# -- QR video for the fake camera ----------------------------------------------------------

def qr_y4m(text: str, path: Path | str, *, width: int = 640, height: int = 480, size: int = 320,
           fps: int = 15, frames: int = 15) -> Path:
    """Write a Y4M video showing the QR code of ``text`` (black on white, ``size`` px square,
    centred in a ``width`` x ``height`` frame) for ``--use-file-for-fake-video-capture``.

    Pure Python: the QR matrix comes from ``qrcode``; every frame is the same greyscale
    picture (Y plane) with neutral chroma (U and V planes of 128). Chromium loops the
    file, and jsQR decodes it on the first frame.
    """
    import qrcode

    if width % 2 or height % 2:
        raise ValueError("Y4M 4:2:0 needs an even width and height")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # rows of booleans, quiet zone included; True is a dark module
    modules = len(matrix)
    scale = max(1, min(size, width, height) // modules)
    side = scale * modules
    left, top = (width - side) // 2, (height - side) // 2
    white, black = 255, 0
    blank_row = bytes([white]) * width
    rows = []
    for module_row in matrix:
        pixels = b"".join((bytes([black]) if dark else bytes([white])) * scale for dark in module_row)
        row = bytes([white]) * left + pixels + bytes([white]) * (width - left - side)
        rows.extend([row] * scale)
    y_plane = blank_row * top + b"".join(rows) + blank_row * (height - top - side)
    assert len(y_plane) == width * height
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    frame = b"FRAME\n" + y_plane + chroma + chroma
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(frame)
    return path


# -- accessibility -----------------------------------------------------------------------

# WCAG 2.1 level A and AA (the ADA Title II standard): axe-core's rules with these tags.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# A WCAG failure is one whatever axe-core calls its impact.
BLOCKING_IMPACTS = ("minor", "moderate", "serious", "critical")


def _inject_axe(page) -> None:
    if page.evaluate("typeof window.axe !== 'undefined'"):
        return
    # Through the DevTools protocol rather than a <script> tag: a page's Content-Security-
    # Policy does not apply to it, so the check also runs on pages that forbid inline scripts.
    cdp = page.context.new_cdp_session(page)
    try:
        result = cdp.send("Runtime.evaluate", {"expression": AXE_JS.read_text(), "returnByValue": True})
    finally:
        cdp.detach()
    if "exceptionDetails" in result:
        raise RuntimeError(f"injecting axe-core failed: {result['exceptionDetails']}")


def format_violations(violations: list[dict], url: str = "") -> str:
    """axe-core's violations as readable lines: impact, rule, help, URL, then each element."""
    lines = [f"axe-core found {len(violations)} violation(s)" + (f" on {url}" if url else "") + ":"]
    for v in violations:
        lines.append(f"- [{v.get('impact')}] {v['id']}: {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", [])[:8]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {target}: {summary}")
        if len(v.get("nodes", [])) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more element(s)")
    return "\n".join(lines)


def axe_check(page, *, context: Any = None, options: dict | None = None,
              impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
    """Run axe-core's WCAG 2.1 A and AA rules (WCAG_TAGS) on ``page`` (or on ``context``, an
    axe context such as ``"#main"`` or ``{"exclude": [[".map"]]}``) and fail if any
    violation has one of ``impacts`` (any, by default).

    ``options`` go to ``axe.run`` (e.g. ``{"rules": {"region": {"enabled": False}}}``; a
    ``runOnly`` of their own replaces the WCAG tags). Returns every violation found for the
    caller to look at; the AssertionError lists the blocking ones with their elements.
    """
    _inject_axe(page)
    run_options = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": list(WCAG_TAGS)},
                   **(options or {})}
    results = page.evaluate(
        "([context, options]) => axe.run(context === null ? document : context, options)",
        [context, run_options])
    violations = results["violations"]
    blocking = [v for v in violations if v.get("impact") in impacts]
    if blocking:
        raise AssertionError(format_violations(blocking, page.url))
    return violations


# -- screenshots ---------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def screenshot(page, name: str, *, full_page: bool = False, directory: Path | None = None) -> Path:
    """Save ``docs/screenshots/<name>.png`` (the viewport unless ``full_page``) and return its path.

    ``name`` is lowercase letters, digits, dots, dashes and underscores (e.g. ``"owner-inbox"``).
    Animations are stopped and the caret hidden so that reruns give the same picture.
    """
    if not _NAME.match(name):
        raise ValueError(f"screenshot name {name!r}: use lowercase letters, digits, '.', '-', '_'")
    path = (directory or SCREENSHOT_DIR) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path


# -- push into a service worker ------------------------------------------------------------

def _service_worker_ready(page, timeout: float) -> bool:
    """Whether ``navigator.serviceWorker.ready`` settles within ``timeout`` (it never does
    when no worker is registered, and page.evaluate has no timeout of its own)."""
    return page.evaluate("""(ms) => Promise.race([
        navigator.serviceWorker.ready.then(() => true),
        new Promise(resolve => setTimeout(() => resolve(false), ms)),
    ])""", int(timeout * 1000))


def deliver_push(context, page, origin: str, data: Any, *, scope: str | None = None,
                 timeout: float = 10.0) -> str:
    """Deliver a push message to the service worker registered for ``origin``, as a push
    service would, through the DevTools protocol (``ServiceWorker.deliverPushMessage``).

    ``data`` is sent as text: a str as it is, anything else as JSON. With several
    registrations on the origin give ``scope`` (a scope URL); the default is the only
    one, or the origin's root scope. Waits for the worker to be active when ``page`` is
    on the origin. Returns the registration id. The worker's ``push`` handler runs;
    read what it showed with :func:`notifications`.
    """
    origin = origin.rstrip("/")
    if page.url.startswith(origin + "/") and not _service_worker_ready(page, timeout):
        raise AssertionError(f"no service worker became active for {page.url} within {timeout} s "
                             "(is it registered, and is its script served?)")
    text = data if isinstance(data, str) else json.dumps(data)
    registrations: dict[str, dict] = {}
    active: set[str] = set()

    def on_registrations(event):
        for registration in event["registrations"]:
            if registration.get("isDeleted"):
                registrations.pop(registration["registrationId"], None)
            else:
                registrations[registration["registrationId"]] = registration

    def on_versions(event):
        for version in event["versions"]:
            if version.get("status") == "activated":
                active.add(version["registrationId"])

    cdp = context.new_cdp_session(page)
    try:
        cdp.on("ServiceWorker.workerRegistrationUpdated", on_registrations)
        cdp.on("ServiceWorker.workerVersionUpdated", on_versions)
        cdp.send("ServiceWorker.enable")
        deadline = time.monotonic() + timeout
        while True:
            ours = {rid: r for rid, r in registrations.items()
                    if r["scopeURL"].startswith(origin + "/") and (scope is None or r["scopeURL"] == scope)}
            if len(ours) > 1 and scope is None:
                root = [rid for rid, r in ours.items() if r["scopeURL"] == origin + "/"]
                ours = {rid: ours[rid] for rid in root} if root else ours
            if len(ours) == 1 and next(iter(ours)) in active:
                registration_id = next(iter(ours))
                break
            if time.monotonic() > deadline:
                found = [r["scopeURL"] for r in registrations.values()]
                raise AssertionError(
                    f"no single active service worker registration for {origin}"
                    f"{' scope ' + scope if scope else ''} within {timeout} s (registrations: {found})")
            page.wait_for_timeout(50)  # lets Playwright dispatch the protocol's events
        cdp.send("ServiceWorker.deliverPushMessage",
                 {"origin": origin, "registrationId": registration_id, "data": text})
    finally:
        cdp.detach()
    return registration_id


def notifications(page, *, count: int = 0, timeout: float = 10.0) -> list[dict]:
    """The notifications the page's service worker registration shows (title, body, tag,
    data, actions), waiting up to ``timeout`` seconds until there are at least ``count``."""
    if not _service_worker_ready(page, timeout):
        raise AssertionError(f"no service worker is active for {page.url}: no notifications to read")
    deadline = time.monotonic() + timeout
    while True:
        shown = page.evaluate("""async () => {
            const registration = await navigator.serviceWorker.ready;
            const shown = await registration.getNotifications();
            return shown.map(n => ({title: n.title, body: n.body, tag: n.tag, data: n.data,
                                    actions: (n.actions || []).map(a => ({action: a.action, title: a.title}))}));
        }""")
        if len(shown) >= count or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(100)


def push_until_shown(context, page, origin: str, data: Any, *, until: Callable[[list[dict]], bool],
                     timeout: float = 30.0) -> list[dict]:
    """Deliver ``data`` (:func:`deliver_push`) and return the notifications once ``until(shown)``.

    DevTools' ``deliverPushMessage`` gives no answer when the worker has handled the push,
    and once in a loaded CI run a delivered push showed nothing within 10 s. So: wait a
    third of ``timeout``, deliver once more if nothing matched (the worker's notifications
    carry the ask's tag, so a second delivery replaces, never adds), then wait the rest.
    """
    deadline = time.monotonic() + timeout
    for attempt in range(2):
        deliver_push(context, page, origin, data)
        wait_until = time.monotonic() + (timeout / 3 if attempt == 0 else max(deadline - time.monotonic(), 1.0))
        while True:
            shown = notifications(page)
            if until(shown):
                return shown
            if time.monotonic() > wait_until:
                break
            page.wait_for_timeout(100)
        if attempt == 0:
            print(f"push_until_shown: nothing matched {timeout / 3:.0f} s after delivery; delivering again "
                  f"(shown: {shown})")
    raise AssertionError(f"the pushed message was not shown as expected within {timeout:.0f} s "
                         f"(delivered twice); shown: {shown}")


def fits_360(page) -> None:
    """Usable 360 px wide: nothing makes the page scroll sideways."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": size["height"]})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        page.set_viewport_size(size)
