"""Probing a delivered clip and making its browser-playable working copy (app/clips/media.py).

Sample files are generated with PyAV here; the generators are local to this file until
the shared samples module takes them over.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest

from app.clips import media

WIDTH, HEIGHT, RATE, SECONDS = 320, 240, 25, 2


def _frames(count: int, first: int = 0):
    # A moving gradient: every frame differs, so a decoder's output proves which frames arrived.
    for i in range(count):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        luma = frame.planes[0]
        row = bytes((x + i * 4) % 256 for x in range(luma.line_size))
        luma.update(row * HEIGHT)
        for chroma in frame.planes[1:]:
            chroma.update(bytes([128]) * chroma.buffer_size)
        frame.pts, frame.time_base = first + i, Fraction(1, RATE)
        yield frame


def _silence(output, stream, seconds: int, start_s: int = 0) -> None:
    rate, size = 48_000, 1024
    for start in range(start_s * rate, (start_s + seconds) * rate, size):
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=size)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def write_sample(path: Path, fmt: str, codec: str, audio: str | None = None, seconds: int = SECONDS,
                 b_frames: bool = False, start_s: int = 0) -> Path:
    with av.open(str(path), "w", format=fmt) as output:
        video = output.add_stream(codec, rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "bf": "3"} if b_frames else {"preset": "ultrafast"}
        elif codec == "libx265":
            video.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        sound = output.add_stream(audio, rate=48_000) if audio else None
        for frame in _frames(seconds * RATE, first=start_s * RATE):
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            _silence(output, sound, seconds, start_s)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    # Longer than tests/media_samples.py's (seconds, with audio), for durations and remux
    # checks; shared by the module's tests, which only read them. To be one set with
    # media_samples when the working-copy job lands.
    tmp_path = tmp_path_factory.mktemp("samples")
    return {
        "h264_mp4": write_sample(tmp_path / "phone.mp4", "mp4", "libx264", audio="aac"),
        "h264_ps": write_sample(tmp_path / "export.mpg", "mpeg", "libx264", audio="mp2"),
        "hevc_mp4": write_sample(tmp_path / "iphone.mp4", "mp4", "libx265"),
        "mpeg2_ps": write_sample(tmp_path / "dvd.vob", "vob", "mpeg2video", audio="mp2"),
        "h264_raw": write_sample(tmp_path / "channel1.264", "h264", "libx264"),
        "h264_ts": write_sample(tmp_path / "export.ts", "mpegts", "libx264", audio="aac"),
        "h264_mkv": write_sample(tmp_path / "export.mkv", "matroska", "libx264", audio="aac"),
        "mpeg4_avi": write_sample(tmp_path / "export.avi", "avi", "mpeg4", audio="mp2"),
        "wmv_asf": write_sample(tmp_path / "export.asf", "asf", "wmv2"),
        "hevc_raw": write_sample(tmp_path / "channel1.265", "hevc", "libx265"),
    }


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def _decoded_luma(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha256(bytes(f.planes[0])).hexdigest() for f in container.decode(video=0)]


def _top_level_boxes(path: Path) -> list[bytes]:
    boxes, data = [], path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        boxes.append(data[at + 4:at + 8])
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:
            break
        at += size
    return boxes


@pytest.mark.parametrize("name, fmt, video, audio, start", [
    ("h264_mp4", "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac", 0.0),
    ("h264_ps", "mpeg", "h264", "mp2", 0.5),
    ("hevc_mp4", "mov,mp4,m4a,3gp,3g2,mj2", "hevc", None, 0.0),
    ("mpeg2_ps", "mpeg", "mpeg2video", "mp2", 0.5),
])
def test_probe_reports_the_containers_facts(clips, name, fmt, video, audio, start):
    facts = media.probe(clips[name])
    assert (facts.format_name, facts.video_codec, facts.audio_codec) == (fmt, video, audio)
    assert (facts.width, facts.height, facts.frame_rate) == (WIDTH, HEIGHT, RATE)
    assert facts.duration_s == pytest.approx(SECONDS, abs=0.05)
    # MPEG program streams start their clock where the recorder's was (here FFmpeg's 0.5 s).
    assert facts.start_time_s == pytest.approx(start, abs=0.05)


@pytest.mark.parametrize("name, method, audio", [
    ("h264_mp4", "remux", "aac"),
    ("h264_ps", "remux", "aac"),
    ("hevc_mp4", "transcode", None),
    ("mpeg2_ps", "transcode", "aac"),
    ("h264_raw", "remux", None),
    ("h264_ts", "remux", "aac"),
    ("h264_mkv", "remux", "aac"),
    ("mpeg4_avi", "transcode", "aac"),
    ("wmv_asf", "transcode", None),
    ("hevc_raw", "transcode", None),
])
def test_the_working_copy_is_a_faststart_h264_mp4_of_the_whole_clip(clips, tmp_path, name, method, audio):
    master = clips[name]
    before = hashlib.sha256(master.read_bytes()).hexdigest()
    copy = media.make_working_copy(master, tmp_path / f"derived-{name}")

    assert copy.method == method
    assert copy.path.name == "working.mp4" and copy.path.exists()
    assert copy.sha256 == hashlib.sha256(copy.path.read_bytes()).hexdigest()
    assert copy.size == copy.path.stat().st_size
    assert not copy.truncated
    facts = media.probe(copy.path)
    assert (facts.video_codec, facts.audio_codec, facts.width, facts.height) == ("h264", audio, WIDTH, HEIGHT)
    assert facts.duration_s == pytest.approx(SECONDS, abs=0.1)
    assert facts.start_time_s == 0.0
    assert len(_decoded_luma(copy.path)) == SECONDS * RATE
    boxes = _top_level_boxes(copy.path)
    assert boxes.index(b"moov") < boxes.index(b"mdat")
    assert copy.poster_path is not None and copy.poster_path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert copy.library_versions["pyav"] == av.__version__
    assert "libavcodec" in copy.library_versions["ffmpeg"]
    # The master is only read.
    assert hashlib.sha256(master.read_bytes()).hexdigest() == before


def test_a_program_stream_behind_a_vendor_header_is_read(clips, tmp_path):
    # Hikvision exports put a 40-byte IMKH header before the program stream.
    master = tmp_path / "hik.mp4"
    master.write_bytes(b"IMKH" + bytes(36) + clips["h264_ps"].read_bytes())
    assert (media.probe(master).format_name, media.probe(master).video_codec) == ("mpeg", "h264")
    copy = media.make_working_copy(master, tmp_path / "derived")
    assert copy.method == "remux"
    assert _decoded_luma(copy.path) == _decoded_luma(clips["h264_ps"])


def test_a_recorder_clock_hours_in_is_kept_in_the_probe_and_zeroed_in_the_copy(tmp_path):
    master = write_sample(tmp_path / "night.mpg", "mpeg", "libx264", audio="mp2", start_s=3 * 3600)
    # The recorder's own clock, to the second (FFmpeg's muxer adds its own sub-second lead).
    assert media.probe(master).start_time_s == pytest.approx(3 * 3600, abs=1)
    copy = media.make_working_copy(master, tmp_path / "derived")
    facts = media.probe(copy.path)
    assert facts.start_time_s == 0.0
    assert facts.duration_s == pytest.approx(SECONDS, abs=0.1)
    assert len(_decoded_luma(copy.path)) == SECONDS * RATE


def test_a_raw_stream_has_no_duration_or_start_of_its_own(clips):
    facts = media.probe(clips["h264_raw"])
    assert (facts.format_name, facts.video_codec, facts.width, facts.frame_rate) == ("h264", "h264", WIDTH, RATE)
    assert facts.duration_s is None and facts.start_time_s is None


def test_remux_copies_the_h264_packets_unchanged(clips, tmp_path):
    master = clips["h264_mp4"]
    copy = media.make_working_copy(master, tmp_path / "derived")
    assert copy.settings["video"] == "copy"
    assert _video_packets(copy.path) == _video_packets(master)


def test_remux_of_a_program_stream_decodes_to_the_recorders_own_frames(clips, tmp_path):
    # Annex B start codes become MP4 length prefixes, so the bytes differ; the decoded
    # pictures are identical only if nothing was re-encoded.
    master = clips["h264_ps"]
    copy = media.make_working_copy(master, tmp_path / "derived")
    assert copy.method == "remux"
    assert _decoded_luma(copy.path) == _decoded_luma(master)


def test_a_raw_stream_with_b_frames_is_transcoded_to_keep_its_display_order(tmp_path):
    # A raw .264 has no timestamps; its B-frames would play out of order in a remuxed MP4.
    master = write_sample(tmp_path / "channel2.264", "h264", "libx264", b_frames=True)
    copy = media.make_working_copy(master, tmp_path / "derived")
    assert copy.method == "transcode"
    assert len(_decoded_luma(copy.path)) == SECONDS * RATE
    assert media.probe(copy.path).duration_s == pytest.approx(SECONDS, abs=0.1)


def test_transcode_records_its_settings(clips, tmp_path):
    copy = media.make_working_copy(clips["hevc_mp4"], tmp_path / "derived")
    assert copy.settings["video"]["codec"] == "libx264"
    assert copy.settings["video"]["preset"] == media.X264_PRESET
    assert copy.settings["video"]["pix_fmt"] == "yuv420p"
    assert copy.settings["audio"] is None


def test_a_cut_short_program_stream_gives_a_copy_of_what_is_there(clips, tmp_path):
    data = clips["h264_ps"].read_bytes()
    cut = tmp_path / "cut.mpg"
    cut.write_bytes(data[: len(data) * 6 // 10])
    copy = media.make_working_copy(cut, tmp_path / "derived")
    frames = len(_decoded_luma(copy.path))
    assert 0 < frames < SECONDS * RATE
    assert media.probe(copy.path).video_codec == "h264"


def _damaged(master: Path, to: Path) -> Path:
    data = bytearray(master.read_bytes())
    third, half = len(data) // 3, len(data) // 2
    data[third:half] = (bytes(range(7, 256, 3)) * (half - third))[: half - third]
    to.write_bytes(bytes(data))
    return to


@pytest.mark.parametrize("name, method, flagged", [
    ("h264_ps", "remux", True),
    ("mpeg2_ps", "transcode", True),
    # An MP4's index still names every packet: the damaged ones are copied as they are.
    ("h264_mp4", "remux", False),
])
def test_a_damaged_middle_still_gives_a_copy_with_a_poster(clips, tmp_path, name, method, flagged):
    master = _damaged(clips[name], tmp_path / f"damaged-{clips[name].name}")
    copy = media.make_working_copy(master, tmp_path / "derived")
    assert (copy.method, copy.truncated) == (method, flagged)
    assert media.probe(copy.path).video_codec == "h264"
    assert copy.poster_path is not None and copy.poster_path.exists()


def test_a_cut_short_mp4_is_a_clear_error(clips, tmp_path):
    # Without its index (moov, written last) an MP4 cannot be read at all.
    data = clips["hevc_mp4"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(media.MediaError):
        media.make_working_copy(cut, tmp_path / "derived")
    assert not any((tmp_path / "derived").iterdir())


@pytest.mark.parametrize("content", [b"", b"\x00" * 4096, bytes(range(256)) * 64, b"%PDF-1.7\n" + b"x" * 2000])
def test_a_corrupt_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(media.MediaError):
        media.probe(bad)
    with pytest.raises(media.MediaError):
        media.make_working_copy(bad, tmp_path / "derived")
    assert not any((tmp_path / "derived").iterdir())


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(media.MediaError):
        media.probe(tmp_path / "gone.mp4")


@pytest.mark.parametrize("name", ["h264_ps", "hevc_mp4"])
def test_the_time_limit_stops_the_copy_and_leaves_nothing(clips, tmp_path, name):
    with pytest.raises(media.MediaTimeout, match="limit"):
        media.make_working_copy(clips[name], tmp_path / "derived", time_limit_s=0)
    assert not any((tmp_path / "derived").iterdir())


def test_a_worker_runs_the_module_by_path_without_the_app(clips, tmp_path):
    # A lean child: only PyAV and the standard library, so the job's memory is the video's.
    script = Path(media.__file__)
    probe_imports = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
                     "print(sorted(m for m in sys.modules if m in ('app', 'flask', 'sqlalchemy')))")
    imported = subprocess.run([sys.executable, "-c", probe_imports, str(script)], capture_output=True, text=True,
                              check=True, cwd=tmp_path)
    assert imported.stdout.strip() == "[]"

    done = subprocess.run([sys.executable, str(script), str(clips["hevc_mp4"]), str(tmp_path / "derived")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["method"] == "transcode"
    assert result["sha256"] == hashlib.sha256((tmp_path / "derived" / "working.mp4").read_bytes()).hexdigest()

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"%PDF-1.7\n" * 100)
    failed = subprocess.run([sys.executable, str(script), str(bad), str(tmp_path / "derived-bad")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 1
    answer = json.loads(failed.stdout)
    assert answer["timeout"] is False and "not a readable video file" in answer["error"]


def test_a_copy_made_in_a_child_process_comes_back_whole(clips, tmp_path):
    copy = media.make_working_copy_in_child(clips["mpeg2_ps"], tmp_path / "derived")
    assert copy.method == "transcode" and copy.path == tmp_path / "derived" / "working.mp4"
    assert copy.sha256 == hashlib.sha256(copy.path.read_bytes()).hexdigest()
    assert copy.poster_path is not None and copy.poster_path.exists()
    assert copy.settings["audio"] == {"codec": "aac", "bit_rate": media.AAC_BIT_RATE}


def test_a_child_reports_each_failure_as_a_media_error(clips, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"MZ" + bytes(4000))
    with pytest.raises(media.MediaError, match="not a readable video file"):
        media.make_working_copy_in_child(bad, tmp_path / "derived-bad")
    with pytest.raises(media.MediaTimeout):
        media.make_working_copy_in_child(clips["hevc_mp4"], tmp_path / "derived-slow", time_limit_s=0)
    # Too little address space for the encoder: a clear error, not a crash of the caller.
    with pytest.raises(media.MediaError):
        media.make_working_copy_in_child(clips["hevc_mp4"], tmp_path / "derived-small", address_space_mib=150)
    for name in ("derived-bad", "derived-slow", "derived-small"):
        assert not (tmp_path / name / "working.mp4").exists()
