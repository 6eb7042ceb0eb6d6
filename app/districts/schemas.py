"""Request and response bodies of the district API (bulk enrollment)."""
from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range

from app.common.fields import INT32_MAX, StrictInteger, TrimmedString


def _member_id(strict: bool = True) -> fields.Integer:
    field = StrictInteger if strict else fields.Integer
    return field(validate=Range(min=1, max=INT32_MAX, error="No such member."))


class ImportUploadIn(Schema):
    file = fields.File(required=True, metadata={
        "description": "The member spreadsheet: CSV (UTF-8 with or without BOM, or Windows-1252; comma, semicolon "
                       "or tab separated) or an Excel .xlsx workbook (first sheet). A header row, then one member "
                       "per row. Required columns: member_ref, business_name, contact_name, and phone or email "
                       "(every row needs at least one of the two); optional: address, latitude, longitude, "
                       "cameras. Header names are matched ignoring case and spaces, with aliases such as "
                       "'Mobile' for phone."})


class ProblemOut(Schema):
    line = fields.Integer(allow_none=True, metadata={
        "description": "Line of the file, 1-based with the header row as line 1; null for the whole file."})
    column = fields.String(allow_none=True, metadata={
        "description": "The column's header as the file gives it; null when no single column is meant."})
    problem = fields.String(metadata={"description": "What is wrong, as a plain sentence."})


class SummaryOut(Schema):
    new = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()


class CommitResultOut(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()


class ImportOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    format = fields.String(attribute="file_format", metadata={"enum": ["csv", "xlsx"]})
    encoding = fields.String(allow_none=True, metadata={"description": "utf-8-sig (UTF-8, BOM or not) or cp1252."})
    delimiter = fields.String(allow_none=True)
    size_bytes = fields.Integer()
    status = fields.String(attribute="status.value", metadata={
        "enum": ["validated", "rejected", "committed", "expired"],
        "description": "validated: no problems, may be committed until expires_at; rejected: has problems, "
                       "nothing can be committed; committed; expired: not committed in time."})
    rows_total = fields.Integer(metadata={"description": "Member rows in the file (blank lines not counted)."})
    rows_valid = fields.Integer()
    problems = fields.List(fields.Nested(ProblemOut), metadata={
        "description": "Sorted by line; at most the first 1000 (problems_total counts them all)."})
    problems_total = fields.Integer()
    ignored_columns = fields.List(fields.String(), metadata={"description": "Header names that are not read."})
    summary = fields.Nested(SummaryOut, metadata={
        "description": "What committing would do (validated imports; zeros when rejected)."})
    result = fields.Nested(CommitResultOut, allow_none=True, metadata={"description": "What the commit did."})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    committed_at = fields.DateTime(allow_none=True)


class CommitOut(CommitResultOut):
    import_id = fields.Integer()
    committed_at = fields.DateTime()


class MembersQuery(Schema):
    limit = fields.Integer(load_default=100, validate=Range(1, 500))
    offset = fields.Integer(load_default=0, validate=Range(0, INT32_MAX))
    status = fields.String(validate=OneOf(["invited", "enrolled"]),
                           metadata={"description": "Only members not yet enrolled (invited) or enrolled."})
    q = TrimmedString(validate=Length(max=100),
                      metadata={"description": "Search in reference, names, phone, e-mail and address."})


class MemberOut(Schema):
    id = fields.Integer()
    member_ref = fields.String()
    business_name = fields.String()
    contact_name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    cameras_expected = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": ["invited", "enrolled"]})
    invited_at = fields.DateTime(allow_none=True, metadata={
        "description": "When an SMS invitation was last queued or the member's sheet last printed."})
    sms_sent_at = fields.DateTime(allow_none=True)
    enrolled_at = fields.DateTime(allow_none=True)
    cameras_registered = fields.Integer()
    cameras_active = fields.Integer()
    code_id = fields.Integer(attribute="enrollment_code_id", allow_none=True)
    code_display = fields.String(allow_none=True, metadata={"example": "7KQ4-XM2P"})
    code_status = fields.String(allow_none=True, metadata={"enum": ["active", "expired", "revoked", "used"]})
    code_expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MemberPageOut(Schema):
    members = fields.List(fields.Nested(MemberOut))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class DistrictRef(Schema):
    id = fields.Integer()
    name = fields.String()


class DashboardOut(Schema):
    district = fields.Nested(DistrictRef)
    members = fields.Integer()
    invited = fields.Integer(metadata={"description": "Members sent an SMS invitation or printed on a sheet."})
    enrolled = fields.Integer()
    not_enrolled = fields.Integer()
    sms_sent = fields.Integer(metadata={"description": "Members whose invitation SMS went out."})
    cameras_expected = fields.Integer()
    cameras_registered = fields.Integer()
    cameras_active = fields.Integer()


class SmsInvitationIn(Schema):
    member_ids = fields.List(_member_id(), allow_none=True, validate=Length(min=1, max=10_000), metadata={
        "description": "The members to invite; without it, every member not yet enrolled and not yet sent an "
                       "invitation SMS."})


class SmsInvitationOut(Schema):
    queued = fields.Integer()
    skipped_opted_out = fields.Integer(metadata={"description": "The number texted STOP."})
    skipped_no_phone = fields.Integer()
    skipped_enrolled = fields.Integer()
    skipped_already_invited = fields.Integer(metadata={
        "description": "An invitation is still waiting to go out (or, without member_ids, was sent before)."})
    sms_mode = fields.String(metadata={"enum": ["outbox", "twilio"]})
    message = fields.String()


class SheetQuery(Schema):
    # One sheet holds at most DISTRICT_PDF_MAX_MEMBERS: the document states the configured
    # number (see bodies_are_required in app/__init__.py), the service enforces it.
    member_ids = fields.DelimitedList(_member_id(strict=False), validate=Length(min=1, max=10_000), metadata={
        "description": "Comma-separated member ids (at most DISTRICT_PDF_MAX_MEMBERS, default 600); "
                       "without it, the members not yet enrolled.",
        "x-maximum-from-config": "DISTRICT_PDF_MAX_MEMBERS"})
    offset = fields.Integer(load_default=0, validate=Range(0, INT32_MAX))
    limit = fields.Integer(validate=Range(1, 10_000),
                           metadata={"description": "At most DISTRICT_PDF_MAX_MEMBERS (default 600).",
                                     "x-maximum-from-config": "DISTRICT_PDF_MAX_MEMBERS"})
