"""Bodies of the public transparency API: aggregates only, nothing about any one person or camera."""
from apiflask import Schema, fields
from apiflask.validators import OneOf, Regexp

_MONTH = Regexp(r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$", error="Use the form YYYY-MM, e.g. 2026-03.")


class PublicAgencyOut(Schema):
    slug = fields.String(metadata={"description": "Names the agency in /api/public/agencies/{slug}/report."})
    name = fields.String()


class ReportQuery(Schema):
    from_ = fields.String(data_key="from", validate=_MONTH, metadata={
        "description": "First month (YYYY-MM, in the agency's time zone). Default: 11 months before `to`.",
        "example": "2026-01"})
    to = fields.String(validate=_MONTH, metadata={
        "description": "Last month (YYYY-MM). Default: the current month, or 11 months after `from` "
                       "if that comes first. At most 36 months in all.",
        "example": "2026-12"})


class CsvReportQuery(ReportQuery):
    table = fields.String(load_default="months", validate=OneOf(["months", "purposes"]), metadata={
        "description": "months: the monthly table (default); purposes: requests by legal basis and offense "
                       "category over the range (columns table, key, name, requests; a suppressed count is empty)."})


def _rate(what: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={
        "description": f"Share of the month's outcomes that were {what} (0-1); null when no ask reached an outcome."})


class MonthOut(Schema):
    month = fields.String(metadata={"description": "YYYY-MM in the agency's time zone."})
    requests = fields.Integer(metadata={"description": "Footage requests officers made this month."})
    requests_over_limit_approved = fields.Integer(metadata={
        "description": "Requests over the agency's scope limits that a supervisor approved this month."})
    requests_over_limit_self_approved = fields.Integer(metadata={
        "description": "Of those, approved by the same supervisor who made the request: allowed only where the "
                       "agency's policy permits self-approval (by default another supervisor must approve)."})
    requests_re_ask = fields.Integer(allow_none=True, metadata={
        "description": "Requests made this month that ask again a camera whose owner declined or did not answer an "
                       "overlapping request of the agency in the 30 days before: each needs a supervisor's approval. "
                       "Null when from 1 to 4 (small-cell rule)."})
    requests_re_ask_approved = fields.Integer(allow_none=True, metadata={
        "description": "Such re-asks a supervisor approved this month (also among the over-limit approvals). "
                       "Null when from 1 to 4."})
    cameras_asked = fields.Integer(metadata={"description": "Asks sent this month: one per camera asked."})
    approved = fields.Integer(metadata={"description": "Of those asks: the owner approved."})
    declined = fields.Integer(metadata={"description": "The owner declined."})
    no_footage = fields.Integer(metadata={"description": "The owner answered that there was no footage."})
    expired = fields.Integer(metadata={"description": "No answer before the request ended."})
    cancelled = fields.Integer(metadata={"description": "The officer withdrew the request: no outcome."})
    open = fields.Integer(metadata={"description": "Still waiting for an answer: no outcome yet."})
    outcomes = fields.Integer(metadata={"description": "approved + declined + no_footage + expired."})
    approved_rate = _rate("approvals")
    declined_rate = _rate("declines")
    no_footage_rate = _rate("'no footage' answers")
    expired_rate = _rate("expiries")
    answered = fields.Integer(metadata={"description": "Asks the owner answered (approve, decline, no footage)."})
    median_time_to_respond_minutes = fields.Float(allow_none=True, metadata={
        "description": "Median minutes from ask to the owner's answer, over the month's answered asks; null if none."})
    clips_received = fields.Integer(metadata={"description": "Clips whose upload completed this month."})
    clips_purged = fields.Integer(metadata={"description": "Clips deleted this month when retention ended."})


class CellOut(Schema):
    latitude = fields.Float(metadata={"description": "Centre of the grid cell (never a camera's position)."})
    longitude = fields.Float()
    registered = fields.Integer()
    integrated = fields.Integer(allow_none=True, metadata={
        "description": "Of those, cameras whose owner chose the 'integrate' mode; null (not shown) when this count "
                       "or the rest of the cell is 1 to 4, since either could be read off the other."})


class CamerasOut(Schema):
    cell_size_degrees = fields.Float()
    min_cameras_per_cell = fields.Integer(metadata={"description": "Cells with fewer cameras are never shown."})
    registered = fields.Integer(metadata={
        "description": "Sum over the shown cells only: active cameras shared with the agency by its members. "
                       "Cameras in cells under the threshold are not in it, so nothing can be learned by subtraction."})
    integrated = fields.Integer(metadata={
        "description": "Sum of the integrated counts shown (cells whose integrated count is null add nothing)."})
    cells = fields.List(fields.Nested(CellOut))


class PurposeCellOut(Schema):
    key = fields.String()
    name = fields.String(metadata={"description": "Offense categories only: the category's name."})
    requests = fields.Integer(allow_none=True, metadata={
        "description": "Requests made in the range; null when suppressed."})
    suppressed = fields.Boolean(metadata={
        "description": "From 1 to 4 requests, or hidden with such cells so that the hidden ones add up to at least 5 "
                       "and none can be recovered by subtraction from the totals."})


class PurposesOut(Schema):
    min_count = fields.Integer(metadata={"description": "Counts from 1 to min_count - 1 are never shown."})
    legal_basis = fields.List(fields.Nested(PurposeCellOut), metadata={
        "description": "voluntary, warrant, exigent."})
    offense_categories = fields.List(fields.Nested(PurposeCellOut), metadata={
        "description": "Every category of the agency's taxonomy, then any other key requests of the range used."})


class ReportAgencyOut(Schema):
    slug = fields.String()
    name = fields.String()
    timezone = fields.String()


class ReportOut(Schema):
    agency = fields.Nested(ReportAgencyOut)
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    generated_at = fields.DateTime()
    months = fields.List(fields.Nested(MonthOut))
    purposes = fields.Nested(PurposesOut, metadata={
        "description": "Requests made over the whole range by legal basis and by offense category."})
    cameras = fields.Nested(CamerasOut)


# --- signed audit checkpoints (app/audit/checkpoints.py) ----------------------------------------

class SigningKeyOut(Schema):
    key_id = fields.String(metadata={"description": "First 16 hex digits of the SHA-256 of the raw public key."})
    algorithm = fields.String(metadata={"enum": ["Ed25519"]})
    public_key = fields.String(metadata={"description": "The 32-byte Ed25519 public key, base64."})
    current = fields.Boolean(metadata={"description": "The key signing now; the others are retired keys that still "
                                                      "verify what they signed."})


class CheckpointOut(Schema):
    chain = fields.String(metadata={"description": "installation, history or agency:<id>."})
    seq = fields.Integer(metadata={"description": "The chain's length when signed: its event at this seq ..."})
    hash = fields.String(metadata={"description": "... has this hash."})
    signed_at = fields.String(metadata={"description": "UTC, as signed: YYYY-MM-DDTHH:MM:SS.ffffffZ."})
    key_id = fields.String()
    signature = fields.String(metadata={"description": "Ed25519 over the canonical JSON (sorted keys, no spaces) of "
                                                       "{type: porchlight.audit-checkpoint, chain, seq, hash, "
                                                       "signed_at, key_id}, base64."})


class CheckpointsOut(Schema):
    algorithm = fields.String(metadata={"enum": ["Ed25519"]})
    key_id = fields.String(metadata={"description": "The current signing key's id."})
    public_key = fields.String(metadata={"description": "The current signing key's public half, base64."})
    keys = fields.List(fields.Nested(SigningKeyOut))
    chains = fields.List(fields.String(), metadata={"description": "The chains whose checkpoints are listed."})
    checkpoints = fields.List(fields.Nested(CheckpointOut), metadata={
        "description": "Newest first, the last 400 of each chain. Save this document: `flask audit verify "
                       "--checkpoints FILE` or `python -m app.audit.verify_export log EXPORT --checkpoints FILE` "
                       "later shows whether the log still holds every event listed here."})
