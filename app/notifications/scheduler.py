"""The periodic tick: everything that happens because time passed.

``tick(now)`` is idempotent and safe to run from several processes at once (every
step is guarded by a unique row or a conditional UPDATE). It runs every
SCHEDULER_INTERVAL_SECONDS from ``flask jobs run`` (with RQ) or the in-process worker
(embedded), and once from ``flask jobs tick``:

1. deliveries claimed by a worker that died go back to pending;
2. requests past their lifetime expire, abandoned uploads are cleaned, clips past
   retention are purged, district imports never committed expire, sessions long
   ended are deleted (the footage, clips, districts and sessions modules do the work);
3. an unanswered (and unseen) push escalates to SMS after the agency's delay;
4. a reminder is recorded before a request expires;
5. asks whose first message went out but are still ``queued`` (the worker's deferred
   bookkeeping was lost) become ``notified``;
6. every due pending delivery is handed to the queue, so nothing waits forever
   because Redis was down or a process died between commit and enqueue.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from app.accounts.models import User
from app.db import utcnow
from app.extensions import db
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, RequestStatus
from app.footage.policy import current_policy
from app.notifications import delivery, dispatcher, service
from app.notifications.models import Channel, Notification, NotificationKind, SmsOptOut

log = logging.getLogger(__name__)

# A new row is given to the queue by its creator; the tick takes it over after this long.
ENQUEUE_GRACE = timedelta(seconds=60)


def _housekeeping() -> list[tuple[str, str, str]]:
    return [("expired_requests", "app.footage.lifecycle", "expire_due_requests"),
            ("abandoned_uploads", "app.clips.uploads", "clean_abandoned_uploads"),
            ("purged_clips", "app.clips.retention", "purge_expired_clips"),
            ("expired_imports", "app.districts.service", "expire_due_imports"),
            ("ended_sessions", "app.accounts.sessions", "purge_ended_sessions")]


def _run_housekeeping(now: datetime, report: dict[str, int]) -> None:
    import importlib

    for name, module_name, function_name in _housekeeping():
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError):
            log.debug("%s.%s is not available; skipped", module_name, function_name)
            continue
        try:
            result = function(now)
            report[name] = result if isinstance(result, int) else 0
        except Exception:
            db.session.rollback()
            log.exception("scheduler: %s.%s failed", module_name, function_name)


def _active_agencies(now: datetime) -> list[int]:
    return list(db.session.scalars(
        sa.select(FootageRequest.agency_id).where(FootageRequest.status == RequestStatus.ACTIVE,
                                                  FootageRequest.expires_at > now).distinct()))


def schedule_escalations(now: datetime) -> list[int]:
    """SMS escalations for asks whose push went unanswered (and unopened) for the agency's delay."""
    sms_n = aliased(Notification)
    created: list[int] = []
    for agency_id in _active_agencies(now):
        cutoff = now - timedelta(minutes=current_policy(agency_id).escalation_minutes)
        rows = db.session.execute(
            sa.select(Ask.id, Ask.owner_id)
            .join(FootageRequest, FootageRequest.id == Ask.request_id)
            .join(Notification, sa.and_(Notification.ask_id == Ask.id, Notification.channel == Channel.PUSH,
                                        Notification.kind == NotificationKind.REQUEST))
            .join(User, User.id == Ask.owner_id)
            .where(FootageRequest.agency_id == agency_id, FootageRequest.status == RequestStatus.ACTIVE,
                   FootageRequest.expires_at > now, Ask.state.in_((AskState.QUEUED, AskState.NOTIFIED)),
                   Notification.created_at <= cutoff,
                   User.phone_verified.is_(True), User.notify_sms.is_(True),
                   ~sa.exists().where(SmsOptOut.phone == User.phone),
                   ~sa.exists().where(sms_n.ask_id == Ask.id, sms_n.channel == Channel.SMS))
        ).all()
        created += service.record_sms_escalations([(r.id, r.owner_id) for r in rows], now)
    db.session.commit()
    return created


def schedule_reminders(now: datetime) -> list[int]:
    """Reminders for open asks whose request expires within the agency's reminder lead."""
    reminder = aliased(Notification)
    created: list[int] = []
    for agency_id in _active_agencies(now):
        hours = current_policy(agency_id).reminder_before_expiry_hours
        if not hours or hours <= 0:
            continue
        lead = timedelta(hours=hours)
        rows = db.session.execute(
            sa.select(Ask.id, Ask.owner_id, Ask.created_at, FootageRequest.expires_at)
            .join(FootageRequest, FootageRequest.id == Ask.request_id)
            .where(FootageRequest.agency_id == agency_id, FootageRequest.status == RequestStatus.ACTIVE,
                   FootageRequest.expires_at > now, FootageRequest.expires_at <= now + lead,
                   Ask.state.in_(OPEN_ASK_STATES), Ask.owner_id.is_not(None),
                   ~sa.exists().where(reminder.ask_id == Ask.id, reminder.kind == NotificationKind.REMINDER))
        ).all()
        # An ask made after its reminder time (a short-lived request) is fresh news, not a reminder.
        due = [(r.id, r.owner_id) for r in rows if r.created_at < r.expires_at - lead]
        created += service.record_reminders(due, now)
    db.session.commit()
    return created


def tick(now: datetime | None = None) -> dict[str, int]:
    """One pass of the scheduler; returns what it did."""
    now = now or utcnow()
    report: dict[str, int] = defaultdict(int)
    report["recovered"] = delivery.recover_stale(now)
    _run_housekeeping(now, report)
    escalations = schedule_escalations(now)
    reminders = schedule_reminders(now)
    report["escalations"], report["reminders"] = len(escalations), len(reminders)
    report["asks_marked_notified"] = delivery.mark_asks_notified(delivery.asks_left_queued())
    due = delivery.due_ids(now, ENQUEUE_GRACE)
    ids = sorted(set(escalations) | set(reminders) | set(due))
    report["enqueued"] = len(ids)
    dispatcher.enqueue(ids)
    if any(report.values()):
        current_app.logger.info("scheduler tick: %s", dict(report))
    return dict(report)
