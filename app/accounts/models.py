"""User accounts: owners, district managers, officers, supervisors and civilian oversight."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.agencies.models import Agency, District
from app.crypto import EncryptedString
from app.db import Base, db_enum, utcnow


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    # A civilian oversight body's staff (a police commission's): read-only, within one
    # agency, through the routes of app/oversight only. Not police: every route that
    # names the roles it lets in (app/auth.py require_role) leaves it out unless it
    # names it, so no officer or supervisor route opens to it by accident.
    OVERSIGHT = "oversight"

    @property
    def is_agency_staff(self) -> bool:
        """Police: officers and supervisors (oversight is not)."""
        return self in (Role.OFFICER, Role.SUPERVISOR)

    @property
    def on_staff_side(self) -> bool:
        """Which side of the account split (app/accounts/identities.py) the role's accounts are on:
        police and oversight are kept apart from the resident account one person may also hold."""
        return self in (Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT)


ROLE_TYPE = db_enum(Role, "user_role")

# The channels requests may take (app/notifications/models.py's Channel values), in the
# default order an owner's are tried: the first message goes on the first one that
# reaches the owner, escalations on the next ones (app/notifications/order.py).
CHANNELS = ("push", "sms", "email")
DEFAULT_CHANNEL_ORDER = ",".join(CHANNELS)


def parse_channel_order(text: str | None) -> list[str]:
    """The stored order as a list; a channel it lacks (one added since) follows in the default order."""
    order = list(dict.fromkeys(part for part in (text or "").split(",") if part in CHANNELS))
    return order + [channel for channel in CHANNELS if channel not in order]


# Only a proved address is unique, and only within its side (migration 0012).
VERIFIED_EMAIL = sa.text("email_verified_at IS NOT NULL")
VERIFIED_PHONE = sa.text("phone_verified")


def _is_staff_default(context) -> bool:
    # Rows inserted without the ORM (bulk inserts) still get the side their role puts them on.
    return Role(context.get_current_parameters()["role"]).on_staff_side


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="has_login"),
        # An unverified claim blocks nobody: the first account to prove an address owns it,
        # once among owner-side accounts and once among staff (one person may hold both).
        sa.Index("uq_users_verified_email", "email", "is_staff", unique=True,
                 postgresql_where=VERIFIED_EMAIL, sqlite_where=VERIFIED_EMAIL),
        sa.Index("uq_users_verified_phone", "phone", "is_staff", unique=True,
                 postgresql_where=VERIFIED_PHONE, sqlite_where=VERIFIED_PHONE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(ROLE_TYPE, index=True)
    # Officers, supervisors and oversight (staff) vs owners and district managers: the two sides
    # whose accounts are kept apart even when one person holds one of each with the same
    # address. A column rather than an expression over ``role`` so that the partial unique
    # indexes above are plain on both SQLite and PostgreSQL. Follows the role (below).
    is_staff: Mapped[bool] = mapped_column(default=_is_staff_default, server_default=sa.false())
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    phone_verified: Mapped[bool] = mapped_column(default=False)
    # When the holder of ``email`` proved it (a link sent to it); e-mails about requests go
    # only to a verified address.
    email_verified_at: Mapped[datetime | None] = mapped_column()
    # When this account gave an address it has not proved yet (set at sign-up, cleared once
    # every address is verified). Such a claim blocks nobody and ends after
    # UNVERIFIED_CLAIM_DAYS (app/accounts/identities.py). NULL on accounts made before
    # migration 0012: their addresses never expire.
    unverified_since: Mapped[datetime | None] = mapped_column()
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
    # Which of the chosen channels is tried first, then next (comma-separated CHANNELS).
    channel_order: Mapped[str] = mapped_column(sa.String(32), default=DEFAULT_CHANNEL_ORDER,
                                               server_default=DEFAULT_CHANNEL_ORDER)
    # E-mail needs a verified address too; one-click unsubscribe (RFC 8058) turns it off.
    notify_email: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # The language chosen (app/i18n.LANGUAGES); None follows the browser, and English where
    # there is no browser (SMS, push and e-mail), until an SMS keyword in a language sets it.
    language: Mapped[str | None] = mapped_column(sa.String(8))
    # Two-step sign-in (RFC 6238 TOTP): required for officers and supervisors, optional
    # for everyone else. The pending secret is the one shown during set-up, until a code
    # from it confirms the authenticator app has it. The last accepted time step stops
    # a code from being used twice (an observed code is worthless once used). Both
    # secrets are stored encrypted under ENCRYPTION_KEYS (app/crypto.py).
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    totp_pending_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column()
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # When two-step sign-in was last taken off the account (a lost phone); until it is set
    # up again, that set-up also needs a code e-mailed to the account (second_factor.py).
    second_factor_reset_at: Mapped[datetime | None] = mapped_column()

    agency: Mapped[Agency | None] = relationship()
    district: Mapped[District | None] = relationship()

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, order_by="RecoveryCode.id")

    @validates("role")
    def _keep_side(self, _key: str, role: Role) -> Role:
        self.is_staff = Role(role).on_staff_side
        return role

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def channels_in_order(self) -> list[str]:
        return parse_channel_order(self.channel_order)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

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


class OneTimeToken(Base):
    """A single-use secret sent to one address of an account: a reset link, a sign-up
    verification link, a six-digit code by SMS.

    Only a hash is kept (app/accounts/tokens.py): a copy of the database opens nothing.
    ``address`` is where it was sent, so redeeming it proves that address (an e-mail or a
    phone number) and nothing else. A token ends when used, when a newer one of the same
    purpose is issued to the account, or when it expires.
    """

    __tablename__ = "one_time_tokens"
    __table_args__ = (sa.Index("ix_one_time_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    # password_reset | email_verification | ... (app/accounts/tokens.py names them)
    purpose: Mapped[str] = mapped_column(sa.String(32))
    address: Mapped[str] = mapped_column(sa.String(254))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class StaffInvitation(Base):
    """A supervisor's invitation for one e-mail address to join the agency's staff.

    The link in the e-mail carries ``<id>.<secret>``; only the SHA-256 of the secret is
    kept (app/accounts/invitations.py), so a copy of the database joins nobody. Resending
    replaces the secret (the old link dies). No account exists until the invitee has
    chosen a password and confirmed an authenticator code: the secret being set up waits
    here, encrypted like users.totp_pending_secret.
    """

    __tablename__ = "staff_invitations"
    __table_args__ = (sa.Index("ix_staff_invitations_agency_email", "agency_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[Role] = mapped_column(ROLE_TYPE)
    display_name: Mapped[str | None] = mapped_column(sa.String(120))
    # A district manager's district (of the same agency); None for officers and supervisors.
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("districts.id"))
    # None when an operator made it (the CLI's first supervisor).
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(EncryptedString(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column()

    agency: Mapped[Agency] = relationship()
    district: Mapped[District | None] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])
