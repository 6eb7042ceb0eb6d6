"""User accounts: owners, district managers, officers and supervisors."""
from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.agencies.models import Agency, District
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


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


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
    display_name: Mapped[str | None] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # Staff belong to one agency; managers to one district (and through it an agency).
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the session identity: rotating it signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(sa.String(32), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column()
    last_signin_at: Mapped[datetime | None] = mapped_column()
    # The owner's chosen channels for footage asks (push needs a subscription, SMS a verified phone).
    notify_push: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_sms: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    agency: Mapped[Agency | None] = relationship()
    district: Mapped[District | None] = relationship()

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()
