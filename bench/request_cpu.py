"""CPU and SQL per request, in-process: the owner's inbox, an approval, the officers' request list.

    .venv/bin/python bench/request_cpu.py [--database sqlite|postgresql] [--requests 300] [--profile 0]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/request_cpu.py --database postgresql

An app built as bench/load.py builds the served one (production settings, Redis as the
queue on PostgreSQL), on a small seeded database (SQLite file, or a scratch PostgreSQL
database beside BENCH_DATABASE_URL's), answers real requests through the Flask test
client: routing, the session cookie, Flask-Login, the route, the response. Each request
is timed with ``time.process_time()`` (this process's CPU: the app's Python and the
driver's, not the database server's) after a warm-up; the medians are reported, with
the statements, transactions and pool checkouts each request made (SQLAlchemy's
events). Scenarios:

- ``inbox``: ``GET /api/asks`` as an owner with 25 asks (session "last seen" fresh);
- ``inbox_first``: the same, as an owner's first call in a while (its session's "last
  seen" is moved back before each request, so the call writes it, as the surge's first
  call of each owner does);
- ``approve``: ``POST /api/asks/<id>/approve``, each request a fresh ask of one owner;
- ``requests``: ``GET /api/requests`` as an officer of an agency with ~``--requests``+25 requests;
- ``refused``: ``GET /api/asks`` with no session cookie (401, no SQL): what the test client, Flask
  and the app's hooks cost around any call, for reference.

Figures are for comparing two versions of the app on one machine in the same run
(alternate them: this file can be run with another checkout's app on ``sys.path`` via
``--root``); a loaded machine moves absolute CPU times a little, ratios much less.
``--profile N`` prints cProfile's top functions over N further requests of each scenario.

``--concurrent T`` then runs approvals from T threads at once for ``--seconds`` (one process, as
a gunicorn worker's threads, each approval a fresh ask of one agency) and reports how long
each held the agency's audit head row: from its ``UPDATE audit_chain_head ... RETURNING``
(which returns once the lock is granted) to the end of its commit; and, from its first
write (the ask's row lock on PostgreSQL, the database's write lock on SQLite), how long it
held the locks a write takes. ``--switch-interval`` sets the interpreter's GIL switch interval.
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

PASSWORD = "bench-password-123"
SECRET = "bench-request-cpu-secret"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def database(kind: str, tmp: Path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    from tests.scratchdb import scratch_pg_database

    with scratch_pg_database(os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                             "request_cpu") as url:
        yield url


def build_app(url: str, kind: str, tmp: Path):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from app import create_app
    from app.audit import signing

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14") if kind == "postgresql" else None
    return create_app("production", {
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": "http://127.0.0.1",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(), "SESSION_COOKIE_SECURE": False,
        "VAPID_SUBJECT": "mailto:bench@porchlight.example.gov",
        "VAPID_PRIVATE_KEY": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
        "AUDIT_SIGNING_KEY": signing.generate_key(), "REDIS_URL": redis_url,
        "JOB_QUEUE_NAME": f"bench-request-cpu-{os.getpid()}", "RUN_IN_PROCESS_WORKER": False,
        # Sign-ins are counted as served (in Redis on PostgreSQL), by this run alone.
        "RATELIMIT_KEY_PREFIX": f"bench-request-cpu-{os.getpid()}",
        "CLIP_STORAGE_ROOT": str(tmp / "clips"), "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 8,
        "ARGON2_PARALLELISM": 1})


def seed(app, approvals: int) -> dict:
    """An agency with an officer; an inbox reader with 25 asks; an approver with ``approvals`` open asks."""
    import pyotp
    import sqlalchemy as sa

    from app.accounts.models import Role, User
    from app.accounts.passwords import hash_password
    from app.agencies.models import Agency
    from app.db import utcnow
    from app.extensions import db
    from app.footage.models import Ask, AskState, FootageRequest, RequestStatus

    with app.app_context():
        db.create_all()
        now = utcnow()
        agency = Agency(name="Riverside Police Department", slug="rpd", timezone="America/Chicago")
        db.session.add(agency)
        db.session.flush()
        password_hash = hash_password(PASSWORD)
        officer = User(role=Role.OFFICER, email="officer@cpu.example", password_hash=password_hash,
                       agency_id=agency.id, totp_secret=pyotp.random_base32(), totp_enabled_at=now)
        reader = User(role=Role.OWNER, email="reader@cpu.example", password_hash=password_hash)
        approver = User(role=Role.OWNER, email="approver@cpu.example", password_hash=password_hash)
        db.session.add_all([officer, reader, approver])
        db.session.flush()

        def active_request(case: str) -> int:
            request = FootageRequest(
                agency_id=agency.id, officer_id=officer.id, case_number=case, incident_type="burglary",
                summary="Break-in on this block last night; looking for two people on foot.",
                latitude=43.0389, longitude=-87.9065, radius_m=100.0,
                window_start=now - timedelta(hours=5), window_end=now - timedelta(hours=4),
                status=RequestStatus.ACTIVE, exceeded_limits=[], created_at=now, activated_at=now,
                expires_at=now + timedelta(hours=72))
            db.session.add(request)
            db.session.flush()
            return request.id

        def ask(request_id: int, owner_id: int, code: int, state: AskState) -> dict:
            return {"request_id": request_id, "camera_id": None, "owner_id": owner_id, "state": state,
                    "reply_code": f"{code:04d}", "distance_m": 42.0, "camera_label": "Porch camera",
                    "created_at": now}

        states = [AskState.NOTIFIED, AskState.SEEN, AskState.APPROVED, AskState.DELIVERED, AskState.DECLINED,
                  AskState.EXPIRED]
        db.session.execute(sa.insert(Ask), [ask(active_request(f"INBOX-{n:02d}"), reader.id, n,
                                                states[n % len(states)]) for n in range(25)])
        db.session.execute(sa.insert(Ask), [ask(active_request(f"SEED-{n:04d}"), approver.id, n, AskState.NOTIFIED)
                                            for n in range(approvals)])
        db.session.commit()
        ask_ids = list(db.session.scalars(sa.select(Ask.id).where(Ask.owner_id == approver.id).order_by(Ask.id)))
        client = app.test_client()

        def cookie(user: User) -> str:
            body = {"login": user.email, "password": PASSWORD}
            if user.totp_secret:
                body["code"] = pyotp.TOTP(user.totp_secret).now()
            client.delete_cookie("porchlight_session")
            response = client.post("/api/auth/signin", json=body)
            assert response.status_code == 200, response.get_data(as_text=True)
            return f"porchlight_session={client.get_cookie('porchlight_session').value}"

        return {"officer": cookie(officer), "reader": cookie(reader), "approver": cookie(approver),
                "reader_id": reader.id, "asks": ask_ids}


class Counter:
    """Statements, commits, rollbacks and pool checkouts of the engine, since the last reset."""

    def __init__(self, engine) -> None:
        import sqlalchemy as sa

        self.reset()
        sa.event.listen(engine, "before_cursor_execute", lambda *a: self._add("statements"))
        sa.event.listen(engine, "commit", lambda *a: self._add("commits"))
        sa.event.listen(engine, "rollback", lambda *a: self._add("rollbacks"))
        sa.event.listen(engine.pool, "checkout", lambda *a: self._add("checkouts"))

    def _add(self, name: str) -> None:
        self.counts[name] += 1

    def reset(self) -> dict:
        counts, self.counts = getattr(self, "counts", None), dict.fromkeys(
            ("statements", "commits", "rollbacks", "checkouts"), 0)
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per scenario")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many more requests per scenario")
    parser.add_argument("--profile-dir", default=None, help="also save each scenario's profile here (pstats)")
    parser.add_argument("--scenarios", default="refused,inbox,inbox_first,approve,requests")
    parser.add_argument("--concurrent", type=int, default=0, help="threads approving at once (0: not run)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval, seconds")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout whose app is measured")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    tmp = Path(tempfile.mkdtemp(prefix="bench-request-cpu-"))
    os.environ["PORCHLIGHT_INSTANCE_DIR"] = str(tmp / "instance")
    scenarios = args.scenarios.split(",")
    try:
        with database(args.database, tmp) as url:
            report = run(url, args, scenarios, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report))


def run(url: str, args, scenarios: list[str], tmp: Path) -> dict:
    import cProfile
    import io
    import pstats

    import sqlalchemy as sa

    from app.accounts.models import UserSession
    from app.db import utcnow
    from app.extensions import db

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    app = build_app(url, args.database, tmp)
    approvals_needed = ((args.warmup + args.requests + args.profile) * (1 + scenarios.count("approve"))
                        + (int(args.concurrent * args.seconds * 80) if args.concurrent else 0))
    data = seed(app, approvals_needed)
    with app.app_context():
        counter = Counter(db.engine)
        engine = db.engine
    client = app.test_client(use_cookies=False)
    asks = iter(data["asks"])
    # "Last seen" moved back on a connection of its own (not counted), before an owner's first call.
    side = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def make_stale() -> None:
        with side.begin() as conn:
            conn.execute(sa.update(UserSession).where(UserSession.user_id == data["reader_id"])
                         .values(last_seen_at=utcnow() - timedelta(hours=1)))

    def call(name: str):
        if name == "refused":
            return client.get("/api/asks"), 401
        if name in ("inbox", "inbox_first"):
            return client.get("/api/asks", headers={"Cookie": data["reader"]}), 200
        if name == "approve":
            return client.post(f"/api/asks/{next(asks)}/approve", headers={"Cookie": data["approver"]}), 200
        return client.get("/api/requests", headers={"Cookie": data["officer"]}), 200

    def one(name: str) -> tuple[float, float, dict]:
        if name == "inbox_first":
            make_stale()
        counter.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        response, expected = call(name)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counts = counter.reset()
        if response.status_code != expected:
            raise SystemExit(f"{name}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return cpu, wall, counts

    import app as package

    report = {"benchmark": "request_cpu", "database": args.database, "app": package.__file__,
              "requests": args.requests, "load_average": [round(x, 2) for x in os.getloadavg()], "scenarios": {}}
    for name in scenarios:
        for _ in range(args.warmup):
            one(name)
        cpus, walls, counts = [], [], []
        for _ in range(args.requests):
            cpu, wall, count = one(name)
            cpus.append(cpu)
            walls.append(wall)
            counts.append(count)
        typical = max(counts, key=counts.count)
        report["scenarios"][name] = {
            "cpu_ms_median": round(statistics.median(cpus) * 1000, 3),
            "cpu_ms_mean": round(statistics.fmean(cpus) * 1000, 3),
            "wall_ms_median": round(statistics.median(walls) * 1000, 3),
            **typical, "atypical_requests": sum(1 for c in counts if c != typical)}
        say(f"{name:<12} cpu median {report['scenarios'][name]['cpu_ms_median']:.3f} ms, wall median "
            f"{report['scenarios'][name]['wall_ms_median']:.3f} ms, {typical}")
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not waits on the database
            for _ in range(args.profile):
                if name == "inbox_first":
                    make_stale()
                profiler.enable()
                call(name)
                profiler.disable()
            if args.profile_dir:
                profiler.dump_stats(str(Path(args.profile_dir) / f"{args.database}-{name}.pstats"))
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(35)
            stats.sort_stats("cumulative").print_stats(60)
            say(f"--- profile of {args.profile} {name} requests\n{out.getvalue()}")
    if args.concurrent:
        report["concurrent"] = concurrent_approvals(app, engine, data["approver"], asks, args.concurrent,
                                                    args.seconds)
    side.dispose()
    with app.app_context():
        db.session.remove()
        engine.dispose()
    return report


def concurrent_approvals(app, engine, cookie: str, asks, threads: int, seconds: float) -> dict:
    """Approvals from ``threads`` threads at once: lock hold times and throughput."""
    import threading

    import sqlalchemy as sa

    from app.extensions import db

    local = threading.local()
    head_holds: list[float] = []
    write_holds: list[float] = []
    bump_waits: list[float] = []
    take = threading.Lock()

    def before(conn, cursor, statement, *_args):
        now = time.perf_counter()
        if getattr(local, "first_write", None) is None and (
                statement.lstrip().startswith(("UPDATE", "INSERT")) or "FOR UPDATE" in statement):
            local.first_write = now
        if statement.startswith("UPDATE audit_chain_head SET length"):
            local.bump_started = now

    def after(conn, cursor, statement, *_args):
        if statement.startswith("UPDATE audit_chain_head SET length"):
            local.bump_done = time.perf_counter()
            bump_waits.append(local.bump_done - local.bump_started)

    def committed(_session):
        now = time.perf_counter()
        if getattr(local, "bump_done", None) is not None:
            head_holds.append(now - local.bump_done)
        if getattr(local, "first_write", None) is not None:
            write_holds.append(now - local.first_write)
        local.bump_done = local.first_write = None

    def rolled_back(_session):
        local.bump_done = local.first_write = None

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    sa.event.listen(db.session, "after_commit", committed)
    sa.event.listen(db.session, "after_rollback", rolled_back)
    done = [0]
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds

    def work():
        client = app.test_client(use_cookies=False)
        while time.perf_counter() < stop_at:
            with take:
                ask_id = next(asks, None)
            if ask_id is None:
                errors.append("ran out of asks")
                return
            response = client.post(f"/api/asks/{ask_id}/approve", headers={"Cookie": cookie})
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.get_data(as_text=True)[:200]}")
                continue
            with take:
                done[0] += 1

    cpu = time.process_time()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cpu = time.process_time() - cpu
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    sa.event.remove(db.session, "after_commit", committed)
    sa.event.remove(db.session, "after_rollback", rolled_back)

    def ms(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3) if values else float("nan")

    result = {"threads": threads, "seconds": seconds, "switch_interval_s": sys.getswitchinterval(),
              "approvals": done[0], "per_second": round(done[0] / seconds, 1), "errors": len(errors),
              "error_samples": errors[:3], "cpu_ms_per_approval": round(cpu / max(done[0], 1) * 1000, 3),
              "head_hold_ms": {"p50": ms(head_holds, 0.5), "p90": ms(head_holds, 0.9), "p99": ms(head_holds, 0.99)},
              "bump_ms": {"p50": ms(bump_waits, 0.5), "p90": ms(bump_waits, 0.9), "p99": ms(bump_waits, 0.99)},
              "write_hold_ms": {"p50": ms(write_holds, 0.5), "p90": ms(write_holds, 0.9),
                                "p99": ms(write_holds, 0.99)}}
    say(f"concurrent approvals, {threads} threads: {result['per_second']}/s, head hold {result['head_hold_ms']} "
        f"ms, bump {result['bump_ms']} ms, write locks held {result['write_hold_ms']} ms, errors {len(errors)}")
    return result


if __name__ == "__main__":
    main()
