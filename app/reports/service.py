"""The annual report: what one agency did with the registry in one calendar year.

Generated from the data each time it is asked for (nothing computed is stored or typed
in), for anyone, without an account: so, like the transparency report
(app/transparency/service.py), it holds aggregates only, and every count obeys the same
small-cell rule (k = 5): a count of 1 to 4 is never shown (null), a shown count's
sub-counts are shown only when neither they nor the rest is small
(:func:`~app.transparency.service.sub_count`), and within a group of counts with a total
(outcomes, buckets, categories) enough further counts are hidden that the hidden ones add
up to 0 or at least 5 (:func:`~app.transparency.service.suppress_group`), so nothing
hidden can be worked out by subtraction. 0 is shown: it singles out no one.

The year is the calendar year in the agency's time zone, and each figure counts in the
year of its own event (a request when made, a review when decided, an ask when sent, a
clip when received, first viewed, purged). A year still in progress is reported up to
now (``complete`` false).

One function per figure group; :func:`annual_report` puts them together. The fields the
agency enters itself (costs, funding, policy changes) are :func:`entries` and are marked
as entered, not computed, wherever they are shown.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency, Membership
from app.agencies.service import agency_zone
from app.audit import checkpoints
from app.audit import service as audit
from app.audit.models import AuditCheckpoint, agency_chain
from app.cameras.models import Camera, CameraStatus, camera_shares
from app.clips.models import Clip, ClipAccess, ClipStatus, EvidenceHold
from app.common.csv_cells import neutralise
from app.db import utcnow
from app.errors import field_error
from app.extensions import db
from app.footage import asks
from app.footage.filters import VIA_FILTER, state_shown
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, RequestStatus
from app.footage.policy import staff_agency_id
from app.oversight.complaints import complaint_counts
from app.reports.models import ReportEntry
from app.transparency import service as transparency
from app.transparency.service import K, Month, agency_by_slug, sub_count, suppress_group
from app.transparency.service import small_cell as shown  # a count standing on its own: hidden when small

FIRST_YEAR = 2000
# A purge more than this after the clip's retention ended counts as late.
PURGE_GRACE = timedelta(days=1)

# Scope buckets: upper bounds (inclusive) and their keys; the last bucket is open-ended.
RADIUS_BUCKETS = ((100, "radius_up_to_100_m"), (250, "radius_101_to_250_m"), (500, "radius_251_to_500_m"),
                  (None, "radius_over_500_m"))
WINDOW_BUCKETS = ((30, "window_up_to_30_min"), (60, "window_31_to_60_min"), (120, "window_61_to_120_min"),
                  (None, "window_over_120_min"))

SHARING_STATEMENT = (
    "Porchlight has no way to pass a clip to another agency: clips are delivered only to the agency that "
    "asked, and only its staff can open them. A clip leaves Porchlight only when a member of the agency's "
    "staff downloads it; downloads are counted here, and each is in the audit log. What happens to a "
    "downloaded file afterwards is outside Porchlight."
)
ENTERED_NOTE = "Entered by the agency, not computed by Porchlight and not checked by it."

ENTRY_FIELDS = ("costs", "funding_source", "policy_changes")


@dataclass(frozen=True)
class Span:
    """The report's year as UTC instants: [start, end), end capped at now for a year in progress."""

    year: int
    start: datetime
    end: datetime
    complete: bool

    def within(self, column) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.start, column < self.end)


def year_span(agency: Agency, year: int, now: datetime | None = None) -> Span:
    zone = agency_zone(agency)
    now = now or utcnow()
    this_year = now.astimezone(zone).year
    if not FIRST_YEAR <= year <= this_year:
        raise field_error("year", f"Give a year from {FIRST_YEAR} to {this_year}; a report covers a past or the "
                                  "current year.")
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    return Span(year, start, min(end, now), end <= now)


# --- requests ---------------------------------------------------------------------------------

def _requests_made(agency: Agency, span: Span) -> list[sa.Row]:
    # One row per request made in the year; an agency makes thousands a year at most.
    return list(db.session.execute(
        sa.select(FootageRequest.radius_m, FootageRequest.window_start, FootageRequest.window_end,
                  FootageRequest.status, FootageRequest.re_ask_cameras)
        .where(FootageRequest.agency_id == agency.id, span.within(FootageRequest.created_at))))


def request_figures(rows: list[sa.Row]) -> dict[str, Any]:
    """Requests made in the year, by what became of them."""
    by_status = {status.value: 0 for status in RequestStatus}
    for row in rows:
        by_status[RequestStatus(row.status).value] += 1
    parts, total = suppress_group(by_status, len(rows))
    # Re-asks: requests that would ask again owners who had declined or not answered an
    # overlapping request within 30 days (they wait for a supervisor).
    re_asks = sum(1 for row in rows if (row.re_ask_cameras or 0) > 0)
    return {"total": total, "by_status": parts, "re_asks": sub_count(total, re_asks)}


def purpose_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """Requests made in the year by legal basis and by offense category: the transparency page's
    tables, over the year's twelve months."""
    data = transparency.purposes(agency, [Month(span.year, m) for m in range(1, 13)], agency_zone(agency))
    return {"legal_basis": data["legal_basis"], "offense_categories": data["offense_categories"]}


def _bucket(value: float, buckets) -> str:
    return next(key for bound, key in buckets if bound is None or value <= bound)


def scope_figures(rows: list[sa.Row]) -> dict[str, Any]:
    """Requests made in the year by radius and by length of the time window asked for."""
    radius = dict.fromkeys((key for _, key in RADIUS_BUCKETS), 0)
    window = dict.fromkeys((key for _, key in WINDOW_BUCKETS), 0)
    for row in rows:
        radius[_bucket(row.radius_m, RADIUS_BUCKETS)] += 1
        minutes = (row.window_end - row.window_start).total_seconds() / 60
        window[_bucket(minutes, WINDOW_BUCKETS)] += 1
    return {"radius": suppress_group(radius, len(rows))[0], "window": suppress_group(window, len(rows))[0]}


def review_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """Supervisors' decisions on over-limit requests, in the year they were decided."""
    rows = db.session.execute(
        sa.select(FootageRequest.status, FootageRequest.self_approved, FootageRequest.re_ask_cameras)
        .where(FootageRequest.agency_id == agency.id, FootageRequest.reviewed_at.is_not(None),
               span.within(FootageRequest.reviewed_at)))
    approved = rejected = self_approved = re_asks = 0
    for status, self_ok, re_ask_cameras in rows:
        if RequestStatus(status) == RequestStatus.REJECTED:
            rejected += 1
            continue
        approved += 1
        self_approved += bool(self_ok)
        re_asks += (re_ask_cameras or 0) > 0
    parts, total = suppress_group({"over_limit_approved": approved, "over_limit_rejected": rejected})
    return {"reviewed": total, **parts,
            "self_approved": sub_count(parts["over_limit_approved"], self_approved),
            "re_asks_approved": sub_count(parts["over_limit_approved"], re_asks)}


# --- asks -------------------------------------------------------------------------------------

def outcome_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """Asks sent in the year (one per camera asked) by their state now, as staff and the public see
    it: a filter's decline counts from its disguised time (app/footage/filters.py), so a report read
    just after a fan-out cannot tell which asks an owner's filter declined at once."""
    # Grouped over a subquery: PostgreSQL would not see the CASE's two bound copies of ``now`` as one.
    shown = (sa.select(state_shown(utcnow()), Ask.answered_via)
             .join(FootageRequest, FootageRequest.id == Ask.request_id)
             .where(FootageRequest.agency_id == agency.id, span.within(Ask.created_at)).subquery())
    rows = db.session.execute(sa.select(shown.c.state, shown.c.answered_via, sa.func.count())
                              .group_by(shown.c.state, shown.c.answered_via))
    counts = dict.fromkeys(("approved", "declined", "no_footage", "expired", "cancelled", "open"), 0)
    delivered = by_filter = 0
    for state, via, n in rows:
        state = AskState(state)
        key = "approved" if state in asks.APPROVED_STATES else "open" if state in OPEN_ASK_STATES else state.value
        counts[key] += n
        delivered += n if state == AskState.DELIVERED else 0
        by_filter += n if state == AskState.DECLINED and via == VIA_FILTER else 0
    parts, total = suppress_group(counts)
    # Declines by an owner's standing filter are declines like any other; how many there were is
    # a sub-count (never which owner's).
    return {"asks": total, **parts, "delivered": sub_count(parts["approved"], delivered),
            "declined_by_owner_filters": sub_count(parts["declined"], by_filter)}


# --- clips ------------------------------------------------------------------------------------

def clip_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """Clips received, first viewed, put under an evidence hold and purged in the year."""
    ours = Clip.agency_id == agency.id
    received = db.session.scalar(sa.select(sa.func.count()).select_from(Clip).where(
        ours, Clip.status.in_((ClipStatus.COMPLETE, ClipStatus.PURGED)), span.within(Clip.completed_at)))
    # First viewed: the clip's first access (view or download) by the agency's staff.
    first = (sa.select(ClipAccess.clip_id, sa.func.min(ClipAccess.created_at).label("first"))
             .join(Clip, Clip.id == ClipAccess.clip_id).where(ours).group_by(ClipAccess.clip_id)).subquery()
    viewed = db.session.scalar(sa.select(sa.func.count()).select_from(first).where(span.within(first.c.first)))
    held = db.session.scalar(sa.select(sa.func.count(sa.distinct(Clip.id))).join(
        EvidenceHold, EvidenceHold.request_id == Clip.request_id).where(
        ours, Clip.status.in_((ClipStatus.COMPLETE, ClipStatus.PURGED)), span.within(EvidenceHold.placed_at)))
    purged = db.session.scalar(sa.select(sa.func.count()).select_from(Clip).where(
        ours, Clip.status == ClipStatus.PURGED, span.within(Clip.purged_at)))
    return {"received": shown(received), "first_viewed": shown(viewed), "placed_under_hold": shown(held),
            "purged": shown(purged)}


def retention_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """Retention kept: clips past retention at the year's end (or now) that were neither purged
    nor held then, and clips purged in the year more than PURGE_GRACE after retention ended."""
    at = span.end
    held_then = sa.exists().where(EvidenceHold.request_id == Clip.request_id, EvidenceHold.placed_at < at,
                                  sa.or_(EvidenceHold.released_at.is_(None), EvidenceHold.released_at >= at))
    overdue = db.session.scalar(sa.select(sa.func.count()).select_from(Clip).where(
        Clip.agency_id == agency.id, Clip.status.in_((ClipStatus.COMPLETE, ClipStatus.PURGED)),
        Clip.completed_at < at, Clip.retain_until < at - PURGE_GRACE,
        sa.or_(Clip.purged_at.is_(None), Clip.purged_at >= at), ~held_then))
    # Compared in Python: adding an interval to a column is spelled differently per database.
    purges = db.session.execute(sa.select(Clip.retain_until, Clip.purged_at).where(
        Clip.agency_id == agency.id, Clip.status == ClipStatus.PURGED, span.within(Clip.purged_at)))
    late = sum(1 for due, done in purges if due is not None and done - due > PURGE_GRACE)
    return {"as_of": at, "grace_days": PURGE_GRACE.days, "past_retention_not_purged_or_held": shown(overdue),
            "purged_late": shown(late)}


# --- sharing ----------------------------------------------------------------------------------

def sharing_figures(agency: Agency, span: Span) -> dict[str, Any]:
    downloads = db.session.scalar(sa.select(sa.func.count()).select_from(ClipAccess).join(
        Clip, Clip.id == ClipAccess.clip_id).where(
        Clip.agency_id == agency.id, ClipAccess.action == "download", span.within(ClipAccess.created_at)))
    # The cameras the agency can ask today (as the transparency page counts them) whose owners
    # share them with another agency of this installation too.
    member = sa.exists().where(Membership.owner_id == Camera.owner_id, Membership.agency_id == agency.id)
    other = camera_shares.alias("other_shares")
    elsewhere = sa.exists().where(other.c.camera_id == Camera.id, other.c.agency_id != agency.id)
    shared = db.session.scalar(sa.select(sa.func.count()).select_from(Camera).join(
        camera_shares, camera_shares.c.camera_id == Camera.id).where(
        camera_shares.c.agency_id == agency.id, Camera.status == CameraStatus.ACTIVE, member, elsewhere))
    return {"statement": SHARING_STATEMENT, "clips_passed_to_other_agencies": 0, "downloads": shown(downloads),
            "cameras_also_shared_with_other_agencies": shown(shared)}


# --- complaints, audit ------------------------------------------------------------------------

def complaint_figures(agency: Agency, span: Span) -> dict[str, Any]:
    counts = complaint_counts(agency.id, span.year)
    total = counts.pop("total")
    parts, total = suppress_group(counts, total)
    return {"total": total, **parts}


def _checkpoints_of_year(chain: str, span: Span) -> dict[str, Any]:
    """The signed checkpoints of the agency's chain published in the year, and whether the log
    still holds every one of them (a trimmed or rewritten log does not)."""
    rows = db.session.scalars(sa.select(AuditCheckpoint).where(
        AuditCheckpoint.chain == chain, span.within(AuditCheckpoint.signed_at)).order_by(AuditCheckpoint.seq))
    signed = [checkpoints.as_published(row) for row in rows]
    missing = len(checkpoints.verify_published(signed)) if signed else 0

    def public(checkpoint: dict[str, Any] | None) -> dict[str, Any] | None:
        # Without the chain's name: it holds the agency's internal id (the full list has it).
        return None if checkpoint is None else {k: v for k, v in checkpoint.items() if k != "chain"}

    return {"published": len(signed), "not_held_by_log": missing,
            "first": public(signed[0] if signed else None), "last": public(signed[-1] if signed else None)}


def audit_figures(agency: Agency, span: Span) -> dict[str, Any]:
    """The agency's audit chain verified now, from its first event to its head, and the year's
    signed checkpoints checked against it."""
    chain = agency_chain(agency.id)
    report = audit.verify_chain([chain]).chains[0]
    problem = report.problem
    # The chain's name holds the agency's internal id, which public pages never show.
    return {"verified_at": utcnow(), "ok": report.ok, "events_checked": report.events_checked,
            "length": report.length, "head_hash": report.last_hash,
            "problem": None if problem is None else {"kind": problem.kind, "seq": problem.seq},
            "checkpoints": _checkpoints_of_year(chain, span)}


# --- what the agency enters -------------------------------------------------------------------

def _entry(agency_id: int, year: int) -> ReportEntry | None:
    return db.session.scalar(sa.select(ReportEntry).where(ReportEntry.agency_id == agency_id,
                                                          ReportEntry.year == year))


def entries_out(entry: ReportEntry | None, year: int) -> dict[str, Any]:
    values = {key: getattr(entry, key) if entry else None for key in ENTRY_FIELDS}
    return {"entered_by_agency": True, "note": ENTERED_NOTE, "year": year, **values,
            "updated_at": entry.updated_at if entry else None}


def entries(user: User, year: int) -> dict[str, Any]:
    agency = db.session.get(Agency, staff_agency_id(user))
    year_span(agency, year)
    return entries_out(_entry(agency.id, year), year)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def update_entries(supervisor: User, year: int, data: dict[str, Any]) -> dict[str, Any]:
    """Set the fields given (null or blank clears one); audited with each change's before and after."""
    agency = db.session.get(Agency, staff_agency_id(supervisor))
    year_span(agency, year)
    entry = _entry(agency.id, year)
    before = {key: getattr(entry, key) if entry else None for key in ENTRY_FIELDS}
    after = {**before, **{key: _clean(data[key]) for key in ENTRY_FIELDS if key in data}}
    changed = {key: {"before": before[key], "after": after[key]} for key in ENTRY_FIELDS if before[key] != after[key]}
    if changed:
        if entry is None:
            entry = ReportEntry(agency_id=agency.id, year=year)
            db.session.add(entry)
        for key, change in changed.items():
            setattr(entry, key, change["after"])
        entry.updated_by_id = supervisor.id
        entry.updated_at = utcnow()
        db.session.flush()
        audit.record("report.entries_updated", target=entry, agency_id=agency.id,
                     details={"year": year, **changed})
    db.session.commit()
    return entries_out(entry, year)


# --- the report -------------------------------------------------------------------------------

def annual_report(slug: str, year: int) -> dict[str, Any]:
    agency = agency_by_slug(slug)
    span = year_span(agency, year)
    made = _requests_made(agency, span)
    return {
        "agency": {"slug": agency.slug, "name": agency.name, "timezone": agency_zone(agency).key},
        "year": year,
        "period_start": span.start,
        "period_end": span.end,
        "complete": span.complete,
        "generated_at": utcnow(),
        "min_count": K,
        "requests": request_figures(made),
        "purposes": purpose_figures(agency, span),
        "reviews": review_figures(agency, span),
        "outcomes": outcome_figures(agency, span),
        "scope": scope_figures(made),
        "clips": clip_figures(agency, span),
        "retention": retention_figures(agency, span),
        "sharing": sharing_figures(agency, span),
        "complaints": complaint_figures(agency, span),
        "audit": audit_figures(agency, span),
        "entered": entries_out(_entry(agency.id, year), year),
    }


# --- CSV --------------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "figure", "value", "source")


def _flat(prefix: str, value: Any):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(f"{prefix}.{key}" if prefix else key, inner)
    else:
        yield prefix, value


def report_rows(data: dict[str, Any]) -> list[tuple[str, str, Any, str]]:
    """(section, figure, value, source) per figure; a hidden small count is an empty value."""
    rows: list[tuple[str, str, Any, str]] = [
        ("report", "agency", data["agency"]["name"], "computed"),
        ("report", "year", data["year"], "computed"),
        ("report", "complete", data["complete"], "computed"),
        ("report", "generated_at", data["generated_at"], "computed"),
        ("report", "min_count", data["min_count"], "computed"),
    ]
    for section in ("requests", "reviews", "outcomes", "scope", "clips", "retention", "sharing", "complaints",
                    "audit"):
        for figure, value in _flat("", data[section]):
            rows.append((section, figure, value, "computed"))
    for table in ("legal_basis", "offense_categories"):
        for cell in data["purposes"][table]:
            rows.append((f"purposes.{table}", cell["key"], cell["requests"], "computed"))
    for key in ENTRY_FIELDS:
        rows.append(("entered", key, data["entered"][key], "entered by the agency"))
    return rows


def report_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report_rows(data):
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def filename(data: dict[str, Any], extension: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", data["agency"]["slug"]).strip("-") or "agency"
    return f"porchlight-annual-report-{slug}-{data['year']}.{extension}"
