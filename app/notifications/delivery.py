"""Delivering notifications: the worker's side of the dispatcher.

A delivery is one Notification row (one message about one ask on one channel, or
one district invitation SMS to a member business):

    pending ──claim──▶ sending ──▶ sent
       ▲                  │ ├────▶ skipped   (nothing to send to, or the ask was answered)
       └── retry (backoff)┘ └────▶ failed    (after NOTIFICATION_MAX_ATTEMPTS)

A worker claims rows with one guarded UPDATE (only ``pending`` rows that are due become
``sending``), so two workers given the same ids never both send. Sending happens in a
thread pool with no database work; each batch's outcomes are written back in one
transaction, again guarded by the claim, while the next batch is already sending.
Marking the asks ``notified`` (one audited transition each) waits until no sending
does. A worker that dies leaves ``sending`` rows, which
:func:`recover_stale` returns to ``pending`` after NOTIFICATION_CLAIM_TIMEOUT_SECONDS:

- push: sent again with the same Web Push ``Topic``, which replaces an undelivered
  copy at the push service (and the same notification ``tag`` on the device);
- SMS: an SmsMessage row (unique per notification) is written *before* calling Twilio
  and gets the provider SID after. A resend first looks at that row: with a SID it was
  sent; without one Twilio is asked whether it has the message (same number and body)
  before anything is sent again.
- e-mail: a MailMessage row (unique per notification) is written ``sending`` before the
  SMTP server is called and becomes ``sent`` (or ``failed``, with the server's refusal)
  after. A row already ``sent`` is not sent again; one left ``sending`` is, with the same
  Message-ID, which mail clients take as the same message. A permanent refusal (5xx) is
  ``failed`` at once; a temporary one (4xx, no connection) is retried with backoff. The
  e-mails go over the mailer's pooled connections (app/notifications/mail.py).

A notice that the request ended (withdrawn, expired; app/notifications/notices.py) is
the one message sent about a closed ask; it goes only where an earlier message about
the ask was sent on the same channel; a push notice takes that message's Topic, an
e-mail notice replies in the ask's thread.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Bundle, contains_eager

from app import links
from app.accounts.models import User
from app.agencies.models import Agency, District
from app.common.settings import setting
from app.db import utcnow
from app.districts.models import DistrictMember
from app.enrollment.models import EnrollmentCode
from app.extensions import db
from app.footage import asks as ask_states
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, RequestStatus
from app.i18n import DEFAULT, in_language
from app.notifications import ask_mail, mail, messages, notices, service, sms, webpush
from app.notifications.models import (
    FATE_KINDS,
    FOLLOW_UP_KINDS,
    NOTICE_KINDS,
    Channel,
    DeliveryStatus,
    MailMessage,
    Notification,
    NotificationKind,
    PushSubscription,
    SmsDirection,
    SmsMessage,
    SmsOptOut,
)
from app.sql import chunks, dialect

log = logging.getLogger(__name__)

# The first message about an ask moves it from queued to notified.
FIRST_MESSAGES = service.FIRST_MESSAGES


def backoff(attempts: int) -> timedelta:
    """How long after the ``attempts``-th failed attempt the next one is due: doubling, capped."""
    seconds = setting("NOTIFICATION_RETRY_BASE_SECONDS") * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, setting("NOTIFICATION_RETRY_MAX_SECONDS")))


# --- resources a worker keeps between batches ---------------------------------------------

class Resources:
    """A pooled push client and the sending threads; one set per worker process (the app
    keeps its mailer, with its pooled SMTP connections, itself: app/notifications/mail.py)."""

    def __init__(self, app: Flask) -> None:
        size = int(app.config["NOTIFICATION_CONCURRENCY"])
        self.push = webpush.PushClient(app, pool_size=size)
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="porchlight-send")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.push.close()


_shared: dict[int, Resources] = {}


@contextmanager
def shared_resources(app: Flask) -> Iterator[Resources]:
    """Keep one set of resources for every batch this process delivers (a long-running worker)."""
    resources = Resources(app)
    _shared[id(app)] = resources
    try:
        yield resources
    finally:
        _shared.pop(id(app), None)
        resources.close()


@contextmanager
def _resources_for(app: Flask) -> Iterator[Resources]:
    shared = _shared.get(id(app))
    if shared is not None:
        yield shared
        return
    resources = Resources(app)
    try:
        yield resources
    finally:
        resources.close()


# --- one batch ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    status: DeliveryStatus | None = None  # None: retry
    error: str | None = None


@dataclass
class Item:
    """What the outcome of one claimed notification needs, as plain values.

    Batches overlap (the next one is claimed while this one sends), and every commit
    expires ORM objects: nothing here may depend on them after preparation.
    """

    id: int
    channel: Channel
    kind: NotificationKind
    attempts: int
    ask_id: int | None  # None for a district invitation
    ask_state: AskState | None
    owner_id: int | None
    member_id: int | None = None  # the district member an invitation goes to
    outcome: Outcome | None = None
    sms_row_id: int | None = None
    sms_to: str | None = None
    mail_row_id: int | None = None
    futures: list[Future] = field(default_factory=list)


@dataclass
class Batch:
    items: list[Item]
    claim_time: datetime


@dataclass
class Report:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    follow_up: list[int] = field(default_factory=list)  # new notifications to enqueue (SMS fallbacks)
    reached: list[int] = field(default_factory=list)  # asks whose first message went out


def claim(ids: Sequence[int], now: datetime) -> list[int]:
    """pending → sending for the due rows among ``ids``; returns the ids this worker now holds."""
    if not ids:
        return []
    claimed = list(db.session.scalars(
        sa.update(Notification)
        .where(Notification.id.in_(ids), Notification.status == DeliveryStatus.PENDING, Notification.due_at <= now)
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Notification.attempts + 1)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)))
    db.session.commit()
    return claimed


def deliver(ids: Sequence[int], now: datetime | None = None, *, mark_asks: bool = True) -> Report:
    """Claim, send and record the notifications ``ids`` (those still pending and due).

    Batches of NOTIFICATION_BATCH_SIZE overlap: the next batch is claimed and prepared
    while the previous one is on the wire. Then the asks that got their first message
    become ``notified`` — unless ``mark_asks`` is false: workers leave that (an audited
    transition per ask, the slow part) to :func:`mark_asks_notified` when no sending
    waits, so a fan-out is not held up by its own bookkeeping. The scheduler's tick
    catches up any ask left behind.
    """
    app = current_app._get_current_object()
    now = now or utcnow()
    report = Report()
    if not ids:
        return report
    size = setting("NOTIFICATION_BATCH_SIZE")
    with _resources_for(app) as resources:
        in_flight: Batch | None = None
        for batch_ids in chunks(ids, size):
            claimed = claim(batch_ids, now)
            batch = _start(claimed, now, resources) if claimed else None
            report.claimed += len(claimed)
            if in_flight is not None:
                _finish(in_flight, now, report)
            in_flight = batch
        if in_flight is not None:
            _finish(in_flight, now, report)
    if mark_asks:
        mark_asks_notified(report.reached)
        report.reached = []
    return report


_NOTIFICATION = Bundle("notification", Notification.id, Notification.kind, Notification.channel,
                       Notification.attempts)
_OWNER = Bundle("owner", User.id, User.language, User.email, User.phone)


def _start(claimed: list[int], now: datetime, resources: Resources) -> Batch:
    """Read the claimed rows, decide what to send, and hand the sending to the thread pool."""
    # The notification and its owner as the few columns sending needs, not as ORM objects (a
    # User is some thirty columns): 0.08 ms a message on SQLite instead of 0.23, more than the
    # message's encryption.
    rows = [(n, ask, request, agency, user if user.id is not None else None) for n, ask, request, agency, user
            in db.session.execute(
                sa.select(_NOTIFICATION, Ask, FootageRequest, Agency, _OWNER)
                .join(Ask, Ask.id == Notification.ask_id)
                .join(FootageRequest, FootageRequest.id == Ask.request_id)
                .join(Agency, Agency.id == FootageRequest.agency_id)
                .outerjoin(User, User.id == Notification.user_id)
                .where(Notification.id.in_(claimed))
                .order_by(Notification.id)
                # ask.request is the request of the same row (its signed links read its expiry),
                # not a lazy load per ask.
                .options(contains_eager(Ask.request)))]
    channels = service.channels_for({user.id for *_, user in rows if user is not None})
    notice_asks = [ask.id for n, ask, *_ in rows if n.kind in FOLLOW_UP_KINDS]
    earlier, on_the_wire = notices.earlier(notice_asks) if notice_asks else ({}, set())
    subscriptions: dict[int, list[sa.Row]] = defaultdict(list)
    push_users = [user.id for n, *_, user in rows if n.channel == Channel.PUSH and user is not None]
    if push_users:
        for sub in db.session.execute(
                sa.select(PushSubscription.id, PushSubscription.user_id, PushSubscription.endpoint,
                          PushSubscription.p256dh, PushSubscription.auth)
                .where(PushSubscription.user_id.in_(push_users)).order_by(PushSubscription.id)):
            subscriptions[sub.user_id].append(sub)

    items: list[Item] = []
    sms_work: list[tuple[Item, str, str]] = []
    email_work: list[tuple[Item, mail.Mail]] = []
    invitations = sorted(set(claimed) - {n.id for n, *_ in rows})
    if invitations:
        _start_invitations(invitations, items, sms_work, now)
    to_build = []
    for n, ask, request, agency, user in rows:
        item = Item(n.id, n.channel, n.kind, n.attempts, ask.id, ask.state, ask.owner_id)
        items.append(item)
        item.outcome = _precheck(n, ask, request, user, channels, subscriptions, earlier, on_the_wire)
        if item.outcome is None:
            to_build.append((n, ask, request, agency, user, item))
    # In the owner's language (English for one who chose none: there is no browser to follow),
    # switched once per language of the batch, and each request's window worded once in it.
    to_build.sort(key=lambda row: row[4].language or DEFAULT)
    for language, group in itertools.groupby(to_build, key=lambda row: row[4].language or DEFAULT):
        windows: dict[int, str] = {}
        with in_language(language):
            for n, ask, request, agency, user, item in group:
                window = windows.get(request.id) or windows.setdefault(request.id,
                                                                       messages.window_text(request, agency))
                _build(n, ask, request, agency, user, item, now, resources, subscriptions, earlier, sms_work,
                       email_work, window)
    _start_sms(sms_work, resources)
    _start_email(email_work, resources)
    return Batch(items, now)


def _build(n: sa.Row, ask: Ask, request: FootageRequest, agency: Agency, user: sa.Row, item: Item,
           now: datetime, resources: Resources, subscriptions: dict[int, list[sa.Row]],
           earlier: dict[tuple[int, Channel], NotificationKind], sms_work: list[tuple[Item, str, str]],
           email_work: list[tuple[Item, mail.Mail]], window: str) -> None:
    """One claimed row's message, built and handed to the pool (push) or queued (SMS, e-mail)."""
    notice = n.kind in NOTICE_KINDS
    if n.kind in FATE_KINDS:
        _build_fate(n, ask, request, agency, user, item, resources, subscriptions, sms_work, email_work)
    elif n.channel == Channel.PUSH:
        if notice:
            # The earlier push's Topic: an undelivered copy of it is replaced at the push service.
            data = messages.notice_push_payload(n.kind, ask, request, agency)
            ttl, urgency = messages.NOTICE_TTL_SECONDS, "normal"
            topic = messages.push_topic(ask.id, earlier[(ask.id, Channel.PUSH)])
        else:
            data = messages.push_payload(n.kind, ask, request, agency, window)
            ttl = int(((request.expires_at or now + timedelta(days=3)) - now).total_seconds())
            # A fresh request, an escalation or a last reminder is worth waking the phone for.
            urgency, topic = "high", messages.push_topic(ask.id, n.kind)
        for sub in subscriptions[user.id]:
            message = webpush.PushMessage(sub.id, sub.endpoint, sub.p256dh, sub.auth, data, ttl, urgency, topic)
            item.futures.append(resources.pool.submit(resources.push.send, message))
    elif n.channel == Channel.EMAIL:
        letter = ask_mail.notice_mail if notice else ask_mail.ask_mail
        email_work.append((item, letter(n.kind, ask, request, agency, user.email)))
    else:
        text = messages.notice_sms_text if notice else messages.sms_text
        sms_work.append((item, user.phone, text(n.kind, ask, request, agency)))


def _build_fate(n: sa.Row, ask: Ask, request: FootageRequest, agency: Agency, user: sa.Row, item: Item,
                resources: Resources, subscriptions: dict[int, list[sa.Row]],
                sms_work: list[tuple[Item, str, str]], email_work: list[tuple[Item, mail.Mail]]) -> None:
    """What happened to the owner's clip (app/clips): a push of its own, an SMS, an e-mail in the ask's thread."""
    if n.channel == Channel.PUSH:
        data = messages.fate_push_payload(n.kind, ask, request, agency)
        topic = messages.push_topic(ask.id, n.kind)
        for sub in subscriptions[user.id]:
            message = webpush.PushMessage(sub.id, sub.endpoint, sub.p256dh, sub.auth, data,
                                          messages.NOTICE_TTL_SECONDS * 7, "low", topic)
            item.futures.append(resources.pool.submit(resources.push.send, message))
    elif n.channel == Channel.EMAIL:
        email_work.append((item, ask_mail.fate_mail(n.kind, ask, request, agency, user.email)))
    else:
        sms_work.append((item, user.phone, messages.fate_sms_text(n.kind, ask, request, agency)))


def _start_invitations(ids: list[int], items: list[Item], sms_work: list[tuple[Item, str, str]],
                       now: datetime) -> None:
    """District invitations among the claimed rows: SMS to members not enrolled, not opted out."""
    rows = db.session.execute(
        sa.select(Notification, DistrictMember, EnrollmentCode, District, Agency)
        .join(DistrictMember, DistrictMember.id == Notification.district_member_id)
        .join(District, District.id == DistrictMember.district_id)
        .join(Agency, Agency.id == District.agency_id)
        .outerjoin(EnrollmentCode, EnrollmentCode.id == DistrictMember.enrollment_code_id)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
    ).all()
    phones = {member.phone for _, member, *_ in rows if member.phone}
    opted_out = (set(db.session.scalars(sa.select(SmsOptOut.phone).where(SmsOptOut.phone.in_(phones))))
                 if phones else set())
    for n, member, code, district, agency in rows:
        item = Item(n.id, n.channel, n.kind, n.attempts, None, None, None, member_id=member.id)
        items.append(item)
        if member.owner_id is not None:
            item.outcome = Outcome(DeliveryStatus.SKIPPED, "the member has enrolled")
        elif not member.phone:
            item.outcome = Outcome(DeliveryStatus.SKIPPED, "the member has no mobile number")
        elif member.phone in opted_out:
            item.outcome = Outcome(DeliveryStatus.SKIPPED, "the number texted STOP")
        elif code is None or code.status(now) != "active":
            item.outcome = Outcome(DeliveryStatus.SKIPPED, "the member's enrollment code is no longer usable")
        else:
            sms_work.append((item, member.phone, messages.invitation_sms_text(member, code, district, agency)))


def _precheck(n: sa.Row, ask: Ask, request: FootageRequest, user: sa.Row | None,
              channels: dict[int, set[Channel]], subscriptions,
              earlier: dict[tuple[int, Channel], NotificationKind],
              on_the_wire: set[tuple[int, Channel]]) -> Outcome | None:
    """An outcome decided without sending (skip, or retry later), or None to send."""
    if n.kind in FOLLOW_UP_KINDS:
        # Notices (about closed asks) and a clip's fate follow only a message that got through.
        if (ask.id, n.channel) not in earlier:
            if (ask.id, n.channel) in on_the_wire:
                return Outcome(None, "the message it follows is still being sent")
            return Outcome(DeliveryStatus.SKIPPED, f"no message about the ask was sent by {n.channel.value}")
    elif ask.state not in OPEN_ASK_STATES or request.status != RequestStatus.ACTIVE:
        return Outcome(DeliveryStatus.SKIPPED, f"ask {ask.state.value}, request {request.status.value}")
    if user is None or n.channel not in channels.get(user.id, set()):
        return Outcome(DeliveryStatus.SKIPPED, f"owner has no {n.channel.value} channel now")
    if n.channel == Channel.PUSH and not subscriptions.get(user.id):
        return Outcome(DeliveryStatus.SKIPPED, "no push subscription")
    return None


# --- SMS ---------------------------------------------------------------------------------------

@dataclass
class SmsAttempt:
    sent: sms.Sent | None = None
    error: sms.SendError | None = None


def _status_callback(row_id: int) -> str | None:
    # Twilio can only call back a public address; the row id links a callback that
    # arrives before the SID is stored.
    return links.absolute_url(f"/api/sms/status-callback?m={row_id}") if links.reachable_from_internet() else None


def _start_sms(work: list[tuple[Item, str, str]], resources: Resources) -> None:
    """Write each message's SmsMessage row before anything is sent, then send."""
    if not work:
        return
    gateway = sms.gateway(current_app._get_current_object())
    existing = {row.notification_id: row for row in db.session.scalars(
        sa.select(SmsMessage).where(SmsMessage.notification_id.in_([item.id for item, _, _ in work])))}
    to_send: list[tuple[Item, SmsMessage, bool]] = []
    for item, phone, body in work:
        row = existing.get(item.id)
        if row is not None and (row.provider_sid or row.status not in ("sending", "failed")):
            item.outcome = Outcome(DeliveryStatus.SENT)  # sent by an earlier attempt that died before recording it
            continue
        if gateway.mode == sms.OUTBOX:
            # Nothing leaves the machine: the row, committed with the outcome, is the message.
            gateway.send(phone, body, ref=f"notification {item.id}")
            if row is None:
                db.session.add(_sms_row(item, phone, body, sms.OUTBOX))
            else:
                row.status = sms.OUTBOX
            item.outcome = Outcome(DeliveryStatus.SENT)
            continue
        reconcile = row is not None and row.status == "sending"
        if row is None:
            row = _sms_row(item, phone, body, "sending")
            db.session.add(row)
        row.status = "sending"
        to_send.append((item, row, reconcile))
    db.session.flush()
    jobs = [(item, row.id, row.to_number, row.body, row.created_at if reconcile else None)
            for item, row, reconcile in to_send]
    db.session.commit()  # the write-ahead rows exist before any request reaches Twilio

    def attempt(to: str, body: str, callback: str | None, since: datetime | None) -> SmsAttempt:
        try:
            if since is not None:
                found = gateway.find_sent(to, body, since)
                if found is not None:
                    return SmsAttempt(sent=found)
            return SmsAttempt(sent=gateway.send(to, body, callback))
        except sms.SendError as exc:
            return SmsAttempt(error=exc)

    for item, row_id, to, body, since in jobs:
        item.sms_row_id, item.sms_to = row_id, to
        item.futures.append(resources.pool.submit(attempt, to, body, _status_callback(row_id), since))


def _sms_row(item: Item, phone: str, body: str, status: str) -> SmsMessage:
    return SmsMessage(user_id=item.owner_id, notification_id=item.id, direction=SmsDirection.OUTBOUND,
                      to_number=phone, body=body, status=status)


# --- e-mail ------------------------------------------------------------------------------------

@dataclass
class MailAttempt:
    sent: mail.Sent | None = None
    error: mail.SendError | None = None


def _start_email(work: list[tuple[Item, mail.Mail]], resources: Resources) -> None:
    """Write each e-mail's MailMessage row before anything is sent, then send over the pool."""
    if not work:
        return
    mailer = mail.mailer(current_app._get_current_object())
    existing = {row.notification_id: row for row in db.session.scalars(
        sa.select(MailMessage).where(MailMessage.notification_id.in_([item.id for item, _ in work])))}
    to_send: list[tuple[Item, MailMessage, mail.Mail]] = []
    for item, message in work:
        row = existing.get(item.id)
        if row is not None and row.status in (mail.OUTBOX, "sent"):
            item.outcome = Outcome(DeliveryStatus.SENT)  # sent by an earlier attempt that died before recording it
            continue
        if row is None:
            row = _mail_row(item, message)
            db.session.add(row)
        if mailer.mode == mail.OUTBOX:
            # Nothing leaves the machine: the row, committed with the outcome, is the message.
            row.status, row.error = mail.OUTBOX, None
            item.outcome = Outcome(DeliveryStatus.SENT)
            continue
        row.status = "sending"
        to_send.append((item, row, message))
    db.session.flush()
    jobs = [(item, row.id, message) for item, row, message in to_send]
    db.session.commit()  # the write-ahead rows exist before any byte reaches the server

    def attempt(message: mail.Mail) -> MailAttempt:
        try:
            return MailAttempt(sent=mailer.send(message))
        except mail.SendError as exc:
            return MailAttempt(error=exc)

    for item, row_id, message in jobs:
        item.mail_row_id = row_id
        item.futures.append(resources.pool.submit(attempt, message))


def _mail_row(item: Item, message: mail.Mail) -> MailMessage:
    return MailMessage(user_id=item.owner_id, notification_id=item.id, to_address=message.to,
                       subject=message.subject[:300], body_text=message.text, body_html=message.html,
                       message_id=(message.message_id or "")[:255], status="sending")


def _email_outcome(item: Item, attempt: MailAttempt) -> Outcome:
    rows = (sa.update(MailMessage).where(MailMessage.id == item.mail_row_id)
            .execution_options(synchronize_session=False))
    if attempt.sent is not None:
        db.session.execute(rows.values(status="sent", error=None, message_id=attempt.sent.message_id[:255]))
        return Outcome(DeliveryStatus.SENT)
    error = attempt.error
    # The refusal is kept on the message itself: what the server said, for whoever looks.
    db.session.execute(rows.values(status="failed", error=str(error)[:500]))
    return Outcome(None if error.retry else DeliveryStatus.FAILED, str(error))


# --- recording outcomes ----------------------------------------------------------------------

def _push_outcome(results: list[webpush.PushResult]) -> Outcome:
    if any(r.ok for r in results):
        return Outcome(DeliveryStatus.SENT)
    if all(r.gone for r in results):
        return Outcome(DeliveryStatus.SKIPPED, "every push subscription is gone (404/410)")
    errors = "; ".join(sorted({r.error or "?" for r in results}))[:500]
    if any(r.retry for r in results):
        return Outcome(None, errors)
    return Outcome(DeliveryStatus.FAILED, errors)


def _sms_outcome(item: Item, attempt: SmsAttempt, opt_outs: set[str]) -> Outcome:
    rows = sa.update(SmsMessage).where(SmsMessage.id == item.sms_row_id).execution_options(synchronize_session=False)
    if attempt.sent is not None:
        db.session.execute(rows.values(provider_sid=attempt.sent.sid, status=attempt.sent.status[:16],
                                       from_number=attempt.sent.from_number, updated_at=utcnow()))
        return Outcome(DeliveryStatus.SENT)
    error = attempt.error
    if error.accepted_unknown:
        return Outcome(None, str(error))  # the row stays 'sending': the retry asks Twilio first
    db.session.execute(rows.values(status="failed", error_code=str(error.code) if error.code is not None else None,
                                   updated_at=utcnow()))
    if error.unsubscribed:
        opt_outs.add(item.sms_to)
        return Outcome(DeliveryStatus.SKIPPED, "the number texted STOP (Twilio 21610)")
    return Outcome(None if error.retry else DeliveryStatus.FAILED, str(error))


def _finish(batch: Batch, now: datetime, report: Report) -> None:
    """Wait for the batch's sending and record every outcome in one transaction."""
    gone: set[int] = set()
    ok_subscriptions: set[int] = set()
    opt_outs: set[str] = set()
    max_attempts = setting("NOTIFICATION_MAX_ATTEMPTS")
    for item in batch.items:
        results = [future.result() for future in item.futures]
        if item.outcome is None and item.channel == Channel.PUSH:
            gone |= {r.subscription_id for r in results if r.gone}
            ok_subscriptions |= {r.subscription_id for r in results if r.ok}
            item.outcome = _push_outcome(results)
        elif item.outcome is None and item.channel == Channel.EMAIL:
            item.outcome = _email_outcome(item, results[0])
        elif item.outcome is None:
            item.outcome = _sms_outcome(item, results[0], opt_outs)
        if item.outcome.status is None and item.attempts >= max_attempts:
            error = f"gave up after {max_attempts} attempts: {item.outcome.error}"
            item.outcome = Outcome(DeliveryStatus.FAILED, error)

    claimed_by_us = [Notification.status == DeliveryStatus.SENDING, Notification.claimed_at == batch.claim_time]
    sent = [i.id for i in batch.items if i.outcome.status == DeliveryStatus.SENT]
    if sent:
        _update(sent, claimed_by_us, {"status": DeliveryStatus.SENT, "sent_at": now, "last_error": None})
    for item in batch.items:
        status, error = item.outcome.status, (item.outcome.error or "")[:500] or None
        if status is None:
            _update([item.id], claimed_by_us, {"status": DeliveryStatus.PENDING, "last_error": error,
                                               "due_at": now + backoff(item.attempts)})
        elif status != DeliveryStatus.SENT:
            _update([item.id], claimed_by_us, {"status": status, "last_error": error})
            log.info("notification %s (%s %s, ask %s) %s: %s", item.id, item.channel.value, item.kind.value,
                     item.ask_id, status.value, error)
    counts = defaultdict(int)
    for item in batch.items:
        counts[item.outcome.status] += 1
    report.sent += counts[DeliveryStatus.SENT]
    report.skipped += counts[DeliveryStatus.SKIPPED]
    report.failed += counts[DeliveryStatus.FAILED]
    report.retried += counts[None]

    if gone:
        log.info("removing %d push subscriptions the push service says are gone", len(gone))
        db.session.execute(sa.delete(PushSubscription).where(PushSubscription.id.in_(gone))
                           .execution_options(synchronize_session=False))
    if ok_subscriptions:
        db.session.execute(sa.update(PushSubscription).where(PushSubscription.id.in_(ok_subscriptions))
                           .values(last_success_at=now).execution_options(synchronize_session=False))
    for phone in opt_outs:
        service.record_opt_out(phone)
    invited = [i.member_id for i in batch.items if i.member_id is not None and i.outcome.status == DeliveryStatus.SENT]
    if invited:
        db.session.execute(sa.update(DistrictMember).where(DistrictMember.id.in_(invited)).values(sms_sent_at=now)
                           .execution_options(synchronize_session=False))
    report.reached += sorted({i.ask_id for i in batch.items if i.outcome.status == DeliveryStatus.SENT
                              and i.kind in FIRST_MESSAGES and i.ask_state == AskState.QUEUED})
    # A first message that reached nobody falls back to the owner's next channel at once
    # rather than after the escalation delay (record_escalations passes over closed asks).
    unreachable = [(i.ask_id, i.owner_id) for i in batch.items
                   if i.kind in FIRST_MESSAGES and i.owner_id is not None and i.ask_state in OPEN_ASK_STATES
                   and i.outcome.status in (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED)]
    if unreachable:
        report.follow_up += service.record_escalations(unreachable, now)
    db.session.commit()


def _update(ids: list[int], guard: list, values: dict) -> None:
    db.session.execute(sa.update(Notification).where(Notification.id.in_(ids), *guard).values(**values)
                       .execution_options(synchronize_session=False))


MARK_CHUNK = 25  # asks per transaction: short write locks, so owners and officers are not kept waiting
SQLITE_YIELD_SECONDS = 0.05


def mark_asks_notified(ask_ids: Sequence[int]) -> int:
    """queued → notified (audited) for these asks, whose first message went out; returns how many changed."""
    # SQLite has one write lock and its busy handler sleeps while it waits: without a
    # pause between chunks, a request that wants to write would wait for all of them.
    pause = SQLITE_YIELD_SECONDS if dialect() == "sqlite" else 0
    changed = 0
    ids = sorted(set(ask_ids))
    for number, chunk in enumerate(chunks(ids, MARK_CHUNK), 1):
        # Locked and re-read: an owner answering at this moment must not be overwritten.
        locked = db.session.scalars(
            sa.select(Ask).where(Ask.id.in_(chunk), Ask.state == AskState.QUEUED)
            .order_by(Ask.id).with_for_update().execution_options(populate_existing=True)).all()
        for ask in locked:
            ask_states.mark_notified(ask)
        db.session.commit()
        changed += len(locked)
        if pause and number * MARK_CHUNK < len(ids):
            time.sleep(pause)
    return changed


def asks_left_queued(limit: int = 1000) -> list[int]:
    """Asks still ``queued`` although a first message reached their owner (bookkeeping that was lost)."""
    return list(db.session.scalars(
        sa.select(Notification.ask_id)
        .join(Ask, Ask.id == Notification.ask_id)
        .where(Ask.state == AskState.QUEUED, Notification.status == DeliveryStatus.SENT,
               Notification.kind.in_(FIRST_MESSAGES))
        .distinct().limit(limit)))


# --- crashed workers ---------------------------------------------------------------------------

def recover_stale(now: datetime | None = None) -> int:
    """Give back rows claimed by a worker that died: sending → pending (failed past the attempts)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=setting("NOTIFICATION_CLAIM_TIMEOUT_SECONDS"))
    stale = [Notification.status == DeliveryStatus.SENDING, Notification.claimed_at < cutoff]
    exhausted = db.session.execute(
        sa.update(Notification).where(*stale, Notification.attempts >= setting("NOTIFICATION_MAX_ATTEMPTS"))
        .values(status=DeliveryStatus.FAILED, last_error="worker died on the last attempt")
        .execution_options(synchronize_session=False)).rowcount
    recovered = db.session.execute(
        sa.update(Notification).where(*stale)
        .values(status=DeliveryStatus.PENDING, due_at=now, last_error="worker died while sending; recovered")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if recovered or exhausted:
        log.warning("recovered %d notifications from a worker that died (%d gave up)", recovered, exhausted)
    return recovered


def due_ids(now: datetime, fresh_grace: timedelta) -> list[int]:
    """Pending rows that are due, except new ones their creator handed to the queue moments ago.

    Retries (attempts > 0) are only ever queued from here; a new row still pending after
    ``fresh_grace`` was lost on its way (Redis down, a process killed before enqueueing).
    """
    return list(db.session.scalars(
        sa.select(Notification.id)
        .where(Notification.status == DeliveryStatus.PENDING, Notification.due_at <= now,
               sa.or_(Notification.attempts > 0, Notification.created_at <= now - fresh_grace))
        .order_by(Notification.due_at, Notification.id)))
