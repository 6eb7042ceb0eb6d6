"""Sign-up, sign-in, passwords and staff accounts."""
from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import current_app

from app.accounts import second_factor, sessions
from app.accounts.models import Role, User
from app.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from app.agencies.models import Agency, District
from app.audit import service as audit
from app.common.fields import fits_int, parse_login
from app.db import utcnow
from app.enrollment import service as enrollment
from app.errors import ApiError, field_error, not_found
from app.extensions import db


def _check_unique_login(email: str | None, phone: str | None, exclude_id: int | None = None) -> None:
    fields: dict[str, list[str]] = {}
    for column, value, name in ((User.email, email, "email"), (User.phone, phone, "phone")):
        if value is None:
            continue
        query = sa.select(User.id).where(column == value)
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        if db.session.scalar(query) is not None:
            fields[name] = ["An account with this already exists; sign in instead."]
    if fields:
        names = " and ".join(fields)
        raise ApiError(409, "account_exists", f"An account with this {names} already exists.", fields=fields)


def _checked_password(password: str, *identifiers: str | None, field: str = "password") -> str:
    """The hash of an acceptable new password, or a 422 naming ``field``."""
    problem = password_problem(password, *identifiers)
    if problem:
        raise field_error(field, problem)
    return hash_password(password)


def sign_up_owner(
    *,
    password: str,
    email: str | None = None,
    phone: str | None = None,
    display_name: str | None = None,
    enrollment_code: str | None = None,
) -> User:
    """Create an owner account, optionally joining an agency through an enrollment code."""
    if not email and not phone:
        raise ApiError(422, "validation_error", "Give an e-mail address, a mobile number, or both.",
                       fields={"email": ["E-mail or phone is required."], "phone": ["E-mail or phone is required."]})
    code = enrollment.usable_code(enrollment_code) if enrollment_code else None
    _check_unique_login(email, phone)
    user = User(
        role=Role.OWNER,
        email=email,
        phone=phone,
        phone_verified=False,
        display_name=display_name or None,
        password_hash=_checked_password(password, email, phone),
        password_changed_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("account.signup", target=user, actor=user,
                 details={"email": bool(email), "phone": bool(phone), "via_code": bool(code)})
    if code is not None:
        enrollment.redeem(user, code)
    db.session.commit()
    return user


def authenticate(login: str, password: str, code: str | None = None) -> User:
    """The active user with these credentials.

    A wrong login or password is one 401 (audited) that does not say which part was
    wrong. An account with two-step sign-in on also needs ``code``: its authenticator
    app's code or a recovery code (401 second_factor_required without one). An officer
    or supervisor without it yet gets a session that can only set it up (app/auth.py).
    """
    kind, value = parse_login(login)
    column = User.email if kind == "email" else User.phone
    user = db.session.scalar(sa.select(User).where(column == value)) if value else None
    if not verify_password(user.password_hash if user else None, password) or not user.active:
        # The typed login is not kept: people paste passwords into the login box, and the
        # log is append-only. A keyed fingerprint still ties repeated attempts together.
        audit.record("auth.signin_failed", target_type="user", target_id=user.id if user else None,
                     actor=None, agency_id=user.agency_id if user else None,
                     details={"login_kind": kind, "login_fingerprint": _fingerprint(value or login.strip()),
                              "reason": "inactive" if user and not user.active else "bad_credentials"})
        db.session.commit()
        raise ApiError(401, "invalid_credentials", "That login and password do not match an active account.")
    method = second_factor.verify_sign_in_code(user, code) if second_factor.is_enabled(user) else None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_signin_at = utcnow()
    setup_pending = second_factor.needs_setup(user)
    audit.record("auth.signin", target=user, actor=user,
                 details={"second_factor": method or ("setup_required" if setup_pending else "off")})
    db.session.commit()
    return user


def _fingerprint(text: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:16]


def sign_out(user: User) -> None:
    """End this client's session for good: its cookie, even copied, signs nobody in again."""
    record = sessions.current()
    sessions.end_current(user)
    audit.record("auth.signout", target=user, actor=user, details={"session_id": record.id if record else None})
    db.session.commit()


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password):
        audit.record("auth.password_change_failed", target=user, actor=user)
        db.session.commit()
        raise field_error("current_password", "Does not match your current password.", status=403)
    user.password_hash = _checked_password(new_password, user.email, user.phone, field="new_password")
    user.password_changed_at = utcnow()
    # Every session of this account ends; the caller signs this client in again.
    ended = sessions.end_all(user, "password_changed")
    audit.record("auth.password_changed", target=user, actor=user, details={"sessions_ended": ended})
    db.session.commit()


_UNSET: Any = object()


def update_profile(user: User, *, display_name: str | None = _UNSET, notify_push: bool | None = None,
                   notify_sms: bool | None = None) -> User:
    """Change the given fields only; channel choices are for owners (staff get no requests)."""
    channels = {name: value for name, value in (("notify_push", notify_push), ("notify_sms", notify_sms))
                if value is not None}
    if display_name is _UNSET and not channels:
        raise ApiError(422, "validation_error", "Give display_name, notify_push or notify_sms.")
    if channels and user.role != Role.OWNER:
        # Well-formed, but not this account's to set (staff and managers get no requests).
        name = next(iter(channels))
        raise ApiError(403, "forbidden", "Only camera owners choose how requests reach them.",
                       fields={name: ["Only camera owners choose how requests reach them."]})
    changed = {}
    if display_name is not _UNSET:
        user.display_name = display_name or None
        changed["display_name"] = True
    for name, value in channels.items():
        if getattr(user, name) != value:
            changed[name] = value
        setattr(user, name, value)
    audit.record("account.profile_updated", target=user, actor=user, details={"changed": sorted(changed)})
    db.session.commit()
    return user


# --- staff accounts, managed by supervisors -------------------------------------

STAFF_ROLES = (Role.OFFICER, Role.SUPERVISOR, Role.MANAGER)


def staff_query(agency_id: int) -> sa.Select:
    in_agency_district = sa.select(District.id).where(District.agency_id == agency_id)
    return sa.select(User).where(
        sa.or_(
            sa.and_(User.role.in_([Role.OFFICER, Role.SUPERVISOR]), User.agency_id == agency_id),
            sa.and_(User.role == Role.MANAGER, User.district_id.in_(in_agency_district)),
        )
    )


def staff_for(supervisor: User, user_id: int) -> User:
    """A staff account of the supervisor's agency, or 404 (another agency's staff included)."""
    user = db.session.scalar(staff_query(supervisor.agency_id).where(User.id == user_id)) if fits_int(user_id) else None
    if user is None:
        raise not_found("Staff account")
    return user


def list_staff(supervisor: User) -> list[User]:
    return list(db.session.scalars(staff_query(supervisor.agency_id).order_by(User.id)))


def _district_in_agency(agency_id: int, district_id: int | None) -> District:
    if district_id is None:
        raise field_error("district_id", "A district manager needs a district.")
    district = db.session.get(District, district_id) if fits_int(district_id) else None
    if district is None or district.agency_id != agency_id:
        raise field_error("district_id", "No such district in your agency.")
    return district


def create_staff(
    supervisor: User, *, email: str, password: str, role: Role, display_name: str | None = None,
    district_id: int | None = None,
) -> User:
    if role not in STAFF_ROLES:
        raise field_error("role", "Must be officer, supervisor or manager.")
    _check_unique_login(email, None)
    user = User(role=role, email=email, display_name=display_name or None,
                password_hash=_checked_password(password, email), password_changed_at=utcnow())
    if role == Role.MANAGER:
        user.district_id = _district_in_agency(supervisor.agency_id, district_id).id
    else:
        if district_id is not None:
            raise field_error("district_id", "Only district managers belong to a district.")
        user.agency_id = supervisor.agency_id
    db.session.add(user)
    db.session.flush()
    audit.record("staff.created", target=user, agency_id=supervisor.agency_id,
                 details={"role": role.value, "district_id": user.district_id})
    db.session.commit()
    return user


def _is_last_supervisor(user: User) -> bool:
    """Whether ``user`` is the only active supervisor of their agency (so cannot stop being one)."""
    if user.role != Role.SUPERVISOR or not user.active:
        return False
    others = db.session.scalar(
        sa.select(sa.func.count()).select_from(User).where(
            User.agency_id == user.agency_id, User.role == Role.SUPERVISOR, User.active.is_(True),
            User.id != user.id)
    )
    return others == 0


def update_staff(supervisor: User, user_id: int, *, role: Role | None = None, active: bool | None = None) -> User:
    """Change an officer's or supervisor's role, or (de)activate any staff account of the agency."""
    user = staff_for(supervisor, user_id)
    role_changes = role is not None and role != user.role
    deactivates = active is False and user.active
    reactivates = active is True and not user.active
    # Every check before any change, so a refused request changes nothing.
    if role_changes and role not in (Role.OFFICER, Role.SUPERVISOR):
        raise field_error("role", "Roles change between officer and supervisor only.")
    if role_changes and user.role == Role.MANAGER:
        # The request is well formed; the account it names is what rules it out.
        raise ApiError(409, "role_change_not_allowed",
                       "A district manager stays a district manager: roles change between officer and supervisor only.",
                       fields={"role": ["Roles change between officer and supervisor only."]})
    if deactivates and user.id == supervisor.id:
        # Well formed, but not the caller's to do: another supervisor deactivates this account.
        raise ApiError(403, "forbidden", "You cannot deactivate your own account; another supervisor can.",
                       fields={"active": ["You cannot deactivate your own account."]})
    if (role_changes or deactivates) and _is_last_supervisor(user):
        raise ApiError(409, "last_supervisor", "An agency keeps at least one active supervisor.")
    if role_changes:
        audit.record("staff.role_changed", target=user, agency_id=supervisor.agency_id,
                     details={"role": [user.role.value, role.value]})
        user.role = role
    if deactivates or reactivates:
        user.active = bool(active)
        details = {"role": user.role.value}
        if deactivates:
            # Ends every session the account has open; they stay ended if it is reactivated.
            details["sessions_ended"] = sessions.end_all(user, "deactivated")
        audit.record("staff.deactivated" if deactivates else "staff.reactivated", target=user,
                     agency_id=supervisor.agency_id, details=details)
    db.session.commit()
    return user


def reset_staff_second_factor(supervisor: User, user_id: int) -> User:
    """A supervisor takes two-step sign-in off a staff account of the agency (never their own)."""
    user = staff_for(supervisor, user_id)
    if user.id == supervisor.id:
        raise ApiError(403, "forbidden", "Another supervisor resets your own two-step sign-in.")
    second_factor.reset(user, actor=supervisor, agency_id=supervisor.agency_id, via="supervisor")
    return user


SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def create_agency_with_supervisor(
    *, name: str, slug: str, timezone: str, email: str, password: str, display_name: str | None = None
) -> tuple[Agency, User]:
    """The CLI's bootstrap: a new tenant and its first supervisor, in one transaction.

    Everything is checked before anything is written, so a refusal leaves no agency behind.
    """
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise field_error("name", "Must be 1 to 200 characters.")
    if not SLUG_RE.fullmatch(slug) or len(slug) > 64:
        raise field_error("slug", "Must be lower-case letters a-z, digits and single dashes, at most 64 characters.")
    if timezone not in available_timezones():
        raise field_error("timezone", f"Unknown IANA time zone {timezone!r}, e.g. America/Chicago.")
    if db.session.scalar(sa.select(Agency.id).where(Agency.slug == slug)) is not None:
        raise ApiError(409, "agency_exists", f"An agency with slug {slug!r} already exists.")
    _check_unique_login(email, None)
    password_hash = _checked_password(password, email)
    agency = Agency(name=name, slug=slug, timezone=timezone)
    db.session.add(agency)
    db.session.flush()
    user = User(role=Role.SUPERVISOR, email=email, agency_id=agency.id, display_name=display_name or None,
                password_hash=password_hash, password_changed_at=utcnow())
    db.session.add(user)
    db.session.flush()
    audit.record("agency.created", target=agency, agency_id=agency.id, actor=None,
                 details={"name": name, "slug": slug, "via": "cli"})
    audit.record("staff.created", target=user, agency_id=agency.id, actor=None,
                 details={"role": "supervisor", "via": "cli"})
    db.session.commit()
    return agency, user
