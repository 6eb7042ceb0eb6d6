"""Push subscriptions, notification deliveries, the SMS and e-mail logs/outboxes and phone verification."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import EncryptedString
from app.db import Base, db_enum, utcnow


class PushSubscription(Base):
    """One browser/device of a user, as the Push API's PushSubscription.toJSON() gives it."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(256))
    # The subscriber's secret: with it and the endpoint, the VAPID key's holder can write
    # to the owner's phone. Stored encrypted under ENCRYPTION_KEYS (app/crypto.py).
    auth: Mapped[str] = mapped_column(EncryptedString(255))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column()


class Channel(enum.StrEnum):
    PUSH = "push"
    SMS = "sms"
    EMAIL = "email"


class NotificationKind(enum.StrEnum):
    REQUEST = "request"        # the first message about an ask
    ESCALATION = "escalation"  # SMS after an unanswered push
    REMINDER = "reminder"      # before the request expires
    INVITATION = "invitation"  # a district's SMS inviting a member business to enroll (no ask)
    # Notices: the request ended, on each channel that reached the owner about the ask.
    WITHDRAWN = "withdrawn"    # the officer or a supervisor cancelled the request
    EXPIRED = "expired"        # the request's lifetime ran out
    # A delivered clip's fate (app/clips): the agency first opened it, held it, released the hold, purged it.
    CLIP_VIEWED = "clip_viewed"
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    CLIP_PURGED = "clip_purged"


# Messages sent about an ask that has closed (the delivery precheck lets them through).
NOTICE_KINDS = (NotificationKind.WITHDRAWN, NotificationKind.EXPIRED)
# What happened to a clip the owner delivered: sent like notices, on the channels that reached them.
FATE_KINDS = (NotificationKind.CLIP_VIEWED, NotificationKind.HOLD_PLACED, NotificationKind.HOLD_RELEASED,
              NotificationKind.CLIP_PURGED)
# Both follow a message that got through about the ask, whatever the ask's state now.
FOLLOW_UP_KINDS = NOTICE_KINDS + FATE_KINDS


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"    # recorded, waiting for a worker
    SENDING = "sending"    # claimed by a worker
    SENT = "sent"
    FAILED = "failed"      # gave up after retries
    SKIPPED = "skipped"    # nothing to send to (no subscription, opted out, ask closed, nothing reached before)


class Notification(Base):
    """One message about one ask on one channel: the unit of idempotence.

    The unique (ask, channel, kind) means a retry or a second worker can never make a
    second message of the same kind on the same channel. An invitation is about a
    district member instead of an ask (one row per invitation sent).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        # Also the index for lookups by ask (and the cascade): it leads with ask_id.
        sa.UniqueConstraint("ask_id", "channel", "kind"),
        sa.Index("ix_notifications_status_due", "status", "due_at"),
        sa.CheckConstraint("ask_id IS NOT NULL OR district_member_id IS NOT NULL", name="has_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ask_id: Mapped[int | None] = mapped_column(sa.ForeignKey("asks.id", ondelete="CASCADE"))
    district_member_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("district_members.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    channel: Mapped[Channel] = mapped_column(db_enum(Channel, "channel"))
    kind: Mapped[NotificationKind] = mapped_column(db_enum(NotificationKind, "notification_kind"))
    status: Mapped[DeliveryStatus] = mapped_column(db_enum(DeliveryStatus, "delivery_status"),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Not before: retries back off by moving it; escalations and reminders are scheduled by it.
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SmsDirection(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class SmsMessage(Base):
    """Every SMS in or out. Without Twilio credentials outbound ones stay here as the outbox."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    notification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="SET NULL"), unique=True)
    direction: Mapped[SmsDirection] = mapped_column(db_enum(SmsDirection, "sms_direction"))
    to_number: Mapped[str] = mapped_column(sa.String(20))
    from_number: Mapped[str | None] = mapped_column(sa.String(20))
    body: Mapped[str] = mapped_column(sa.String(1600))
    # outbox | queued | sending | sent | delivered | undelivered | failed | received (Twilio's words)
    status: Mapped[str] = mapped_column(sa.String(16))
    provider_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailMessage(Base):
    """Every e-mail sent. Without MAIL_URL they stay here as the outbox (``flask mail outbox``)."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    notification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="SET NULL"), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str] = mapped_column(sa.String(255))
    # outbox | sent | failed (the server refused it: ``error`` says how)
    status: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SmsOptOut(Base):
    """A number that texted STOP: nothing more is sent to it until it texts START."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneVerification(Base):
    __tablename__ = "phone_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(sa.String(20))
    code_hash: Mapped[str] = mapped_column(sa.String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
