"""A footage request's life: issued, approved or rejected, sent to owners, cancelled, expired.

An officer's request states its purpose (app/footage/purpose.py). Within the agency's
limits (app/footage/policy.py) it is activated at once; one over a limit, or one asking
again an owner who refused an overlapping ask in the last 30 days (a re-ask, see
app/footage/matching.py), waits for a supervisor, who approves it (four eyes: not
their own, unless the policy allows it) or rejects it. Activation matches cameras
(app/footage/matching.py), creates one ask per camera with a reply code, and records
the first notification of each in the same transaction (app/notifications/dispatcher.py),
handed to the queue after the commit: a few set-based statements, however many owners
it reaches (one query to match, one INSERT of the asks, one INSERT ... SELECT of their
notifications), and no ORM object per ask. An ask one of the owner's filters
catches is born declined and never notified (app/footage/filters.py). Cancelling or expiring a request closes its
open asks, discards uploads still arriving (app/clips/uploads.py) and, in the same
transaction, records a notice to every owner a message about a closed ask reached
(app/notifications/notices.py).

Request statuses change only by app/footage/requests.py's TRANSITIONS, ask states
only by app/footage/asks.py's.
"""
from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role, User
from app.audit import service as audit
from app.clips.uploads import discard_uploads_for
from app.db import utcnow
from app.errors import ApiError, field_error, forbidden
from app.extensions import db
from app.footage import asks, filters, purpose
from app.footage.matching import RE_ASK_DAYS, Match, match_cameras
from app.footage.models import (
    AgencyPolicy,
    Ask,
    AskState,
    FootageRequest,
    RequestStatus,
)
from app.footage.policy import current_policy, exceeded_limits, policy_for, staff_agency_id
from app.footage.requests import (
    become,
    can_become,
    new_request_view,
    request_for_staff,
    request_view,
    states_leading_to,
    status_words,
)
from app.notifications import dispatcher
from app.sql import dialect, for_update, insert_rows

T = TypeVar("T")

# --- reply codes ------------------------------------------------------------------------

REPLY_CODE_SPACE = 10_000


def _open_reply_codes(matches: Iterable[Match]) -> dict[int, set[str]]:
    """Each matched owner's reply codes in use: their open asks' (read with the match)."""
    taken: dict[int, set[str]] = defaultdict(set)
    for match in matches:
        taken[match.owner_id].update(match.open_codes)
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


# --- issuing and activating ------------------------------------------------------------------

ACTIVATION_ATTEMPTS = 3


def _committed(work: Callable[[], T]) -> T:
    """Run ``work`` and commit; on an integrity error, roll back and run it again from scratch.

    Two requests activated at the same moment can draw the same reply code for one
    owner: the partial unique index on an owner's open reply codes refuses the second
    commit, which then runs again and draws fresh codes. A camera deleted between
    matching and inserting is simply matched again.
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
        # POST now would only make them send it twice. The scheduler's tick resends.
        current_app.logger.exception("could not enqueue %d notifications", len(notification_ids))


_LIMIT_WORDS = {"radius": "radius ({radius} m, limit {max_radius} m)",
                "window": "time window ({window} min, limit {max_window} min)"}


def _justification_needed(policy: AgencyPolicy, data: dict[str, Any], exceeded: list[str],
                          re_asks: int) -> ApiError:
    minutes = (data["window_end"] - data["window_start"]).total_seconds() / 60
    words = [_LIMIT_WORDS[limit].format(radius=f"{data['radius_m']:g}", max_radius=policy.max_radius_m,
                                        window=f"{minutes:g}", max_window=policy.max_window_minutes)
             for limit in exceeded if limit in _LIMIT_WORDS]
    reasons = [f"exceeds your agency's {' and '.join(words)}"] if words else []
    if re_asks:
        reasons.append(f"asks again {re_asks} camera{'s' if re_asks != 1 else ''} whose owner declined or did not "
                       f"answer an overlapping request in the last {RE_ASK_DAYS} days")
    return field_error("justification",
                       f"This request {' and '.join(reasons)}: a supervisor must approve it; say why it is needed.")


# --- going out ---------------------------------------------------------------------------------

def _go_live(request: FootageRequest, now: datetime, policy: AgencyPolicy) -> None:
    """The request becomes active, for the policy's lifetime; :func:`_fan_out` then makes its asks."""
    become(request, RequestStatus.ACTIVE, now)
    request.expires_at = now + timedelta(hours=policy.request_lifetime_hours)


def _fan_out(request: FootageRequest, now: datetime, policy: AgencyPolicy,
             matches: list[Match]) -> tuple[list[int], dict[AskState, int]]:
    """Create the active (flushed) request's asks, one per match (read with ``fan_out``), and record their
    notifications. Returns the notification ids and how many asks staff see in each state.

    Set-based: the asks go in one INSERT, their notifications in one INSERT ... SELECT, and
    nothing is read back; only asks an owner's filter declined are read, by their ids, for the audit.
    """
    taken = _open_reply_codes(matches)
    rows = []
    for m in matches:
        row = {"camera_id": m.camera_id, "owner_id": m.owner_id, "state": AskState.QUEUED,
               "reply_code": _new_reply_code(taken[m.owner_id]), "distance_m": round(m.distance_m, 1),
               "camera_label": m.label, "answered_via": None, "filter_rule": None, "responded_at": None,
               "closed_at": None}
        # An ask one of the owner's filters catches is born declined, untold.
        rule = filters.rule_catching(m.rules, request, now)
        if rule is not None:
            row.update(filters.declined_columns(rule, now, policy.request_lifetime_hours))
        rows.append(row)
    insert_rows(Ask.__table__, rows, request_id=request.id, created_at=now)
    declined: dict[str, list[int]] = {rule: [] for rule in filters.FILTER_RULES}
    if any(row["filter_rule"] for row in rows):
        for ask_id, rule in db.session.execute(sa.select(Ask.id, Ask.filter_rule).where(
                Ask.request_id == request.id, Ask.filter_rule.is_not(None)).order_by(Ask.id)):
            declined[rule].append(ask_id)
    filtered = sum(len(ids) for ids in declined.values())
    # One event for the fan-out (asks are born queued); each later ask transition has its own.
    audit.record("request.activated", target=request, agency_id=request.agency_id,
                 details={"asks": len(rows), "owners": len({m.owner_id for m in matches}),
                          "expires_at": request.expires_at.isoformat()})
    filters.record_declines(request, declined)
    queued = len(rows) - filtered
    notification_ids = dispatcher.record_new_asks(request.id) if queued else []
    return notification_ids, {AskState.QUEUED: queued, filters.SHOWN_AS: filtered}


def _activate(request: FootageRequest, now: datetime) -> tuple[list[int], dict[AskState, int]]:
    """An approved request goes out: match cameras, create the asks and record their notifications."""
    policy = policy_for(request.agency_id)
    matches = match_cameras(request.agency_id, request.latitude, request.longitude, request.radius_m,
                            request.window_start, request.window_end, now, fan_out=True)
    _go_live(request, now, policy)
    return _fan_out(request, now, policy, matches)


def issue_request(officer: User, data: dict[str, Any]) -> dict[str, Any]:
    """Create a request: active with its asks when within the limits, else waiting for a supervisor."""
    agency_id = staff_agency_id(officer)
    notification_ids: list[int] = []

    def work() -> dict[str, Any]:
        nonlocal notification_ids
        now = utcnow()
        policy = policy_for(agency_id)
        purpose_fields = purpose.purpose_fields(policy, data)
        exceeded = exceeded_limits(policy, data["radius_m"], data["window_start"], data["window_end"])
        # Within the limits, the match reads what the fan-out needs too (in vain only for a re-ask).
        matches = match_cameras(agency_id, data["latitude"], data["longitude"], data["radius_m"],
                                data["window_start"], data["window_end"], now, re_asks_of=agency_id,
                                fan_out=not exceeded)
        re_asks = sum(m.re_asked for m in matches)
        if re_asks:
            exceeded.append("re_ask")
        justification = data.get("justification") or None
        if exceeded and not justification:
            raise _justification_needed(policy, data, exceeded, re_asks)
        request = FootageRequest(
            agency_id=agency_id, officer_id=officer.id, status=RequestStatus.PENDING_APPROVAL,
            exceeded_limits=exceeded, justification=justification, created_at=now, re_ask_cameras=re_asks,
            affirmed_at=now, **purpose_fields,
            **{k: data[k] for k in ("case_number", "incident_type", "summary", "latitude", "longitude",
                                    "radius_m", "window_start", "window_end")})
        if not exceeded:
            _go_live(request, now, policy)  # before the INSERT: no UPDATE after it
        db.session.add(request)
        db.session.flush()
        audit.record("request.created", target=request, agency_id=agency_id, details={
            "case_number": request.case_number, "radius_m": request.radius_m,
            "window_start": request.window_start.isoformat(), "window_end": request.window_end.isoformat(),
            "exceeded_limits": exceeded, "re_ask_cameras": re_asks, "legal_basis": request.legal_basis.value,
            "warrant_number": request.warrant_number, "warrant_court": request.warrant_court,
            "exigent_reason": request.exigent_reason, "offense_category": request.offense_category,
            "prohibited_purposes_affirmed": request.prohibited_purposes_affirmed})
        counts: dict[AskState, int] = {}
        if not exceeded:
            notification_ids, counts = _fan_out(request, now, policy, matches)
        # Built before the commit expires the request: the officer's answer reads nothing back.
        return new_request_view(request, counts)

    view = _committed(work)
    _enqueue(notification_ids)
    return view


def preview_request(officer: User, data: dict[str, Any]) -> dict[str, Any]:
    """How many cameras the request would ask now; writes nothing."""
    agency_id = staff_agency_id(officer)
    policy = current_policy(agency_id)
    matches = match_cameras(agency_id, data["latitude"], data["longitude"], data["radius_m"],
                            data["window_start"], data["window_end"], re_asks_of=agency_id)
    exceeded = exceeded_limits(policy, data["radius_m"], data["window_start"], data["window_end"])
    re_asks = sum(m.re_asked for m in matches)
    if re_asks:
        exceeded.append("re_ask")
    return {"cameras": len(matches), "exceeded_limits": exceeded, "needs_approval": bool(exceeded),
            "re_ask_cameras": re_asks}


# --- a supervisor's review ---------------------------------------------------------------------

def _check_reviewable(request: FootageRequest, to: RequestStatus, verb: str) -> None:
    if not can_become(request, to):
        raise ApiError(409, "not_pending", f"This request is {status_words(request)}; "
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

    def work() -> dict[str, Any]:
        nonlocal notification_ids
        request = request_for_staff(supervisor, request_id, lock=True)
        _check_reviewable(request, RequestStatus.ACTIVE, "approved")
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
            "officer_id": request.officer_id, "self_approved": self_approved,
            "re_ask_cameras": request.re_ask_cameras})
        notification_ids, counts = _activate(request, now)
        return new_request_view(request, counts)

    view = _committed(work)
    _enqueue(notification_ids)
    return view


def reject_request(supervisor: User, request_id: int, reason: str) -> dict[str, Any]:
    request = request_for_staff(supervisor, request_id, lock=True)
    _check_reviewable(request, RequestStatus.REJECTED, "rejected")
    now = utcnow()
    become(request, RequestStatus.REJECTED, now)
    request.reviewed_by_id, request.reviewed_at, request.review_reason = supervisor.id, now, reason
    audit.record("request.rejected", target=request, agency_id=request.agency_id,
                 details={"exceeded_limits": request.exceeded_limits, "reason": reason,
                          "officer_id": request.officer_id})
    db.session.commit()
    return request_view(request)


# --- closing ---------------------------------------------------------------------------------

def _close_asks(request: FootageRequest, ending: AskState, actor: User | None = None) -> list[int]:
    """End every ask of the request that can still become ``ending`` (cancelled or expired); their ids."""
    # Locked and re-read: an owner answering at this moment is either before or after us.
    query = (sa.select(Ask).where(Ask.request_id == request.id, Ask.state.in_(asks.states_leading_to(ending)))
             .order_by(Ask.id).with_for_update().execution_options(populate_existing=True))
    closed: list[int] = []
    for ask in db.session.scalars(query):
        uploading = ask.state == AskState.UPLOADING
        if ending == AskState.CANCELLED:
            asks.cancel(ask, actor)
        else:
            asks.expire(ask)
        if uploading:
            # A clip half-sent when the request closed is not delivered footage: keep none of it.
            discard_uploads_for(ask)
        closed.append(ask.id)
    return closed


def cancel_request(user: User, request_id: int) -> dict[str, Any]:
    """The officer who made the request, or a supervisor, withdraws it; its open asks are cancelled."""
    request = request_for_staff(user, request_id, lock=True)
    if user.role != Role.SUPERVISOR and request.officer_id != user.id:
        raise forbidden("Only the officer who made this request or a supervisor can cancel it.")
    if not can_become(request, RequestStatus.CANCELLED):
        raise ApiError(409, "request_closed", f"This request is already {status_words(request)}.")
    cancelled = _close_asks(request, AskState.CANCELLED, user)
    become(request, RequestStatus.CANCELLED, utcnow())
    # The owners it reached are told, in this transaction: a withdrawn request never goes untold.
    notice_ids = dispatcher.record_withdrawn(cancelled)
    audit.record("request.cancelled", target=request, agency_id=request.agency_id,
                 details={"asks_cancelled": len(cancelled), "notices": len(notice_ids)})
    db.session.commit()
    _enqueue(notice_ids)
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
                    FootageRequest.status.in_(states_leading_to(RequestStatus.EXPIRED)))
        query = sa.select(FootageRequest).where(*criteria)
        if dialect() == "sqlite":
            query = for_update(query, FootageRequest.__table__, *criteria)
        request = db.session.scalar(query.with_for_update(skip_locked=True)
                                    .execution_options(populate_existing=True))
        if request is None:  # cancelled meanwhile, or another scheduler has it
            db.session.commit()  # nothing written; ends the transaction (SQLite's write lock)
            continue
        closed = _close_asks(request, AskState.EXPIRED)
        become(request, RequestStatus.EXPIRED, now)
        notice_ids = dispatcher.record_expired(closed)
        audit.record("request.expired", target=request, agency_id=request.agency_id,
                     details={"asks_expired": len(closed), "notices": len(notice_ids)})
        db.session.commit()
        _enqueue(notice_ids)
        expired += 1
    return expired
