"""Request and response bodies of the footage-request API (staff) and the ask API (owners).

What officers read is counts only: no schema here carries an owner's identity, phone
or e-mail, nor which camera answered what.
"""
from __future__ import annotations

from datetime import UTC, timedelta

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import EXCLUDE, ValidationError, validates_schema

from app.cameras import recorder_clock
from app.common.fields import INT32_MAX, StrictBool, StrictFloat, StrictInteger, TrimmedString
from app.db import utcnow
from app.footage.asks import ACTIONS, actions_for
from app.footage.filters import FILTER_RULES
from app.footage.models import GIB, AskState, RequestStatus

# Hard caps, whatever an agency's policy: a supervisor can approve a request over the
# policy, never one over these.
MAX_RADIUS_M = 5000
MAX_WINDOW = timedelta(days=7)
# No recorder keeps video longer (Camera.retention_days is at most 365).
MAX_WINDOW_AGE = timedelta(days=365)
MIB = 1024**2


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with a UTC offset ("2026-05-01T21:30:00-05:00"), returned in UTC."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # year 1 at +01:00, year 9999 at -01:00
            raise ValidationError("Out of range.") from None


# --- agency policy --------------------------------------------------------------------

class PolicyPatchIn(Schema):
    max_radius_m = StrictInteger(validate=Range(10, MAX_RADIUS_M),
                                 metadata={"description": "Largest radius (metres) without approval."})
    max_window_minutes = StrictInteger(validate=Range(1, int(MAX_WINDOW.total_seconds()) // 60),
                                       metadata={"description": "Longest time window (minutes) without approval."})
    request_lifetime_hours = StrictInteger(validate=Range(1, 720),
                                           metadata={"description": "How long owners can answer a request."})
    escalation_minutes = StrictInteger(validate=Range(1, 1440),
                                       metadata={"description": "An unanswered push escalates to SMS after this."})
    reminder_before_expiry_hours = StrictInteger(validate=Range(0, 719), metadata={
        "description": "A reminder goes out this long before a request expires (0: none); "
                       "less than the request lifetime."})
    clip_retention_days = StrictInteger(validate=Range(1, 3650),
                                        metadata={"description": "Clips are purged after this, unless held."})
    # Bytes outgrow a 32-bit integer: a plain strict Integer, bounded by its range.
    max_clip_bytes = fields.Integer(strict=True, validate=Range(MIB, 64 * GIB),
                                    metadata={"description": "Largest clip an owner may upload (bytes)."})
    max_clips_per_ask = StrictInteger(validate=Range(1, 100),
                                      metadata={"description": "Clips an owner may upload per ask."})
    allow_self_approval = StrictBool(metadata={
        "description": "Whether a supervisor may approve their own over-limit request (default false: another "
                       "supervisor must). Each self-approval is marked on the request, audited and counted on "
                       "the public transparency report."})


class PolicyOut(Schema):
    agency_id = fields.Integer()
    max_radius_m = fields.Integer()
    max_window_minutes = fields.Integer()
    request_lifetime_hours = fields.Integer()
    escalation_minutes = fields.Integer()
    reminder_before_expiry_hours = fields.Integer()
    clip_retention_days = fields.Integer()
    max_clip_bytes = fields.Integer()
    max_clips_per_ask = fields.Integer()
    allow_self_approval = fields.Boolean(metadata={
        "description": "A supervisor may approve their own over-limit request (marked, audited, counted publicly)."})
    updated_at = fields.DateTime(allow_none=True, metadata={"description": "Null while the defaults apply."})
    updated_by_id = fields.Integer(allow_none=True)


# --- footage requests (staff) -----------------------------------------------------------

class RequestScopeIn(Schema):
    """Where and when: what decides which cameras a request asks."""

    latitude = StrictFloat(required=True, validate=Range(-90, 90), metadata={"description": "WGS84 degrees."})
    longitude = StrictFloat(required=True, validate=Range(-180, 180), metadata={"description": "WGS84 degrees."})
    radius_m = StrictFloat(required=True, validate=Range(1, MAX_RADIUS_M),
                           metadata={"description": "Metres; over the agency's limit needs a supervisor's approval."})
    window_start = UtcDateTime(required=True, metadata={"description": "With a UTC offset; in the past."})
    window_end = UtcDateTime(required=True, metadata={
        "description": "With a UTC offset; in the past and after window_start; "
                       "longer than the agency's limit needs a supervisor's approval."})

    # Runs beside the field checks, so one answer names every bad field.
    @validates_schema(skip_on_field_errors=False)
    def check_window(self, data, **kwargs):
        start, end = data.get("window_start"), data.get("window_end")
        now = utcnow()
        errors: dict[str, list[str]] = {}
        if start is not None:
            if start > now:
                errors.setdefault("window_start", []).append("Must be in the past.")
            elif now - start > MAX_WINDOW_AGE:
                errors.setdefault("window_start", []).append(
                    "No recorder keeps video that long (365 days at most).")
        if end is not None and end > now:
            errors.setdefault("window_end", []).append("Must be in the past.")
        if start is not None and end is not None:
            if end <= start:
                errors.setdefault("window_end", []).append("Must be after window_start.")
            elif end - start > MAX_WINDOW:
                errors.setdefault("window_end", []).append("The window can be at most 7 days long.")
        if errors:
            raise ValidationError(errors)


class RequestIn(RequestScopeIn):
    case_number = TrimmedString(required=True, validate=Length(min=1, max=64))
    incident_type = TrimmedString(required=True, validate=Length(min=1, max=64),
                                  metadata={"example": "burglary"})
    summary = TrimmedString(required=True, validate=Length(min=1, max=1000),
                            metadata={"description": "What owners read: say what happened and what to look for."})
    justification = TrimmedString(allow_none=True, validate=Length(max=1000), metadata={
        "description": "Why a request over the agency's limits is needed (required then)."})


class PreviewIn(RequestScopeIn):
    """A request's scope; its other fields may come along (a form sends what it has) and are ignored."""

    class Meta:
        unknown = EXCLUDE


class RequestListQuery(Schema):
    status = fields.String(validate=OneOf([s.value for s in RequestStatus]),
                           metadata={"description": "pending_approval: the supervisor's approval queue."})
    limit = fields.Integer(load_default=100, validate=Range(1, 500))


class ReviewIn(Schema):
    reason = TrimmedString(required=True, validate=Length(min=1, max=1000),
                           metadata={"description": "Recorded with the decision and in the audit log."})


# How many asks of the request are in each state: counts, never who.
AskCountsOut = Schema.from_dict({state.value: fields.Integer() for state in AskState}, name="AskCountsOut")


class RequestOut(Schema):
    id = fields.Integer()
    agency_id = fields.Integer()
    officer_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": [s.value for s in RequestStatus]})
    case_number = fields.String()
    incident_type = fields.String()
    summary = fields.String()
    latitude = fields.Float()
    longitude = fields.Float()
    radius_m = fields.Float()
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    exceeded_limits = fields.List(fields.String(metadata={"enum": ["radius", "window"]}))
    justification = fields.String(allow_none=True)
    reviewed_by_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_reason = fields.String(allow_none=True)
    self_approved = fields.Boolean(metadata={
        "description": "Approved by the supervisor who made it, under a policy allowing self-approval."})
    created_at = fields.DateTime()
    activated_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    asks_total = fields.Integer()
    counts = fields.Nested(AskCountsOut)


class PreviewOut(Schema):
    cameras = fields.Integer(metadata={"description": "How many cameras would be asked now."})
    exceeded_limits = fields.List(fields.String(metadata={"enum": ["radius", "window"]}))
    needs_approval = fields.Boolean()


# --- asks (owners) ---------------------------------------------------------------------------


class AskListQuery(Schema):
    limit = fields.Integer(load_default=100, validate=Range(1, 500))
    before_id = fields.Integer(validate=Range(1, INT32_MAX),
                               metadata={"description": "Older than this ask id (the last one of a page)."})


class RecorderWindowOut(Schema):
    start = fields.DateTime(metadata={"description": "The window's start as the recorder's clock stamps it."})
    end = fields.DateTime(metadata={"description": "The window's end as the recorder's clock stamps it."})
    offset_s = fields.Integer(metadata={"description": "The recorder's clock minus the true time, in seconds."})


def ask_times(ask) -> dict:
    """An ask's times on its camera's recorder (app.cameras.recorder_clock), from the camera as it is now."""
    camera = ask.camera
    return recorder_clock.ask_times(ask.request.window_start, ask.request.window_end,
                                    camera.recorder_offset_s if camera else None,
                                    camera.retention_days if camera else None)


class AskRecorderTimes(Schema):
    """What an ask says of the owner's recorder (dumps an Ask): its window in the recorder's time, and
    how long before the recorder overwrites it."""

    recorder_window = fields.Nested(RecorderWindowOut, allow_none=True, metadata={
        "description": "The time asked for as the camera's recorder stamps it, when its clock's offset is known "
                       "(read at an upload or set on the camera); null otherwise."})
    overwrite_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the recorder overwrites the window's start, from the camera's retention days; "
                       "null when the camera was deleted."})
    overwrite_days_left = fields.Integer(allow_none=True, metadata={
        "description": "Whole days until then, rounded down; 0 or less: it may already be overwritten."})

    _COMPUTED = ("recorder_window", "overwrite_at", "overwrite_days_left")

    def get_attribute(self, obj, attr, default):
        if attr in self._COMPUTED:
            return ask_times(obj)[attr]
        return super().get_attribute(obj, attr, default)


class AskOut(AskRecorderTimes):
    """An ask as its owner sees it: who asks, for what, and until when."""

    id = fields.Integer()
    request_id = fields.Integer()
    state = fields.String(attribute="state.value", metadata={"enum": [s.value for s in AskState]})
    camera_id = fields.Integer(allow_none=True)
    camera_label = fields.String()
    distance_m = fields.Float()
    reply_code = fields.String(metadata={"description": "For SMS replies: YES <code>, NO <code>, NONE <code>."})
    agency_name = fields.String(attribute="request.agency.name")
    case_number = fields.String(attribute="request.case_number")
    incident_type = fields.String(attribute="request.incident_type")
    summary = fields.String(attribute="request.summary")
    window_start = fields.DateTime(attribute="request.window_start")
    window_end = fields.DateTime(attribute="request.window_end")
    deadline = fields.DateTime(attribute="request.expires_at", allow_none=True)
    actions = fields.Function(
        lambda ask: actions_for(ask.state),
        metadata={"type": "array", "items": {"type": "string", "enum": list(ACTIONS)},
                  "description": "The answers still possible."})
    created_at = fields.DateTime()
    seen_at = fields.DateTime(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)
    answered_via = fields.String(allow_none=True, metadata={
        "description": "app, notification, sms, link; `filter` when one of your filters declined it."})
    decline_reason = fields.String(allow_none=True)
    filter_rule = fields.String(allow_none=True, metadata={
        "enum": list(FILTER_RULES), "description": "Which of your filters declined it (only you see this)."})
    closed_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the ask reached its final state: answered no or no footage, delivered, withdrawn "
                       "by the agency (`cancelled`) or expired."})


class DeclineIn(Schema):
    reason = TrimmedString(allow_none=True, validate=Length(max=500),
                           metadata={"description": "Optional; only you see it. Officers see counts."})


class ActionResultOut(Schema):
    ask_id = fields.Integer(attribute="id")
    request_id = fields.Integer()
    state = fields.String(attribute="state.value", metadata={"enum": [s.value for s in AskState]})


# --- the owner's filters ---------------------------------------------------------------------------

CATEGORY_KEY = Regexp(r"^[a-z0-9_]{1,40}$", error="A category key is 1-40 lower-case letters, digits or _.")


class FiltersIn(Schema):
    """Only the fields given change; null clears a filter."""

    declined_categories = fields.List(TrimmedString(validate=CATEGORY_KEY), validate=Length(max=50), metadata={
        "description": "Offense categories (keys of the agencies' taxonomies) you always decline."})
    agency_ids = fields.List(StrictInteger(), allow_none=True, validate=Length(max=100), metadata={
        "description": "Answer only requests from these agencies (of those you joined); null: all of them."})
    max_footage_age_days = StrictInteger(allow_none=True, validate=Range(1, 365), metadata={
        "description": "Decline requests for footage that starts longer ago than this many days; null: no limit."})
    paused_until = UtcDateTime(allow_none=True, metadata={
        "description": "Pause everything until then (within a year): every new request is declined. Null resumes."})


class FilterAgencyOut(Schema):
    id = fields.Integer()
    name = fields.String()


class FiltersOut(Schema):
    """Your filters: a request one of them catches is declined at once, and you are not notified.

    Officers see it as a decline like any other, never whose or why.
    """

    declined_categories = fields.List(fields.String())
    agency_ids = fields.List(fields.Integer(), allow_none=True)
    max_footage_age_days = fields.Integer(allow_none=True)
    paused_until = fields.DateTime(allow_none=True)
    paused = fields.Boolean()
    agencies = fields.List(fields.Nested(FilterAgencyOut), metadata={"description": "The agencies you joined."})
