"""Bodies of the annual report: aggregates only, small counts hidden (null), entered fields marked."""
from apiflask import Schema, fields
from apiflask.validators import Length

from app.reports.models import COSTS_MAX, FUNDING_MAX, POLICY_CHANGES_MAX
from app.reports.service import RADIUS_BUCKETS, WINDOW_BUCKETS
from app.transparency.schemas import PurposeCellOut, ReportAgencyOut

_HIDDEN = " Null when hidden by the small-cell rule (a count of 1 to 4, or one that would let such a count be " \
          "worked out by subtraction)."


def count(description: str) -> fields.Integer:
    return fields.Integer(allow_none=True, metadata={"description": description + _HIDDEN})


class AnnualRequestStatusCounts(Schema):
    pending_approval = count("Still waiting for a supervisor's decision on going over a limit.")
    active = count("Asks sent, owners still answering.")
    rejected = count("Over a limit and refused by a supervisor (no asks were sent).")
    cancelled = count("Withdrawn by the officer.")
    expired = count("Ran their course.")


class AnnualRequestsOut(Schema):
    total = count("Footage requests officers made in the year.")
    by_status = fields.Nested(AnnualRequestStatusCounts, metadata={"description": "What became of them so far."})
    re_asks = count("Of those: requests that would ask again owners who had declined or not answered an "
                    "overlapping request within 30 days (each needs a supervisor's approval).")


class AnnualPurposesOut(Schema):
    legal_basis = fields.List(fields.Nested(PurposeCellOut), metadata={
        "description": "Requests made in the year by legal basis (voluntary, warrant, exigent)."})
    offense_categories = fields.List(fields.Nested(PurposeCellOut), metadata={
        "description": "Requests made in the year by offense category (the agency's list, then retired keys used)."})


class AnnualReviewsOut(Schema):
    reviewed = count("Over-limit requests a supervisor decided in the year.")
    over_limit_approved = count("Approved over the agency's limits, with a recorded reason.")
    over_limit_rejected = count("Refused.")
    self_approved = count("Of the approvals: by the supervisor who made the request (only where the agency's "
                          "policy allows it).")
    re_asks_approved = count("Of the approvals: asking again owners who had declined or not answered an "
                             "overlapping place and time within 30 days.")


class AnnualOutcomesOut(Schema):
    asks = count("Asks sent in the year: one per camera asked.")
    approved = count("The owner approved (including uploads under way and delivered).")
    delivered = count("Of those: footage delivered.")
    declined = count("The owner declined, including declines by the owner's standing filters.")
    declined_by_owner_filters = count("Of those: declined at once by one of the owner's standing filters.")
    no_footage = count("The owner answered that there was no footage.")
    expired = count("No answer before the request ended.")
    cancelled = count("The officer withdrew the request.")
    open = count("Still waiting for an answer.")


class AnnualRadiusOut(Schema):
    radius_up_to_100_m = count("Requests with a radius up to 100 m.")
    radius_101_to_250_m = count("101 to 250 m.")
    radius_251_to_500_m = count("251 to 500 m.")
    radius_over_500_m = count("Over 500 m.")


class AnnualWindowOut(Schema):
    window_up_to_30_min = count("Requests with a time window up to 30 minutes long.")
    window_31_to_60_min = count("31 to 60 minutes.")
    window_61_to_120_min = count("61 to 120 minutes.")
    window_over_120_min = count("Over 120 minutes.")


assert set(AnnualRadiusOut().fields) == {key for _, key in RADIUS_BUCKETS}
assert set(AnnualWindowOut().fields) == {key for _, key in WINDOW_BUCKETS}


class AnnualScopeOut(Schema):
    radius = fields.Nested(AnnualRadiusOut, metadata={
        "description": "Requests by the radius asked for: up to 100 m, 101-250 m, 251-500 m, over 500 m."})
    window = fields.Nested(AnnualWindowOut, metadata={
        "description": "Requests by the length of the time window asked for: up to 30 minutes, 31-60, 61-120, "
                       "over 120."})


class AnnualClipsOut(Schema):
    received = count("Clips whose upload completed in the year.")
    first_viewed = count("Clips first opened (viewed or downloaded) by the agency's staff in the year.")
    placed_under_hold = count("Clips of requests an evidence hold was placed on in the year.")
    purged = count("Clips deleted in the year when retention ended.")


class AnnualRetentionOut(Schema):
    as_of = fields.DateTime(metadata={"description": "The end of the year, or now for the current year."})
    grace_days = fields.Integer(metadata={"description": "How late a purge may come before it counts as late."})
    past_retention_not_purged_or_held = count("Clips past their retention (by more than the grace) at `as_of` "
                                              "that were neither purged nor under an evidence hold.")
    purged_late = count("Clips purged in the year more than the grace after their retention ended.")


class AnnualSharingOut(Schema):
    statement = fields.String(metadata={"description": "How clips can and cannot leave Porchlight."})
    clips_passed_to_other_agencies = fields.Integer(metadata={
        "description": "Always 0: Porchlight has no way to pass a clip to another agency."})
    downloads = count("Downloads of clip files by the agency's staff in the year (files that left Porchlight).")
    cameras_also_shared_with_other_agencies = count(
        "Cameras the agency can ask today whose owners also share them with another agency on this installation.")


class AnnualComplaintsOut(Schema):
    total = count("Complaints about requests received in the year.")
    open = count("Not decided yet.")
    sustained = count("Sustained.")
    not_sustained = count("Not sustained.")
    unfounded = count("Unfounded.")
    exonerated = count("Exonerated.")
    withdrawn = count("Withdrawn.")


class AnnualAuditProblemOut(Schema):
    kind = fields.String(metadata={"description": "changed, inserted, deleted, misplaced or link."})
    seq = fields.Integer()


class AnnualCheckpointOut(Schema):
    seq = fields.Integer()
    hash = fields.String()
    signed_at = fields.String(metadata={"description": "As signed (the exact string the signature covers)."})
    key_id = fields.String()
    signature = fields.String()


class AnnualCheckpointsOut(Schema):
    published = fields.Integer(metadata={"description": "Signed checkpoints of the agency's chain made in the year."})
    not_held_by_log = fields.Integer(metadata={
        "description": "Of those, how many the log no longer holds (trimmed or rewritten since): 0 when intact."})
    first = fields.Nested(AnnualCheckpointOut, allow_none=True)
    last = fields.Nested(AnnualCheckpointOut, allow_none=True, metadata={
        "description": "All of them, with the public key: GET /api/public/agencies/{slug}/checkpoints."})


class AnnualAuditOut(Schema):
    verified_at = fields.DateTime()
    ok = fields.Boolean(metadata={"description": "The chain verified from its first event to its head."})
    events_checked = fields.Integer()
    length = fields.Integer(metadata={"description": "Events the chain's head records."})
    head_hash = fields.String()
    problem = fields.Nested(AnnualAuditProblemOut, allow_none=True, metadata={
        "description": "The first problem found, or null."})
    checkpoints = fields.Nested(AnnualCheckpointsOut)


class AnnualEntriesOut(Schema):
    entered_by_agency = fields.Boolean(metadata={"description": "Always true: these are not computed."})
    note = fields.String()
    year = fields.Integer()
    costs = fields.String(allow_none=True)
    funding_source = fields.String(allow_none=True)
    policy_changes = fields.String(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class AnnualReportOut(Schema):
    agency = fields.Nested(ReportAgencyOut)
    year = fields.Integer()
    period_start = fields.DateTime(metadata={"description": "1 January in the agency's time zone, as UTC."})
    period_end = fields.DateTime(metadata={"description": "1 January of the next year, or now for the current year."})
    complete = fields.Boolean(metadata={"description": "False while the year is still going on."})
    generated_at = fields.DateTime()
    min_count = fields.Integer(metadata={"description": "k of the small-cell rule: counts of 1 to k-1 are hidden."})
    requests = fields.Nested(AnnualRequestsOut)
    purposes = fields.Nested(AnnualPurposesOut)
    reviews = fields.Nested(AnnualReviewsOut)
    outcomes = fields.Nested(AnnualOutcomesOut)
    scope = fields.Nested(AnnualScopeOut)
    clips = fields.Nested(AnnualClipsOut)
    retention = fields.Nested(AnnualRetentionOut)
    sharing = fields.Nested(AnnualSharingOut)
    complaints = fields.Nested(AnnualComplaintsOut)
    audit = fields.Nested(AnnualAuditOut)
    entered = fields.Nested(AnnualEntriesOut, metadata={
        "description": "Entered by the agency (a supervisor), not computed: shown as such."})


class AnnualEntriesIn(Schema):
    costs = fields.String(allow_none=True, validate=Length(max=COSTS_MAX), metadata={
        "description": "What the program cost in the year, as the agency states it."})
    funding_source = fields.String(allow_none=True, validate=Length(max=FUNDING_MAX))
    policy_changes = fields.String(allow_none=True, validate=Length(max=POLICY_CHANGES_MAX), metadata={
        "description": "Changes to the agency's policies for the program during the year."})
