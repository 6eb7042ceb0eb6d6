"""Fixtures for the browser tests: the real app served by a subprocess, Debian's chromium
driven by Playwright at a phone's size, and a fake camera.

Every test under tests/browser/ gets the ``browser`` marker (``-m "not browser"`` leaves
them out) and the ``slow`` one (``make test-fast`` leaves them out). They need
/usr/bin/chromium, playwright (requirements-dev.txt) and axe-core in node_modules/
(``npm ci``: npm brings only test tools, the PWA's own browser libraries are committed
under pwa/vendor/); ``make test`` run as root puts all three in place. Without them the
tests skip, saying so, unless the environment variable CI is set (.ci/run sets it): then
they fail, because CI always runs them.

Fixtures (see each one's docstring):

- ``live_server`` (session): :class:`tests.browser.liveserver.LiveServer` with demo data.
  ``.base_url``/``.origin``, ``.url(path)``, ``.flask(*args)``, ``.sign_in(role_or_login,
  password=None)`` -> requests session, ``.new_owner(...)``/``.new_staff(role)`` ->
  :class:`Account` (make your own users so tests do not interfere),
  ``.sign_in_context(context, login, password=None)``, ``.enrollment_code``, ``.log_tail()``.
  Officers and supervisors sign in with two-step codes: the harness sets up and plays
  their authenticator app (``.next_code(login)`` gives a code for a test to type).
- ``live_server_factory`` (session): ``make(**env) -> LiveServer`` for a server with other settings.
- ``browser`` (session), ``context``, ``page``: Playwright's sync API; contexts are
  390x844, mobile, touch, with ``base_url`` set, so ``page.goto("/")`` works.
- ``context_options``: the dict given to ``browser.new_context``; override it in a test
  module to change it.
- ``browser_log``: the console errors and uncaught exceptions of every page of ``context``.
- ``camera_browser``: ``launch(video_path) -> Browser`` with Chromium's fake camera playing the file.
- ``qr_camera_page``: ``open(text, path=None) -> Page`` whose camera shows the QR code of ``text``.

Helpers (import them from tests.browser.helpers): ``axe_check(page)``,
``screenshot(page, name)``, ``deliver_push(context, page, origin, data)``,
``notifications(page, count=...)``, ``qr_y4m(text, path)``.

When a test fails, a screenshot of each of its pages goes to tests/_artifacts/ and the
server's log tail is printed with the failure. A test still running after
BROWSER_TEST_TIMEOUT seconds (180) fails with a TimeoutError instead of hanging the run.
"""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import requests

from tests.browser.helpers import (
    ARTIFACT_DIR,
    AXE_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    fake_camera_args,
    qr_y4m,
)
from tests.browser.liveserver import LiveServer

HERE = Path(__file__).resolve().parent
DEFAULT_TIMEOUT_MS = 10_000


def missing_requirements() -> list[str]:
    """What the browser tests need and this machine lacks, as readable phrases."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian's chromium package)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (requirements-dev.txt)")
    if not AXE_JS.is_file():
        missing.append("axe-core in node_modules/ (npm ci)")
    return missing


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
            # Under xdist (make test), one worker runs them all: one live server and one chromium.
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_browser_report_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _browser_requirements():
    missing = missing_requirements()
    if missing:
        message = (f"browser tests need {', '.join(missing)}: `make test` run as root installs them "
                   "(apt-get install chromium, pip install -r requirements-dev.txt, npm ci)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}. CI is set, and .ci/run always runs the browser tests.", pytrace=False)
        pytest.skip(message)


# A hung browser test would hang CI (page.evaluate waits for its promise with no timeout).
TEST_TIMEOUT_S = int(os.environ.get("BROWSER_TEST_TIMEOUT", "180"))


@pytest.fixture(autouse=True)
def _hang_guard():
    """Fail a browser test still running after BROWSER_TEST_TIMEOUT seconds (180 by default)."""
    def expired(signum, frame):
        raise TimeoutError(f"browser test still running after {TEST_TIMEOUT_S} s (BROWSER_TEST_TIMEOUT): "
                           "a page.evaluate awaiting a promise that never settles?")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- the app -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def live_server_factory(tmp_path_factory):
    """``make(**env) -> LiveServer``: start another server (own instance directory, SQLite
    database and demo data) with extra environment settings, e.g.
    ``make(SCHEDULER_INTERVAL_SECONDS="1")``. All are stopped at the end of the session."""
    servers: list[LiveServer] = []

    def make(**env: str) -> LiveServer:
        server = LiveServer(tmp_path_factory.mktemp("live_server"), env=env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def live_server(live_server_factory) -> LiveServer:
    """The app as ``make run`` serves it (gunicorn, development config, SQLite in a
    temporary instance directory, migrated, demo data loaded), shared by the session.

    Sign in as a demo role for reading; create the users a test changes things for with
    ``live_server.new_owner()`` / ``live_server.new_staff("officer")``.
    """
    return live_server_factory()


@pytest.fixture(scope="session")
def push_service(live_server):
    """The local Web Push service (tests/peers) on the live server's push port, checking
    VAPID against the app's key. One for the session: a service stopped and another
    started on the same port would leave the app's kept-alive connection to the first
    one dead, and the next push would wait out a retry."""
    from tests.peers.push_service import LocalPushService

    key = requests.get(live_server.url("/api/push/vapid-public-key"), timeout=10).json()["public_key"]
    with LocalPushService(key, port=live_server.push_port) as service:
        yield service


# -- the browser ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's headless chromium with CHROMIUM_ARGS (tests/browser/helpers.py), shared by the session."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context_options(live_server) -> dict:
    """Options of ``browser.new_context``: a 390x844 phone, ``base_url`` the live server."""
    return {
        "viewport": dict(VIEWPORT),
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "locale": "en-US",
        "timezone_id": "America/Chicago",
        "base_url": live_server.base_url,
    }


class BrowserLog:
    """Console errors and uncaught page exceptions of every page in a context.

    ``errors``: every console error and uncaught exception; ``script_errors``: the same
    without Chromium's "Failed to load resource" lines (one per 4xx/5xx answer, e.g. the
    expected 401 of /api/auth/me when signed out); ``exceptions``: uncaught exceptions
    only; ``messages``: every console line.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.messages: list[str] = []

    @property
    def exceptions(self) -> list[str]:
        return [e for e in self.errors if e.startswith("uncaught: ")]

    @property
    def script_errors(self) -> list[str]:
        return [e for e in self.errors if "Failed to load resource" not in e]

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message) -> None:
        line = f"console.{message.type}: {message.text}"
        self.messages.append(line)
        if message.type == "error":
            self.errors.append(line)


@pytest.fixture
def browser_log() -> BrowserLog:
    """The console of the test's pages: ``.errors``, ``.script_errors``, ``.exceptions``,
    ``.messages`` (see BrowserLog)."""
    return BrowserLog()


def _save_failure_artifacts(request, contexts, server: LiveServer | None) -> None:
    report = getattr(request.node, "_browser_report_call", None)
    if report is None or not report.failed:
        return
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    for c_index, context in enumerate(contexts):
        for p_index, open_page in enumerate(context.pages):
            try:
                open_page.screenshot(path=str(ARTIFACT_DIR / f"{stem}-{c_index}-{p_index}.png"), full_page=True)
            except Exception:  # best effort: the page may have crashed
                pass
    if server is not None:
        report.sections.append(("live server log (tail)", server.log_tail()))


def _new_context(browser, options, log: BrowserLog):
    context = browser.new_context(**options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.on("page", log.attach)
    return context


@pytest.fixture
def context(request, browser, context_options, browser_log, live_server):
    """A fresh incognito context (cookies, storage and service workers of its own)."""
    context = _new_context(browser, context_options, browser_log)
    yield context
    _save_failure_artifacts(request, [context], live_server)
    context.close()
    # The app runs under a strict Content-Security-Policy: anything it blocked is a bug.
    blocked = [line for line in browser_log.messages if "Content Security Policy" in line]
    if blocked:
        pytest.fail("the Content-Security-Policy blocked something:\n" + "\n".join(blocked[:10]))


@pytest.fixture
def page(context):
    """A page of ``context`` (not yet navigated)."""
    return context.new_page()


@pytest.fixture
def camera_browser(request, playwright, live_server):
    """``launch(video_path) -> Browser``: a separate chromium whose camera plays the video
    (.y4m, e.g. from :func:`qr_y4m`); closed after the test."""
    browsers = []

    def launch(video_path: Path | str):
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=CHROMIUM_ARGS + fake_camera_args(video_path))
        browsers.append(browser)
        return browser

    yield launch
    _save_failure_artifacts(request, [c for b in browsers for c in b.contexts], live_server)
    for browser in browsers:
        browser.close()


@pytest.fixture
def qr_camera_page(camera_browser, context_options, browser_log, live_server, tmp_path):
    """``open(text, path=None) -> Page``: a page (same options as ``context``) in a browser
    whose camera shows the QR code of ``text``, with camera permission granted to the
    live server; it navigates to ``path`` when given."""
    def open_page(text: str, path: str | None = None):
        video = qr_y4m(text, tmp_path / f"qr-{abs(hash(text))}.y4m")
        context = _new_context(camera_browser(video), context_options, browser_log)
        context.grant_permissions(["camera"], origin=live_server.origin)
        new_page = context.new_page()
        if path is not None:
            new_page.goto(path)
        return new_page

    return open_page
