"""Recognising recorder exports by their leading bytes (app.clips.sniff), on real files made
with PyAV (tests/media_samples.py), and the samples themselves: FFmpeg reads each back."""
from __future__ import annotations

import av
import pytest

from app.clips import sniff
from config import Config
from tests import media_samples
from tests.media_samples import SAMPLES
from tests.upload_support import NOT_VIDEO

EVERY = list(sniff.CONTAINERS)


def _detect(data: bytes, allowed=EVERY):
    return sniff.detect(data[:sniff.SNIFF_BYTES], len(data), allowed)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_is_recognised_from_its_leading_bytes(samples, name):
    data = samples[name].read_bytes()
    assert _detect(data) == SAMPLES[name].container
    # Whatever order the allow-list names them in, no other container claims it.
    assert _detect(data, list(reversed(EVERY))) == SAMPLES[name].container
    assert _detect(data, [c for c in EVERY if c != SAMPLES[name].container]) is None


@pytest.mark.parametrize("name", sorted(n for n, s in SAMPLES.items() if s.codec))
def test_ffmpeg_reads_every_playable_sample_back(samples, name):
    sample = SAMPLES[name]
    codec, frames, size = media_samples.read_back(samples[name], sample.demuxer)
    assert (codec, frames, size) == (sample.codec, media_samples.FRAMES,
                                     (media_samples.WIDTH, media_samples.HEIGHT))


def test_dhav_and_imkh_files_are_found_by_ffmpeg_without_being_named(samples):
    with av.open(str(samples["dhav"])) as container:
        assert container.format.name == "dhav"
        assert container.streams.video[0].codec_context.name == "h264"
    with av.open(str(samples["imkh_mpegps"])) as container:
        assert container.format.name == "mpeg"
    assert samples["imkh_mpegps"].read_bytes()[:4] == b"IMKH"
    assert samples["imkh_mpegps"].read_bytes()[40:44] == b"\x00\x00\x01\xba"


@pytest.mark.parametrize("name", ["truncated", "corrupt"])
def test_damaged_files_pass_the_leading_bytes_but_not_ffmpeg(samples, name):
    """The leading-bytes check is no verdict on the video: damage is found when it is probed."""
    assert _detect(samples[name].read_bytes()) == SAMPLES[name].container
    with pytest.raises(av.FFmpegError):
        media_samples.read_back(samples[name])


@pytest.mark.parametrize("kind", sorted(NOT_VIDEO))
def test_photos_documents_and_executables_are_no_container(kind):
    assert _detect(NOT_VIDEO[kind]) is None


@pytest.mark.parametrize("data", [
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(500),  # JPEG
    b"GIF89a" + bytes(500),
    b"MZ\x90\x00" + bytes(500),  # Windows executable (PE)
    media_samples.FAKE_PLAYER,
    b"\xcf\xfa\xed\xfe" + bytes(500),  # Mach-O
    b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(500),
    b"ID3\x04\x00" + bytes(500),  # MP3
])
def test_other_files_are_no_container(data):
    assert _detect(data) is None


def test_a_zip_is_recognised_unless_its_first_entry_shows_a_document_or_program():
    assert sniff.allowed_containers(Config.ALLOWED_VIDEO_CONTAINERS) == list(sniff.CONTAINERS)
    assert _detect(media_samples.zip_bytes({"CH01/clip.dav": b"DHAV\xfd", "Player/player.exe": b"MZ"})) == "zip"
    assert _detect(media_samples.zip_bytes({"notes.txt": b"hello"})) == "zip"  # its entries are judged at its end
    for first in ("[Content_Types].xml", "_rels/.rels", "mimetype", "META-INF/MANIFEST.MF", "AndroidManifest.xml"):
        assert _detect(media_samples.zip_bytes({first: b"x", "clip.mp4": b"x"})) is None, first
    # The first entry's name decides only once it has arrived.
    docx = media_samples.zip_bytes({"[Content_Types].xml": b"x"})
    assert sniff.detect(docx[:35], len(docx), EVERY) is sniff.UNDECIDED
    assert sniff.detect(docx[:29], len(docx), EVERY) is sniff.UNDECIDED
    assert sniff.detect(docx[:49], len(docx), EVERY) is None


def test_raw_h264_and_h265_are_told_apart():
    # H.265 headers: VPS, SPS, PPS, access unit delimiter, prefix SEI (layer 0, temporal id 1).
    for first in (0x40, 0x42, 0x44, 0x46, 0x4E):
        assert _detect(b"\x00\x00\x00\x01" + bytes([first, 0x01]) + bytes(100)) == "hevc"
    # The same bytes with another layer or temporal id 0 are no stream opening.
    assert _detect(b"\x00\x00\x00\x01\x40\x09" + bytes(100)) is None
    assert _detect(b"\x00\x00\x00\x01\x40\x00" + bytes(100)) is None
    # H.264: SPS, PPS, IDR, SEI, access unit delimiter; an SEI or delimiter with nal_ref_idc
    # set is none (0x46 would be an H.265 delimiter, not an H.264 SEI).
    for first in (0x67, 0x68, 0x65, 0x06, 0x09, 0x27):
        assert _detect(b"\x00\x00\x01" + bytes([first, 0x42]) + bytes(100)) == "h264"
    assert sniff.is_h264(b"\x00\x00\x01\x46\x01", 5) is False


def test_partial_heads_wait_for_more_bytes():
    assert _detect(b"IMKH" + bytes(36) + b"\x00\x00\x01\xba\x44" + bytes(200)) == "mpegps"
    assert sniff.detect(b"IMKH" + bytes(30), 1000, EVERY) is sniff.UNDECIDED
    assert sniff.detect(b"\x00\x00\x01\xba", 1000, EVERY) is sniff.UNDECIDED
    assert sniff.detect(b"\x00\x00\x01\xba\x44", 1000, EVERY) == "mpegps"
    assert sniff.detect(b"\x00\x00\x01\xba\x00", 1000, EVERY) is None  # no MPEG-1/2 marker bits
    assert sniff.detect(b"IMKH" + bytes(36) + b"\x00\x00\x01\xe0", 1000, EVERY) is None
    assert sniff.detect(b"DHA", 1000, EVERY) is sniff.UNDECIDED
    assert sniff.detect(b"DHAV\xfd", 1000, EVERY) == "dhav"
    assert sniff.detect(b"DHAV\x00", 1000, EVERY) is None
    assert sniff.detect(b"DAHUA", 1000, EVERY) == "dhav"
    assert sniff.detect(b"\x30\x26\xb2\x75", 1000, EVERY) is sniff.UNDECIDED
    assert sniff.detect(b"\x00\x00\x00\x01\x40", 1000, EVERY) is sniff.UNDECIDED  # one of H.265's two header bytes
    assert sniff.detect(b"PK\x03", 1000, EVERY) is sniff.UNDECIDED
    assert sniff.detect(b"PK\x05\x06" + bytes(18), 22, EVERY) is None  # an empty ZIP holds no video
    # A file shorter than what a check needs is decided on what it has.
    assert sniff.detect(b"\x00\x00\x01\xba", 4, EVERY) is None
    assert sniff.detect(b"DHAV", 4, EVERY) is None


def test_the_allow_list_knows_the_new_names():
    assert sniff.allowed_containers("mpegps, dhav,hevc,asf,zip") == ["mpegps", "dhav", "hevc", "asf", "zip"]
    assert set(sniff.EXTENSIONS) == set(sniff.CONTAINERS) == set(sniff.MEDIA_TYPES)
    assert sniff.MEDIA_TYPES["zip"] == "application/zip"
