"""Owners told that a request ended (withdrawn by its agency, or expired), on the channels
that reached them, through the real peers: a push service that decrypts Web Push, a
Twilio-compatible API and an SMTP server (aiosmtpd, STARTTLS); the owner's inbox saying
so; and the order of an owner's channels deciding the first message and the escalations."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.footage import lifecycle
from app.footage.models import Ask, AskState
from app.notifications import ask_mail, delivery, dispatcher, followups, mail, messages, service, webpush
from app.notifications.models import Channel, DeliveryStatus, Notification, NotificationKind, SmsOptOut
from tests import factories
from tests.conftest import signed_in
from tests.peers import scenario
from tests.peers.push_service import LocalPushService
from tests.peers.smtp_server import LocalSmtpServer

NOTICES = (NotificationKind.WITHDRAWN, NotificationKind.EXPIRED)


@pytest.fixture
def peers_app(sms_app):
    """An app whose push goes to a local push service and whose SMS go to the local Twilio API."""
    return sms_app


@pytest.fixture
def push(peers_app):
    with LocalPushService(webpush.public_key(peers_app)) as service:
        yield service.allow_in(peers_app)
    assert not service.errors, f"the push service refused messages: {service.errors}"


@pytest.fixture
def smtp(peers_app, tmp_path):
    with LocalSmtpServer(tmp_path) as server:
        peers_app.config.update(server.settings())
        mail.close(peers_app)
        yield server
        mail.close(peers_app)  # the mailer's idle connections, before the server goes


@pytest.fixture
def pworld(peers_app):
    return factories.World.build()


def deliver(ids, now=None):
    db.session.expire_all()
    report = delivery.deliver(ids, now=now or utcnow())
    db.session.expire_all()
    return report


def notices(ask_id=None):
    query = sa.select(Notification).where(Notification.kind.in_(NOTICES)).order_by(Notification.id)
    if ask_id is not None:
        query = query.where(Notification.ask_id == ask_id)
    db.session.expire_all()
    return list(db.session.scalars(query))


def answered(ask: Ask, state: AskState) -> None:
    """The owner's answer, as the answer routes leave it."""
    ask.state, ask.responded_at, ask.answered_via = state, utcnow(), "app"
    db.session.commit()


def cancel(app, officer, request_id):
    response = signed_in(app, officer).post(f"/api/requests/{request_id}/cancel")
    assert response.status_code == 200, response.json
    return response.json


def test_a_withdrawn_request_tells_the_owners_it_reached_on_the_channels_used(peers_app, pworld, push, twilio):
    on_phone, on_tablet = push.new_subscriber(), push.new_subscriber()
    push_owner = scenario.owner(subscription=on_phone.subscription())
    scenario.add_subscription(push_owner, on_tablet.subscription())
    sms_owner = scenario.owner(phone=scenario.phone_number())
    both = push.new_subscriber()
    both_owner = scenario.owner(phone=scenario.phone_number(), subscription=both.subscription())
    approved_owner = scenario.owner(phone=scenario.phone_number())
    declined = push.new_subscriber()
    declined_owner = scenario.owner(subscription=declined.subscription())
    unreachable_owner = scenario.owner()  # no channel: never notified
    owners = [push_owner, sms_owner, both_owner, approved_owner, declined_owner, unreachable_owner]
    request, asks, ids = scenario.issue(pworld.agency, owners, pworld.officer, case_number="2026-00913")
    by_owner = dict(zip((o.id for o in owners), asks, strict=True))
    assert deliver(ids).sent == 5
    # The owner with push and a phone was escalated to SMS too: both channels reached them.
    escalation = service.record_escalations([(by_owner[both_owner.id].id, both_owner.id)], utcnow())
    db.session.commit()
    assert deliver(escalation).sent == 1
    answered(by_owner[approved_owner.id], AskState.APPROVED)
    answered(by_owner[declined_owner.id], AskState.DECLINED)
    push_before, sms_before = len(push.received), len(twilio.messages)

    cancel(peers_app, pworld.officer, request.id)
    recorded = notices()
    assert {(n.ask_id, n.channel, n.kind, n.status) for n in recorded} == {
        (by_owner[push_owner.id].id, Channel.PUSH, NotificationKind.WITHDRAWN, DeliveryStatus.PENDING),
        (by_owner[sms_owner.id].id, Channel.SMS, NotificationKind.WITHDRAWN, DeliveryStatus.PENDING),
        (by_owner[both_owner.id].id, Channel.PUSH, NotificationKind.WITHDRAWN, DeliveryStatus.PENDING),
        (by_owner[both_owner.id].id, Channel.SMS, NotificationKind.WITHDRAWN, DeliveryStatus.PENDING),
        (by_owner[approved_owner.id].id, Channel.SMS, NotificationKind.WITHDRAWN, DeliveryStatus.PENDING)}
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "request.cancelled"))
    assert event.details == {"asks_cancelled": 5, "notices": 5}

    report = deliver([n.id for n in recorded])
    assert report.sent == 5 and report.skipped == 0
    # Push: each device of the owner, the same Topic and tag as the ask's push, no buttons.
    new_pushes = push.received[push_before:]
    assert len(new_pushes) == 3  # two devices of one owner, one of another
    for subscriber, owner in ((on_phone, push_owner), (on_tablet, push_owner), (both, both_owner)):
        ask = by_owner[owner.id]
        first, notice = push.messages_for(subscriber)
        assert notice.topic == first.topic == f"ask{ask.id}-request"
        assert notice.payload["tag"] == first.payload["tag"] == f"ask-{ask.id}"
        assert notice.payload["type"] == "footage_request_closed" and notice.payload["kind"] == "withdrawn"
        assert notice.payload["title"] == "Withdrawn: Riverside Police Department's request for footage"
        assert ask.camera_label in notice.payload["body"] and "2026-00913" in notice.payload["body"]
        assert notice.payload["actions"] == {} and notice.payload["url"] == "http://porchlight.test/#/inbox"
        assert notice.urgency == "normal"
        assert push.mailbox(subscriber) == [notice]  # it replaces the request on the device
    assert len(push.messages_for(declined)) == 1  # answered "declined": told nothing more
    # SMS: plainly, in GSM-7 and within two segments.
    new_texts = {m.to: m.body for m in twilio.messages[sms_before:]}
    assert set(new_texts) == {sms_owner.phone, both_owner.phone, approved_owner.phone}
    for owner in (sms_owner, both_owner, approved_owner):
        ask, body = by_owner[owner.id], new_texts[owner.phone]
        assert body.startswith(f"Porchlight: Riverside Police Department withdrew its request {ask.reply_code} ")
        assert f'"{ask.camera_label}"' in body and "case 2026-00913" in body and body.endswith("No need to reply.")
        assert messages.sms_segments(body) <= 2 and messages.sms_plain(body) == body
    assert "upload link no longer works" in new_texts[approved_owner.phone]
    assert "upload link" not in new_texts[sms_owner.phone]

    # The inbox shows it withdrawn, with when.
    inbox = signed_in(peers_app, sms_owner).get("/api/asks").json
    (item,) = inbox
    assert item["state"] == "cancelled" and item["closed_at"] and item["actions"] == []
    assert item["closed_at"] == db.session.get(Ask, by_owner[sms_owner.id].id).closed_at.isoformat()


def test_an_expired_request_tells_them_too_replacing_the_latest_message(peers_app, pworld, push, twilio):
    t0 = utcnow()
    subscriber = push.new_subscriber()
    push_owner = scenario.owner(subscription=subscriber.subscription())
    sms_owner = scenario.owner(phone=scenario.phone_number())
    no_footage_owner = scenario.owner(phone=scenario.phone_number())
    request, asks, ids = scenario.issue(pworld.agency, [push_owner, sms_owner, no_footage_owner], now=t0)
    assert deliver(ids, t0).sent == 3
    answered(asks[2], AskState.NO_FOOTAGE)
    # A reminder went out by push: the notice replaces it (its Topic), not the first message.
    reminder = service.record_reminders([(asks[0].id, push_owner.id)], t0 + timedelta(hours=60))
    db.session.commit()
    assert deliver(reminder, t0 + timedelta(hours=60)).sent == 1

    assert lifecycle.expire_due_requests(t0 + timedelta(hours=73)) == 1
    recorded = notices()
    assert {(n.ask_id, n.channel, n.kind) for n in recorded} == {
        (asks[0].id, Channel.PUSH, NotificationKind.EXPIRED), (asks[1].id, Channel.SMS, NotificationKind.EXPIRED)}
    assert deliver([n.id for n in recorded], t0 + timedelta(hours=73)).sent == 2

    first, reminded, notice = push.messages_for(subscriber)
    assert notice.topic == reminded.topic == f"ask{asks[0].id}-reminder" != first.topic
    assert notice.payload["kind"] == "expired" and notice.payload["title"].startswith("Expired: ")
    assert notice.payload["tag"] == f"ask-{asks[0].id}" and notice.ttl == messages.NOTICE_TTL_SECONDS
    texts = twilio.to(sms_owner.phone)
    assert len(texts) == 2 and texts[1].body.startswith(
        f"Porchlight: The request {asks[1].reply_code} from Riverside Police Department ")
    assert "has expired" in texts[1].body and texts[1].body.endswith("No need to reply.")
    assert len(twilio.to(no_footage_owner.phone)) == 1  # answered: told nothing more
    inbox = signed_in(peers_app, push_owner).get("/api/asks").json
    assert [(a["state"], bool(a["closed_at"])) for a in inbox] == [("expired", True)]


def test_owners_never_reached_or_reached_no_longer_get_nothing(peers_app, pworld, push, twilio):
    queued_owner = scenario.owner(phone=scenario.phone_number())  # the request went before the worker did
    stopped_owner = scenario.owner(phone=scenario.phone_number())
    gone = push.new_subscriber()
    gone_owner = scenario.owner(subscription=gone.subscription())
    request, asks, ids = scenario.issue(pworld.agency, [queued_owner, stopped_owner, gone_owner])
    # The asks come in the matcher's order, not the owners': pair them by owner.
    ask_of = {ask.owner_id: ask.id for ask in asks}
    queued = list(db.session.scalars(sa.select(Notification.id).where(
        Notification.ask_id == ask_of[queued_owner.id])))
    assert deliver([i for i in ids if i not in queued]).sent == 2
    db.session.add(SmsOptOut(phone=stopped_owner.phone))  # texted STOP since
    gone.status = 410  # the browser unsubscribed since
    db.session.commit()
    cancel(peers_app, pworld.supervisor, request.id)
    recorded = notices()
    # The queued owner's message never went out: nothing to take back.
    assert {n.ask_id for n in recorded} == {ask_of[stopped_owner.id], ask_of[gone_owner.id]}
    texts_before = len(twilio.messages)
    report = deliver([n.id for n in recorded] + queued)
    assert report.sent == 0 and report.skipped == 3
    assert len(twilio.messages) == texts_before
    assert not twilio.to(queued_owner.phone)


def test_a_notice_follows_only_a_message_that_got_through(peers_app, pworld, push, twilio):
    owner = scenario.owner(phone=scenario.phone_number())
    request, (ask,), ids = scenario.issue(pworld.agency, [owner])
    now = utcnow()
    # A worker had claimed the request SMS when the request was withdrawn...
    assert delivery.claim(ids, now) == ids
    cancel(peers_app, pworld.supervisor, request.id)
    (notice,) = notices()
    # ...and its Twilio call failed for good: the owner never heard of the request.
    db.session.execute(sa.update(Notification).where(Notification.id == ids[0])
                       .values(status=DeliveryStatus.FAILED))
    db.session.commit()
    assert deliver([notice.id]).skipped == 1
    assert twilio.messages == []


def test_a_notice_waits_for_the_message_it_follows(peers_app, pworld, push, twilio):
    owner = scenario.owner(phone=scenario.phone_number())
    request, (ask,), ids = scenario.issue(pworld.agency, [owner])
    # A worker holds the request SMS on the wire when the request is withdrawn.
    assert delivery.claim(ids, utcnow()) == ids
    cancel(peers_app, pworld.supervisor, request.id)
    (notice,) = notices()
    t1 = utcnow()
    report = deliver([notice.id], t1)
    assert report.retried == 1 and report.sent == 0
    (notice,) = notices()
    assert notice.status == DeliveryStatus.PENDING and "still being sent" in notice.last_error
    # It got through: the notice follows on the next try.
    db.session.execute(sa.update(Notification).where(Notification.id == ids[0])
                       .values(status=DeliveryStatus.SENT, sent_at=t1))
    db.session.commit()
    assert deliver([notice.id], t1 + timedelta(seconds=30)).sent == 1
    (text,) = twilio.to(owner.phone)
    assert "withdrew its request" in text.body


def test_a_retried_notice_is_sent_once(peers_app, pworld, push, twilio):
    subscriber = push.new_subscriber()
    owner = scenario.owner(phone=scenario.phone_number(), subscription=subscriber.subscription())
    request, (ask,), ids = scenario.issue(pworld.agency, [owner])
    t0 = utcnow()
    assert deliver(ids, t0).sent == 1
    escalation = service.record_escalations([(ask.id, owner.id)], t0)
    db.session.commit()
    assert deliver(escalation, t0).sent == 1
    cancel(peers_app, pworld.supervisor, request.id)
    notice_ids = [n.id for n in notices()]
    subscriber.status = 503
    twilio.fail_next(500, 20500)
    t1 = utcnow()
    report = deliver(notice_ids, t1)
    assert report.retried == 2
    assert {(n.status, n.attempts) for n in notices()} == {(DeliveryStatus.PENDING, 1)}
    subscriber.status = 201
    assert deliver(notice_ids, t1 + timedelta(seconds=30)).sent == 2
    # A second worker given the same ids, and the scheduler's catch-up: nothing more.
    assert deliver(notice_ids, t1 + timedelta(minutes=5)).claimed == 0
    assert delivery.due_ids(t1 + timedelta(hours=1), timedelta(0)) == []
    assert len([m for m in push.messages_for(subscriber) if m.payload.get("kind") == "withdrawn"]) == 1
    assert len(twilio.to(owner.phone)) == 2  # the escalation and one notice
    # Recording again (a replayed close) adds no row: unique per ask, channel and kind.

    assert dispatcher.record_withdrawn([ask.id]) == []


def test_notice_texts_stay_within_two_segments_with_long_labels(peers_app, pworld):
    owner = scenario.owner(phone=scenario.phone_number())
    request = scenario.request(pworld.agency, case_number="2026-000000123456")
    ask = scenario.ask(request, owner, label="The camera over the back gate by the alley, facing north " * 2)
    ask.responded_at = utcnow()
    for kind in NOTICES:
        body = messages.notice_sms_text(kind, ask, request, pworld.agency)
        assert messages.sms_segments(body) <= 2, body
        assert "upload link no longer works" in body and body.endswith("No need to reply.")


# --- the order of an owner's channels ----------------------------------------------------------

def test_owners_set_the_order_of_their_channels(app, world, as_owner, as_officer):
    assert as_owner.get("/api/auth/me").json["channel_order"] == ["push", "sms", "email"]
    r = as_owner.patch("/api/auth/me", json={"channel_order": ["sms", "email", "push"]})
    assert r.status_code == 200, r.json
    assert r.json["channel_order"] == ["sms", "email", "push"]
    assert as_owner.get("/api/auth/me").json["channel_order"] == ["sms", "email", "push"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.profile_updated"))
    assert event.details == {"changed": ["channel_order"]}
    # The other settings leave it as it is.
    assert as_owner.patch("/api/auth/me", json={"notify_push": False}).json["channel_order"] == ["sms", "email", "push"]


@pytest.mark.parametrize("order", [["push", "push", "sms"], ["push", "sms"], ["push", "fax", "sms"],
                                   ["push", "sms", "email", "push"], "push,sms,email", [1, 2, 3], None, []])
def test_a_bad_order_is_refused_naming_the_field(app, world, as_owner, order):
    r = as_owner.patch("/api/auth/me", json={"channel_order": order})
    assert r.status_code == 422, r.json
    # The list, or the item of it ("channel_order.1") that is no channel.
    assert {name.split(".")[0] for name in r.json["error"]["fields"]} == {"channel_order"}
    assert as_owner.get("/api/auth/me").json["channel_order"] == ["push", "sms", "email"]


def test_only_owners_order_channels(app, world, as_officer):
    r = as_officer.patch("/api/auth/me", json={"channel_order": ["sms", "push", "email"]})
    assert r.status_code == 403 and "channel_order" in r.json["error"]["fields"]


def set_order(owner, *channels):
    owner.channel_order = ",".join(channels)
    db.session.commit()


def test_the_order_decides_the_first_channel_and_where_escalation_goes(peers_app, pworld, push, twilio):
    factories.policy(pworld.agency, escalation_minutes=30)
    t0 = utcnow()
    push_first = scenario.owner(phone=scenario.phone_number(), subscription=push.new_subscriber().subscription())
    sms_first = scenario.owner(phone=scenario.phone_number(), subscription=push.new_subscriber().subscription())
    set_order(sms_first, "sms", "email", "push")
    # SMS first in the order, but no verified number: push, the first that reaches them.
    push_only = scenario.owner(subscription=push.new_subscriber().subscription())
    set_order(push_only, "sms", "push", "email")
    _, asks, ids = scenario.issue(pworld.agency, [push_first, sms_first, push_only], now=t0)
    first = {n.ask_id: n.channel for n in notices_of(NotificationKind.REQUEST)}
    assert first == {asks[0].id: Channel.PUSH, asks[1].id: Channel.SMS, asks[2].id: Channel.PUSH}
    assert deliver(ids, t0).sent == 3
    assert len(twilio.to(sms_first.phone)) == 1 and not twilio.to(push_first.phone)

    assert followups.schedule_escalations(t0 + timedelta(minutes=29)) == []
    escalations = followups.schedule_escalations(t0 + timedelta(minutes=30))
    # The next channel of each order that reaches the owner; the push-only owner has none left.
    got = {n.ask_id: n.channel for n in notices_of(NotificationKind.ESCALATION)}
    assert got == {asks[0].id: Channel.SMS, asks[1].id: Channel.PUSH}
    assert deliver(escalations, t0 + timedelta(minutes=30)).sent == 2
    assert len(twilio.to(push_first.phone)) == 1
    assert followups.schedule_escalations(t0 + timedelta(hours=2)) == []  # every reachable channel tried


def test_a_first_message_that_reaches_nobody_moves_to_the_next_channel_at_once(peers_app, pworld, push, twilio):
    subscriber = push.new_subscriber()
    owner = scenario.owner(phone=scenario.phone_number(), subscription=subscriber.subscription())
    set_order(owner, "sms", "push", "email")
    _, (ask,), ids = scenario.issue(pworld.agency, [owner])
    db.session.add(SmsOptOut(phone=owner.phone))  # texted STOP before the worker got to it
    db.session.commit()
    report = deliver(ids)
    assert report.skipped == 1 and report.follow_up
    assert deliver(report.follow_up).sent == 1
    assert [m.payload["kind"] for m in push.messages_for(subscriber)] == ["escalation"]
    assert twilio.messages == []
    assert db.session.get(Ask, ask.id).state == AskState.NOTIFIED


def notices_of(kind):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                                   .order_by(Notification.id)))


# --- e-mail ------------------------------------------------------------------------------------------

def email_owner(**kw):
    return scenario.owner(notify_email=True, **kw)


def test_a_withdrawn_request_reaches_email_owners_in_the_asks_thread(peers_app, pworld, smtp):
    reader, approver, declined_reader = email_owner(), email_owner(), email_owner()
    request, asks, ids = scenario.issue(pworld.agency, [reader, approver, declined_reader], pworld.officer,
                                        case_number="2026-00555")
    assert deliver(ids).sent == 3
    smtp.wait_for(3)
    answered(asks[1], AskState.APPROVED)
    answered(asks[2], AskState.DECLINED)
    cancel(peers_app, pworld.officer, request.id)
    recorded = notices()
    assert {(n.ask_id, n.channel) for n in recorded} == {(asks[0].id, Channel.EMAIL), (asks[1].id, Channel.EMAIL)}
    assert deliver([n.id for n in recorded]).sent == 2
    smtp.wait_for(5)
    for owner, ask in ((reader, asks[0]), (approver, asks[1])):
        earlier, notice = smtp.to(owner.email)
        message = notice.message
        # In the ask's thread: a reply to the request's Message-ID, with its own.
        assert message["In-Reply-To"] == message["References"] == earlier.message["Message-ID"]
        assert message["Message-ID"] == ask_mail.message_id(ask.id, "withdrawn") != earlier.message["Message-ID"]
        assert message["Subject"] == f'Withdrawn: {earlier.message["Subject"]}'
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = notice.text, notice.html
        assert text.startswith(f'Riverside Police Department withdrew its request for footage from your camera '
                               f'"{ask.camera_label}".')
        assert "case 2026-00555" in text and "No need to reply" in text
        assert html and "withdrew its request" in html and "<img" not in html and 'lang="en"' in html
    assert "upload link no longer works" in smtp.to(approver.email)[1].text
    assert "upload link" not in smtp.to(reader.email)[1].text
    assert len(smtp.to(declined_reader.email)) == 1  # answered "declined": told nothing more


def test_an_expired_request_is_told_by_email_too(peers_app, pworld, smtp):
    t0 = utcnow()
    owner = email_owner()
    _, (ask,), ids = scenario.issue(pworld.agency, [owner], now=t0)
    assert deliver(ids, t0).sent == 1
    assert lifecycle.expire_due_requests(t0 + timedelta(hours=73)) == 1
    (notice,) = notices()
    assert (notice.channel, notice.kind) == (Channel.EMAIL, NotificationKind.EXPIRED)
    assert deliver([notice.id], t0 + timedelta(hours=73)).sent == 1
    request_mail, expired = smtp.wait_for(2)
    assert expired.message["Subject"].startswith("Expired: ")
    assert "has expired" in expired.text and expired.message["In-Reply-To"] == request_mail.message["Message-ID"]


def test_the_order_covers_email(peers_app, pworld, push, twilio, smtp):
    factories.policy(pworld.agency, escalation_minutes=30)
    t0 = utcnow()
    email_first = email_owner(phone=scenario.phone_number(), subscription=push.new_subscriber().subscription())
    set_order(email_first, "email", "push", "sms")
    sms_then_email = email_owner(phone=scenario.phone_number())
    only_email = email_owner()
    set_order(only_email, "sms", "push", "email")
    _, asks, ids = scenario.issue(pworld.agency, [email_first, sms_then_email, only_email], now=t0)
    assert {n.ask_id: n.channel for n in notices_of(NotificationKind.REQUEST)} == {
        asks[0].id: Channel.EMAIL, asks[1].id: Channel.SMS, asks[2].id: Channel.EMAIL}
    assert deliver(ids, t0).sent == 3
    escalations = followups.schedule_escalations(t0 + timedelta(minutes=30))
    assert {n.ask_id: n.channel for n in notices_of(NotificationKind.ESCALATION)} == {
        asks[0].id: Channel.PUSH, asks[1].id: Channel.EMAIL}
    assert deliver(escalations, t0 + timedelta(minutes=30)).sent == 2
    # Then the last channel of the first owner's order; nothing is left for the others.
    later = followups.schedule_escalations(t0 + timedelta(minutes=60))
    assert [(n.ask_id, n.channel) for n in notices_of(NotificationKind.ESCALATION) if n.id in later] == [
        (asks[0].id, Channel.SMS)]
    assert followups.schedule_escalations(t0 + timedelta(hours=2)) == []
    assert len(smtp.wait_for(3)) == 3


def test_an_owner_who_turned_email_off_since_gets_no_email_notice(peers_app, pworld, smtp):
    owner = email_owner()
    request, (ask,), ids = scenario.issue(pworld.agency, [owner])
    assert deliver(ids).sent == 1
    smtp.wait_for(1)
    db.session.get(type(owner), owner.id).notify_email = False  # one-click unsubscribe, say
    db.session.commit()
    cancel(peers_app, pworld.supervisor, request.id)
    (notice,) = notices()
    assert deliver([notice.id]).skipped == 1
    assert len(smtp.received) == 1
