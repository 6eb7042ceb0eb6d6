"""Notification rules: which channel reaches an owner, push subscriptions, phone
verification, and receiving an SMS.

Channel choice: Web Push where the owner has a subscription and wants push; SMS where
the phone is verified, the owner wants SMS and the number has not texted STOP; e-mail
where the address is verified and the owner wants e-mail (one-click unsubscribe turns
it off). The first message goes on the first of these in the owner's order (push, SMS,
e-mail by default; app/notifications/order.py), an escalation on the next one not tried yet.

An inbound SMS is recorded here and its keywords for the messages themselves (STOP,
START, HELP) are acted on here; a reply that answers an ask ("YES 4821") is handed to
app/footage/answers.py, which decides it.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from app.accounts import identities
from app.accounts.models import Role, User
from app.agencies.service import memberships_of
from app.audit import service as audit
from app.cameras.service import confirm_due
from app.common.fields import normalize_phone
from app.db import utcnow
from app.errors import ApiError, field_error
from app.extensions import db
from app.footage import answers
from app.footage.models import OPEN_ASK_STATES, Ask, AskState, FootageRequest, RequestStatus
from app.i18n import DEFAULT, in_language
from app.notifications import keywords, messages, order, push_endpoints, sms, webpush
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    PhoneVerification,
    PushSubscription,
    SmsDirection,
    SmsMessage,
    SmsOptOut,
)
from app.sql import chunks, dialect_insert

CHUNK = 500  # ids per IN (...) list

# --- channels and recording deliveries ------------------------------------------------------


def push_reaches() -> sa.ColumnElement[bool]:
    """SQL: Web Push reaches this User row (active, wants push, has a subscription)."""
    return sa.and_(User.active.is_(True), User.notify_push.is_(True),
                   sa.exists().where(PushSubscription.user_id == User.id))


def sms_reaches() -> sa.ColumnElement[bool]:
    """SQL: SMS reaches this User row (active, wants SMS, verified phone that has not texted STOP)."""
    return sa.and_(User.active.is_(True), User.notify_sms.is_(True), User.phone_verified.is_(True),
                   User.phone.is_not(None), ~sa.exists().where(SmsOptOut.phone == User.phone))


def email_reaches() -> sa.ColumnElement[bool]:
    """SQL: e-mail reaches this User row (active, wants e-mail, its address verified)."""
    return sa.and_(User.active.is_(True), User.notify_email.is_(True), User.email.is_not(None),
                   User.email_verified_at.is_not(None))


REACHES = {Channel.PUSH: push_reaches, Channel.SMS: sms_reaches, Channel.EMAIL: email_reaches}


def reaches(channel: Channel) -> sa.ColumnElement[bool]:
    """SQL: ``channel`` reaches this User row now."""
    return REACHES[channel]()


def channel_orders(user_ids: Iterable[int]) -> dict[int, list[Channel]]:
    """Each of these users' channels in the order they want them tried."""
    result: dict[int, list[Channel]] = {}
    for chunk in chunks(sorted(set(user_ids)), CHUNK):
        for user_id, text in db.session.execute(sa.select(User.id, User.channel_order).where(User.id.in_(chunk))):
            result[user_id] = order.parse(text)
    return result


def channels_for(user_ids: Iterable[int]) -> dict[int, set[Channel]]:
    """The channels that reach each of these users right now."""
    result: dict[int, set[Channel]] = {}
    channels = list(Channel)
    for chunk in chunks(sorted(set(user_ids)), CHUNK):
        for user_id, *reached in db.session.execute(
                sa.select(User.id, *(reaches(c) for c in channels)).where(User.id.in_(chunk))):
            result[user_id] = {c for c, ok in zip(channels, reached, strict=True) if ok}
    return result


def insert_notifications(rows: list[dict[str, Any]]) -> list[int]:
    """Insert deliveries, skipping any (ask, channel, kind) that already exists; the new ids."""
    if not rows:
        return []
    ids: list[int] = []
    for chunk in chunks(rows, CHUNK):
        statement = (dialect_insert(Notification).on_conflict_do_nothing(index_elements=["ask_id", "channel", "kind"])
                     .returning(Notification.id))
        ids += db.session.execute(statement, chunk).scalars().all()
    return ids


def _row(ask_id: int, user_id: int, channel: Channel, kind: NotificationKind, now: datetime) -> dict[str, Any]:
    return {"ask_id": ask_id, "user_id": user_id, "channel": channel, "kind": kind, "status": DeliveryStatus.PENDING,
            "attempts": 0, "due_at": now, "created_at": now}


def record_request_notifications(asks: list[Ask], now: datetime | None = None) -> list[int]:
    """The first message for each of these new asks, on the first channel of the owner's order that reaches them.

    One INSERT ... SELECT per 500 asks (:func:`_record_first_messages`).
    """
    now = now or utcnow()
    if any(ask.id is None for ask in asks):
        db.session.flush()
    ids: list[int] = []
    for chunk in chunks(sorted(ask.id for ask in asks if ask.owner_id is not None), CHUNK):
        ids += _record_first_messages(Ask.id.in_(chunk), now)
    return sorted(ids)


def record_new_request_notifications(request_id: int, now: datetime | None = None) -> list[int]:
    """The first message for each queued ask of a request that has just gone out: one INSERT ... SELECT
    by the request, however many asks it has (no list of their ids goes to the database)."""
    return sorted(_record_first_messages(sa.and_(Ask.request_id == request_id, Ask.state == AskState.QUEUED,
                                                 Ask.owner_id.is_not(None)), now or utcnow()))


def _record_first_messages(asks: sa.ColumnElement[bool], now: datetime) -> list[int]:
    """Record the first message of each ask the ``asks`` criteria select; the new rows' ids.

    The channel is chosen in the database, so a request to a thousand owners adds a few
    milliseconds to the officer's POST. An ask that has its first message already keeps it.
    """
    table = Notification.__table__
    stamp = sa.bindparam("now", now, type_=table.c.created_at.type)
    channel_reaches = {channel: reaches(channel) for channel in Channel}
    rows = (sa.select(Ask.id, Ask.owner_id, order.first_reachable_sql(channel_reaches),
                      sa.literal(NotificationKind.REQUEST.value), sa.literal(DeliveryStatus.PENDING.value),
                      sa.literal(0), stamp, stamp)
            .join(User, User.id == Ask.owner_id)
            .where(asks, sa.or_(*channel_reaches.values())))
    statement = (dialect_insert(table)
                 .from_select(["ask_id", "user_id", "channel", "kind", "status", "attempts", "due_at",
                               "created_at"], rows)
                 .on_conflict_do_nothing(index_elements=["ask_id", "channel", "kind"])
                 .returning(table.c.id))
    return db.session.execute(statement).scalars().all()


# The messages that ask the owner: an escalation tries the next channel after these.
FIRST_MESSAGES = (NotificationKind.REQUEST, NotificationKind.ESCALATION)


def record_escalations(asks: list[tuple[int, int]], now: datetime) -> list[int]:
    """An escalation for each (ask id, owner id) still open, on the next channel of the owner's
    order that reaches them and was not tried for the ask; none where no such channel is left."""
    if not asks:
        return []
    ask_ids = sorted({a for a, _ in asks})
    open_asks: set[int] = set()
    tried: dict[int, set[Channel]] = {}
    for chunk in chunks(ask_ids, CHUNK):
        open_asks |= set(db.session.scalars(
            sa.select(Ask.id).join(FootageRequest, FootageRequest.id == Ask.request_id)
            .where(Ask.id.in_(chunk), Ask.state.in_(OPEN_ASK_STATES), FootageRequest.status == RequestStatus.ACTIVE)))
        for ask_id, channel in db.session.execute(
                sa.select(Notification.ask_id, Notification.channel)
                .where(Notification.ask_id.in_(chunk), Notification.kind.in_(FIRST_MESSAGES))):
            tried.setdefault(ask_id, set()).add(channel)
    owners = {owner for _, owner in asks}
    channels, orders = channels_for(owners), channel_orders(owners)
    rows = []
    for ask_id, owner_id in asks:
        if ask_id not in open_asks:
            continue
        channel = order.next_untried(orders.get(owner_id, order.DEFAULT), channels.get(owner_id, set()),
                                     tried.get(ask_id, set()))
        if channel is not None:
            rows.append(_row(ask_id, owner_id, channel, NotificationKind.ESCALATION, now))
    return insert_notifications(rows)


def record_reminders(asks: list[tuple[int, int]], now: datetime) -> list[int]:
    """A reminder for each (ask id, owner id) on the channels that reached the owner about it."""
    if not asks:
        return []
    ask_ids = [a for a, _ in asks]
    reached: dict[int, set[Channel]] = {}
    for ask_id, channel in db.session.execute(
            sa.select(Notification.ask_id, Notification.channel)
            .where(Notification.ask_id.in_(ask_ids), Notification.status == DeliveryStatus.SENT,
                   Notification.kind.in_((NotificationKind.REQUEST, NotificationKind.ESCALATION)))):
        reached.setdefault(ask_id, set()).add(channel)
    owners = {owner for _, owner in asks}
    channels, orders = channels_for(owners), channel_orders(owners)
    rows = []
    for ask_id, owner_id in asks:
        available = channels.get(owner_id, set())
        # Where no earlier message got through, the owner's first channel today.
        wanted = reached.get(ask_id) or {order.first(orders.get(owner_id, order.DEFAULT), available)}
        rows += [_row(ask_id, owner_id, c, NotificationKind.REMINDER, now) for c in sorted(wanted & available)]
    return insert_notifications(rows)


def record_invitation_notifications(member_ids: list[int], now: datetime | None = None) -> list[int]:
    """A pending SMS invitation for each district member (the district service chose and rate-limited them)."""
    if not member_ids:
        return []
    now = now or utcnow()
    rows = [{"district_member_id": member_id, "user_id": None, "channel": Channel.SMS,
             "kind": NotificationKind.INVITATION, "status": DeliveryStatus.PENDING, "attempts": 0, "due_at": now,
             "created_at": now} for member_id in member_ids]
    ids: list[int] = []
    for chunk in chunks(rows, CHUNK):
        ids += db.session.scalars(sa.insert(Notification).returning(Notification.id, sort_by_parameter_order=True),
                                  chunk).all()
    return ids


def record_opt_out(phone: str) -> None:
    db.session.execute(dialect_insert(SmsOptOut).values(phone=phone, opted_out_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["phone"]))


# --- push subscriptions --------------------------------------------------------------------------

def subscribe(owner: User, endpoint: str, p256dh: str, auth: str, user_agent: str | None = None) -> PushSubscription:
    """Register (or refresh) this device's push subscription for ``owner``."""
    problem = push_endpoints.subscription_problem(endpoint, push_endpoints.policy(current_app.config))
    if problem:
        raise field_error("endpoint", problem)
    problems = webpush.valid_subscription_keys(p256dh, auth)
    if problems:
        message = "Invalid input. " + " | ".join(f"{k}: {v}" for k, v in problems.items())
        raise ApiError(422, "validation_error", message, fields={k: [v] for k, v in problems.items()})
    subscription = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    created = subscription is None
    if created:
        subscription = PushSubscription(user_id=owner.id, endpoint=endpoint, p256dh=p256dh, auth=auth)
        db.session.add(subscription)
    else:
        # The browser profile is now this owner's (another account may have used it before).
        subscription.user_id, subscription.p256dh, subscription.auth = owner.id, p256dh, auth
    subscription.user_agent = (user_agent or "")[:300] or None
    db.session.flush()
    # The endpoint is a capability URL: the log keeps its push service only.
    audit.record("push.subscribed", target=subscription, actor=owner,
                 details={"push_service": urlsplit(endpoint).hostname, "new": created})
    db.session.commit()
    return subscription


def unsubscribe(owner: User, endpoint: str) -> None:
    subscription = db.session.scalar(sa.select(PushSubscription).where(
        PushSubscription.endpoint == endpoint, PushSubscription.user_id == owner.id))
    if subscription is None:
        raise ApiError(404, "not_found", "No push subscription of yours has this endpoint.")
    audit.record("push.unsubscribed", target=subscription, actor=owner,
                 details={"push_service": urlsplit(endpoint).hostname})
    db.session.delete(subscription)
    db.session.commit()


def push_subscriptions_of(owner: User) -> list[PushSubscription]:
    return list(db.session.scalars(sa.select(PushSubscription).where(PushSubscription.user_id == owner.id)
                                   .order_by(PushSubscription.id)))


# --- SMS status ------------------------------------------------------------------------------------

def sms_status() -> dict[str, Any]:
    mode = sms.mode(current_app)
    if mode == sms.OUTBOX:
        return {"mode": "outbox", "sending": False,
                "message": "SMS are NOT being sent: no Twilio credentials are configured, so text messages "
                           "are kept in the server's outbox (the sms_messages table and the log)."}
    return {"mode": "twilio", "sending": True, "message": "SMS are sent through Twilio."}


def _send_direct(user: User | None, to: str, body: str) -> SmsMessage:
    """Send one SMS now (not about an ask) and log it; 503 if the provider refuses."""
    gateway = sms.gateway(current_app._get_current_object())
    try:
        sent = gateway.send(to, body, ref=f"a message for user {user.id}" if user else None)
    except sms.SendError as exc:
        current_app.logger.warning("SMS to %s failed: %s", sms.mask(to), exc)
        if exc.unsubscribed:
            db.session.rollback()  # nothing of this attempt is kept but the opt-out Twilio reports
            record_opt_out(to)
            db.session.commit()
            raise ApiError(409, "sms_opted_out", "This number texted STOP to Porchlight; text START to it first.")
        raise ApiError(503, "sms_unavailable", "The text message could not be sent; try again in a minute.")
    row = SmsMessage(user_id=user.id if user else None, direction=SmsDirection.OUTBOUND, to_number=to,
                     from_number=sent.from_number, body=body, status=sent.status[:16], provider_sid=sent.sid)
    db.session.add(row)
    return row


# --- phone verification --------------------------------------------------------------------------

CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 5


def _code_hash(user_id: int, phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"phone-verification:{user_id}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def is_opted_out(phone: str) -> bool:
    """Whether the number texted STOP (it gets no code, whatever account asks)."""
    return db.session.get(SmsOptOut, phone) is not None


def codes_sent_since(owner: User, phone: str, since: datetime) -> list[datetime]:
    """When codes went to this account or this number since ``since``, oldest first."""
    return list(db.session.scalars(sa.select(PhoneVerification.created_at).where(
        sa.or_(PhoneVerification.user_id == owner.id, PhoneVerification.phone == phone),
        PhoneVerification.created_at > since).order_by(PhoneVerification.created_at)))


def text_phone_code(owner: User, phone: str, now: datetime) -> tuple[PhoneVerification, User | None]:
    """Text a new code for ``owner`` to ``phone``; (its row, the account already holding the number).

    Any number may be claimed; the first account to prove it owns it. When another
    account of the same side already has, the number's holder is told instead and the
    code goes to nobody: the answer, and what a guessed code gets, are the same as for a
    free number, so nobody learns which numbers have accounts.
    """
    code = f"{secrets.randbelow(10**6):06d}"
    verification = PhoneVerification(user_id=owner.id, phone=phone, code_hash=_code_hash(owner.id, phone, code),
                                      expires_at=now + CODE_TTL, created_at=now)
    db.session.add(verification)
    holder = identities.verified_holder(identities.PHONE, phone, staff=owner.is_staff, exclude_id=owner.id)
    if holder is None:
        with in_language(owner.language):
            _send_direct(owner, phone, messages.verification_sms_text(code, agency_names(owner)))
    else:
        with in_language(holder.language or DEFAULT):
            _send_direct(holder, phone, messages.number_claimed_sms_text())
    return verification, holder


def start_phone_verification(owner: User, phone: str | None) -> dict[str, Any]:
    """Text a 6-digit code to ``phone`` (default: the account's number); it proves the owner holds it."""
    phone = phone or owner.phone
    if not phone:
        # The request is well formed; the account has no number to fall back on (409, as
        # for a number already verified), so the caller must name one.
        raise ApiError(409, "no_phone", "Give the mobile number to verify: this account has none.",
                       fields={"phone": ["Give the mobile number to verify."]})
    if phone == owner.phone and owner.phone_verified:
        raise ApiError(409, "already_verified", "This number is already verified.")
    if db.session.get(SmsOptOut, phone) is not None:
        raise ApiError(409, "sms_opted_out", "This number texted STOP to Porchlight; text START to it first.")
    now = utcnow()
    hour_ago = now - timedelta(hours=1)
    recent = codes_sent_since(owner, phone, hour_ago)
    if len(recent) >= MAX_CODES_PER_HOUR:
        # As every 429 of the API: Retry-After says when the oldest code leaves the hour.
        wait = max(1, math.ceil((recent[0] - hour_ago).total_seconds()))
        raise ApiError(429, "too_many_requests", "Too many codes sent in the last hour; try again later.",
                       headers={"Retry-After": str(wait)})
    verification, holder = text_phone_code(owner, phone, now)
    # Nothing in the claimant's own records (which its data export shows) says the number is held.
    audit.record("phone.verification_sent", target=owner, actor=owner, details={"phone_changed": phone != owner.phone})
    if holder is not None:
        audit.record("phone.claimed_elsewhere", target=holder, actor=audit.NO_ACTOR, details={"told": "sms"})
    db.session.commit()
    status = sms_status()
    return {"phone": phone, "expires_at": verification.expires_at, "delivery": status["mode"],
            "message": "A 6-digit code was texted to the number." if status["sending"] else status["message"]}


def verify_phone(owner: User, code: str) -> User:
    """Check the latest code; on success the number becomes the account's, verified."""
    verification = db.session.scalar(
        sa.select(PhoneVerification)
        .where(PhoneVerification.user_id == owner.id, PhoneVerification.verified_at.is_(None))
        .order_by(PhoneVerification.id.desc()).limit(1))
    if verification is None:
        raise ApiError(409, "no_code", "No code is waiting: request one first.")
    if verification.expires_at <= utcnow():
        raise ApiError(410, "code_expired", "This code has expired: request a new one.")
    # Counted before comparing, atomically: parallel guesses cannot exceed the limit.
    counted = db.session.execute(
        sa.update(PhoneVerification)
        .where(PhoneVerification.id == verification.id, PhoneVerification.attempts < MAX_CODE_ATTEMPTS)
        .values(attempts=PhoneVerification.attempts + 1).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not counted:
        raise ApiError(429, "too_many_attempts", "Too many wrong codes: request a new one.")
    if not hmac.compare_digest(verification.code_hash, _code_hash(owner.id, verification.phone, code)):
        db.session.refresh(verification)
        left = MAX_CODE_ATTEMPTS - verification.attempts
        audit.record("phone.verification_failed", target=owner, actor=owner, details={"attempts_left": left})
        db.session.commit()
        raise field_error("code", f"Wrong code; {left} {'try' if left == 1 else 'tries'} left." if left
                          else "Wrong code; request a new one.")
    if identities.verified_elsewhere(owner, identities.PHONE, verification.phone):
        # Another account proved the number between the code and now: it won.
        raise field_error("code", "Wrong code; request a new one.")
    verification.verified_at = utcnow()
    changed = owner.phone != verification.phone
    # The first to verify owns the number: other accounts' unproved claims to it end.
    ended = identities.mark_verified(owner, identities.PHONE, verification.phone)
    audit.record("phone.verified", target=owner, actor=owner,
                 details={"phone_changed": changed, "claims_ended": len(ended)})
    db.session.commit()
    return owner


# --- inbound SMS -------------------------------------------------------------------------------------

def agency_names(owner: User | None) -> list[str]:
    """The names of the agencies whose requests reach ``owner`` (those the owner joined)."""
    return [membership.agency.name for membership in memberships_of(owner)] if owner else []


def _owner_by_phone(phone: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.phone == phone, User.phone_verified.is_(True),
                                                   User.role == Role.OWNER, User.active.is_(True)))


def inbound_sms(form: Any) -> str | None:
    """Act on an inbound SMS (already authenticated as Twilio's); the reply text, or None for no reply."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "")[:64] or None
    if sid and db.session.scalar(sa.select(SmsMessage.id).where(SmsMessage.provider_sid == sid)) is not None:
        return None  # Twilio retried a webhook we already handled
    try:
        sender = normalize_phone(form.get("From") or "")
    except ValidationError:
        sender = (form.get("From") or "")[:20]
    body = (form.get("Body") or "")[:1600]
    owner = _owner_by_phone(sender)
    db.session.add(SmsMessage(user_id=owner.id if owner else None, direction=SmsDirection.INBOUND,
                              to_number=(form.get("To") or "")[:20], from_number=sender, body=body,
                              status="received", provider_sid=sid))
    said = keywords.parse(body, owner.language if owner else None)
    if owner is not None and owner.language is None and said.meaning is not None and said.language != DEFAULT:
        # An owner who answers in Spanish or Hmong is written to in it from now on (the app too).
        owner.language = said.language
        audit.record("account.language_from_sms", target=owner, actor=owner, details={"language": said.language})
    reply: str | None
    with in_language(said.language):
        if said.meaning == keywords.STOP:
            record_opt_out(sender)
            audit.record("sms.opted_out", target_type="user", target_id=owner.id if owner else None, actor=owner)
            # Twilio answers its own (English) stop words itself and would refuse our reply to a
            # number that opted out with them; the other languages' words are ours to confirm.
            reply = None if said.language == DEFAULT else messages.stop_text()
        elif said.meaning == keywords.START:
            db.session.execute(sa.delete(SmsOptOut).where(SmsOptOut.phone == sender))
            audit.record("sms.opted_in", target_type="user", target_id=owner.id if owner else None, actor=owner)
            reply = messages.start_text(agency_names(owner))
        elif said.meaning == keywords.HELP:
            reply = messages.help_text(agency_names(owner))
        elif said.meaning == keywords.CONFIRM:
            reply = messages.confirmed_text(confirm_due(owner, "sms")) if owner else messages.not_linked_text()
        elif said.meaning in keywords.ANSWERS:
            if owner is None:
                reply = messages.not_linked_text()
            else:
                db.session.flush()
                answer = answers.answer_by_sms(owner, keywords.english_word(said.meaning), said.code)
                reply = messages.sms_answer_text(answer)
        else:
            reply = messages.not_understood_text()
    db.session.commit()
    return reply


# Twilio's statuses in the order a message goes through them; callbacks can arrive out of order.
_STATUS_RANK = {"sending": 0, "accepted": 1, "scheduled": 1, "queued": 2, "sent": 4,
                "delivered": 5, "undelivered": 5, "failed": 5, "read": 6}


def status_callback(form: Any, ref: str | None) -> None:
    """Record a delivery status Twilio reports for one of our messages."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "")[:64]
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "")[:16].lower()
    if not sid or not status:
        return
    row = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.provider_sid == sid))
    if row is None and ref and ref.isdigit() and len(ref) < 10:
        # The callback came before the worker stored the SID (or the worker died first).
        row = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.id == int(ref),
                                                            SmsMessage.provider_sid.is_(None)))
        if row is not None:
            row.provider_sid = sid
    if row is None or row.direction != SmsDirection.OUTBOUND:
        return
    if _STATUS_RANK.get(status, 3) >= _STATUS_RANK.get(row.status, 0):
        row.status = status
    if form.get("ErrorCode"):
        row.error_code = str(form.get("ErrorCode"))[:16]
        if str(form.get("ErrorCode")) == str(sms.UNSUBSCRIBED_CODE):
            record_opt_out(row.to_number)
    db.session.commit()
