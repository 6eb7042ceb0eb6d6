"""Clip uploads (tus 1.0.0), officer review, access history and evidence holds.

The /api/uploads routes speak the tus protocol: headers in, headers out, empty
bodies on success, and the app's one JSON error shape on failure. They accept the
owner's session or an upload link's token (``Authorization: Bearer <token>`` or
``?token=``). A cross-site form cannot send the Tus-Resumable header they require,
which keeps the session cookie from being used against them.
"""
import base64

from apiflask import APIBlueprint
from flask import Response, request
from flask_login import current_user

from app import links
from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.clips import history, receipts, retention, review, tus, uploads
from app.clips.models import ClipStatus, DerivativeKind
from app.clips.schemas import (
    AccessOut,
    AccessQuery,
    ClipOut,
    HoldIn,
    HoldOut,
    OwnerClipOut,
    ReceiptOut,
    UploadLinkOut,
)
from app.db import utcnow
from app.errors import ApiError
from app.ratelimits import RATE_LIMITED, limited, uploader

bp = APIBlueprint("clips", __name__, url_prefix="/api", tag="Clips")

STAFF = (Role.OFFICER, Role.SUPERVISOR)
UPLOADS = ["Uploads (tus)"]
_TUS_VIEWS = {"clips.tus_options", "clips.tus_create", "clips.tus_head", "clips.tus_patch", "clips.tus_delete"}
UPLOAD_PATH = "/api/uploads"


@bp.before_request
def _speaks_tus():
    if request.endpoint in _TUS_VIEWS and request.method != "OPTIONS":
        tus.require_resumable()


@bp.after_request
def _tus_headers(response: Response) -> Response:
    if request.endpoint in _TUS_VIEWS:
        response.headers["Tus-Resumable"] = tus.TUS_VERSION
        if response.status_code == tus.CHECKSUM_MISMATCH:
            response.status = f"{tus.CHECKSUM_MISMATCH} Checksum Mismatch"
    return response


def _user():
    return current_user._get_current_object() if current_user.is_authenticated else None


def _header(name: str, description: str, schema: dict | None = None, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


_TUS_RESUMABLE = _header("Tus-Resumable", "The protocol version: 1.0.0 (412 otherwise).",
                         {"type": "string", "enum": [tus.TUS_VERSION]})
_TOKEN = {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "An upload link's token, when not sent as `Authorization: Bearer <token>`."}
_TUS_ERRORS = {
    400: "Malformed tus header", 403: "Not the ask's owner, or the ask's clip limit is reached",
    404: "No such ask or upload for you", 410: "The upload ended, expired, or its ask closed",
    412: "Tus-Resumable missing or not 1.0.0",
    503: "Clip storage refused or did not answer; nothing was changed (retry the same request later)",
}
_OUT_HEADER = {"schema": {"type": "string"}}


@bp.route("/uploads", methods=["OPTIONS"])
@bp.doc(hide=True)
def tus_options():
    """tus discovery: version, extensions, maximum size, checksum algorithms"""
    return "", 204, tus.options_headers(uploads.max_clip_bytes(links.token_from_request()))


@bp.post("/uploads", provide_automatic_options=False)
@limited("RATELIMIT_UPLOAD_CREATION", uploader, "uploads started")
@bp.doc(security=SECURITY, extensions={"parameters": [
    _TUS_RESUMABLE,
    _header("Upload-Length", "The clip's size in bytes; over the agency's maximum answers 413 at once.",
            {"type": "integer", "minimum": 1}),
    _header("Upload-Metadata", "Comma-separated `key <base64 value>` pairs, as tus defines them: `ask_id` (not "
            "needed with a link token); optionally `filename`; `recorder_offset`, the recorder's clock minus the "
            "true time in whole seconds as the owner read it (within ±20 years; kept with the clip and "
            "remembered on the ask's camera); `last_modified`, the browser's File.lastModified in milliseconds "
            "since 1970 (UTC). A malformed value answers 400 naming it.", required=False),
    _TOKEN]}, tags=UPLOADS,
    responses={201: {"description": "Upload created; PATCH its bytes to the Location",
                     "headers": {"Location": {**_OUT_HEADER, "required": True},
                                 "Upload-Expires": {**_OUT_HEADER, "required": True},
                                 "Tus-Resumable": {**_OUT_HEADER, "required": True}}},
               **_TUS_ERRORS, 409: "The ask is not approved, or its request is closed",
               413: "Larger than the agency's maximum clip size", 429: RATE_LIMITED})
def tus_create():
    """Start a resumable clip upload for an approved ask (tus creation)

    A tus 1.0.0 server (core, creation, termination, checksum, expiration): use any
    tus client, e.g. tus-js-client, with the owner's session or an upload link's
    token as `Authorization: Bearer <token>`. No bytes are read here.
    """
    length = tus.parse_size("Upload-Length", request.headers.get("Upload-Length"))
    metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"))
    uploader = uploads.uploader_for(_user(), links.token_from_request(), metadata.get("ask_id"))
    now = utcnow()
    clip = uploads.create_upload(uploader, length=length, filename=metadata.get("filename") or metadata.get("name"),
                                 recorder_offset_s=uploads.recorder_offset_from(metadata.get("recorder_offset")),
                                 file_modified_at=uploads.file_modified_from(metadata.get("last_modified"), now),
                                 now=now)
    location = f"{UPLOAD_PATH}/{clip.upload_id}"
    if uploader.token and "token" in request.args:
        location += f"?token={uploader.token}"
    return "", 201, {"Location": location, **tus.expires_header(clip.upload_expires_at)}


def _progress_headers(offset: int, status: ClipStatus, expires_at) -> dict[str, str]:
    headers = {"Upload-Offset": str(offset), "Cache-Control": "no-store"}
    if status == ClipStatus.UPLOADING:
        headers.update(tus.expires_header(expires_at))
    return headers


@bp.route("/uploads/<string:upload_id>", methods=["HEAD"])
@bp.doc(hide=True)
def tus_head(upload_id):
    """Where an upload stands (tus core): Upload-Offset and Upload-Length"""
    clip, uploader = uploads.upload_for(_user(), links.token_from_request(), upload_id)
    uploads.check_live(clip, uploader.ask)
    return "", 200, {**_progress_headers(clip.upload_offset, clip.status, clip.upload_expires_at),
                     "Upload-Length": str(clip.size)}


@bp.patch("/uploads/<string:upload_id>")
@bp.doc(security=SECURITY, extensions={
    "parameters": [
        _TUS_RESUMABLE,
        _header("Upload-Offset", "Where these bytes go: the upload's current offset (409 otherwise).",
                {"type": "integer", "minimum": 0}),
        _header("Upload-Checksum", "`<algorithm> <base64 digest>` of this body: sha1, sha256, sha512 or md5 "
                "(460 and nothing kept when it does not match).", required=False),
        _TOKEN]}, tags=UPLOADS,
    responses={204: {"description": "Bytes stored; Upload-Offset is the new offset",
                     "headers": {"Upload-Offset": {**_OUT_HEADER, "required": True},
                                 "Tus-Resumable": {**_OUT_HEADER, "required": True}}},
               **_TUS_ERRORS, 409: "Upload-Offset is not where the upload stands",
               413: "More bytes than the upload has room for",
               415: "Not application/offset+octet-stream, or not a video container",
               422: "A ZIP's last byte: it holds no video, or is past the limits against ZIP bombs "
                    "(the upload is ended)",
               423: "Another request is writing to this upload", 460: "Upload-Checksum does not match the body"})
def tus_patch(upload_id):
    """Send bytes of a clip from its current offset (tus core)

    The body is the bytes themselves, sent as `Content-Type:
    application/offset+octet-stream` (415 otherwise; OpenAPI has no way to describe
    that media type that generic clients understand). It goes to storage as it
    arrives; the request that brings the last byte computes the clip's SHA-256 and
    delivers it to the agency.
    """
    clip, uploader = uploads.upload_for(_user(), links.token_from_request(), upload_id)
    if request.mimetype != tus.OFFSET_CONTENT_TYPE:
        raise ApiError(415, "unsupported_media_type", f"Send the bytes as {tus.OFFSET_CONTENT_TYPE}.")
    offset = tus.parse_size("Upload-Offset", request.headers.get("Upload-Offset"))
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    progress = uploads.receive_chunk(uploader, clip, offset=offset, stream=request.stream,
                                     content_length=request.content_length, checksum=checksum)
    return "", 204, _progress_headers(progress.offset, progress.status, progress.expires_at)


@bp.delete("/uploads/<string:upload_id>")
@bp.doc(security=SECURITY, extensions={"parameters": [_TUS_RESUMABLE, _TOKEN]}, tags=UPLOADS,
        responses={204: {"description": "Upload ended and its bytes deleted",
                         "headers": {"Tus-Resumable": {**_OUT_HEADER, "required": True}}},
                   **_TUS_ERRORS, 409: "The clip is complete and delivered"})
def tus_delete(upload_id):
    """End an unfinished upload and delete its bytes (tus termination)"""
    clip, uploader = uploads.upload_for(_user(), links.token_from_request(), upload_id)
    uploads.terminate_upload(uploader, clip)
    return "", 204


@bp.get("/upload-links/<string:token>")
@bp.output(UploadLinkOut)
@bp.doc(responses={404: "Not a valid link", 409: "The ask is not approved, or its request is closed",
                   410: "The link expired with its request"}, tags=UPLOADS)
def upload_link_page(token):
    """What an upload link's page needs: agency, request, camera, limits, where to upload

    No account needed: the token in the link is the authority, for this one ask.
    """
    page = uploads.link_page(token)
    page["upload"] = {"endpoint": UPLOAD_PATH, "tus_version": tus.TUS_VERSION,
                      "authorization": f"Bearer {token}", "metadata": {"ask_id": str(page["ask"].id)}}
    return page


# --- officers' review --------------------------------------------------------------------------

_VIDEO = {media: {"schema": {"type": "string", "format": "binary"}}
          for media in ("video/mp4", "video/x-matroska", "video/x-msvideo", "video/mp2t", "video/h264")}
_RANGE_HEADERS = {"Accept-Ranges": _OUT_HEADER, "Content-Range": _OUT_HEADER, "ETag": _OUT_HEADER}


def _send(body: review.ClipBody, *, attachment: bool) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(body.end - body.start),
        "ETag": body.etag,
        # Evidence: no shared cache or browser cache keeps a copy.
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{"inline" if body.served_inline and not attachment else "attachment"}; '
                               f'filename="{body.filename}"',
    }
    if body.sha256 and not body.partial:
        # RFC 9530: the digest of the whole file, which the officer can check it against.
        headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(body.sha256)).decode()}:"
    if body.partial:
        headers["Content-Range"] = f"bytes {body.start}-{body.end - 1}/{body.size}"
    return Response(body.chunks, status=206 if body.partial else 200, headers=headers,
                    mimetype=body.media_type, direct_passthrough=True)


def _content_doc(action: str) -> dict:
    return {200: {"description": f"The whole clip ({action})", "content": _VIDEO, "headers": _RANGE_HEADERS},
            206: {"description": "The byte range asked for (HTTP Range)", "content": _VIDEO,
                  "headers": _RANGE_HEADERS},
            401: "Unauthenticated", 403: "Forbidden", 409: "Still uploading",
            410: "Purged when retention ended", 416: "Range not satisfiable",
            503: "Clip storage did not answer (no access is recorded)"}


_MP4 = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}


def _derived_doc(action: str, content: dict, ranges: bool = True) -> dict:
    doc = {200: {"description": f"The whole file ({action})", "content": content, "headers": _RANGE_HEADERS},
           401: "Unauthenticated", 403: "Forbidden", 404: "No such clip for you, or it has no poster frame",
           409: "Still uploading, the copy is still being made (media_not_ready), or none could be made "
                "(media_failed: the message says why; the master is still downloadable)",
           410: "Purged when retention ended", 503: "Clip storage did not answer (no access is recorded)"}
    if ranges:
        doc.update({206: {"description": "The byte range asked for (HTTP Range)", "content": content,
                          "headers": _RANGE_HEADERS}, 416: "Range not satisfiable"})
    return doc


@bp.get("/requests/<int:request_id>/clips")
@bp.output(ClipOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*STAFF)
def request_clips(request_id):
    """Clips delivered for one of your agency's requests, with their SHA-256

    Nothing here says who sent a clip.
    """
    return review.clips_for_request(me(), request_id)


@bp.get("/clips/<int:clip_id>")
@bp.output(ClipOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*STAFF)
def clip_detail(clip_id):
    """One of your agency's clips: its SHA-256, what the probe found, its working copy and poster

    Nothing here says who sent it.
    """
    return review.clip_view(me(), clip_id)


@bp.get("/clips/<int:clip_id>/content")
@bp.doc(security=SECURITY, responses=_content_doc("play"))
@require_role(*STAFF)
def clip_content(clip_id):
    """Play a clip (HTTP Range supported); the view is recorded and the owner sees it"""
    body = review.open_clip(me(), clip_id, review.VIEW, request.range, request.headers.get("If-Range"),
                             request.remote_addr)
    return _send(body, attachment=False)


@bp.get("/clips/<int:clip_id>/download")
@bp.doc(security=SECURITY, responses=_content_doc("download"))
@require_role(*STAFF)
def clip_download(clip_id):
    """Download a clip as a file; the download is recorded and the owner sees it"""
    body = review.open_clip(me(), clip_id, review.DOWNLOAD, request.range, request.headers.get("If-Range"),
                             request.remote_addr)
    return _send(body, attachment=True)


@bp.get("/clips/<int:clip_id>/working-copy")
@bp.doc(security=SECURITY, responses=_derived_doc("play", _MP4))
@require_role(*STAFF)
def clip_working_copy(clip_id):
    """Play the clip's working copy, an H.264/AAC MP4 made from the master (HTTP Range supported)

    The view is recorded (variant working_copy) and the owner sees it.
    """
    body = review.open_derivative(me(), clip_id, DerivativeKind.WORKING_COPY, review.VIEW, request.range,
                                  request.headers.get("If-Range"), request.remote_addr)
    return _send(body, attachment=False)


@bp.get("/clips/<int:clip_id>/working-copy/download")
@bp.doc(security=SECURITY, responses=_derived_doc("download", _MP4))
@require_role(*STAFF)
def clip_working_copy_download(clip_id):
    """Download the clip's working copy as a file; recorded (variant working_copy), the owner sees it"""
    body = review.open_derivative(me(), clip_id, DerivativeKind.WORKING_COPY, review.DOWNLOAD, request.range,
                                  request.headers.get("If-Range"), request.remote_addr)
    return _send(body, attachment=True)


@bp.get("/clips/<int:clip_id>/poster")
@bp.doc(security=SECURITY, responses=_derived_doc(
    "view", {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, ranges=False))
@require_role(*STAFF)
def clip_poster(clip_id):
    """The clip's poster frame (a JPEG of its first second); recorded (variant poster), the owner sees it"""
    body = review.open_derivative(me(), clip_id, DerivativeKind.POSTER, review.VIEW, None, None,
                                  request.remote_addr)
    return _send(body, attachment=False)


# --- owners ----------------------------------------------------------------------------------------

@bp.get("/asks/<int:ask_id>/clips")
@bp.output(OwnerClipOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def ask_clips(ask_id):
    """Your clips for one of your asks, each with its SHA-256 and every time police opened it"""
    return history.clips_for_ask(me(), ask_id)


@bp.get("/me/clip-accesses")
@bp.input(AccessQuery, location="query", arg_name="query")
@bp.output(AccessOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OWNER)
def my_clip_accesses(query):
    """Every view and download of your clips by agency staff, newest first"""
    return history.accesses_for_owner(me(), query["limit"], query.get("before_id"))


@bp.get("/me/clips/<int:clip_id>/receipt")
@bp.output(ReceiptOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def my_clip_receipt(clip_id):
    """A signed receipt for one of your delivered clips: the agency, request, SHA-256, size and time received"""
    return receipts.receipt_for_owner(me(), clip_id), 200, {
        "Content-Disposition": f'attachment; filename="porchlight-receipt-clip-{clip_id}.json"',
        "Cache-Control": "private, no-store"}


# --- evidence holds -----------------------------------------------------------------------------

@bp.get("/requests/<int:request_id>/holds")
@bp.output(HoldOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*STAFF)
def request_holds(request_id):
    """Evidence holds on one of your agency's requests"""
    return retention.holds_for_request(me(), request_id)


@bp.post("/requests/<int:request_id>/holds")
@bp.input(HoldIn, arg_name="data")
@bp.output(HoldOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 422])
@require_role(Role.SUPERVISOR)
def place_hold(request_id, data):
    """Place an evidence hold: the request's clips outlive retention until it is released"""
    return retention.place_hold(me(), request_id, data["reason"])


@bp.post("/holds/<int:hold_id>/release")
@bp.input(HoldIn, arg_name="data")
@bp.output(HoldOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409, 422])
@require_role(Role.SUPERVISOR)
def release_hold(hold_id, data):
    """Release an evidence hold, with a reason; clips past retention are then purged"""
    return retention.release_hold(me(), hold_id, data["reason"])
