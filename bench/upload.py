"""Benchmark of clip uploads: a 1 GiB file sent by tuspy to the app under gunicorn.

    python bench/upload.py [--size-mib 1024] [--chunk-mib 8] [--checksum] [--workers 1] [--rounds 5]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/upload.py

Everything lives in a temporary directory: the source file, the clip storage, the
SQLite database (or, with ``BENCH_DATABASE_URL``, a scratch PostgreSQL database
created beside the one named and dropped afterwards) and the app's instance files.
Each round measures, one right after the other:

1. **The limit**: the source file is read in chunks and written to a new file on the
   same disk while its SHA-256 is computed, in one process. That is the least work
   that receiving a clip and fingerprinting it takes; its rate is the reference. It
   is measured twice (see :func:`settle`): writing into the same kind of memory as
   the upload then gets (the ratio's reference), and right after deleting that copy,
   into memory just freed (the best case this VM offers, reported beside it).
2. **The upload**: gunicorn serves ``app:create_app()`` (sync workers, ``--workers``,
   1 by default) on 127.0.0.1; tuspy creates the upload with an upload link's token
   and PATCHes the file in ``--chunk-mib`` chunks (``--checksum`` adds tuspy's
   ``Upload-Checksum: sha1`` to each). The clock runs from the POST to the answer of
   the last PATCH, which completes the clip with its SHA-256. The script then checks
   that the clip is complete and its SHA-256 is the file's. It starts settled too.
3. **The transport alone**: the same tuspy client against a minimal tus endpoint under
   the same gunicorn settings (:func:`transport_app`) that reads each body and throws
   it away: no storage, no hash, no database. Its ratio to the warm limit shows what
   HTTP, gunicorn and the client cost on their own.

**Memory**: the worker's resident set before the upload (after a 16 MiB warm-up
upload) against its peak during it: the kernel's high-water mark (``VmHWM``, reset
through ``/proc/<pid>/clear_refs``) and a 10 ms sampler of ``VmRSS``, whichever is
higher. Client and server share the machine's cores. The median round's ratio is the
figure; every round is printed. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port  # noqa: E402

MIB = 1024 * 1024
TARGET_RATIO = 0.5
TARGET_MEMORY_MIB = 64
SETTLE_S = 5.0


def write_source(path: Path, size: int) -> None:
    """A valid MP4 start (ftyp box, then an mdat box) and incompressible bytes after it."""
    block = os.urandom(8 * MIB)
    with open(path, "wb") as out:
        head = (32).to_bytes(4, "big") + b"ftypisom" + (0x200).to_bytes(4, "big") + b"isomiso2avc1mp41"
        out.write(head + (size - 32).to_bytes(4, "big") + b"mdat")
        written = len(head) + 8
        while written < size:
            n = min(len(block), size - written)
            out.write(block[:n])
            written += n


def baseline(source: Path, target: Path, chunk: int, keep: bool = False) -> tuple[float, str]:
    """Seconds to copy ``source`` to ``target`` computing SHA-256 on the way, and the digest."""
    digest = hashlib.sha256()
    started = time.perf_counter()
    with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
        while data := src.read(chunk):
            digest.update(data)
            dst.write(data)
    elapsed = time.perf_counter() - started
    if not keep:
        target.unlink()
    return elapsed, digest.hexdigest()


def settle() -> None:
    """Flush dirty pages, then let the VM take back the memory freed so far.

    These machines report freed memory to the host (virtio-balloon free page
    reporting, 2 s after it is freed), and the first write to such memory costs
    several times a write to memory in use: 1 GiB into the page cache took 0.2 s
    into memory just freed and 2.5 s into memory the host had taken back. A writer
    that takes longer than the reporting delay (the upload) meets the latter; one
    that starts right after a delete and finishes within it (the limit) the former.
    After settling, both start from the same kind of memory.
    """
    os.sync()
    time.sleep(SETTLE_S)


@contextmanager
def database(tmp: Path):
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp / 'bench.sqlite3'}", "sqlite"
        return
    # Not config._sqlalchemy_url: importing config now would read the environment
    # before this script has pointed it at the temporary directory.
    base = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)
                              if url.startswith("postgresql://") else url)
    name = f"porchlight_bench_upload_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False), "postgresql"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(env: dict[str, str]) -> tuple[str, int]:
    """Schema, an agency, an owner and an approved ask; returns (upload token, ask id)."""
    # config.py reads the environment when first imported, which must be after this.
    assert "config" not in sys.modules, "config was imported before the environment was set"
    os.environ.update(env)
    from datetime import timedelta

    from app import create_app, links
    from app.accounts.models import Role, User
    from app.agencies.models import Agency
    from app.db import utcnow
    from app.extensions import db
    from app.footage.models import Ask, AskState, FootageRequest, RequestStatus

    app = create_app()
    with app.app_context():
        db.create_all()
        agency = Agency(name="Bench Police Department", slug="bench", timezone="America/Chicago")
        owner = User(role=Role.OWNER, email="owner@bench.test", password_hash="-")
        db.session.add_all([agency, owner])
        db.session.flush()
        now = utcnow()
        request = FootageRequest(agency_id=agency.id, case_number="B-1", incident_type="burglary", summary="bench",
                                 latitude=43.0, longitude=-87.9, radius_m=100, window_start=now - timedelta(hours=2),
                                 window_end=now - timedelta(hours=1), status=RequestStatus.ACTIVE,
                                 exceeded_limits=[], activated_at=now, expires_at=now + timedelta(hours=72))
        db.session.add(request)
        db.session.flush()
        ask = Ask(request_id=request.id, owner_id=owner.id, state=AskState.APPROVED, reply_code="0001",
                  distance_m=10, camera_label="Bench camera")
        db.session.add(ask)
        db.session.commit()
        token = links.upload_token(ask)
        db.engine.dispose()
        return token, ask.id


def clip_of(upload_url: str) -> dict:
    from app import create_app
    from app.clips.models import Clip
    from app.extensions import db

    app = create_app()
    with app.app_context():
        clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == upload_url.rsplit("/", 1)[1]))
        result = {"status": clip.status.value, "size": clip.size, "offset": clip.upload_offset, "sha256": clip.sha256,
                  "storage_key": clip.storage_key}
        db.engine.dispose()
        return result


def transport_app(environ, start_response):
    """Just enough tus for tuspy (creation, PATCH): each body is read as the app reads it, then dropped."""
    if environ["REQUEST_METHOD"] == "POST":
        start_response("201 Created", [("Location", "/transport/upload"), ("Tus-Resumable", "1.0.0")])
        return [b""]
    stream, received = environ["wsgi.input"], 0
    while data := stream.read(MIB):
        received += len(data)
    offset = int(environ.get("HTTP_UPLOAD_OFFSET", "0")) + received
    start_response("204 No Content", [("Upload-Offset", str(offset)), ("Tus-Resumable", "1.0.0")])
    return [b""]


@contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int, app: str = "app:create_app()"):
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
               "--timeout", "120", "--log-level", "warning", "--pythonpath", str(ROOT / "bench"), app]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {pid: 0 for pid in pids}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], _status(pid, "VmRSS"))
            time.sleep(0.01)

    def stop(self) -> None:
        self._done.set()
        self.join()


def tus_upload(base: str, token: str, source: Path, chunk: int, checksum: bool) -> str:
    from tusclient.client import TusClient

    client = TusClient(f"{base}/api/uploads", headers={"Authorization": f"Bearer {token}"})
    with open(source, "rb") as stream:
        uploader = client.uploader(file_stream=stream, chunk_size=chunk, metadata={"filename": source.name},
                                   upload_checksum=checksum)
        uploader.upload()
        return uploader.url


def measure_round(base: str, token: str, source: Path, chunk: int, checksum: bool, master: int
                  ) -> tuple[float, int, float, str]:
    """One upload: (seconds, the worker's peak memory growth in bytes, its CPU seconds, the upload URL)."""
    pids = worker_pids(master)
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    before = {pid: _status(pid, "VmRSS") for pid in pids}
    hwm_reset = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            hwm_reset = False
    sampler = RssSampler(pids)
    sampler.start()
    started = time.perf_counter()
    upload_url = tus_upload(base, token, source, chunk, checksum)
    elapsed = time.perf_counter() - started
    sampler.stop()
    peaks = {pid: max(sampler.peak[pid], _status(pid, "VmHWM") if hwm_reset else 0) for pid in pids}
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return elapsed, max(peaks[pid] - before[pid] for pid in pids), cpu, upload_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--checksum", action="store_true", help="send Upload-Checksum (sha1) with every PATCH")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="limit + upload + transport; the median counts")
    args = parser.parse_args(argv)
    size, chunk = args.size_mib * MIB, args.chunk_mib * MIB

    tmp = Path(tempfile.mkdtemp(prefix="porchlight-bench-upload-"))
    rounds = []
    try:
        source = tmp / "clip.mp4"
        write_source(source, size)
        warmup = tmp / "warmup.mp4"
        write_source(warmup, 16 * MIB)
        # Warms the page cache with the source and the disk with a first write.
        baseline(source, tmp / "copy.bin", chunk)
        with database(tmp) as (url, dialect):
            env = {"PORCHLIGHT_ENV": "development", "PORCHLIGHT_INSTANCE_DIR": str(tmp / "instance"),
                   "DATABASE_URL": url, "CLIP_STORAGE_ROOT": str(tmp / "clips"), "SECRET_KEY": "bench-secret",
                   "RUN_IN_PROCESS_WORKER": "false", "REDIS_URL": "", "PUBLIC_BASE_URL": "http://127.0.0.1"}
            token, _ = seed(env)
            app_port, transport_port = free_port(), free_port()
            with gunicorn(env, app_port, args.workers) as master, \
                    gunicorn(env, transport_port, args.workers, "upload:transport_app"):
                tus_upload(f"http://127.0.0.1:{app_port}", token, warmup, chunk, args.checksum)
                for number in range(1, args.rounds + 1):
                    # The limit twice: into settled memory, as the upload gets it, and (the
                    # copy just deleted) into memory just freed, the best this VM offers.
                    settle()
                    settled_s, file_sha = baseline(source, tmp / "copy.bin", chunk, keep=True)
                    (tmp / "copy.bin").unlink()
                    limit_s, _ = baseline(source, tmp / "copy.bin", chunk)
                    settle()
                    elapsed, growth, cpu, upload_url = measure_round(f"http://127.0.0.1:{app_port}", token, source,
                                                                     chunk, args.checksum, master.pid)
                    clip = clip_of(upload_url)
                    if not (clip["status"] == "complete" and clip["offset"] == size and clip["sha256"] == file_sha):
                        raise SystemExit(f"upload did not arrive intact: {clip}")
                    shutil.rmtree(tmp / "clips" / clip["storage_key"][:2], ignore_errors=True)
                    started = time.perf_counter()
                    tus_upload(f"http://127.0.0.1:{transport_port}", token, source, chunk, args.checksum)
                    transport_s = time.perf_counter() - started
                    result = {"limit_s": limit_s, "settled_s": settled_s, "upload_s": elapsed,
                              "ratio": limit_s / elapsed, "settled_ratio": settled_s / elapsed, "growth": growth,
                              "cpu": cpu, "transport_s": transport_s, "transport_ratio": limit_s / transport_s}
                    rounds.append(result)
                    print(f"round {number}: limit (copy + SHA-256 in one process) {settled_s:.2f} s = "
                          f"{size / settled_s / 1e6:.0f} MB/s ({limit_s:.2f} s into memory just freed); upload "
                          f"{elapsed:.2f} s = {size / elapsed / 1e6:.0f} MB/s, ratio {result['settled_ratio']:.2f} "
                          f"({result['ratio']:.2f} to the warm limit), worker CPU {cpu:.2f} s, peak growth "
                          f"{growth / MIB:.1f} MiB; transport alone {transport_s:.2f} s, ratio "
                          f"{result['transport_ratio']:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    median = sorted(rounds, key=lambda r: r["settled_ratio"])[len(rounds) // 2]
    transport = sorted(r["transport_ratio"] for r in rounds)[len(rounds) // 2]
    warm = sorted(r["ratio"] for r in rounds)[len(rounds) // 2]
    growth = max(r["growth"] for r in rounds)
    checksums = " with sha1 checksums" if args.checksum else ""
    print(f"{args.size_mib} MiB by tuspy in {args.chunk_mib} MiB chunks{checksums}"
          f" to gunicorn ({args.workers} sync worker{'s' if args.workers > 1 else ''}, {dialect}); median round: "
          f"{size / median['upload_s'] / 1e6:.0f} MB/s, {median['settled_ratio']:.2f} of the limit writing into the "
          f"same kind of memory (target >= {TARGET_RATIO}); {warm:.2f} of the limit writing into memory just freed; "
          f"the transport alone reaches {transport:.2f}; worker memory growth at most {growth / MIB:.1f} MiB "
          f"(target <= {TARGET_MEMORY_MIB} MiB); every clip's SHA-256 matched the file")
    report = {
        "benchmark": "upload", "database": dialect, "size_bytes": size, "chunk_bytes": chunk,
        "checksum": args.checksum, "workers": args.workers, "rounds": len(rounds),
        "seconds": round(median["upload_s"], 3), "mb_per_s": round(size / median["upload_s"] / 1e6, 1),
        "limit_seconds": round(median["settled_s"], 3), "limit_mb_per_s": round(size / median["settled_s"] / 1e6, 1),
        "ratio": round(median["settled_ratio"], 3), "ratios": [round(r["settled_ratio"], 3) for r in rounds],
        "warm_limit_seconds": round(median["limit_s"], 3), "ratio_to_warm_limit": round(warm, 3),
        "ratios_to_warm_limit": [round(r["ratio"], 3) for r in rounds],
        "transport_ratio": round(transport, 3), "transport_ratios": [round(r["transport_ratio"], 3) for r in rounds],
        "memory_growth_mib": round(growth / MIB, 1), "worker_cpu_seconds": round(median["cpu"], 2),
        "sha256_ok": True,
        "targets_met": median["settled_ratio"] >= TARGET_RATIO and growth / MIB <= TARGET_MEMORY_MIB,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
