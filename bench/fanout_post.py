"""The officer's fan-out POST alone, in-process: CPU per POST, its SQL statements, the collector.

    python bench/fanout_post.py [--owners 1000] [--posts 7] [--sql] [--cprofile out.prof]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/fanout_post.py
    BENCH_DATABASE_URL=... BENCH_REDIS_URL=redis://127.0.0.1:6379/14 python bench/fanout_post.py

The data are bench/fanout.py's (``--owners`` owners, each with a camera in range, shared with
the agency, and a push subscription); the officer signs in, sends the warm-up request, then
``--posts`` requests to all of them through Flask's test client, in this process, with no
worker: nothing is delivered, so nothing competes with the POST (bench/fanout.py measures the
POST over HTTP with delivery running). The owners' open asks pile up from one POST to the next
(none is answered), as in bench/fanout.py's runs.

For each POST: the CPU time of this process and the wall time; SQLAlchemy's cursor events count
the statements the POST sent (an executemany counts once) and time them; the garbage
collector's collections during the POSTs are counted and timed by generation. With REDIS_URL
(BENCH_REDIS_URL) the hand-off to RQ is timed too (a queue of this run's own, deleted after with its jobs).
``--sql`` prints the last POST's statements with their times; ``--cprofile FILE`` profiles the
POSTs. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# Nothing of the benchmark's may land in the checkout's instance/ folder.
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-fanout-post-instance-"))

import pyotp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402


def subscriptions(count: int) -> list[dict]:
    """Push subscriptions as browsers make them (nothing is sent to them here)."""
    found = []
    for i in range(count):
        public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        found.append({"endpoint": f"http://127.0.0.1:9/push/{i}", "keys": {
            "p256dh": base64.urlsafe_b64encode(public).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()}})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=7)
    parser.add_argument("--sql", action="store_true", help="print the last POST's statements and their times")
    parser.add_argument("--cprofile", metavar="FILE", help="write a cProfile of the POSTs to FILE")
    args = parser.parse_args()

    import fanout

    from app import create_app
    from app.extensions import db
    from app.notifications import queue

    pg_url, redis_url = os.environ.get("BENCH_DATABASE_URL"), os.environ.get("BENCH_REDIS_URL")
    vapid = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with fanout.database(pg_url) as uri:
        config = fanout.app_config(uri, "rq" if redis_url else "embedded", redis_url,
                                   f"bench-post-{uuid.uuid4().hex[:8]}", vapid, "http://127.0.0.1:5000")
        config["RUN_IN_PROCESS_WORKER"] = False  # nothing delivers: the POST alone
        app = create_app("development", config)
        login = fanout.seed(app, args.owners, subscriptions(args.owners))
        client = app.test_client()
        signed_in = client.post("/api/auth/signin", json={"login": login[0], "password": login[1],
                                                          "code": pyotp.TOTP(login[2]).now()})
        assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
        warm = client.post("/api/requests", json=fanout.request_body("warm-up", radius_m=30.0))
        assert warm.status_code == 201, warm.get_data(as_text=True)

        recording = {"on": False, "statements": [], "handoff_ms": []}
        with app.app_context():
            engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _started(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_started"] = time.perf_counter()

        @sa.event.listens_for(engine, "after_cursor_execute")
        def _ended(conn, cursor, statement, parameters, context, executemany):
            if recording["on"]:
                ms = (time.perf_counter() - conn.info["bench_started"]) * 1000
                recording["statements"].append((round(ms, 2), " ".join(statement.split())[:150]))

        hand_off = queue._hand_off

        def timed_hand_off(*a, **kw):
            started = time.perf_counter()
            hand_off(*a, **kw)
            recording["handoff_ms"].append(round((time.perf_counter() - started) * 1000, 2))

        queue._hand_off = timed_hand_off
        collections = {"started": 0.0, "count": [0, 0, 0], "ms": [0.0, 0.0, 0.0]}

        def collected(phase: str, info: dict) -> None:
            if phase == "start":
                collections["started"] = time.perf_counter()
            elif recording["on"]:
                collections["count"][info["generation"]] += 1
                collections["ms"][info["generation"]] += (time.perf_counter() - collections["started"]) * 1000

        gc.callbacks.append(collected)
        profile = cProfile.Profile() if args.cprofile else None
        cpu, wall, statements, last = [], [], [], []
        try:
            for n in range(args.posts):
                recording["statements"] = []
                recording["on"] = True
                cpu0, wall0 = time.process_time(), time.perf_counter()
                if profile:
                    profile.enable()
                response = client.post("/api/requests", json=fanout.request_body(f"post-{n + 1}"))
                if profile:
                    profile.disable()
                wall.append((time.perf_counter() - wall0) * 1000)
                cpu.append((time.process_time() - cpu0) * 1000)
                recording["on"] = False
                assert response.status_code == 201, response.get_data(as_text=True)
                assert response.json["asks_total"] == args.owners, response.json
                statements.append(len(recording["statements"]))
                last = recording["statements"]
        finally:
            gc.callbacks.remove(collected)
            queue._hand_off = hand_off
            if redis_url:  # the jobs nobody worked, and the queue
                connection = queue.redis_connection(app)
                queue.rq_queue(app, connection).delete(delete_jobs=True)
                connection.close()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    if args.sql:
        for ms, text in last:
            print(f"{ms:8.2f} ms  {text}", file=sys.stderr)
    if profile:
        profile.dump_stats(args.cprofile)
    report = {"owners": args.owners, "posts": args.posts, "database": "postgresql" if pg_url else "sqlite",
              "queue": "rq" if redis_url else "embedded",
              "cpu_ms": [round(x, 1) for x in cpu], "cpu_ms_median": round(statistics.median(cpu), 1),
              "wall_ms": [round(x, 1) for x in wall], "wall_ms_median": round(statistics.median(wall), 1),
              "statements": statements, "sql_ms_last_post": round(sum(ms for ms, _ in last), 1),
              "handoff_ms": recording["handoff_ms"] if redis_url else None,
              "gc_collections": collections["count"], "gc_ms": [round(x, 1) for x in collections["ms"]]}
    print(f"{args.posts} POSTs to {args.owners} owners ({report['database']}, {report['queue']}): CPU "
          f"{report['cpu_ms_median']} ms median {report['cpu_ms']}, wall {report['wall_ms_median']} ms median; "
          f"{statements[-1]} statements; collections by generation {collections['count']}, "
          f"{report['gc_ms']} ms", file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
