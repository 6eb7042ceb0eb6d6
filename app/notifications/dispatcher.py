"""The one way footage asks reach owners: record deliveries, then hand them to the queue.

(Interface stub for the footage-request work; the notifications work fills it in.)
"""
from __future__ import annotations

from collections.abc import Iterable

from app.footage.models import Ask


def record_new_asks(asks: Iterable[Ask]) -> list[int]:
    """In the caller's transaction: the Notification rows for these new asks. Returns their ids."""
    return []


def enqueue(notification_ids: Iterable[int]) -> None:
    """After the caller's commit: hand the deliveries to the job queue (RQ or in-process)."""
