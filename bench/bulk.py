"""Benchmark of bulk enrollment: a district manager's member spreadsheet, dry run plus commit.

    python bench/bulk.py                                        # SQLite
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/bulk.py   # SQLite, then PostgreSQL
    python bench/bulk.py --rows 10000 --big-rows 100000 --databases sqlite

For each database the app runs in a server process of its own (werkzeug, one thread,
the real app and config), so its memory is the import's alone. The script signs a
district manager in over HTTP and, for each file:

- ``POST /api/district/imports`` with the CSV (the dry run: parse, validate, stage,
  match, report), then ``POST /api/district/imports/<id>/commit`` (members and their
  single-use enrollment codes, one transaction);
- times each call (round trip, as the manager's browser sees it);
- measures the server's memory: the kernel's peak resident set (VmHWM) is reset
  through /proc/<pid>/clear_refs before the call and read after it, so
  ``peak_growth_mib`` is how far the process grew above where it stood before the call,
  and ``peak_rss_mib`` the process's whole peak during it.

Files: ``--rows`` (10,000) new members, then the same file uploaded again (every row
unchanged: the re-upload case), in one server process; ``--big-rows`` (100,000) new
members in a second district, in a fresh server process, so that its growth starts
where the 10,000-row file's did: memory must not grow with the file. Rows are
generated (UTF-8, comma-separated, every column filled: reference, business, contact,
a valid US mobile number, e-mail, address, coordinates, cameras). A 50-row warm-up
import runs first in each server, so one-time imports and caches are not counted.
PostgreSQL figures use a scratch database beside BENCH_DATABASE_URL's, dropped at the
end.

Every import must count what its file holds (all rows new, or on the re-upload all
unchanged) in its dry run and its commit: otherwise the script stops with an error, as
a fast import that imported nothing is no figure.

Target: 10,000 rows (dry run + commit) in <= 5 s and <= 200 MiB. The human summary
goes to stderr; the last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Nothing of the benchmark's may land in the checkout's instance/ folder.
os.environ.setdefault("PORCHLIGHT_INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-bulk-instance-"))

import requests  # noqa: E402

PASSWORD = "bench-password-123"
TARGET_SECONDS, TARGET_MIB = 5.0, 200.0
MIB = 1024 * 1024


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the member file --------------------------------------------------------------------------------

STREETS = ["N Water St", "E Wisconsin Ave", "N Broadway", "W Canal St", "S 2nd St", "N Old World 3rd St",
           "E Ogden Ave", "W North Ave", "N Jefferson St", "E Erie St"]
KINDS = ["Bakery", "Books", "Cycles", "Deli", "Hardware", "Pharmacy", "Tailor", "Cafe", "Market", "Salon"]


def write_members(path: Path, rows: int, prefix: str, seed: int = 5) -> int:
    """A CSV of ``rows`` distinct members; returns its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["member_ref", "business_name", "contact_name", "phone", "email", "address", "latitude",
                         "longitude", "cameras"])
        for i in range(rows):
            # Distinct valid US numbers: exchanges 200-999 of area code 414, 10,000 lines each.
            phone = f"+1 414 {200 + i // 10_000:03d} {i % 10_000:04d}"
            writer.writerow([f"{prefix}-{i:06d}", f"{KINDS[i % 10]} No. {i}", f"Contact Person {i}", phone,
                             f"member{i}@{prefix.lower()}-shop{i % 97}.example",
                             f"{100 + i % 900} {STREETS[i % 10]}, Milwaukee",
                             f"{43.0 + rng.random() * 0.1:.6f}", f"{-87.95 + rng.random() * 0.1:.6f}",
                             rng.randint(0, 6)])
    return path.stat().st_size


# --- the server process -------------------------------------------------------------------------

def serve(config_json: str) -> None:
    """Run the app on a free port (printed on stdout) until stdin closes."""
    import logging
    import threading

    from werkzeug.serving import make_server

    from app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app("development", json.loads(config_json))
    server = make_server("127.0.0.1", 0, app, threaded=False)
    print(server.server_port, flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


def start_server(config: dict) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(config)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = process.stdout.readline().strip()
    if not port:
        raise RuntimeError("the benchmark server did not start")
    return process, f"http://127.0.0.1:{port}"


def _status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux 4.0+)
        return True
    except OSError:
        return False


def timed(pid: int, call) -> tuple[requests.Response, dict]:
    resettable = _reset_peak(pid)
    before = _status(pid)["VmRSS"]
    t0 = time.perf_counter()
    response = call()
    seconds = time.perf_counter() - t0
    after = _status(pid)
    return response, {"seconds": round(seconds, 3), "rss_before_mib": round(before / MIB, 1),
                      "peak_rss_mib": round(after["VmHWM"] / MIB, 1),
                      "peak_growth_mib": round((after["VmHWM"] - before) / MIB, 1) if resettable else None}


# --- databases and data ----------------------------------------------------------------------------

@contextmanager
def database(kind: str, pg_url: str | None):
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    from tests.scratchdb import scratch_pg_database

    with scratch_pg_database(pg_url, "bench_bulk") as url:
        yield url


def seed(config: dict) -> list[str]:
    """An agency with two districts, a manager for each; returns their logins."""
    from app import create_app
    from app.accounts.models import Role, User
    from app.accounts.passwords import hash_password
    from app.agencies.models import Agency, District
    from app.extensions import db

    app = create_app("development", config)
    with app.app_context():
        db.create_all()
        agency = Agency(name="Riverside Police Department", slug="rpd", timezone="America/Chicago")
        db.session.add(agency)
        db.session.flush()
        logins = []
        for n, name in enumerate(("Downtown BID", "Harbor District", "Warm-up District")):
            district = District(agency_id=agency.id, name=name)
            db.session.add(district)
            db.session.flush()
            email = f"manager{n}@bench.example"
            db.session.add(User(role=Role.MANAGER, email=email, password_hash=hash_password(PASSWORD),
                                district_id=district.id))
            logins.append(email)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return logins


def signed_in(base_url: str, login: str) -> requests.Session:
    session = requests.Session()
    session.post(f"{base_url}/api/auth/signin", json={"login": login, "password": PASSWORD},
                 timeout=30).raise_for_status()
    return session


def run_file(session: requests.Session, base_url: str, pid: int, path: Path, label: str, rows: int,
             fresh: bool) -> dict:
    """Dry run and commit of one file of ``rows`` members, every one new (``fresh``) or every one
    already imported; stops the benchmark if the import counted them otherwise."""
    body = path.read_bytes()

    def check():
        return session.post(f"{base_url}/api/district/imports", files={"file": (path.name, body, "text/csv")},
                            timeout=600)

    response, dry = timed(pid, check)
    if response.status_code != 201:
        raise RuntimeError(f"{label}: dry run answered {response.status_code}: {response.text[:300]}")
    report = response.json()
    if report["status"] != "validated":
        raise RuntimeError(f"{label}: the file was rejected: {report['problems'][:3]}")
    response, done = timed(pid, lambda: session.post(f"{base_url}/api/district/imports/{report['id']}/commit",
                                                     timeout=600))
    if response.status_code != 200:
        raise RuntimeError(f"{label}: commit answered {response.status_code}: {response.text[:300]}")
    result = {k: response.json()[k] for k in ("created", "updated", "unchanged")}
    # A fast import that did not import is no figure: the counts must be what the file holds.
    new, unchanged = (rows, 0) if fresh else (0, rows)
    if report["rows_total"] != rows or report["summary"] != {"new": new, "updated": 0, "unchanged": unchanged}:
        raise RuntimeError(f"{label}: the dry run counted {report['rows_total']} rows, {report['summary']}; "
                           f"the file has {rows}, {'all new' if fresh else 'all imported before'}")
    if result != {"created": new, "updated": 0, "unchanged": unchanged}:
        raise RuntimeError(f"{label}: the commit reported {result} for {rows} rows, "
                           f"{'all new' if fresh else 'all imported before'}")
    return {"rows": report["rows_total"], "bytes": len(body), "summary": report["summary"], "result": result,
            "dry_run": dry, "commit": done,
            "total_seconds": round(dry["seconds"] + done["seconds"], 3),
            "peak_growth_mib": max(dry["peak_growth_mib"] or 0, done["peak_growth_mib"] or 0),
            "peak_rss_mib": max(dry["peak_rss_mib"], done["peak_rss_mib"])}


def bench_database(kind: str, pg_url: str | None, files: dict[str, Path], rows: dict[str, int]) -> dict:
    """Each measured file in a fresh server process (after a warm-up), so every growth starts alike."""
    with database(kind, pg_url) as uri:
        config = {"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench-secret-key", "RUN_IN_PROCESS_WORKER": False,
                  "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 8, "ARGON2_PARALLELISM": 1,
                  "PUBLIC_BASE_URL": "http://porchlight.bench", "DISTRICT_IMPORT_MAX_ROWS": 1_000_000,
                  "DISTRICT_IMPORT_MAX_BYTES": 200 * MIB}
        logins = seed(config)
        results: dict = {}
        # Server 1: the 10,000-row file, then the same file again. Server 2: the 100,000-row file.
        # (label, login, file, every row new?)
        for number, server_runs in enumerate(([("new", logins[0], "new", True), ("again", logins[0], "new", False)],
                                              [("big", logins[1], "big", True)])):
            process, base_url = start_server(config)
            try:
                pid = process.pid
                warm = signed_in(base_url, logins[2])
                # The warm-up file is new to the first server's database only.
                run_file(warm, base_url, pid, files["warm"], "warm-up", rows["warm"], fresh=number == 0)
                warm.close()
                results.setdefault("idle_rss_mib", []).append(round(_status(pid)["VmRSS"] / MIB, 1))
                sessions: dict[str, requests.Session] = {}
                for label, login, name, fresh in server_runs:
                    session = sessions.setdefault(login, signed_in(base_url, login))
                    results[label] = run_file(session, base_url, pid, files[name], label, rows[name], fresh)
                    say(line(kind, {"new": "new", "again": "same file again", "big": "new, big"}[label],
                             results[label]))
                for session in sessions.values():
                    session.close()
            finally:
                process.stdin.close()
                process.wait(30)
    return results


def line(kind: str, label: str, r: dict) -> str:
    return (f"{kind:10} {label:16} {r['rows']:>7,} rows ({r['bytes'] / MIB:5.1f} MiB): dry run "
            f"{r['dry_run']['seconds']:6.2f} s, commit {r['commit']['seconds']:6.2f} s, total "
            f"{r['total_seconds']:6.2f} s; peak growth {r['peak_growth_mib']:6.1f} MiB "
            f"(process peak {r['peak_rss_mib']:.1f} MiB); {r['result']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--big-rows", type=int, default=100_000)
    parser.add_argument("--databases", default=None,
                        help="comma-separated: sqlite,postgresql (default: sqlite, and postgresql when "
                             "BENCH_DATABASE_URL is set)")
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    kinds = args.databases.split(",") if args.databases else ["sqlite"] + (["postgresql"] if pg_url else [])
    if "postgresql" in kinds and not pg_url:
        parser.error("postgresql needs BENCH_DATABASE_URL")
    report: dict = {"rows": args.rows, "big_rows": args.big_rows, "cpus": os.cpu_count(),
                    "target": {"seconds": TARGET_SECONDS, "mib": TARGET_MIB}}
    with tempfile.TemporaryDirectory(prefix="bench-bulk-files-") as tmp:
        files = {"warm": Path(tmp) / "warm.csv", "new": Path(tmp) / f"members-{args.rows}.csv",
                 "big": Path(tmp) / f"members-{args.big_rows}.csv"}
        rows = {"warm": 50, "new": args.rows, "big": args.big_rows}
        write_members(files["warm"], rows["warm"], "W")
        write_members(files["new"], rows["new"], "BID")
        write_members(files["big"], rows["big"], "HBR")
        for kind in kinds:
            say(f"{kind}: {args.rows:,} and {args.big_rows:,} member rows ...")
            result = bench_database(kind, pg_url, files, rows)
            new, big = result["new"], result["big"]
            result["target_met"] = new["total_seconds"] <= TARGET_SECONDS and new["peak_rss_mib"] <= TARGET_MIB
            result["growth_ratio_big_vs_new"] = (round(big["peak_growth_mib"] / new["peak_growth_mib"], 2)
                                                 if new["peak_growth_mib"] else None)
            say(f"{kind}: {args.rows:,} rows in {new['total_seconds']} s with the process at most "
                f"{new['peak_rss_mib']} MiB (target <= {TARGET_SECONDS} s, <= {TARGET_MIB} MiB: "
                f"{'met' if result['target_met'] else 'NOT met'}); {args.big_rows:,} rows grew the process "
                f"{big['peak_growth_mib']} MiB against {new['peak_growth_mib']} MiB for {args.rows:,}")
            report[kind] = result
    print(json.dumps(report))


if __name__ == "__main__":
    main()
