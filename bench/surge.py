"""A city-scale surge on one machine: 10 requests to 1,000 owners each, every owner answering within a minute.

    .venv/bin/python bench/surge.py                       # the embedded default: SQLite, `flask run`, in-process worker
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/surge.py --mode rq
                                                          # PostgreSQL + Redis: gunicorn and a `flask worker` (RQ)

The city: one agency, 20 officers, 10,000 owners in 10 neighbourhoods of 1,000, each owner
with a camera shared with the agency and a Web Push subscription at a local push service
(tests/peers/push_service.py, in a process of its own: it checks each message's VAPID
signature and decrypts it, as a browser vendor's service does).

The surge, as scheduled arrivals (open loop: every call is sent at its planned moment
whatever the server is doing, and its latency is counted from that moment, so time spent
waiting for a connection counts too):

- officer *i* (i < 10) sends request *i* to neighbourhood *i* at ``1 + i × --request-every`` s;
- each owner, once the push service has decrypted their push, opens the inbox
  (``GET /api/asks``) 0.5–45 s later and answers 2–12 s after that
  (``POST /api/asks/<id>/approve``, the ask the inbox shows open): within 60 s of the push;
- every officer polls ``GET /api/requests`` (the agency's requests with their counts)
  every 5 s, from the start until the last answer is in.

Targets: every push delivered, every answer recorded (10,000 asks approved in the
database), zero errors (a status that is not 2xx, a timeout or a broken connection is an
error), p99 <= 100 ms on every endpoint. The last line printed is one JSON object.
Sessions are made directly in the database (sign-in is not what is measured); the
cookies are the app's own, signed with its key.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port  # noqa: E402

INSTANCE = tempfile.mkdtemp(prefix="bench-surge-instance-")
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", INSTANCE)

CENTRE = (43.0389, -87.9065)
NEIGHBOURHOOD_STEP = 0.03  # degrees of latitude between neighbourhoods: 3.3 km
SPREAD_M, RADIUS_M = 300.0, 400.0
SECRET = "bench-surge-secret-key"
USER_AGENT = "porchlight-surge/1"
TARGET_P99_MS = 100.0
M_PER_DEG_LAT = 111_195.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.1)


# --- the push service, in a process of its own --------------------------------------------------------

def serve_push(key: str) -> None:
    """The local push service; prints its port, then "<subscriber> <unix time>" for each message decrypted."""
    from tests.peers.push_service import LocalPushService

    service = LocalPushService(key).start()
    print(service.server.server_port, flush=True)

    def stream() -> None:
        sent = 0
        while True:
            service.wait_for(sent + 1, timeout=1)
            received = service.received[sent:]
            for message in received:
                print(f"{message.subscriber} {message.at:.6f}", flush=True)
            sent += len(received)

    threading.Thread(target=stream, daemon=True).start()
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        service.close()


# --- data --------------------------------------------------------------------------------------------

def neighbourhood_centre(index: int) -> tuple[float, float]:
    return CENTRE[0] + index * NEIGHBOURHOOD_STEP, CENTRE[1]


def seed(app, subscriptions: list[dict], owners_each: int, neighbourhoods: int, officers: int) -> dict:
    """The agency, its officers, the owners with cameras and push subscriptions; everyone's session cookie."""
    import pyotp
    import sqlalchemy as sa
    from flask import session

    from app.accounts import sessions
    from app.accounts.models import Role, User, UserSession
    from app.agencies.models import Agency, Membership
    from app.cameras.models import Camera, camera_shares
    from app.db import utcnow
    from app.extensions import db
    from app.notifications.models import PushSubscription

    with app.app_context():
        db.create_all()
        now = utcnow()
        agency = Agency(name="Riverside Police Department", slug="rpd", timezone="America/Chicago")
        db.session.add(agency)
        db.session.flush()
        hashed = "$argon2id$v=19$m=8,t=1,p=1$c2VlZHNlZWQ$not-a-password-anyone-signs-in-with"
        db.session.execute(sa.insert(User), [
            {"role": Role.OFFICER, "email": f"officer{i}@surge.example", "password_hash": hashed,
             "agency_id": agency.id, "totp_secret": pyotp.random_base32(), "totp_enabled_at": now}
            for i in range(officers)])
        total = owners_each * neighbourhoods
        db.session.execute(sa.insert(User), [{"role": Role.OWNER, "email": f"owner{i}@surge.example",
                                              "password_hash": hashed} for i in range(total)])
        officer_ids = list(db.session.scalars(sa.select(User.id).where(User.role == Role.OFFICER).order_by(User.id)))
        owner_ids = list(db.session.scalars(sa.select(User.id).where(User.role == Role.OWNER).order_by(User.id)))
        cameras = []
        for index, user_id in enumerate(owner_ids):
            hood, i = divmod(index, owners_each)
            lat0, lon0 = neighbourhood_centre(hood)
            # A spiral of points within SPREAD_M of the neighbourhood's centre.
            distance, angle = SPREAD_M * math.sqrt((i + 0.5) / owners_each), i * 2.399963
            camera = Camera(owner_id=user_id, label=f"Porch camera {index + 1}", retention_days=30,
                            public_attestation=True, field_of_view=90, blackout_windows=[])
            camera.place(lat0 + distance * math.cos(angle) / M_PER_DEG_LAT,
                         lon0 + distance * math.sin(angle) / (M_PER_DEG_LAT * math.cos(math.radians(lat0))))
            cameras.append(camera)
        db.session.add_all(cameras)
        db.session.flush()
        db.session.execute(sa.insert(Membership), [{"owner_id": u, "agency_id": agency.id} for u in owner_ids])
        db.session.execute(camera_shares.insert(), [{"camera_id": c.id, "agency_id": agency.id} for c in cameras])
        db.session.execute(sa.insert(PushSubscription), [
            {"user_id": u, "endpoint": s["endpoint"], "p256dh": s["keys"]["p256dh"], "auth": s["keys"]["auth"]}
            for u, s in zip(owner_ids, subscriptions, strict=True)])
        db.session.commit()

        # One real session, to learn the cookie's shape (Flask-Login's fields); then the
        # others made alike: a record with the key's hash, a cookie signed with the app's key.
        with app.test_request_context("/", headers={"User-Agent": USER_AGENT},
                                      environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            sessions.begin(db.session.get(User, owner_ids[0]))
            template = dict(session)
        serializer = app.session_interface.get_signing_serializer(app)
        name = app.config["SESSION_COOKIE_NAME"]
        cookies, rows = {}, []
        for user_id in officer_ids + owner_ids[1:]:
            key = secrets.token_urlsafe(32)
            rows.append({"user_id": user_id, "key_hash": hashlib.sha256(key.encode()).hexdigest(),
                         "user_agent": "surge", "ip_address": "127.0.0.1"})
            cookies[user_id] = f"{name}={serializer.dumps({**template, 'sid': key, '_user_id': str(user_id)})}"
        cookies[owner_ids[0]] = f"{name}={serializer.dumps(template)}"
        db.session.execute(sa.insert(UserSession), rows)
        db.session.commit()
        db.session.remove()
    subscriber_owner = {s["endpoint"].rsplit("/", 1)[1]: u for u, s in zip(owner_ids, subscriptions, strict=True)}
    return {"officers": officer_ids, "owners": owner_ids, "cookies": cookies, "subscriber_owner": subscriber_owner}


def answers_recorded(app) -> dict[str, int]:
    import sqlalchemy as sa

    from app.extensions import db
    from app.footage.models import Ask

    with app.app_context():
        counts = {state.value: n for state, n in db.session.execute(
            sa.select(Ask.state, sa.func.count(Ask.id)).group_by(Ask.state))}
        db.session.remove()
    return counts


# --- the servers -------------------------------------------------------------------------------------

@contextmanager
def served(mode: str, env: dict[str, str], workers: int, threads: int, log: Path):
    """The app as its mode deploys it: `flask run` (embedded), or gunicorn and an RQ worker (their logs in ``log``)."""
    port = free_port()
    full_env = {**os.environ, **env}
    if mode == "embedded":
        commands = [[sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1",
                     "--port", str(port)]]
    else:
        commands = [[sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
                     "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                    [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]]
    log_file = log.open("ab")
    processes = [subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT)
                 for command in commands]
    try:
        wait_for_port(port, processes[0], " ".join(commands[0][2:4]))
        base = f"http://127.0.0.1:{port}"
        # Every web process booted and answering (gunicorn listens before its workers have built the app).
        import requests

        with requests.Session() as client:
            for _ in range(4 * workers):
                client.get(f"{base}/api/health", timeout=60).raise_for_status()
                client.close()  # a new connection each time, so each worker is likely to take one
        yield base, processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log_file.close()
        # The servers' own complaints (the request log aside), for a run that went wrong.
        problems = [line for line in log.read_text(errors="replace").splitlines()
                    if any(word in line for word in ("Traceback", "Error", "WARNING", "ERROR", "CRITICAL"))]
        if problems:
            say(f"server log ({len(problems)} lines of trouble), first few:\n" + "\n".join(problems[:10]))


# --- the load generator ------------------------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []

    def add(self, endpoint: str, seconds: float, error: str | None) -> None:
        self.latencies.setdefault(endpoint, []).append(seconds)
        if error is not None:
            self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
            if len(self.samples) < 10:
                self.samples.append(f"{endpoint}: {error}")

    def table(self) -> dict[str, dict]:
        out = {}
        for endpoint, values in self.latencies.items():
            values = sorted(values)

            def pct(p: float, v=values) -> float:
                return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 1)
            out[endpoint] = {"count": len(values), "errors": self.errors.get(endpoint, 0), "p50_ms": pct(0.5),
                             "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(values[-1] * 1000, 1)}
        return out


async def surge(base: str, push: asyncio.subprocess.Process, data: dict, args) -> dict:
    import aiohttp

    loop = asyncio.get_running_loop()
    rng = random.Random(20261206)
    recorder = Recorder()
    # Idle connections are given up before gunicorn's 2 s keep-alive ends them: reusing one the
    # server has just closed would fail a request for the client's sake, not the server's.
    connector = aiohttp.TCPConnector(limit=args.client_connections, keepalive_timeout=1.0)
    timeout = aiohttp.ClientTimeout(total=30)
    owners_total = args.owners_each * args.neighbourhoods
    pushes: list[float] = []
    owner_tasks: list[asyncio.Task] = []
    done = asyncio.Event()
    start = loop.time()
    wall_start = time.time()

    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout,
                                     headers={"User-Agent": USER_AGENT}) as client:
        async def call(endpoint: str, method: str, path: str, cookie: str, at: float, **kwargs):
            """Send at ``at`` (loop time); the latency runs from ``at``, so any wait for a connection counts."""
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            error, body = None, None
            try:
                async with client.request(method, path, headers={"Cookie": cookie}, **kwargs) as response:
                    body = await response.read()
                    if not 200 <= response.status < 300:
                        error = f"{response.status} {body[:200]!r}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            recorder.add(endpoint, loop.time() - at, error)
            return None if error else json.loads(body) if body else None

        async def owner(owner_id: int, pushed_at: float) -> None:
            cookie = data["cookies"][owner_id]
            opened = pushed_at + rng.uniform(0.5, 45.0)
            inbox = await call("GET /api/asks", "GET", "/api/asks", cookie, opened)
            if inbox is None:
                return
            ask = next((a for a in inbox if "approve" in a["actions"]), None)
            if ask is None:
                recorder.add("(owner found no open ask)", 0.0, f"owner {owner_id}")
                return
            answer_at = max(opened + rng.uniform(2.0, 12.0), loop.time())
            await call("POST /api/asks/<id>/approve", "POST", f"/api/asks/{ask['id']}/approve", cookie, answer_at)

        async def listen_for_pushes() -> None:
            while len(pushes) < owners_total:
                line = (await push.stdout.readline()).decode().strip()
                if not line:
                    break
                subscriber, at = line.split()
                owner_id = data["subscriber_owner"].get(subscriber)
                if owner_id is None:
                    continue
                pushed_at = start + (float(at) - wall_start)
                pushes.append(pushed_at)
                owner_tasks.append(asyncio.create_task(owner(owner_id, pushed_at)))

        async def officer(index: int, officer_id: int) -> None:
            cookie = data["cookies"][officer_id]
            at = start + 0.25 * index  # the polls spread over the 5 s
            if index < args.neighbourhoods:
                lat, lon = neighbourhood_centre(index)
                end = datetime.now(UTC) - timedelta(hours=2)
                body = {"latitude": lat, "longitude": lon, "radius_m": RADIUS_M,
                        "window_start": (end - timedelta(hours=1)).isoformat(), "window_end": end.isoformat(),
                        "case_number": f"SURGE-{index:02d}", "incident_type": "burglary", "legal_basis": "voluntary",
                        "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
                        "summary": "A burglary on this block; did your camera see anyone between these times?"}
                created_at = start + 1.0 + index * args.request_every
                asyncio.create_task(call("POST /api/requests", "POST", "/api/requests", cookie, created_at,
                                         json=body))
            while not done.is_set():
                await call("GET /api/requests", "GET", "/api/requests", cookie, at)
                at += 5.0
                await asyncio.sleep(max(0.0, at - loop.time()))

        listener = asyncio.create_task(listen_for_pushes())
        officers = [asyncio.create_task(officer(i, o)) for i, o in enumerate(data["officers"])]
        last_request = start + 1.0 + (args.neighbourhoods - 1) * args.request_every
        # Every push within the deadline after the last request, or stop waiting.
        deadline = last_request + args.push_deadline
        while len(pushes) < owners_total and loop.time() < deadline:
            await asyncio.sleep(0.5)
            say(f"  t={loop.time() - start:5.0f} s: {len(pushes):>6} pushes, "
                f"{sum(len(v) for v in recorder.latencies.values()):>6} calls, "
                f"{sum(recorder.errors.values())} errors")
        listener.cancel()
        while any(not t.done() for t in owner_tasks):
            await asyncio.sleep(1.0)
            say(f"  t={loop.time() - start:5.0f} s: {sum(t.done() for t in owner_tasks):>6} owners done, "
                f"{sum(len(v) for v in recorder.latencies.values()):>6} calls, "
                f"{sum(recorder.errors.values())} errors")
        done.set()
        await asyncio.gather(*officers)
        delivered = sorted(p - start for p in pushes)
    return {"table": recorder.table(), "error_samples": recorder.samples, "pushes": len(pushes),
            "first_push_s": round(delivered[0], 2) if delivered else None,
            "last_push_s": round(delivered[-1], 2) if delivered else None,
            "duration_s": round(loop.time() - start, 1)}


async def run_surge(base: str, push_process: subprocess.Popen, data: dict, args) -> dict:
    # The push service's stdout, read by the event loop.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), push_process.stdout)

    class Stream:
        stdout = reader
    return await surge(base, Stream, data, args)


# --- main --------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["embedded", "rq"], default="embedded")
    parser.add_argument("--neighbourhoods", type=int, default=10, help="requests, one per neighbourhood")
    parser.add_argument("--owners-each", type=int, default=1000)
    parser.add_argument("--officers", type=int, default=20)
    parser.add_argument("--request-every", type=float, default=6.0, help="seconds between the requests")
    parser.add_argument("--push-deadline", type=float, default=120.0,
                        help="seconds after the last request by which every push must have arrived")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (--mode rq)")
    parser.add_argument("--worker-threads", type=int, default=4, help="gunicorn threads per worker (--mode rq)")
    parser.add_argument("--client-connections", type=int, default=200, help="the load generator's at most")
    parser.add_argument("--serve-push", metavar="KEY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_push:
        serve_push(args.serve_push)
        return
    if args.officers < args.neighbourhoods:
        parser.error("each request is sent by an officer of its own: --officers >= --neighbourhoods")

    import requests
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from app import create_app
    from app.notifications import webpush

    pg_url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    queue_name = f"bench-surge-{os.getpid()}"
    vapid = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    tmp = Path(tempfile.mkdtemp(prefix="bench-surge-"))
    owners_total = args.owners_each * args.neighbourhoods
    load_before = os.getloadavg()

    @contextmanager
    def database():
        if args.mode == "embedded":
            yield f"sqlite:///{tmp / 'porchlight.sqlite3'}"
            return
        from tests.scratchdb import scratch_pg_database

        with scratch_pg_database(pg_url, "bench_surge") as url:
            yield url

    push_process = None
    try:
        with database() as url:
            env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "VAPID_PRIVATE_KEY": vapid,
                   "PORCHLIGHT_INSTANCE_DIR": INSTANCE, "CLIP_STORAGE_ROOT": str(tmp / "clips"),
                   "PUBLIC_BASE_URL": "http://127.0.0.1", "VAPID_SUBJECT": "mailto:bench@porchlight.example.gov",
                   "SESSION_COOKIE_SECURE": "false", "ENCRYPTION_KEYS": Fernet.generate_key().decode()}
            if args.mode == "rq":
                # The development settings, as in the embedded run: production refuses PUSH_TEST_ORIGINS,
                # the only way to let the app send to a plain-http push service on loopback.
                env.update(REDIS_URL=redis_url, JOB_QUEUE_NAME=queue_name, RUN_IN_PROCESS_WORKER="false")
            from config import _sqlalchemy_url

            # The seeding app: the served one's settings (config.py read the environment before these were set).
            overrides = {"SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(url), "SECRET_KEY": SECRET,
                         "VAPID_PRIVATE_KEY": vapid, "RUN_IN_PROCESS_WORKER": False, "SESSION_COOKIE_SECURE": False,
                         "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"], "VAPID_SUBJECT": env["VAPID_SUBJECT"],
                         "ENCRYPTION_KEYS": env["ENCRYPTION_KEYS"]}
            if args.mode == "rq":
                overrides.update(REDIS_URL=redis_url, JOB_QUEUE_NAME=queue_name)
            app = create_app(None, overrides)
            push_process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-push",
                                             webpush.public_key(app)], cwd=ROOT, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE)
            push_url = f"http://127.0.0.1:{push_process.stdout.readline().decode().strip()}"
            env["PUSH_TEST_ORIGINS"] = push_url
            say(f"seeding: {owners_total:,} owners in {args.neighbourhoods} neighbourhoods, {args.officers} "
                f"officers ({args.mode}, {'SQLite' if args.mode == 'embedded' else 'PostgreSQL'}) ...")
            started = time.monotonic()
            subscriptions = requests.post(f"{push_url}/_control/subscribe?n={owners_total}", timeout=300).json()
            data = seed(app, subscriptions, args.owners_each, args.neighbourhoods, args.officers)
            say(f"seeded in {time.monotonic() - started:.1f} s; load average {os.getloadavg()[0]:.2f}")
            with served(args.mode, env, args.workers, args.worker_threads, tmp / "server.log") as (base, _processes):
                result = asyncio.run(run_surge(base, push_process, data, args))
            counts = answers_recorded(app)
            push_stats = requests.get(f"{push_url}/_control/stats", timeout=30).json()
            push_errors = push_stats["error_count"]
            if push_errors:
                say(f"the push service refused {push_errors} messages, first few: {push_stats['errors']}")
            push_process.stdin.close()
            push_process.wait(30)
            push_process = None
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()
    finally:
        if push_process is not None:
            push_process.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(INSTANCE, ignore_errors=True)
        if args.mode == "rq":
            import redis

            connection = redis.Redis.from_url(redis_url)
            keys = list(connection.scan_iter(match=f"rq:*{queue_name}*"))
            for start in range(0, len(keys), 1000):
                connection.delete(*keys[start:start + 1000])
            connection.srem("rq:queues", f"rq:queue:{queue_name}", f"rq:queue:{queue_name}-low")
            connection.close()

    table = result["table"]
    errors = sum(row["errors"] for row in table.values())
    approved = counts.get("approved", 0)
    met = {"pushes": result["pushes"] == owners_total and push_errors == 0, "answers": approved == owners_total,
           "errors": errors == 0, "p99": all(row["p99_ms"] <= TARGET_P99_MS for row in table.values())}
    say(f"\n{'endpoint':<32} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for endpoint, row in sorted(table.items()):
        say(f"{endpoint:<32} {row['count']:>7} {row['errors']:>7} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f}{'' if row['p99_ms'] <= TARGET_P99_MS else '  <- p99'}")
    say(f"pushes delivered {result['pushes']:,} of {owners_total:,} (push service errors {push_errors}; first "
        f"{result['first_push_s']} s, last {result['last_push_s']} s); answers recorded {approved:,} of "
        f"{owners_total:,}; ask states {counts}")
    if result["error_samples"]:
        say("errors, first few: " + "; ".join(result["error_samples"]))
    verdicts = ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items())
    say(f"targets: {verdicts}; "
        f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(json.dumps({"benchmark": "surge", "mode": args.mode,
                      "database": "sqlite" if args.mode == "embedded" else "postgresql",
                      "owners": owners_total, "neighbourhoods": args.neighbourhoods, "officers": args.officers,
                      "request_every_s": args.request_every, "endpoints": table, "pushes": result["pushes"],
                      "push_service_errors": push_errors, "first_push_s": result["first_push_s"],
                      "last_push_s": result["last_push_s"], "answers_recorded": approved, "ask_states": counts,
                      "duration_s": result["duration_s"], "error_samples": result["error_samples"],
                      "load_average_before": [round(x, 2) for x in load_before],
                      "load_average_after": [round(x, 2) for x in os.getloadavg()],
                      "targets": {"p99_ms": TARGET_P99_MS}, "met": met, "targets_met": all(met.values())}))


if __name__ == "__main__":
    main()
