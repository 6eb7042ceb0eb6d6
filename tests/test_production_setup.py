"""The security round's attacks, performed against the production setup of docs/DEPLOY.md.

gunicorn with PORCHLIGHT_ENV=production serves TLS itself (a certificate made here for
127.0.0.1) on PostgreSQL and Redis, set up with the documented commands (`flask db
upgrade`, `flask agency create`) and the settings production requires; the test plays
the proxy in front of it (TRUSTED_PROXIES=1: X-Forwarded-For, as nginx sets it). Every
attack of the outside test fails over real HTTP: a cookie replayed after signing out,
a push endpoint on loopback, strangers locking an officer out, a forged Host in the
links, a supervisor approving their own over-limit request, secrets readable in the
database, codes in the logs, and a deleted owner's camera in the audit log. The chain
still verifies at the end. Each attack has its detailed tests beside this one
(tests/test_sessions.py, test_push_endpoints.py, test_device_cookies.py,
test_public_links.py, test_footage.py, test_secrets_at_rest.py, test_logs.py,
test_erasure.py); this one proves them in the deployed shape.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import scratch_pg_database
from tests.peers.ports import free_port
from tests.peers.tls import certificate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://porchlight.example.gov"
SUPERVISOR, SUPERVISOR_PASSWORD = "chief@example.gov", "a-long-supervisor-passphrase"
OFFICER, OFFICER_PASSWORD = "patrol@example.gov", "a-long-officer-passphrase"
OWNER_PASSWORD = "a-long-owner-passphrase"
LABEL, ADDRESS, LAT, LON = "Rosewood Porch 7731", "7731 Rosewood Lane", 43.041837, -87.909312


class Deployment:
    def __init__(self, tmp: Path, database_url: str, redis_url: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.cert, key = certificate(tmp)
        self.key = key
        self.log = tmp / "gunicorn.log"
        self.database_url = database_url
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PORCHLIGHT_"))},
                    "PORCHLIGHT_ENV": "production", "PORCHLIGHT_INSTANCE_DIR": str(tmp / "instance"),
                    "SECRET_KEY": Fernet.generate_key().decode() * 2, "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                    "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
                    "PUBLIC_BASE_URL": PUBLIC, "VAPID_SUBJECT": f"mailto:webmaster@{PUBLIC.removeprefix('https://')}",
                    "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "JOB_QUEUE_NAME": f"porchlight-prod-{os.getpid()}", "TRUSTED_PROXIES": "1",
                    "CLIP_STORAGE_ROOT": str(tmp / "clips"), "RUN_IN_PROCESS_WORKER": "false",
                    # Cheap hashing keeps the test quick; the rest is production's as documented.
                    "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1",
                    "PYTHONUNBUFFERED": "1"}

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def __enter__(self) -> Deployment:
        for args in (("db", "upgrade"), ("agency", "create", "--name", "Riverside Police Department", "--slug",
                                         "riverside", "--timezone", "America/Chicago", "--supervisor-email",
                                         SUPERVISOR)):
            done = self.flask(*args)
            assert done.returncode == 0, done.stderr[-2000:]
        # The first supervisor's invitation link, which the operator hands over.
        self.supervisor_link = re.search(r"/#/join/(\S+)", done.stdout).group(1)
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "2", "--bind",
                 f"127.0.0.1:{self.port}", "--certfile", str(self.cert), "--keyfile", str(self.key),
                 "--log-level", "info", "wsgi:app"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.client().get("/api/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def client(self, address: str = "198.51.100.1") -> requests.Session:
        """A browser at ``address``, as the proxy reports it (X-Forwarded-For)."""
        return _Client(self.base, address, str(self.cert))

    def sql(self, query: str) -> list:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(query)).all()
        finally:
            engine.dispose()


class _Client(requests.Session):
    def __init__(self, base: str, address: str, certificate: str) -> None:
        super().__init__()
        self.base, self.certificate = base, certificate
        self.headers["X-Forwarded-For"] = address

    def request(self, method, url, *args, **kwargs):
        # Per request: REQUESTS_CA_BUNDLE in the environment would override a session's verify.
        kwargs.setdefault("verify", self.certificate)
        return super().request(method, self.base + url if url.startswith("/") else url, *args, **kwargs)


def _error(response) -> str:
    return response.json()["error"]["code"]


def _join(client: requests.Session, token: str, password: str) -> tuple[pyotp.TOTP, list[str]]:
    """Joining by invitation: the password, the authenticator app, the recovery codes."""
    setup = client.post(f"/api/invitations/{token}/second-factor", json={"password": password})
    assert setup.status_code == 200, setup.text
    totp = pyotp.TOTP(setup.json()["secret"])
    joined = client.post(f"/api/invitations/{token}/accept", json={"password": password, "code": totp.now()})
    assert joined.status_code == 201, joined.text
    return totp, joined.json()["recovery_codes"]


def _push_keys() -> dict:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": base64.urlsafe_b64encode(point).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()}


@pytest.fixture
def deployment(tmp_path, redis_url):
    # The production setup runs on PostgreSQL: without TEST_DATABASE_URL this skips (fails when CI is set).
    with scratch_pg_database("prod") as url, Deployment(tmp_path, url, redis_url) as running:
        yield running


def test_the_attacks_fail_against_the_production_setup(deployment):
    d = deployment
    # The first supervisor joins by the CLI's invitation link: own password, two-step sign-in on.
    supervisor = d.client()
    _join(supervisor, d.supervisor_link, SUPERVISOR_PASSWORD)
    assert supervisor.get("/api/auth/me").json()["email"] == SUPERVISOR
    made = supervisor.post("/api/staff/invitations", json={"email": OFFICER, "role": "officer"})
    assert made.status_code == 201, made.text
    [(invitation,)] = d.sql(f"SELECT body_text FROM mail_messages WHERE to_address = '{OFFICER}'")
    assert invitation.count(f"{PUBLIC}/#/join/") == 1
    officer_link = re.search(r"/#/join/(\S+)", invitation).group(1)

    # 4. Links come from PUBLIC_BASE_URL whatever Host or X-Forwarded-Host the request names.
    # (requests matches cookies to a Host header it is given: the session cookie goes by hand.)
    code = supervisor.post("/api/enrollment/codes",
                           json={"label": "Rosewood block party", "kind": "campaign", "max_uses": 10},
                           headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example",
                                    "X-Forwarded-Prefix": "/evil",
                                    "Cookie": f"porchlight_session={supervisor.cookies['porchlight_session']}"})
    assert code.status_code == 201, code.text
    assert code.json()["url"].startswith(f"{PUBLIC}/e/") and "evil" not in code.text

    # 1. A session cookie copied before signing out is worthless afterwards.
    owner = d.client("198.51.100.7")
    signed_up = owner.post("/api/auth/signup", json={"email": "resident@example.org", "password": OWNER_PASSWORD,
                                                     "enrollment_code": code.json()["code"]})
    assert signed_up.status_code == 201, signed_up.text
    stolen = owner.cookies.get("porchlight_session")
    assert owner.post("/api/auth/signout").status_code == 204
    thief = d.client("203.0.113.66")
    thief.cookies.set("porchlight_session", stolen, domain="127.0.0.1")
    assert _error(thief.get("/api/auth/me")) == "session_revoked"
    camera = {"label": LABEL, "address": ADDRESS, "latitude": LAT, "longitude": LON, "retention_days": 14,
              "public_attestation": True}
    assert thief.post("/api/cameras", json=camera).status_code == 401

    # 2. A push endpoint spelled as loopback is refused before anything is stored.
    assert owner.post("/api/auth/signin", json={"login": "resident@example.org", "password": OWNER_PASSWORD}).ok
    for endpoint in (f"https://127.1:{d.port}/", f"https://2130706433:{d.port}/", f"https://0x7f000001:{d.port}/"):
        refused = owner.post("/api/push/subscriptions", json={"endpoint": endpoint, "keys": _push_keys()})
        assert refused.status_code == 422 and "endpoint" in refused.json()["error"]["fields"], refused.text
    assert d.sql("SELECT count(*) FROM push_subscriptions") == [(0,)]

    # 7. A texted verification code reaches the outbox, never the log.
    sent = owner.post("/api/auth/phone/verification", json={"phone": "+14145550123"})
    assert sent.status_code == 202, sent.text
    [(body,)] = d.sql("SELECT body FROM sms_messages")
    texted = next(word for word in body.split() if word.strip(".").isdigit() and len(word.strip(".")) == 6)
    log = d.log.read_text()
    assert "SMS NOT SENT" in log and texted.strip(".") not in log  # the server logged the text, not its code

    # 3. Strangers spending the officer's per-login budget do not keep out the officer's own browser.
    officer = d.client("198.51.100.20")
    _totp, recovery = _join(officer, officer_link, OFFICER_PASSWORD)  # every factor: a device cookie
    assert officer.post("/api/auth/signout").status_code == 204
    answers = [d.client(f"203.0.113.{n}").post("/api/auth/signin", json={"login": OFFICER, "password": "guess"})
               .status_code for n in range(1, 13)]
    assert answers[-1] == 429 and 401 in answers
    locked = d.client("198.51.100.21").post("/api/auth/signin", json={"login": OFFICER, "password": OFFICER_PASSWORD,
                                                                      "code": recovery[0]})
    assert locked.status_code == 429
    back = officer.post("/api/auth/signin", json={"login": OFFICER, "password": OFFICER_PASSWORD,
                                                  "code": recovery[1]})
    assert back.status_code == 200, back.text

    # 5. Four eyes: a supervisor's own over-limit request waits for another supervisor.
    now = dt.datetime.now(dt.UTC)
    over = supervisor.post("/api/requests", json={
        "latitude": LAT, "longitude": LON, "radius_m": 2000, "case_number": "R-1", "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        "summary": "Break-in on Rosewood Lane.", "justification": "A wide area: the suspect fled on foot.",
        "window_start": (now - dt.timedelta(hours=3)).isoformat(),
        "window_end": (now - dt.timedelta(hours=2)).isoformat()})
    assert over.status_code == 201 and over.json()["status"] == "pending_approval", over.text
    own = supervisor.post(f"/api/requests/{over.json()['id']}/approve", json={"reason": "I am sure."})
    assert own.status_code == 403 and _error(own) == "self_approval_not_allowed"

    # 6. Two-step secrets are Fernet tokens in the database, never the secret itself.
    secrets = [row[0] for row in d.sql("SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL")]
    assert len(secrets) == 2 and all(s.startswith("gAAAAA") for s in secrets)

    # 8. A deleted owner's camera leaves nothing personal in the audit log.
    assert owner.post("/api/cameras", json=camera).status_code == 201
    assert owner.patch(f"/api/cameras/{owner.get('/api/cameras').json()[0]['id']}",
                       json={"label": LABEL + " moved", "latitude": LAT + 0.0001, "longitude": LON}).ok
    deleted = owner.delete("/api/me", json={"password": OWNER_PASSWORD, "confirm": "DELETE"})
    assert deleted.status_code == 204, deleted.text
    details = " ".join(row[0] for row in d.sql("SELECT details::text FROM audit_events"))
    for personal in (LABEL, ADDRESS, str(LAT), str(LON), "resident@example.org", "4145550123"):
        assert personal not in details

    verify = d.flask("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
