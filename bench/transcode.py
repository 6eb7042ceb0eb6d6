"""Benchmark of working copies (app/clips/media.py): remux and transcode speed, worker memory.

    python bench/transcode.py [--remux-minutes 10] [--transcode-minutes 2] [--mbps 4]

1. **Remux**: a 1080p25 H.264 recorder export in an MPEG program stream (``.mpg``, as
   Hikvision and many DVRs write), ``--remux-minutes`` long at about ``--mbps``, made into
   the working copy without re-encoding. Target ≥ 50 × real time.
2. **Transcode**: a 1080p25 HEVC clip in MP4 (as iPhones and NVRs write),
   ``--transcode-minutes`` long, transcoded to H.264 (libx264 veryfast, CRF 23).
   Target ≥ 1 × real time on two cores.
3. **Memory**: each conversion runs alone in a child process, the way a worker runs the
   job (``python app/clips/media.py MASTER OUT_DIR``: PyAV without the app); its peak
   resident set is the kernel's ``ru_maxrss`` for that child (``os.wait4``, the
   per-child form of ``getrusage(RUSAGE_CHILDREN)``). Target ≤ 300 MiB. Linux carries
   a process's high-water mark across ``exec``, so a child starts with its parent's peak:
   this script's own process therefore stays small (the sources are made in another
   child, PyAV and NumPy are imported only there), and its peak is printed beside.

Sources are generated fast: a 2-second closed GOP (50 frames of a slowly panning
picture with sensor-like noise, so the encoder has real detail to code) is encoded once
and its packets are repeated with shifted timestamps. The remux source carries MP2
audio, as many recorders' exports do, so the copy also encodes AAC. Everything lives in
a temporary directory. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT, RATE = 1920, 1080, 25
GOP_S = 2
TARGET_REMUX_X = 50.0
TARGET_TRANSCODE_X = 1.0
TARGET_MEMORY_MIB = 300.0


def _gop_frames(seed: int = 7):
    import av
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.arange(WIDTH, dtype=np.int32)
    y = np.arange(HEIGHT, dtype=np.int32)[:, None]
    for i in range(GOP_S * RATE):
        scene = ((x + 2 * i) // 8 * 5 + y // 6 * 3) % 200 + 28
        noise = rng.integers(-6, 7, size=(HEIGHT, WIDTH))
        luma = np.clip(scene + noise, 0, 255).astype(np.uint8)
        yuv = np.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=np.uint8)
        yuv[:HEIGHT] = luma
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, RATE)
        yield frame


def _encode_gop(path: Path, fmt: str, codec: str, options: dict, bit_rate: int, audio: str | None) -> None:
    import av
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = bit_rate
        video.options = options
        sound = out.add_stream(audio, rate=48_000) if audio else None
        for frame in _gop_frames():
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            sound.bit_rate = 128_000
            samples = 1152
            for start in range(0, GOP_S * 48_000, samples):
                frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
                frame.planes[0].update(bytes(frame.planes[0].buffer_size))
                frame.sample_rate, frame.pts, frame.time_base = 48_000, start, Fraction(1, 48_000)
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))


def _repeat(gop: Path, path: Path, fmt: str, seconds: int) -> None:
    """``gop``'s packets again and again, each round shifted by the GOP's length."""
    import av
    with av.open(str(gop)) as source:
        streams = list(source.streams.video) + list(source.streams.audio)
        packets = [(p.stream.index, bytes(p), p.pts, p.dts, p.is_keyframe, p.time_base, p.duration)
                   for p in source.demux(*streams) if p.size]
        with av.open(str(path), "w", format=fmt) as out:
            outs = {s.index: out.add_stream_from_template(s) for s in streams}
            for round_ in range(seconds // GOP_S):
                for index, data, pts, dts, key, tb, duration in packets:
                    shift = round(round_ * GOP_S / tb)
                    packet = av.Packet(data)
                    packet.time_base = tb
                    packet.pts = pts + shift if pts is not None else None
                    packet.dts = dts + shift if dts is not None else None
                    packet.duration = duration
                    packet.is_keyframe = key
                    packet.stream = outs[index]
                    out.mux(packet)


def make_sources(tmp: Path, remux_s: int, transcode_s: int, mbps: float) -> None:
    """Run in a child process (``--make-sources``): writes both sources and prints their facts."""
    from app.clips import media
    started = time.perf_counter()
    h264_gop, hevc_gop = tmp / "gop.mpg", tmp / "gop.mp4"
    _encode_gop(h264_gop, "mpeg", "libx264", {"preset": "ultrafast", "g": str(GOP_S * RATE)},
                int(mbps * 1e6), "mp2")
    _encode_gop(hevc_gop, "mp4", "libx265",
                {"preset": "ultrafast", "x265-params": f"keyint={GOP_S * RATE}:open-gop=0:log-level=error"},
                int(mbps * 1e6), None)
    export, phone = tmp / "recorder-export.mpg", tmp / "hevc.mp4"
    _repeat(h264_gop, export, "mpeg", remux_s)
    _repeat(hevc_gop, phone, "mp4", transcode_s)
    print(f"sources: {export.stat().st_size / 2**20:.0f} MiB MPEG-PS H.264 ({remux_s} s), "
          f"{phone.stat().st_size / 2**20:.0f} MiB MP4 HEVC ({transcode_s} s), "
          f"made in {time.perf_counter() - started:.0f} s", flush=True)
    for path in (export, phone):
        facts = media.probe(path)
        print(f"  {path.name}: {facts.format_name} {facts.video_codec}/{facts.audio_codec} "
              f"{facts.width}x{facts.height} {facts.frame_rate:g} fps {facts.duration_s:.1f} s", flush=True)


MEDIA = ROOT / "app" / "clips" / "media.py"


def media_default_address_space_mib() -> int:
    # Read from the source rather than imported: importing it would bring PyAV into
    # this process, whose peak every child then starts from.
    for line in MEDIA.read_text().splitlines():
        if line.startswith("DEFAULT_ADDRESS_SPACE_MIB = "):
            return int(line.split("=")[1])
    raise SystemExit("DEFAULT_ADDRESS_SPACE_MIB not found in app/clips/media.py")


def run_worker(master: Path, out_dir: Path) -> dict:
    """One conversion as a worker runs it: app/clips/media.py by path in a lean child process.

    The time is the child's whole life, start-up and imports included; the memory is
    its peak from the kernel.
    """
    started = time.perf_counter()
    # The command make_working_copy_in_child runs, with its default address-space limit.
    proc = subprocess.Popen([sys.executable, str(MEDIA), str(master), str(out_dir), "--address-space-mib",
                             str(media_default_address_space_mib())], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the worker failed on {master.name} ({proc.returncode}): {out}")
    result = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = seconds
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--remux-minutes", type=float, default=10)
    parser.add_argument("--transcode-minutes", type=float, default=2)
    parser.add_argument("--mbps", type=float, default=4.0)
    parser.add_argument("--make-sources", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    remux_s = int(args.remux_minutes * 60) // GOP_S * GOP_S
    transcode_s = int(args.transcode_minutes * 60) // GOP_S * GOP_S
    if args.make_sources:
        make_sources(Path(args.make_sources), remux_s, transcode_s, args.mbps)
        return

    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run([sys.executable, __file__, "--make-sources", str(tmp), "--remux-minutes",
                        str(args.remux_minutes), "--transcode-minutes", str(args.transcode_minutes),
                        "--mbps", str(args.mbps)], check=True)
        export, phone = tmp / "recorder-export.mpg", tmp / "hevc.mp4"
        remux = run_worker(export, tmp / "remuxed")
        transcode = run_worker(phone, tmp / "transcoded")

    for name, result, method, length in (("remux", remux, "remux", remux_s),
                                         ("transcode", transcode, "transcode", transcode_s)):
        # A fast copy only counts if it is the whole clip, made the way it should be.
        if result["method"] != method or abs(result["duration_s"] - length) > 0.01 * length or result["truncated"]:
            raise SystemExit(f"the {name} copy is wrong: {result}")
    remux_x = remux_s / remux["seconds"]
    transcode_x = transcode_s / transcode["seconds"]
    memory = max(remux["peak_rss_mib"], transcode["peak_rss_mib"])
    own_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    met = {"remux": remux_x >= TARGET_REMUX_X, "transcode": transcode_x >= TARGET_TRANSCODE_X,
           "memory": memory <= TARGET_MEMORY_MIB}
    print(f"remux {remux_s} s of 1080p H.264 MPEG-PS: {remux['seconds']:.2f} s = {remux_x:.1f}x real time "
          f"(target >= {TARGET_REMUX_X:g}x) {'met' if met['remux'] else 'MISSED'}; "
          f"peak RSS {remux['peak_rss_mib']:.0f} MiB, CPU {remux['cpu_seconds']:.1f} s")
    print(f"transcode {transcode_s} s of 1080p HEVC: {transcode['seconds']:.1f} s = {transcode_x:.2f}x real time "
          f"(target >= {TARGET_TRANSCODE_X:g}x on {os.cpu_count()} cores) {'met' if met['transcode'] else 'MISSED'}; "
          f"peak RSS {transcode['peak_rss_mib']:.0f} MiB, CPU {transcode['cpu_seconds']:.1f} s")
    print(f"worker peak memory {memory:.0f} MiB (target <= {TARGET_MEMORY_MIB:g} MiB) "
          f"{'met' if met['memory'] else 'MISSED'} "
          f"(this script's own peak, which a child starts from: {own_mib:.0f} MiB)")
    print(json.dumps({
        "benchmark": "transcode", "cores": os.cpu_count(),
        "remux_source_s": remux_s, "remux_seconds": round(remux["seconds"], 3), "remux_x": round(remux_x, 1),
        "remux_peak_rss_mib": round(remux["peak_rss_mib"], 1), "remux_cpu_seconds": round(remux["cpu_seconds"], 2),
        "transcode_source_s": transcode_s, "transcode_seconds": round(transcode["seconds"], 2),
        "transcode_x": round(transcode_x, 2), "transcode_peak_rss_mib": round(transcode["peak_rss_mib"], 1),
        "transcode_cpu_seconds": round(transcode["cpu_seconds"], 2),
        "pyav": remux["library_versions"]["pyav"], "peak_memory_mib": round(memory, 1),
        "bench_process_peak_mib": round(own_mib, 1),
        "targets_met": all(met.values()),
    }))


if __name__ == "__main__":
    main()
