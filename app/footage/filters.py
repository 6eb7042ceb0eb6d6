"""Owners' filters: standing answers that decline a new ask before anyone is told of it.

An owner may decline, once and for all, requests of some offense categories, requests
from agencies other than those they choose, and requests for footage older than a
number of days; and may pause everything until a return date. When a request fans
out (app/footage/lifecycle.py) the filters of every owner it reaches are read with the
matching cameras (app/footage/matching.py), in the same query, and each new ask one of
them catches is born ``declined``: no message is recorded for it, and the owner's inbox
and history show it as declined by their filter (``answered_via`` "filter",
``filter_rule`` naming the rule).

Officers must not tell such a decline from one an owner typed, nor learn whose it was.
Staff only ever read counts per ask state (app/footage/requests.py), so the ask is a
decline like any other there, with one difference hidden: an answer the moment a
request goes out would give the filter away. So the decline is stamped at a random
time within the request's first hours, and until then staff counts and the public report
(:func:`state_shown`) show the ask as ``notified``, like every other ask waiting for its owner;
any other count of ask states shown to staff or the public should read it the same way. The
event recording the filter's work goes to the installation's audit chain, not the agency's:
what it lacks, a supervisor reading the agency's log could notice (no ``ask.declined`` event
for such an ask), but never whose ask it was.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency, Membership
from app.audit import service as audit
from app.db import utcnow
from app.errors import field_error
from app.extensions import db
from app.footage import purpose
from app.footage.models import Ask, AskState, FootageRequest, OwnerFilter
from app.footage.policy import current_policy

VIA_FILTER = "filter"
# In the order they are checked; the first that catches an ask is the one recorded.
FILTER_RULES = ("paused", "agency", "category", "age")
# How far ahead "pause everything" may reach: a return date, not a way to leave quietly.
MAX_PAUSE = timedelta(days=366)
# The disguised decline comes between these, and never later than half the request's life.
DECLINE_DELAY = (timedelta(minutes=5), timedelta(hours=4))
# What staff and the public see of a filter's decline until its disguised time.
SHOWN_AS = AskState.NOTIFIED


@dataclass(slots=True, frozen=True)
class Rules:
    """One owner's filters, as the fan-out checks them."""

    declined_categories: frozenset[str]
    agency_ids: frozenset[int] | None
    max_age: timedelta | None
    paused_until: datetime | None


def rules_columns() -> list[sa.ColumnElement[Any]]:
    """The columns of an owner's filters that a fan-out reads, labelled for :func:`rules_of`: the matching
    joins them to each camera's row (an outer join on ``owner_filters.user_id``), so no query of their own."""
    table = OwnerFilter.__table__.c
    return [table.user_id.label("filter_user_id"), table.declined_categories, table.agency_ids,
            table.max_footage_age_days, table.paused_until]


def rules_of(row: Any) -> Rules | None:
    """The owner's filters from a row with :func:`rules_columns`; None for an owner who set none."""
    if row.filter_user_id is None:
        return None
    return Rules(frozenset(row.declined_categories or ()),
                 None if row.agency_ids is None else frozenset(row.agency_ids),
                 None if row.max_footage_age_days is None else timedelta(days=row.max_footage_age_days),
                 row.paused_until)


def rule_catching(rules: Rules | None, request: FootageRequest, now: datetime) -> str | None:
    """The first of FILTER_RULES that declines ``request`` for this owner, or None."""
    if rules is None:
        return None
    if rules.paused_until is not None and now < rules.paused_until:
        return "paused"
    if rules.agency_ids is not None and request.agency_id not in rules.agency_ids:
        return "agency"
    if request.offense_category in rules.declined_categories:
        return "category"
    if rules.max_age is not None and now - request.window_start > rules.max_age:
        return "age"
    return None


def _disguised_time(now: datetime, lifetime_hours: int) -> datetime:
    low, high = DECLINE_DELAY
    high = min(high, timedelta(hours=lifetime_hours) / 2)
    span = max(int((high - low).total_seconds()), 1)
    return now + low + timedelta(seconds=secrets.randbelow(span))


def declined_columns(rule: str, now: datetime, lifetime_hours: int) -> dict[str, Any]:
    """What a new ask's row holds when ``rule`` declined it (see the module's docstring for the time)."""
    at = _disguised_time(now, lifetime_hours)
    return {"state": AskState.DECLINED, "answered_via": VIA_FILTER, "filter_rule": rule,
            "responded_at": at, "closed_at": at}


def state_shown(now: datetime) -> sa.ColumnElement[str]:
    """SQL: an ask's state as staff and the public see it (labelled ``state``): a filter's decline
    shows as ``notified`` until its disguised time, as if the owner had not answered yet."""
    return sa.case((sa.and_(Ask.answered_via == VIA_FILTER, Ask.responded_at > now), sa.literal(SHOWN_AS.value)),
                   else_=sa.cast(Ask.state, sa.String)).label("state")


def record_declines(request: FootageRequest, declined: dict[str, list[int]]) -> None:
    """One event for a fan-out's filtered asks, in the installation's chain (not the agency's)."""
    if any(declined.values()):
        audit.record("asks.declined_by_filters", target=request, agency_id=None, actor=audit.NO_ACTOR,
                     details={"request_id": request.id, "asks": {rule: ids for rule, ids in declined.items() if ids}})


# --- the owner's settings -------------------------------------------------------------------------

def _row(owner: User) -> OwnerFilter | None:
    return db.session.get(OwnerFilter, owner.id)


def _joined(owner: User) -> list[tuple[int, str]]:
    return [(agency_id, name) for agency_id, name in db.session.execute(
        sa.select(Agency.id, Agency.name).join(Membership, Membership.agency_id == Agency.id)
        .where(Membership.owner_id == owner.id).order_by(Agency.name, Agency.id))]


def _categories(agency_ids: Iterable[int]) -> list[dict[str, str]]:
    """The offense categories of these agencies' taxonomies, each key once (the first label met), in order."""
    found: dict[str, str] = {}
    for agency_id in agency_ids:
        for category in purpose.offense_categories(current_policy(agency_id)):
            found.setdefault(category["key"], purpose.category_label(category["key"], category["label"]))
    return [{"key": key, "label": label} for key, label in found.items()]


def filters_view(owner: User, row: OwnerFilter | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The owner's filters (defaults where none are set), and the agencies and categories to choose among."""
    now = now or utcnow()
    row = row if row is not None else _row(owner)
    joined = _joined(owner)
    paused_until = row.paused_until if row is not None and row.paused_until and row.paused_until > now else None
    return {
        "declined_categories": list(row.declined_categories) if row else [],
        "agency_ids": None if row is None or row.agency_ids is None else list(row.agency_ids),
        "max_footage_age_days": row.max_footage_age_days if row else None,
        "paused_until": paused_until,
        "paused": paused_until is not None,
        "agencies": [{"id": agency_id, "name": name} for agency_id, name in joined],
        "categories": _categories(agency_id for agency_id, _ in joined),
    }


def _check(owner: User, data: dict[str, Any], now: datetime) -> None:
    joined = {agency_id for agency_id, _ in _joined(owner)}
    if data.get("declined_categories"):
        unknown = sorted(set(data["declined_categories"]) - {c["key"] for c in _categories(sorted(joined))})
        if unknown:
            raise field_error("declined_categories", f"No agency you joined has the category {', '.join(unknown)}.")
    if data.get("agency_ids") is not None:
        if not data["agency_ids"]:
            raise field_error("agency_ids", "Choose at least one agency, or null for every agency you joined "
                                            "(to stop every request for a while, pause instead).")
        unknown = sorted(set(data["agency_ids"]) - joined)
        if unknown:
            raise field_error("agency_ids", f"You have not joined agency {', '.join(map(str, unknown))}.")
    until = data.get("paused_until")
    if until is not None and not now < until <= now + MAX_PAUSE:
        raise field_error("paused_until", "The return date must be in the future and within a year.")


def update_filters(owner: User, data: dict[str, Any]) -> dict[str, Any]:
    """Change the owner's filters (only the fields given); audited with what changed."""
    now = utcnow()
    _check(owner, data, now)
    row = _row(owner)
    if row is None:
        row = OwnerFilter(user_id=owner.id, declined_categories=[], agency_ids=None)
        db.session.add(row)
    if "agency_ids" in data and data["agency_ids"] is not None:
        data = {**data, "agency_ids": sorted(set(data["agency_ids"]))}
    if "declined_categories" in data:
        data = {**data, "declined_categories": sorted(set(data["declined_categories"] or []))}
    changes = {}
    for key, value in data.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changes[key] = value.isoformat() if isinstance(value, datetime) else value
    if changes:
        row.updated_at = now
        audit.record("owner.filters_changed", target_type="user", target_id=owner.id, actor=owner,
                     details={"changed": changes})
    db.session.commit()
    return filters_view(owner, row, now)


def forget_agency(owner: User, agency_id: int) -> None:
    """The owner left an agency: it leaves their chosen agencies too; with none left, every agency
    they still belong to is answered again (an empty choice would decline them all). The caller commits."""
    row = _row(owner)
    if row is not None and row.agency_ids is not None and agency_id in row.agency_ids:
        row.agency_ids = [other for other in row.agency_ids if other != agency_id] or None


def end_due_pauses(now: datetime) -> int:
    """Clear every "pause everything" whose return date has come (audited); the asks resume by themselves
    at the date in any case, this keeps the rows and the log saying so. Returns how many ended."""
    ended = list(db.session.scalars(sa.select(OwnerFilter.user_id).where(OwnerFilter.paused_until <= now)
                                    .order_by(OwnerFilter.user_id).limit(1000)))
    done = 0
    for user_id in ended:
        # Conditional: another scheduler, or the owner pausing again, may have changed it meanwhile.
        if db.session.execute(sa.update(OwnerFilter).where(OwnerFilter.user_id == user_id,
                                                           OwnerFilter.paused_until <= now)
                              .values(paused_until=None, updated_at=now)).rowcount:
            audit.record("owner.pause_ended", target_type="user", target_id=user_id, actor=audit.NO_ACTOR)
            done += 1
    db.session.commit()
    return done
