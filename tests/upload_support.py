"""Helpers for the upload and review tests: requests and asks written to the database,
small but real video files, tus requests through the test client, and the app served
on 127.0.0.1 for a real tus client (tuspy)."""
from __future__ import annotations

import base64
import hashlib
import io
import itertools
import random
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from werkzeug.serving import make_server

from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState, FootageRequest, RequestStatus

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
_seq = itertools.count(1)


# --- data ------------------------------------------------------------------------------------

def footage_request(agency, officer=None, *, status=RequestStatus.ACTIVE, lifetime=timedelta(hours=72)):
    now = utcnow()
    request = FootageRequest(
        agency_id=agency.id, officer_id=officer.id if officer else None, case_number=f"UP-{next(_seq):05d}",
        incident_type="burglary", summary="Break-in on 5th Street; looking for people on foot.",
        latitude=43.0389, longitude=-87.9065, radius_m=250, window_start=now - timedelta(hours=4),
        window_end=now - timedelta(hours=3), status=status, exceeded_limits=[], activated_at=now,
        expires_at=now + lifetime)
    db.session.add(request)
    db.session.flush()
    return request


def ask(request, owner, *, state=AskState.APPROVED, label="Porch camera"):
    obj = Ask(request_id=request.id, camera_id=None, owner_id=owner.id, state=state,
              reply_code=f"{next(_seq) % 10_000:04d}", distance_m=40.0, camera_label=label)
    db.session.add(obj)
    db.session.flush()
    return obj


def approved_ask(world, owner=None, **kw):
    """An approved ask of ``owner`` (the world's owner) for a fresh request of the world's agency; committed."""
    request = footage_request(world.agency, world.officer, **kw)
    obj = ask(request, owner or world.owner)
    db.session.commit()
    return obj


# --- video files ---------------------------------------------------------------------------------

def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(max(0, size))


def mp4_bytes(size: int = 64 * 1024, seed: int = 1, brand: bytes = b"isom") -> bytes:
    """An ISO base media file: an ftyp box, then one mdat box filling the rest."""
    ftyp = struct.pack(">I4s4sI", 32, b"ftyp", brand, 0x200) + b"isomiso2avc1mp41"
    mdat_size = size - len(ftyp)
    return ftyp + struct.pack(">I4s", mdat_size, b"mdat") + _payload(mdat_size - 8, seed)


def mkv_bytes(size: int = 4096, seed: int = 2) -> bytes:
    header = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    return header + _payload(size - len(header), seed)


def avi_bytes(size: int = 4096, seed: int = 3) -> bytes:
    header = b"RIFF" + struct.pack("<I", size - 8) + b"AVI LIST"
    return header + _payload(size - len(header), seed)


def ts_bytes(packets: int = 20, seed: int = 4, packet: int = 188) -> bytes:
    rng = random.Random(seed)
    lead = packet - 188  # M2TS: a 4-byte timecode before each packet
    return b"".join(rng.randbytes(lead) + b"\x47" + rng.randbytes(187) for _ in range(packets))


def h264_bytes(size: int = 4096, seed: int = 5) -> bytes:
    header = b"\x00\x00\x00\x01\x67\x42\xc0\x1e"  # start code, then a sequence parameter set
    return header + _payload(size - len(header), seed)


NOT_VIDEO = {
    "png": b"\x89PNG\r\n\x1a\n" + bytes(2000),
    "pdf": b"%PDF-1.7\n" + bytes(2000),
    # A ZIP, but an Office document: its first entry says so.
    "docx": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(16) + b"\x13\x00\x00\x00[Content_Types].xml" + bytes(2000),
    "text": b"hello, this is not a video at all\n" * 60,
    "elf": b"\x7fELF\x02\x01\x01" + bytes(2000),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(data: bytes, algorithm: str = "sha1") -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in values.items())


# --- tus through the test client ----------------------------------------------------------------

def create(client, ask_id, length, *, filename="clip.mp4", headers=None, **kw):
    meta = {"filename": filename} if ask_id is None else {"ask_id": str(ask_id), "filename": filename}
    return client.post("/api/uploads", headers={**TUS, "Upload-Length": str(length),
                                                "Upload-Metadata": metadata(**meta), **(headers or {})}, **kw)


def patch(client, location, data, offset, *, headers=None):
    return client.patch(location, data=data, headers={**TUS, "Upload-Offset": str(offset),
                                                      "Content-Type": OFFSET_TYPE, **(headers or {})})


def upload(client, ask_id, data, *, chunk=None, headers=None) -> str:
    """Create and send a whole clip; returns its Location."""
    created = create(client, ask_id, len(data), headers=headers)
    assert created.status_code == 201, created.json
    location = created.headers["Location"]
    step = chunk or len(data)
    for offset in range(0, len(data), step):
        r = patch(client, location, data[offset:offset + step], offset, headers=headers)
        assert r.status_code == 204, r.json
    return location


# --- a real server for a real tus client ------------------------------------------------------

@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 from a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class KeptOpenBytes(io.BytesIO):
    """A file for tuspy, which closes the stream it fingerprints and would then read a closed one."""

    def close(self):
        pass


def session_cookie(client) -> dict[str, str]:
    return {"Cookie": f"porchlight_session={client.get_cookie('porchlight_session').value}"}
