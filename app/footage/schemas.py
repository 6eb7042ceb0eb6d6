"""Request and response bodies of the footage-request API (staff) and the ask API (owners).

What officers read is counts only: no schema here carries an owner's identity, phone
or e-mail, nor which camera answered what.
"""
from __future__ import annotations

from datetime import UTC, timedelta

from apiflask import Schema, fields
from apiflask.validators import Equal, Length, OneOf, Range, Regexp
from marshmallow import EXCLUDE, ValidationError, validates_schema

from app.cameras import recorder_clock
from app.common.fields import INT32_MAX, StrictBool, StrictFloat, StrictInteger, TrimmedString
from app.db import utcnow
from app.footage import purpose
from app.footage.asks import ACTIONS, actions_for
from app.footage.filters import FILTER_RULES
from app.footage.models import GIB, AskState, LegalBasis, RequestStatus

# Hard caps, whatever an agency's policy: a supervisor can approve a request over the
# policy, never one over these.
MAX_RADIUS_M = 5000
MAX_WINDOW = timedelta(days=7)
# No recorder keeps video longer (Camera.retention_days is at most 365).
MAX_WINDOW_AGE = timedelta(days=365)
MIB = 1024**2
LIMITS = ["radius", "window", "re_ask"]
AFFIRM = "Affirm that none of your agency's prohibited purposes applies to this request."
# The conditional fields of a legal basis, and what a request without them is told.
REQUIRED_FOR = {"warrant_number": "Give the warrant's number (required for a warrant).",
                "warrant_court": "Name the court that issued the warrant (required for a warrant).",
                "exigent_reason": "Say what the exigent circumstances are (required for them)."}


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

class OffenseCategoryIn(Schema):
    key = fields.String(required=True, validate=Regexp(r"^[a-z0-9_]{1,64}$", error=(
        "Use 1 to 64 lower-case letters, digits or underscores.")), metadata={"example": "vehicle_theft"})
    label = TrimmedString(required=True, validate=Length(min=1, max=120), metadata={"example": "Vehicle theft"})


class OffenseCategoryOut(Schema):
    key = fields.String()
    label = fields.String()


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
    offense_categories = fields.List(fields.Nested(OffenseCategoryIn), validate=Length(min=1, max=50), metadata={
        "description": "The offense categories officers choose from (keys unique; a request keeps the label it "
                       "was made with)."})
    prohibited_purposes = fields.List(TrimmedString(validate=Length(min=1, max=500)),
                                      validate=Length(min=1, max=20), metadata={
        "description": "Purposes a request must never serve; officers affirm none applies to each request."})


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
    offense_categories = fields.List(fields.Nested(OffenseCategoryOut), metadata={
        "description": "The offense-category taxonomy (the default one until a supervisor changes it)."})
    prohibited_purposes = fields.List(fields.String(), metadata={
        "description": "Purposes a request must never serve (the default list until a supervisor changes it)."})
    updated_at = fields.DateTime(allow_none=True, metadata={"description": "Null while the defaults apply."})
    updated_by_id = fields.Integer(allow_none=True)

    # Null columns mean the defaults: the lists are read as they apply.
    _LISTS = {"offense_categories": purpose.offense_categories, "prohibited_purposes": purpose.prohibited_purposes}

    def get_attribute(self, obj, attr, default):
        if attr in self._LISTS:
            return self._LISTS[attr](obj)
        return super().get_attribute(obj, attr, default)


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
        "description": "Why a request over the agency's limits, or asking again owners who declined or did not "
                       "answer, is needed (required then)."})
    legal_basis = fields.String(required=True, validate=OneOf([b.value for b in LegalBasis]), error_messages={
        "required": "Choose the legal basis: voluntary, warrant or exigent."}, metadata={
        "description": "voluntary (owners may say no), warrant (give warrant_number and warrant_court) or exigent "
                       "(give exigent_reason). Owners see it on the ask."})
    warrant_number = TrimmedString(allow_none=True, validate=Length(min=1, max=64),
                                   metadata={"description": "Required for a warrant; only then."})
    warrant_court = TrimmedString(allow_none=True, validate=Length(min=1, max=200), metadata={
        "description": "The issuing court; required for a warrant, only then. Owners see it."})
    exigent_reason = TrimmedString(allow_none=True, validate=Length(min=1, max=1000),
                                   metadata={"description": "Required for exigent circumstances; only then."})
    offense_category = fields.String(required=True, validate=Length(min=1, max=64), error_messages={
        "required": "Choose an offense category of your agency's list."}, metadata={
        "description": "A key of the agency's offense categories (GET /api/agency/policy)."})
    affirm_no_prohibited_purpose = StrictBool(required=True, validate=Equal(True, error=AFFIRM), error_messages={
        "required": AFFIRM}, metadata={
        "description": "Must be true: the officer affirms that none of the agency's prohibited purposes "
                       "(GET /api/agency/policy) applies. The list affirmed is stored with the request."})

    @validates_schema(skip_on_field_errors=False)
    def check_legal_basis(self, data, **kwargs):
        basis = data.get("legal_basis")
        needed = {"warrant": ("warrant_number", "warrant_court"), "exigent": ("exigent_reason",)}
        errors: dict[str, list[str]] = {}
        for field in ("warrant_number", "warrant_court", "exigent_reason"):
            wanted = basis is not None and field in needed.get(basis, ())
            given = data.get(field) is not None
            if wanted and not given:
                errors[field] = [REQUIRED_FOR[field]]
            elif given and basis is not None and not wanted:
                kind = "warrant" if field.startswith("warrant") else "request under exigent circumstances"
                errors[field] = [f"Only for a {kind}; this request's legal basis is {basis}."]
        if errors:
            raise ValidationError(errors)


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
    exceeded_limits = fields.List(fields.String(metadata={"enum": LIMITS}), metadata={
        "description": "Why a supervisor must approve it: over the radius or window limit, or re_ask (it asks "
                       "again an owner who declined or did not answer an overlapping request in the last 30 days)."})
    re_ask_cameras = fields.Integer(metadata={
        "description": "How many cameras it asks again after their owner declined or did not answer an "
                       "overlapping request of the agency in the 30 days before it was made."})
    justification = fields.String(allow_none=True)
    legal_basis = fields.String(metadata={"enum": [b.value for b in LegalBasis]})
    warrant_number = fields.String(allow_none=True)
    warrant_court = fields.String(allow_none=True)
    exigent_reason = fields.String(allow_none=True)
    offense_category = fields.String()
    offense_category_label = fields.String(metadata={"description": "The category's label when it was made."})
    prohibited_purposes_affirmed = fields.List(fields.String(), allow_none=True, metadata={
        "description": "The prohibited purposes the officer affirmed none of applies, as listed then (null on "
                       "requests made before the affirmation existed)."})
    affirmed_at = fields.DateTime(allow_none=True)
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
    exceeded_limits = fields.List(fields.String(metadata={"enum": LIMITS}))
    re_ask_cameras = fields.Integer(metadata={
        "description": "Of those, how many were declined or not answered by their owner for an overlapping "
                       "request in the last 30 days (more than 0 needs a supervisor)."})
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
    legal_basis = fields.String(attribute="request.legal_basis.value", metadata={
        "enum": [b.value for b in LegalBasis],
        "description": "voluntary: you are free to say no; warrant; exigent: an emergency."})
    legal_basis_text = fields.Function(
        lambda ask: purpose.legal_basis_words(ask.request.legal_basis.value, ask.request.warrant_court),
        metadata={"type": "string", "description": "The legal basis in your language."})
    warrant_court = fields.Function(
        lambda ask: ask.request.warrant_court if ask.request.legal_basis == LegalBasis.WARRANT else None,
        metadata={"type": "string", "nullable": True, "description": "The court that issued the warrant."})
    offense_category = fields.String(attribute="request.offense_category")
    offense_category_label = fields.Function(
        lambda ask: purpose.category_label(ask.request.offense_category, ask.request.offense_category_label),
        metadata={"type": "string", "description": "The offense category in your language where it is one of "
                                                   "the default ones, else as the agency wrote it."})
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


class FilterCategoryOut(Schema):
    key = fields.String()
    label = fields.String()


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
    categories = fields.List(fields.Nested(FilterCategoryOut), metadata={
        "description": "The offense categories of the agencies you joined, in your language where they are the "
                       "default ones."})
