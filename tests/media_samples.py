"""Small but real recorder exports, written with PyAV (FFmpeg) into a directory.

Each sample is a few frames at 64×48, enough for FFmpeg to probe and decode and small
enough to build in well under a second. The recorder formats FFmpeg reads but cannot
write (Dahua DHAV, the Hikvision IMKH header) are built here byte by byte, from the
layout FFmpeg's demuxers read, and proven by reading them back (tests/test_sniff.py).
Use the session-scoped ``samples`` fixture (tests/conftest.py) rather than these
functions: every sample is then made once per test session.
"""
from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

WIDTH, HEIGHT = 64, 48
RATE = 10  # frames per second
FRAMES = 10  # one second of video


def _frames(count: int = FRAMES):
    """Frames with moving content, so an encoder makes real key and delta frames."""
    for i in range(count):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for p, plane in enumerate(frame.planes):
            plane.update(bytes(((x + i * 3 + p * 40) % 256) for x in range(plane.buffer_size)))
        frame.pts = i
        frame.time_base = Fraction(1, RATE)
        yield frame


def _encode_file(path: Path, container_format: str, codec: str, *, options: dict | None = None) -> Path:
    with av.open(str(path), mode="w", format=container_format) as out:
        stream = out.add_stream(codec, rate=RATE, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in _frames():
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# x264 without B-frames and lookahead keeps the samples tiny and fast; one key frame every 5.
_X264 = {"preset": "ultrafast", "tune": "zerolatency", "g": "5"}
_X265 = {"preset": "ultrafast", "x265-params": "log-level=none:keyint=5"}


def h264_mp4(d: Path) -> Path:
    return _encode_file(d / "h264.mp4", "mp4", "libx264", options=_X264)


def h264_mpegts(d: Path) -> Path:
    return _encode_file(d / "h264.ts", "mpegts", "libx264", options=_X264)


def h264_mpegps(d: Path) -> Path:
    return _encode_file(d / "h264.mpg", "mpeg", "libx264", options=_X264)


def h264_vob(d: Path) -> Path:
    return _encode_file(d / "h264.vob", "vob", "libx264", options=_X264)


def h264_matroska(d: Path) -> Path:
    return _encode_file(d / "h264.mkv", "matroska", "libx264", options=_X264)


def h264_avi(d: Path) -> Path:
    return _encode_file(d / "h264.avi", "avi", "libx264", options=_X264)


def h264_raw(d: Path) -> Path:
    return _encode_file(d / "raw.264", "h264", "libx264", options=_X264)


def hevc_mp4(d: Path) -> Path:
    return _encode_file(d / "hevc.mp4", "mp4", "libx265", options=_X265)


def hevc_raw(d: Path) -> Path:
    return _encode_file(d / "raw.265", "hevc", "libx265", options=_X265)


def iphone_mov(d: Path) -> Path:
    """What an iPhone records: HEVC tagged ``hvc1`` (the tag Apple's players require) and AAC
    audio in a QuickTime .mov, with the creation time in the movie's metadata."""
    path = d / "IMG_0042.MOV"
    with av.open(str(path), mode="w", format="mov") as out:
        video = out.add_stream("libx265", rate=RATE, options=_X265)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_tag = "hvc1"
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        out.metadata["creation_time"] = IPHONE_CREATION_TIME
        for frame in _frames():
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for frame in _silence(FRAMES / RATE):
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


AUDIO_RATE = 44_100
IPHONE_CREATION_TIME = "2026-03-14T09:30:00.000000Z"


def _silence(seconds: float, samples: int = 1024):
    for i in range(int(seconds * AUDIO_RATE) // samples):
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, i * samples, Fraction(1, AUDIO_RATE)
        yield frame


def mpeg2_mpegps(d: Path) -> Path:
    return _encode_file(d / "mpeg2.mpg", "mpeg", "mpeg2video")


def asf(d: Path) -> Path:
    # Windows Media Video 8, as older recorders and their players write it.
    return _encode_file(d / "clip.wmv", "asf", "wmv2")


# --- Hikvision: a 40-byte IMKH media header before the program stream --------------------

def imkh_header() -> bytes:
    """The 40-byte header Hikvision players write before an exported program stream.

    FFmpeg's MPEG-PS demuxer recognises it by its first four bytes ("IMKH") and then scans
    to the first pack start code. The fields follow the published layout of Hikvision's
    media information header: version, system format (2: program stream), video codec
    (0x0100: H.264), audio codec (0x7111: G.711 µ-law), audio channels and bits, sample
    rate, bit rate, then reserved bytes.
    """
    header = b"IMKH" + struct.pack("<HHHHBBII", 0x0101, 0x0002, 0x0100, 0x7111, 1, 16, 8000, 64000)
    return header + bytes(40 - len(header))


def imkh_mpegps(d: Path) -> Path:
    path = d / "hikvision.mp4"  # Hikvision exports are often named .mp4 though they are not
    path.write_bytes(imkh_header() + h264_mpegps(d).read_bytes())
    return path


# --- Dahua: H.264 frames in DHAV blocks -----------------------------------------------------

DHAV_KEY_FRAME, DHAV_FRAME = 0xFD, 0xFC
DHAV_H264 = 0x02  # the video codec number FFmpeg's dhav demuxer maps to H.264


def _dhav_date(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return ((year - 2000) << 26) | (month << 22) | (day << 17) | (hour << 12) | (minute << 6) | second


def dhav_block(payload: bytes, *, key: bool, number: int, date: int, millis: int) -> bytes:
    """One DHAV block as libavformat/dhav.c reads it.

    24-byte header: "DHAV", block type, subtype, channel, frame subnumber, frame number
    (u32), block length (u32, header to trailer inclusive), date (u32, packed
    year-2000/month/day/hour/minute/second), timestamp (u16, ms), extension length (u8),
    header checksum (u8: the low byte of the sum of the 23 bytes before it). Extensions:
    0x80 (width/8, height/8), 0x81 (video codec, frame rate). Then the frame and an 8-byte
    trailer, "dhav" and the block length, by which a reader finds blocks from the end.
    """
    ext = bytes([0x80, 0, WIDTH // 8, HEIGHT // 8, 0x81, 0, DHAV_H264, RATE])
    length = 24 + len(ext) + len(payload) + 8
    head = b"DHAV" + struct.pack("<BBBBIIIHB", DHAV_KEY_FRAME if key else DHAV_FRAME, 0, 0, 0, number, length,
                                 date, millis & 0xFFFF, len(ext))
    head += bytes([sum(head) & 0xFF])
    return head + ext + payload + b"dhav" + struct.pack("<I", length)


def dhav(d: Path) -> Path:
    """A Dahua .dav: libx264's Annex B frames, each in its own DHAV block."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base = Fraction(1, RATE)
    encoder.framerate = Fraction(RATE)
    encoder.options = _X264
    packets = [p for frame in _frames() for p in encoder.encode(frame)] + list(encoder.encode(None))
    blocks = [dhav_block(bytes(p), key=p.is_keyframe, number=i + 1,
                         date=_dhav_date(2026, 3, 14, 9, 30, (i * 1000 // RATE) // 1000),
                         millis=i * 1000 // RATE)
              for i, p in enumerate(packets)]
    path = d / "recorder.dav"
    path.write_bytes(b"".join(blocks))
    return path


# --- bundles and damaged files --------------------------------------------------------------

FAKE_PLAYER = b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(200)


def bundle_zip(d: Path) -> Path:
    """What a recorder's "export with player" writes: the video, the vendor's player, a note."""
    path = d / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Player/SmartPlayer.exe", FAKE_PLAYER)
        z.writestr("Player/readme.txt", "Open SmartPlayer.exe to play the export.\n")
        z.write(dhav(d), "CH01/20260314093000.dav")
        z.write(h264_mp4(d), "CH02/20260314093000.mp4")
    return path


def truncated(d: Path) -> Path:
    """An MP4 cut off halfway: its leading bytes are an MP4's, its index never arrived."""
    data = h264_mp4(d).read_bytes()
    path = d / "truncated.mp4"
    path.write_bytes(data[:len(data) // 2])
    return path


def corrupt(d: Path) -> Path:
    """An MPEG-TS whose packets past the first few are overwritten: the sync bytes survive."""
    data = bytearray(h264_mpegts(d).read_bytes())
    for start in range(188 * 4, len(data), 188):
        data[start + 4:start + 188] = bytes((start + i) * 7 % 256 for i in range(184))
    path = d / "corrupt.ts"
    path.write_bytes(bytes(data))
    return path


@dataclass(frozen=True)
class Sample:
    make: Callable[[Path], Path]
    container: str  # what app.clips.sniff should call it
    codec: str | None  # the video codec FFmpeg should find (None: not a playable file as a whole)
    demuxer: str | None = None  # the FFmpeg demuxer to name when probing cannot guess


SAMPLES: dict[str, Sample] = {
    "h264_mp4": Sample(h264_mp4, "mp4", "h264"),
    "h264_mpegts": Sample(h264_mpegts, "mpegts", "h264"),
    "h264_mpegps": Sample(h264_mpegps, "mpegps", "h264"),
    "h264_vob": Sample(h264_vob, "mpegps", "h264"),
    "h264_matroska": Sample(h264_matroska, "matroska", "h264"),
    "h264_avi": Sample(h264_avi, "avi", "h264"),
    "h264_raw": Sample(h264_raw, "h264", "h264", "h264"),
    "hevc_mp4": Sample(hevc_mp4, "mp4", "hevc"),
    "hevc_raw": Sample(hevc_raw, "hevc", "hevc", "hevc"),
    "iphone_mov": Sample(iphone_mov, "mp4", "hevc"),
    "mpeg2_mpegps": Sample(mpeg2_mpegps, "mpegps", "mpeg2video"),
    "asf": Sample(asf, "asf", "wmv2"),
    "imkh_mpegps": Sample(imkh_mpegps, "mpegps", "h264", "mpeg"),
    "dhav": Sample(dhav, "dhav", "h264", "dhav"),
    "bundle_zip": Sample(bundle_zip, "zip", None),
    "truncated": Sample(truncated, "mp4", None),
    "corrupt": Sample(corrupt, "mpegts", None),
}


def make_all(directory: Path) -> dict[str, Path]:
    """Every sample, written into ``directory``; by name."""
    directory.mkdir(parents=True, exist_ok=True)
    return {name: sample.make(directory) for name, sample in SAMPLES.items()}


def read_back(path: Path, demuxer: str | None = None) -> tuple[str, int, tuple[int, int]]:
    """(video codec, frames decoded, (width, height)) as FFmpeg reads ``path``."""
    with av.open(str(path), format=demuxer) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    return stream.codec_context.name, len(frames), (frames[0].width, frames[0].height)


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP of ``entries`` in memory (for the bundle limit tests)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.media_samples DIR``: write every sample into DIR, to try by hand."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.media_samples DIRECTORY", file=sys.stderr)
        return 2
    for name, path in make_all(Path(args[0])).items():
        print(f"{name:14} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
