"""User accounts: owners, district managers, officers and supervisors."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.agencies.models import Agency, District
from app.crypto import EncryptedString
from app.db import Base, db_enum, utcnow


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"

    @property
    def is_agency_staff(self) -> bool:
        return self in (Role.OFFICER, Role.SUPERVISOR)


ROLE_TYPE = db_enum(Role, "user_role")


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="has_login"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(ROLE_TYPE, index=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    phone_verified: Mapped[bool] = mapped_column(default=False)
    # When the holder of ``email`` proved it (a link sent to it); e-mails about requests go
    # only to a verified address.
    email_verified_at: Mapped[datetime | None] = mapped_column()
    display_name: Mapped[str | None] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # Staff belong to one agency; managers to one district (and through it an agency).
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column()
    last_signin_at: Mapped[datetime | None] = mapped_column()
    # The owner's chosen channels for footage asks (push needs a subscription, SMS a verified phone).
    notify_push: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_sms: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Two-step sign-in (RFC 6238 TOTP): required for officers and supervisors, optional
    # for everyone else. The pending secret is the one shown during set-up, until a code
    # from it confirms the authenticator app has it. The last accepted time step stops
    # a code from being used twice (an observed code is worthless once used). Both
    # secrets are stored encrypted under ENCRYPTION_KEYS (app/crypto.py).
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    totp_pending_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column()
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    agency: Mapped[Agency | None] = relationship()
    district: Mapped[District | None] = relationship()

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, order_by="RecoveryCode.id")

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator app once (a lost phone).

    Only a SHA-256 of the code is kept: the codes are random with 50 bits each, so a
    slow hash adds nothing, and the account's owner is the only one who ever sees them.
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class UserSession(Base):
    """One signed-in client of an account: what the session cookie's key stands for.

    The cookie carries a random key; only its SHA-256 is kept here, so a copy of the
    database signs nobody in. A session ends when its record says so (``ended_at``):
    signing out, "sign out everywhere else", a password change, deactivation or a
    two-step reset. Idle and absolute limits are checked against ``last_seen_at`` and
    ``created_at`` on every request (app/accounts/sessions.py).
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the account holder needs to recognise a device in Settings ("Firefox on Android").
    user_agent: Mapped[str | None] = mapped_column(sa.String(120))
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    ended_at: Mapped[datetime | None] = mapped_column(index=True)
    # signed_out | signed_out_elsewhere | password_changed | deactivated | second_factor_reset |
    # second_factor_enabled | idle | lifetime
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
