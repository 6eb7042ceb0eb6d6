"""Load benchmark: wrk against the owner's inbox, ask approval and request creation.

    apt-get install -y wrk          # once
    .venv/bin/python bench/load.py [--duration 10] [--connections 32] [--threads 2]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/load.py

The app runs under gunicorn ``-w 2 --threads 4`` (two processes of four threads: one per core) with
PostgreSQL (a scratch database beside BENCH_DATABASE_URL's, dropped afterwards) and
Redis as the job queue (a queue of this run's own, deleted afterwards; no worker runs,
so a request's notifications are recorded and queued, as the web tier does, and not
sent). In the same run, a bare Flask "hello" (bench/hello_app.py) under the same
gunicorn settings is the baseline, measured before and after the app (the mean of the
two is the baseline: other load on the machine moves); every figure is quoted as a
ratio to it. Each
scenario gets a 2 s warm-up, then ``wrk -tT -cC -dDs --latency``:

- **inbox** (read): ``GET /api/asks`` as an owner with 25 asks, with a session cookie;
- **approve** (write): ``POST /api/asks/<id>/approve``, every request a different ask,
  each by its own owner's session (bench/load_approve.lua cycles through ids seeded
  for it; a repeated id would answer 409 and count as an error);
- **create** (write): ``POST /api/requests`` as an officer, a JSON body with its own
  case number at a random point of a 2,025-camera neighbourhood; each matches about a
  dozen cameras, so it creates a dozen asks and their push notifications.

Every response that is not 2xx counts as an error (a Lua ``response`` hook,
bench/wrk_report.lua), and so do socket errors and timeouts. Targets: reads >= 0.35x
hello, writes >= 0.2x, p99 <= 100 ms, zero errors. The last line printed is one JSON
object. Password hashing is set cheap (sign-in is not measured; 250 sessions are made).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
# Nothing of the benchmark's may land in the checkout's instance/ folder.
INSTANCE = tempfile.mkdtemp(prefix="bench-load-instance-")
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", INSTANCE)

TARGET_READ, TARGET_WRITE, TARGET_P99_MS = 0.35, 0.2, 100.0
CENTRE = (43.0389, -87.9065)
GRID, SPACING_M = 45, 50.0  # 2,025 cameras 50 m apart: a 100 m radius holds about 12
APPROVERS, ASKS_EACH = 250, 240  # 60,000 fresh asks to approve
PASSWORD = "bench-password-123"
SECRET = "bench-load-secret-key"
M_PER_DEG_LAT = 111_195.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- data ---------------------------------------------------------------------------------------------

def degrees(metres_north: float, metres_east: float) -> tuple[float, float]:
    return (CENTRE[0] + metres_north / M_PER_DEG_LAT,
            CENTRE[1] + metres_east / (M_PER_DEG_LAT * math.cos(math.radians(CENTRE[0]))))


def seed(app) -> dict:
    """Agency, officer, a camera grid with owners, approvers with fresh asks, an inbox reader; their cookies."""
    import pyotp
    import sqlalchemy as sa

    from app.accounts.models import Role, User
    from app.accounts.passwords import hash_password
    from app.agencies.models import Agency, Membership
    from app.cameras.models import Camera, camera_shares
    from app.db import utcnow
    from app.extensions import db
    from app.footage.models import Ask, AskState, FootageRequest, RequestStatus
    from app.notifications.models import PushSubscription

    with app.app_context():
        db.create_all()
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
        ask_rows = db.session.execute(sa.select(Ask.id, Ask.owner_id).where(Ask.owner_id.in_(approvers))
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
        return {"officer": cookie(officer.id), "reader": cookie(reader),
                "approvals": [(ask_id, approver_cookies[owner_id]) for ask_id, owner_id in ask_rows]}


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


def check(response, status: int, what: str) -> None:
    if response.status_code != status:
        raise SystemExit(f"{what}: expected {status}, got {response.status_code}: {response.text[:300]}")


# --- main -----------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        say("wrk is not installed: `apt-get install -y wrk` (Debian), then run this again.")
        print(json.dumps({"benchmark": "load", "error": "wrk is not installed", "targets_met": False}))
        raise SystemExit(2)

    import requests
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pg_url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    queue_name = f"bench-load-{os.getpid()}"
    vapid = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    encryption_keys = Fernet.generate_key().decode()  # one key for the seeding and the served app
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    wrk_settings = {"threads": args.threads, "connections": args.connections}
    results: dict[str, dict] = {}
    try:
        with database(pg_url) as url:
            env = {"PORCHLIGHT_ENV": "production", "PORCHLIGHT_INSTANCE_DIR": INSTANCE, "DATABASE_URL": url,
                   "SECRET_KEY": SECRET, "ENCRYPTION_KEYS": encryption_keys, "SESSION_COOKIE_SECURE": "false",
                   "REDIS_URL": redis_url,
                   "JOB_QUEUE_NAME": queue_name, "RUN_IN_PROCESS_WORKER": "false", "VAPID_PRIVATE_KEY": vapid,
                   "PUBLIC_BASE_URL": "http://127.0.0.1", "CLIP_STORAGE_ROOT": str(tmp / "clips"),
                   "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1"}
            from app import create_app

            say("seeding: 2,025 cameras, 60,000 asks to approve, 250 sessions ...")
            started = time.monotonic()
            # config.py has read the environment already (tests.scratchdb imports it): the same settings, given.
            data = seed(create_app("production", {
                "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"],
                "ENCRYPTION_KEYS": encryption_keys,
                "SESSION_COOKIE_SECURE": False,
                "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 8, "ARGON2_PARALLELISM": 1,
                # 252 sign-ins from one address in a few seconds, before anything is measured.
                "RATELIMIT_ENABLED": False}))
            say(f"seeded in {time.monotonic() - started:.1f} s")

            # The approvals: the warm-up takes the first ids, the measured run the rest.
            approvals = data["approvals"]
            warm, measured = approvals[:len(approvals) // 5], approvals[len(approvals) // 5:]
            for name, rows in (("warm", warm), ("measured", measured)):
                (tmp / f"approve-{name}.txt").write_text("".join(f"{a} {c}\n" for a, c in rows))
            now = datetime.now(UTC)
            window = [(now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=2)).isoformat()]
            north, east = degrees(SPACING_M * (GRID // 2 - 2), SPACING_M * (GRID // 2 - 2))
            create_args = [data["officer"], *window, str(CENTRE[0]), str(CENTRE[1]), f"{north - CENTRE[0]:.6f}",
                           f"{east - CENTRE[1]:.6f}"]

            def run(name: str, url: str, script: str, warm_args: list[str], measured_args: list[str]) -> None:
                path = lua(script, tmp)
                wrk(url, path, warm_args, duration=args.warmup, **wrk_settings)
                result = wrk(url, path, measured_args, duration=args.duration, **wrk_settings)
                say(f"--- {name}\n{result.pop('wrk_output')}")
                results[name] = figures(result)

            gunicorn_args = (args.workers, args.worker_threads)
            with gunicorn("hello_app:app", {}, *gunicorn_args) as base:
                run("hello", f"{base}/", "get", [""], [""])
            with gunicorn("app:create_app()", env, *gunicorn_args) as base:
                session = requests.Session()
                check(session.get(f"{base}/api/asks", headers={"Cookie": data["reader"]}), 200, "inbox")
                run("inbox", f"{base}/api/asks", "get", [data["reader"]], [data["reader"]])
                ask_id, cookie = warm.pop()
                check(session.post(f"{base}/api/asks/{ask_id}/approve", headers={"Cookie": cookie}), 200, "approve")
                (tmp / "approve-warm.txt").write_text("".join(f"{a} {c}\n" for a, c in warm))
                run("approve", base, "approve", [str(tmp / "approve-warm.txt"), str(args.threads)],
                    [str(tmp / "approve-measured.txt"), str(args.threads)])
                body = dict(zip(["latitude", "longitude"], CENTRE, strict=True))
                body.update(radius_m=100, window_start=window[0], window_end=window[1], case_number="LOAD-CHECK",
                            incident_type="burglary", summary="Break-in on this block last night.")
                check(session.post(f"{base}/api/requests", json=body, headers={"Cookie": data["officer"]}), 201,
                      "create")
                run("create", base, "create", create_args, create_args)
            # Again at the end: the machine's other load moves during a run; the ratio's
            # baseline is the mean of the two, and both are reported.
            with gunicorn("hello_app:app", {}, *gunicorn_args) as base:
                run("hello_after", f"{base}/", "get", [""], [""])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(INSTANCE, ignore_errors=True)
        delete_queue(redis_url, queue_name)

    before, after = results["hello"], results.pop("hello_after")
    hello = (before["rps"] + after["rps"]) / 2
    results["hello"] = {**before, "rps": round(hello, 1), "rps_before": before["rps"], "rps_after": after["rps"],
                        "errors": before["errors"] + after["errors"],
                        "p99_ms": max(before["p99_ms"], after["p99_ms"])}
    kinds = {"inbox": "read", "approve": "write", "create": "write"}
    report = {"benchmark": "load", "database": "postgresql", "gunicorn": f"-w {args.workers} --threads "
              f"{args.worker_threads}", "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s",
              "hello": results["hello"], "scenarios": {}, "targets": {"read_ratio": TARGET_READ,
              "write_ratio": TARGET_WRITE, "p99_ms": TARGET_P99_MS, "errors": 0}}
    met = results["hello"]["errors"] == 0
    say(f"\n{'scenario':<10} {'kind':<6} {'req/s':>9} {'x hello':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    say(f"{'hello':<10} {'-':<6} {hello:>9.0f} {1:>8.2f} {results['hello']['p50_ms']:>7.1f} "
        f"{results['hello']['p99_ms']:>7.1f} {results['hello']['errors']:>7}   (before {before['rps']:.0f}, "
        f"after {after['rps']:.0f})")
    for name, kind in kinds.items():
        r = results[name]
        ratio = r["rps"] / hello
        ok = (ratio >= (TARGET_READ if kind == "read" else TARGET_WRITE) and r["p99_ms"] <= TARGET_P99_MS
              and r["errors"] == 0 and r["exhausted"] == 0)
        met = met and ok
        report["scenarios"][name] = {"kind": kind, "ratio": round(ratio, 3), "met": ok, **r}
        say(f"{name:<10} {kind:<6} {r['rps']:>9.0f} {ratio:>8.2f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
            f"{r['errors']:>7}{'' if ok else '   <- target missed'}")
    say(f"targets: reads >= {TARGET_READ}x hello, writes >= {TARGET_WRITE}x, p99 <= {TARGET_P99_MS:.0f} ms, "
        f"zero errors: {'met' if met else 'MISSED'}")
    report["targets_met"] = met
    print(json.dumps(report))


if __name__ == "__main__":
    main()
