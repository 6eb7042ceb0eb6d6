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
# SEI and access unit delimiters always carry nal_ref_idc 0; requiring it keeps the
# H.265 headers below (0x46 is an H.265 delimiter) from passing for H.264.
_H264_UNREFERENCED_NAL = {6, 9}
# H.265 NAL types a raw stream opens with: VPS, SPS, PPS, access unit delimiter, prefix SEI.
_HEVC_FIRST_NAL = {32, 33, 34, 35, 39}


def _annex_b_header(data: bytes, total: int, size: int) -> bytes | None | bool:
    """The first ``size`` NAL header bytes after an Annex B start code, None while they have
    not arrived, False when the data opens with no start code."""
    for code in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        answer = _prefix(data, total, 0, code)
        if answer is None:
            return None
        if answer:
            if total < len(code) + size:
                return False
            header = data[len(code):len(code) + size]
            return header if len(header) == size else None
    return False


def is_h264(data: bytes, total: int) -> bool | None:
    # Annex B byte stream: a 3- or 4-byte start code, then a NAL header whose
    # forbidden bit is 0 and whose type can open a stream.
    header = _annex_b_header(data, total, 1)
    if not isinstance(header, bytes):
        return header
    nal_type, ref_idc = header[0] & 0x1F, (header[0] >> 5) & 0x03
    if nal_type in _H264_UNREFERENCED_NAL and ref_idc:
        return False
    return header[0] & 0x80 == 0 and nal_type in _H264_FIRST_NAL


def is_hevc(data: bytes, total: int) -> bool | None:
    # Annex B as for H.264, but a two-byte NAL header: forbidden bit, 6-bit type,
    # 6-bit layer id (0 for the base layer a stream opens with), 3-bit temporal id + 1 (never 0).
    header = _annex_b_header(data, total, 2)
    if not isinstance(header, bytes):
        return header
    first, second = header
    layer_id = ((first & 0x01) << 5) | (second >> 3)
    return first & 0x80 == 0 and (first >> 1) & 0x3F in _HEVC_FIRST_NAL and layer_id == 0 and second & 0x07 != 0


# Hikvision recorders put a 40-byte media header (IMKH, its codecs and rates) before the
# program stream; FFmpeg's MPEG-PS demuxer reads past it.
IMKH_HEADER = 40


def is_mpegps(data: bytes, total: int) -> bool | None:
    # MPEG program stream (.mpg, .vob, recorder exports): a pack header, 00 00 01 BA, whose
    # next byte starts with the MPEG-2 marker bits 01 or the MPEG-1 ones 0010.
    start = 0
    imkh = _prefix(data, total, 0, b"IMKH")
    if imkh is None:
        return None
    if imkh:
        start = IMKH_HEADER
    pack = _prefix(data, total, start, b"\x00\x00\x01\xba")
    if not pack:
        return pack
    if total <= start + 4:
        return False
    if len(data) <= start + 4:
        return None
    marker = data[start + 4]
    return marker & 0xC0 == 0x40 or marker & 0xF0 == 0x20


# The first byte after "DHAV" is the block type FFmpeg's dhav demuxer accepts: audio, the
# recorder's own data, video frames (non-key, key).
_DHAV_BLOCK_TYPES = {0xF0, 0xF1, 0xFC, 0xFD}


def is_dhav(data: bytes, total: int) -> bool | None:
    # Dahua .dav: a stream of "DHAV" blocks, sometimes behind a 1 KiB "DAHUA" file header.
    dahua = _prefix(data, total, 0, b"DAHUA")
    if dahua is not False:
        return dahua
    dhav = _prefix(data, total, 0, b"DHAV")
    if not dhav:
        return dhav
    if total <= 4:
        return False
    if len(data) <= 4:
        return None
    return data[4] in _DHAV_BLOCK_TYPES


# The ASF header object's GUID (75B22630-668E-11CF-A6D9-00AA0062CE6C), in its on-disk byte order.
_ASF_HEADER_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def is_asf(data: bytes, total: int) -> bool | None:
    # ASF: Windows Media (.wmv, .asf) and many recorders' exports.
    return _prefix(data, total, 0, _ASF_HEADER_GUID)


# First entries that make a ZIP a document or a program, not a recorder's export: Office
# (OOXML), OpenDocument and EPUB, Java archives, Android packages.
_DOCUMENT_ZIP_FIRST_ENTRIES = (b"[Content_Types].xml", b"_rels/", b"mimetype", b"META-INF/", b"AndroidManifest.xml")
_ZIP_NAME_AT = 30  # a local file header's fixed part; the entry's name follows


def is_zip(data: bytes, total: int) -> bool | None:
    # A ZIP whose first record is a local file header: the bundle a recorder exports with its
    # player. What is inside is judged from the central directory (app.clips.bundles) once the
    # whole file is there; here only its first entry's name, to refuse documents at once.
    magic = _prefix(data, total, 0, b"PK\x03\x04")
    if not magic:
        return magic
    if total < _ZIP_NAME_AT:
        return False
    if len(data) < _ZIP_NAME_AT:
        return None
    name_length = int.from_bytes(data[26:28], "little")
    name = data[_ZIP_NAME_AT:_ZIP_NAME_AT + name_length]
    if len(name) < name_length and len(data) < min(total, SNIFF_BYTES):
        return None
    return not name.startswith(_DOCUMENT_ZIP_FIRST_ENTRIES)


CONTAINERS: dict[str, Check] = {
    "mp4": is_mp4,
    "matroska": is_matroska,
    "avi": is_avi,
    "mpegts": is_mpegts,
    "h264": is_h264,
    "hevc": is_hevc,
    "mpegps": is_mpegps,
    "dhav": is_dhav,
    "asf": is_asf,
    "zip": is_zip,
}

EXTENSIONS = {"mp4": "mp4", "matroska": "mkv", "avi": "avi", "mpegts": "ts", "h264": "h264", "hevc": "h265",
              "mpegps": "mpg", "dhav": "dav", "asf": "asf", "zip": "zip"}
# A ZIP is never a media type a browser plays: it goes out as application/zip, as an attachment.
MEDIA_TYPES = {"mp4": "video/mp4", "matroska": "video/x-matroska", "avi": "video/x-msvideo",
               "mpegts": "video/mp2t", "h264": "video/h264", "hevc": "video/h265", "mpegps": "video/mpeg",
               "dhav": "application/octet-stream", "asf": "video/x-ms-asf", "zip": "application/zip"}


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
