"""Telling owners that a request ended: withdrawn by its agency, or expired.

When a request closes, app/footage/lifecycle.py records (through the dispatcher, in the
transaction that closes its asks) one notice per channel that reached the owner about
each ask it closed: a sent or in-flight request, escalation or reminder. Owners who
were never reached get nothing (they have nothing to take back); asks already answered
"declined" or "no footage", or delivered, are not closed by the request ending and get
nothing either.

The notice is a Notification like any other (unique per ask, channel and kind, sent by
the worker with its retries), with two differences the worker knows of
(app/notifications/delivery.py): a closed ask does not stop it, and it goes out only
where the earlier message on the same channel was in fact sent (one still on the wire
when the request closed may have failed since). A push notice takes the earlier push's
Topic and tag, so it replaces that notification on the device.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.notifications.models import Channel, DeliveryStatus, Notification, NotificationKind
from app.notifications.service import insert_notifications
from app.sql import chunks

# What asks the owner for footage; a notice follows these, never another notice.
ASK_MESSAGES = (NotificationKind.REQUEST, NotificationKind.ESCALATION, NotificationKind.REMINDER)
# A message on the wire when the request closed may yet arrive: a notice is recorded for
# it, waits while it is on the wire, and is sent only if it arrived (see :func:`earlier`).
MAY_HAVE_REACHED = (DeliveryStatus.SENT, DeliveryStatus.SENDING)
CHUNK = 500


def record(ask_ids: Sequence[int], kind: NotificationKind, now: datetime | None = None) -> list[int]:
    """In the caller's transaction: a ``kind`` notice on every channel that (may have) reached each ask's owner."""
    now = now or utcnow()
    rows = []
    for chunk in chunks(sorted(set(ask_ids)), CHUNK):
        used = db.session.execute(
            sa.select(Notification.ask_id, Notification.user_id, Notification.channel)
            .where(Notification.ask_id.in_(chunk), Notification.kind.in_(ASK_MESSAGES),
                   Notification.status.in_(MAY_HAVE_REACHED), Notification.user_id.is_not(None))
            .distinct())
        rows += [{"ask_id": ask_id, "user_id": user_id, "channel": channel, "kind": kind,
                  "status": DeliveryStatus.PENDING, "attempts": 0, "due_at": now, "created_at": now}
                 for ask_id, user_id, channel in used]
    rows.sort(key=lambda row: (row["ask_id"], row["channel"].value))
    return insert_notifications(rows)


def earlier(ask_ids: Iterable[int]) -> tuple[dict[tuple[int, Channel], NotificationKind], set[tuple[int, Channel]]]:
    """What was sent about these asks before their notices: (ask, channel) → the kind of the
    latest message sent on that channel, and the (ask, channel) pairs with one still on the wire."""
    latest: dict[tuple[int, Channel], NotificationKind] = {}
    on_the_wire: set[tuple[int, Channel]] = set()
    for chunk in chunks(sorted(set(ask_ids)), CHUNK):
        for ask_id, channel, kind, status in db.session.execute(
                sa.select(Notification.ask_id, Notification.channel, Notification.kind, Notification.status)
                .where(Notification.ask_id.in_(chunk), Notification.kind.in_(ASK_MESSAGES),
                       Notification.status.in_(MAY_HAVE_REACHED))
                .order_by(Notification.sent_at, Notification.id)):
            if status == DeliveryStatus.SENT:
                latest[(ask_id, channel)] = kind
            else:
                on_the_wire.add((ask_id, channel))
    return latest, on_the_wire
