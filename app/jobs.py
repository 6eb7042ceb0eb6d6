"""Everything that happens because time passed: the periodic tick, and the commands that run jobs.

``tick(now)`` is idempotent and safe to run from several processes at once (every
step is guarded by a unique row or a conditional UPDATE). It runs every
SCHEDULER_INTERVAL_SECONDS from ``flask jobs run`` (beside RQ workers) or from the
in-process worker (embedded: create_app hands it this tick), and once from
``flask jobs tick``:

1. deliveries claimed by a worker that died go back to pending;
2. each domain's housekeeping: requests past their lifetime expire, abandoned uploads
   are cleaned, clips past retention are purged (with their working copies), media
   claims whose worker died are given back and pending clips handed to the media
   queue, district imports never committed expire, sessions long ended are deleted,
   owners' "pause everything" ends at its date, cameras due their yearly
   re-confirmation are asked for it and those left unconfirmed pause, and (last, so
   they cover what the steps before wrote) the audit chains' heads are signed when
   AUDIT_CHECKPOINT_INTERVAL_HOURS have passed;
3. follow-up messages are recorded: an unanswered (and unseen) push escalates to SMS
   after the agency's delay, a reminder goes out before a request expires;
4. asks whose first message went out but are still ``queued`` (the worker's deferred
   bookkeeping was lost) become ``notified``;
5. every due pending delivery is handed to the queue, so nothing waits forever
   because Redis was down or a process died between commit and enqueue.

    flask worker [--burst] [--queues all|notifications|media]
                             an RQ worker (needs REDIS_URL): notifications first, media jobs last
    flask media process [--clip ID]
                             make the due working copies (or one clip's) in this process, now
    flask jobs run           the tick every SCHEDULER_INTERVAL_SECONDS, until stopped
    flask jobs tick          one tick now
    flask jobs deliver       deliver every due notification in this process, now
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.accounts.sessions import purge_ended_sessions
from app.accounts.tokens import purge_ended_tokens
from app.audit.checkpoints import checkpoint_due
from app.cameras import confirmation
from app.clips import processing
from app.clips.retention import purge_expired_clips
from app.clips.uploads import clean_abandoned_uploads
from app.common.settings import setting
from app.db import utcnow
from app.districts.imports import expire_due_imports
from app.extensions import db
from app.footage.filters import end_due_pauses
from app.footage.lifecycle import expire_due_requests
from app.notifications import delivery, dispatcher, followups, queue
from app.privacy.claims import expire_unverified_claims

log = logging.getLogger(__name__)

# A new row is given to the queue by its creator; the tick takes it over after this long.
ENQUEUE_GRACE = timedelta(seconds=60)

# Each domain's housekeeping: (what the tick reports, the step). A step commits its own
# work and returns how many things it did.
HOUSEKEEPING: tuple[tuple[str, Callable[[datetime], int]], ...] = (
    ("expired_requests", expire_due_requests),
    ("abandoned_uploads", clean_abandoned_uploads),
    ("purged_clips", purge_expired_clips),
    ("media_recovered", processing.recover_stale_claims),
    ("media_enqueued", processing.enqueue_due),
    ("expired_imports", expire_due_imports),
    ("ended_sessions", purge_ended_sessions),
    ("ended_tokens", purge_ended_tokens),
    ("expired_claims", expire_unverified_claims),
    ("pauses_ended", end_due_pauses),
    ("confirmations_requested", confirmation.request_due_confirmations),
    ("unconfirmed_paused", confirmation.pause_unconfirmed),
    ("audit_checkpoints", checkpoint_due),
)


def _run_housekeeping(now: datetime, report: dict[str, int]) -> None:
    for name, step in HOUSEKEEPING:
        try:
            report[name] = step(now)
        except Exception:
            # One step failing leaves the others (and the deliveries) to run.
            db.session.rollback()
            log.exception("scheduler: %s failed", name)


def tick(now: datetime | None = None) -> dict[str, int]:
    """One pass of the scheduler; returns what it did."""
    now = now or utcnow()
    report: dict[str, int] = defaultdict(int)
    report["recovered"] = delivery.recover_stale(now)
    _run_housekeeping(now, report)
    escalations = followups.schedule_escalations(now)
    reminders = followups.schedule_reminders(now)
    report["escalations"], report["reminders"] = len(escalations), len(reminders)
    report["asks_marked_notified"] = delivery.mark_asks_notified(delivery.asks_left_queued())
    due = delivery.due_ids(now, ENQUEUE_GRACE)
    ids = sorted(set(escalations) | set(reminders) | set(due))
    report["enqueued"] = len(ids)
    dispatcher.enqueue(ids)
    if any(report.values()):
        current_app.logger.info("scheduler tick: %s", dict(report))
    return dict(report)


# --- commands ---------------------------------------------------------------------------------

jobs_cli = AppGroup("jobs", help="The scheduler's tick and notification deliveries.")


media_cli = AppGroup("media", help="Working copies of delivered clips.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--queues", "which", type=click.Choice(queue.WORKER_QUEUES), default="all", show_default=True,
              help="Notifications first and media jobs last, or only one of them (a worker making a "
                   "working copy takes nothing else until it is done).")
@with_appcontext
def worker(burst: bool, which: str) -> None:
    """Run an RQ worker for the notification and media queues (needs REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        click.secho("REDIS_URL is not set: the app delivers in-process, no worker is needed.", fg="yellow", err=True)
        sys.exit(1)
    queue.run_worker(current_app._get_current_object(), burst=burst, which=which)


@jobs_cli.command("tick")
def tick_once() -> None:
    """Run the scheduler once."""
    click.echo(f"tick: {tick()}")


@jobs_cli.command("run")
def run_scheduler() -> None:
    """Run the scheduler every SCHEDULER_INTERVAL_SECONDS until stopped (SIGTERM or Ctrl-C)."""
    interval = max(1, setting("SCHEDULER_INTERVAL_SECONDS"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"scheduler: ticking every {interval} s")
    while not stop.is_set():
        try:
            tick()
        except Exception:
            db.session.rollback()
            current_app.logger.exception("scheduler tick failed")
        finally:
            db.session.remove()
        stop.wait(interval)


@jobs_cli.command("deliver")
def deliver_now() -> None:
    """Deliver every due pending notification in this process."""
    ids = delivery.due_ids(utcnow(), fresh_grace=timedelta(0))
    report = delivery.deliver(ids)
    click.echo(f"delivered: sent={report.sent} skipped={report.skipped} failed={report.failed} "
               f"retry_later={report.retried}")


@media_cli.command("process")
@click.option("--clip", "clip_id", type=int, default=None,
              help="Only this clip (one that failed is tried again).")
def process_media(clip_id: int | None) -> None:
    """Probe and make the working copy of every pending clip in this process, now."""
    report = processing.process_due(clip_id)
    click.echo(f"media: {report or 'nothing to do'}")


def init_app(app: Flask) -> None:
    """The commands, and the tick and media job the in-process workers run (when there is no Redis)."""
    app.cli.add_command(worker)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(media_cli)
    queue.init_app(app, tick, processing.process_clip)
