"""The real app in a subprocess, for the browser tests and bench/lighthouse.py.

:class:`LiveServer` runs what ``make run`` runs, in a temporary instance directory of
its own: ``flask db upgrade``, ``flask demo load --base-url ...``, then the app under
gunicorn (one process, threaded, so the in-process notification worker and every
request share one process, as with ``make run``) on a free port of 127.0.0.1.

The database is SQLite in the instance directory. That is enough for the browser
tests: they prove the pages against the real HTTP API, and the API's behaviour on
PostgreSQL is proven by the rest of the suite. Pass ``database_url`` to point the
server at another database (it must be empty or already migrated).

Everything is in the standard library plus ``requests`` so that bench/ can use it
without pytest.

Two-step sign-in: officers and supervisors must answer an authenticator app's code
after their password. The LiveServer plays each account's authenticator (see
:class:`Authenticator`): the first sign-in of an account that has none yet runs the
set-up through the API with pyotp, and every later sign-in sends the code of the
current 30-second step, or one of the account's recovery codes when that step was
already used (the server refuses a code twice). Tests never see any of it unless they
type a code into the page themselves: :meth:`LiveServer.next_code`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import pyotp
import requests

from tests.peers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

# Mirrors app/demo.py's PASSWORDS (checked against it in tests/browser/test_harness.py).
DEMO_LOGINS = {
    "supervisor": ("supervisor@demo.porchlight.test", "demo-supervisor-pw"),
    "officer": ("officer@demo.porchlight.test", "demo-officer-pw"),
    "manager": ("manager@demo.porchlight.test", "demo-manager-pw"),
    "owner": ("owner@demo.porchlight.test", "demo-owner-pw"),
    "neighbor": ("neighbor@demo.porchlight.test", "demo-neighbor-pw"),
    "oversight": ("oversight@demo.porchlight.test", "demo-oversight-pw"),
}


def _config_variables() -> frozenset[str]:
    """Every environment variable config.py reads: the server gets none of the caller's."""
    text = (ROOT / "config.py").read_text()
    names = set(re.findall(r'env_(?:str|int|bool)\(\s*"([A-Z0-9_]+)"', text))
    names.update(re.findall(r'os\.environ\.get\(\s*"([A-Z0-9_]+)"', text))
    return frozenset(names)


def _die_with_parent() -> None:
    """In the server's process, before exec: ask Linux for SIGTERM when the test process
    dies, so a killed or crashed test run leaves no server behind (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class ApiSession(requests.Session):
    """A ``requests.Session`` whose relative URLs (``"/api/auth/me"``) go to the live server."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        return super().request(method, urljoin(self.base_url, url), *args, **kwargs)

    @property
    def cookie_header(self) -> str:
        """The session's cookies as one ``Cookie:`` header value (e.g. for Lighthouse)."""
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)


@dataclass
class Account:
    """An account made for one test: its login, password, API session and ``/api/auth/me`` body."""

    login: str
    password: str
    session: ApiSession
    user: dict = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.user["id"]


class ServerError(RuntimeError):
    pass


def _json_or_text(text: str) -> dict:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"text": text}


# Fewer unused recovery codes than this after a sign-in: the harness asks for new ones.
RECOVERY_CODES_LOW = 3


@dataclass
class Authenticator:
    """What an account's authenticator app and its saved recovery codes know."""

    secret: str
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int | None = None  # the newest 30-second step whose code was used

    def step_used(self) -> bool:
        """Whether this 30-second step's code was used already (the server refuses it again)."""
        return self.last_step is not None and pyotp.TOTP(self.secret).timecode(datetime.now(UTC)) <= self.last_step

    def next_code(self) -> tuple[str, str]:
        """A code the server takes now: ``("totp", code)`` when this step's code is unused,
        else ``("recovery", code)`` (taken off the list)."""
        totp = pyotp.TOTP(self.secret)
        step = totp.timecode(datetime.now(UTC))
        if self.last_step is None or step > self.last_step:
            self.last_step = step
            return "totp", totp.generate_otp(step)
        if not self.recovery_codes:
            raise ServerError("the harness has no recovery code left for this account")
        return "recovery", self.recovery_codes.pop(0)


class Authenticators(dict):
    """Per login, the :class:`Authenticator` of each account signed in through it; signs
    accounts in over any HTTP client, answering their second step.

    Used by :class:`LiveServer` and by bench/ scripts against any server::

        authenticators = Authenticators()
        authenticators.sign_in(session_caller(requests.Session(), base_url), login, password)
    """

    def sign_in(self, call, login: str, password: str, *, set_up: bool = True) -> dict:
        """Sign in through ``call(method, path, body) -> (status, json)`` (see
        :func:`session_caller`), sending a two-step code when the account has one here.

        An officer or supervisor without an authenticator yet gets one set up (pyotp
        plays the app) unless ``set_up`` is false (then :class:`ServerError`). After a
        sign-in with a recovery code, fewer than RECOVERY_CODES_LOW left are replaced.
        Returns the account as the sign-in (or, after a set-up, ``/api/auth/me``) shows it.
        """
        body = {"login": login, "password": password}
        authenticator = self.get(login)
        method = None
        if authenticator is not None:
            method, body["code"] = authenticator.next_code()
        status, answer = call("POST", "/api/auth/signin", body)
        if status == 401 and answer.get("error", {}).get("code") == "second_factor_required":
            raise ServerError(f"sign-in as {login} wants a two-step code, but no authenticator is known for it "
                              "(set up elsewhere? give its secret: LiveServer.remember_authenticator)")
        if status != 200:
            raise ServerError(f"sign-in as {login} failed: {status} {answer}")
        if (answer.get("second_factor") or {}).get("setup_required"):
            if not set_up:
                raise ServerError(f"{login} has not set up two-step sign-in yet: sign in once in the app to set it up")
            return self._set_up(call, login)
        if method == "recovery" and len(authenticator.recovery_codes) < RECOVERY_CODES_LOW:
            status, codes = call("POST", "/api/auth/second-factor/recovery-codes", {"password": password})
            if status != 200:
                raise ServerError(f"new recovery codes for {login} failed: {status} {codes}")
            authenticator.recovery_codes = list(codes["recovery_codes"])
        return answer

    def _set_up(self, call, login: str) -> dict:
        """Set up two-step sign-in for the signed-in ``login``, as its owner would with an app."""
        status, setup = call("POST", "/api/auth/second-factor/setup", None)
        if status != 200:
            raise ServerError(f"two-step set-up for {login} failed: {status} {setup}")
        authenticator = Authenticator(secret=setup["secret"])
        status, confirmed = call("POST", "/api/auth/second-factor/confirm", {"code": authenticator.next_code()[1]})
        if status != 200:
            raise ServerError(f"confirming two-step sign-in for {login} failed: {status} {confirmed}")
        authenticator.recovery_codes = list(confirmed["recovery_codes"])
        self[login] = authenticator
        status, me = call("GET", "/api/auth/me", None)
        if status != 200:
            raise ServerError(f"/api/auth/me after the set-up for {login}: {status} {me}")
        return me


def session_caller(session: requests.Session, base_url: str = ""):
    """``call(method, path, body) -> (status, json)`` over a requests session, for
    :meth:`Authenticators.sign_in` (``base_url`` is put before each path; an
    :class:`ApiSession` needs none)."""
    def call(method: str, path: str, body: dict | None) -> tuple[int, dict]:
        response = session.request(method, base_url.rstrip("/") + path if base_url else path, json=body)
        return response.status_code, _json_or_text(response.text)

    return call


class LiveServer:
    """The app served over HTTP from a subprocess. Use :meth:`start`/:meth:`stop` or ``with``.

    Attributes: ``base_url`` (``http://127.0.0.1:PORT``), ``origin`` (the same, for
    permissions and push), ``port``, ``push_port`` (free for a local push service, which
    the server sends to: PUSH_TEST_ORIGINS), ``instance_dir``, ``env`` (the server's extra
    environment), ``log_path`` (gunicorn's output), ``enrollment_code`` (the demo's
    live campaign code, joining the demo agency) and ``demo_output`` (what
    ``flask demo load`` printed).
    """

    def __init__(self, instance_dir: Path | str, *, port: int | None = None,
                 env: dict[str, str] | None = None, database_url: str | None = None,
                 threads: int = 8) -> None:
        self.instance_dir = Path(instance_dir)
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.origin = self.base_url
        self.log_path = self.instance_dir / "server.log"
        self.threads = threads
        self.push_port = free_port()
        self.env = {
            "PORCHLIGHT_ENV": "development",
            "PORCHLIGHT_INSTANCE_DIR": str(self.instance_dir),
            "DATABASE_URL": database_url or f"sqlite:///{self.instance_dir / 'porchlight.sqlite3'}",
            "PUBLIC_BASE_URL": self.base_url,
            "SESSION_COOKIE_SECURE": "false",
            # Cheap password hashing: sign-ins stay fast; the cost is not under test here.
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "8",
            "ARGON2_PARALLELISM": "1",
            "PYTHONUNBUFFERED": "1",
            # No tile server is reachable from the tests: maps show pins on the plain grid.
            "MAP_TILE_URL": "none",
            # Every test signs in from 127.0.0.1, far beyond the sign-in limit per address;
            # the limits are tested in tests/test_rate_limits.py.
            "RATELIMIT_ENABLED": "false",
            # The one plain-http push service the server may send to: the tests' own (LocalPushService).
            "PUSH_TEST_ORIGINS": f"http://127.0.0.1:{self.push_port}",
            **(env or {}),
        }
        self.enrollment_code: str | None = None
        self.demo_output = ""
        # Per login (as typed at sign-in): the account's authenticator, once set up.
        self.authenticators = Authenticators()
        self._process: subprocess.Popen | None = None
        self._log = None

    # -- the server's environment and CLI ---------------------------------------------

    def _environ(self) -> dict[str, str]:
        # No setting leaks in from the caller's shell (a real TWILIO_* would send real SMS).
        ignored = _config_variables()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_") and k not in ignored}
        environ.update(self.env)
        return environ

    def flask(self, *args: str, check: bool = True, input: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi ARGS`` against this server's instance and database.

        Returns the CompletedProcess (``stdout``/``stderr`` as text); with ``check`` a
        non-zero exit raises :class:`ServerError` showing both.
        """
        command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
        result = subprocess.run(command, cwd=ROOT, env=self._environ(), input=input, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise ServerError(f"`flask {' '.join(args)}` exited {result.returncode}\n"
                              f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
        return result

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60) -> LiveServer:
        self.flask("db", "upgrade")
        self.demo_output = self.flask("demo", "load").stdout  # links at PUBLIC_BASE_URL
        match = re.search(r"/e/([A-Z0-9]{8})\b", self.demo_output)
        if not match:
            raise ServerError(f"no enrollment code in `flask demo load` output:\n{self.demo_output}")
        self.enrollment_code = match.group(1)
        self._log = open(self.log_path, "ab")  # closed in stop()
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(self.threads),
                   "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "3", "--timeout", "120",
                   "--access-logfile", "-", "wsgi:app"]
        self._process = subprocess.Popen(command, cwd=ROOT, env=self._environ(), stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise ServerError(f"the server exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url("/api/health"), timeout=2).status_code in (200, 503):
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the server did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        """The last lines gunicorn and the app wrote (access log included)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- HTTP helpers ------------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def api(self) -> ApiSession:
        """A new, signed-out API session."""
        return ApiSession(self.base_url)

    def sign_in(self, who: str, password: str | None = None) -> ApiSession:
        """An API session signed in as a demo role (``"owner"``, ``"officer"``, ``"supervisor"``,
        ``"manager"``) or as any login (e-mail or phone) with its password.

        Two-step sign-in is handled here: a first sign-in that must set it up does so
        (the session is then a full one), later ones send a code (see :meth:`next_code`).
        """
        if who in DEMO_LOGINS and password is None:
            who, password = DEMO_LOGINS[who]
        session = self.api()
        self.authenticators.sign_in(session_caller(session), who, password)
        return session

    def next_code(self, login: str, password: str | None = None) -> str:
        """A two-step code for ``login``'s next sign-in, for a test to type into the page:
        the authenticator's code of this 30-second step if it is still unused, else one of
        the account's unused recovery codes. ``login`` may be a demo role; an officer or
        supervisor the harness has not signed in yet is signed in (and set up) first, which
        needs ``password`` unless it is a demo account. Returns "" for an account that
        signs in with its password alone."""
        if login in DEMO_LOGINS:
            login, password = DEMO_LOGINS[login][0], password or DEMO_LOGINS[login][1]
        authenticator = self.authenticators.get(login)
        if authenticator is None or (authenticator.step_used()
                                     and len(authenticator.recovery_codes) < RECOVERY_CODES_LOW):
            # Unknown yet, or short of recovery codes: an API sign-in sets it up or tops them up.
            if password is None:
                raise ServerError(f"next_code({login!r}) needs the password to sign it in first")
            self.sign_in(login, password)
            authenticator = self.authenticators.get(login)
            if authenticator is None:
                return ""
        return authenticator.next_code()[1]

    def remember_authenticator(self, login: str, secret: str, recovery_codes: list[str] = (),
                               last_step: int | None = None) -> Authenticator:
        """Record an authenticator set up outside the harness (e.g. through the page), so
        that later :meth:`sign_in` calls for ``login`` can answer its codes."""
        authenticator = Authenticator(secret=secret, recovery_codes=list(recovery_codes), last_step=last_step)
        self.authenticators[login] = authenticator
        return authenticator

    def forget_authenticator(self, login: str) -> None:
        """Drop what the harness knows of ``login``'s authenticator (after a reset)."""
        self.authenticators.pop(DEMO_LOGINS[login][0] if login in DEMO_LOGINS else login, None)

    def _context_caller(self, context):
        def call(method: str, path: str, body: dict | None) -> tuple[int, dict]:
            response = context.request.fetch(self.url(path), method=method, data=body)
            return response.status, _json_or_text(response.text())

        return call

    def new_owner(self, *, email: str | None = None, phone: str | None = None, password: str | None = None,
                  display_name: str | None = None, enrollment_code: str | None = "demo") -> Account:
        """Sign up a fresh owner through the API (a unique e-mail unless given).

        By default the owner joins the demo agency with the demo's campaign code; pass
        ``enrollment_code=None`` for an owner with no agency, or another code.
        """
        if email is None and phone is None:
            email = f"owner-{secrets.token_hex(4)}@example.com"
        password = password or f"pw-{secrets.token_urlsafe(12)}"
        body = {"email": email, "phone": phone, "password": password, "display_name": display_name,
                "enrollment_code": self.enrollment_code if enrollment_code == "demo" else enrollment_code}
        session = self.api()
        response = session.post("/api/auth/signup", json={k: v for k, v in body.items() if v is not None})
        if response.status_code != 201:
            raise ServerError(f"sign-up failed: {response.status_code} {response.text}")
        return Account(login=email or phone, password=password, session=session, user=response.json())

    def new_staff(self, role: str = "officer", *, email: str | None = None, password: str | None = None,
                  display_name: str | None = None, district_id: int | None = None,
                  signed_in: bool = True) -> Account:
        """A fresh officer, supervisor or manager of the demo agency, invited by the demo
        supervisor and joined through the e-mailed link (the harness plays the authenticator app).

        Signed in, with two-step sign-in on, unless ``signed_in`` is false: then the
        supervisor has reset its two-step sign-in (as after a lost phone), ``session`` is
        signed out, ``user`` is the staff list's entry, and its next sign-in sets it up again.
        """
        email = email or f"{role}-{secrets.token_hex(4)}@example.com"
        password = password or f"pw-{secrets.token_urlsafe(12)}"
        if role == "manager" and district_id is None:
            district_id = self.sign_in("manager").get("/api/auth/me").json()["district_id"]
        body = {"email": email, "role": role, "display_name": display_name, "district_id": district_id}
        supervisor = self.sign_in("supervisor")
        response = supervisor.post("/api/staff/invitations", json={k: v for k, v in body.items() if v is not None})
        if response.status_code != 201:
            raise ServerError(f"inviting a {role} failed: {response.status_code} {response.text}")
        session = self.api()
        joined = self.join(session, self.invitation_token(email), password)
        if not signed_in:
            reset = supervisor.post(f"/api/agency/staff/{joined['id']}/second-factor/reset")
            if reset.status_code != 200:
                raise ServerError(f"resetting the new {role}'s two-step sign-in failed: {reset.text}")
            self.forget_authenticator(email)
            return Account(login=email, password=password, session=self.api(), user=reset.json())
        return Account(login=email, password=password, session=session,
                       user=session.get("/api/auth/me").json())

    def invitation_token(self, email: str) -> str:
        """The token of the newest invitation link e-mailed to ``email`` (from the outbox)."""
        token, recipient = None, None
        for line in self.flask("mail", "outbox", "--limit", "1000").stdout.splitlines():
            header = re.match(r"--- \[[^]]*\] to (\S+): ", line)
            if header:
                recipient = header.group(1)
                continue
            found = re.search(r"/#/join/(\S+)", line)
            if found and recipient == email.lower():
                token = found.group(1)
        if token is None:
            raise ServerError(f"no invitation e-mail to {email} in the outbox")
        return token

    def join(self, session: ApiSession, token: str, password: str) -> dict:
        """Join by an invitation link over ``session``, as its holder would; returns the answer
        (the account, signed in, and its recovery codes, which the harness keeps)."""
        setup = session.post(f"/api/invitations/{token}/second-factor", json={"password": password})
        if setup.status_code != 200:
            raise ServerError(f"joining: the set-up step failed: {setup.status_code} {setup.text}")
        authenticator = Authenticator(secret=setup.json()["secret"])
        joined = session.post(f"/api/invitations/{token}/accept",
                              json={"password": password, "code": authenticator.next_code()[1]})
        if joined.status_code != 201:
            raise ServerError(f"joining failed: {joined.status_code} {joined.text}")
        answer = joined.json()
        authenticator.recovery_codes = list(answer["recovery_codes"])
        self.authenticators[answer["email"]] = authenticator
        return answer

    def sign_in_context(self, context, login: str, password: str | None = None) -> dict:
        """Sign a Playwright BrowserContext in (its cookie jar gets the session cookie).

        ``login`` may be a demo role name; returns the ``/api/auth/signin`` body (after a
        first sign-in that set up two-step sign-in, the ``/api/auth/me`` body).
        """
        if login in DEMO_LOGINS and password is None:
            login, password = DEMO_LOGINS[login]
        return self.authenticators.sign_in(self._context_caller(context), login, password)
