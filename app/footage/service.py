"""Footage requests and the asks they send: agency policy, matching, owners' answers, expiry.

The request lifecycle (PRODUCT.md): an officer's request within the agency's limits is
activated at once; one over a limit waits for a supervisor. Activation matches cameras
and creates one ask per camera, which the notification dispatcher picks up. Owners
answer in the app, from a notification's signed action link, or by SMS (the SMS module
calls :func:`answer_ask`). Ask states change only in ``app.footage.asks``.

Officers read requests with counts per ask state; nothing here gives them an owner's
identity or which camera answered what.
"""
from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app import links
from app.accounts.models import Role, User
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.audit import service as audit
from app.cameras.models import Camera
from app.cameras.service import cameras_within
from app.clips import service as clips_service
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, field_error, forbidden, not_found
from app.extensions import db
from app.footage import asks
from app.footage.models import OPEN_ASK_STATES, AgencyPolicy, Ask, AskState, FootageRequest, RequestStatus
from app.notifications import dispatcher
from app.sql import chunks, dialect, dialect_insert, for_update

T = TypeVar("T")

# --- agency policy ---------------------------------------------------------------------

POLICY_FIELDS = ("max_radius_m", "max_window_minutes", "request_lifetime_hours", "escalation_minutes",
                 "reminder_before_expiry_hours", "clip_retention_days", "max_clip_bytes", "max_clips_per_ask",
                 "allow_self_approval")


def _staff_agency_id(user: User) -> int:
    if user.agency_id is None:
        raise forbidden("Your account belongs to no agency.")
    return user.agency_id


def current_policy(agency_id: int) -> AgencyPolicy:
    """The agency's policy, or an unsaved one holding the defaults: reading writes nothing."""
    return db.session.get(AgencyPolicy, agency_id) or AgencyPolicy.defaults(agency_id)


def policy_for(agency_id: int) -> AgencyPolicy:
    """The agency's stored policy, created with the defaults on first use (in the caller's transaction)."""
    policy = db.session.get(AgencyPolicy, agency_id)
    if policy is None:
        # Two first requests at once must not fail on the primary key: insert-or-ignore.
        defaults = AgencyPolicy.defaults(agency_id)
        values = {key: getattr(defaults, key) for key in POLICY_FIELDS}
        db.session.execute(dialect_insert(AgencyPolicy).values(agency_id=agency_id, **values)
                           .on_conflict_do_nothing(index_elements=["agency_id"]))
        policy = db.session.get(AgencyPolicy, agency_id)
    return policy


def agency_policy(user: User) -> AgencyPolicy:
    """The policy of the staff member's agency, as it applies now."""
    return current_policy(_staff_agency_id(user))


def _policy_snapshot(policy: AgencyPolicy) -> dict[str, int | bool]:
    return {key: getattr(policy, key) for key in POLICY_FIELDS}


def update_policy(supervisor: User, data: dict[str, Any]) -> AgencyPolicy:
    """Change the fields given; the audit event holds each changed field's before and after."""
    policy = policy_for(_staff_agency_id(supervisor))
    before = _policy_snapshot(policy)
    after = {**before, **{k: v for k, v in data.items() if k in POLICY_FIELDS}}
    if after["reminder_before_expiry_hours"] >= after["request_lifetime_hours"]:
        field = "reminder_before_expiry_hours" if "reminder_before_expiry_hours" in data else "request_lifetime_hours"
        raise field_error(field, f"The reminder ({after['reminder_before_expiry_hours']} h before expiry) must come "
                                 f"before the request lifetime ({after['request_lifetime_hours']} h) runs out.")
    changed = {k: {"before": before[k], "after": after[k]} for k in POLICY_FIELDS if before[k] != after[k]}
    if changed:
        for key, change in changed.items():
            setattr(policy, key, change["after"])
        policy.updated_by_id = supervisor.id
        policy.updated_at = utcnow()
        audit.record("policy.updated", target_type="agency_policy", target_id=policy.agency_id,
                     agency_id=policy.agency_id, details=changed)
    db.session.commit()
    return policy


# --- matching --------------------------------------------------------------------------

ID_CHUNK = 5_000


@dataclass(slots=True)
class Match:
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


# --- reply codes ------------------------------------------------------------------------

REPLY_CODE_SPACE = 10_000


def _open_reply_codes(owner_ids: Iterable[int]) -> dict[int, set[str]]:
    taken: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks(sorted(set(owner_ids)), ID_CHUNK):
        rows = db.session.execute(sa.select(Ask.owner_id, Ask.reply_code)
                                  .where(Ask.owner_id.in_(chunk), Ask.state.in_(OPEN_ASK_STATES)))
        for owner_id, code in rows:
            taken[owner_id].add(code)
    return taken


def _new_reply_code(taken: set[str]) -> str:
    """Four digits not among ``taken`` (the owner's open asks), added to it."""
    if len(taken) >= REPLY_CODE_SPACE:
        raise ApiError(409, "too_many_open_asks", "An owner has more open asks than reply codes.")
    while True:
        code = f"{secrets.randbelow(REPLY_CODE_SPACE):04d}"
        if code not in taken:
            taken.add(code)
            return code


# --- footage requests ----------------------------------------------------------------------

ACTIVATION_ATTEMPTS = 3


def _committed(work: Callable[[], T]) -> T:
    """Run ``work`` and commit; on an integrity error, roll back and run it again from scratch.

    Today the audit chain's head row already serialises activations (``request.created``
    is recorded before the asks are inserted), so the retry is defence in depth: the
    partial unique index on an owner's open reply codes stays the arbiter if that ever
    changes, and a camera deleted between matching and inserting is simply matched again.
    """
    for attempt in range(ACTIVATION_ATTEMPTS):
        try:
            result = work()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            if attempt == ACTIVATION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _enqueue(notification_ids: list[int]) -> None:
    if not notification_ids:
        return
    try:
        dispatcher.enqueue(notification_ids)
    except Exception:
        # The request and its pending notifications are committed; failing the officer's
        # POST now would only make them send it twice. The dispatcher's sweep resends.
        current_app.logger.exception("could not enqueue %d notifications", len(notification_ids))


def exceeded_limits(policy: AgencyPolicy, radius_m: float, window_start: datetime, window_end: datetime) -> list[str]:
    exceeded = []
    if radius_m > policy.max_radius_m:
        exceeded.append("radius")
    if window_end - window_start > timedelta(minutes=policy.max_window_minutes):
        exceeded.append("window")
    return exceeded


_LIMIT_WORDS = {"radius": "radius ({radius} m, limit {max_radius} m)",
                "window": "time window ({window} min, limit {max_window} min)"}


def _justification_needed(policy: AgencyPolicy, data: dict[str, Any], exceeded: list[str]) -> ApiError:
    minutes = (data["window_end"] - data["window_start"]).total_seconds() / 60
    words = [_LIMIT_WORDS[limit].format(radius=f"{data['radius_m']:g}", max_radius=policy.max_radius_m,
                                        window=f"{minutes:g}", max_window=policy.max_window_minutes)
             for limit in exceeded]
    return field_error("justification",
                       f"This request exceeds your agency's {' and '.join(words)}: a supervisor must approve it; "
                       "say why it is needed.")


def _activate(request: FootageRequest, now: datetime) -> list[int]:
    """Match cameras, create the asks and record their notifications; returns the notification ids."""
    policy = policy_for(request.agency_id)
    matches = match_cameras(request.agency, request.latitude, request.longitude, request.radius_m,
                            request.window_start, request.window_end, now)
    taken = _open_reply_codes(m.owner_id for m in matches)
    rows = [{"request_id": request.id, "camera_id": m.camera_id, "owner_id": m.owner_id, "state": AskState.QUEUED,
             "reply_code": _new_reply_code(taken[m.owner_id]), "distance_m": round(m.distance_m, 1),
             "camera_label": m.label, "created_at": now}
            for m in matches]
    if rows:
        # One executemany, then one read: at 1,000 asks the ORM's multi-row INSERT ... RETURNING
        # costs three times as much on PostgreSQL, and the officer is waiting for this POST.
        db.session.execute(sa.insert(Ask), rows)
    new_asks = list(db.session.scalars(sa.select(Ask).where(Ask.request_id == request.id).order_by(Ask.id)))
    request.status = RequestStatus.ACTIVE
    request.activated_at = now
    request.expires_at = now + timedelta(hours=policy.request_lifetime_hours)
    db.session.flush()
    # One event for the fan-out (asks are born queued); each later ask transition has its own.
    audit.record("request.activated", target=request, agency_id=request.agency_id,
                 details={"asks": len(new_asks), "owners": len({m.owner_id for m in matches}),
                          "expires_at": request.expires_at.isoformat()})
    return list(dispatcher.record_new_asks(new_asks))


def issue_request(officer: User, data: dict[str, Any]) -> dict[str, Any]:
    """Create a request: active with its asks when within the limits, else waiting for a supervisor."""
    agency_id = _staff_agency_id(officer)
    notification_ids: list[int] = []

    def work() -> FootageRequest:
        nonlocal notification_ids
        now = utcnow()
        policy = policy_for(agency_id)
        exceeded = exceeded_limits(policy, data["radius_m"], data["window_start"], data["window_end"])
        justification = data.get("justification") or None
        if exceeded and not justification:
            raise _justification_needed(policy, data, exceeded)
        request = FootageRequest(
            agency_id=agency_id, officer_id=officer.id, status=RequestStatus.PENDING_APPROVAL,
            exceeded_limits=exceeded, justification=justification, created_at=now,
            **{k: data[k] for k in ("case_number", "incident_type", "summary", "latitude", "longitude",
                                    "radius_m", "window_start", "window_end")})
        db.session.add(request)
        db.session.flush()
        audit.record("request.created", target=request, agency_id=agency_id, details={
            "case_number": request.case_number, "radius_m": request.radius_m,
            "window_start": request.window_start.isoformat(), "window_end": request.window_end.isoformat(),
            "exceeded_limits": exceeded})
        notification_ids = [] if exceeded else _activate(request, now)
        return request

    request = _committed(work)
    _enqueue(notification_ids)
    return request_view(request)


def preview_request(officer: User, data: dict[str, Any]) -> dict[str, Any]:
    """How many cameras the request would ask now; writes nothing."""
    agency_id = _staff_agency_id(officer)
    policy = current_policy(agency_id)
    agency = db.session.get(Agency, agency_id)
    matches = match_cameras(agency, data["latitude"], data["longitude"], data["radius_m"],
                            data["window_start"], data["window_end"])
    exceeded = exceeded_limits(policy, data["radius_m"], data["window_start"], data["window_end"])
    return {"cameras": len(matches), "exceeded_limits": exceeded, "needs_approval": bool(exceeded)}


def request_for_staff(user: User, request_id: int, *, lock: bool = False) -> FootageRequest:
    """A request of the user's agency; another agency's is indistinguishable from a missing one."""
    if not fits_int(request_id) or user.agency_id is None:
        raise not_found("Request")
    criteria = (FootageRequest.id == request_id, FootageRequest.agency_id == user.agency_id)
    query = sa.select(FootageRequest).where(*criteria)
    if lock:
        query = for_update(query, FootageRequest.__table__, *criteria)
    request = db.session.scalar(query)
    if request is None:
        raise not_found("Request")
    return request


def ask_counts(request_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per request: how many asks are in each state (every state named, zeros included)."""
    counts = {rid: dict.fromkeys((s.value for s in AskState), 0) for rid in request_ids}
    for chunk in chunks(request_ids, ID_CHUNK):
        rows = db.session.execute(sa.select(Ask.request_id, Ask.state, sa.func.count())
                                  .where(Ask.request_id.in_(chunk)).group_by(Ask.request_id, Ask.state))
        for request_id, state, count in rows:
            counts[request_id][state.value] = count
    return counts


_VIEW_FIELDS = ("id", "agency_id", "officer_id", "case_number", "incident_type", "summary", "latitude",
                "longitude", "radius_m", "window_start", "window_end", "exceeded_limits", "justification",
                "reviewed_by_id", "reviewed_at", "review_reason", "self_approved", "created_at", "activated_at",
                "expires_at", "closed_at")


def _view(request: FootageRequest, counts: dict[str, int]) -> dict[str, Any]:
    return {**{key: getattr(request, key) for key in _VIEW_FIELDS}, "status": request.status.value,
            "counts": counts, "asks_total": sum(counts.values())}


def request_view(request: FootageRequest) -> dict[str, Any]:
    """What staff see of a request: its fields and counts per ask state, never who."""
    return _view(request, ask_counts([request.id])[request.id])


def get_request(user: User, request_id: int) -> dict[str, Any]:
    return request_view(request_for_staff(user, request_id))


def list_requests(user: User, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The agency's requests, newest first; ``status="pending_approval"`` is the approval queue."""
    query = (sa.select(FootageRequest).where(FootageRequest.agency_id == _staff_agency_id(user))
             .order_by(FootageRequest.id.desc()).limit(limit))
    if status is not None:
        query = query.where(FootageRequest.status == RequestStatus(status))
    requests = list(db.session.scalars(query))
    counts = ask_counts([r.id for r in requests])
    return [_view(r, counts[r.id]) for r in requests]


def _pending(request: FootageRequest, verb: str) -> None:
    if request.status != RequestStatus.PENDING_APPROVAL:
        raise ApiError(409, "not_pending", f"This request is {request.status.value.replace('_', ' ')}; "
                                           f"only a request waiting for approval can be {verb}.")


def _self_approval_refused(request: FootageRequest, policy: AgencyPolicy) -> ApiError:
    """Four eyes: the supervisor who made an over-limit request cannot also let it through."""
    audit.record("request.approval_refused", target=request, agency_id=request.agency_id,
                 details={"reason": "self_approval", "exceeded_limits": request.exceeded_limits})
    db.session.commit()
    return ApiError(403, "self_approval_not_allowed",
                    "You made this request, so another supervisor of your agency must approve it. It waits in "
                    "the approval queue until one does; with no other supervisor it keeps waiting, and expires "
                    f"{policy.request_lifetime_hours} h after it was made. Your agency's policy does not allow "
                    "self-approval (where it does, each one is marked, audited and counted on the public "
                    "transparency report).")


def approve_request(supervisor: User, request_id: int, reason: str) -> dict[str, Any]:
    """A supervisor overrides the limits: the request goes out, and the override is on record.

    The supervisor must not be the officer who made the request, unless the agency's
    policy allows self-approval; then the request is marked ``self_approved``.
    """
    notification_ids: list[int] = []

    def work() -> FootageRequest:
        nonlocal notification_ids
        request = request_for_staff(supervisor, request_id, lock=True)
        _pending(request, "approved")
        self_approved = request.officer_id == supervisor.id
        if self_approved:
            policy = current_policy(request.agency_id)
            if not policy.allow_self_approval:
                raise _self_approval_refused(request, policy)
        now = utcnow()
        request.reviewed_by_id, request.reviewed_at, request.review_reason = supervisor.id, now, reason
        request.self_approved = self_approved
        audit.record("request.approved", target=request, agency_id=request.agency_id, details={
            "override": True, "exceeded_limits": request.exceeded_limits, "reason": reason,
            "officer_id": request.officer_id, "self_approved": self_approved})
        notification_ids = _activate(request, now)
        return request

    request = _committed(work)
    _enqueue(notification_ids)
    return request_view(request)


def reject_request(supervisor: User, request_id: int, reason: str) -> dict[str, Any]:
    request = request_for_staff(supervisor, request_id, lock=True)
    _pending(request, "rejected")
    now = utcnow()
    request.status = RequestStatus.REJECTED
    request.reviewed_by_id, request.reviewed_at, request.review_reason = supervisor.id, now, reason
    request.closed_at = now
    audit.record("request.rejected", target=request, agency_id=request.agency_id,
                 details={"exceeded_limits": request.exceeded_limits, "reason": reason,
                          "officer_id": request.officer_id})
    db.session.commit()
    return request_view(request)


def count_overrides(agency_id: int, since: datetime | None = None) -> int:
    """Requests a supervisor let through over the agency's limits (for transparency figures)."""
    query = sa.select(sa.func.count()).select_from(FootageRequest).where(
        FootageRequest.agency_id == agency_id, FootageRequest.reviewed_by_id.is_not(None),
        FootageRequest.status != RequestStatus.REJECTED, FootageRequest.activated_at.is_not(None))
    if since is not None:
        query = query.where(FootageRequest.reviewed_at >= since)
    return db.session.scalar(query) or 0


def _close_asks(request: FootageRequest, ending: AskState, actor: User | None = None) -> int:
    """End every ask of the request that can still become ``ending`` (cancelled or expired)."""
    # Locked and re-read: an owner answering at this moment is either before or after us.
    query = (sa.select(Ask).where(Ask.request_id == request.id, Ask.state.in_(asks.states_leading_to(ending)))
             .order_by(Ask.id).with_for_update().execution_options(populate_existing=True))
    closed = 0
    for ask in db.session.scalars(query):
        uploading = ask.state == AskState.UPLOADING
        if ending == AskState.CANCELLED:
            asks.cancel(ask, actor)
        else:
            asks.expire(ask)
        if uploading:
            # A clip half-sent when the request closed is not delivered footage: keep none of it.
            clips_service.discard_uploads_for(ask)
        closed += 1
    return closed


def cancel_request(user: User, request_id: int) -> dict[str, Any]:
    """The officer who made the request, or a supervisor, withdraws it; its open asks are cancelled."""
    request = request_for_staff(user, request_id, lock=True)
    if user.role != Role.SUPERVISOR and request.officer_id != user.id:
        raise forbidden("Only the officer who made this request or a supervisor can cancel it.")
    if request.status not in (RequestStatus.PENDING_APPROVAL, RequestStatus.ACTIVE):
        raise ApiError(409, "request_closed",
                       f"This request is already {request.status.value.replace('_', ' ')}.")
    cancelled = _close_asks(request, AskState.CANCELLED, user)
    request.status = RequestStatus.CANCELLED
    request.closed_at = utcnow()
    audit.record("request.cancelled", target=request, agency_id=request.agency_id,
                 details={"asks_cancelled": cancelled})
    db.session.commit()
    return request_view(request)


def expire_due_requests(now: datetime | None = None) -> int:
    """Close every request whose lifetime has run out; returns how many were closed.

    Active requests past ``expires_at`` expire with their unfinished asks. A request
    still waiting for approval a whole lifetime after it was made expires too, so the
    approval queue does not fill with stale requests. Each request commits on its own;
    concurrent schedulers skip the rows another one holds.
    """
    now = now or utcnow()
    due = list(db.session.scalars(sa.select(FootageRequest.id).where(
        FootageRequest.status == RequestStatus.ACTIVE, FootageRequest.expires_at <= now)))
    for request_id, agency_id, created_at in db.session.execute(
            sa.select(FootageRequest.id, FootageRequest.agency_id, FootageRequest.created_at)
            .where(FootageRequest.status == RequestStatus.PENDING_APPROVAL)):
        if created_at + timedelta(hours=current_policy(agency_id).request_lifetime_hours) <= now:
            due.append(request_id)
    expired = 0
    for request_id in sorted(due):
        criteria = (FootageRequest.id == request_id,
                    FootageRequest.status.in_((RequestStatus.ACTIVE, RequestStatus.PENDING_APPROVAL)))
        query = sa.select(FootageRequest).where(*criteria)
        if dialect() == "sqlite":
            query = for_update(query, FootageRequest.__table__, *criteria)
        request = db.session.scalar(query.with_for_update(skip_locked=True)
                                    .execution_options(populate_existing=True))
        if request is None:  # cancelled meanwhile, or another scheduler has it
            db.session.commit()  # nothing written; ends the transaction (SQLite's write lock)
            continue
        closed = _close_asks(request, AskState.EXPIRED)
        request.status = RequestStatus.EXPIRED
        request.closed_at = now
        audit.record("request.expired", target=request, agency_id=request.agency_id,
                     details={"asks_expired": closed})
        db.session.commit()
        expired += 1
    return expired


# --- asks (owners) ------------------------------------------------------------------------

ACTIONS = ("approve", "decline", "no_footage")
ACTION_STATES = {"approve": AskState.APPROVED, "decline": AskState.DECLINED, "no_footage": AskState.NO_FOOTAGE}


def _owner_asks() -> sa.Select:
    return sa.select(Ask).options(joinedload(Ask.request).joinedload(FootageRequest.agency))


def ask_for_owner(owner: User, ask_id: int, *, lock: bool = False) -> Ask:
    """The owner's own ask; anyone else's is indistinguishable from a missing one."""
    if not fits_int(ask_id):
        raise not_found("Ask")
    criteria = (Ask.id == ask_id, Ask.owner_id == owner.id)
    query = sa.select(Ask).where(*criteria)
    if lock:
        query = for_update(query, Ask.__table__, *criteria)
    ask = db.session.scalar(query)
    if ask is None:
        raise not_found("Ask")
    return ask


def open_asks_of(owner: User) -> list[Ask]:
    """The owner's asks still waiting for an answer, newest first (a bare SMS "YES" needs exactly one)."""
    query = (_owner_asks().join(Ask.request)
             .where(Ask.owner_id == owner.id, Ask.state.in_(OPEN_ASK_STATES),
                    FootageRequest.status == RequestStatus.ACTIVE)
             .order_by(Ask.id.desc()))
    return list(db.session.scalars(query))


def open_ask_by_code(owner: User, reply_code: str) -> Ask | None:
    """The owner's open ask with this reply code ("YES 4821"), if any."""
    return next((ask for ask in open_asks_of(owner) if ask.reply_code == reply_code), None)


def view_ask(owner: User, ask_id: int) -> Ask:
    """The owner opens an ask: from now on it counts as seen."""
    unseen = (AskState.QUEUED, AskState.NOTIFIED)
    ask = ask_for_owner(owner, ask_id)
    if ask.state in unseen:
        # Re-read under the row lock: an answer from a notification button at this very
        # moment must not be overwritten by "seen".
        ask = ask_for_owner(owner, ask_id, lock=True)
        if ask.state in unseen:
            asks.mark_seen(ask, owner)
        db.session.commit()
    return ask


def answer_ask(ask: Ask, owner: User, action: str, via: str, reason: str | None = None) -> Ask:
    """The owner approves, declines (reason optional) or has no footage; commits.

    ``via`` says how: app, notification, sms or link. An answer the ask's state does
    not allow is a 409 illegal_transition.
    """
    if ask.owner_id != owner.id:
        raise not_found("Ask")
    return _answer(owner, ask.id, action, via, reason)


def _answer(owner: User, ask_id: int, action: str, via: str, reason: str | None) -> Ask:
    if action not in ACTION_STATES:
        raise ValueError(f"unknown action {action!r}")
    ask = ask_for_owner(owner, ask_id, lock=True)
    request = ask.request
    expires_at = request.expires_at
    if request.status == RequestStatus.ACTIVE and expires_at is not None and expires_at <= utcnow():
        raise ApiError(409, "request_expired", "This request has expired; it no longer needs an answer.")
    if action == "approve":
        asks.approve(ask, owner, via=via)
    elif action == "decline":
        asks.decline(ask, owner, via=via, reason=(reason or "").strip()[:500] or None)
    else:
        asks.report_no_footage(ask, owner, via=via)
    db.session.commit()
    return ask


def answer_own_ask(owner: User, ask_id: int, action: str, reason: str | None = None) -> Ask:
    """An answer given in the app (the ask is looked up once, under its row lock)."""
    return _answer(owner, ask_id, action, "app", reason)


# --- signed action links (notification buttons) ----------------------------------------------

def answer_with_token(token: str) -> Ask:
    """Perform a notification action link's answer; answered_via "notification".

    Pressing the same button twice is harmless: an ask already in the action's state
    is returned as it is.
    """
    payload = links.read_action_token(token, ACTION_STATES)
    if utcnow().timestamp() >= payload["exp"]:
        raise ApiError(410, "token_expired", "This link has expired with its request: no answer is needed now.")
    owner = db.session.get(User, payload["owner"]) if fits_int(payload["owner"]) else None
    ask = db.session.get(Ask, payload["ask"]) if fits_int(payload["ask"]) else None
    if owner is None or ask is None or ask.owner_id != owner.id:
        raise ApiError(410, "gone", "This request is no longer available.")
    if not owner.active:
        raise forbidden("This account is deactivated.")
    if ask.state == ACTION_STATES[payload["action"]]:
        return ask
    if ask.request.status != RequestStatus.ACTIVE:
        raise ApiError(410, "request_closed",
                       f"This request was {ask.request.status.value.replace('_', ' ')}: no answer is needed now.")
    return answer_ask(ask, owner, payload["action"], "notification")
