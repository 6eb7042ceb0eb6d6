"""Staff join by invitation: no supervisor ever sets or knows a staff member's password.

A supervisor invites an e-mail address into a role; the e-mail carries a single-use link
(72 hours) to the app's join screen. There the invitee chooses a password, sets up an
authenticator app and confirms a code from it; only then is the account created, in one
transaction, with the address verified (the link proved it) and two-step sign-in on. So
there is never a password-only session of an invited staff account.

The link carries ``<id>.<secret>``: 256 random bits of which only the SHA-256 is kept
(as app/accounts/tokens.py does for its links; an invitation has no account yet to hang
a one-time token on). Resending replaces the secret, so the old link dies.

Inviting answers the same whether or not the address has an owner account: the
supervisor learns nothing about residents. One person may hold a resident account and a
staff account with the same address (app/accounts/identities.py): the two stay apart,
each with its own password, sessions and data.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from html import escape

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import links
from app.accounts import identities, second_factor
from app.accounts.models import Role, StaffInvitation, User
from app.accounts.passwords import hash_password, password_problem
from app.agencies.models import Agency, District
from app.audit import service as audit
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError, field_error, not_found
from app.extensions import db
from app.notifications import mail, mail_log

INVITATION_TTL = timedelta(hours=72)
JOIN_PATH = "/#/join/{token}"
INVITABLE_ROLES = (Role.OFFICER, Role.SUPERVISOR, Role.MANAGER, Role.OVERSIGHT)
ROLE_WORDS = {Role.OFFICER: "an officer", Role.SUPERVISOR: "a supervisor", Role.MANAGER: "a district manager",
              Role.OVERSIGHT: "a member of its civilian oversight (read-only)"}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(invitation: StaffInvitation) -> str:
    """A fresh secret for ``invitation`` (the previous link stops working); returns the link's token."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    invitation.secret_hash = _hash(secret)
    invitation.sent_at = now
    invitation.expires_at = now + INVITATION_TTL
    invitation.totp_pending_secret = None
    return f"{invitation.id}.{secret}"


def join_url(token: str) -> str:
    return links.absolute_url(JOIN_PATH.format(token=token))


def state(invitation: StaffInvitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= utcnow() else "pending"


# --- the supervisor's side ------------------------------------------------------------------------


def _checked_district(agency_id: int, role: Role, district_id: int | None) -> int | None:
    if role != Role.MANAGER:
        if district_id is not None:
            raise field_error("district_id", "Only district managers belong to a district.")
        return None
    if district_id is None:
        raise field_error("district_id", "A district manager needs a district.")
    district = db.session.get(District, district_id) if fits_int(district_id) else None
    if district is None or district.agency_id != agency_id:
        raise field_error("district_id", "No such district in your agency.")
    return district.id


def _open_invitation_for(agency_id: int, email: str) -> StaffInvitation | None:
    return db.session.scalar(sa.select(StaffInvitation).where(
        StaffInvitation.agency_id == agency_id, StaffInvitation.email == email,
        StaffInvitation.accepted_at.is_(None), StaffInvitation.revoked_at.is_(None)))


def _is_staff_of(agency_id: int, email: str) -> bool:
    # The supervisor sees the agency's staff list anyway, so saying so tells them nothing new.
    in_agency_district = sa.select(District.id).where(District.agency_id == agency_id)
    return db.session.scalar(sa.select(User.id).where(User.email == email, sa.or_(
        sa.and_(User.role.in_([Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT]), User.agency_id == agency_id),
        sa.and_(User.role == Role.MANAGER, User.district_id.in_(in_agency_district)))).limit(1)) is not None


def invite(supervisor: User, *, email: str, role: Role, display_name: str | None = None,
           district_id: int | None = None) -> StaffInvitation:
    """Invite ``email`` into ``role`` of the supervisor's agency and e-mail the link.

    The answer is the same whether or not an owner account uses the address.
    """
    if role not in INVITABLE_ROLES:
        raise field_error("role", "Must be officer, supervisor, manager or oversight.")
    agency_id = supervisor.agency_id
    district = _checked_district(agency_id, role, district_id)
    if _is_staff_of(agency_id, email):
        raise ApiError(409, "already_staff", "This address already belongs to your agency's staff.",
                       fields={"email": ["Already on your staff."]})
    if _open_invitation_for(agency_id, email) is not None:
        raise ApiError(409, "invitation_pending", "This address already has an open invitation: resend it instead.",
                       fields={"email": ["Already invited; resend that invitation instead."]})
    invitation = StaffInvitation(agency_id=agency_id, email=email, role=role, display_name=display_name or None,
                                 district_id=district, invited_by_id=supervisor.id, secret_hash="",
                                 expires_at=utcnow())
    db.session.add(invitation)
    db.session.flush()
    token = _new_secret(invitation)
    _send(invitation, token, inviter=supervisor)
    audit.record("staff.invited", target=invitation, actor=supervisor, agency_id=agency_id,
                 details={"role": role.value, "district_id": district})
    db.session.commit()
    return invitation


def open_invitations(supervisor: User) -> list[StaffInvitation]:
    """The agency's invitations not yet accepted or revoked (expired ones too: they can be resent)."""
    return list(db.session.scalars(sa.select(StaffInvitation).where(
        StaffInvitation.agency_id == supervisor.agency_id, StaffInvitation.accepted_at.is_(None),
        StaffInvitation.revoked_at.is_(None)).order_by(StaffInvitation.id)))


def invitation_for(supervisor: User, invitation_id: int) -> StaffInvitation:
    """An invitation of the supervisor's agency, or 404 (another agency's included)."""
    invitation = db.session.get(StaffInvitation, invitation_id) if fits_int(invitation_id) else None
    if invitation is None or invitation.agency_id != supervisor.agency_id:
        raise not_found("Invitation")
    return invitation


def _still_open(invitation: StaffInvitation) -> None:
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ApiError(409, "invitation_closed",
                       f"This invitation was {state(invitation)}; invite the address again if needed.")


def resend(supervisor: User, invitation_id: int) -> StaffInvitation:
    """A new link for 72 hours more; the one sent before stops working."""
    invitation = invitation_for(supervisor, invitation_id)
    _still_open(invitation)
    token = _new_secret(invitation)
    _send(invitation, token, inviter=supervisor)
    audit.record("staff.invitation_resent", target=invitation, actor=supervisor, agency_id=invitation.agency_id,
                 details={"role": invitation.role.value})
    db.session.commit()
    return invitation


def revoke(supervisor: User, invitation_id: int) -> StaffInvitation:
    invitation = invitation_for(supervisor, invitation_id)
    _still_open(invitation)
    invitation.revoked_at = utcnow()
    invitation.totp_pending_secret = None
    audit.record("staff.invitation_revoked", target=invitation, actor=supervisor, agency_id=invitation.agency_id,
                 details={"role": invitation.role.value})
    db.session.commit()
    return invitation


def invite_supervisor_by_operator(agency: Agency, *, email: str, display_name: str | None = None) -> str:
    """An operator's invitation of a supervisor (the CLI: an agency's first, or a new one
    when its only supervisor's link expired); returns the link. An open invitation of the
    address to the agency is replaced (its link dies).

    The caller commits. Nothing is mailed: the operator hands the link over.
    """
    earlier = _open_invitation_for(agency.id, email)
    if earlier is not None:
        earlier.revoked_at = utcnow()
        earlier.totp_pending_secret = None
        audit.record("staff.invitation_revoked", target=earlier, actor=None, agency_id=agency.id,
                     details={"role": earlier.role.value, "via": "cli"})
    invitation = StaffInvitation(agency_id=agency.id, email=email, role=Role.SUPERVISOR,
                                 display_name=display_name or None, secret_hash="", expires_at=utcnow())
    db.session.add(invitation)
    db.session.flush()
    token = _new_secret(invitation)
    audit.record("staff.invited", target=invitation, actor=None, agency_id=agency.id,
                 details={"role": Role.SUPERVISOR.value, "district_id": None, "via": "cli"})
    return join_url(token)


# --- the e-mail ----------------------------------------------------------------------------------


def _send(invitation: StaffInvitation, token: str, *, inviter: User) -> None:
    agency = db.session.get(Agency, invitation.agency_id)
    who = inviter.display_name or inviter.email or "A supervisor"
    role = ROLE_WORDS[invitation.role]
    url = join_url(token)
    hours = int(INVITATION_TTL.total_seconds() // 3600)
    subject = f"{who} invites you to join {agency.name} on Porchlight"
    text = (f"{who} invited you to join {agency.name} on Porchlight as {role}.\n\n"
            f"Open this link within {hours} hours to choose your password and set up two-step sign-in "
            f"with an authenticator app:\n\n{url}\n\n"
            "The link works once. If you did not expect this invitation, ignore this e-mail: "
            "nothing happens without the link.\n")
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(subject)}</title></head>'
            f"<body><p>{escape(who)} invited you to join <strong>{escape(agency.name)}</strong> on Porchlight "
            f"as {escape(role)}.</p>"
            f"<p>Open this link within {hours} hours to choose your password and set up two-step sign-in with "
            f'an authenticator app:</p><p><a href="{escape(url)}">Join {escape(agency.name)}</a></p>'
            f"<p>Or copy this address into your browser: {escape(url)}</p>"
            "<p>The link works once. If you did not expect this invitation, ignore this e-mail: nothing happens "
            "without the link.</p></body></html>")
    mail_log.send_now(None, mail.Mail(to=invitation.email, subject=subject, text=text, html=html))


# --- the invitee's side ----------------------------------------------------------------------------


def _gone() -> ApiError:
    # One answer for a made-up, used, revoked, replaced or expired link: a new one is needed either way.
    return ApiError(410, "invitation_invalid", "This invitation link has been used, revoked, replaced by a newer "
                    "one or has expired (links last 72 hours): ask your supervisor for a new one.")


def peek(token: str) -> StaffInvitation:
    """The live invitation a link stands for, without using it; 410 otherwise."""
    ident, _, secret = (token or "").partition(".")
    if not ident.isdigit() or len(ident) > 18 or not secret or len(secret) > 100:
        raise _gone()
    invitation = db.session.get(StaffInvitation, int(ident)) if fits_int(int(ident)) else None
    if (invitation is None or state(invitation) != "pending"
            or not hmac.compare_digest(invitation.secret_hash, _hash(secret))):
        raise _gone()
    return invitation


def _checked_password(invitation: StaffInvitation, password: str) -> str:
    problem = password_problem(password, invitation.email)
    if problem:
        raise field_error("password", problem)
    return hash_password(password)


def begin_setup(token: str, password: str) -> dict[str, str]:
    """Check the chosen password, then a new authenticator secret to confirm with a code.

    Nothing is stored but the secret (encrypted, on the invitation): the password is sent
    again with the code, and the account is made only then.
    """
    invitation = peek(token)
    problem = password_problem(password, invitation.email)
    if problem:
        raise field_error("password", problem)
    secret = second_factor.new_secret()
    invitation.totp_pending_secret = secret
    db.session.commit()
    return second_factor.provisioning(secret, invitation.email)


def accept(token: str, password: str, code: str) -> tuple[User, list[str]]:
    """Create the invited account, with its password and two-step sign-in, and use the link.

    Every check comes first and the link is used in the same transaction that creates the
    account, so a refusal leaves the link working and no account behind.
    """
    invitation = peek(token)
    if not invitation.totp_pending_secret:
        raise ApiError(409, "no_setup_started", "Set up the authenticator app first (the QR code step).")
    password_hash = _checked_password(invitation, password)
    step = second_factor.matching_step(invitation.totp_pending_secret, code)
    if step is None:
        audit.record("staff.join_failed", target=invitation, actor=None, agency_id=invitation.agency_id,
                     details={"reason": "bad_second_factor"})
        db.session.commit()
        raise field_error("code", "That code does not match: type the 6 digits your app shows now.")
    staff = invitation.role.on_staff_side
    if address_held(invitation.email, staff=staff):
        # Only the holder of the address (who opened the link) learns this, and it is theirs.
        raise ApiError(409, "account_exists", f"You already have {'a staff' if staff else 'an owner-side'} "
                       "account with this e-mail address: sign in with it instead.",
                       fields={"email": ["You already have an account of this kind with this address."]})
    now = utcnow()
    used = db.session.execute(
        sa.update(StaffInvitation)
        .where(StaffInvitation.id == invitation.id, StaffInvitation.accepted_at.is_(None),
               StaffInvitation.revoked_at.is_(None), StaffInvitation.expires_at > now)
        .values(accepted_at=now).execution_options(synchronize_session=False)).rowcount
    if not used:
        raise _gone()
    secret = invitation.totp_pending_secret
    # A resident account with the same address stays apart: another side, its own password
    # and sessions (app/accounts/identities.py).
    user = User(role=invitation.role, display_name=invitation.display_name,
                password_hash=password_hash, password_changed_at=now,
                agency_id=None if invitation.role == Role.MANAGER else invitation.agency_id,
                district_id=invitation.district_id, last_signin_at=now)
    # The link proved the address: first to verify wins, so unproved claims of it on this
    # side end (identities.mark_verified).
    identities.mark_verified(user, identities.EMAIL, invitation.email)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "account_exists", "An account with this e-mail address already exists.",
                       fields={"email": ["An account with this address already exists."]}) from None
    codes = second_factor.turn_on(user, secret, step)
    db.session.execute(sa.update(StaffInvitation).where(StaffInvitation.id == invitation.id)
                       .values(user_id=user.id, totp_pending_secret=None)
                       .execution_options(synchronize_session=False))
    db.session.expire(invitation)
    audit.record("staff.joined", target=user, actor=user, agency_id=invitation.agency_id,
                 details={"invitation_id": invitation.id, "role": user.role.value,
                          "invited_by": invitation.invited_by_id, "district_id": user.district_id})
    db.session.commit()
    current_app.logger.info("staff account %s joined agency %s by invitation %s", user.id, invitation.agency_id,
                            invitation.id)
    return user, codes


def address_held(email: str, *, staff: bool) -> bool:
    """Whether an account of this side holds ``email``: proved it, or had it before verified
    identities (those keep their addresses). Unproved claims do not count."""
    return db.session.scalar(sa.select(User.id).where(
        User.email == email, User.is_staff.is_(staff),
        sa.or_(identities.verified(identities.EMAIL), User.unverified_since.is_(None))).limit(1)) is not None
