"""Which cameras a footage request asks: near enough, shared with the agency, still holding the time.

Officers never see this list: a request shows them counts per ask state only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.cameras.models import Camera
from app.cameras.service import cameras_within
from app.db import utcnow
from app.extensions import db
from app.sql import ID_CHUNK, chunks


@dataclass(slots=True)
class Match:
    """A camera a request would ask, and how far it is from the request's centre."""

    camera_id: int
    owner_id: int
    label: str
    distance_m: float


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    # Compared in UTC: aware times sharing one tzinfo compare by wall clock, wrong across DST.
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def blackout_covers(windows: list[dict[str, Any]], start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """Whether the owner's weekly blackout hours (local time) cover all of ``start``..``end``.

    A window whose end is at or before its start runs past midnight; adjacent windows
    join (Monday 22:00-00:00 and Tuesday 00:00-06:00 are one night). Partly covered
    is not covered: the camera may hold the rest.
    """
    if not windows:
        return False
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    spans = []
    day = first - timedelta(days=1)  # the previous evening's overnight window reaches into the first day
    while day <= last:
        for window in windows:
            if window["day"] == day.weekday():
                overnight = window["end"] <= window["start"]
                spans.append((_local(day, window["start"], zone),
                              _local(day + timedelta(days=1) if overnight else day, window["end"], zone)))
        day += timedelta(days=1)
    covered_to = start
    for span_start, span_end in sorted(spans):
        if span_start > covered_to:
            return False  # a recorded gap
        covered_to = max(covered_to, span_end)
        if covered_to >= end:
            return True
    return False


def match_cameras(agency: Agency, latitude: float, longitude: float, radius_m: float,
                  window_start: datetime, window_end: datetime, now: datetime | None = None) -> list[Match]:
    """The cameras a request would ask, nearest first.

    Active cameras shared with the agency within the radius (the geo search), whose
    owner's account is active, whose recorder still holds the window's start, and that
    are not in a blackout for the whole window.
    """
    now = now or utcnow()
    hits = cameras_within(latitude, longitude, radius_m, agency_id=agency.id, active_only=True)
    if not hits:
        return []
    cams, users = Camera.__table__.c, User.__table__.c
    rows: dict[int, sa.Row] = {}
    for chunk in chunks([hit.camera_id for hit in hits], ID_CHUNK):
        query = (sa.select(cams.id, cams.owner_id, cams.label, cams.retention_days, cams.blackout_windows)
                 .join(User.__table__, users.id == cams.owner_id)
                 .where(cams.id.in_(chunk), users.active))
        rows.update((row.id, row) for row in db.session.execute(query))
    zone = agency_zone(agency)
    age = now - window_start
    matches = []
    for hit in hits:
        row = rows.get(hit.camera_id)
        if row is None or age > timedelta(days=row.retention_days):
            continue
        if row.blackout_windows and blackout_covers(row.blackout_windows, window_start, window_end, zone):
            continue
        matches.append(Match(hit.camera_id, row.owner_id, row.label, hit.distance_m))
    return matches
