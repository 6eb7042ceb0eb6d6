"""A two-node Porchlight fleet on this machine, built from the files in deploy/ (tests/test_fleet.py).

Each node runs what deploy/systemd/ runs on a real node: gunicorn (porchlight-web.service)
and an RQ worker (porchlight-worker@.service, ``@all``); node A also runs the one scheduler
(porchlight-scheduler.service). The ExecStart lines are read from those units and run from
this checkout's virtualenv with the test's ports. In front, Debian's nginx runs
deploy/nginx/porchlight.conf as its own process (``nginx -p DIR -c FILE``, pid, logs and
temporary files in the test's directory, never the system service), TLS ending there with a
certificate made for 127.0.0.1. Both nodes share one PostgreSQL database, one Redis (queue
and rate limits) and the clip storage, and run PORCHLIGHT_ENV=production with the settings
production demands.

Web Push goes out as in production: production refuses the tests' loopback exemption, so the
push service is a local one with a certificate for a push host name on PUSH_SERVICE_HOSTS,
reached through an outbound proxy (HTTPS_PROXY, tests/peers/connect_proxy.py) that the nodes
trust through REQUESTS_CA_BUNDLE.
"""
from __future__ import annotations

import base64
import math
import os
import pwd
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from requests.adapters import HTTPAdapter

from tests.peers.connect_proxy import ConnectProxy
from tests.peers.ports import free_port
from tests.peers.push_service import LocalPushService, b64url
from tests.peers.tls import certificate
from tests.s3_support import CREDENTIALS, new_bucket, s3_client, start_s3_server

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.prefix) / "bin"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PUBLIC = "https://porchlight.example.gov"
PUSH_HOST = "push.porchlight-fleet.test"
PASSWORD = "a-long-fleet-passphrase"
OFFICER = "officer@riverside.example.gov"
CENTRE = (43.0389, -87.9065)


def wait_until(check, what: str, timeout: float = 30, process: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``check`` until it answers truly; AssertionError with ``log``'s end when ``process`` dies or time is up."""
    deadline = time.monotonic() + timeout
    tail = lambda: log.read_text()[-3000:] if log else ""  # noqa: E731
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({process.returncode})\n{tail()}")
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s\n{tail()}")
        time.sleep(0.1)


# --- deploy/ -----------------------------------------------------------------------------------------

def unit_command(unit: str, **replace: str) -> list[str]:
    """The ExecStart of deploy/systemd/<unit>, run from this checkout's virtualenv, with ``replace`` made."""
    text = (DEPLOY / "systemd" / unit).read_text()
    [command] = [line.removeprefix("ExecStart=") for line in text.splitlines() if line.startswith("ExecStart=")]
    assert "WorkingDirectory=/opt/porchlight" in text and command.startswith("/opt/porchlight/.venv/bin/"), unit
    command = command.replace("/opt/porchlight/.venv/bin/", f"{BIN}/", 1)
    for old, new in replace.items():
        assert old in command, f"{unit}'s ExecStart has no {old!r}"
        command = command.replace(old, new)
    return shlex.split(command)


def render_nginx(directory: Path, *, https_port: int, http_port: int, nodes: list[int], cert: Path,
                 key: Path) -> Path:
    """deploy/nginx/porchlight.conf with this machine's ports, certificate and log directory, inside a
    main configuration of the test's own (Debian's nginx.conf would include it the same way)."""
    text = (DEPLOY / "nginx" / "porchlight.conf").read_text()
    logs, temp = directory / "logs", directory / "temp"
    logs.mkdir(parents=True)
    temp.mkdir()
    upstream = "".join(f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in nodes)
    for pattern, new in [
        (r"(?:    server 10\.0\.0\.\d+:8000 [^\n]*\n)+", upstream),   # the nodes
        (r"    listen \[::\]:\d+[^\n]*\n", ""),                      # no IPv6 here
        (r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"/etc/letsencrypt/live/porchlight\.example\.gov/fullchain\.pem", str(cert)),
        (r"/etc/letsencrypt/live/porchlight\.example\.gov/privkey\.pem", str(key)),
        (r"/var/log/nginx/", f"{logs}/"),
    ]:
        text, count = re.subn(pattern, lambda _m, new=new: new, text)
        assert count, f"deploy/nginx/porchlight.conf no longer has {pattern!r}: update tests/fleet_support.py"
    directives = re.sub(r"(?m)^\s*#.*$", "", text)
    assert "/etc/" not in directives and "/var/" not in directives, "the rendered configuration names system files"
    (directory / "porchlight.conf").write_text(text)
    # As root, nginx's workers would switch to "nobody", who may not enter the test's directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    temps = "\n".join(f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                             "scgi"))
    main = directory / "nginx.conf"
    main.write_text(f"""{user}
worker_processes 1;  # one round robin: requests alternate between the nodes
pid {directory / 'nginx.pid'};
error_log {logs / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
{temps}
    include {directory / 'porchlight.conf'};
}}
""")
    return main


# --- peers -------------------------------------------------------------------------------------------

class TlsPushService(LocalPushService):
    """tests/peers/push_service.py's push service, at https://PUSH_HOST (its origin, the VAPID ``aud``)."""

    def __init__(self, directory: Path, app_public_key: str) -> None:
        super().__init__(app_public_key)
        self.certificate, key = certificate(directory, PUSH_HOST)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, key)
        self.port = self.server.server_port
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.origin = f"https://{PUSH_HOST}"


class _FromAddress(HTTPAdapter):
    """Connections from one loopback address (127.0.0.0/8 is all this machine's)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


class Browser(requests.Session):
    """One person's browser at ``address``, with one cookie jar: through nginx by default, or
    (``via=node``) straight to a node, playing nginx (X-Forwarded-For/-Proto, the cookies)."""

    def __init__(self, fleet: Fleet, address: str) -> None:
        super().__init__()
        self.fleet, self.address = fleet, address
        adapter = _FromAddress(address)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method, url, *args, via: Node | None = None, **kwargs):
        # Per request: REQUESTS_CA_BUNDLE in the environment would override a session's verify.
        kwargs.setdefault("verify", str(self.fleet.cert))
        kwargs.setdefault("timeout", 60)
        if via is None:
            return super().request(method, self.fleet.https + url, *args, **kwargs)
        # The cookies are all Secure: requests keeps them off plain http, nginx would pass them on.
        headers = {"X-Forwarded-For": self.address, "X-Forwarded-Proto": "https",
                   "Cookie": "; ".join(f"{c.name}={c.value}" for c in self.cookies), **kwargs.pop("headers", {})}
        return super().request(method, via.base + url, *args, headers=headers, **kwargs)


# --- the fleet ---------------------------------------------------------------------------------------

class Node:
    def __init__(self, name: str, fleet: Fleet) -> None:
        self.name, self.fleet = name, fleet
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web_log = fleet.tmp / f"node-{name}-web.log"
        self.worker_log = fleet.tmp / f"node-{name}-worker.log"
        self.processes: list[subprocess.Popen] = []

    def spawn(self, command: list[str], log: Path) -> subprocess.Popen:
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=self.fleet.env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def start(self) -> None:
        # Two gunicorn workers a node on this 2-core machine; production runs more (deploy/systemd).
        self.web = self.spawn(unit_command("porchlight-web.service", **{"--workers 4": "--workers 2",
                                                                        "0.0.0.0:8000": f"127.0.0.1:{self.port}"}),
                              self.web_log)
        self.worker = self.spawn(unit_command("porchlight-worker@.service", **{"%i": "all"}), self.worker_log)

    def wait_ready(self) -> None:
        wait_until(lambda: requests.get(self.base + "/api/health", timeout=2).status_code == 200,
                   f"node {self.name} serving", process=self.web, log=self.web_log)

    def delivery_jobs(self) -> list[int]:
        """The notification counts of the delivery jobs this node's worker ran (RQ logs each one it starts)."""
        queue = self.fleet.env["JOB_QUEUE_NAME"]
        return [int(n) for n in re.findall(rf"{re.escape(queue)}: deliver (\d+) notifications",
                                           self.worker_log.read_text())]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Fleet:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, owners: int) -> None:
        self.tmp, self.database_url, self.owners = tmp, database_url, owners
        self.https_port, self.http_port = free_port(), free_port()
        self.https = f"https://127.0.0.1:{self.https_port}"
        self.cert, self.key = certificate(tmp / "tls")
        vapid = ec.generate_private_key(ec.SECP256R1())
        self.vapid_public = b64url(vapid.public_key().public_bytes(serialization.Encoding.X962,
                                                                   serialization.PublicFormat.UncompressedPoint))
        self.push = TlsPushService(tmp / "push-tls", self.vapid_public)
        self.proxy = ConnectProxy({f"{PUSH_HOST}:443": self.push.port})
        self.encryption_key = Fernet.generate_key().decode()
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("TEST_", "PORCHLIGHT_")) and k.upper() not in
                     ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        self.env = {
            **inherited,
            # What deploy/porchlight.env.example sets, with this machine's values.
            "PORCHLIGHT_ENV": "production", "PORCHLIGHT_INSTANCE_DIR": str(tmp / "instance"),
            "PUBLIC_BASE_URL": PUBLIC, "SECRET_KEY": os.urandom(32).hex(), "ENCRYPTION_KEYS": self.encryption_key,
            "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
            # One line, as in a systemd EnvironmentFile (docs/DEPLOY.md §8): the base64url raw key.
            "VAPID_PRIVATE_KEY": b64url(vapid.private_numbers().private_value.to_bytes(32, "big")),
            "VAPID_SUBJECT": "mailto:webmaster@porchlight.example.gov",
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "TRUSTED_PROXIES": "1",
            "JOB_QUEUE_NAME": f"porchlight-fleet-{os.getpid()}-{os.urandom(3).hex()}",
            # Push through the outbound proxy to the push service's host name, trusting its certificate.
            "PUSH_SERVICE_HOSTS": PUSH_HOST, "HTTPS_PROXY": self.proxy.url,
            "REQUESTS_CA_BUNDLE": str(self.push.certificate),
            # Cheap hashing keeps the test quick (the seeded hashes carry their own cost anyway).
            "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1",
            "PYTHONUNBUFFERED": "1"}
        self.nodes = [Node("A", self), Node("B", self)]
        self._stack = ExitStack()
        self.timings: dict[str, float] = {}
        self._tag = os.urandom(4).hex()

    def storage_settings(self) -> dict[str, str]:
        """Where the nodes keep clips: a bucket of their own on moto's S3 server (tests/s3_support.py),
        in parts of S3's smallest size."""
        url, stop = start_s3_server()
        self._stack.callback(stop)
        self.s3_url, self.bucket = url, new_bucket(url)
        return {"STORAGE_URL": f"s3://{self.bucket}/clips", "S3_ENDPOINT_URL": url, **CREDENTIALS,
                "S3_PART_SIZE_MIB": "5"}

    def objects(self) -> dict[str, int]:
        """What the bucket holds: key -> size."""
        listed = s3_client(self.s3_url).list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {item["Key"]: item["Size"] for item in listed}

    # --- commands as an operator runs them ---
    def flask(self, *args: str, **settings: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env={**self.env, **settings},
                              capture_output=True, text=True, timeout=120)

    def sql(self, query: str, **params) -> list:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(query), params).all()
        finally:
            engine.dispose()

    # --- life ---
    def __enter__(self) -> Fleet:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            self.timings[name] = round(time.monotonic() - clock, 1)
            clock = time.monotonic()

        self._stack.enter_context(self.push)
        self._stack.enter_context(self.proxy)
        self.env.update(self.storage_settings())
        example = (DEPLOY / "porchlight.env.example").read_text()
        named = set(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", example))
        assert named <= set(self.env), (
            f"deploy/porchlight.env.example sets what the fleet does not: {named - set(self.env)}")
        done = self.flask("db", "upgrade")
        assert done.returncode == 0, done.stderr[-3000:]
        lap("migrate_s")
        self.officer_totp, self.subscribers = self.seed()
        lap("seed_s")
        for node in self.nodes:
            self._stack.callback(node.stop)
            node.start()
        # Exactly one scheduler in the installation: on node A.
        self.nodes[0].spawn(unit_command("porchlight-scheduler.service"), self.tmp / "scheduler.log")
        nginx_dir = self.tmp / "nginx"
        config = render_nginx(nginx_dir, https_port=self.https_port, http_port=self.http_port,
                              nodes=[node.port for node in self.nodes], cert=self.cert, key=self.key)
        nginx = [NGINX, "-p", str(nginx_dir), "-e", str(nginx_dir / "logs" / "error.log"), "-c", str(config)]
        checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        self.nginx_log = nginx_dir / "logs" / "error.log"
        self.nginx = subprocess.Popen([*nginx, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self._stack.callback(self._stop_nginx)
        for node in self.nodes:
            node.wait_ready()
        wait_until(lambda: requests.get(self.https + "/api/health", verify=str(self.cert), timeout=2).ok,
                   "nginx serving", process=self.nginx, log=self.nginx_log)
        self.wait_for_workers()
        lap("start_s")

    def _stop_nginx(self) -> None:
        self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            self.nginx.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.nginx.kill()
            self.nginx.wait()

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def wait_for_workers(self) -> None:
        """Both nodes' RQ workers are listening (RQ registers each worker in Redis)."""
        import redis
        from rq import Queue, Worker

        connection = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            queue = Queue(self.env["JOB_QUEUE_NAME"], connection=connection)
            pids = {node.worker.pid for node in self.nodes}
            wait_until(lambda: pids <= {w.pid for w in Worker.all(queue=queue)}, "both nodes' RQ workers listening",
                       timeout=60)
        finally:
            connection.close()

    # --- data ---
    def seed(self) -> tuple[pyotp.TOTP, list]:
        """An agency, its officer (authenticator set up), and ``owners`` owners around CENTRE, each with a
        camera shared with the agency and a push subscription at the push service. Owner 0's login is
        ``owner0@example.org``; every password is PASSWORD."""
        from app import create_app
        from app.accounts.models import Role, User
        from app.accounts.passwords import hash_password
        from app.agencies.models import Agency, Membership
        from app.cameras.models import Camera, camera_shares
        from app.extensions import db
        from app.notifications.models import PushSubscription

        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": self.database_url,
                                     "ENCRYPTION_KEYS": self.encryption_key})
        subscribers = [self.push.new_subscriber() for _ in range(self.owners)]
        with app.app_context():
            agency = Agency(name="Riverside Police Department", slug="riverside", timezone="America/Chicago")
            db.session.add(agency)
            db.session.flush()
            password_hash = hash_password(PASSWORD)
            secret = pyotp.random_base32()
            db.session.add(User(role=Role.OFFICER, email=OFFICER, password_hash=password_hash, agency_id=agency.id,
                                totp_secret=secret, totp_enabled_at=datetime.now(UTC)))
            users = [User(role=Role.OWNER, email=f"owner{i}@example.org", password_hash=password_hash,
                          email_verified_at=datetime.now(UTC), notify_email=False) for i in range(self.owners)]
            db.session.add_all(users)
            db.session.flush()
            cameras = []
            for i, user in enumerate(users):
                # A spiral of points within 300 m of the centre.
                distance, angle = 300.0 * math.sqrt((i + 0.5) / self.owners), i * 2.399963
                camera = Camera(owner_id=user.id, label=f"Porch camera {i + 1}", retention_days=30,
                                public_attestation=True, field_of_view=90, blackout_windows=[])
                camera.place(CENTRE[0] + distance * math.cos(angle) / 111_195.0,
                             CENTRE[1] + distance * math.sin(angle) / (111_195.0 * math.cos(math.radians(CENTRE[0]))))
                cameras.append(camera)
            db.session.add_all(cameras)
            db.session.add_all(Membership(owner_id=u.id, agency_id=agency.id) for u in users)
            db.session.add_all(PushSubscription(user_id=u.id, endpoint=s.endpoint,
                                                p256dh=s.subscription()["keys"]["p256dh"],
                                                auth=s.subscription()["keys"]["auth"])
                               for u, s in zip(users, subscribers, strict=True))
            db.session.flush()
            db.session.execute(camera_shares.insert(), [{"camera_id": c.id, "agency_id": agency.id} for c in cameras])
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        return pyotp.TOTP(secret), subscribers

    def browser(self, address: str) -> Browser:
        return Browser(self, address)

    def client_address(self, n: int) -> str:
        """A documentation address (2001:db8::/32) of this fleet's own: the rate-limit counters in the
        shared Redis outlive a run, and another run or test must not have spent this one's."""
        return f"2001:db8:{self._tag[:4]}:{self._tag[4:]}::{n:x}"
