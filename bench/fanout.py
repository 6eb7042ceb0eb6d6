"""Benchmark of the notification fan-out: one request, 1,000 owners, 1,000 Web Pushes.

    python bench/fanout.py [--owners 1000] [--runs 3]                       # embedded: SQLite, in-process worker
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 python bench/fanout.py --mode rq [--workers 2]

Sets up N owners, each with one camera inside the request's radius (shared with the
agency) and one Web Push subscription at a local push service that runs in its own
process and does what a browser vendor's does: checks the VAPID JWT against the app's
key and decrypts every message with http_ece (tests/peers/push_service.py).

The app is served over real HTTP (werkzeug's threaded server, in this process). An
officer signs in, sends a warm-up request to the few owners within 30 m (so every
process has delivered once), then POSTs /api/requests to all N; the figures are

- ``post_ms``: the officer's POST round trip (matching, N asks, N notification rows,
  commit, hand-over to the queue);
- ``delivered_s``: from the start of that POST to the moment the push service has
  decrypted the N-th message.

- ``post_ms_during_bookkeeping``: a small request made right after the N-th message,
  while the worker marks the N asks ``notified`` (an audited transition each);
- ``bookkeeping_s``: how long after that until no ask is left ``queued``.

Each run waits until the system is idle again before the next one.

The e-mail run (``--channel email``): N owners with only a verified e-mail address, a
local SMTP server (tests/peers/smtp_server.py: aiosmtpd with STARTTLS and AUTH, in this
process), the embedded worker. Each run is made twice: with the mailer's pooled
connections (as deployed), then the baseline without reuse (a new TLS connection and
login per message); ``delivered_s`` is the time to the N-th message received. Target:
1,000 e-mails in 5 s with reuse.

    python bench/fanout.py --channel email [--owners 1000] [--runs 3]

Modes: ``embedded`` delivers with the in-process worker thread (SQLite unless
BENCH_DATABASE_URL is set); ``rq`` uses Redis and ``--workers`` ``flask worker``-style
processes (each a SimpleWorker with its own sending threads). The last line printed is
one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Nothing of the benchmark's may land in the checkout's instance/ folder.
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-fanout-instance-"))

import pyotp  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

CENTRE = (43.0389, -87.9065)
RADIUS_M = 400.0
# Issue 16's targets (issue 3's were 200 ms and 2 s).
TARGET_POST_MS, TARGET_DELIVERED_S = 100.0, 1.0
TARGET_EMAIL_DELIVERED_S = 5.0
PASSWORD = "bench-password-123"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- databases --------------------------------------------------------------------------------------

@contextmanager
def database(pg_url: str | None):
    if not pg_url:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    from tests.scratchdb import scratch_pg_database

    with scratch_pg_database(pg_url, "bench_fanout") as url:
        yield url


def app_config(uri: str, mode: str, redis_url: str | None, queue_name: str, vapid_pem: str, base_url: str) -> dict:
    config = {"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench-secret-key", "VAPID_PRIVATE_KEY": vapid_pem,
              "PUBLIC_BASE_URL": base_url, "SCHEDULER_INTERVAL_SECONDS": 3600,
              "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 8, "ARGON2_PARALLELISM": 1,
              "RUN_IN_PROCESS_WORKER": mode == "embedded", "JOB_QUEUE_NAME": queue_name}
    if mode == "rq":
        config["REDIS_URL"] = redis_url
    return config


# --- data ------------------------------------------------------------------------------------------------

def seed(app, owners: int, subscriptions: list[dict] | None) -> tuple[str, str, str]:
    """An agency, an officer, and ``owners`` owners each with a camera in range and a push subscription
    (without ``subscriptions``: a verified e-mail address only).

    Returns the officer's login, password and authenticator secret (officers sign in with
    a two-step code: this one's authenticator app is set up already).
    """
    from app.accounts.models import Role, User
    from app.accounts.passwords import hash_password
    from app.agencies.models import Agency, Membership
    from app.cameras.models import Camera, camera_shares
    from app.extensions import db
    from app.notifications.models import PushSubscription

    with app.app_context():
        db.create_all()
        agency = Agency(name="Riverside Police Department", slug="rpd", timezone="America/Chicago")
        db.session.add(agency)
        db.session.flush()
        password_hash = hash_password(PASSWORD)
        secret = pyotp.random_base32()
        officer = User(role=Role.OFFICER, email="officer@bench.example", password_hash=password_hash,
                       agency_id=agency.id, totp_secret=secret, totp_enabled_at=datetime.now(UTC))
        db.session.add(officer)
        verified = None if subscriptions else datetime.now(UTC)
        users = [User(role=Role.OWNER, email=f"owner{i}@bench.example", password_hash=password_hash,
                      email_verified_at=verified) for i in range(owners)]
        db.session.add_all(users)
        db.session.flush()
        cameras = []
        for i, user in enumerate(users):
            # A spiral of points within 300 m of the centre.
            distance, angle = 300.0 * math.sqrt((i + 0.5) / owners), i * 2.399963
            lat = CENTRE[0] + distance * math.cos(angle) / 111_195.0
            lon = CENTRE[1] + distance * math.sin(angle) / (111_195.0 * math.cos(math.radians(CENTRE[0])))
            camera = Camera(owner_id=user.id, label=f"Porch camera {i + 1}", retention_days=30,
                            public_attestation=True, field_of_view=90, blackout_windows=[])
            camera.place(lat, lon)
            cameras.append(camera)
        db.session.add_all(cameras)
        db.session.add_all(Membership(owner_id=u.id, agency_id=agency.id) for u in users)
        db.session.add_all(PushSubscription(user_id=u.id, endpoint=s["endpoint"], p256dh=s["keys"]["p256dh"],
                                            auth=s["keys"]["auth"])
                           for u, s in zip(users, subscriptions or [], strict=bool(subscriptions)))
        db.session.flush()
        db.session.execute(camera_shares.insert(), [{"camera_id": c.id, "agency_id": agency.id} for c in cameras])
        db.session.commit()
        return officer.email, PASSWORD, secret


# --- processes ----------------------------------------------------------------------------------------------

def start_push_service(public_key: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.peers.push_service", "--key", public_key], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = process.stdout.readline().strip()
    return process, f"http://127.0.0.1:{port}"


def start_workers(config: dict, count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-worker", json.dumps(config)],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]


def serve_worker(config_json: str) -> None:
    """A ``flask worker`` for the benchmark's app (run as a subprocess); BENCH_WORKER_LOG=file keeps its log."""
    import logging

    from app import create_app

    if os.environ.get("BENCH_WORKER_LOG"):
        logging.basicConfig(filename=os.environ["BENCH_WORKER_LOG"], level=logging.INFO)
    from app.notifications import queue

    app = create_app("development", json.loads(config_json))
    with app.app_context():
        queue.run_worker(app)


def wait_for_workers(app, count: int, timeout: float = 30) -> None:
    from rq import Worker

    from app.notifications import queue

    connection = queue.redis_connection(app)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(Worker.all(queue=queue.rq_queue(app, connection))) >= count:
                return
            time.sleep(0.1)
        raise RuntimeError("the RQ workers did not start")
    finally:
        connection.close()


# --- the measurement ----------------------------------------------------------------------------------------

def request_body(case: str, latitude: float = CENTRE[0], radius_m: float = RADIUS_M) -> dict:
    end = datetime.now(UTC) - timedelta(hours=2)
    return {"latitude": latitude, "longitude": CENTRE[1], "radius_m": radius_m,
            "window_start": (end - timedelta(hours=1)).isoformat(), "window_end": end.isoformat(),
            "case_number": case, "incident_type": "burglary",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            "summary": "A burglary on this block; did your camera see anyone between these times?"}


def push_stats(push_url: str) -> dict:
    return requests.get(f"{push_url}/_control/stats", timeout=5).json()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc."""
    if pid is None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(session: requests.Session, base_url: str, push_url: str, owners: int, case: str,
            timeout: float = 60, push_pid: int | None = None, worker_pids: tuple[int, ...] = ()) -> dict:
    before = push_stats(push_url)["count"]
    cpu_before = [cpu_seconds(), cpu_seconds(push_pid)] + [cpu_seconds(p) for p in worker_pids]
    started = time.time()
    t0 = time.perf_counter()
    response = session.post(f"{base_url}/api/requests", json=request_body(case), timeout=60)
    post_ms = (time.perf_counter() - t0) * 1000
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/requests answered {response.status_code}: {response.text[:500]}")
    # One held request rather than polling: this process is the app's in embedded mode.
    stats = requests.get(f"{push_url}/_control/wait", params={"count": before + owners, "timeout": timeout},
                         timeout=timeout + 5).json()
    cpu_after = [cpu_seconds(), cpu_seconds(push_pid)] + [cpu_seconds(p) for p in worker_pids]
    delivered = stats["count"] - before
    app_cpu, push_cpu, *workers_cpu = (round(a - b, 2) for a, b in zip(cpu_after, cpu_before, strict=True))
    return {"post_ms": round(post_ms, 1), "delivered": delivered,
            "delivered_s": round(stats["last"] - started, 3) if delivered >= owners else None,
            "push_errors": stats["error_count"],
            # CPU time meanwhile, which a busy machine inflates less than wall-clock time: the app
            # process (the officer's POST; embedded, the worker too), the RQ workers, the push service.
            "app_cpu_s": app_cpu, "workers_cpu_s": workers_cpu, "push_service_cpu_s": push_cpu,
            "load_average": round(os.getloadavg()[0], 1)}


def wait_until_idle(app, timeout: float = 60) -> float:
    """Wait until no ask is left queued (the workers' bookkeeping is done); returns the seconds waited."""
    from app.extensions import db
    from app.footage.models import Ask, AskState

    started = time.monotonic()
    with app.app_context():
        while time.monotonic() - started < timeout:
            queued = db.session.scalar(sa.select(sa.func.count(Ask.id)).where(Ask.state == AskState.QUEUED))
            db.session.rollback()
            if not queued:
                break
            time.sleep(0.05)
        db.session.remove()
    return time.monotonic() - started


def notification_states(app) -> dict[str, int]:
    """How many notifications are in each delivery state (all sent, unless something went wrong)."""
    from app.extensions import db
    from app.notifications.models import Notification

    with app.app_context():
        counts = {status.value: n for status, n in db.session.execute(
            sa.select(Notification.status, sa.func.count(Notification.id)).group_by(Notification.status))}
        db.session.remove()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=["embedded", "rq"], default="embedded")
    parser.add_argument("--channel", choices=["push", "email"], default="push",
                        help="email: e-mail-only owners and a local SMTP server (embedded mode).")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes (--mode rq).")
    parser.add_argument("--concurrency", type=int, default=16, help="Sending threads per worker.")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the app is built and seeded, as a tuned server would.")
    parser.add_argument("--serve-worker", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--serve-smtp", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(args.serve_worker)
        return
    if args.serve_smtp:
        serve_smtp(Path(args.serve_smtp))
        return
    if args.channel == "email":
        email_main(args)
        return

    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from app import create_app
    from app.notifications import webpush

    pg_url = os.environ.get("BENCH_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    vapid_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    queue_name = f"bench-{uuid.uuid4().hex[:8]}"
    processes: list[subprocess.Popen] = []
    report: dict = {"owners": args.owners, "mode": args.mode, "database": "postgresql" if pg_url else "sqlite",
                    "workers": args.workers if args.mode == "rq" else 1, "concurrency": args.concurrency,
                    "gc_freeze": args.gc_freeze, "cpus": os.cpu_count(),
                    "target": {"post_ms": TARGET_POST_MS, "delivered_s": TARGET_DELIVERED_S}}
    with database(pg_url) as uri:
        server = make_server("127.0.0.1", 0, None, threaded=True)  # app set below, once the port is known
        base_url = f"http://127.0.0.1:{server.server_port}"
        config = app_config(uri, args.mode, redis_url, queue_name, vapid_pem, base_url)
        config["NOTIFICATION_CONCURRENCY"] = args.concurrency
        app = create_app("development", config)
        server.app = app
        push_process, push_url = start_push_service(webpush.public_key(app))
        processes.append(push_process)
        # The local push service is plain http on loopback: the app and its workers send there only as listed.
        config["PUSH_TEST_ORIGINS"] = app.config["PUSH_TEST_ORIGINS"] = push_url
        try:
            subscriptions = requests.post(f"{push_url}/_control/subscribe?n={args.owners}", timeout=60).json()
            login = seed(app, args.owners, subscriptions)
            say(f"{args.owners} owners with a camera in range and a push subscription; mode {args.mode}, "
                f"{report['database']}")
            if args.mode == "rq":
                processes += start_workers(config, args.workers)
                wait_for_workers(app, args.workers)
            if args.gc_freeze:
                import gc

                gc.collect()
                gc.freeze()
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            session = requests.Session()
            r = session.post(f"{base_url}/api/auth/signin", json={"login": login[0], "password": login[1],
                                                                   "code": pyotp.TOTP(login[2]).now()})
            r.raise_for_status()
            # Warm-up: a request to the few owners within 30 m, so every process has sent once.
            warm = session.post(f"{base_url}/api/requests", json=request_body("warm-up", radius_m=30.0))
            if warm.status_code != 201:
                raise RuntimeError(f"warm-up request failed: {warm.status_code} {warm.text[:300]}")
            report["warm_up_owners"] = warm.json()["asks_total"]
            wait_until_idle(app)
            runs = []
            for run in range(args.runs):
                result = measure(session, base_url, push_url, args.owners, f"bench-{run + 1}",
                                 push_pid=push_process.pid, worker_pids=tuple(p.pid for p in processes[1:]))
                # A request made while the 1,000 asks are being marked notified (audited, one
                # by one): the price of that bookkeeping for whoever writes next.
                t0 = time.perf_counter()
                busy = session.post(f"{base_url}/api/requests", json=request_body(f"busy-{run}", CENTRE[0] + 0.5))
                result["post_ms_during_bookkeeping"] = round((time.perf_counter() - t0) * 1000, 1)
                assert busy.status_code == 201, busy.text
                result["bookkeeping_s"] = round(wait_until_idle(app), 2)
                result["notifications"] = notification_states(app)
                say(f"run {run + 1}: POST {result['post_ms']} ms, {result['delivered']} decrypted, "
                    f"last after {result['delivered_s']} s (CPU s: app {result['app_cpu_s']}, workers "
                    f"{result['workers_cpu_s']}, push service {result['push_service_cpu_s']}; load average "
                    f"{result['load_average']}); a POST during the bookkeeping "
                    f"{result['post_ms_during_bookkeeping']} ms; idle again after {result['bookkeeping_s']} s")
                runs.append(result)
            session.close()
            server.shutdown()
            thread.join()
        finally:
            for process in processes:
                if process is push_process:
                    process.stdin.close()
                else:
                    process.terminate()
            for process in processes:
                process.wait(10)
            server.server_close()
            from app.notifications import queue as notification_queue

            worker = app.extensions.get("porchlight.in_process_worker")
            if worker:
                worker.stop()
            if args.mode == "rq":
                connection = notification_queue.redis_connection(app)
                keys = list(connection.scan_iter(match=f"rq:*{queue_name}*"))
                if keys:
                    connection.delete(*keys)
                connection.close()
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()
    complete = [r for r in runs if r["delivered_s"] is not None]
    report["runs"] = runs
    report["post_ms_median"] = statistics.median(r["post_ms"] for r in runs)
    report["post_ms_max"] = max(r["post_ms"] for r in runs)
    report["delivered_s_median"] = statistics.median(r["delivered_s"] for r in complete) if complete else None
    report["delivered_s_max"] = max(r["delivered_s"] for r in complete) if len(complete) == len(runs) else None
    report["post_ms_during_bookkeeping_max"] = max(r["post_ms_during_bookkeeping"] for r in runs)
    report["meets_targets"] = bool(report["post_ms_max"] <= TARGET_POST_MS and report["delivered_s_max"] is not None
                                   and report["delivered_s_max"] <= TARGET_DELIVERED_S)
    print(json.dumps(report))


# --- the e-mail run ---------------------------------------------------------------------------------------

def serve_smtp(directory: Path) -> None:
    """The local SMTP server in a process of its own (as a provider's is): prints its settings, then
    answers "wait N" on stdin with how many messages it holds once it holds N, and over how many
    connections, and when the N-th arrived."""
    import warnings

    warnings.simplefilter("ignore")  # aiosmtpd's own deprecation notices
    from tests.peers.smtp_server import LocalSmtpServer

    arrivals: list[float] = []
    with LocalSmtpServer(directory) as smtp:
        keep = smtp._keep

        def stamped(received) -> None:
            arrivals.append(time.time())
            keep(received)

        smtp._keep = stamped
        print(json.dumps(smtp.settings()), flush=True)
        for line in sys.stdin:
            count = int(line.split()[1])
            try:
                received = smtp.wait_for(count, timeout=180)
            except AssertionError:
                received = list(smtp.received)
            print(json.dumps({"count": len(received), "last": arrivals[count - 1] if len(arrivals) >= count else None,
                              "peers": [list(r.peer) for r in received]}), flush=True)


class SmtpProcess:
    def __init__(self, directory: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-W", "ignore", str(Path(__file__).resolve()),
                                         "--serve-smtp", directory], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.settings = json.loads(self.process.stdout.readline())
        self.count = 0

    def wait_for(self, count: int) -> dict:
        self.process.stdin.write(f"wait {count}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def measure_email(session: requests.Session, base_url: str, smtp: SmtpProcess, owners: int, case: str) -> dict:
    import resource

    before = smtp.count
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    t0 = time.perf_counter()
    response = session.post(f"{base_url}/api/requests", json=request_body(case), timeout=60)
    post_ms = (time.perf_counter() - t0) * 1000
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/requests answered {response.status_code}: {response.text[:500]}")
    state = smtp.wait_for(before + owners)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    smtp.count = state["count"]
    complete = state["count"] >= before + owners and state["last"] is not None
    return {"post_ms": round(post_ms, 1), "delivered": state["count"] - before,
            "delivered_s": round(state["last"] - started, 3) if complete else None,
            "connections": len({tuple(peer) for peer in state["peers"][before:]}),
            # The app process's CPU time meanwhile (the officer's POST, the worker): a figure that a
            # busy machine does not inflate as it does the wall-clock time.
            "app_cpu_s": round(cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 2),
            "load_average": round(os.getloadavg()[0], 1)}


def email_main(args) -> None:
    """1,000 e-mail-only owners: time to the 1,000th message, with pooled connections and without."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    from app import create_app
    from app.notifications import mail

    pg_url = os.environ.get("BENCH_DATABASE_URL")
    vapid_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    report: dict = {"channel": "email", "owners": args.owners, "mode": "embedded",
                    "database": "postgresql" if pg_url else "sqlite", "concurrency": args.concurrency,
                    "cpus": os.cpu_count(), "smtp": "aiosmtpd in a process of its own, STARTTLS + AUTH PLAIN",
                    "target": {"delivered_s": TARGET_EMAIL_DELIVERED_S}}
    runs: list[dict] = []
    with database(pg_url) as uri, tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
        smtp = SmtpProcess(tmp)
        server = make_server("127.0.0.1", 0, None, threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        config = app_config(uri, "embedded", None, f"bench-{uuid.uuid4().hex[:8]}", vapid_pem, base_url)
        config.update(smtp.settings, NOTIFICATION_CONCURRENCY=args.concurrency)
        app = create_app("development", config)
        server.app = app
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        try:
            login = seed(app, args.owners, None)
            say(f"{args.owners} owners with a camera in range and only a verified e-mail address; "
                f"{report['database']}, SMTP at {smtp.settings['MAIL_URL'].rsplit('@', 1)[1]}")
            thread.start()
            session = requests.Session()
            r = session.post(f"{base_url}/api/auth/signin", json={"login": login[0], "password": login[1],
                                                                   "code": pyotp.TOTP(login[2]).now()})
            r.raise_for_status()
            warm = session.post(f"{base_url}/api/requests", json=request_body("warm-up", radius_m=30.0))
            if warm.status_code != 201:
                raise RuntimeError(f"warm-up request failed: {warm.status_code} {warm.text[:300]}")
            smtp.count = smtp.wait_for(warm.json()["asks_total"])["count"]
            wait_until_idle(app)
            pooled = mail.mailer(app)
            for run in range(args.runs):
                result = {}
                for name, reuse in (("reuse", True), ("no_reuse", False)):
                    # The baseline: a mailer that keeps no idle connection (one connection per message).
                    app.extensions["porchlight.mailer"] = pooled if reuse else mail.SmtpMailer(
                        mail.server(app.config), mail.sender(app.config), ca_file=smtp.settings["MAIL_TLS_CA_FILE"],
                        pool_size=0)
                    result[name] = measure_email(session, base_url, smtp, args.owners, f"bench-{name}-{run + 1}")
                    wait_until_idle(app)
                    result[name]["notifications"] = notification_states(app)
                    say(f"run {run + 1} {name}: POST {result[name]['post_ms']} ms, {result[name]['delivered']} "
                        f"received over {result[name]['connections']} connections, the last after "
                        f"{result[name]['delivered_s']} s ({result[name]['app_cpu_s']} s of CPU; load average "
                        f"{result[name]['load_average']})")
                app.extensions["porchlight.mailer"] = pooled
                runs.append(result)
            session.close()
            server.shutdown()
            thread.join()
        finally:
            server.server_close()
            worker = app.extensions.get("porchlight.in_process_worker")
            if worker:
                worker.stop()
            mail.close(app)
            smtp.close()
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()
    report["runs"] = runs
    for name in ("reuse", "no_reuse"):
        times = [r[name]["delivered_s"] for r in runs]
        complete = [t for t in times if t is not None]
        report[f"{name}_delivered_s_median"] = statistics.median(complete) if complete else None
        report[f"{name}_delivered_s_max"] = max(complete) if len(complete) == len(times) else None
        report[f"{name}_connections_max"] = max(r[name]["connections"] for r in runs)
    best = report["reuse_delivered_s_max"]
    report["meets_target"] = best is not None and best <= TARGET_EMAIL_DELIVERED_S
    say(f"time to the {args.owners}th e-mail: {report['reuse_delivered_s_median']} s with connection reuse "
        f"(median of {args.runs}), {report['no_reuse_delivered_s_median']} s without; target "
        f"{TARGET_EMAIL_DELIVERED_S} s with reuse: {'met' if report['meets_target'] else 'MISSED'}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
