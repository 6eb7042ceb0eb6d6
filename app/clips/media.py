"""What a delivered clip holds, and a copy of it that a browser plays.

Pure functions over files, with PyAV (FFmpeg's libraries, from the package's own
wheel). :func:`probe` reads the container's facts; :func:`make_working_copy` writes an
H.264/AAC MP4 with its index at the front (``moov`` before ``mdat``) beside the master,
which is only ever read. H.264 video is copied packet for packet (a remux: what the
recorder encoded is what the officer sees); anything else is transcoded. Every
failure of FFmpeg, from a corrupt header to a file cut short, comes out as
:class:`MediaError`, so a worker records it and goes on.

The module imports nothing of the app, so a worker can run it by path in a lean child
process (``python app/clips/media.py MASTER OUT_DIR``, which prints one JSON object):
the child holds PyAV and FFmpeg without the app's ~100 MiB of Flask and SQLAlchemy,
can be given its own memory limit, and a crash inside FFmpeg ends only the child.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

WORKING_COPY_NAME = "working.mp4"
POSTER_NAME = "poster.jpg"
DEFAULT_TIME_LIMIT_S = 3600.0
POSTER_AT_S = 1.0
# A child's address space, not its resident memory (which Linux cannot cap per process
# without cgroups): a 1080p transcode reserves about 640 MiB of it for 260 MiB in use.
DEFAULT_ADDRESS_SPACE_MIB = 1536
# How long past its own time limit a child may take to notice it before it is killed
# (a packet FFmpeg never returns from).
KILL_GRACE_S = 30.0

# Transcoding settings: veryfast keeps 1080p above real time on two cores, and CRF 23
# (x264's default) keeps detail an officer needs, such as faces and plates, at about
# the size of the recorder's own file.
X264_PRESET = "veryfast"
X264_CRF = "23"
# Memory: at 1080p each x264 thread and each frame of lookahead holds several frames'
# analysis. Two threads (the cores a worker has) and a five-frame lookahead keep a
# transcode near 260 MiB instead of 320 MiB, and no slower on two cores.
X264_MEMORY_OPTIONS = {"threads": "2", "rc-lookahead": "5", "sync-lookahead": "0"}
AAC_BIT_RATE = 128_000
# A rescaled timeline in 1/90000 s, the clock MPEG streams and most recorders use.
OUTPUT_TIME_BASE = Fraction(1, 90_000)
FALLBACK_FRAME_RATE = Fraction(25, 1)


class MediaError(Exception):
    """The file could not be read as video, or no working copy could be made of it."""


class MediaTimeout(MediaError):
    """Making the working copy took longer than its time limit."""


@dataclass(frozen=True)
class Probe:
    format_name: str
    video_codec: str | None
    audio_codec: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    frame_rate: float | None
    start_time_s: float | None
    # The wall-clock time the container says it was made, where it says one (MP4/MOV
    # creation_time, often the recorder's or phone's own clock), as written there.
    creation_time: str | None = None
    bit_rate: int | None = None  # bits per second over the whole file, as FFmpeg estimates it
    # Every audio and video stream: {type, codec, width, height, frame_rate} or {type, codec,
    # sample_rate, channels}; a recorder's second camera or audio track shows here.
    streams: tuple[dict, ...] = ()


@dataclass(frozen=True)
class WorkingCopy:
    path: Path
    poster_path: Path | None
    sha256: str
    size: int
    method: str  # "remux" or "transcode"
    settings: dict
    duration_s: float | None
    truncated: bool  # the master ended early or is damaged; the copy holds what could be read
    library_versions: dict = field(default_factory=dict)


def library_versions() -> dict:
    return {
        "pyav": av.__version__,
        "ffmpeg": {name: ".".join(map(str, v)) for name, v in av.library_versions.items()},
    }


def _open(path: Path | str):
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"not a readable video file: {exc}") from exc


def _seconds(value, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: Path | str) -> Probe:
    """The container's facts. Raises MediaError when FFmpeg cannot read it as video."""
    with _open(path) as container:
        return _probe_open(container)


def _probe_open(container) -> Probe:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None or video.codec_context is None or video.codec_context.name is None:
        raise MediaError("the file holds no video stream")
    duration = container.duration / av.time_base if container.duration else None
    if duration is None:
        duration = _seconds(video.duration, video.time_base)
    start = container.start_time / av.time_base if container.start_time is not None else None
    rate = video.average_rate or video.guessed_rate
    return Probe(
        creation_time=(container.metadata or {}).get("creation_time") or None,
        bit_rate=container.bit_rate or None,
        streams=tuple(_stream_facts(s) for s in container.streams if s.type in ("video", "audio")),
        format_name=container.format.name,
        video_codec=video.codec_context.name,
        audio_codec=audio.codec_context.name if audio is not None else None,
        duration_s=duration,
        width=video.codec_context.width or None,
        height=video.codec_context.height or None,
        frame_rate=float(rate) if rate else None,
        start_time_s=start,
    )


def _stream_facts(stream) -> dict:
    context = stream.codec_context
    name = context.name if context is not None else None
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate
        return {"type": "video", "codec": name, "width": (context.width or None) if context else None,
                "height": (context.height or None) if context else None,
                "frame_rate": float(rate) if rate else None}
    return {"type": "audio", "codec": name, "sample_rate": (context.sample_rate or None) if context else None,
            "channels": (context.channels or None) if context else None}


class _Deadline:
    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.ends = time.monotonic() + limit_s

    def check(self) -> None:
        if time.monotonic() > self.ends:
            raise MediaTimeout(f"the working copy took longer than its limit of {self.limit_s:g} s")


class _Timeline:
    """Rebases every stream to one origin and keeps each stream's timestamps increasing.

    Recorders start their clocks anywhere (an MPEG-PS export often starts hours in),
    leave packets without a timestamp, or repeat one; the MP4 muxer refuses the last
    two. Timestamps are moved to start at zero together, so audio stays in step, and
    a missing or repeated decode time is put one tick after the last.
    """

    def __init__(self):
        self.origin: float | None = None
        self.last_dts: dict[int, int] = {}

    def fix(self, packet, stream_index: int, default_step: int) -> None:
        tb = packet.time_base
        if self.origin is None:
            first = packet.dts if packet.dts is not None else packet.pts
            self.origin = float(first * tb) if first is not None else 0.0
        shift = round(self.origin / tb)
        last = self.last_dts.get(stream_index)
        dts = packet.dts - shift if packet.dts is not None else None
        pts = packet.pts - shift if packet.pts is not None else None
        if dts is None:
            dts = pts if pts is not None else (last + default_step if last is not None else 0)
        if last is not None and dts <= last:
            dts = last + 1
        if pts is None or pts < dts:
            pts = dts
        self.last_dts[stream_index] = dts
        packet.dts = dts
        packet.pts = pts


def _frame_step(stream) -> int:
    rate = stream.average_rate or stream.guessed_rate or FALLBACK_FRAME_RATE
    return max(1, round(1 / (rate * stream.time_base)))


# FFmpeg's AVFMT_NOTIMESTAMPS: the container carries no timestamps (a raw .264 stream).
_NO_TIMESTAMPS = 0x0080


def _needs_reordering_times(container) -> bool:
    """Whether remuxing would lose the display order: B-frames in a stream without timestamps.

    Packets of a raw stream get decode times only; in an MP4 without composition
    offsets a browser would show B-frames out of order. Such a stream is transcoded.
    """
    no_timestamps = bool(container.format.flags & _NO_TIMESTAMPS)
    return no_timestamps and bool(container.streams.video[0].codec_context.has_b_frames)


def make_working_copy(master: Path | str, out_dir: Path | str,
                      time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> WorkingCopy:
    """Write ``working.mp4`` and ``poster.jpg`` into ``out_dir`` from ``master``.

    The master is only read. Nothing is left in ``out_dir`` on failure.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / WORKING_COPY_NAME
    partial = out_dir / (WORKING_COPY_NAME + ".part")
    deadline = _Deadline(time_limit_s)
    try:
        with _open(master) as source:
            facts = _probe_open(source)
            remux = facts.video_codec == "h264" and not _needs_reordering_times(source)
            writer = _remux if remux else _transcode
            settings, truncated = writer(source, partial, deadline)
        os.replace(partial, target)
    except (MediaError, MemoryError):
        partial.unlink(missing_ok=True)
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise MediaError(f"no working copy could be made: {exc}") from exc
    try:
        copy_facts = probe(target)
        poster = _write_poster(target, out_dir / POSTER_NAME, copy_facts.duration_s)
    except (MediaError, av.FFmpegError, OSError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise MediaError(f"the working copy could not be read back: {exc}") from exc
    return WorkingCopy(
        path=target,
        poster_path=poster,
        sha256=_sha256(target),
        size=target.stat().st_size,
        method="remux" if remux else "transcode",
        settings=settings,
        duration_s=copy_facts.duration_s,
        truncated=truncated,
        library_versions=library_versions(),
    )


def _open_output(path: Path):
    # faststart: the muxer writes moov after mdat, then moves it to the front, so a
    # browser starts playing before the whole file has arrived.
    return av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})


def _demux(source, streams, deadline: _Deadline):
    """Packets of ``streams``; a None last when the file breaks off before its end."""
    try:
        for packet in source.demux(*streams):
            deadline.check()
            yield packet
    except MemoryError:
        raise  # the address-space limit, not damage: main() says so
    except av.FFmpegError:
        # A truncated or damaged tail: keep what was read before it.
        yield None


def _audio_encoder(output, source_audio):
    out = output.add_stream("aac", rate=source_audio.codec_context.sample_rate or 48_000)
    out.bit_rate = AAC_BIT_RATE
    return out


def _remux(source, partial: Path, deadline: _Deadline) -> tuple[dict, bool]:
    video = source.streams.video[0]
    audio = source.streams.audio[0] if source.streams.audio else None
    copy_audio = audio is not None and audio.codec_context.name == "aac"
    timeline = _Timeline()
    truncated = False
    written = 0
    with _open_output(partial) as output:
        out_video = output.add_stream_from_template(video)
        out_audio = None
        if audio is not None:
            out_audio = output.add_stream_from_template(audio) if copy_audio else _audio_encoder(output, audio)
        steps = {video.index: _frame_step(video)}
        if audio is not None:
            steps[audio.index] = 1
        streams = [video] + ([audio] if audio is not None else [])
        for packet in _demux(source, streams, deadline):
            if packet is None:
                truncated = True
                break
            if packet.size == 0:
                continue
            if packet.stream.index == video.index:
                timeline.fix(packet, video.index, steps[video.index])
                packet.stream = out_video
                output.mux(packet)
                written += 1
            elif copy_audio:
                timeline.fix(packet, audio.index, steps[audio.index])
                packet.stream = out_audio
                output.mux(packet)
            else:
                truncated |= _encode_audio_packet(packet, timeline, out_audio, output)
        if out_audio is not None and not copy_audio:
            output.mux(out_audio.encode(None))
        if written == 0:
            raise MediaError("the file holds no readable video")
    settings = {"video": "copy", "audio": None if audio is None else ("copy" if copy_audio else _aac_settings())}
    return settings, truncated


def _aac_settings() -> dict:
    return {"codec": "aac", "bit_rate": AAC_BIT_RATE}


def _encode_audio_packet(packet, timeline: _Timeline, out_audio, output) -> bool:
    """Decode one audio packet into AAC; True when it could not be decoded."""
    try:
        frames = packet.decode()
    except MemoryError:
        raise
    except av.FFmpegError:
        return True
    for frame in frames:
        _rebase_frame(frame, timeline)
        output.mux(out_audio.encode(frame))
    return False


def _rebase_frame(frame, timeline: _Timeline) -> None:
    if frame.pts is None or frame.time_base is None:
        frame.pts = None
        return
    if timeline.origin is None:
        timeline.origin = float(frame.pts * frame.time_base)
    frame.pts = max(0, frame.pts - round(timeline.origin / frame.time_base))


def _transcode(source, partial: Path, deadline: _Deadline) -> tuple[dict, bool]:
    video = source.streams.video[0]
    audio = source.streams.audio[0] if source.streams.audio else None
    video.thread_type = "AUTO"
    rate = video.average_rate or video.guessed_rate or FALLBACK_FRAME_RATE
    width = video.codec_context.width
    height = video.codec_context.height
    # yuv420p needs even dimensions.
    width, height = width - width % 2, height - height % 2
    truncated = False
    written = 0
    timeline = _Timeline()
    last_pts = -1
    with _open_output(partial) as output:
        out_video = output.add_stream("libx264", rate=rate)
        out_video.width, out_video.height = width, height
        out_video.pix_fmt = "yuv420p"
        out_video.time_base = OUTPUT_TIME_BASE
        out_video.codec_context.time_base = OUTPUT_TIME_BASE
        out_video.options = {"preset": X264_PRESET, "crf": X264_CRF, **X264_MEMORY_OPTIONS}
        out_video.thread_type = "AUTO"
        out_audio = _audio_encoder(output, audio) if audio is not None else None
        frame_ticks = max(1, round(1 / (rate * OUTPUT_TIME_BASE)))
        streams = [video] + ([audio] if audio is not None else [])
        for packet in _demux(source, streams, deadline):
            if packet is None:
                truncated = True
                break
            if packet.stream.index != video.index:
                truncated |= _encode_audio_packet(packet, timeline, out_audio, output)
                continue
            try:
                frames = packet.decode()
            except MemoryError:
                raise
            except av.FFmpegError:
                truncated = True
                continue
            for frame in frames:
                deadline.check()
                t = frame.time
                if timeline.origin is None:
                    timeline.origin = t if t is not None else 0.0
                if t is not None:
                    pts = round((t - timeline.origin) / OUTPUT_TIME_BASE)
                else:  # a raw stream: frames follow one another at the stream's rate
                    pts = last_pts + frame_ticks if last_pts >= 0 else 0
                pts = max(pts, last_pts + 1)
                last_pts = pts
                frame = frame.reformat(width=width, height=height, format="yuv420p")
                frame.pts, frame.time_base = pts, OUTPUT_TIME_BASE
                output.mux(out_video.encode(frame))
                written += 1
        if written == 0:
            raise MediaError("no frame of the video could be decoded")
        output.mux(out_video.encode(None))
        if out_audio is not None:
            output.mux(out_audio.encode(None))
    settings = {
        "video": {"codec": "libx264", "preset": X264_PRESET, "crf": int(X264_CRF), "pix_fmt": "yuv420p",
                  "width": width, "height": height, "frame_rate": str(rate), **X264_MEMORY_OPTIONS},
        "audio": None if audio is None else _aac_settings(),
    }
    return settings, truncated


def _write_poster(copy: Path, poster: Path, duration_s: float | None) -> Path | None:
    """A JPEG of the frame about a second in (the first one of a shorter clip).

    Damaged packets, copied as the recorder wrote them, are passed over; None when no
    frame decodes at all.
    """
    at = min(POSTER_AT_S, duration_s / 2) if duration_s else 0.0
    chosen = None
    with av.open(str(copy)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                chosen = frame
                if frame.time is not None and frame.time >= at:
                    break
            if chosen is not None and chosen.time is not None and chosen.time >= at:
                break
        if chosen is None:
            return None
        chosen.to_image().save(poster, format="JPEG", quality=85)
    return poster


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What a child found and made: the master's facts (None when unreadable), the copy, or why not."""

    probe: Probe | None
    copy: WorkingCopy | None
    error: MediaError | None


def _probe_from(answer: dict | None) -> Probe | None:
    if not answer:
        return None
    return Probe(**{**answer, "streams": tuple(answer.get("streams") or ())})


def run_in_child(master: Path | str, out_dir: Path | str | None, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                 address_space_mib: int = DEFAULT_ADDRESS_SPACE_MIB) -> Outcome:
    """Probe ``master`` and (with ``out_dir``) make its working copy, in a child process running this file.

    The child holds PyAV without the app, under its own address-space limit; it is
    killed if it outlives its time limit by KILL_GRACE_S; a crash inside FFmpeg ends
    only the child. Never raises MediaError: the outcome holds it (MediaTimeout for
    time), with the probe's facts whenever the master could be read.
    """
    command = [sys.executable, str(Path(__file__).resolve()), str(master),
               str(out_dir) if out_dir is not None else "--probe-only",
               "--time-limit", str(time_limit_s), "--address-space-mib", str(address_space_mib)]
    partial = Path(out_dir) / (WORKING_COPY_NAME + ".part") if out_dir is not None else None
    try:
        # No shell: the argv is this interpreter, this file, two paths and two numbers.
        done = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                              timeout=time_limit_s + KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        if partial is not None:
            partial.unlink(missing_ok=True)
        return Outcome(None, None, MediaTimeout(f"the working copy took longer than its limit of {time_limit_s:g} s"))
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        if partial is not None:
            partial.unlink(missing_ok=True)
        last = done.stderr.strip().splitlines()[-1:] or [""]
        return Outcome(None, None, MediaError(
            f"the conversion ended abnormally (exit status {done.returncode}) {last[0]}".strip()))
    facts = _probe_from(answer.pop("probe", None))
    if "error" in answer:
        return Outcome(facts, None, (MediaTimeout if answer["timeout"] else MediaError)(answer["error"]))
    if out_dir is None:
        return Outcome(facts, None, None)
    poster = answer["poster_path"]
    copy = WorkingCopy(**{**answer, "path": Path(answer["path"]), "poster_path": Path(poster) if poster else None})
    return Outcome(facts, copy, None)


def make_working_copy_in_child(master: Path | str, out_dir: Path | str,
                               time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                               address_space_mib: int = DEFAULT_ADDRESS_SPACE_MIB) -> WorkingCopy:
    """:func:`make_working_copy` in a child process running this file, as a worker should (see
    :func:`run_in_child`). Every failure comes back as MediaError (MediaTimeout for time)."""
    outcome = run_in_child(master, out_dir, time_limit_s, address_space_mib)
    if outcome.error is not None:
        raise outcome.error
    return outcome.copy


# How close to the cap the process's peak address space must come for a failure to be blamed on it.
_CAP_MARGIN_KIB = 16 * 1024


def _reached(address_space_mib: int) -> bool:
    """Whether this process's address space peaked at its limit (Linux's VmPeak)."""
    try:
        with open("/proc/self/status") as status:
            peak = next((int(line.split()[1]) for line in status if line.startswith("VmPeak:")), 0)
    except (OSError, ValueError):
        return False
    return peak >= address_space_mib * 1024 - _CAP_MARGIN_KIB


def main(argv: list[str] | None = None) -> int:
    """Probe a video file and make its working copy; print both as one JSON object.

    ``{"probe": {...} or null, ...the working copy}``, or exit 1 with ``{"probe": ..., "error": ...,
    "timeout": ...}``; with ``--probe-only`` in place of the output directory, only the probe.
    """
    parser = argparse.ArgumentParser(description="Write a browser-playable working copy of a video file.")
    parser.add_argument("master", type=Path)
    parser.add_argument("out_dir", type=Path, nargs="?", help="where the copy and poster go")
    parser.add_argument("--probe-only", action="store_true", help="print the probe, make no copy")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, help="seconds")
    parser.add_argument("--address-space-mib", type=int, default=None)
    args = parser.parse_args(argv)
    if args.address_space_mib:
        limit = args.address_space_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    facts = None
    try:
        facts = probe(args.master)
        if args.probe_only or args.out_dir is None:
            print(json.dumps({"probe": asdict(facts)}))
            return 0
        copy = make_working_copy(args.master, args.out_dir, time_limit_s=args.time_limit)
    except MediaError as exc:
        if not (args.address_space_mib and _reached(args.address_space_mib)):
            print(json.dumps({"probe": asdict(facts) if facts else None, "error": str(exc),
                              "timeout": isinstance(exc, MediaTimeout)}))
            return 1
        # FFmpeg's libraries often turn a failed allocation into another error, or into
        # frames that silently fail to decode: the address space used says what happened.
        print(json.dumps({"probe": asdict(facts) if facts else None, "timeout": False,
                          "error": f"the conversion needed more than {args.address_space_mib} MiB of address space"}))
        return 1
    except MemoryError:
        print(json.dumps({"probe": asdict(facts) if facts else None, "timeout": False,
                          "error": f"the conversion needed more than {args.address_space_mib} MiB of address space"}))
        return 1
    print(json.dumps({"probe": asdict(facts), **asdict(copy)}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
