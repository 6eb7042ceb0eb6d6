"""Request and response bodies of the agency API."""
from apiflask import Schema, fields
from apiflask.validators import Length

from app.common.fields import TrimmedString


class AgencyOut(Schema):
    id = fields.Integer()
    name = fields.String()
    slug = fields.String()
    timezone = fields.String()


class DistrictIn(Schema):
    name = TrimmedString(required=True, validate=Length(min=1, max=200))


class DistrictOut(Schema):
    id = fields.Integer()
    agency_id = fields.Integer()
    name = fields.String()
    created_at = fields.DateTime()
