"""Follow-up messages, recorded as time passes: an escalation to the owner's next channel
when a message went unanswered, and a reminder before a request expires (each agency's
policy says when).

The periodic tick (app/jobs.py) calls both; their deliveries go out like any other.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.accounts.models import User
from app.extensions import db
from app.footage.asks import UNSEEN
from app.footage.models import OPEN_ASK_STATES, Ask, FootageRequest, RequestStatus
from app.footage.policy import current_policy
from app.notifications import service
from app.notifications.models import Channel, Notification, NotificationKind


def _active_agencies(now: datetime) -> list[int]:
    return list(db.session.scalars(
        sa.select(FootageRequest.agency_id).where(FootageRequest.status == RequestStatus.ACTIVE,
                                                  FootageRequest.expires_at > now).distinct()))


def _untried(channel: Channel) -> sa.ColumnElement[bool]:
    """SQL: ``channel`` reaches the ask's owner and no message asked them on it yet."""
    tried = aliased(Notification)
    return sa.and_(service.reaches(channel),
                   ~sa.exists().where(tried.ask_id == Ask.id, tried.channel == channel,
                                      tried.kind.in_(service.FIRST_MESSAGES)))


def schedule_escalations(now: datetime) -> list[int]:
    """Escalations for asks unanswered (and unopened) for the agency's delay since their last
    message, to the next channel of the owner's order (push, SMS, e-mail by default)."""
    latest = aliased(Notification)
    last_message = (sa.select(sa.func.max(latest.created_at))
                    .where(latest.ask_id == Ask.id, latest.kind.in_(service.FIRST_MESSAGES))
                    .scalar_subquery())
    created: list[int] = []
    for agency_id in _active_agencies(now):
        cutoff = now - timedelta(minutes=current_policy(agency_id).escalation_minutes)
        rows = db.session.execute(
            sa.select(Ask.id, Ask.owner_id)
            .join(FootageRequest, FootageRequest.id == Ask.request_id)
            .join(User, User.id == Ask.owner_id)
            .where(FootageRequest.agency_id == agency_id, FootageRequest.status == RequestStatus.ACTIVE,
                   FootageRequest.expires_at > now, Ask.state.in_(UNSEEN), last_message <= cutoff,
                   sa.or_(*[_untried(channel) for channel in Channel]))
        ).all()
        # Which untried channel comes next is the owner's order's to say.
        created += service.record_escalations([(r.id, r.owner_id) for r in rows], now)
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
