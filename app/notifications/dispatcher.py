"""The one way footage asks reach owners: record deliveries, then hand them to the queue.

The request lifecycle (app/footage/lifecycle.py) calls :func:`record_new_asks` inside
the transaction that creates the asks (so a request and its notifications commit
together) and :func:`enqueue` after the commit. Rows that never reach the queue are
found by the scheduler's tick. District invitations take the same way:
:func:`record_invitations` in the districts' transaction, :func:`enqueue` after it; so do
the notices that a request was withdrawn or expired (:func:`record_withdrawn`,
:func:`record_expired`, in the transaction that closes its asks), and what happened to a
delivered clip (:func:`record_fate`: first viewed, held, released, purged).
"""
from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from app.notifications import notices, queue, service
from app.notifications.models import NotificationKind


def record_new_asks(request_id: int) -> list[int]:
    """In the caller's transaction: the Notification rows for the new (queued) asks of a request
    that has just gone out. Returns their ids."""
    return service.record_new_request_notifications(request_id)


def enqueue(notification_ids: Iterable[int]) -> None:
    """After the caller's commit: hand the deliveries to the job queue (RQ or in-process)."""
    queue.enqueue_deliveries(current_app._get_current_object(), notification_ids)


def record_invitations(member_ids: Iterable[int]) -> list[int]:
    """In the caller's transaction: one pending invitation SMS per district member. Returns their ids."""
    return service.record_invitation_notifications(list(member_ids))


def record_withdrawn(ask_ids: Iterable[int]) -> list[int]:
    """In the caller's transaction: tell the owners reached about these (now cancelled) asks. Returns the ids."""
    return notices.record(list(ask_ids), NotificationKind.WITHDRAWN)


def record_fate(ask_ids: Iterable[int], kind: NotificationKind) -> list[int]:
    """In the caller's transaction: tell the owners of these asks what happened to the clip they
    delivered (``kind``: one of FATE_KINDS), once per ask and kind. The scheduler's tick sends them."""
    return notices.record(list(ask_ids), kind)


def record_expired(ask_ids: Iterable[int]) -> list[int]:
    """In the caller's transaction: tell the owners reached about these (now expired) asks. Returns the ids."""
    return notices.record(list(ask_ids), NotificationKind.EXPIRED)
