"""Footage requests with asks, written straight to the database, for the notification tests.

The notification work needs asks in given states for given owners, not the matching
rules (the footage tests cover those): this builds exactly that and records the first
notifications through the real dispatcher, as app/footage/lifecycle.py does.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from app.accounts.models import Role, User
from app.agencies.models import Agency
from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState, FootageRequest, RequestStatus
from app.notifications import service
from app.notifications.models import PushSubscription
from tests import factories

_numbers = itertools.count(100)
_codes = itertools.count(4821)


def phone_number() -> str:
    return f"+1414555{next(_numbers) % 10000:04d}"


def owner(*, phone: str | None = None, verified: bool = True, subscription: dict | None = None,
          notify_push: bool = True, notify_sms: bool = True, notify_email: bool = False, **kw) -> User:
    """An owner; with ``subscription`` (a PushSubscription JSON) registered for push.

    Its verified e-mail address gets requests only with ``notify_email=True``: the push
    and SMS tests are about those channels alone.
    """
    user = factories.user(Role.OWNER, phone=phone, phone_verified=bool(phone) and verified,
                          notify_push=notify_push, notify_sms=notify_sms, notify_email=notify_email,
                          email=kw.pop("email", f"resident{next(_numbers)}@example.org"), **kw)
    if subscription is not None:
        add_subscription(user, subscription)
    return user


def add_subscription(user: User, subscription: dict) -> PushSubscription:
    row = PushSubscription(user_id=user.id, endpoint=subscription["endpoint"],
                           p256dh=subscription["keys"]["p256dh"], auth=subscription["keys"]["auth"])
    db.session.add(row)
    db.session.flush()
    return row


def request(agency: Agency, officer: User | None = None, *, now: datetime | None = None,
            lifetime: timedelta = timedelta(hours=72), **kw) -> FootageRequest:
    now = now or utcnow()
    obj = FootageRequest(
        agency_id=agency.id, officer_id=officer.id if officer else None,
        case_number=kw.pop("case_number", f"2026-{next(_numbers):05d}"),
        incident_type=kw.pop("incident_type", "burglary"),
        summary=kw.pop("summary", "A burglary on this block; did your camera see anyone between these times?"),
        latitude=43.0389, longitude=-87.9065, radius_m=300.0,
        window_start=kw.pop("window_start", now - timedelta(hours=5)),
        window_end=kw.pop("window_end", now - timedelta(hours=4)),
        status=kw.pop("status", RequestStatus.ACTIVE), exceeded_limits=[], created_at=now, activated_at=now,
        expires_at=now + lifetime, **kw)
    db.session.add(obj)
    db.session.flush()
    return obj


def ask(footage_request: FootageRequest, user: User, *, state: AskState = AskState.QUEUED,
        label: str | None = None, created_at: datetime | None = None) -> Ask:
    obj = Ask(request_id=footage_request.id, camera_id=None, owner_id=user.id, state=state,
              reply_code=str(next(_codes) % 10000).zfill(4), distance_m=42.0,
              camera_label=label or f"Porch camera {next(_numbers)}",
              created_at=created_at or footage_request.created_at)
    db.session.add(obj)
    db.session.flush()
    return obj


def issue(agency: Agency, owners: list[User], officer: User | None = None,
          **kw) -> tuple[FootageRequest, list[Ask], list[int]]:
    """A request with one ask per owner, its first notifications recorded and committed (not yet sent).

    The rows are recorded as of the request's creation time, so a test can move ``now`` from there.
    """
    footage_request = request(agency, officer, **kw)
    asks = [ask(footage_request, o) for o in owners]
    ids = service.record_request_notifications(asks, now=footage_request.created_at)
    db.session.commit()
    return footage_request, asks, ids
