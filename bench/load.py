"""Load benchmark: the app under wrk against the floor of its own SQL, for the inbox, approvals and new requests.

    apt-get install -y wrk          # once
    .venv/bin/python bench/load.py [--rounds 3] [--duration 10] [--connections 32] [--threads 2]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/load.py

The app runs under gunicorn ``-w 2 --threads 4`` with PostgreSQL (a scratch database
beside BENCH_DATABASE_URL's, dropped afterwards) and Redis as the job queue (a queue of
this run's own, deleted afterwards; no worker runs, so a request's notifications are
recorded and queued, as the web tier does, and not sent). Three scenarios, each under
``wrk -tT -cC -dDs --latency`` after a warm-up:

- **inbox** (read): ``GET /api/asks`` as an owner with 25 asks, with a session cookie;
- **approve** (write): ``POST /api/asks/<id>/approve``, every request a different ask,
  each by its own owner's session (bench/load_approve.lua cycles through ids seeded
  for it; a repeated id would answer 409 and count as an error);
- **create** (write): ``POST /api/requests`` as an officer, a JSON body with its own
  case number at a random point of a 2,025-camera neighbourhood; each matches about a
  dozen cameras, so it creates a dozen asks and their push notifications.

The figure is the app's throughput as a share of **the floor**: the SQL statements one
real request of the scenario issued (captured from the app by SQLAlchemy's cursor
events), replayed through bare psycopg on as many connections as the app has (workers
× threads, as processes × threads), for as long, on the same database in the same run
(bench/floor.py says how writes get fresh values and are checked). Each round measures
the app, then the floor, scenario by scenario; the figures are medians over the rounds.
Targets: reads >= 0.5 of the floor, writes >= 0.3, zero errors (app and floor).
Every response that is not 2xx counts as an error (a Lua ``response`` hook,
bench/wrk_report.lua), and so do socket errors and timeouts. The last line printed is
one JSON object. Password hashing is set cheap (sign-in is not measured; 250 sessions
are made).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port  # noqa: E402

# Nothing of the benchmark's may land in the checkout's instance/ folder.
INSTANCE = tempfile.mkdtemp(prefix="bench-load-instance-")
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", INSTANCE)

TARGET_READ, TARGET_WRITE = 0.5, 0.3
CENTRE = (43.0389, -87.9065)
GRID, SPACING_M = 45, 50.0  # 2,025 cameras 50 m apart: a 100 m radius holds about 12
APPROVERS, ASKS_EACH = 250, 600  # 150,000 fresh asks to approve (the floor approves thousands a second)
PASSWORD = "bench-password-123"
SECRET = "bench-load-secret-key"
M_PER_DEG_LAT = 111_195.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------------------------

def degrees(metres_north: float, metres_east: float) -> tuple[float, float]:
    return (CENTRE[0] + metres_north / M_PER_DEG_LAT,
            CENTRE[1] + metres_east / (M_PER_DEG_LAT * math.cos(math.radians(CENTRE[0]))))


@dataclass(frozen=True)
class Approval:
    ask_id: int
    owner_id: int
    request_id: int
    cookie: str
    key_hash: str


def seed(app) -> dict:
    """Agency, officer, a camera grid with owners, approvers with fresh asks, an inbox reader; their cookies."""
    import pyotp
    import sqlalchemy as sa

    from app.accounts.models import Role, User, UserSession
    from app.accounts.passwords import hash_password
    from app.agencies.models import Agency, Membership
    from app.cameras.models import Camera, camera_shares
    from app.db import utcnow
    from app.extensions import db
    from app.footage.models import Ask, AskState, FootageRequest, RequestStatus
    from app.notifications.models import PushSubscription

    with app.app_context():
        db.create_all()
        # Ids in ranges of their own, so that the floor's replay can tell an ask's id from a
        # LIMIT or an agency's id when it gives a replayed request fresh rows (bench/floor.py).
        for table, start in (("users", 100_000), ("footage_requests", 2_000_000), ("asks", 3_000_000)):
            db.session.execute(sa.text(f"ALTER SEQUENCE {table}_id_seq RESTART WITH {start}"))
        now = utcnow()
        agency = Agency(name="Riverside Police Department", slug="rpd", timezone="America/Chicago")
        db.session.add(agency)
        db.session.flush()
        password_hash = hash_password(PASSWORD)
        # Officers sign in with an authenticator's code too: this one has one set up.
        officer = User(role=Role.OFFICER, email="officer@load.example", password_hash=password_hash,
                       agency_id=agency.id, totp_secret=pyotp.random_base32(), totp_enabled_at=now)
        db.session.add(officer)

        def owners(prefix: str, count: int) -> list[int]:
            db.session.execute(sa.insert(User), [{"role": Role.OWNER, "email": f"{prefix}{i}@load.example",
                                                  "password_hash": password_hash} for i in range(count)])
            return list(db.session.scalars(sa.select(User.id).where(User.email.like(f"{prefix}%"))
                                           .order_by(User.id)))

        # The neighbourhood the officer's requests land in: one camera, one push subscription each.
        grid = owners("camera", GRID * GRID)
        cameras = []
        for index, user_id in enumerate(grid):
            row, col = divmod(index, GRID)
            camera = Camera(owner_id=user_id, label=f"Porch camera {index + 1}", retention_days=30,
                            public_attestation=True, field_of_view=90, blackout_windows=[])
            camera.place(*degrees((row - GRID // 2) * SPACING_M, (col - GRID // 2) * SPACING_M))
            cameras.append(camera)
        db.session.add_all(cameras)
        db.session.flush()
        db.session.execute(sa.insert(Membership), [{"owner_id": u, "agency_id": agency.id} for u in grid])
        db.session.execute(camera_shares.insert(), [{"camera_id": c.id, "agency_id": agency.id} for c in cameras])
        # Endpoints nobody serves: no worker runs, the notifications are recorded and queued only.
        db.session.execute(sa.insert(PushSubscription), [
            {"user_id": u, "endpoint": f"http://127.0.0.1:9/push/{u}", "p256dh": "B" * 87, "auth": "A" * 22}
            for u in grid])

        def active_request(case: str) -> int:
            request = FootageRequest(
                agency_id=agency.id, officer_id=officer.id, case_number=case, incident_type="burglary",
                summary="Break-in on this block last night; looking for two people on foot.",
                latitude=CENTRE[0], longitude=CENTRE[1], radius_m=100.0,
                window_start=now - timedelta(hours=5), window_end=now - timedelta(hours=4),
                status=RequestStatus.ACTIVE, exceeded_limits=[], created_at=now, activated_at=now,
                expires_at=now + timedelta(hours=72))
            db.session.add(request)
            db.session.flush()
            return request.id

        def asks(request_id: int, owner_ids: list[int], code: int, state=AskState.NOTIFIED) -> list[dict]:
            return [{"request_id": request_id, "camera_id": None, "owner_id": o, "state": state,
                     "reply_code": f"{code:04d}", "distance_m": 42.0, "camera_label": "Porch camera",
                     "created_at": now} for o in owner_ids]

        # Approvers: ASKS_EACH requests, each asking every approver once.
        approvers = owners("approver", APPROVERS)
        for number in range(ASKS_EACH):
            db.session.execute(sa.insert(Ask), asks(active_request(f"SEED-{number:04d}"), approvers, number))
        # The inbox reader: 25 asks in the states an inbox shows.
        (reader,) = owners("reader", 1)
        states = [AskState.NOTIFIED, AskState.SEEN, AskState.APPROVED, AskState.DELIVERED, AskState.DECLINED,
                  AskState.EXPIRED]
        for number in range(25):
            db.session.execute(sa.insert(Ask), asks(active_request(f"INBOX-{number:02d}"), [reader], number,
                                                    states[number % len(states)]))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))  # as autovacuum would have, long before
        ask_rows = db.session.execute(sa.select(Ask.id, Ask.owner_id, Ask.request_id)
                                      .where(Ask.owner_id.in_(approvers))
                                      .order_by(Ask.request_id, Ask.owner_id)).all()

        client = app.test_client()

        def cookie(user_id: int) -> str:
            user = db.session.get(User, user_id)
            body = {"login": user.email, "password": PASSWORD}
            if user.totp_secret:
                body["code"] = pyotp.TOTP(user.totp_secret).now()
            client.delete_cookie("porchlight_session")
            response = client.post("/api/auth/signin", json=body)
            assert response.status_code == 200, response.get_data(as_text=True)
            return f"porchlight_session={client.get_cookie('porchlight_session').value}"

        approver_cookies = {u: cookie(u) for u in approvers}
        # The session key's hash each approver's requests look up (one session each).
        key_hashes = dict(db.session.execute(sa.select(UserSession.user_id, UserSession.key_hash)
                                             .where(UserSession.user_id.in_(approvers))).all())
        return {"officer": cookie(officer.id), "reader": cookie(reader),
                "approvals": [Approval(ask_id, owner_id, request_id, approver_cookies[owner_id], key_hashes[owner_id])
                              for ask_id, owner_id, request_id in ask_rows]}


@contextmanager
def database(pg_url: str):
    from tests.scratchdb import scratch_pg_database

    with scratch_pg_database(pg_url, "bench_load") as url:
        yield url


# --- processes ------------------------------------------------------------------------------------------

@contextmanager
def gunicorn(target: str, env: dict[str, str], workers: int, threads: int):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--pythonpath", str(BENCH), target]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"gunicorn {target} did not start") from None
                time.sleep(0.1)
        # gunicorn listens before its workers have built the app: wait until they answer, so that
        # no measurement (the first round's inbox, above all) includes a worker's boot.
        import requests

        for _ in range(4 * workers):
            requests.get(f"http://127.0.0.1:{port}/api/health", timeout=60).raise_for_status()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def lua(scenario: str, tmp: Path) -> Path:
    """The scenario's script with the shared reporting hooks in front."""
    path = tmp / f"{scenario}.lua"
    path.write_text((BENCH / "wrk_report.lua").read_text() + "\n" + (BENCH / f"load_{scenario}.lua").read_text())
    return path


def wrk(url: str, script: Path, args: list[str], *, threads: int, connections: int, duration: int) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
               "-s", str(script), url, "--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    lines = output.strip().splitlines()
    result = json.loads(lines[-1])
    result["wrk_output"] = "\n".join(lines[:-1])
    return result


def figures(result: dict) -> dict:
    seconds = result["duration_us"] / 1e6
    errors = result["non2xx"] + result["socket_errors"] + result["timeouts"]
    return {"requests": result["requests"], "rps": round(result["requests"] / seconds, 1), "errors": errors,
            "non2xx": result["non2xx"], "statuses_seen": sorted(set(result["statuses_seen"].split())),
            "socket_errors": result["socket_errors"], "timeouts": result["timeouts"],
            "exhausted": result["exhausted"], "p50_ms": round(result["p50_us"] / 1000, 1),
            "p90_ms": round(result["p90_us"] / 1000, 1), "p99_ms": round(result["p99_us"] / 1000, 1),
            "max_ms": round(result["max_us"] / 1000, 1)}


def delete_queue(redis_url: str, name: str) -> None:
    """This run's queued jobs (nothing worked them) and the queue's own keys."""
    import redis

    connection = redis.Redis.from_url(redis_url)
    try:
        keys = [f"rq:job:{job.decode()}" for queue in (name, f"{name}-low")
                for job in connection.lrange(f"rq:queue:{queue}", 0, -1)]
        keys += list(connection.scan_iter(match=f"rq:*{name}*"))
        for start in range(0, len(keys), 1000):
            connection.delete(*keys[start:start + 1000])
        connection.srem("rq:queues", f"rq:queue:{name}", f"rq:queue:{name}-low")
    finally:
        connection.close()


def check(status: int, expected: int, what: str, text: str = "") -> None:
    if status != expected:
        raise SystemExit(f"{what}: expected {expected}, got {status}: {text[:300]}")


# --- the floor: each scenario's SQL, captured from real requests ----------------------------------------

CREATE_TEMPLATES = 100  # captured creations at random points: the floor's requests spread over the grid too


def capture_scenarios(app, data: dict, window: list[str], spans: tuple[float, float]) -> dict:
    """Each scenario's SQL, from real requests through the whole app (the test client, same config and database).

    Each is captured after a request of its kind has warmed the app up (the first request
    of an agency, for one, writes its default policy). Returns the captured requests and
    what the floor needs to give each replay fresh rows.
    """
    from floor import Capture

    from app.extensions import db

    with app.app_context():
        capture = Capture(db.engine)
    client = app.test_client(use_cookies=False)
    approvals = data["approvals"]

    def get_inbox():
        response = client.get("/api/asks", headers={"Cookie": data["reader"]})
        check(response.status_code, 200, "inbox", response.get_data(as_text=True))

    def approve(item: Approval):
        response = client.post(f"/api/asks/{item.ask_id}/approve", headers={"Cookie": item.cookie})
        check(response.status_code, 200, "approve", response.get_data(as_text=True))

    def create(case: str, latitude: float, longitude: float):
        body = {"latitude": latitude, "longitude": longitude, "radius_m": 100, "window_start": window[0],
                "window_end": window[1], "case_number": case, "incident_type": "burglary",
                "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
                "summary": "Break-in on this block last night; looking for two people on foot."}
        response = client.post("/api/requests", json=body, headers={"Cookie": data["officer"]})
        check(response.status_code, 201, "create", response.get_data(as_text=True))

    get_inbox()
    _, inbox = capture.record(get_inbox)
    approve(approvals.pop())
    captured_approval = approvals.pop()
    _, approval = capture.record(lambda: approve(captured_approval))
    create("CAPTURE-WARM", *CENTRE)
    rng = random.Random(7919)
    creates = []
    for number in range(CREATE_TEMPLATES):
        case = f"CAPTURE-{number:03d}"
        point = (CENTRE[0] + (2 * rng.random() - 1) * spans[0], CENTRE[1] + (2 * rng.random() - 1) * spans[1])
        _, request = capture.record(lambda c=case, p=point: create(c, *p))
        creates.append((request, case, _asks_payload(request)))
    say(f"captured: inbox {inbox.describe()}; approve {approval.describe()}; "
        f"create {creates[0][0].describe()} (and {CREATE_TEMPLATES - 1} more at other points)")
    return {"pre_ping": capture.pre_ping, "inbox": inbox, "approve": (approval, captured_approval),
            "create": creates}


def _asks_payload(request) -> tuple[str, int]:
    """The JSON array of a create's new asks (its ``INSERT INTO asks`` sends them all as one
    parameter, app/sql.py's insert_rows), and the position of the reply code in each row."""
    [step] = [step for step in request.steps if not isinstance(step, str)
              and step.sql.lstrip().startswith("INSERT INTO asks")]
    columns = [name.strip() for name in step.sql[step.sql.index("(") + 1:step.sql.index(")")].split(",")]
    return step.params["rows"], columns.index("reply_code")


def _base36(number: int, width: int) -> str:
    digits = ""
    while number or len(digits) < width:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


def floor_requests(name: str, captured: dict, approvals: list[Approval], processes: int, threads: int,
                   run_number: int):
    """next_request(process, thread, n) for bench/floor.py: the captured request and its fresh values."""
    from floor import Fresh

    if name == "inbox":
        request = captured["inbox"]
        return lambda process, thread, n: (request, Fresh())
    if name == "approve":
        request, old = captured["approve"]

        def next_approval(process: int, thread: int, n: int):
            index = (process * threads + thread) + n * processes * threads  # no two connections share an ask
            if index >= len(approvals):
                return None
            new = approvals[index]
            return request, Fresh({old.ask_id: new.ask_id, old.owner_id: new.owner_id,
                                   old.request_id: new.request_id, old.key_hash: new.key_hash})
        return next_approval

    creates = captured["create"]

    def next_create(process: int, thread: int, n: int):
        request, case, (payload, at) = creates[(n * 7 + process * threads + thread) % len(creates)]
        # A case number of its own and reply codes no open ask of these owners has (a unique index):
        # 8 characters, unique per run, connection and request (the app's are 4 digits).
        code = f"{process}{thread}{_base36(run_number * 1_000_000 + n, 6)}"
        rows = json.loads(payload)
        for row in rows:
            row[at] = code
        return request, Fresh({case: f"FLOOR-{run_number}-{process}-{thread}-{n}",
                               payload: json.dumps(rows, separators=(",", ":"))})
    return next_create


# --- main -----------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="app-then-floor rounds; figures are their medians")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured run (app and floor)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--scenarios", default="inbox,approve,create")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")

    if shutil.which("wrk") is None:
        say("wrk is not installed: `apt-get install -y wrk` (Debian), then run this again.")
        print(json.dumps({"benchmark": "load", "error": "wrk is not installed", "targets_met": False}))
        raise SystemExit(2)

    import floor
    import sqlalchemy as sa
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pg_url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    queue_name = f"bench-load-{os.getpid()}"
    vapid = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    encryption_keys = Fernet.generate_key().decode()  # one key for the seeding and the served app
    from app.audit import signing
    audit_signing_key = signing.generate_key()
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    wrk_settings = {"threads": args.threads, "connections": args.connections}
    rounds: list[dict[str, dict]] = []
    load_before = os.getloadavg()
    try:
        with database(pg_url) as url:
            env = {"PORCHLIGHT_ENV": "production", "PORCHLIGHT_INSTANCE_DIR": INSTANCE, "DATABASE_URL": url,
                   "SECRET_KEY": SECRET, "ENCRYPTION_KEYS": encryption_keys, "SESSION_COOKIE_SECURE": "false",
                   "AUDIT_SIGNING_KEY": audit_signing_key,
                   "REDIS_URL": redis_url,
                   "JOB_QUEUE_NAME": queue_name, "RUN_IN_PROCESS_WORKER": "false", "VAPID_PRIVATE_KEY": vapid,
                   "PUBLIC_BASE_URL": "http://127.0.0.1", "VAPID_SUBJECT": "mailto:bench@porchlight.example.gov",
                   "CLIP_STORAGE_ROOT": str(tmp / "clips"),
                   "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1"}
            from app import create_app

            say(f"seeding: 2,025 cameras, {APPROVERS * ASKS_EACH:,} asks to approve, 250 sessions ...")
            started = time.monotonic()
            # config.py has read the environment already (tests.scratchdb imports it): the same settings, given,
            # so that the requests captured in this process issue the SQL the served app's do.
            app = create_app("production", {
                "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"],
                "VAPID_SUBJECT": env["VAPID_SUBJECT"], "VAPID_PRIVATE_KEY": vapid,
                "ENCRYPTION_KEYS": encryption_keys, "SESSION_COOKIE_SECURE": False,
                "AUDIT_SIGNING_KEY": audit_signing_key,
                "REDIS_URL": redis_url, "JOB_QUEUE_NAME": queue_name, "RUN_IN_PROCESS_WORKER": False,
                "CLIP_STORAGE_ROOT": env["CLIP_STORAGE_ROOT"],
                "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 8, "ARGON2_PARALLELISM": 1,
                # 252 sign-ins from one address in a few seconds, before anything is measured.
                "RATELIMIT_ENABLED": False})
            data = seed(app)
            say(f"seeded in {time.monotonic() - started:.1f} s")

            now = datetime.now(UTC)
            window = [(now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=2)).isoformat()]
            north, east = degrees(SPACING_M * (GRID // 2 - 2), SPACING_M * (GRID // 2 - 2))
            spans = (north - CENTRE[0], east - CENTRE[1])
            captured = capture_scenarios(app, data, window, spans)
            dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            create_args = [data["officer"], *window, str(CENTRE[0]), str(CENTRE[1]), f"{spans[0]:.6f}",
                           f"{spans[1]:.6f}"]

            # The approvals: each app round and each floor round its own, never answered before.
            approvals = data["approvals"]
            app_each = min(8_000, len(approvals) // (5 * args.rounds + 1))
            app_share = [approvals[i * app_each:(i + 1) * app_each] for i in range(args.rounds + 1)]  # [0]: warm-up
            rest = approvals[(args.rounds + 1) * app_each:]
            floor_each = len(rest) // args.rounds

            def app_run(name: str, base: str, round_number: int) -> dict:
                if name == "inbox":
                    script, warm_args, measured_args = "get", [data["reader"]], [data["reader"]]
                    url_ = f"{base}/api/asks"
                elif name == "approve":
                    files = []
                    for label, rows in (("warm", app_share[0][round_number::args.rounds]),
                                        ("measured", app_share[round_number + 1])):
                        path = tmp / f"approve-{label}-{round_number}.txt"
                        path.write_text("".join(f"{a.ask_id} {a.cookie}\n" for a in rows))
                        files.append([str(path), str(args.threads)])
                    script, (warm_args, measured_args), url_ = "approve", files, base
                else:
                    script, warm_args, measured_args, url_ = "create", create_args, create_args, base
                path = lua(script, tmp)
                wrk(url_, path, warm_args, duration=args.warmup, **wrk_settings)
                result = wrk(url_, path, measured_args, duration=args.duration, **wrk_settings)
                say(f"--- app {name}, round {round_number + 1}\n{result.pop('wrk_output')}")
                return figures(result)

            def floor_run(name: str, round_number: int) -> dict:
                mine = rest[round_number * floor_each:(round_number + 1) * floor_each]
                settings = {"processes": args.workers, "threads": args.worker_threads,
                            "pre_ping": captured["pre_ping"]}
                warm_share = len(mine) // 8
                shape = (args.workers, args.worker_threads)
                floor.run(dsn, floor_requests(name, captured, mine[:warm_share], *shape, 2 * round_number),
                          duration=args.warmup, **settings)
                result = floor.run(dsn, floor_requests(name, captured, mine[warm_share:], *shape, 2 * round_number + 1),
                                   duration=args.duration, **settings)
                notes = str(result["error_samples"]) if result["errors"] else ""
                if result["exhausted"]:
                    notes += f" (ran out of fresh asks after {result['seconds']:.1f} s)"
                say(f"--- floor {name}, round {round_number + 1}: {result['rps']:.0f} req/s, p50 "
                    f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, errors {result['errors']} {notes}")
                return result

            with gunicorn("app:create_app()", env, args.workers, args.worker_threads) as base:
                for round_number in range(args.rounds):
                    say(f"=== round {round_number + 1} of {args.rounds}, load average "
                        f"{os.getloadavg()[0]:.2f}")
                    results: dict[str, dict] = {}
                    for name in scenarios:
                        app_result = app_run(name, base, round_number)
                        floor_result = floor_run(name, round_number)
                        results[name] = {"app": app_result, "floor": floor_result,
                                         "ratio": round(app_result["rps"] / floor_result["rps"], 3)
                                         if floor_result["rps"] else 0.0}
                    rounds.append(results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(INSTANCE, ignore_errors=True)
        delete_queue(redis_url, queue_name)

    kinds = {"inbox": "read", "approve": "write", "create": "write"}
    report = {"benchmark": "load", "database": "postgresql", "rounds": args.rounds,
              "gunicorn": f"-w {args.workers} --threads {args.worker_threads}",
              "floor": f"{args.workers} processes x {args.worker_threads} threads, psycopg",
              "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s",
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "targets": {"read_ratio": TARGET_READ, "write_ratio": TARGET_WRITE, "errors": 0}, "scenarios": {}}
    met = True
    say(f"\n{'scenario':<9} {'kind':<6} {'app req/s':>10} {'floor req/s':>12} {'ratio':>6} {'target':>7} "
        f"{'app p50/p99 ms':>15} {'floor p50/p99':>14} {'errors':>7}   (medians of {args.rounds} rounds)")
    for name in scenarios:
        kind = kinds[name]
        target = TARGET_READ if kind == "read" else TARGET_WRITE
        per_round = [r[name] for r in rounds]
        median = {side: {key: statistics.median(r[side][key] for r in per_round)
                         for key in ("rps", "p50_ms", "p99_ms")} for side in ("app", "floor")}
        ratio = statistics.median(r["ratio"] for r in per_round)
        errors = sum(r["app"]["errors"] + r["floor"]["errors"] for r in per_round)
        exhausted = sum(r["app"]["exhausted"] for r in per_round)
        ok = ratio >= target and errors == 0 and exhausted == 0
        met = met and ok
        report["scenarios"][name] = {"kind": kind, "ratio": ratio, "target": target, "met": ok, "errors": errors,
                                     "app": median["app"], "floor": median["floor"],
                                     "ratios": [r["ratio"] for r in per_round], "rounds": per_round}
        say(f"{name:<9} {kind:<6} {median['app']['rps']:>10.0f} {median['floor']['rps']:>12.0f} {ratio:>6.3f} "
            f"{target:>7.2f} {median['app']['p50_ms']:>6.1f}/{median['app']['p99_ms']:<8.1f} "
            f"{median['floor']['p50_ms']:>5.1f}/{median['floor']['p99_ms']:<8.1f} {errors:>7}"
            f"{'' if ok else '   <- target missed'}")
    say(f"targets: reads >= {TARGET_READ} of the floor, writes >= {TARGET_WRITE}, zero errors: "
        f"{'met' if met else 'MISSED'}; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    report["targets_met"] = met
    print(json.dumps(report))


if __name__ == "__main__":
    main()
