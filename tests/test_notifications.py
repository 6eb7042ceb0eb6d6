"""Web Push end to end against a local push service that decrypts and verifies every
message, the channel rules, retries, escalation and reminders (with an injected now)."""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.footage.models import AgencyPolicy, AskState, RequestStatus
from app.jobs import tick
from app.notifications import delivery, messages, webpush
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    PushSubscription,
    SmsMessage,
)
from tests import factories
from tests.conftest import signed_in
from tests.peers import scenario
from tests.peers.push_service import LocalPushService


@pytest.fixture
def push(app):
    with LocalPushService(webpush.public_key(app)) as service:
        yield service.allow_in(app)
    assert not service.errors, f"the push service refused messages: {service.errors}"


def rows(ask_id=None):
    query = sa.select(Notification).order_by(Notification.id)
    if ask_id is not None:
        query = query.where(Notification.ask_id == ask_id)
    return list(db.session.scalars(query))


def deliver_due(now=None):
    now = now or utcnow()
    db.session.expire_all()
    report = delivery.deliver(delivery.due_ids(now, timedelta(0)), now=now)
    if report.follow_up:
        report2 = delivery.deliver(report.follow_up, now=now)
        report.sent += report2.sent
    db.session.expire_all()
    return report


# --- the VAPID key and subscriptions -------------------------------------------------------------

@pytest.mark.one_database
def test_vapid_public_key_is_an_uncompressed_p256_point(client, app):
    r = client.get("/api/push/vapid-public-key")
    assert r.status_code == 200
    key = r.json["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in key
    assert client.get("/api/push/vapid-public-key").json["public_key"] == key


@pytest.mark.one_database
def test_vapid_key_is_generated_once_into_the_instance_folder(make_app, tmp_path):
    from flask import Flask

    first = Flask("a", instance_path=str(tmp_path / "inst"))
    second = Flask("b", instance_path=str(tmp_path / "inst"))
    key = webpush.public_key(first)
    assert (tmp_path / "inst" / webpush.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert webpush.public_key(second) == key  # another process reads the same key


@pytest.mark.one_database
def test_vapid_key_from_the_environment(make_app):
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    raw = webpush.b64url(private.private_numbers().private_value.to_bytes(32, "big"))
    public = webpush.b64url(webpush._public_bytes(private))
    app = make_app(VAPID_PRIVATE_KEY=raw, VAPID_PUBLIC_KEY=public)
    assert app.test_client().get("/api/push/vapid-public-key").json["public_key"] == public
    with pytest.raises(RuntimeError, match="does not belong"):
        webpush.public_key(make_app(VAPID_PRIVATE_KEY=raw, VAPID_PUBLIC_KEY=webpush.b64url(b"\x04" + b"\x01" * 64)))


def test_owner_registers_updates_and_removes_a_subscription(app, world, as_owner, push):
    subscription = push.new_subscriber().subscription()
    r = as_owner.post("/api/push/subscriptions", json=subscription, headers={"User-Agent": "Firefox/140"})
    assert r.status_code == 201, r.json
    assert r.json["endpoint"] == subscription["endpoint"]
    # The same device again (e.g. keys rotated): one row, updated.
    fresh = push.new_subscriber().subscription()
    again = {**subscription, "keys": fresh["keys"]}
    assert as_owner.post("/api/push/subscriptions", json=again).status_code == 201
    assert db.session.scalar(sa.select(sa.func.count(PushSubscription.id))) == 1
    assert db.session.scalar(sa.select(PushSubscription.p256dh)) == fresh["keys"]["p256dh"]
    assert [s["endpoint"] for s in as_owner.get("/api/push/subscriptions").json] == [subscription["endpoint"]]

    r = as_owner.delete("/api/push/subscriptions", json={"endpoint": subscription["endpoint"]})
    assert r.status_code == 204
    assert as_owner.delete("/api/push/subscriptions", json={"endpoint": subscription["endpoint"]}).status_code == 404
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("push.%"))
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["push.subscribed", "push.subscribed", "push.unsubscribed"]
    # The capability URL itself never enters the append-only log.
    details = db.session.scalars(sa.select(AuditEvent.details).where(AuditEvent.action.like("push.%"))).all()
    assert subscription["endpoint"] not in json.dumps(details)


def subscriptions() -> list[tuple[int, str]]:
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(sa.select(PushSubscription.user_id, PushSubscription.endpoint))]


@pytest.mark.one_database
@pytest.mark.parametrize("change,field", [
    ({"endpoint": "http://push.example.com/x"}, "endpoint"),
    ({"endpoint": "https://10.0.0.8/x"}, "endpoint"),
    ({"endpoint": "not a url"}, "endpoint"),
    ({"keys": {"p256dh": "AAAA", "auth": "c2VjcmV0c2VjcmV0c2VjcmV0"}}, "keys.p256dh"),
    ({"keys": {"p256dh": None, "auth": "x"}}, "keys.p256dh"),
    ({"endpoint": "https://push.example.com/\x00"}, "endpoint"),  # PostgreSQL text cannot hold NUL
])
def test_invalid_subscriptions_name_the_field(app, world, as_owner, push, change, field):
    subscription = {**push.new_subscriber().subscription(), **change}
    r = as_owner.post("/api/push/subscriptions", json=subscription)
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"
    assert field in r.json["error"]["fields"], r.json
    assert subscriptions() == []


def test_an_endpoint_with_nul_is_refused_before_any_lookup(app, world, as_owner):
    r = as_owner.delete("/api/push/subscriptions", json={"endpoint": "https://push.example.com/\x00"})
    assert r.status_code == 422 and r.json["error"]["fields"] == {"endpoint": ["Must not contain NUL characters."]}


@pytest.mark.one_database
def test_auth_secret_must_be_16_bytes(app, world, as_owner, push):
    subscription = push.new_subscriber().subscription()
    subscription["keys"]["auth"] = webpush.b64url(b"short")
    r = as_owner.post("/api/push/subscriptions", json=subscription)
    assert r.status_code == 422 and "keys.auth" in r.json["error"]["fields"]
    assert subscriptions() == []


@pytest.mark.one_database
def test_only_owners_register_devices(app, world, as_officer, client, push):
    subscription = push.new_subscriber().subscription()
    r = as_officer.post("/api/push/subscriptions", json=subscription)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    r = client.post("/api/push/subscriptions", json=subscription)
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthenticated"
    # Nothing stored, and nothing would be sent to that endpoint.
    assert subscriptions() == []
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("push.%"))).all()


# --- delivery to the push service ---------------------------------------------------------------------

def test_a_request_reaches_the_owners_device_decrypted_and_signed(app, world, as_owner, push):
    subscriber = push.new_subscriber()
    assert as_owner.post("/api/push/subscriptions", json=subscriber.subscription()).status_code == 201
    request, (ask,), ids = scenario.issue(world.agency, [world.owner], world.officer, case_number="2026-00042")
    assert [(n.channel, n.kind, n.status) for n in rows()] == [
        (Channel.PUSH, NotificationKind.REQUEST, DeliveryStatus.PENDING)]

    report = delivery.deliver(ids)
    assert report.sent == 1
    assert push.wait_for(1)
    (message,) = push.messages_for(subscriber)
    payload = message.payload
    assert payload["agency"] == "Riverside Police Department"
    assert payload["case"] == "2026-00042"
    assert payload["camera"] == ask.camera_label
    assert payload["reply_code"] == ask.reply_code
    assert payload["url"] == f"http://porchlight.test/?ask={ask.id}"
    assert payload["window"]["start"] == request.window_start.isoformat()
    assert set(payload["actions"]) == {"approve", "decline"}
    assert message.urgency == "high"
    assert message.topic == f"ask{ask.id}-request"
    # TTL: until the request expires (72 h), not forever, not zero.
    assert 71 * 3600 < message.ttl <= 72 * 3600
    assert message.claims["aud"] == push.origin and message.claims["sub"].startswith("mailto:")

    db.session.expire_all()
    (n,) = rows()
    assert n.status == DeliveryStatus.SENT and n.attempts == 1 and n.sent_at is not None
    assert db.session.get(type(ask), ask.id).state == AskState.NOTIFIED
    assert db.session.scalar(sa.select(PushSubscription.last_success_at)) is not None


def test_the_notification_buttons_answer_the_ask(app, world, push, client):
    subscriber = push.new_subscriber()
    scenario.add_subscription(world.owner, subscriber.subscription())
    _, (ask,), ids = scenario.issue(world.agency, [world.owner])
    delivery.deliver(ids)
    approve = push.messages_for(subscriber)[0].payload["actions"]["approve"]
    r = client.post(approve.removeprefix("http://porchlight.test"))
    assert r.status_code == 200, r.json
    db.session.expire_all()
    assert db.session.get(type(ask), ask.id).state == AskState.APPROVED


def test_every_device_of_the_owner_gets_it(app, world, push):
    phone, tablet = push.new_subscriber(), push.new_subscriber()
    scenario.add_subscription(world.owner, phone.subscription())
    scenario.add_subscription(world.owner, tablet.subscription())
    _, _, ids = scenario.issue(world.agency, [world.owner])
    assert len(ids) == 1  # one notification, two devices
    delivery.deliver(ids)
    assert len(push.messages_for(phone)) == len(push.messages_for(tablet)) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted_and_sms_takes_over(app, world, push, status):
    subscription = push.new_subscriber(status=status).subscription()
    owner = scenario.owner(phone=scenario.phone_number(), subscription=subscription)
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    report = delivery.deliver(ids)
    assert db.session.scalar(sa.select(sa.func.count(PushSubscription.id))) == 0
    assert report.follow_up, "the owner has a verified phone: SMS goes out now, not after the escalation delay"
    delivery.deliver(report.follow_up)
    db.session.expire_all()
    assert [(n.channel, n.kind, n.status) for n in rows()] == [
        (Channel.PUSH, NotificationKind.REQUEST, DeliveryStatus.SKIPPED),
        (Channel.SMS, NotificationKind.ESCALATION, DeliveryStatus.SENT)]
    assert db.session.get(type(ask), ask.id).state == AskState.NOTIFIED


def test_a_push_service_error_is_retried_with_backoff_then_given_up(make_app, push):
    app = make_app(NOTIFICATION_MAX_ATTEMPTS=3)
    with app.app_context():
        world = factories.World.build()
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        subscriber = push.new_subscriber(status=500)
        owner = scenario.owner(subscription=subscriber.subscription())
        _, (ask,), ids = scenario.issue(world.agency, [owner])
        t0 = utcnow()
        delivery.deliver(ids, now=t0)
        (n,) = rows(ask.id)
        assert (n.status, n.attempts, n.due_at) == (DeliveryStatus.PENDING, 1, t0 + timedelta(seconds=30))
        assert "500" in n.last_error
        # Not due yet: nothing happens.
        assert delivery.deliver(ids, now=t0 + timedelta(seconds=29)).claimed == 0
        delivery.deliver(ids, now=t0 + timedelta(seconds=30))
        db.session.expire_all()
        (n,) = rows(ask.id)
        assert (n.attempts, n.due_at) == (2, t0 + timedelta(seconds=90))  # then 60 s
        subscriber.status = 201
        assert delivery.deliver(ids, now=t0 + timedelta(seconds=90)).sent == 1
        assert len(push.messages_for(subscriber)) == 1

        # Another owner whose push service never recovers: failed after 3 attempts.
        other = scenario.owner(subscription=push.new_subscriber(status=503).subscription())
        t1 = utcnow()
        _, (other_ask,), ids = scenario.issue(world.agency, [other], now=t1)
        for seconds in (0, 30, 90):
            delivery.deliver(ids, now=t1 + timedelta(seconds=seconds))
        db.session.expire_all()
        (n,) = rows(other_ask.id)
        assert (n.status, n.attempts) == (DeliveryStatus.FAILED, 3)
        assert "gave up after 3 attempts" in n.last_error


def test_no_message_once_the_ask_is_answered_or_the_request_closed(app, world, push):
    subscriber = push.new_subscriber()
    scenario.add_subscription(world.owner, subscriber.subscription())
    request, (ask,), ids = scenario.issue(world.agency, [world.owner])
    ask.state = AskState.DECLINED  # answered in the app before the worker got to it
    other_request, _, other_ids = scenario.issue(world.agency, [world.owner], status=RequestStatus.CANCELLED)
    db.session.commit()
    report = delivery.deliver(ids + other_ids)
    assert report.skipped == 2 and report.sent == 0
    assert push.received == []


# --- channel choice ----------------------------------------------------------------------------------

def test_first_channel_is_push_where_possible_else_sms_else_email(app, world, push):
    both = scenario.owner(phone=scenario.phone_number(), subscription=push.new_subscriber().subscription())
    sms_only = scenario.owner(phone=scenario.phone_number())
    push_off = scenario.owner(phone=scenario.phone_number(), notify_push=False,
                              subscription=push.new_subscriber().subscription())
    unverified = scenario.owner(phone=scenario.phone_number(), verified=False)
    sms_off = scenario.owner(phone=scenario.phone_number(), notify_sms=False)
    nothing = scenario.owner()
    email_only = scenario.owner(notify_email=True)
    email_unverified = scenario.owner(notify_email=True, email_verified_at=None)
    email_last = scenario.owner(notify_email=True, phone=scenario.phone_number(),
                                subscription=push.new_subscriber().subscription())
    _, asks, ids = scenario.issue(world.agency, [both, sms_only, push_off, unverified, sms_off, nothing,
                                                 email_only, email_unverified, email_last])
    got = {n.ask_id: n.channel for n in rows()}
    assert got == {asks[0].id: Channel.PUSH, asks[1].id: Channel.SMS, asks[2].id: Channel.SMS,
                   asks[6].id: Channel.EMAIL, asks[8].id: Channel.PUSH}
    assert len(ids) == 5


# --- escalation and reminders (the scheduler, with an injected now) --------------------------------

def test_unanswered_push_escalates_to_sms_after_the_agencys_delay(app, world, push):
    db.session.add(AgencyPolicy(agency_id=world.agency.id, escalation_minutes=45))
    t0 = utcnow()
    owners = [scenario.owner(phone=scenario.phone_number(), subscription=push.new_subscriber().subscription())
              for _ in range(4)]
    push_only = scenario.owner(subscription=push.new_subscriber().subscription())
    _, asks, ids = scenario.issue(world.agency, owners + [push_only], now=t0)
    delivery.deliver(ids, now=t0)
    seen, answered = asks[1], asks[2]
    seen.state, answered.state = AskState.SEEN, AskState.APPROVED
    db.session.commit()

    assert tick(t0 + timedelta(minutes=44))["escalations"] == 0
    report = tick(t0 + timedelta(minutes=45))
    # Only the owner who neither opened nor answered it, and has a phone.
    assert report["escalations"] == 2
    escalated = {n.ask_id for n in rows() if n.kind == NotificationKind.ESCALATION}
    assert escalated == {asks[0].id, asks[3].id}
    assert tick(t0 + timedelta(minutes=50))["escalations"] == 0  # once
    assert deliver_due(t0 + timedelta(minutes=50)).sent == 2
    bodies = db.session.scalars(sa.select(SmsMessage.body)).all()
    assert all("Riverside Police Department" in b and "Reply YES" in b for b in bodies)


def test_reminder_before_expiry_is_a_separate_message(app, world, push):
    t0 = utcnow()
    subscriber = push.new_subscriber()
    owner = scenario.owner(subscription=subscriber.subscription())
    sms_only = scenario.owner(phone=scenario.phone_number())
    request, (ask, sms_ask), ids = scenario.issue(world.agency, [owner, sms_only], now=t0)
    delivery.deliver(ids, now=t0)
    expires = request.expires_at
    # Default reminder lead: 12 h before expiry.
    assert tick(expires - timedelta(hours=12, minutes=1))["reminders"] == 0
    later = expires - timedelta(hours=11)
    assert tick(later)["reminders"] == 2
    assert tick(later)["reminders"] == 0
    deliver_due(later)
    first, reminder = push.messages_for(subscriber)
    assert reminder.payload["kind"] == "reminder" and reminder.topic != first.topic
    assert reminder.payload["title"].startswith("Reminder")
    assert reminder.ttl <= 11 * 3600
    sms_bodies = db.session.scalars(sa.select(SmsMessage.body).order_by(SmsMessage.id)).all()
    assert len(sms_bodies) == 2 and sms_bodies[1].startswith("Porchlight reminder")
    assert {(n.channel, n.kind) for n in rows() if n.status == DeliveryStatus.SENT} == {
        (Channel.PUSH, NotificationKind.REQUEST), (Channel.PUSH, NotificationKind.REMINDER),
        (Channel.SMS, NotificationKind.REQUEST), (Channel.SMS, NotificationKind.REMINDER)}


def test_no_reminder_for_answered_asks_or_short_lived_requests(app, world, push):
    t0 = utcnow()
    owner = scenario.owner(subscription=push.new_subscriber().subscription())
    answered = scenario.owner(subscription=push.new_subscriber().subscription())
    request, (ask, done), ids = scenario.issue(world.agency, [owner, answered], now=t0)
    done.state = AskState.NO_FOOTAGE
    short, _, _ = scenario.issue(world.agency, [owner], now=t0, lifetime=timedelta(hours=6))
    db.session.commit()
    report = tick(request.expires_at - timedelta(hours=1))
    assert report["reminders"] == 1  # the short request began inside its reminder lead: no reminder
    assert {n.ask_id for n in rows() if n.kind == NotificationKind.REMINDER} == {ask.id}


def test_tick_expires_requests_past_their_lifetime(app, world, push):
    t0 = utcnow()
    owner = scenario.owner(subscription=push.new_subscriber().subscription())
    request, (ask,), ids = scenario.issue(world.agency, [owner], now=t0)
    report = tick(request.expires_at + timedelta(seconds=1))
    assert report["expired_requests"] == 1
    # The uploads' housekeeping runs in the same tick.
    assert {"abandoned_uploads", "purged_clips"} <= set(report)
    db.session.expire_all()
    assert db.session.get(type(request), request.id).status == RequestStatus.EXPIRED
    assert db.session.get(type(ask), ask.id).state == AskState.EXPIRED
    # Its pending first message is no longer worth sending.
    assert deliver_due(request.expires_at + timedelta(seconds=2)).sent == 0
    assert push.received == []


def test_tick_hands_over_rows_that_never_reached_the_queue(app, world, push):
    owner = scenario.owner(subscription=push.new_subscriber().subscription())
    t0 = utcnow()
    _, _, ids = scenario.issue(world.agency, [owner], now=t0)
    assert delivery.due_ids(t0 + timedelta(seconds=30), timedelta(seconds=60)) == []  # its creator queued it
    assert delivery.due_ids(t0 + timedelta(seconds=61), timedelta(seconds=60)) == ids


def test_long_summaries_are_cut_to_fit_a_push_message(app, world):
    request = scenario.request(world.agency, summary="é" * 1000)
    ask = scenario.ask(request, world.owner, label="x" * 120)
    data = messages.push_payload(NotificationKind.REQUEST, ask, request, world.agency)
    assert len(data.encode()) <= messages.MAX_PUSH_PAYLOAD
    assert json.loads(data)["summary"].endswith("...")


def test_signed_in_owner_sees_subscriptions_only_of_their_own(app, world, push):
    other = signed_in(app, world.other_owner)
    scenario.add_subscription(world.owner, push.new_subscriber().subscription())
    db.session.commit()
    assert other.get("/api/push/subscriptions").json == []
