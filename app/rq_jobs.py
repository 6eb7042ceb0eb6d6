"""The functions an RQ worker runs: each queued job names one by its path (app/notifications/queue.py).

Jobs carry only ids; everything else is read when the job runs. Under ``flask worker``
they run in that command's app. Under a bare ``rq worker`` there is none, and the first
job builds one from the environment, as wsgi.py does. This module stands above the app
factory for that reason, and nothing in the app imports it: RQ loads it by name.
"""
from __future__ import annotations

from flask import Flask, current_app, has_app_context

from app import create_app
from app.clips import processing
from app.notifications import delivery, queue

_standalone: Flask | None = None


def _app_for_job() -> Flask:
    """The app of ``flask worker``, or one built from the environment under a bare ``rq worker``."""
    global _standalone
    if has_app_context():
        return current_app._get_current_object()
    if _standalone is None:
        _standalone = create_app()
    return _standalone


def run_delivery_job(notification_ids: list[int]) -> dict[str, int]:
    """Deliver these notifications in a fresh app context (a fresh session)."""
    app = _app_for_job()
    with app.app_context():
        report = delivery.deliver([int(i) for i in notification_ids], mark_asks=False)
        queue.enqueue_deliveries(app, report.follow_up)
        queue.enqueue_bookkeeping(app, report.reached)
    return {"sent": report.sent, "skipped": report.skipped, "failed": report.failed, "retried": report.retried}


def run_bookkeeping_job(ask_ids: list[int]) -> int:
    """The low-priority job: mark asks notified once their first message is out."""
    app = _app_for_job()
    with app.app_context():
        return delivery.mark_asks_notified([int(i) for i in ask_ids])


def run_media_job(clip_id: int) -> str | None:
    """The media queue's job: probe a clip and make its working copy (app/clips/processing.py)."""
    app = _app_for_job()
    with app.app_context():
        status = processing.process_clip(int(clip_id))
    return status.value if status is not None else None
