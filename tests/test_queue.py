"""The job queue: RQ against the real Redis with real workers (one killed mid-dispatch),
the in-process worker of the embedded mode, claims, recovery and the CLI."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState
from app.jobs import tick
from app.notifications import delivery, dispatcher, queue, sms, webpush
from app.notifications.models import Channel, DeliveryStatus, Notification, SmsMessage
from tests import factories
from tests.peers import scenario
from tests.peers.push_service import LocalPushService

ROOT = Path(__file__).resolve().parent.parent


def vapid_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture
def push():
    with LocalPushService() as service:
        yield service
    assert not service.errors, service.errors


@pytest.fixture
def rq_name(redis_url):
    """A queue of this test's own in the test Redis database; its keys are deleted afterwards."""
    import redis

    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    connection = redis.Redis.from_url(redis_url)
    try:
        keys = [k for k in connection.scan_iter(match=f"rq:*{name}*")]
        for registry in (f"rq:wip:{name}", f"rq:failed:{name}", f"rq:finished:{name}"):
            keys += [f"rq:job:{job.decode()}" for job in connection.zrange(registry, 0, -1)]
        if keys:
            connection.delete(*keys)
    finally:
        connection.close()


@contextmanager
def app_with(make_app, twilio=None, **overrides):
    """A configured app with its context pushed, its Twilio client on the local server."""
    app = make_app(**{**(twilio.config() if twilio else {}), **overrides})
    with app.app_context():
        try:
            yield app
        finally:
            sms.close(app)
            db.session.remove()


def work_burst(app) -> None:
    """A real RQ SimpleWorker in this process until the queue is empty."""
    from rq import SimpleWorker

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    connection = queue.redis_connection(app)
    try:
        SimpleWorker(queue.worker_queues(app, connection), connection=connection).work(burst=True,
                                                                                    with_scheduler=False)
    finally:
        connection.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def statuses() -> list[DeliveryStatus]:
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification.status).order_by(Notification.id)).all()


# --- RQ --------------------------------------------------------------------------------------------

def test_rq_jobs_carry_only_ids_and_a_real_worker_delivers_them(make_app, redis_url, rq_name, push):
    with app_with(make_app, REDIS_URL=redis_url, JOB_QUEUE_NAME=rq_name) as app:
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        subscriber = push.new_subscriber()
        owners = [scenario.owner(subscription=subscriber.subscription()), scenario.owner(phone=scenario.phone_number())]
        _, asks, ids = scenario.issue(world.agency, owners)
        dispatcher.enqueue(ids)

        connection = queue.redis_connection(app)
        try:
            jobs = queue.rq_queue(app, connection).get_jobs()
        finally:
            connection.close()
        assert [(job.func_name, job.args) for job in jobs] == [(queue.JOB, (ids,))]

        work_burst(app)
        assert statuses() == [DeliveryStatus.SENT, DeliveryStatus.SENT]
        assert len(push.messages_for(subscriber)) == 1
        assert db.session.scalar(sa.select(SmsMessage.status)) == "outbox"
        assert {db.session.get(Ask, a.id).state for a in asks} == {AskState.NOTIFIED}


@pytest.mark.slow
def test_a_worker_killed_mid_dispatch_loses_nothing_and_sends_nothing_twice(make_app, redis_url, rq_name, push,
                                                                          twilio, request):
    config = {"REDIS_URL": redis_url, "JOB_QUEUE_NAME": rq_name, "VAPID_PRIVATE_KEY": vapid_pem(),
              "NOTIFICATION_CLAIM_TIMEOUT_SECONDS": 1}
    with app_with(make_app, twilio, **config) as app:
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        # One push service and one Twilio request take the message and never answer: the
        # worker is stuck mid-dispatch, with the others already through, when it is killed.
        subscribers = [push.new_subscriber(hold=(i == 1)) for i in range(3)]
        push_owners = [scenario.owner(subscription=s.subscription()) for s in subscribers]
        sms_owners = [scenario.owner(phone=scenario.phone_number()) for _ in range(3)]
        twilio.hold_next()
        _, asks, ids = scenario.issue(world.agency, push_owners + sms_owners)
        dispatcher.enqueue(ids)

        worker_config = {**config, **twilio.config(), "PUSH_TEST_ORIGINS": push.origin,
                         "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
        process = subprocess.Popen([sys.executable, "-m", "tests.peers.rq_worker", "--config",
                                    json.dumps(worker_config)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert push.wait_for(3, timeout=30) and twilio.wait_for(3, timeout=30), "the worker never sent"
            time.sleep(0.2)  # every request is in flight or answered; the held ones never will be
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        push.release()
        twilio.release()
        assert statuses() == [DeliveryStatus.SENDING] * 6
        # Every SMS got its row before Twilio was called; no SID stored for any of them.
        assert db.session.scalars(sa.select(SmsMessage.provider_sid)).all() == [None] * 3

        time.sleep(1.05)  # past the claim timeout
        report = tick()
        assert report["recovered"] == 6 and report["enqueued"] == 6
        work_burst(app)

        assert statuses() == [DeliveryStatus.SENT] * 6
        # SMS: the resend asked Twilio first and found every message: exactly one each.
        assert sorted(m.to for m in twilio.messages) == sorted(o.phone for o in sms_owners)
        assert sorted(db.session.scalars(sa.select(SmsMessage.provider_sid)).all()) == sorted(
            m.sid for m in twilio.messages)
        # Push: resent with the same Topic, which replaces the first copy at the push service.
        for subscriber, ask in zip(subscribers, asks, strict=False):
            mailbox = push.mailbox(subscriber)
            assert len(mailbox) == 1 and mailbox[0].payload["ask_id"] == ask.id
            assert {m.topic for m in push.messages_for(subscriber)} == {f"ask{ask.id}-request"}
        assert {db.session.get(Ask, a.id).state for a in asks} == {AskState.NOTIFIED}


def test_a_worker_that_died_after_claiming_loses_nothing(make_app, push, twilio):
    with app_with(make_app, twilio) as app:
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        subscriber = push.new_subscriber()
        owners = [scenario.owner(subscription=subscriber.subscription()), scenario.owner(phone=scenario.phone_number())]
        _, _, ids = scenario.issue(world.agency, owners)
        t0 = utcnow()
        assert delivery.claim(ids, t0) == ids  # ...and the worker dies here
        assert delivery.claim(ids, t0) == []  # nobody else may take them meanwhile
        assert delivery.recover_stale(t0 + timedelta(seconds=299)) == 0
        assert delivery.recover_stale(t0 + timedelta(seconds=301)) == 2
        report = delivery.deliver(ids, now=t0 + timedelta(seconds=301))
        assert report.sent == 2
        assert len(push.messages_for(subscriber)) == 1 and len(twilio.messages) == 1
        assert db.session.scalars(sa.select(Notification.attempts).order_by(Notification.id)).all() == [2, 2]


def test_an_sms_whose_answer_was_lost_is_not_sent_again(make_app, twilio):
    # Twilio takes the message but the answer never arrives (a read timeout): the retry
    # asks Twilio before sending, finds it, and records it.
    with app_with(make_app, twilio, TWILIO_TIMEOUT_SECONDS=0.3):
        world = factories.World.build()
        owner = scenario.owner(phone=scenario.phone_number())
        _, _, ids = scenario.issue(world.agency, [owner])
        twilio.hold_next()
        t0 = utcnow()
        delivery.deliver(ids, now=t0)
        twilio.release()
        n = db.session.scalar(sa.select(Notification))
        assert n.status == DeliveryStatus.PENDING and "ReadTimeout" in n.last_error
        assert db.session.scalar(sa.select(SmsMessage.status)) == "sending"
        assert delivery.deliver(ids, now=t0 + timedelta(seconds=30)).sent == 1
        assert len(twilio.messages) == 1
        assert ("GET", f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json") in twilio.requests
        assert db.session.scalar(sa.select(SmsMessage.provider_sid)) == twilio.messages[0].sid


def test_unreachable_twilio_is_retried_without_a_lookup(make_app, twilio):
    with app_with(make_app, twilio, TWILIO_API_BASE_URL="http://127.0.0.1:1") as app:
        world = factories.World.build()
        _, _, ids = scenario.issue(world.agency, [scenario.owner(phone=scenario.phone_number())])
        t0 = utcnow()
        delivery.deliver(ids, now=t0)
        assert db.session.scalar(sa.select(SmsMessage.status)) == "failed"  # certainly not sent
        # The provider is back (here: the setting names the live server; the gateway is built anew).
        app.config["TWILIO_API_BASE_URL"] = twilio.base_url
        sms.close(app)
        assert delivery.deliver(ids, now=t0 + timedelta(seconds=30)).sent == 1
        assert len(twilio.messages) == 1 and all(method == "POST" for method, _ in twilio.requests)


def test_a_redis_outage_loses_nothing(make_app, caplog):
    with app_with(make_app, REDIS_URL="redis://127.0.0.1:1/0") as app:
        world = factories.World.build()
        _, _, ids = scenario.issue(world.agency, [scenario.owner(phone=scenario.phone_number())])
        with caplog.at_level(logging.WARNING):
            dispatcher.enqueue(ids)  # does not raise: the request is committed already
        assert "could not queue 1 notifications" in caplog.text
        assert statuses() == [DeliveryStatus.PENDING]
        # The tick hands it over again once it is clearly not just on its way.
        assert delivery.due_ids(utcnow() + timedelta(seconds=61), timedelta(seconds=60)) == ids
        del app


# --- embedded mode ------------------------------------------------------------------------------

def test_in_process_worker_delivers_and_ticks(make_app, push):
    with app_with(make_app, NOTIFICATION_CLAIM_TIMEOUT_SECONDS=1) as app:
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        subscriber = push.new_subscriber()
        _, _, stale = scenario.issue(world.agency, [scenario.owner(subscription=subscriber.subscription())])
        assert delivery.claim(stale, utcnow()) == stale  # ...by a process that died 5 s ago:
        db.session.execute(sa.update(Notification).values(claimed_at=utcnow() - timedelta(seconds=5)))
        db.session.commit()
        _, _, fresh = scenario.issue(world.agency, [scenario.owner(phone=scenario.phone_number())])
        assert queue.ensure_worker(app) is None  # never in tests unless asked for
        worker = queue.InProcessWorker(app).start()
        try:
            worker.submit(fresh)
            assert push.wait_for(1, timeout=10)  # the tick at start recovered the stale row
            deadline = time.monotonic() + 10
            while statuses() != [DeliveryStatus.SENT, DeliveryStatus.SENT] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            worker.stop()
        assert not worker.alive
        assert statuses() == [DeliveryStatus.SENT, DeliveryStatus.SENT]


def test_embedded_worker_starts_with_the_first_request_not_with_the_app(make_app):
    app = make_app(TESTING=False, RUN_IN_PROCESS_WORKER=True, VAPID_PRIVATE_KEY=vapid_pem(),
                   SCHEDULER_INTERVAL_SECONDS=3600)
    try:
        assert "porchlight.in_process_worker" not in app.extensions
        assert app.test_cli_runner().invoke(args=["agency", "list"]).exit_code == 0
        assert "porchlight.in_process_worker" not in app.extensions  # CLI commands start nothing
        assert app.test_client().get("/api/health").status_code == 200
        worker = app.extensions["porchlight.in_process_worker"]
        assert worker.alive
    finally:
        worker = app.extensions.get("porchlight.in_process_worker")
        if worker:
            worker.stop()
    assert not worker.alive and "porchlight.in_process_worker" not in app.extensions


def test_no_in_process_worker_with_redis(make_app, redis_url):
    app = make_app(TESTING=False, RUN_IN_PROCESS_WORKER=True, REDIS_URL=redis_url)
    app.test_client().get("/api/health")
    assert "porchlight.in_process_worker" not in app.extensions


# --- CLI ------------------------------------------------------------------------------------------------

def test_jobs_cli_ticks_and_delivers(app, world, push):
    push.app_public_key = webpush.public_key(app)
    push.allow_in(app)
    subscriber = push.new_subscriber()
    scenario.issue(world.agency, [scenario.owner(subscription=subscriber.subscription())])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "tick"])
    assert result.exit_code == 0 and "tick:" in result.output
    result = runner.invoke(args=["jobs", "deliver"])
    assert result.exit_code == 0 and "sent=1" in result.output
    assert len(push.messages_for(subscriber)) == 1


def test_sms_cli_shows_the_outbox_and_takes_a_reply(app, world):
    owner = scenario.owner(phone=scenario.phone_number())
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    delivery.deliver(ids)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sms", "outbox"])
    assert result.exit_code == 0 and owner.phone in result.output and f"YES {ask.reply_code}" in result.output
    result = runner.invoke(args=["sms", "receive", "--from", owner.phone, f"YES {ask.reply_code}"])
    assert result.exit_code == 0 and "Upload your clip" in result.output
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == AskState.APPROVED


@pytest.mark.one_database
def test_worker_cli_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 1 and "REDIS_URL is not set" in result.output


def test_channel_rows_are_unique_per_kind(app, world, push):
    owner = scenario.owner(subscription=push.new_subscriber().subscription())
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    from app.notifications import service

    assert service.record_request_notifications([ask]) == []  # recorded twice: still one row
    assert db.session.scalars(sa.select(Notification.channel)).all() == [Channel.PUSH]
