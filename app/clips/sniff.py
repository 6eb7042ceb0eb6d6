"""Recognising a video container by its leading bytes.

Only the container is checked, from the first few hundred bytes: enough to refuse
photos, documents and executables sent as "video", never an analysis of the video
itself. Each check answers True (this container), False (not it) or None (too few
bytes yet to tell), so an upload whose first PATCH carries only a few bytes is
decided by a later one.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

TS_PACKET = 188
M2TS_PACKET = 192  # Blu-ray/AVCHD transport stream: a 4-byte timecode before each packet
TS_PACKETS_CHECKED = 4
# The most leading bytes any check needs.
SNIFF_BYTES = M2TS_PACKET * TS_PACKETS_CHECKED

Check = Callable[[bytes, int], bool | None]


def _prefix(data: bytes, total: int, start: int, magic: bytes) -> bool | None:
    """Whether ``magic`` sits at ``start``; None while the bytes there have not all arrived."""
    end = start + len(magic)
    if total < end:
        return False
    seen = data[start:end]
    if not magic.startswith(seen):
        return False
    return True if len(seen) == len(magic) else None


def _all(*answers: bool | None) -> bool | None:
    if any(a is False for a in answers):
        return False
    return None if any(a is None for a in answers) else True


def is_mp4(data: bytes, total: int) -> bool | None:
    # ISO base media (MP4, MOV, 3GP): the first box is `ftyp`. Its size field is 1
    # (a 64-bit size follows) or at least the 8 bytes of the box header.
    if len(data) >= 4:
        size = int.from_bytes(data[:4], "big")
        if size != 1 and size < 8:
            return False
    return _prefix(data, total, 4, b"ftyp")


def is_matroska(data: bytes, total: int) -> bool | None:
    # Matroska and WebM start with the EBML header element.
    return _prefix(data, total, 0, b"\x1a\x45\xdf\xa3")


def is_avi(data: bytes, total: int) -> bool | None:
    return _all(_prefix(data, total, 0, b"RIFF"), _prefix(data, total, 8, b"AVI "))


def _sync_every(data: bytes, total: int, packet: int, first: int) -> bool | None:
    positions = [first + i * packet for i in range(TS_PACKETS_CHECKED) if first + i * packet < total]
    if not positions:
        return False
    answers = [(data[p] == 0x47) if p < len(data) else None for p in positions]
    return _all(*answers)


def is_mpegts(data: bytes, total: int) -> bool | None:
    # A 0x47 sync byte opening every 188-byte packet (or every 192-byte M2TS packet).
    plain = _sync_every(data, total, TS_PACKET, 0)
    if plain is not False:
        return plain
    return _sync_every(data, total, M2TS_PACKET, 4)


# NAL unit types a raw H.264 elementary stream opens with: coded slices, SEI, SPS, PPS,
# access unit delimiter.
_H264_FIRST_NAL = {1, 5, 6, 7, 8, 9}


def is_h264(data: bytes, total: int) -> bool | None:
    # Annex B byte stream: a 3- or 4-byte start code, then a NAL header whose
    # forbidden bit is 0 and whose type can open a stream.
    for code in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        answer = _prefix(data, total, 0, code)
        if answer is None:
            return None
        if answer:
            if len(data) <= len(code):
                return None if total > len(code) else False
            header = data[len(code)]
            return header & 0x80 == 0 and header & 0x1F in _H264_FIRST_NAL
    return False


CONTAINERS: dict[str, Check] = {
    "mp4": is_mp4,
    "matroska": is_matroska,
    "avi": is_avi,
    "mpegts": is_mpegts,
    "h264": is_h264,
}

EXTENSIONS = {"mp4": "mp4", "matroska": "mkv", "avi": "avi", "mpegts": "ts", "h264": "h264"}
MEDIA_TYPES = {"mp4": "video/mp4", "matroska": "video/x-matroska", "avi": "video/x-msvideo",
               "mpegts": "video/mp2t", "h264": "video/h264"}


class Undecided:
    """Too few leading bytes so far to tell; keep receiving."""


UNDECIDED = Undecided()


def allowed_containers(setting: str | Iterable[str]) -> list[str]:
    names = [n.strip().lower() for n in (setting.split(",") if isinstance(setting, str) else setting)]
    unknown = [n for n in names if n and n not in CONTAINERS]
    if unknown:
        raise RuntimeError(f"ALLOWED_VIDEO_CONTAINERS: unknown container(s) {unknown}; known: {sorted(CONTAINERS)}")
    return [n for n in names if n]


def detect(head: bytes, total: int, allowed: Iterable[str]) -> str | Undecided | None:
    """The first allowed container ``head`` (the upload's leading bytes) shows, UNDECIDED, or None.

    ``total`` is the upload's full length: a check never waits for bytes past it.
    """
    undecided = False
    for name in allowed:
        answer = CONTAINERS[name](head[:SNIFF_BYTES], total)
        if answer is True:
            return name
        if answer is None:
            undecided = True
    if undecided and len(head) < min(total, SNIFF_BYTES):
        return UNDECIDED
    return None
