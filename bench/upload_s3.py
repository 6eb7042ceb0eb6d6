"""Benchmark of clip uploads into an S3-compatible bucket, as a share of the same upload to local disk.

    python bench/upload_s3.py [--size-mib 256] [--chunk-mib 8] [--part-mib 8] [--checksum] [--rounds 3]

Two gunicorn apps (one sync worker each) share one SQLite database in a temporary
directory: one keeps clips on local disk, the other (``STORAGE_URL``) in a bucket of
moto's S3 server (``moto[server]``, tests/s3_support.py) on 127.0.0.1. Each round
sends the same file by tuspy to each, one right after the other, checks that both clips
are complete with the file's SHA-256, and deletes them. The figure is the S3 upload's
throughput as a share of local disk's (median round), with the S3 worker's peak memory
growth (it holds at most one part and one chunk). moto keeps objects in its own
process's memory and shares the machine's two cores with the app and the client, so
this measures what our multipart path costs next to a write to a file, not what a real
object store across a network would give. The tool's own figures against the disk+hash
limit are bench/upload.py's.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import upload as bench  # noqa: E402  (bench/upload.py: the source file, seeding, gunicorn, tuspy)

from tests.peers.ports import free_port  # noqa: E402

MIB = 1024 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--part-mib", type=int, default=8)
    parser.add_argument("--checksum", action="store_true", help="send Upload-Checksum (sha1) with every PATCH")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    size, chunk = args.size_mib * MIB, args.chunk_mib * MIB

    from tests.s3_support import CREDENTIALS, new_bucket, s3_client, start_s3_server

    tmp = Path(tempfile.mkdtemp(prefix="porchlight-bench-upload-s3-"))
    endpoint, stop = start_s3_server()
    rounds = []
    try:
        bucket = new_bucket(endpoint)
        source = tmp / "clip.mp4"
        bench.write_source(source, size)
        warmup = tmp / "warmup.mp4"
        bench.write_source(warmup, 16 * MIB)
        _, file_sha = bench.baseline(source, tmp / "copy.bin", chunk)
        local = {"PORCHLIGHT_ENV": "development", "PORCHLIGHT_INSTANCE_DIR": str(tmp / "instance"),
                 "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "CLIP_STORAGE_ROOT": str(tmp / "clips"),
                 "SECRET_KEY": "bench-secret", "RUN_IN_PROCESS_WORKER": "false", "REDIS_URL": "",
                 "PUBLIC_BASE_URL": "http://127.0.0.1"}
        s3 = {**local, "STORAGE_URL": f"s3://{bucket}/clips", "S3_ENDPOINT_URL": endpoint,
              "S3_PART_SIZE_MIB": str(args.part_mib), **CREDENTIALS}
        token, _ = bench.seed(local)
        local_port, s3_port = free_port(), free_port()
        with bench.gunicorn(local, local_port, 1) as local_master, bench.gunicorn(s3, s3_port, 1) as s3_master:
            for port in (local_port, s3_port):
                bench.tus_upload(f"http://127.0.0.1:{port}", token, warmup, chunk, args.checksum)
            for number in range(1, args.rounds + 1):
                timings = {}
                for name, port, master in (("local", local_port, local_master), ("s3", s3_port, s3_master)):
                    bench.settle()
                    elapsed, growth, cpu, url = bench.measure_round(f"http://127.0.0.1:{port}", token, source, chunk,
                                                                    args.checksum, master.pid)
                    clip = bench.clip_of(url)
                    if not (clip["status"] == "complete" and clip["sha256"] == file_sha):
                        raise SystemExit(f"{name} upload did not arrive intact: {clip}")
                    timings[name] = (elapsed, growth, cpu)
                    shutil.rmtree(tmp / "clips", ignore_errors=True)
                    s3_client(endpoint).delete_object(Bucket=bucket, Key=f"clips/{clip['storage_key']}")
                ratio = timings["local"][0] / timings["s3"][0]
                rounds.append({"local_s": timings["local"][0], "s3_s": timings["s3"][0], "ratio": ratio,
                               "s3_growth": timings["s3"][1], "s3_cpu": timings["s3"][2],
                               "local_cpu": timings["local"][2]})
                print(f"round {number}: local disk {timings['local'][0]:.2f} s "
                      f"({size / timings['local'][0] / 1e6:.0f} MB/s, worker CPU {timings['local'][2]:.2f} s); "
                      f"S3 {timings['s3'][0]:.2f} s ({size / timings['s3'][0] / 1e6:.0f} MB/s, worker CPU "
                      f"{timings['s3'][2]:.2f} s, peak growth {timings['s3'][1] / MIB:.1f} MiB); ratio {ratio:.2f}")
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    growth = max(r["s3_growth"] for r in rounds)
    print(f"{args.size_mib} MiB by tuspy in {args.chunk_mib} MiB chunks, {args.part_mib} MiB parts: S3 (moto) "
          f"upload at {median['ratio']:.2f} of local disk's rate (median round); S3 worker memory growth at most "
          f"{growth / MIB:.1f} MiB; every clip's SHA-256 matched the file")
    print(json.dumps({
        "benchmark": "upload_s3", "size_bytes": size, "chunk_bytes": chunk, "part_bytes": args.part_mib * MIB,
        "checksum": args.checksum, "rounds": len(rounds), "local_seconds": round(median["local_s"], 3),
        "s3_seconds": round(median["s3_s"], 3), "ratio": round(median["ratio"], 3),
        "ratios": [round(r["ratio"], 3) for r in rounds], "s3_memory_growth_mib": round(growth / MIB, 1),
        "s3_worker_cpu_seconds": round(median["s3_cpu"], 2), "local_worker_cpu_seconds": round(median["local_cpu"], 2),
        "sha256_ok": True}))


if __name__ == "__main__":
    main()
