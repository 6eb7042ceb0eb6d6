"""Which cameras a footage request asks: near enough, shared with the agency, still holding the time.

Officers never see this list: a request shows them counts per ask state only.

One query answers a request's matching: the radius search (app/cameras/service.py) with
each camera's owner, recorder and blackout hours, and, as the caller needs them, whether
the request would ask the camera again after its owner refused (a re-ask), and what the
fan-out needs of its owner: their filters and the reply codes of their open asks.
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
from app.cameras.service import in_circle, within_query
from app.db import utcnow
from app.extensions import db
from app.footage import filters
from app.footage.filters import Rules
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, OwnerFilter

RE_ASK_DAYS = 30


@dataclass(slots=True)
class Match:
    """A camera a request would ask, and how far it is from the request's centre.

    ``re_asked``: its owner refused an overlapping ask for it (read with ``re_asks_of``);
    ``rules`` and ``open_codes``: the owner's filters (None: none set) and the reply codes
    of their open asks (read with ``fan_out``).
    """

    camera_id: int
    owner_id: int
    label: str
    distance_m: float
    re_asked: bool = False
    rules: Rules | None = None
    open_codes: tuple[str, ...] = ()


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


# Table columns, not ORM attributes, in the matching query: a plain Core select skips the
# ORM's per-row work, which a thousand rows would notice.
_asks, _requests, _cameras = Ask.__table__.c, FootageRequest.__table__.c, Camera.__table__.c


def refusals_clause() -> sa.ColumnElement[bool]:
    """SQL: an ask its owner refused: declined, or left unanswered until it expired.

    ``no_footage`` is an answer, not a refusal; an ask that expired after the owner
    approved (the clip never came) was not refused either, nor a cancelled one.
    """
    return sa.or_(_asks.state == AskState.DECLINED,
                  sa.and_(_asks.state == AskState.EXPIRED, _asks.responded_at.is_(None)))


def re_ask_clause(agency_id: int, window_start: datetime, window_end: datetime, now: datetime
                  ) -> sa.ColumnElement[bool]:
    """SQL, of a row of ``cameras``: its owner refused an overlapping ask of this agency in the last 30 days.

    Overlapping: the same camera (so it stood in both requests' circles), asked by a
    request of the same agency whose time window overlaps this one, the earlier ask made
    at most RE_ASK_DAYS ago; the camera's owner then is its owner now (a camera that
    changed hands is a new owner's to answer).
    """
    # By owner and state, the index the inbox uses (ix_asks_owner_state): asks have no index
    # by camera, and the preview runs this on every move of the radius slider.
    return sa.exists().where(
        _asks.owner_id == _cameras.owner_id, _asks.state.in_((AskState.DECLINED, AskState.EXPIRED)),
        _asks.camera_id == _cameras.id, refusals_clause(), _requests.id == _asks.request_id,
        _requests.agency_id == agency_id, _asks.created_at >= now - timedelta(days=RE_ASK_DAYS),
        # A filter's decline counts from its disguised time on (app/footage/filters.py), as it
        # does in the request's counts: never sooner, or a quick second request would reveal it.
        sa.or_(_asks.responded_at.is_(None), _asks.responded_at <= now),
        _requests.window_start < window_end, _requests.window_end > window_start)


def _open_codes() -> sa.ScalarSelect:
    """SQL, of a row of ``cameras``: the reply codes of its owner's open asks, comma-separated (NULL: none)."""
    # The open states written out as the partial unique index on open reply codes has them
    # (app/footage/models.py), so the database can answer from that index alone.
    open_states = [sa.literal_column(f"'{state.value}'") for state in OPEN_ASK_STATES]
    return (sa.select(sa.func.aggregate_strings(_asks.reply_code, ","))
            .where(_asks.owner_id == _cameras.owner_id, _asks.state.in_(open_states))
            .scalar_subquery())


def match_cameras(agency_id: int, latitude: float, longitude: float, radius_m: float,
                  window_start: datetime, window_end: datetime, now: datetime | None = None, *,
                  re_asks_of: int | None = None, fan_out: bool = False) -> list[Match]:
    """The cameras a request would ask, nearest first.

    Active cameras shared with the agency within the radius (the geo search), whose
    owner's account is active, whose recorder still holds the window's start, and that
    are not in a blackout for the whole window. With ``re_asks_of`` (an agency id) each
    match says whether it is a re-ask (:func:`re_ask_clause`); with ``fan_out`` it carries
    its owner's filters and open reply codes. All in one query.
    """
    now = now or utcnow()
    cams, users = _cameras, User.__table__.c
    # The recorder still holds the window's start: its retention (whole days) is at least the
    # start's age, rounded up to a day.
    age_days = -((window_start - now) // timedelta(days=1))
    # Most cameras have no blackout hours: NULL for them rather than a JSON "[]" to decode a row.
    blackout = sa.case((sa.cast(cams.blackout_windows, sa.Text) == "[]", sa.null()), else_=cams.blackout_windows)
    query = (within_query(latitude, longitude, radius_m, agency_id=agency_id, active_only=True)
             .add_columns(cams.owner_id, cams.label, blackout.label("blackout_windows"))
             .join(User.__table__, users.id == cams.owner_id)
             .where(users.active, cams.retention_days >= age_days))
    if re_asks_of is not None:
        query = query.add_columns(re_ask_clause(re_asks_of, window_start, window_end, now).label("re_asked"))
    if fan_out:
        owner_filters = OwnerFilter.__table__
        query = (query.add_columns(_open_codes().label("open_codes"), *filters.rules_columns())
                 .outerjoin(owner_filters, owner_filters.c.user_id == cams.owner_id))
    zone: ZoneInfo | None = None
    matches = []
    for distance, row in in_circle(latitude, longitude, radius_m, db.session.execute(query).all()):
        # By position, the columns every row has (a thousand rows: a name costs twenty times as much).
        camera_id, _, _, owner_id, label, windows = row[:6]
        if windows:
            zone = zone or agency_zone(db.session.get(Agency, agency_id))
            if blackout_covers(windows, window_start, window_end, zone):
                continue
        match = Match(camera_id, owner_id, label, distance)
        if re_asks_of is not None:
            match.re_asked = bool(row.re_asked)
        if fan_out:
            match.rules = filters.rules_of(row)
            if row.open_codes:
                match.open_codes = tuple(row.open_codes.split(","))
        matches.append(match)
    return matches
