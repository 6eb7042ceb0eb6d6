"""Request and response bodies of the camera API."""
import re
from datetime import timedelta

from apiflask import Schema, fields
from apiflask.validators import Equal, Length, OneOf, Range
from marshmallow import ValidationError, validates_schema

from app.cameras.recorder_clock import MAX_OFFSET_S, OFFSET_RANGE_TEXT
from app.common.fields import StrictBool, StrictFloat, StrictInteger, TrimmedString
from app.common.settings import setting

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_BLACKOUT_WINDOWS = 28
_RECORDER_OFFSET = ("The recorder's clock minus the true time, in seconds (+300: the recorder is 5 minutes fast); "
                    "asks for this camera show their window as the recorder stamps it. Null: unknown. Uploads "
                    "that read the recorder's clock update it.")


class BlackoutWindow(Schema):
    day = StrictInteger(required=True, validate=Range(0, 6),
                        metadata={"description": "Day the window starts: 0 Monday ... 6 Sunday."})
    start = fields.String(required=True, metadata={"example": "22:00", "pattern": _HHMM.pattern})
    end = fields.String(required=True, metadata={
        "example": "06:00", "pattern": _HHMM.pattern,
        "description": "Local time; at or before start means the next day."})

    @validates_schema
    def check_times(self, data, **kwargs):
        errors = {}
        for key in ("start", "end"):
            # fullmatch: "$" alone would accept a trailing newline ("22:00\n").
            if key in data and not _HHMM.fullmatch(data[key]):
                errors[key] = ["Must be a 24-hour time HH:MM."]
        if not errors and data.get("start") == data.get("end"):
            errors["end"] = ["Must differ from start."]
        if errors:
            raise ValidationError(errors)


def _windows_field() -> fields.List:
    return fields.List(fields.Nested(BlackoutWindow), validate=Length(max=MAX_BLACKOUT_WINDOWS),
                       metadata={"description": "Weekly hours when the camera is never asked for footage."})


class CameraPatchIn(Schema):
    label = TrimmedString(validate=Length(min=1, max=120))
    latitude = StrictFloat(validate=Range(-90, 90), metadata={"description": "WGS84 degrees."})
    longitude = StrictFloat(validate=Range(-180, 180), metadata={"description": "WGS84 degrees."})
    address = TrimmedString(allow_none=True, validate=Length(max=300))
    bearing = StrictInteger(allow_none=True, validate=Range(0, 359),
                            metadata={"description": "Direction the camera faces, degrees clockwise from north."})
    field_of_view = StrictInteger(validate=Range(1, 360), metadata={"description": "Degrees."})
    retention_days = StrictInteger(validate=Range(1, 365),
                                   metadata={"description": "How many days the recorder keeps video."})
    mode = fields.String(validate=OneOf(["register", "integrate"]))
    # Only true: the attestation is given once and cannot be withdrawn (enum [true] in the document).
    public_attestation = StrictBool(
        validate=Equal(True, error="Cannot be withdrawn; pause or delete the camera instead."),
        metadata={"description": "The owner attests the camera records only what is visible from public space."})
    blackout_windows = _windows_field()
    shared_agency_ids = fields.List(StrictInteger(), validate=Length(max=50),
                                    metadata={"description": "Agencies (joined ones only) this camera is shared with."})
    recorder_offset_s = StrictInteger(
        allow_none=True,
        validate=Range(-MAX_OFFSET_S, MAX_OFFSET_S, error=f"Must be {OFFSET_RANGE_TEXT} (in seconds)."),
        metadata={"description": _RECORDER_OFFSET})


class CameraIn(CameraPatchIn):
    label = TrimmedString(required=True, validate=Length(min=1, max=120))
    latitude = StrictFloat(required=True, validate=Range(-90, 90), metadata={"description": "WGS84 degrees."})
    longitude = StrictFloat(required=True, validate=Range(-180, 180), metadata={"description": "WGS84 degrees."})
    retention_days = StrictInteger(required=True, validate=Range(1, 365),
                                   metadata={"description": "How many days the recorder keeps video."})
    public_attestation = StrictBool(
        required=True,
        validate=Equal(True, error="Confirm that this camera records only what is visible from public space."),
        metadata={"description": "Must be true: the camera records only what is visible from public space."})


class CameraOut(Schema):
    id = fields.Integer()
    label = fields.String()
    latitude = fields.Float()
    longitude = fields.Float()
    address = fields.String(allow_none=True)
    bearing = fields.Integer(allow_none=True)
    field_of_view = fields.Integer()
    retention_days = fields.Integer()
    mode = fields.String(attribute="mode.value")
    status = fields.String(attribute="status.value")
    public_attestation = fields.Boolean()
    attested_at = fields.DateTime()
    blackout_windows = fields.List(fields.Nested(BlackoutWindow))
    shared_agency_ids = fields.Function(lambda camera: [a.id for a in camera.shared_with],
                                        metadata={"type": "array", "items": {"type": "integer"}})
    district_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    recorder_offset_s = fields.Integer(allow_none=True, metadata={"description": _RECORDER_OFFSET})
    recorder_offset_at = fields.DateTime(allow_none=True,
                                         metadata={"description": "When the recorder's clock was last read."})
    pause_reason = fields.String(allow_none=True, metadata={
        "enum": ["unconfirmed"], "description": "`unconfirmed`: paused because it was not re-confirmed in time "
                                                "(confirming it resumes it); null: you paused it."})
    confirmed_at = fields.DateTime(metadata={"description": "When you last confirmed it (or registered it)."})
    confirm_requested_at = fields.DateTime(allow_none=True, metadata={
        "description": "When you were asked to confirm it again (once a year); null while nothing is asked."})
    confirm_by = fields.Function(
        lambda camera: camera.confirm_requested_at and (
            camera.confirm_requested_at + timedelta(days=setting("CAMERA_CONFIRM_GRACE_DAYS"))).isoformat(),
        metadata={"type": "string", "format": "date-time", "nullable": True,
                  "description": "Confirm it by then or it pauses; null while nothing is asked."})


class NearbyQuery(Schema):
    lat = fields.Float(required=True, validate=Range(-90, 90))
    lon = fields.Float(required=True, validate=Range(-180, 180))
    radius_m = fields.Float(required=True, validate=Range(1, 5000),
                            metadata={"description": "Search radius in metres (at most 5 km)."})


class NearbyCameraOut(Schema):
    """What an officer may know of a camera: where it is and where it looks, nothing of its owner."""

    id = fields.Integer()
    latitude = fields.Float()
    longitude = fields.Float()
    bearing = fields.Integer(allow_none=True)
    field_of_view = fields.Integer()
    mode = fields.String()
    distance_m = fields.Float()


class NearbyOut(Schema):
    count = fields.Integer()
    cameras = fields.List(fields.Nested(NearbyCameraOut))
