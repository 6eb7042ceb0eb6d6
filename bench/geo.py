"""Benchmark of the radius search: ``cameras_within`` on SQLite and PostgreSQL.

    python bench/geo.py [--cameras 1000000] [--queries 1000] [--scan-queries 20]
                        [--downtown-share 0.05] [--seed 2] [--gc-freeze] [--sqlite-only|--postgresql-only]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/geo.py

Builds its own schema in a temporary SQLite file and, when ``BENCH_DATABASE_URL`` is
set, in a scratch PostgreSQL database created beside it and dropped afterwards. It
loads N cameras spread over a 50 km x 50 km metro area around Milwaukee, a share of
them (5 % by default) packed into a 2 km x 2 km downtown, then times 500 m queries
through the real service function inside an app context:

- ``metro``: query centres uniform over the metro area (where an incident can be);
- ``downtown``: query centres uniform over the downtown square (the worst case);
- ``officer``: the metro queries as the officer route asks them (``agency_id`` and
  ``active_only``);
- ``full_scan``: the first ``--scan-queries`` metro queries again through the same
  function after ``DROP INDEX ix_cameras_geo``, so the database must read every row;
  the ratio is the scan's median over the indexed median of the same queries;
- ``core_statement``: the metro and officer sets through the search in its two earlier
  forms (a SQLAlchemy Core statement, its rows made into Row objects; then SQL text that
  fetches the whole bounding box, before the plane test of ``geo.flat_bound``) interleaved
  with the search as it is, three times: before and after in one run;
- PostgreSQL only, ``without_include``: the three sets again on the index as it was
  before migration 0018 (no ``INCLUDE (id, status)``), then the metro set once more on
  the covering index: before and after in one run.

Each query runs in an open transaction on a connection already checked out, as in a
request that has loaded its user; times are ``time.perf_counter`` around the call,
after a warm-up. ``--gc-freeze`` moves the objects the app made at start-up out of the
garbage collector's reach before timing (``gc.freeze()``, as a tuned server would).
The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.accounts.models import Role, User  # noqa: E402
from app.agencies.models import Agency  # noqa: E402
from app.cameras import geo  # noqa: E402
from app.cameras import service as camera_service  # noqa: E402
from app.cameras.models import Camera, CameraStatus, camera_shares  # noqa: E402
from app.cameras.service import cameras_within  # noqa: E402
from app.extensions import db  # noqa: E402
from tests import scratchdb  # noqa: E402

CENTRE = (43.0389, -87.9065)  # Milwaukee City Hall
METRO_M = 50_000.0
DOWNTOWN_M = 2_000.0
RADIUS_M = 500.0
TARGET_P50_MS, TARGET_P99_MS = 5.0, 20.0
TARGET_PG_METRO_P50_MS = 1.0  # issue 16
PAUSED_SHARE = 0.05
WARMUP = 100
M_PER_DEG_LAT = geo.EARTH_RADIUS_M * math.pi / 180

CAMERA_COLUMNS = ("owner_id", "label", "latitude", "longitude", "lat_band", "field_of_view", "retention_days",
                  "mode", "status", "public_attestation", "attested_at", "blackout_windows", "created_at",
                  "updated_at", "confirmed_at")


def square(rng: np.random.Generator, n: int, side_m: float) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform over a square of side ``side_m`` centred on the city centre."""
    north = rng.uniform(-side_m / 2, side_m / 2, n)
    east = rng.uniform(-side_m / 2, side_m / 2, n)
    lat = CENTRE[0] + north / M_PER_DEG_LAT
    lon = CENTRE[1] + east / (M_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])))
    return lat, lon


def camera_positions(rng: np.random.Generator, n: int, downtown_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (arrays: a million Python tuples would weigh on the GC)."""
    n_down = round(n * downtown_share)
    lat_m, lon_m = square(rng, n - n_down, METRO_M)
    lat_d, lon_d = square(rng, n_down, DOWNTOWN_M)
    lat, lon = np.concatenate([lat_m, lat_d]), np.concatenate([lon_m, lon_d])
    # Insertion order is registration order, unrelated to position: shuffle.
    order = rng.permutation(n)
    return lat[order], lon[order]


def camera_rows(positions: tuple[np.ndarray, np.ndarray], owner_id: int, rng: np.random.Generator,
                sqlite: bool) -> Iterator[tuple]:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    lats, lons = positions
    paused = (rng.random(len(lats)) < PAUSED_SHARE).tolist()
    for i, (lat, lon) in enumerate(zip(lats.tolist(), lons.tolist(), strict=True)):
        yield (owner_id, f"Camera {i + 1}", lat, lon, geo.lat_band(lat), 90, 30, "register",
               "paused" if paused[i] else "active", True, stamp, "[]", stamp, stamp, stamp)


# --- databases -------------------------------------------------------------------------

@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-geo-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"


def scratch_pg_database(url: str):
    return scratchdb.scratch_pg_database(url, "bench_geo")


def load(positions: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> int:
    """Schema, one owner, one agency every camera is shared with, then the cameras in bulk.

    Returns the agency's id.
    """
    db.create_all()
    owner = User(role=Role.OWNER, email="bench@example.com", password_hash="-")
    agency = Agency(name="Bench Police Department", slug="bench", timezone="America/Chicago")
    db.session.add_all([owner, agency])
    db.session.commit()
    owner_id, agency_id = owner.id, agency.id
    db.session.remove()
    sqlite = db.engine.dialect.name == "sqlite"
    columns = ", ".join(CAMERA_COLUMNS)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = camera_rows(positions, owner_id, rng, sqlite)
        if sqlite:
            cur.execute("PRAGMA synchronous=OFF")
            cur.executemany(f"INSERT INTO cameras ({columns}) VALUES ({', '.join('?' * len(CAMERA_COLUMNS))})",
                            rows)
            cur.execute("INSERT INTO camera_shares (camera_id, agency_id) SELECT id, ? FROM cameras", (agency_id,))
            raw.commit()
            cur.execute("ANALYZE")
        else:
            with cur.copy(f"COPY cameras ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute("INSERT INTO camera_shares (camera_id, agency_id) SELECT id, %s FROM cameras", (agency_id,))
            raw.commit()
            raw.driver_connection.autocommit = True
            # The visibility map lets PostgreSQL answer from the index alone where it can.
            cur.execute("VACUUM ANALYZE")
            raw.driver_connection.autocommit = False
        cur.close()
    finally:
        raw.close()
    return agency_id


def query_plan() -> str:
    """The plan of the SQL that ``cameras_within`` emits (captured, then explained)."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM cameras" in statement and not statement.lstrip().upper().startswith("EXPLAIN"):
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        cameras_within(*CENTRE, RADIUS_M)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
        db.session.rollback()  # an open transaction would block DROP INDEX on PostgreSQL
    statement, parameters = seen[-1]
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            return " | ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters)]
    # The plan's nodes, without their conditions.
    return " | ".join(line.strip().removeprefix("-> ") for line in lines if "Scan" in line or "Gather" in line)


# --- timing --------------------------------------------------------------------------

def cameras_within_core(latitude: float, longitude: float, radius_m: float, *, agency_id: int | None = None,
                        active_only: bool = False) -> list:
    """The search as it was before its candidates' query became SQL text: the baseline.

    ``within_query`` as it was then: the whole bounding box, no plane test."""
    c = Camera.__table__.c
    box = geo.bounding_box(latitude, longitude, radius_m)
    query = sa.select(c.id, c.latitude, c.longitude).where(camera_service._bbox_condition(box, None))
    if agency_id is not None:
        query = query.where(sa.exists().where(
            camera_shares.c.camera_id == c.id, camera_shares.c.agency_id == agency_id))
    if active_only:
        query = query.where(c.status == CameraStatus.ACTIVE)
    candidates = db.session.execute(query).all()
    return [camera_service.CameraHit(camera_id, lat, lon, distance)
            for distance, camera_id, lat, lon in geo.points_within(latitude, longitude, radius_m, candidates)]


def cameras_within_box(latitude: float, longitude: float, radius_m: float, *, agency_id: int | None = None,
                       active_only: bool = False) -> list:
    """The search as SQL text without the plane test, every candidate of the box fetched: the baseline
    of the flat bound (``geo.flat_bound``)."""
    box = geo.bounding_box(latitude, longitude, radius_m)
    candidates = camera_service._candidates(box, None, agency_id=agency_id, active_only=active_only)
    return [camera_service.CameraHit(camera_id, lat, lon, distance)
            for distance, camera_id, lat, lon in geo.points_within(latitude, longitude, radius_m, candidates)]


EARLIER_FORMS = (("core", "as a Core statement", cameras_within_core),
                 ("box", "as SQL text, the whole box", cameras_within_box),
                 ("text", "as SQL text with the plane test (now)", cameras_within))


def compare_core_statement(metro, agency_id: int, say: Callable[[str], None]) -> dict:
    """The metro and officer sets through each earlier form of the search and the current one, alternating."""
    sets = {"metro": {}, "officer": {"agency_id": agency_id, "active_only": True}}
    medians: dict = {key: {way: [] for way, _, _ in EARLIER_FORMS} for key in sets}
    for _ in range(3):
        for key, filters in sets.items():
            for way, _, search in EARLIER_FORMS:
                medians[key][way].append(summary(*run(metro, search=search, **filters)[:2])["p50_ms"])
    figures = {}
    for key, ways in medians.items():
        p50 = {way: statistics.median(times) for way, times in ways.items()}
        figures[key] = {f"{way}_p50_ms": round(ms, 3) for way, ms in p50.items()}
        figures[key]["ratio"] = round(p50["core"] / p50["text"], 2)
        figures[key]["box_ratio"] = round(p50["box"] / p50["text"], 2)
        say(f"{'':13}{key:9} p50 " + ", ".join(f"{p50[way]:.2f} ms {words}" for way, words, _ in EARLIER_FORMS)
            + f": {figures[key]['ratio']}x and {figures[key]['box_ratio']}x")
    return figures


def run(points: list[tuple[float, float]], keep: int = 0, search=cameras_within,
        **filters) -> tuple[list[float], list[int], list[list]]:
    """Milliseconds per query, hits per query, and the hits of the first ``keep`` queries.

    Only a few results are kept: a server holds one query's hits at a time, and keeping
    millions of objects alive would bill the benchmark for the garbage collector.
    """
    times, counts, kept = [], [], []
    for lat, lon in points:
        db.session.rollback()
        db.session.execute(sa.text("SELECT 1"))  # connection checked out, transaction begun
        t0 = time.perf_counter()
        hits = search(lat, lon, RADIUS_M, **filters)
        times.append((time.perf_counter() - t0) * 1000)
        counts.append(len(hits))
        if len(kept) < keep:
            kept.append(hits)
    db.session.rollback()
    return times, counts, kept


def summary(times: list[float], counts: list[int], _kept=None) -> dict:
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
        "max_ms": round(max(times), 3),
        "mean_hits": round(statistics.fmean(counts), 1),
        "max_hits": max(counts),
    }


def _rebuild_geo_index(include: bool) -> None:
    """ix_cameras_geo again, as migration 0018 makes it (INCLUDE (id, status)) or as before it."""
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_cameras_geo"))
        conn.execute(sa.text("CREATE INDEX ix_cameras_geo ON cameras (lat_band, longitude, latitude)"
                             + (" INCLUDE (id, status)" if include else "")))
        conn.execute(sa.text("ANALYZE cameras"))


def compare_plain_index(metro, downtown, agency_id: int, figures: dict, say: Callable[[str], None]) -> dict:
    """PostgreSQL: the same queries on the index without INCLUDE (before migration 0018), then the
    metro set once more on the covering index, so before and after come from one run and the
    order of the runs (caches warming) does not decide the comparison."""
    before: dict = {}
    _rebuild_geo_index(include=False)
    before["plan"] = query_plan()
    before["metro"] = summary(*run(metro)[:2])
    before["officer"] = summary(*run(metro, agency_id=agency_id, active_only=True)[:2])
    before["downtown"] = summary(*run(downtown)[:2])
    _rebuild_geo_index(include=True)
    again = summary(*run(metro)[:2])
    after_p50 = statistics.median([figures["metro"]["p50_ms"], again["p50_ms"]])
    before["metro_covering_again"] = again
    before["officer_covering_again"] = summary(*run(metro, agency_id=agency_id, active_only=True)[:2])
    before["metro_p50_ratio"] = round(before["metro"]["p50_ms"] / after_p50, 2)
    say(f"[postgresql] without INCLUDE (plan: {before['plan']}):")
    for key in ("metro", "downtown", "officer"):
        f = before[key]
        say(f"[postgresql] {key:9} p50 {f['p50_ms']:7.2f} ms  p99 {f['p99_ms']:7.2f} ms  (with INCLUDE "
            f"{figures[key]['p50_ms']:.2f} ms)")
    say(f"[postgresql] on the covering index again: metro p50 {again['p50_ms']:.2f} ms, officer p50 "
        f"{before['officer_covering_again']['p50_ms']:.2f} ms; metro without INCLUDE "
        f"{before['metro']['p50_ms']:.2f} ms, {before['metro_p50_ratio']}x the covering index's")
    return before


def bench_database(name: str, uri: str, positions, metro, downtown, scan_n: int, gc_freeze: bool,
                   rng: np.random.Generator, say: Callable[[str], None]) -> dict:
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": uri})
    figures: dict = {}
    with app.app_context():
        t0 = time.perf_counter()
        agency_id = load(positions, rng)
        figures["load_s"] = round(time.perf_counter() - t0, 1)
        say(f"[{name}] loaded {len(positions[0]):,} cameras in {figures['load_s']} s")
        figures["plan"] = query_plan()
        say(f"[{name}] plan: {figures['plan']}")

        warm = [tuple(p) for p in zip(*square(rng, WARMUP, METRO_M), strict=True)]
        run(warm)
        run(warm[:20], agency_id=agency_id, active_only=True)
        if gc_freeze:
            gc.collect()
            gc.freeze()

        metro_times, metro_counts, metro_hits = run(metro, keep=scan_n)
        figures["metro"] = summary(metro_times, metro_counts)
        figures["downtown"] = summary(*run(downtown))
        figures["officer"] = summary(*run(metro, agency_id=agency_id, active_only=True))
        for key in ("metro", "downtown", "officer"):
            f = figures[key]
            say(f"[{name}] {key:9} p50 {f['p50_ms']:7.2f} ms  p99 {f['p99_ms']:7.2f} ms  "
                f"max {f['max_ms']:7.2f} ms  ({f['mean_hits']} cameras a query)")

        say(f"[{name}] the candidates' query in its earlier forms and now, alternating (medians of 3):")
        figures["core_statement"] = compare_core_statement(metro, agency_id, say)
        if name == "postgresql":
            figures["without_include"] = compare_plain_index(metro, downtown, agency_id, figures, say)

        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_cameras_geo"))
            conn.execute(sa.text("ANALYZE"))
        scan_plan = query_plan()
        scan_times, _, scan_hits = run(metro[:scan_n], keep=scan_n)
        if scan_hits != metro_hits:
            raise SystemExit(f"[{name}] the full scan found different cameras than the index")
        indexed_p50 = statistics.median(metro_times[:scan_n])
        scan_p50 = statistics.median(scan_times)
        figures["full_scan"] = {
            "queries": scan_n, "p50_ms": round(scan_p50, 2), "indexed_p50_ms": round(indexed_p50, 3),
            "ratio": round(scan_p50 / indexed_p50, 1), "plan": scan_plan,
        }
        say(f"[{name}] full scan p50 {scan_p50:.1f} ms vs indexed {indexed_p50:.2f} ms on the same "
            f"{scan_n} queries: {figures['full_scan']['ratio']}x  (plan: {scan_plan})")
        figures["meets_target"] = all(
            figures[k]["p50_ms"] <= TARGET_P50_MS and figures[k]["p99_ms"] <= TARGET_P99_MS
            for k in ("metro", "officer"))
        if name == "postgresql":
            # Issue 16: metro p50 <= 1 ms on PostgreSQL.
            figures["meets_issue16_target"] = figures["metro"]["p50_ms"] <= TARGET_PG_METRO_P50_MS
        db.session.remove()
        db.engine.dispose()
    gc.unfreeze()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--scan-queries", type=int, default=20)
    parser.add_argument("--downtown-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgresql-only", action="store_true")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() the app's objects before timing, as a tuned server would")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    rng = np.random.default_rng(args.seed)
    positions = camera_positions(rng, args.cameras, args.downtown_share)
    metro = [tuple(p) for p in zip(*square(rng, args.queries, METRO_M), strict=True)]
    downtown = [tuple(p) for p in zip(*square(rng, args.queries, DOWNTOWN_M), strict=True)]
    say(f"{args.cameras:,} cameras over {METRO_M / 1000:.0f} km x {METRO_M / 1000:.0f} km, "
        f"{args.downtown_share:.0%} in a {DOWNTOWN_M / 1000:.0f} km x {DOWNTOWN_M / 1000:.0f} km downtown; "
        f"{args.queries} queries of {RADIUS_M:.0f} m")

    report: dict = {"cameras": args.cameras, "queries": args.queries, "radius_m": RADIUS_M,
                    "downtown_share": args.downtown_share, "seed": args.seed, "gc_freeze": args.gc_freeze,
                    "target": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS}}
    scan_n = min(args.scan_queries, args.queries)
    with sqlite_database() as uri:
        if args.postgresql_only:
            say("--postgresql-only: SQLite skipped")
        else:
            report["sqlite"] = bench_database("sqlite", uri, positions, metro, downtown, scan_n, args.gc_freeze,
                                              np.random.default_rng(args.seed + 1), say)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if pg_url and not args.sqlite_only:
        with scratch_pg_database(pg_url) as uri:
            report["postgresql"] = bench_database("postgresql", uri, positions, metro, downtown, scan_n, args.gc_freeze,
                                                  np.random.default_rng(args.seed + 1), say)
    else:
        say("BENCH_DATABASE_URL is not set: PostgreSQL skipped")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
