"""Request and response bodies of the enrollment API."""
from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range

from app.common.fields import INT32_MAX, StrictInteger, TrimmedString


class CodeIn(Schema):
    label = TrimmedString(required=True, validate=Length(min=1, max=120),
                          metadata={"description": "What the code is for, e.g. 'Riverwest block party'."})
    kind = fields.String(required=True, validate=OneOf(["single", "campaign"]))
    max_uses = StrictInteger(allow_none=True,
                             metadata={"description": "Campaign codes only: how many owners may use it."})
    expires_at = fields.AwareDateTime(allow_none=True,
                                      metadata={"description": "Default 30 days (single) or 90 days (campaign)."})
    # The range keeps ids PostgreSQL's integer column cannot hold out of the query.
    district_id = StrictInteger(allow_none=True, validate=Range(min=1, max=INT32_MAX, error="No such district."))


class CodeOut(Schema):
    id = fields.Integer()
    code = fields.String()
    display_code = fields.String()
    kind = fields.String(attribute="kind.value")
    label = fields.String()
    agency_id = fields.Integer()
    district_id = fields.Integer(allow_none=True)
    max_uses = fields.Integer()
    use_count = fields.Integer()
    uses_left = fields.Integer()
    status = fields.String(attribute="status_now", metadata={"enum": ["active", "expired", "revoked", "used_up"]})
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    url = fields.String(metadata={"description": "The absolute URL the QR code holds."})
    qr_png_url = fields.String()
    qr_svg_url = fields.String()


class NamedRef(Schema):
    id = fields.Integer()
    name = fields.String()


class CodeLookupOut(Schema):
    code = fields.String()
    display_code = fields.String()
    label = fields.String()
    agency = fields.Nested(NamedRef)
    district = fields.Nested(NamedRef, allow_none=True)
    expires_at = fields.DateTime()


class RedeemIn(Schema):
    code = fields.String(required=True, validate=Length(min=1, max=32))


class CodeUseOut(Schema):
    id = fields.Integer()
    owner_id = fields.Integer()
    used_at = fields.DateTime()
