"""Sign-up, sign-in, passwords and staff accounts."""
from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext

from app.accounts import identities, invitations, second_factor, sessions, verification
from app.accounts.models import Role, User
from app.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from app.agencies.models import Agency, District
from app.audit import service as audit
from app.common.fields import fits_int, parse_login
from app.db import utcnow
from app.enrollment import service as enrollment
from app.errors import ApiError, field_error, not_found
from app.extensions import db
from app.i18n import in_language


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
    language: str | None = None,
) -> User:
    """Create an owner account, optionally joining an agency through an enrollment code.

    Its addresses start unproved: a link is e-mailed and a code texted (app/accounts/
    verification.py). The account is made, and the answer is the same, whether or not
    another account already proved an address; that account's holder is told instead.
    """
    if not email and not phone:
        raise ApiError(422, "validation_error", lazy_gettext("Give an e-mail address, a mobile number, or both."),
                       fields={"email": ["E-mail or phone is required."], "phone": ["E-mail or phone is required."]})
    code = enrollment.usable_code(enrollment_code) if enrollment_code else None
    user = User(
        role=Role.OWNER,
        email=email,
        phone=phone,
        phone_verified=False,
        display_name=display_name or None,
        password_hash=_checked_password(password, email, phone),
        password_changed_at=utcnow(),
        unverified_since=utcnow(),
        language=language,
    )
    db.session.add(user)
    db.session.flush()
    # Sent before the audit records: the audit chain's lock is not held across a network call.
    # In the language chosen, else the one the person is reading the app in.
    with in_language(language):
        verification.send_email_link(user)
        verification.send_phone_code(user)
    audit.record("account.signup", target=user, actor=user,
                 details={"email": bool(email), "phone": bool(phone), "via_code": bool(code),
                          **({"language": language} if language else {})})
    if code is not None:
        enrollment.redeem(user, code)
    db.session.commit()
    return user


def authenticate(login: str, password: str, code: str | None = None, account: str | None = None) -> User:
    """The active user with these credentials.

    A login may be held by an owner-side account and a staff account alike (one person,
    two accounts kept apart): the password decides. When it matches both, ``account``
    ("owner" or "staff") chooses, and without it the answer is 409
    ``account_choice_required``. An unproved claim signs in like a proved address (with
    its own account's password): sign-up makes the account either way, so signing in
    afterwards tells nobody whether the address was taken.

    A wrong login or password is one 401 (audited) that does not say which part was
    wrong. An account with two-step sign-in on also needs ``code``: its authenticator
    app's code or a recovery code (401 second_factor_required without one). An officer
    or supervisor without it yet gets a session that can only set it up (app/auth.py).
    """
    kind, value = parse_login(login)
    staff = None if account is None else account == "staff"
    candidates = list(db.session.scalars(identities.logins_query(kind, value, staff=staff))) if value else []
    matched = [user for user in candidates if verify_password(user.password_hash, password)]
    for _ in range(len(candidates), identities.SIGN_IN_CHECKS):
        verify_password(None, password)
    usable = [user for user in matched if user.active]
    if not usable:
        user = matched[0] if matched else candidates[0] if candidates else None
        # The typed login is not kept: people paste passwords into the login box, and the
        # log is append-only. A keyed fingerprint still ties repeated attempts together.
        audit.record("auth.signin_failed", target_type="user", target_id=user.id if user else None,
                     actor=None, agency_id=user.agency_id if user else None,
                     details={"login_kind": kind, "login_fingerprint": _fingerprint(value or login.strip()),
                              "reason": "inactive" if matched else "bad_credentials"})
        db.session.commit()
        raise ApiError(401, "invalid_credentials", lazy_gettext("That login and password do not match "
                                                                "an active account."))
    if len({user.is_staff for user in usable}) > 1:
        # Only someone who knows the password of both learns that both exist.
        raise ApiError(409, "account_choice_required",
                       "This login and password open a resident account and a staff account (police or oversight): "
                       "choose one (account: owner or staff).",
                       fields={"account": ["Choose owner or staff."]})
    user = usable[0]
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
                   notify_sms: bool | None = None, notify_email: bool | None = None,
                   channel_order: list[str] | None = None, language: str | None = _UNSET) -> User:
    """Change the given fields only; channel choices are for owners (staff get no requests)."""
    channels = {name: value for name, value in (("notify_push", notify_push), ("notify_sms", notify_sms),
                                                ("notify_email", notify_email),
                                                ("channel_order", channel_order and ",".join(channel_order)))
                if value is not None}
    if display_name is _UNSET and language is _UNSET and not channels:
        raise ApiError(422, "validation_error",
                       lazy_gettext("Give display_name, language, notify_push, "
                                    "notify_sms, notify_email or channel_order."))
    if channels and user.role != Role.OWNER:
        # Well-formed, but not this account's to set (staff and managers get no requests).
        name = next(iter(channels))
        raise ApiError(403, "forbidden", lazy_gettext("Only camera owners choose how requests reach them."),
                       fields={name: ["Only camera owners choose how requests reach them."]})
    changed = {}
    if display_name is not _UNSET:
        user.display_name = display_name or None
        changed["display_name"] = True
    if language is not _UNSET and user.language != language:
        user.language = language
        changed["language"] = language
    for name, value in channels.items():
        if getattr(user, name) != value:
            changed[name] = value
        setattr(user, name, value)
    audit.record("account.profile_updated", target=user, actor=user, details={"changed": sorted(changed)})
    db.session.commit()
    return user


# --- staff accounts, managed by supervisors -------------------------------------

STAFF_ROLES = (Role.OFFICER, Role.SUPERVISOR, Role.MANAGER, Role.OVERSIGHT)


def staff_query(agency_id: int) -> sa.Select:
    in_agency_district = sa.select(District.id).where(District.agency_id == agency_id)
    return sa.select(User).where(
        sa.or_(
            sa.and_(User.role.in_([Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT]), User.agency_id == agency_id),
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
                       lazy_gettext("A district manager stays a district manager: roles "
                                    "change between officer and supervisor only."),
                       fields={"role": ["Roles change between officer and supervisor only."]})
    if role_changes and user.role == Role.OVERSIGHT:
        # Oversight is not a rank in the police: an overseer is never made one (nor the reverse).
        raise ApiError(409, "role_change_not_allowed",
                       "An oversight account stays an oversight account: roles change between officer "
                       "and supervisor only.",
                       fields={"role": ["Roles change between officer and supervisor only."]})
    if deactivates and user.id == supervisor.id:
        # Well formed, but not the caller's to do: another supervisor deactivates this account.
        raise ApiError(403, "forbidden", lazy_gettext("You cannot deactivate your own account; "
                                                      "another supervisor can."),
                       fields={"active": ["You cannot deactivate your own account."]})
    if (role_changes or deactivates) and _is_last_supervisor(user):
        raise ApiError(409, "last_supervisor", lazy_gettext("An agency keeps at least one active supervisor."))
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
        raise ApiError(403, "forbidden", lazy_gettext("Another supervisor resets your own two-step sign-in."))
    second_factor.reset(user, actor=supervisor, agency_id=supervisor.agency_id, via="supervisor")
    return user


SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def create_agency_with_supervisor(
    *, name: str, slug: str, timezone: str, email: str, display_name: str | None = None
) -> tuple[Agency, str]:
    """The CLI's bootstrap: a new tenant and an invitation for its first supervisor, in one
    transaction; returns the agency and the invitation's link (the operator hands it over).

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
    if invitations.address_held(email, staff=True):
        # A resident's account with the address does not stand in the way (it stays apart).
        raise ApiError(409, "account_exists", f"A staff account with the e-mail {email} already exists.")
    agency = Agency(name=name, slug=slug, timezone=timezone)
    db.session.add(agency)
    db.session.flush()
    audit.record("agency.created", target=agency, agency_id=agency.id, actor=None,
                 details={"name": name, "slug": slug, "via": "cli"})
    link = invitations.invite_supervisor_by_operator(agency, email=email, display_name=display_name)
    db.session.commit()
    return agency, link
