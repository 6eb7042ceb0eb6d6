"""Benchmark of the audit chain's head-row lock: time a commit waits for it, one chain vs one per agency.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/audit_lock.py [--writers 8] [--seconds 10] [--rounds 3]

``--writers`` processes, each a writer of its own agency, commit audited changes as fast
as they can for ``--seconds``: each transaction renames its agency (a row no other
writer touches) and records ``agency.renamed`` through app/audit/service.py, whose
commit hook bumps the chain's head row (``UPDATE audit_chain_head ... RETURNING``),
inserts the event and writes the new head hash before the commit. What is timed, per
commit, is that UPDATE statement: on PostgreSQL it returns only once the head row's lock
is granted, so its duration is the wait for the lock (plus one round trip, which a
single writer shows alone). The lock is then held through the commit, WAL flush included.

Two layouts, in the same run, on a scratch database beside BENCH_DATABASE_URL's:

- ``one chain`` (before): every event appended to one chain behind one head row, as
  before 0017: the same code with the chain picker pointed at a single chain (the
  history chain's row, emptied, which takes events of any agency);
- ``per agency`` (after): the code as it is, each agency's events in its own chain.

A single writer (``uncontended``) gives the floor: the UPDATE's cost with nobody to wait
for. Rounds alternate the layouts; medians over every commit of a layout's rounds. The
chains are verified after each round. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Nothing of the benchmark's may land in the checkout's instance/ folder (spawned writers inherit it).
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-audit-lock-instance-"))

HEAD_BUMP = "UPDATE audit_chain_head SET length="


def _app(url: str):
    from app import create_app

    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1}})


def writer(url: str, agency_id: int, layout: str, ready, seconds: float, out) -> None:
    """One writer process: audited commits in its agency until the time is up; sends its timings."""
    import sqlalchemy as sa

    from app.agencies.models import Agency
    from app.audit import service as audit
    from app.audit.models import HISTORY
    from app.extensions import db

    if layout == "one chain":
        # The layout before 0017: every writer's events in one chain, behind one head row.
        # The history chain is that chain (row id 1, events of any agency), emptied for the run.
        audit.chain_for = lambda _agency_id: HISTORY
    app = _app(url)
    waits: list[float] = []
    commits: list[float] = []
    with app.app_context():
        started: dict[int, float] = {}

        def before(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith(HEAD_BUMP):
                started[id(context)] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            began = started.pop(id(context), None)
            if began is not None:
                waits.append(time.perf_counter() - began)

        sa.event.listen(db.engine, "before_cursor_execute", before)
        sa.event.listen(db.engine, "after_cursor_execute", after)
        db.session.execute(sa.select(1))  # connected before the start
        db.session.commit()
        ready.wait()  # every writer (and the sampler) starts together
        deadline, n = time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            n += 1
            began = time.perf_counter()
            db.session.execute(sa.update(Agency).where(Agency.id == agency_id).values(name=f"Agency {agency_id} #{n}"))
            audit.record("agency.renamed", target_type="agency", target_id=agency_id, agency_id=agency_id,
                         details={"n": n})
            db.session.commit()
            commits.append(time.perf_counter() - began)
        db.session.remove()
        db.engine.dispose()
    out.put({"agency_id": agency_id, "waits": waits, "commits": commits})


def run_round(url: str, layout: str, agency_ids: list[int], seconds: float) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    ready = context.Barrier(len(agency_ids) + 1)  # every process imported and connected first
    processes = [context.Process(target=writer, args=(url, agency_id, layout, ready, seconds, out))
                 for agency_id in agency_ids]
    for process in processes:
        process.start()
    lock_waiters = sample_lock_waits(url, ready, seconds)
    results = [out.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    waits = [w for r in results for w in r["waits"]]
    commits = [c for r in results for c in r["commits"]]
    return {"waits": waits, "commits": commits, "per_second": len(commits) / seconds, "lock_waiters": lock_waiters}


def sample_lock_waits(url: str, ready, seconds: float) -> float:
    """PostgreSQL's own view, beside the client's timing: the mean number of the run's
    backends waiting on a lock (pg_stat_activity, sampled every 10 ms)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    samples = []
    with engine.connect() as conn:
        ready.wait(timeout=120)
        deadline = time.perf_counter() + seconds
        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")
        while time.perf_counter() < deadline:
            samples.append(conn.execute(query).scalar())
            conn.commit()
            time.sleep(0.01)
    engine.dispose()
    return statistics.fmean(samples) if samples else float("nan")


def verify(url: str, layout: str) -> str:
    from app.audit import service as audit
    from app.extensions import db

    app = _app(url)
    with app.app_context():
        report = audit.verify_chain()
        db.session.remove()
        db.engine.dispose()
    if not report.ok:
        raise SystemExit(f"the chains do not verify after the {layout} round: {report.problem.message}")
    return f"{len(report.chains)} chains, {report.events_checked} events"


def reset(url: str) -> None:
    """Empty the audit tables between rounds, so each round's chains start alike."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events"))
        conn.execute(sa.text("DELETE FROM audit_chain_head WHERE chain <> 'history'"))
        conn.execute(sa.text("UPDATE audit_chain_head SET length = 0, last_hash = link_hash"))
    engine.dispose()


def ms(values: list[float], q: float | None = None) -> float:
    if not values:
        return float("nan")
    if q is None:
        return round(statistics.median(values) * 1000, 3)
    return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if not pg_url or not pg_url.startswith("postgresql"):
        raise SystemExit("set BENCH_DATABASE_URL to a PostgreSQL database (the head-row lock is PostgreSQL's)")
    if args.writers < 2 or args.seconds <= 0 or args.rounds < 1:
        raise SystemExit("--writers must be at least 2, --seconds positive, --rounds at least 1")

    from tests.scratchdb import scratch_pg_database

    with scratch_pg_database(pg_url, "bench_audit_lock") as url:
        from app.agencies.models import Agency
        from app.extensions import db

        app = _app(url)
        with app.app_context():
            db.create_all()
            agencies = [Agency(name=f"Agency {n}", slug=f"agency-{n}", timezone="America/Chicago")
                        for n in range(args.writers)]
            db.session.add_all(agencies)
            db.session.commit()
            agency_ids = [a.id for a in agencies]
            db.session.remove()
            db.engine.dispose()

        layouts = ["one chain", "per agency"]
        gathered = {layout: {"waits": [], "commits": [], "per_second": [], "lock_waiters": []}
                    for layout in [*layouts, "uncontended"]}
        for round_no in range(1, args.rounds + 1):
            for layout in (layouts if round_no % 2 else layouts[::-1]):
                reset(url)
                result = run_round(url, layout, agency_ids, args.seconds)
                checked = verify(url, layout)
                print(f"round {round_no} {layout:>10}: {len(result['commits'])} commits "
                      f"({result['per_second']:.0f}/s), head-row wait median {ms(result['waits'])} ms, "
                      f"p90 {ms(result['waits'], 90)} ms, backends waiting on a lock {result['lock_waiters']:.2f} "
                      f"(mean); verified {checked}", flush=True)
                for key in ("waits", "commits"):
                    gathered[layout][key] += result[key]
                gathered[layout]["per_second"].append(result["per_second"])
                gathered[layout]["lock_waiters"].append(result["lock_waiters"])
        reset(url)
        floor = run_round(url, "per agency", agency_ids[:1], min(args.seconds, 5.0))
        gathered["uncontended"] = {"waits": floor["waits"], "commits": floor["commits"],
                                   "per_second": [floor["per_second"]], "lock_waiters": [floor["lock_waiters"]]}

    summary = {"writers": args.writers, "seconds": args.seconds, "rounds": args.rounds}
    for layout, data in gathered.items():
        summary[layout] = {"commits": len(data["commits"]),
                           "commits_per_s": round(statistics.median(data["per_second"]), 1),
                           "head_wait_median_ms": ms(data["waits"]), "head_wait_p90_ms": ms(data["waits"], 90),
                           "commit_median_ms": ms(data["commits"]), "commit_p90_ms": ms(data["commits"], 90),
                           "backends_waiting_on_locks": round(statistics.fmean(data["lock_waiters"]), 2)}
    before, after = summary["one chain"], summary["per agency"]
    summary["head_wait_ratio_before_to_after"] = round(before["head_wait_median_ms"] / after["head_wait_median_ms"], 1)
    summary["commit_ratio_before_to_after"] = round(before["commit_median_ms"] / after["commit_median_ms"], 2)
    print()
    print(f"{'layout':<12} {'commits/s':>9} {'wait p50':>9} {'wait p90':>9} {'commit p50':>10} {'commit p90':>10} "
          f"{'lock waiters':>12}  (ms; mean backends waiting)")
    for layout in ("one chain", "per agency", "uncontended"):
        s = summary[layout]
        print(f"{layout:<12} {s['commits_per_s']:>9} {s['head_wait_median_ms']:>9} {s['head_wait_p90_ms']:>9} "
              f"{s['commit_median_ms']:>10} {s['commit_p90_ms']:>10} {s['backends_waiting_on_locks']:>12}")
    print(f"head-row wait per commit, median: one chain / per agency = {summary['head_wait_ratio_before_to_after']}x")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
