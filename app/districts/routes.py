"""The district manager's API: member imports, the dashboard, exports and invitations."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from apiflask import APIBlueprint
from flask import Response, current_app, g, request, stream_with_context
from werkzeug.exceptions import RequestEntityTooLarge

from app import links
from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.common.csv_cells import neutralise
from app.common.settings import setting
from app.districts import importer, imports, invitations, members, pdf
from app.districts.schemas import (
    CommitOut,
    DashboardOut,
    ImportOut,
    ImportUploadIn,
    MemberPageOut,
    MembersQuery,
    SheetQuery,
    SmsInvitationIn,
    SmsInvitationOut,
)
from app.enrollment import codes
from app.errors import error_body
from app.notifications import dispatcher
from app.notifications import service as notifications

bp = APIBlueprint("districts", __name__, url_prefix="/api/district", tag="District")

MANAGER = Role.MANAGER
# Multipart framing around the file (boundaries, part headers) on top of the file limit.
MULTIPART_ALLOWANCE = 64 * 1024
PDF = {"description": "Printable invitation sheet: six members a page with their QR code and enrollment code",
       "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
       "headers": {"X-Members-Total": {"description": "Members the selection holds (page with offset/limit).",
                                       "schema": {"type": "integer"}}}}
CSV_EXPORT = {"description": "Every member as CSV (UTF-8 with BOM); cells that a spreadsheet would read as a "
                             "formula start with a single quote",
              "content": {"text/csv": {"schema": {"type": "string"}}}}


@bp.before_request
def limit_upload_size():
    # Refuse an oversize upload from its Content-Length, before any of the body is read;
    # a body without one is cut off by werkzeug at the same limit while it is parsed.
    if request.endpoint != "districts.upload_import":
        return None
    limit = setting("DISTRICT_IMPORT_MAX_BYTES")
    request.max_content_length = limit + MULTIPART_ALLOWANCE
    if request.content_length is not None and request.content_length > limit + MULTIPART_ALLOWANCE:
        raise importer.too_large(limit)
    # Werkzeug leaves the temporary file of a part it stops parsing (at the limit) open:
    # keep a hand on every one it makes, to close them when the request ends.
    opened = g.upload_streams = []
    make_stream = request._get_file_stream

    def tracked_stream(*args, **kwargs):
        stream = make_stream(*args, **kwargs)
        opened.append(stream)
        return stream

    request._get_file_stream = tracked_stream
    return None


@bp.teardown_request
def close_upload_streams(_exc):
    for stream in g.pop("upload_streams", []):
        stream.close()


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(_exc):
    limit = setting("DISTRICT_IMPORT_MAX_BYTES")
    error = importer.too_large(limit)
    return error_body(413, "file_too_large", error.message), 413


# --- imports -------------------------------------------------------------------------------------

@bp.post("/imports")
@bp.input(ImportUploadIn, location="files", arg_name="data")
@bp.output(ImportOut, status_code=201)
@bp.doc(security=SECURITY, responses={
    201: "The dry-run report: status `validated` (may be committed) or `rejected` (has problems)",
    401: "Unauthenticated", 403: "Forbidden", 413: "The file is larger than DISTRICT_IMPORT_MAX_BYTES",
    415: "Not a CSV or XLSX file", 422: "Empty, unreadable, no member rows, or more than DISTRICT_IMPORT_MAX_ROWS"})
@require_role(MANAGER)
def upload_import(data):
    """Check a member spreadsheet (dry run): nothing is saved to the members

    Upload as `multipart/form-data` with the file in the field `file`. Every row is
    validated and matched against the district's members (by member reference, else
    mobile number, else e-mail); the report lists each problem with its line (the
    header row is line 1) and column. A `validated` import can be committed with
    `POST /api/district/imports/{id}/commit` until `expires_at`.
    """
    upload = data["file"]
    return imports.check_import(me(), upload.stream, upload.filename)


@bp.get("/imports/<int:import_id>")
@bp.output(ImportOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(MANAGER)
def get_import(import_id):
    """An import's dry-run report (and, once committed, its result)"""
    return imports.import_for(me(), import_id)


@bp.post("/imports/<int:import_id>/commit")
@bp.output(CommitOut)
@bp.doc(security=SECURITY, responses={
    200: "Members created and updated, all in one transaction. Committing an import again answers the same "
         "result and changes nothing.",
    401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
    409: "The import was rejected (`import_rejected`), or the members changed since it was checked so that "
         "rows now collide (`members_changed`)",
    410: "The import expired before its commit (`import_expired`)"})
@require_role(MANAGER)
def commit_import(import_id):
    """Save a validated import: create and update members, each new one with its single-use code"""
    record = imports.commit_import(me(), import_id)
    return {"import_id": record.id, "created": record.created_count, "updated": record.updated_count,
            "unchanged": record.unchanged_count, "committed_at": record.committed_at}


# --- members and dashboard -----------------------------------------------------------------------

@bp.get("/dashboard")
@bp.output(DashboardOut)
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(MANAGER)
def dashboard():
    """Participation totals of your district"""
    return members.dashboard(me())


@bp.get("/members")
@bp.input(MembersQuery, location="query", arg_name="query")
@bp.output(MemberPageOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(MANAGER)
def list_members(query):
    """Your district's members, by business name, a page at a time (limit/offset)"""
    return members.list_members(me(), limit=query["limit"], offset=query["offset"], status=query.get("status"),
                                search=query.get("q") or None)


EXPORT_HEADER = ["member_ref", "business_name", "contact_name", "phone", "email", "address", "latitude",
                 "longitude", "cameras", "status", "invited_at", "sms_sent_at", "enrolled_at", "cameras_registered",
                 "cameras_active", "enrollment_code", "enrollment_url"]
def _csv_lines(rows: Iterator) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_HEADER)
    yield "\ufeff" + flush()  # the BOM makes Excel read UTF-8
    count = 0
    for view in rows:
        writer.writerow([neutralise(v) for v in (
            view.member_ref, view.business_name, view.contact_name, view.phone, view.email, view.address,
            view.latitude, view.longitude, view.cameras_expected, view.status, view.invited_at, view.sms_sent_at,
            view.enrolled_at, view.cameras_registered, view.cameras_active, view.code_display,
            codes.enrollment_url(view.code) if view.code and view.status != "enrolled" else None)])
        count += 1
        if count % 500 == 0:
            yield flush()
    yield flush()


@bp.get("/members.csv")
@bp.doc(security=SECURITY, responses={200: CSV_EXPORT, 401: "Unauthenticated", 403: "Forbidden"})
@require_role(MANAGER)
def export_members():
    """Export your district's members as CSV (audited)"""
    district, rows = members.export_rows(me())
    name = "".join(ch if ch.isalnum() else "-" for ch in district.name.lower()).strip("-") or "district"
    return Response(stream_with_context(_csv_lines(rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-members.csv"',
                             "Cache-Control": "no-store"})


# --- invitations ---------------------------------------------------------------------------------

@bp.post("/invitations/sms")
@bp.input(SmsInvitationIn, arg_name="data")
@bp.output(SmsInvitationOut, status_code=202)
@bp.doc(security=SECURITY, responses={
    202: "Invitations queued for sending", 401: "Unauthenticated", 403: "Forbidden",
    404: "A member id is not of your district", 422: "Invalid input",
    429: "More than DISTRICT_SMS_PER_HOUR invitations in the last hour (see Retry-After)"})
@require_role(MANAGER)
def send_sms_invitations(data):
    """Text each chosen member its enrollment link (queued; rate-limited; STOP honoured)

    Without `member_ids`, every member not yet enrolled and not yet sent an
    invitation SMS. Enrolled members, members without a mobile number and numbers
    that texted STOP are skipped and counted. Without Twilio credentials the SMS
    stay in the server's outbox (`sms_mode: outbox`).
    """
    result = invitations.queue_sms_invitations(me(), data.get("member_ids"))
    dispatcher.enqueue(result.notification_ids)
    status = notifications.sms_status()
    return {"queued": result.queued, "skipped_opted_out": result.skipped_opted_out,
            "skipped_no_phone": result.skipped_no_phone, "skipped_enrolled": result.skipped_enrolled,
            "skipped_already_invited": result.skipped_already_invited, "sms_mode": status["mode"],
            "message": status["message"] if not status["sending"] else
            f"{result.queued} invitation{'s' if result.queued != 1 else ''} queued."}


@bp.get("/invitations.pdf")
@bp.input(SheetQuery, location="query", arg_name="query")
@bp.doc(security=SECURITY, responses={200: PDF, 401: "Unauthenticated", 403: "Forbidden",
                                      404: "A member id is not of your district", 422: "Invalid input"})
@require_role(MANAGER)
def invitation_sheet(query):
    """Printable invitation sheet (PDF) with each member's QR code and enrollment code (audited)

    `member_ids` (comma-separated) picks members; without it the sheet holds the
    members not yet enrolled, DISTRICT_PDF_MAX_MEMBERS at most: page through more
    with `offset` and `limit` (`X-Members-Total` says how many there are).
    """
    member_ids = query.get("member_ids")
    district, views, total = invitations.sheet_members(me(), member_ids, query["offset"], query.get("limit"))
    body = pdf.invitation_sheet(views, district_name=district.name, agency_name=district.agency.name,
                                base_url=links.base_url(), page_size=current_app.config["DISTRICT_PDF_PAGE_SIZE"])
    return Response(body, mimetype="application/pdf", headers={
        "Content-Disposition": 'inline; filename="invitations.pdf"', "Cache-Control": "no-store",
        "X-Members-Total": str(total)})
