"""Response and request bodies of the clip API (the tus routes speak headers, not JSON).

Staff schemas carry no owner, ask, camera label or file name: officers learn what
arrived for a request, never who sent it.
"""
from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Length, Range

from app.cameras import recorder_clock
from app.common.fields import INT32_MAX, StrictInteger, TrimmedString
from app.extensions import db
from app.footage.models import FootageRequest
from app.footage.schemas import AskRecorderTimes

_RECORDER_OFFSET = ("The recorder's clock minus the true time, in seconds, as the owner read it when uploading "
                    "(+300: 5 minutes fast): footage stamped T happened at T - offset. Null: not read.")
_FILE_MODIFIED = ("The file's last-modified time as the uploader's browser reported it (for a recorder export, "
                  "often when it was exported): not evidence of when the footage was recorded.")


class _RecorderSpan(Schema):
    start = fields.DateTime()
    end = fields.DateTime()


class StreamOut(Schema):
    type = fields.String(metadata={"enum": ["video", "audio"]})
    codec = fields.String(allow_none=True, metadata={"description": "FFmpeg's name: h264, hevc, mpeg2video, aac ..."})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    frame_rate = fields.Float(allow_none=True, metadata={"description": "Frames per second (video)."})
    sample_rate = fields.Integer(allow_none=True, metadata={"description": "Samples per second (audio)."})
    channels = fields.Integer(allow_none=True)


class ProbeOut(Schema):
    """What FFmpeg (PyAV) read of the master, or of a ZIP's entry."""

    container = fields.String(metadata={"description": "FFmpeg's demuxer, e.g. mpeg, dhav, mov,mp4,m4a,3gp,3g2,mj2."})
    video_codec = fields.String(allow_none=True)
    audio_codec = fields.String(allow_none=True)
    duration_s = fields.Float(allow_none=True, metadata={"description": "Seconds; null for raw streams."})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    frame_rate = fields.Float(allow_none=True)
    start_time_s = fields.Float(allow_none=True, metadata={
        "description": "Where the container's own clock starts, in seconds (MPEG streams and recorders often "
                       "start hours in); the working copy starts at 0."})
    start_time = fields.String(allow_none=True, metadata={
        "description": "The wall-clock time the container states it began (MP4/MOV creation_time as written "
                       "there; a Dahua .dav's recorder clock, without a time zone); null when it states none."})
    bit_rate = fields.Integer(allow_none=True, metadata={"description": "Bits per second over the whole file."})
    streams = fields.List(fields.Nested(StreamOut))
    bundle_entry = fields.String(metadata={"description": "A ZIP bundle: the entry the working copy was made from."})


class MediaOut(Schema):
    status = fields.String(allow_none=True, metadata={
        "enum": ["pending", "processing", "ready", "failed", None],
        "description": "Where the working copy stands: pending and processing (being made), ready, or failed "
                       "(no playable copy could be made: `error` says why; the master is still downloadable). "
                       "null while the clip is uploading."})
    error = fields.String(allow_none=True, metadata={
        "description": "Why no copy could be made (failed), or what is wrong with the master when the copy holds "
                       "only what could be read of it (ready), in plain words."})
    attempts = fields.Integer()
    done_at = fields.DateTime(allow_none=True)
    probe = fields.Nested(ProbeOut, allow_none=True, metadata={
        "description": "Kept even when the copy failed; null when the file could not be read as video."})


class WorkingCopyOut(Schema):
    """The browser-playable copy made from the master (never instead of it)."""

    sha256 = fields.String(metadata={"description": "SHA-256 (hex) of the working copy (not the master's)."})
    size = fields.Integer()
    method = fields.String(metadata={"enum": ["remux", "transcode"],
                                     "description": "remux: the recorder's H.264 copied unchanged into an MP4; "
                                                    "transcode: re-encoded to H.264 with libx264."})
    settings = fields.Dict(metadata={"description": "The codec settings (video, audio), and truncated: the master "
                                                    "ended early and the copy holds what could be read."})
    versions = fields.Dict(metadata={"description": "PyAV's and FFmpeg's library versions that made it."})
    created_at = fields.DateTime()
    content_url = fields.String()
    download_url = fields.String()


class BundleEntryOut(Schema):
    """One file of a recorder's ZIP export, as listed from its central directory (never extracted)."""

    name = fields.String(metadata={"description": "The entry's name inside the ZIP, as the recorder wrote it."})
    size = fields.Integer(metadata={"description": "Bytes uncompressed, as declared."})
    compressed_size = fields.Integer()
    kind = fields.String(metadata={"enum": ["video", "executable", "other"]})
    flags = fields.List(fields.String(), metadata={
        "description": "What is suspect: parent, absolute, drive, backslash (a name that would escape a folder), "
                       "encrypted, unsupported_compression, damaged, executable, not_video_content."})
    probe = fields.Nested(ProbeOut, allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "Why a video entry could not be probed."})
    working_copy = fields.Boolean(metadata={"description": "The working copy was made from this entry."})


class ClipOut(Schema):
    """A clip as the agency's staff see it."""

    id = fields.Integer()
    request_id = fields.Integer()
    status = fields.String(attribute="status.value",
                           metadata={"enum": ["uploading", "complete", "purged"],
                                     "description": "uploading (arriving), complete, or purged after retention."})
    size = fields.Integer(metadata={"description": "Bytes, as declared when the upload began."})
    received = fields.Integer(attribute="upload_offset", metadata={"description": "Bytes received so far."})
    container = fields.String(allow_none=True, metadata={"description": "mp4, matroska, avi, mpegts or h264."})
    sha256 = fields.String(allow_none=True, metadata={"description": "SHA-256 (hex) of the whole clip, computed by "
                                                                     "the server when the last byte arrived."})
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    retain_until = fields.DateTime(allow_none=True, metadata={"description": "Purged after this unless held."})
    purged_at = fields.DateTime(allow_none=True)
    held = fields.Boolean(metadata={"description": "An evidence hold on the request keeps it past retention."})
    content_url = fields.Method("_content_url", allow_none=True)
    download_url = fields.Method("_download_url", allow_none=True)
    recorder_offset_s = fields.Integer(allow_none=True, metadata={"description": _RECORDER_OFFSET})
    recorder_window = fields.Nested(_RecorderSpan, allow_none=True, metadata={
        "description": "The request's window as this clip's recorder stamps it (the window plus the offset): "
                       "where in the footage to look. Null when the offset was not read."})
    file_modified_at = fields.DateTime(allow_none=True, metadata={"description": _FILE_MODIFIED})

    def _content_url(self, clip):
        return f"/api/clips/{clip.id}/content" if clip.status.value == "complete" else None

    def _download_url(self, clip):
        return f"/api/clips/{clip.id}/download" if clip.status.value == "complete" else None

    media = fields.Nested(MediaOut, metadata={"description": "The media job's findings (app/clips/processing.py)."})
    working_copy = fields.Nested(WorkingCopyOut, allow_none=True, metadata={
        "description": "The browser-playable copy, once made; null before, when none could be made, and once purged."})
    poster_url = fields.String(allow_none=True, metadata={"description": "A JPEG frame of the clip's first second."})
    bundle_entries = fields.List(fields.Nested(BundleEntryOut), allow_none=True, metadata={
        "description": "A ZIP bundle's files (players and executables are listed, never served inline); "
                       "null for any other container, and until the media job has listed it."})

    def get_attribute(self, obj, attr, default):
        if attr == "recorder_window":
            # The request is in the session already (the staff check loaded it): no query.
            request = db.session.get(FootageRequest, obj.request_id)
            return recorder_clock.recorder_window(request.window_start, request.window_end, obj.recorder_offset_s)
        return super().get_attribute(obj, attr, default)


class AccessOut(Schema):
    """One view or download of an owner's clip by agency staff."""

    id = fields.Integer()
    clip_id = fields.Integer()
    ask_id = fields.Integer()
    request_id = fields.Integer()
    action = fields.String(metadata={"enum": ["view", "download"]})
    variant = fields.String(metadata={"enum": ["master", "working_copy", "poster"],
                                      "description": "Which file: the master as uploaded, the working copy made "
                                                     "from it, or its poster frame."})
    byte_range = fields.String(allow_none=True, metadata={"description": "First bytes asked for, e.g. 0-1048575."})
    accessed_at = fields.DateTime()
    agency_name = fields.String()
    accessor_role = fields.String(allow_none=True, metadata={"enum": ["officer", "supervisor", None]})


class FateOut(Schema):
    event = fields.String(metadata={"enum": ["received", "first_viewed", "held", "released", "purged"],
                                    "description": "received: the last byte arrived; first_viewed: agency staff "
                                                   "first opened it; held / released: an evidence hold on its "
                                                   "request was placed (kept past retention) / released; purged: "
                                                   "deleted when retention ended."})
    at = fields.DateTime()


class OwnerClipOut(Schema):
    """A clip as its owner sees it: with the file name they gave it and its SHA-256."""

    id = fields.Integer(attribute="clip.id")
    ask_id = fields.Integer(attribute="clip.ask_id")
    filename = fields.String(attribute="clip.filename", allow_none=True)
    status = fields.String(attribute="clip.status.value",
                           metadata={"enum": ["uploading", "complete", "purged"]})
    size = fields.Integer(attribute="clip.size")
    received = fields.Integer(attribute="clip.upload_offset")
    container = fields.String(attribute="clip.container", allow_none=True)
    sha256 = fields.String(attribute="clip.sha256", allow_none=True)
    created_at = fields.DateTime(attribute="clip.created_at")
    completed_at = fields.DateTime(attribute="clip.completed_at", allow_none=True)
    retain_until = fields.DateTime(attribute="clip.retain_until", allow_none=True)
    purged_at = fields.DateTime(attribute="clip.purged_at", allow_none=True)
    accesses = fields.List(fields.Nested(AccessOut))
    fate = fields.List(fields.Nested(FateOut), metadata={"description": "What became of the clip, oldest first."})
    recorder_offset_s = fields.Integer(attribute="clip.recorder_offset_s", allow_none=True,
                                       metadata={"description": _RECORDER_OFFSET})
    file_modified_at = fields.DateTime(attribute="clip.file_modified_at", allow_none=True,
                                       metadata={"description": _FILE_MODIFIED})


class AccessQuery(Schema):
    limit = StrictInteger(load_default=100, validate=Range(1, 500), strict=False)
    before_id = StrictInteger(validate=Range(1, INT32_MAX), strict=False,
                              metadata={"description": "Older than this access id (the last one of a page)."})


class HoldIn(Schema):
    reason = TrimmedString(required=True, validate=Length(1, 1000),
                           metadata={"description": "Why the clips must be kept (case, court order)."})


class HoldOut(Schema):
    id = fields.Integer()
    request_id = fields.Integer()
    reason = fields.String()
    placed_by_id = fields.Integer(allow_none=True)
    placed_at = fields.DateTime()
    active = fields.Method("_active")
    released_by_id = fields.Integer(allow_none=True)
    released_at = fields.DateTime(allow_none=True)
    release_reason = fields.String(allow_none=True)

    def _active(self, hold) -> bool:
        return hold.released_at is None


class _LinkAgency(Schema):
    id = fields.Integer()
    name = fields.String()


class _LinkRequest(Schema):
    incident_type = fields.String()
    summary = fields.String(metadata={"description": "What the officer wrote for owners."})
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)


class _LinkAsk(AskRecorderTimes):
    id = fields.Integer()
    state = fields.String(attribute="state.value")
    camera_label = fields.String()


class _LinkLimits(Schema):
    max_clip_bytes = fields.Integer()
    max_clips_per_ask = fields.Integer()
    clips_remaining = fields.Integer()
    containers = fields.List(fields.String())


class _LinkUpload(Schema):
    endpoint = fields.String(metadata={"description": "The tus 1.0.0 creation URL (POST)."})
    tus_version = fields.String()
    authorization = fields.String(metadata={"description": "Send this as the Authorization header."})
    metadata = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "Upload-Metadata to send (plus filename)."})


class UploadLinkOut(Schema):
    """What the upload page of an SMS link shows; no account needed."""

    agency = fields.Nested(_LinkAgency)
    request = fields.Nested(_LinkRequest)
    ask = fields.Nested(_LinkAsk)
    limits = fields.Nested(_LinkLimits)
    upload = fields.Nested(_LinkUpload)
    clips = fields.List(fields.Nested(OwnerClipOut))


class ReceiptOut(Schema):
    """A signed receipt: the agency received this clip (app/clips/receipts.py)."""

    type = fields.String(metadata={"enum": ["porchlight.clip-receipt"]})
    agency_id = fields.Integer()
    agency_name = fields.String()
    agency_slug = fields.String()
    request_id = fields.Integer()
    clip_id = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the clip as received, hex."})
    size = fields.Integer(metadata={"description": "Bytes received."})
    received_at = fields.String(metadata={"description": "When the last byte arrived, UTC, as signed: "
                                                         "YYYY-MM-DDTHH:MM:SS.ffffffZ."})
    key_id = fields.String(metadata={"description": "Which of the installation's keys signed it."})
    signature = fields.String(metadata={"description": "Ed25519 over the canonical JSON (sorted keys, no spaces) of "
                                                       "every field above, base64."})
    algorithm = fields.String(metadata={"enum": ["Ed25519"]})
    public_key = fields.String(metadata={"description": "The signing key's public half, base64, for convenience: "
                                                       "check it against the one on the transparency page."})
