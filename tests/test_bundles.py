"""Recorder ZIP exports listed from their central directory (app.clips.bundles): which
entries are video, which are players; limits against ZIP bombs; names that would escape
a directory flagged. Nothing here extracts or runs anything."""
from __future__ import annotations

import zipfile

import pytest

from app.clips import bundles
from app.clips.bundles import BundleError, Limits
from tests import media_samples


def _write(tmp_path, data: bytes, name="bundle.zip"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_recorder_export_lists_its_videos_and_its_player(samples):
    bundle = bundles.list_entries(samples["bundle_zip"])
    by_name = {e.name: e for e in bundle.entries}
    assert sorted(by_name) == ["CH01/20260314093000.dav", "CH02/20260314093000.mp4", "Player/SmartPlayer.exe",
                               "Player/readme.txt"]
    assert [e.name for e in bundle.videos] == ["CH01/20260314093000.dav", "CH02/20260314093000.mp4"]
    assert by_name["CH01/20260314093000.dav"].container == "dhav"
    assert by_name["CH02/20260314093000.mp4"].container == "mp4"
    assert by_name["CH01/20260314093000.dav"].size == samples["dhav"].stat().st_size
    player = by_name["Player/SmartPlayer.exe"]
    assert player.executable and not player.is_video and player.container is None
    assert not by_name["Player/readme.txt"].executable
    assert bundle.total_size == sum(e.size for e in bundle.entries)
    assert all(not e.unsafe_name and e.unreadable is None for e in bundle.entries)
    assert bundles.require_video(bundle) is bundle


def test_video_is_judged_by_its_bytes_not_its_name(tmp_path, samples):
    data = media_samples.zip_bytes({
        "fake.mp4": media_samples.FAKE_PLAYER,  # an executable named as a video
        "clip.bin": samples["h264_mpegps"].read_bytes(),  # a video under another name
        "inner.zip": media_samples.zip_bytes({"a.mp4": samples["h264_mp4"].read_bytes()}),
    })
    by_name = {e.name: e for e in bundles.list_entries(_write(tmp_path, data)).entries}
    assert by_name["fake.mp4"].named_as_video and by_name["fake.mp4"].executable and not by_name["fake.mp4"].is_video
    assert by_name["clip.bin"].is_video and by_name["clip.bin"].container == "mpegps"
    assert not by_name["clip.bin"].named_as_video
    assert by_name["inner.zip"].container == "zip" and not by_name["inner.zip"].is_video  # never opened further


def test_a_zip_without_video_is_refused(tmp_path):
    bundle = bundles.list_entries(_write(tmp_path, media_samples.zip_bytes({"report.docx": b"PK\x03\x04 words",
                                                                           "setup.exe": media_samples.FAKE_PLAYER})))
    with pytest.raises(BundleError) as raised:
        bundles.require_video(bundle)
    assert raised.value.code == "bundle_without_video"


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path):
    bomb = media_samples.zip_bytes({"clip.mp4": bytes(8 * 1024**2)})  # 8 MiB of zeros deflate ~1000:1
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(_write(tmp_path, bomb))
    assert raised.value.code == "bundle_compression_ratio" and "clip.mp4" in raised.value.message
    # Stored (uncompressed), the same bytes are no bomb; small entries may compress as well as they like.
    stored = media_samples.zip_bytes({"clip.bin": bytes(2 * 1024**2)}, compression=zipfile.ZIP_STORED)
    assert bundles.list_entries(_write(tmp_path, stored, "stored.zip")).entries[0].size == 2 * 1024**2
    assert bundles.list_entries(_write(tmp_path, media_samples.zip_bytes({"a.txt": bytes(500_000)}),
                                       "small.zip")).entries[0].size == 500_000


def test_entry_count_total_size_and_name_length_are_bounded(tmp_path):
    many = _write(tmp_path, media_samples.zip_bytes({f"{i}.txt": b"x" for i in range(6)}))
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(many, Limits(max_entries=5))
    assert raised.value.code == "bundle_too_many_entries"
    assert len(bundles.list_entries(many, Limits(max_entries=6)).entries) == 6
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(many, Limits(max_total_bytes=5))
    assert raised.value.code == "bundle_too_large"
    long_name = _write(tmp_path, media_samples.zip_bytes({"a" * 300 + ".mp4": b"x"}), "long.zip")
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(long_name, Limits(max_name_length=200))
    assert raised.value.code == "bundle_name_too_long"


@pytest.mark.parametrize("name,reasons", [
    ("../evil.mp4", ("parent",)),
    ("videos/../../evil.mp4", ("parent",)),
    ("/etc/cron.d/evil", ("absolute",)),
    ("C:\\Windows\\System32\\evil.exe", ("drive", "backslash")),
    ("..\\..\\evil.exe", ("parent", "backslash")),
    ("\\\\server\\share\\evil", ("absolute", "backslash")),
    ("videos/..hidden.mp4", ()),  # dots inside a name are no parent
])
def test_names_that_would_escape_are_flagged(tmp_path, name, reasons):
    buffer = _write(tmp_path, media_samples.zip_bytes({name: b"x"}))
    (entry,) = bundles.list_entries(buffer).entries
    assert entry.name == name and entry.unsafe_name == reasons
    assert bundles.unsafe_name(name) == reasons


def test_unreadable_entries_are_listed_not_fatal(tmp_path, samples):
    data = bytearray(media_samples.zip_bytes({"locked.mp4": samples["h264_mp4"].read_bytes(),
                                              "clip.ts": samples["h264_mpegts"].read_bytes()}))
    # Python's zipfile writes no encrypted entries: set the first entry's "encrypted" flag in
    # its central directory record (general purpose flags, 8 bytes in), as a locked export has it.
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    path = _write(tmp_path, bytes(data), "locked.zip")
    by_name = {e.name: e for e in bundles.list_entries(path).entries}
    assert by_name["locked.mp4"].unreadable == "encrypted" and not by_name["locked.mp4"].is_video
    assert by_name["locked.mp4"].named_as_video
    assert by_name["clip.ts"].is_video


@pytest.mark.parametrize("data", [
    b"not a zip at all" * 100,
    b"PK\x03\x04" + bytes(500),  # a local header and no central directory
    b"",
])
def test_what_is_no_zip_is_a_clear_error(tmp_path, data):
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(_write(tmp_path, data))
    assert raised.value.code == "bundle_unreadable"


def test_a_truncated_zip_is_a_clear_error(tmp_path, samples):
    data = samples["bundle_zip"].read_bytes()
    with pytest.raises(BundleError) as raised:
        bundles.list_entries(_write(tmp_path, data[:len(data) - 30]))
    assert raised.value.code == "bundle_unreadable"


def test_an_entry_whose_compressed_bytes_are_damaged_is_listed_as_damaged(tmp_path, samples):
    data = bytearray(media_samples.zip_bytes({"clip.ts": samples["h264_mpegts"].read_bytes()}))
    start = 30 + len("clip.ts")  # the local file header, then the deflated bytes
    data[start:start + 64] = b"\xff" * 64
    (entry,) = bundles.list_entries(_write(tmp_path, bytes(data))).entries
    assert entry.unreadable == "damaged" and not entry.is_video and entry.named_as_video
