"""Command-line tools for the job queue and SMS.

    flask worker [--burst]         an RQ worker for the notification queue (needs REDIS_URL)
    flask jobs run                 the scheduler loop: tick every SCHEDULER_INTERVAL_SECONDS
    flask jobs tick                one tick now (escalations, reminders, expiry, clean-up, re-queue)
    flask jobs deliver             deliver every due notification in this process, now
    flask sms outbox [--limit N]   the latest messages kept in the outbox (no Twilio configured)
    flask sms receive --from +1... "YES 4821"
                                   act on a text as if it had arrived by SMS (for a local try-out)
"""
from __future__ import annotations

import signal
import sys
import threading
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.common.settings import setting
from app.db import utcnow
from app.extensions import db

jobs_cli = AppGroup("jobs", help="The notification scheduler and deliveries.")
sms_cli = AppGroup("sms", help="The SMS outbox and simulated replies.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run an RQ worker for the notification queue (needs REDIS_URL)."""
    from app.notifications import queue

    if not current_app.config.get("REDIS_URL"):
        click.secho("REDIS_URL is not set: the app delivers in-process, no worker is needed.", fg="yellow", err=True)
        sys.exit(1)
    queue.run_worker(current_app._get_current_object(), burst=burst)


@jobs_cli.command("tick")
def tick_once() -> None:
    """Run the scheduler once."""
    from app.notifications.scheduler import tick

    click.echo(f"tick: {tick()}")


@jobs_cli.command("run")
def run_scheduler() -> None:
    """Run the scheduler every SCHEDULER_INTERVAL_SECONDS until stopped (SIGTERM or Ctrl-C)."""
    from app.notifications.scheduler import tick

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
    from app.notifications import delivery

    ids = delivery.due_ids(utcnow(), fresh_grace=timedelta(0))
    report = delivery.deliver(ids)
    click.echo(f"delivered: sent={report.sent} skipped={report.skipped} failed={report.failed} "
               f"retry_later={report.retried}")


@sms_cli.command("outbox")
@click.option("--limit", default=20, show_default=True)
def outbox(limit: int) -> None:
    """Show the latest SMS kept in the outbox (not sent)."""
    from app.notifications.models import SmsDirection, SmsMessage

    rows = db.session.scalars(sa.select(SmsMessage).where(SmsMessage.direction == SmsDirection.OUTBOUND,
                                                          SmsMessage.status == "outbox")
                              .order_by(SmsMessage.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("The outbox is empty.")
    for row in reversed(rows):
        click.echo(f"[{row.created_at:%Y-%m-%d %H:%M:%S}] to {row.to_number}: {row.body}")


@sms_cli.command("receive")
@click.option("--from", "sender", required=True, help="The sender's number, e.g. +14145550123.")
@click.argument("text")
def receive(sender: str, text: str) -> None:
    """Act on TEXT as if SENDER had texted it; prints the reply."""
    from app.notifications import service

    reply = service.inbound_sms({"From": sender, "Body": text, "To": current_app.config.get("TWILIO_FROM_NUMBER")})
    click.echo(f"reply: {reply}" if reply else "(no reply)")


def register(app) -> None:
    app.cli.add_command(worker)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(sms_cli)
