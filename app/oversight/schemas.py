"""Bodies of the oversight API: what civilian oversight reads of requests, and the complaint log.

Nothing here carries footage, an owner, a camera or an address: counts of asks by state
and of clips delivered are all of the answers there are.
"""
from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range

from app.common.fields import INT32_MAX, StrictInteger, TrimmedString
from app.footage.models import RequestStatus
from app.footage.schemas import AskCountsOut
from app.oversight.models import ComplaintOutcome, ComplaintSource

OUTCOMES = [o.value for o in ComplaintOutcome]
SOURCES = [s.value for s in ComplaintSource]


class OversightRequestQuery(Schema):
    status = fields.String(validate=OneOf([s.value for s in RequestStatus]))
    before_id = StrictInteger(validate=Range(1, INT32_MAX), strict=False,
                              metadata={"description": "Older than this request id (the last one of a page)."})
    limit = StrictInteger(load_default=100, validate=Range(1, 500), strict=False)


class StaffRefOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "The officer's or supervisor's name."})


class OversightRequestOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"enum": [s.value for s in RequestStatus]})
    case_number = fields.String()
    incident_type = fields.String()
    summary = fields.String(metadata={"description": "What owners were told the request is for."})
    # The purpose and legal basis (null until requests carry them).
    legal_basis = fields.String(allow_none=True, metadata={"description": "voluntary | warrant | exigent"})
    warrant_number = fields.String(allow_none=True)
    warrant_court = fields.String(allow_none=True)
    exigent_reason = fields.String(allow_none=True)
    offense_category = fields.String(allow_none=True)
    offense_category_label = fields.String(allow_none=True)
    prohibited_purposes_affirmed = fields.List(fields.String(), allow_none=True, metadata={
        "description": "The prohibited purposes the officer affirmed none of applies, as listed then."})
    affirmed_at = fields.DateTime(allow_none=True)
    latitude = fields.Float(metadata={"description": "The incident's point (the centre of the area asked)."})
    longitude = fields.Float()
    radius_m = fields.Float()
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    officer = fields.Nested(StaffRefOut, allow_none=True, metadata={"description": "Who made it."})
    exceeded_limits = fields.List(fields.String(metadata={"enum": ["radius", "window"]}))
    justification = fields.String(allow_none=True, metadata={"description": "Why it goes over the limits."})
    reviewed_by = fields.Nested(StaffRefOut, allow_none=True,
                                metadata={"description": "The supervisor who approved or rejected it."})
    reviewed_at = fields.DateTime(allow_none=True)
    review_reason = fields.String(allow_none=True)
    self_approved = fields.Boolean(metadata={"description": "Approved by the supervisor who made it."})
    created_at = fields.DateTime()
    activated_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    asks_total = fields.Integer()
    counts = fields.Nested(AskCountsOut, metadata={"description": "Asks by state: counts, never who."})
    clips_delivered = fields.Integer(metadata={"description": "Clips received (purged ones included): a count."})
    complaints = fields.Integer(metadata={"description": "Complaints recorded against it."})
    held = fields.Boolean(metadata={"description": "An evidence hold keeps its clips past retention."})


class HoldRecordOut(Schema):
    id = fields.Integer()
    reason = fields.String()
    placed_at = fields.DateTime()
    placed_by = fields.String(allow_none=True)
    active = fields.Boolean()
    released_at = fields.DateTime(allow_none=True)
    released_by = fields.String(allow_none=True)
    release_reason = fields.String(allow_none=True)


class PurgeOut(Schema):
    purged_at = fields.DateTime()
    retain_until = fields.DateTime(allow_none=True)


class RetentionOut(Schema):
    clips_kept = fields.Integer(metadata={"description": "Delivered clips still stored."})
    clips_purged = fields.Integer()
    next_due = fields.DateTime(allow_none=True, metadata={
        "description": "When the first stored clip's retention ends (a hold keeps it longer)."})
    purges = fields.List(fields.Nested(PurgeOut), metadata={"description": "Each purge: when, and when it was due."})


class ComplaintOut(Schema):
    id = fields.Integer()
    request_id = fields.Integer()
    case_number = fields.String(attribute="request.case_number")
    received_on = fields.Date()
    summary = fields.String()
    source = fields.String(attribute="source.value", metadata={"enum": SOURCES})
    outcome = fields.String(attribute="outcome.value", metadata={"enum": OUTCOMES})
    outcome_on = fields.Date(allow_none=True)
    outcome_note = fields.String(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OversightRequestDetailOut(OversightRequestOut):
    holds = fields.List(fields.Nested(HoldRecordOut))
    retention = fields.Nested(RetentionOut)
    complaint_log = fields.List(fields.Nested(ComplaintOut))


class ComplaintListQuery(Schema):
    request_id = StrictInteger(validate=Range(1, INT32_MAX), strict=False)
    outcome = fields.String(validate=OneOf(OUTCOMES))
    year = StrictInteger(validate=Range(2000, 9998), strict=False, metadata={"description": "Received in this year."})


_NOTE = {"validate": Length(max=2000), "allow_none": True}


class ComplaintIn(Schema):
    request_id = StrictInteger(required=True, metadata={"description": "The request complained about."})
    received_on = fields.Date(required=True)
    summary = TrimmedString(required=True, validate=Length(min=1, max=2000))
    source = fields.String(required=True, validate=OneOf(SOURCES))
    outcome = fields.String(load_default="open", validate=OneOf(OUTCOMES))
    outcome_on = fields.Date(allow_none=True, metadata={"description": "Required with any outcome but open."})
    outcome_note = TrimmedString(**_NOTE)


class ComplaintPatchIn(Schema):
    outcome = fields.String(validate=OneOf(OUTCOMES))
    outcome_on = fields.Date(allow_none=True)
    outcome_note = TrimmedString(**_NOTE)
