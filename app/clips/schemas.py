"""Response and request bodies of the clip API (the tus routes speak headers, not JSON).

Staff schemas carry no owner, ask, camera label or file name: officers learn what
arrived for a request, never who sent it.
"""
from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Length, Range

from app.common.fields import INT32_MAX, StrictInteger, TrimmedString


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

    def _content_url(self, clip):
        return f"/api/clips/{clip.id}/content" if clip.status.value == "complete" else None

    def _download_url(self, clip):
        return f"/api/clips/{clip.id}/download" if clip.status.value == "complete" else None


class AccessOut(Schema):
    """One view or download of an owner's clip by agency staff."""

    id = fields.Integer()
    clip_id = fields.Integer()
    ask_id = fields.Integer()
    request_id = fields.Integer()
    action = fields.String(metadata={"enum": ["view", "download"]})
    byte_range = fields.String(allow_none=True, metadata={"description": "First bytes asked for, e.g. 0-1048575."})
    accessed_at = fields.DateTime()
    agency_name = fields.String()
    accessor_role = fields.String(allow_none=True, metadata={"enum": ["officer", "supervisor", None]})


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


class _LinkAsk(Schema):
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
