"""`make run`'s embedded default, end to end over real HTTP: the core footage-request loop.

The server is started the way the Makefile's ``run`` target starts it (``flask --app wsgi
db upgrade``, ``demo load``, ``run``, with the HOST and PORT it exports) in a subprocess,
with this venv's Python, its instance folder in a temporary directory and none of the
deployment settings in its environment: so SQLite under instance/, clips on local disk,
SMS into the outbox, links at http://HOST:PORT (no PUBLIC_BASE_URL) and the in-process
worker, which must deliver the notifications by itself (nothing here runs a job).
SQLite only, by design: this is the embedded default; the same loop on PostgreSQL is
tests/test_lifecycle.py.

The one setting given is TWILIO_AUTH_TOKEN: inbound SMS webhooks are accepted only when
signed with it. Without the account SID the server still has no Twilio account and
keeps every SMS in its outbox.

The demo officer asks; the demo owner (push, to the local push service that decrypts
and checks the VAPID signature) approves in the app; an SMS-only owner who signed up
with the demo enrollment code finds the request in the outbox, answers ``YES <code>``
through the signed webhook and uploads through the link of the reply. The owner's
upload is interrupted and resumed with tuspy; the officer plays both clips with HTTP
Range and checks their SHA-256.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pyotp
import pytest
import requests
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage
from twilio.request_validator import RequestValidator

from app.demo import PASSWORDS
from tests import media_samples
from tests.peers.ports import free_port
from tests.peers.push_service import LocalPushService
from tests.peers.twilio_api import AUTH_TOKEN, FROM_NUMBER
from tests.upload_support import KeptOpenBytes, mp4_bytes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
OFFICER, OWNER = "officer@demo.porchlight.test", "owner@demo.porchlight.test"
AGENCY = "Demo Police Department"
CHUNK = 64 * 1024
TIMEOUT = 15  # seconds for the server to come up, and for the worker to deliver
OUTBOX_LINE = re.compile(r"^\[[^\]]+\] to (\+\d+): (.*)$", re.M)


def _settings() -> set[str]:
    """Every environment variable config.py reads: none of them may leak into the embedded server."""
    return set(re.findall(r'env_(?:str|int|bool)\("([A-Z0-9_]+)"', (ROOT / "config.py").read_text()))


@dataclass
class Server:
    base: str
    env: dict[str, str]
    log: Path
    instance: Path
    push_port: int  # where the test's local push service listens: the server lets it in (PUSH_TEST_ORIGINS)
    demo_output: str = ""

    def flask(self, *args: str) -> str:
        """A `flask --app wsgi` command beside the running server (same instance folder)."""
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"flask {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture
def server(tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    drop = _settings() | {"PORCHLIGHT_INSTANCE_DIR", "FLASK_APP", "FLASK_DEBUG", "FLASK_RUN_PORT", "FLASK_RUN_HOST"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TEST_")}
    push_port = free_port()
    env.update(PORCHLIGHT_INSTANCE_DIR=str(instance), TWILIO_AUTH_TOKEN=AUTH_TOKEN, PYTHONUNBUFFERED="1",
               HOST="127.0.0.1", PORT=str(port),  # as the Makefile exports them
               PUSH_TEST_ORIGINS=f"http://127.0.0.1:{push_port}")
    srv = Server(base, env, tmp_path / "server.log", instance, push_port)
    srv.flask("db", "upgrade")
    srv.demo_output = srv.flask("demo", "load")
    with srv.log.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1",
                                    "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, f"the server exited:\n{srv.log_tail()}"
            try:
                if requests.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the server did not come up:\n{srv.log_tail()}"
            time.sleep(0.1)
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_in(base: str, login: str, password: str) -> requests.Session:
    session = requests.Session()
    r = session.post(f"{base}/api/auth/signin", json={"login": login, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    if r.json()["second_factor"]["setup_required"]:
        # The demo officer's first sign-in: set up an authenticator as a new officer would.
        secret = session.post(f"{base}/api/auth/second-factor/setup", timeout=10).json()["secret"]
        r = session.post(f"{base}/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(secret).now()},
                         timeout=10)
        assert r.status_code == 200, r.text
    return session


def poll(what, timeout: float = TIMEOUT, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_make_run_serves_the_whole_loop_with_its_in_process_worker(server, tmp_path):
    base = server.base
    code = re.search(r"Enrollment code ([A-Z0-9]{4}-[A-Z0-9]{4})", server.demo_output).group(1)
    assert f"{base}/e/{code.replace('-', '')}" in server.demo_output  # the link follows HOST and PORT
    assert (server.instance / "porchlight.sqlite3").exists()  # the embedded database, under instance/
    status = requests.get(f"{base}/api/sms/status", timeout=5).json()
    assert status["mode"] == "outbox" and status["sending"] is False
    # The app's page and the browser libraries it loads (committed under pwa/vendor/: no npm).
    assert "/app/js/app.js" in requests.get(f"{base}/", timeout=5).text
    for name in ("leaflet.js", "leaflet.css", "tus.js", "jsqr.js"):
        assert requests.get(f"{base}/app/vendor/{name}", timeout=5).status_code == 200, name

    officer = sign_in(base, OFFICER, PASSWORDS[OFFICER])
    owner = sign_in(base, OWNER, PASSWORDS[OWNER])
    cameras = {c["label"]: c for c in owner.get(f"{base}/api/cameras", timeout=5).json()}
    assert set(cameras) == {"Front porch", "Driveway"}  # the demo's; about 48 m apart
    porch = (cameras["Front porch"]["latitude"], cameras["Front porch"]["longitude"])

    # The owner's phone subscribes at the local push service with the server's VAPID key (made on first run).
    key = requests.get(f"{base}/api/push/vapid-public-key", timeout=5).json()["public_key"]
    with LocalPushService(key, port=server.push_port) as push:
        device = push.new_subscriber()
        assert owner.post(f"{base}/api/push/subscriptions", json=device.subscription(), timeout=5).status_code == 201

        # A neighbour signs up with the demo code and a phone only (sign-up texts the code that proves
        # it), and verifies it with the code in the outbox.
        sms_owner = requests.Session()
        r = sms_owner.post(f"{base}/api/auth/signup", json={"phone": "+14145550199", "password": "neighbour-pw-2026",
                                                            "enrollment_code": code}, timeout=10)
        assert r.status_code == 201, r.text
        phone = r.json()["phone"]
        outbox = server.flask("sms", "outbox")
        (verification,) = [m.group(2) for m in OUTBOX_LINE.finditer(outbox) if m.group(1) == phone]
        r = sms_owner.post(f"{base}/api/auth/phone/verify",
                           json={"code": re.search(r"\b(\d{6})\b", verification).group(1)}, timeout=5)
        assert r.json() == {"phone": phone, "phone_verified": True}
        r = sms_owner.post(f"{base}/api/cameras", json={"label": "Corner shop", "latitude": porch[0] + 0.0001,
                                                        "longitude": porch[1], "retention_days": 7,
                                                        "public_attestation": True}, timeout=5)
        assert r.status_code == 201, r.text

        # The officer previews and sends; the in-process worker delivers without anyone running a job.
        now = time.time()
        draft = {"latitude": porch[0], "longitude": porch[1], "radius_m": 30,
                 "window_start": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 3 * 3600)),
                 "window_end": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 2 * 3600)),
                 "case_number": "DEMO-0001", "incident_type": "theft",
                 "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
                 "summary": "A bike taken from the rack."}
        preview = officer.post(f"{base}/api/requests/preview", json=draft, timeout=5).json()
        assert preview == {"cameras": 2, "exceeded_limits": [], "needs_approval": False, "re_ask_cameras": 0}
        started = time.monotonic()
        r = officer.post(f"{base}/api/requests", json=draft, timeout=10)
        assert r.status_code == 201, r.text
        request_id = r.json()["id"]
        assert r.json()["asks_total"] == 2

        assert push.wait_for(1, timeout=TIMEOUT), f"no push arrived:\n{server.log_tail()}"
        assert time.monotonic() - started < 5
        (message,) = push.messages_for(device)
        (ask,) = owner.get(f"{base}/api/asks", timeout=5).json()
        payload = message.payload
        assert payload["agency"] == AGENCY and payload["camera"] == "Front porch" and payload["case"] == "DEMO-0001"
        assert payload["window"]["start"].startswith(draft["window_start"][:19])
        assert payload["url"] == f"{base}/?ask={ask['id']}"

        def notified() -> bool:
            return officer.get(f"{base}/api/requests/{request_id}", timeout=5).json()["counts"]["notified"] == 2

        assert poll(notified), f"the asks were never marked notified:\n{server.log_tail()}"
        texts = [m.group(2) for m in OUTBOX_LINE.finditer(server.flask("sms", "outbox")) if m.group(1) == phone]
        (request_text,) = [t for t in texts if t != verification]
        assert AGENCY in request_text and '"Corner shop"' in request_text and f"{base}/?ask=" in request_text
        reply_code = re.search(r"\bYES (\d{4})\b", request_text).group(1)
        assert "SMS NOT SENT" in server.log.read_text()  # the server says so plainly

        # The owner approves in the app; the neighbour answers by SMS, through Twilio's signed webhook.
        assert owner.post(f"{base}/api/asks/{ask['id']}/approve", timeout=5).json()["state"] == "approved"
        inbound = f"{base}/api/sms/inbound"
        form = {"MessageSid": "SM" + "1" * 32, "From": phone, "To": FROM_NUMBER, "Body": f"YES {reply_code}"}
        assert requests.post(inbound, data=form, timeout=5).status_code == 403  # unsigned
        signature = RequestValidator(AUTH_TOKEN).compute_signature(inbound, form)
        r = requests.post(inbound, data=form, headers={"X-Twilio-Signature": signature}, timeout=5)
        assert r.status_code == 200, r.text
        reply = "".join(m.text or "" for m in ElementTree.fromstring(r.content).iter("Message"))
        token = re.search(rf"{re.escape(base)}/u/(\S+)$", reply).group(1)

    # The owner's upload drops part-way; a new uploader resumes it from the stored URL.
    clip, other = mp4_bytes(256 * 1024 + 11, seed=41), mp4_bytes(96 * 1024 + 3, seed=42)
    cookie = {"Cookie": f"porchlight_session={owner.cookies['porchlight_session']}"}
    urls = str(tmp_path / "tus-urls.json")
    meta = {"ask_id": str(ask["id"]), "filename": "porch.mp4"}
    storage = FileStorage(urls)
    first = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
        file_stream=KeptOpenBytes(clip), chunk_size=CHUNK, metadata=meta, store_url=True, url_storage=storage,
        upload_checksum=True)
    first.upload(stop_at=CHUNK)
    storage.close()
    assert officer.get(f"{base}/api/requests/{request_id}/clips", timeout=5).json()[0]["received"] == CHUNK
    storage = FileStorage(urls)
    resumed = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
        file_stream=KeptOpenBytes(clip), chunk_size=CHUNK, metadata=meta, store_url=True, url_storage=storage,
        upload_checksum=True)
    assert resumed.url == first.url and resumed.offset == CHUNK
    resumed.upload()
    storage.close()

    # The neighbour uploads through the link, with no session.
    page = requests.get(f"{base}/api/upload-links/{token}", timeout=5).json()
    assert page["ask"]["camera_label"] == "Corner shop" and page["agency"]["name"] == AGENCY
    linked = tus_client.TusClient(f"{base}{page['upload']['endpoint']}",
                                  headers={"Authorization": page["upload"]["authorization"]}).uploader(
        file_stream=KeptOpenBytes(other), chunk_size=CHUNK, metadata={**page["upload"]["metadata"],
                                                                      "filename": "shop.mp4"}, upload_checksum=True)
    linked.upload()

    # The officer plays both with HTTP Range and sees the SHA-256 of the bytes sent.
    request = officer.get(f"{base}/api/requests/{request_id}", timeout=5).json()
    assert {k: v for k, v in request["counts"].items() if v} == {"delivered": 2}
    clips = officer.get(f"{base}/api/requests/{request_id}/clips", timeout=5).json()
    assert sorted(c["sha256"] for c in clips) == sorted([sha256(clip), sha256(other)])
    for entry in clips:
        data = clip if entry["sha256"] == sha256(clip) else other
        played = officer.get(f"{base}{entry['content_url']}", headers={"Range": "bytes=100-70099"}, timeout=5)
        assert played.status_code == 206 and played.content == data[100:70100]
        assert played.headers["Content-Range"] == f"bytes 100-70099/{len(data)}"
        whole = officer.get(f"{base}{entry['download_url']}", timeout=5)
        assert whole.status_code == 200 and sha256(whole.content) == entry["sha256"]
        assert whole.headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    (mine,) = owner.get(f"{base}/api/asks/{ask['id']}/clips", timeout=5).json()
    assert mine["sha256"] == sha256(clip)
    assert [a["action"] for a in mine["accesses"]] == ["view", "download"]
    (theirs,) = requests.get(f"{base}/api/upload-links/{token}", timeout=5).json()["clips"]
    assert theirs["sha256"] == sha256(other)
    # On local disk under the instance folder, as the embedded default keeps clips.
    stored = [p for p in (server.instance / "clips").rglob("*") if p.is_file()]
    assert sorted(p.stat().st_size for p in stored) == sorted([len(other), len(clip)])
    # A recorder's own export: a Dahua .dav, which no browser plays. The in-process worker
    # makes its working copy; the officer plays that and downloads the untouched master.
    dav = media_samples.dhav(tmp_path)
    tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
        file_stream=KeptOpenBytes(dav.read_bytes()), chunk_size=CHUNK, upload_checksum=True,
        metadata={"ask_id": str(ask["id"]), "filename": dav.name, "recorder_offset": "-120"}).upload()
    (entry,) = [c for c in officer.get(f"{base}/api/requests/{request_id}/clips", timeout=5).json()
                if c["sha256"] == sha256(dav.read_bytes())]

    def copied() -> dict | None:
        clip = officer.get(f"{base}/api/clips/{entry['id']}", timeout=5).json()
        return clip if clip["media"]["status"] in ("ready", "failed") else None

    made = poll(copied, timeout=60)
    assert made and made["media"]["status"] == "ready", f"{made}\n{server.log_tail()}"
    assert made["media"]["probe"]["container"] == "dhav" and made["recorder_offset_s"] == -120
    copy = officer.get(f"{base}{made['working_copy']['content_url']}", timeout=5)
    assert copy.status_code == 200 and sha256(copy.content) == made["working_copy"]["sha256"]
    (tmp_path / "copy.mp4").write_bytes(copy.content)
    assert media_samples.read_back(tmp_path / "copy.mp4")[0] == "h264"
    master = officer.get(f"{base}{made['download_url']}", timeout=5)
    assert master.content == dav.read_bytes()

    # The server's log names requests and messages, never the link token, the codes or the texts.
    log = server.log.read_text()
    assert "GET /api/upload-links/[redacted] HTTP/1.1" in log
    verification_code = re.search(r"\b(\d{6})\b", verification).group(1)
    assert token not in log and verification_code not in log and f"YES {reply_code}" not in log
    # Its authenticator secrets are encrypted under the key it generated into instance/.
    assert (server.instance / "encryption_key").stat().st_mode & 0o777 == 0o600
