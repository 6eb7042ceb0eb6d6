"""The public transparency report: what an agency did with the registry, month by month.

Anyone may read it, without an account, so it holds aggregates only: never an owner,
a camera, a case number or a place finer than a grid cell holding at least
``MIN_CAMERAS_PER_CELL`` cameras.

Definitions (also shown on the public page and in the OpenAPI document):

- Months are calendar months in the agency's time zone. Each measure is counted in the
  month of its own event: a request when it was made, an ask when it was sent, an
  over-limit approval when the supervisor approved it, a clip when its upload completed
  and again, as purged, when its bytes were deleted.
- ``requests`` counts every request made, including ones over a limit that a supervisor
  later rejected (those send no asks); ``requests_over_limit_approved`` the overrides,
  and ``requests_over_limit_self_approved`` those among them that the supervisor who
  made the request approved (only where the agency's policy allows self-approval).
- ``requests_re_ask`` counts the requests made in the month that would ask again a camera
  whose owner declined, or did not answer, an overlapping request of the agency in the 30
  days before (they wait for a supervisor); ``requests_re_ask_approved`` those a supervisor
  let through, in the month of the approval (they are among the over-limit approvals too).
  Both follow the small-cell rule below.
- ``purposes``: the requests made over the whole range, by legal basis and by offense
  category (the agency's current label for a key it still has, else the label the requests
  were made with). A count from 1 to ``MIN_COUNT - 1`` is suppressed (null), and then the
  next smallest non-zero ones until the suppressed cells add up to at least ``MIN_COUNT``, so
  that the monthly request totals cannot give them back by subtraction (:func:`suppress_group`).
  Zeros are shown, unless the whole table is under ``MIN_COUNT``.
- ``approved`` counts asks the owner approved (including those now uploading or
  delivered); ``declined``, ``no_footage`` and ``expired`` the other outcomes.
  ``cancelled`` asks (the officer withdrew the request) and ``open`` ones (still
  waiting) are no outcome.
- A rate is the share of a month's asks that reached an outcome
  (approved + declined + no footage + expired), not of all asks made: a month still in
  progress would otherwise look like owners ignoring requests. Rates are null when no
  ask of the month reached an outcome.
- Median time to respond: minutes from the ask being sent to the owner's answer
  (approve, decline, no footage), over the month's answered asks; null if none.
- Registered cameras: active (not paused) cameras shared with the agency by an owner
  who is a member of it — the cameras an officer of the agency can ask today.
  Integrated: those among them whose owner chose the "integrate" mode (consent to
  live access; live access itself is not built yet, so this counts consent). A shown
  cell's integrated count is itself a small cell: it is left out (null) when it, or the
  rest of the cell (registered − integrated), is 1 to k − 1 (:func:`sub_count`).
- Cameras are counted over cells of ``CELL_DEGREES``° latitude × longitude (about
  1.1 km × 0.8 km at mid latitudes), reported by their centre. A cell with fewer than
  ``MIN_CAMERAS_PER_CELL`` cameras is left out by the database query itself, and the
  totals are the sums over the shown cells only: a separate grand total would give
  away the suppressed cells by subtraction. The integrated total likewise adds up the
  shown integrated counts only.

The small-cell rule (k = ``MIN_CAMERAS_PER_CELL`` = 5) is also the annual report's
(app/reports): :func:`suppress_group` and :func:`sub_count` are its helpers.

Month bucketing is portable SQL: the month boundaries are computed in Python in the
agency's zone (so daylight saving time is right) and the database buckets each row
with a ``CASE`` over those boundaries and groups by it — one query per measure. Only
the median is dialect-specific (``percentile_cont`` on PostgreSQL; on SQLite the
answered asks' two timestamps are read and the median taken in Python).
"""
from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.agencies.models import Agency, Membership
from app.agencies.service import agency_zone
from app.cameras.models import Camera, CameraMode, CameraStatus, camera_shares
from app.clips.models import Clip, ClipStatus
from app.common.csv_cells import neutralise
from app.db import utcnow
from app.errors import field_error, not_found
from app.extensions import db
from app.footage import asks, purpose
from app.footage.filters import state_shown
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, LegalBasis
from app.footage.policy import current_policy
from app.footage.requests import approved_over_limit
from app.sql import dialect

CELL_DEGREES = 0.01
MIN_CAMERAS_PER_CELL = 5
# The same small-cell rule for counts of requests: fewer than this (and more than 0) is never shown.
MIN_COUNT = 5
DEFAULT_MONTHS = 12
MAX_MONTHS = 36

OUTCOMES = ("approved", "declined", "no_footage", "expired")

# The monthly table's columns, in the CSV's order.
MONTH_COLUMNS = (
    "month", "requests", "requests_over_limit_approved", "requests_over_limit_self_approved",
    "requests_re_ask", "requests_re_ask_approved", "cameras_asked",
    "approved", "declined", "no_footage", "expired", "cancelled", "open", "outcomes",
    "approved_rate", "declined_rate", "no_footage_rate", "expired_rate",
    "answered", "median_time_to_respond_minutes", "clips_received", "clips_purged",
)

# The k of the small-cell rule: a published count is 0 or at least K (and the same for
# whatever can be worked out from published counts by subtraction).
K = MIN_COUNT

_MONTH = re.compile(r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        return cls(int(text[:4]), int(text[5:7]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def minus(self, other: Month) -> int:
        return (self.year * 12 + self.month) - (other.year * 12 + other.month)

    def start(self, zone: ZoneInfo) -> datetime:
        """The first instant of the month in ``zone``, as UTC."""
        return datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)


# --- the small-cell rule ------------------------------------------------------------------

def is_small(count: int) -> bool:
    """A count that would single out fewer than K people or things (0 singles out no one)."""
    return 0 < count < K


def sub_count(whole: int | None, part: int) -> int | None:
    """``part`` of a shown count ``whole``, or None (suppressed) when the whole is suppressed,
    the part is small, or the rest (whole − part) is small: either can be read off the other."""
    if whole is None or is_small(part) or is_small(whole - part):
        return None
    return part


def suppress_group(parts: dict[str, int], total: int | None = None) -> tuple[dict[str, int | None], int | None]:
    """Parts of one total (which defaults to their sum), with the small ones suppressed (None).

    Primary suppression hides each part of 1 to K − 1. A total that is shown (here or in
    another group of the same things) gives away the sum of the hidden parts by
    subtraction, so secondary suppression hides the smallest shown non-zero parts until
    the hidden parts add up to 0 or at least K. A small total hides everything.
    """
    whole = sum(parts.values()) if total is None else total
    if is_small(whole):
        return dict.fromkeys(parts), None
    hidden = {key for key, n in parts.items() if is_small(n)}
    while is_small(sum(parts[key] for key in hidden)):
        shown = sorted((n, key) for key, n in parts.items() if key not in hidden and n > 0)
        if not shown:
            break
        hidden.add(shown[0][1])
    return {key: (None if key in hidden else n) for key, n in parts.items()}, whole


# --- agencies ---------------------------------------------------------------------------

def public_agencies() -> list[dict[str, str]]:
    """Every agency has a public page."""
    rows = db.session.execute(sa.select(Agency.slug, Agency.name).order_by(Agency.name, Agency.slug))
    return [{"slug": slug, "name": name} for slug, name in rows]


def agency_by_slug(slug: str) -> Agency:
    agency = db.session.scalar(sa.select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise not_found("Agency")
    return agency


def month_range(zone: ZoneInfo, first: str | None, last: str | None, now: datetime | None = None) -> list[Month]:
    """The months asked for; by default the last 12 ending with the current one."""
    for name, value in (("from", first), ("to", last)):
        if value is not None and not _MONTH.match(value):
            raise field_error(name, "Use the form YYYY-MM, e.g. 2026-03.")
    current = (now or utcnow()).astimezone(zone)
    this_month = Month(current.year, current.month)
    if last:
        end = Month.parse(last)
    elif first:
        # A year from `from`, but not into the future unless `from` itself is there.
        begin = Month.parse(first)
        end = begin.shift(DEFAULT_MONTHS - 1)
        if end.minus(this_month) > 0:
            end = max(begin, this_month, key=lambda m: m.year * 12 + m.month)
    else:
        end = this_month
    start = Month.parse(first) if first else end.shift(-(DEFAULT_MONTHS - 1))
    if start.minus(end) > 0:
        raise field_error("from", "Must not be after `to`.")
    if end.minus(start) + 1 > MAX_MONTHS:
        raise field_error("to", f"The range may span at most {MAX_MONTHS} months.")
    return [start.shift(i) for i in range(end.minus(start) + 1)]


# --- the monthly measures ------------------------------------------------------------------

class _Buckets:
    """Month boundaries in UTC and the SQL expression putting a timestamp in its month."""

    def __init__(self, months: list[Month], zone: ZoneInfo) -> None:
        self.months = months
        self.edges = [m.start(zone) for m in months] + [months[-1].shift(1).start(zone)]

    def within(self, column) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.edges[0], column < self.edges[-1])

    def index(self, column) -> sa.ColumnElement[int]:
        # Rows are already limited to [first edge, last edge): the first boundary above wins.
        # Callers group by it in an outer query: PostgreSQL would not see two renderings
        # of this CASE (each with its own bound parameters) as the same expression.
        return sa.case(*[(column < edge, i) for i, edge in enumerate(self.edges[1:])], else_=None)


def _count_by_month(buckets: _Buckets, column, *where, join=None) -> dict[int, int]:
    inner = sa.select(buckets.index(column).label("m")).where(buckets.within(column), *where)
    if join is not None:
        inner = inner.select_from(join)
    sub = inner.subquery()
    rows = db.session.execute(sa.select(sub.c.m, sa.func.count()).group_by(sub.c.m))
    return {m: n for m, n in rows if m is not None}


def _ask_states(buckets: _Buckets, agency_id: int) -> dict[int, dict[str, int]]:
    # A filter's decline counts from its disguised time on, as in the officer's counts.
    inner = (sa.select(buckets.index(Ask.created_at).label("m"), state_shown(utcnow()))
             .join(FootageRequest, FootageRequest.id == Ask.request_id)
             .where(FootageRequest.agency_id == agency_id, buckets.within(Ask.created_at))).subquery()
    rows = db.session.execute(sa.select(inner.c.m, inner.c.state, sa.func.count()).group_by(inner.c.m, inner.c.state))
    out: dict[int, dict[str, int]] = {}
    for m, state, n in rows:
        if m is None:
            continue
        state = AskState(state)
        key = ("approved" if state in asks.APPROVED_STATES else "open" if state in OPEN_ASK_STATES else state.value)
        counts = out.setdefault(m, {})
        counts[key] = counts.get(key, 0) + n
    return out


def _answered(buckets: _Buckets, agency_id: int) -> dict[int, tuple[int, float]]:
    """Per month: (answered asks, median minutes from ask to answer)."""
    where = (FootageRequest.agency_id == agency_id, Ask.responded_at.is_not(None), Ask.responded_at <= utcnow(),
             buckets.within(Ask.created_at))
    if dialect() == "postgresql":
        minutes = sa.extract("epoch", Ask.responded_at - Ask.created_at) / 60.0
        inner = (sa.select(buckets.index(Ask.created_at).label("m"), minutes.label("minutes"))
                 .join(FootageRequest, FootageRequest.id == Ask.request_id).where(*where)).subquery()
        median = sa.func.percentile_cont(0.5).within_group(inner.c.minutes)
        rows = db.session.execute(sa.select(inner.c.m, sa.func.count(), median).group_by(inner.c.m))
        return {m: (n, float(med)) for m, n, med in rows if m is not None}
    # SQLite has no median: read the answered asks' timestamps (one query, O(rows)).
    rows = db.session.execute(
        sa.select(buckets.index(Ask.created_at), Ask.created_at, Ask.responded_at)
        .join(FootageRequest, FootageRequest.id == Ask.request_id).where(*where))
    per_month: dict[int, list[float]] = {}
    for m, created, responded in rows:
        if m is not None:
            per_month.setdefault(m, []).append((responded - created).total_seconds() / 60)
    return {m: (len(values), statistics.median(values)) for m, values in per_month.items()}


def small_cell(count: int) -> int | None:
    """A count as published: null when it is under MIN_COUNT but not 0."""
    return None if 0 < count < MIN_COUNT else count


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def monthly(agency: Agency, months: list[Month], zone: ZoneInfo) -> list[dict[str, Any]]:
    buckets = _Buckets(months, zone)
    requests = _count_by_month(buckets, FootageRequest.created_at, FootageRequest.agency_id == agency.id)
    # An override is counted in the month the supervisor approved it.
    approved_overrides = (FootageRequest.agency_id == agency.id, approved_over_limit())
    overrides = _count_by_month(buckets, FootageRequest.reviewed_at, *approved_overrides)
    self_approved = _count_by_month(buckets, FootageRequest.reviewed_at, *approved_overrides,
                                    FootageRequest.self_approved.is_(True))
    re_asks = _count_by_month(buckets, FootageRequest.created_at, FootageRequest.agency_id == agency.id,
                              FootageRequest.re_ask_cameras > 0)
    re_asks_approved = _count_by_month(buckets, FootageRequest.reviewed_at, *approved_overrides,
                                       FootageRequest.re_ask_cameras > 0)
    states = _ask_states(buckets, agency.id)
    answered = _answered(buckets, agency.id)
    received = _count_by_month(buckets, Clip.completed_at, Clip.agency_id == agency.id,
                               Clip.status.in_((ClipStatus.COMPLETE, ClipStatus.PURGED)))
    purged = _count_by_month(buckets, Clip.purged_at, Clip.agency_id == agency.id,
                             Clip.status == ClipStatus.PURGED)
    table = []
    for i, month in enumerate(months):
        counts = states.get(i, {})
        row: dict[str, Any] = {"month": str(month), "requests": requests.get(i, 0),
                               "requests_over_limit_approved": overrides.get(i, 0),
                               "requests_over_limit_self_approved": self_approved.get(i, 0),
                               "requests_re_ask": small_cell(re_asks.get(i, 0)),
                               "requests_re_ask_approved": small_cell(re_asks_approved.get(i, 0)),
                               "cameras_asked": sum(counts.values())}
        for key in (*OUTCOMES, "cancelled", "open"):
            row[key] = counts.get(key, 0)
        row["outcomes"] = sum(row[key] for key in OUTCOMES)
        for key in OUTCOMES:
            row[f"{key}_rate"] = _rate(row[key], row["outcomes"])
        n_answered, median = answered.get(i, (0, None))
        row["answered"] = n_answered
        row["median_time_to_respond_minutes"] = round(median, 1) if median is not None else None
        row["clips_received"] = received.get(i, 0)
        row["clips_purged"] = purged.get(i, 0)
        table.append(row)
    return table


# --- purposes: legal basis and offense category -----------------------------------------------

def _suppressed(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Publish each cell's ``requests`` under the small-cell rule, with complementary suppression
    (:func:`suppress_group`: the hidden cells add up to 0 or at least K, so the monthly request
    totals cannot give one back by subtraction)."""
    shown, _ = suppress_group({i: c["requests"] for i, c in enumerate(cells)})
    return [{**c, "requests": shown[i], "suppressed": shown[i] is None} for i, c in enumerate(cells)]


def purposes(agency: Agency, months: list[Month], zone: ZoneInfo) -> dict[str, Any]:
    """Requests made over the range by legal basis and by offense category, small cells suppressed."""
    buckets = _Buckets(months, zone)
    where = (FootageRequest.agency_id == agency.id, buckets.within(FootageRequest.created_at))
    by_basis = dict(db.session.execute(sa.select(FootageRequest.legal_basis, sa.func.count())
                                       .where(*where).group_by(FootageRequest.legal_basis)).all())
    label = sa.func.max(FootageRequest.offense_category_label)
    rows = db.session.execute(sa.select(FootageRequest.offense_category, label, sa.func.count())
                              .where(*where).group_by(FootageRequest.offense_category))
    made = {key: (label, n) for key, label, n in rows}
    taxonomy = purpose.offense_categories(current_policy(agency.id))
    # Every category of the taxonomy (zeros too), then keys it no longer has that requests used.
    categories = [{"key": c["key"], "name": c["label"], "requests": made.pop(c["key"], (None, 0))[1]}
                  for c in taxonomy]
    categories += [{"key": key, "name": label, "requests": n} for key, (label, n) in sorted(made.items())]
    for category in categories:
        category["name"] = purpose.category_label(category["key"], category["name"])
    return {
        "min_count": MIN_COUNT,
        "legal_basis": _suppressed([{"key": basis.value, "requests": by_basis.get(basis, 0)} for basis in LegalBasis]),
        "offense_categories": _suppressed(categories),
    }


PURPOSE_COLUMNS = ("table", "key", "name", "requests")


# --- cameras over grid cells -----------------------------------------------------------------

def _floor(expr: sa.ColumnElement[float]) -> sa.ColumnElement[int]:
    if dialect() == "postgresql":
        return sa.cast(sa.func.floor(expr), sa.Integer)
    # SQLite's CAST truncates toward zero; step down for negative non-integers.
    truncated = sa.cast(expr, sa.Integer)
    return sa.case((expr < truncated, truncated - 1), else_=truncated)


def camera_cells(agency: Agency) -> dict[str, Any]:
    """Registered and integrated cameras per grid cell; cells under the threshold never leave SQL."""
    member = sa.exists().where(Membership.owner_id == Camera.owner_id, Membership.agency_id == agency.id)
    inner = (sa.select(_floor(Camera.latitude / CELL_DEGREES).label("row"),
                       _floor(Camera.longitude / CELL_DEGREES).label("col"),
                       sa.case((Camera.mode == CameraMode.INTEGRATE, 1), else_=0).label("integrated"))
             .join(camera_shares, camera_shares.c.camera_id == Camera.id)
             .where(camera_shares.c.agency_id == agency.id, Camera.status == CameraStatus.ACTIVE, member)
             ).subquery()
    count = sa.func.count()
    rows = db.session.execute(
        sa.select(inner.c.row, inner.c.col, count, sa.func.sum(inner.c.integrated))
        .group_by(inner.c.row, inner.c.col).having(count >= MIN_CAMERAS_PER_CELL)
        .order_by(inner.c.row, inner.c.col))
    # The integrated count is a sub-count of the cell: shown only if neither it nor the rest is small.
    cells = [{"latitude": round((row + 0.5) * CELL_DEGREES, 3), "longitude": round((col + 0.5) * CELL_DEGREES, 3),
              "registered": int(n), "integrated": sub_count(int(n), int(integrated or 0))}
             for row, col, n, integrated in rows]
    return {
        "cell_size_degrees": CELL_DEGREES,
        "min_cameras_per_cell": MIN_CAMERAS_PER_CELL,
        "registered": sum(c["registered"] for c in cells),
        "integrated": sum(c["integrated"] or 0 for c in cells),
        "cells": cells,
    }


# --- the report --------------------------------------------------------------------------------

def report(slug: str, first: str | None = None, last: str | None = None) -> dict[str, Any]:
    agency = agency_by_slug(slug)
    zone = agency_zone(agency)
    months = month_range(zone, first, last)
    return {
        "agency": {"slug": agency.slug, "name": agency.name, "timezone": zone.key},
        "from": str(months[0]),
        "to": str(months[-1]),
        "generated_at": utcnow(),
        "months": monthly(agency, months, zone),
        "purposes": purposes(agency, months, zone),
        "cameras": camera_cells(agency),
    }


def report_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MONTH_COLUMNS)
    for row in data["months"]:
        writer.writerow([neutralise(row[column]) for column in MONTH_COLUMNS])
    return out.getvalue()


def purposes_csv(data: dict[str, Any]) -> str:
    """The requests of the range by legal basis and offense category; a suppressed count is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PURPOSE_COLUMNS)
    for table in ("legal_basis", "offense_categories"):
        for cell in data["purposes"][table]:
            writer.writerow([neutralise(v) for v in (table, cell["key"], cell.get("name", cell["key"]),
                                                     cell["requests"])])
    return out.getvalue()


def csv_filename(data: dict[str, Any], table: str = "months") -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", data["agency"]["slug"]).strip("-") or "agency"
    suffix = "" if table == "months" else f"-{table}"
    return f"porchlight-transparency-{slug}-{data['from']}-{data['to']}{suffix}.csv"
