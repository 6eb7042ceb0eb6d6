"""Sign-up, sign-in, sign-out, the current user, and supervisors' staff management."""
from apiflask import APIBlueprint
from flask import after_this_request, session
from flask_login import logout_user

from app.accounts import devices, invitations, second_factor, service, sessions, verification
from app.accounts.devices import logins_of, trusted_device, typed_login, untrusted_device
from app.accounts.models import Role
from app.accounts.recovery import ACCEPTED, account_label, check_link, request_reset, reset_password
from app.accounts.schemas import (
    EmailVerificationIn,
    EmailVerificationSentOut,
    EmailVerifyIn,
    InvitationIn,
    InvitationOut,
    InvitationPreviewOut,
    JoinedOut,
    JoinIn,
    JoinSetupIn,
    MeOut,
    PasswordChangeIn,
    PasswordConfirmIn,
    PasswordResetAcceptedOut,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PasswordResetLinkOut,
    PasswordResetLinkQuery,
    ProfileIn,
    RecoveryCodesOut,
    SecondFactorConfirmIn,
    SecondFactorSetupOut,
    SessionOut,
    SessionsEndedOut,
    SignInIn,
    SignUpIn,
    StaffPatchIn,
    UserOut,
    VerifiedOut,
)
from app.agencies.service import account_time_zone, memberships_of
from app.auth import SECURITY, me, require_login, require_login_during_setup, require_role, start_session
from app.ratelimits import (
    RATE_LIMITED,
    client_ip,
    device_key,
    everyone,
    failed_sign_in,
    limited,
    signed_up,
    user_or_ip,
    without_enrollment_code,
    without_phone,
)

bp = APIBlueprint("accounts", __name__, url_prefix="/api", tag="Accounts")


def _me_payload(user):
    user.memberships = memberships_of(user) if user.role == Role.OWNER else []
    user.second_factor = second_factor.status(user)
    user.time_zone = account_time_zone(user)
    return user


@bp.post("/auth/signup")
@limited("RATELIMIT_SIGN_UP", client_ip, "sign-ups from this address")
@limited("RATELIMIT_ENROLLMENT_LOOKUP", client_ip, "enrollment codes tried from this address",
         shared_scope="enrollment-code", exempt_when=without_enrollment_code)
# Sign-up texts a code too: it spends the same instance-wide budget as Settings' codes.
@limited("RATELIMIT_VERIFICATION_SMS_TOTAL", everyone, "verification texts sent by this server just now",
         shared_scope="verification-sms", only_when=signed_up, exempt_when=without_phone)
@bp.input(SignUpIn, arg_name="data")
@bp.output(MeOut, status_code=201)
@bp.doc(responses={404: "Not found", 410: "Gone", 422: "Validation error", 429: RATE_LIMITED,
                   503: "The verification e-mail or text could not be sent"})
def sign_up(data):
    """Create an owner account and sign in; a link is e-mailed and a code texted to prove the addresses

    Owners sign up with an e-mail address, a mobile number, or both. The answer is the
    same whether or not another account already has an address (its holder is told
    instead): an address counts only once proved (POST /api/auth/verify-email with the
    link's token, /api/auth/phone/verify with the code), and requests reach only proved
    ones. With an enrollment code the account joins that agency (and district) at once.
    """
    user = service.sign_up_owner(**data)
    start_session(user)
    return _me_payload(user)


@bp.post("/auth/signin")
@limited("RATELIMIT_SIGN_IN", client_ip, "sign-in attempts from this address", exempt_when=trusted_device)
@limited("RATELIMIT_SIGN_IN_LOGIN", typed_login, "sign-in attempts for this login", exempt_when=trusted_device)
@limited("RATELIMIT_SIGN_IN_DEVICE", device_key, "failed sign-ins from this device", only_when=failed_sign_in,
         exempt_when=untrusted_device)
@bp.input(SignInIn, arg_name="data")
@bp.output(MeOut)
@bp.doc(responses={401: "Unauthenticated: `invalid_credentials`; `second_factor_required` (send `code` too) or "
                        "`invalid_second_factor` for accounts with two-step sign-in",
                   409: "`account_choice_required`: the login and password open a resident and a staff "
                        "account; send `account` (owner or staff)",
                   422: "Validation error", 429: RATE_LIMITED})
def sign_in(data):
    """Sign in with e-mail or phone and password (and a two-step code); sets the session cookie

    Officers and supervisors without two-step sign-in yet get a session that can only
    set it up: `second_factor.setup_required` is true in the answer. A sign-in with
    every factor also sets a device cookie: later sign-ins to this login from this
    browser are not held up by the lockout that other clients' failures cause.
    """
    user = service.authenticate(data["login"], data["password"], data.get("code"), data.get("account"))
    start_session(user)
    if not second_factor.needs_setup(user):
        _remember_device(user)
    return _me_payload(user)


def _remember_device(user) -> None:
    logins = logins_of(user)
    after_this_request(lambda response: devices.remember(response, logins) or response)


@bp.post("/auth/signout")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401])
@require_login_during_setup
def sign_out():
    """End this session

    The session is ended on the server: its cookie, even copied, signs nobody in again.
    """
    service.sign_out(me())
    logout_user()
    session.clear()
    return ""


@bp.get("/auth/sessions")
@bp.output(SessionOut(many=True))
@bp.doc(security=SECURITY, responses=[401])
@require_login
def list_sessions():
    """The devices signed in to your account, most recently used first"""
    return sessions.list_open(me())


@bp.delete("/auth/sessions/<int:session_id>")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401, 404])
@require_login
def end_session(session_id):
    """Sign out one of your sessions (this one included)"""
    if sessions.sign_out_session(me(), session_id):
        logout_user()
        session.clear()
    return ""


@bp.post("/auth/sessions/sign-out-others")
@bp.output(SessionsEndedOut)
@bp.doc(security=SECURITY, responses=[401])
@require_login
def sign_out_others():
    """Sign out every other device; this one stays signed in"""
    return {"ended": sessions.sign_out_others(me())}


@bp.get("/auth/me")
@bp.output(MeOut)
@bp.doc(security=SECURITY, responses=[401])
@require_login_during_setup
def current():
    """The signed-in account, with an owner's agency memberships"""
    return _me_payload(me())


@bp.patch("/auth/me")
@bp.input(ProfileIn, arg_name="data")
@bp.output(MeOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Notification channels are for owners only",
                                      422: "Validation error"})
@require_login
def update_me(data):
    """Change the display name, the language or, for owners, the channels requests arrive by"""
    return _me_payload(service.update_profile(me(), **data))


@bp.post("/auth/password")
@bp.input(PasswordChangeIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_login
def change_password(data):
    """Change the password; every other session of the account ends"""
    user = me()
    service.change_password(user, data["current_password"], data["new_password"])
    # Every session of the account ended; this client starts a new one.
    start_session(user)
    return ""


# --- password recovery (rules in app/accounts/recovery.py) ---------------------------------------

@bp.post("/auth/password-reset")
@limited("RATELIMIT_PASSWORD_RESET", client_ip, "password-reset requests from this address")
@bp.input(PasswordResetIn, arg_name="data")
@bp.output(PasswordResetAcceptedOut, status_code=202)
@bp.doc(responses={422: "Validation error", 429: RATE_LIMITED})
def request_password_reset(data):
    """Ask for a password reset: a link by e-mail, or a 6-digit code by SMS

    The answer is the same whether or not an account uses this login, and whether or
    not anything was sent: only the holder of a *verified* address hears of it. Links
    and codes work once, for 30 minutes; a few per hour are sent per account and
    address (more requests are answered the same and send nothing).
    """
    request_reset(data["login"])
    return {"message": ACCEPTED}


@bp.get("/auth/password-reset/link")
@bp.input(PasswordResetLinkQuery, location="query", arg_name="query")
@bp.output(PasswordResetLinkOut)
@bp.doc(responses={410: "The link was used, replaced by a newer one or expired (`link_invalid`)",
                   422: "Validation error"})
def check_password_reset_link(query):
    """Whether a reset link still works, and which account it is for; uses nothing

    E-mail scanners open links on their own: this only looks.
    """
    user, expires_at = check_link(query["token"])
    return {"account": account_label(user), "email": user.email, "expires_at": expires_at}


@bp.post("/auth/password-reset/confirm")
@limited("RATELIMIT_PASSWORD_RESET_CONFIRM", client_ip, "password-reset attempts from this address")
@bp.input(PasswordResetConfirmIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(responses={410: "The link was used, replaced or expired (`link_invalid`)",
                   422: "Validation error; `code_invalid` for a wrong, used or expired code", 429: RATE_LIMITED})
def confirm_password_reset(data):
    """Choose a new password with the e-mailed link's token, or with the texted code

    Send `token` and `password`, or `login`, `code` and `password`. Every session of
    the account ends, and nobody is signed in: sign in with the new password (and,
    for police accounts, the authenticator app's code).
    """
    reset_password(**data)
    return ""


@bp.post("/auth/second-factor/setup")
@bp.output(SecondFactorSetupOut)
@bp.doc(security=SECURITY, responses={
    401: "Unauthenticated",
    409: "Already on (`second_factor_enabled`), or reset on an account with no e-mail address (`no_email`)",
    429: "Too many e-mailed codes in the last hour (after a reset)"})
@require_login_during_setup
def second_factor_setup():
    """Start setting up two-step sign-in: a new secret and its QR code for an authenticator app

    Nothing changes until a code from the app confirms it
    (POST /api/auth/second-factor/confirm); asking again replaces the secret. After a
    supervisor or the operator reset it, a 6-digit code is also e-mailed to the account
    (`email_code_sent_to`), which the confirmation needs: the password alone does not let
    someone else enrol their own app.
    """
    return second_factor.begin_setup(me())


@bp.post("/auth/second-factor/confirm")
@bp.input(SecondFactorConfirmIn, arg_name="data")
@bp.output(RecoveryCodesOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 409: "Already on, or no set-up started",
                                      410: "The e-mailed code was used, replaced, tried too often or expired",
                                      422: "Validation error (a code that does not match)", 429: RATE_LIMITED})
@require_login_during_setup
def second_factor_confirm(data):
    """Turn two-step sign-in on with a code from the app; answers the recovery codes, once

    Every other session of the account ends; this one continues.
    """
    user = me()
    codes = second_factor.confirm_setup(user, data["code"], data.get("email_code"))
    start_session(user)  # every session of the account ended; this client starts a new one
    _remember_device(user)  # password and code: every factor
    return {"recovery_codes": codes, "second_factor": second_factor.status(user)}


@bp.post("/auth/second-factor/recovery-codes")
@bp.input(PasswordConfirmIn, arg_name="data")
@bp.output(RecoveryCodesOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Wrong password", 409: "Two-step sign-in is off",
                                      422: "Validation error"})
@require_login
def replace_recovery_codes(data):
    """Replace the recovery codes (the old ones stop working); needs the password"""
    user = me()
    codes = second_factor.regenerate_recovery_codes(user, data["password"])
    return {"recovery_codes": codes, "second_factor": second_factor.status(user)}


@bp.delete("/auth/second-factor")
@bp.input(PasswordConfirmIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated",
                                      403: "Wrong password, or a role that must keep it (`second_factor_required`)",
                                      409: "Already off", 422: "Validation error"})
@require_login
def disable_second_factor(data):
    """Turn two-step sign-in off (owners and district managers; police accounts must keep it)"""
    second_factor.disable(me(), data["password"])
    return ""


@bp.get("/agency/staff")
@bp.output(UserOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(Role.SUPERVISOR)
def list_staff():
    """Officers, supervisors and district managers of your agency"""
    return service.list_staff(me())


@bp.patch("/agency/staff/<int:user_id>")
@bp.input(StaffPatchIn, arg_name="data")
@bp.output(UserOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409, 422])
@require_role(Role.SUPERVISOR)
def update_staff(user_id, data):
    """Change a staff member's role (officer/supervisor) or deactivate the account"""
    role = Role(data["role"]) if "role" in data else None
    return service.update_staff(me(), user_id, role=role, active=data.get("active"))


@bp.post("/agency/staff/<int:user_id>/second-factor/reset")
@bp.output(UserOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.SUPERVISOR)
def reset_staff_second_factor(user_id):
    """Take two-step sign-in off a staff account (a lost phone)

    The account's sessions end, and its next sign-in leads to setting it up again.
    """
    return service.reset_staff_second_factor(me(), user_id)


# --- staff invitations (app/accounts/invitations.py) ---------------------------------------------

def _invitation_payload(invitation):
    invitation.state = invitations.state(invitation)
    inviter = invitation.invited_by
    invitation.invited_by_name = (inviter.display_name or inviter.email) if inviter else None
    return invitation


@bp.get("/staff/invitations")
@bp.output(InvitationOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(Role.SUPERVISOR)
def list_invitations():
    """Your agency's invitations not yet accepted or revoked (expired ones can be resent)"""
    return [_invitation_payload(i) for i in invitations.open_invitations(me())]


@bp.post("/staff/invitations")
@limited("RATELIMIT_INVITATIONS", user_or_ip, "invitations sent", shared_scope="staff-invitations")
@bp.input(InvitationIn, arg_name="data")
@bp.output(InvitationOut, status_code=201)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Supervisors only",
                                      409: "Already on your staff, or already invited (resend that one)",
                                      422: "Validation error", 429: RATE_LIMITED, 503: "The e-mail could not be sent"})
@require_role(Role.SUPERVISOR)
def invite_staff(data):
    """Invite an officer, supervisor or district manager by e-mail

    The address gets a single-use link (72 hours) to choose a password and set up
    two-step sign-in; the account exists once they have. The answer is the same
    whether or not the address has a resident's account.
    """
    data["role"] = Role(data["role"])
    return _invitation_payload(invitations.invite(me(), **data))


@bp.post("/staff/invitations/<int:invitation_id>/resend")
@limited("RATELIMIT_INVITATIONS", user_or_ip, "invitations sent", shared_scope="staff-invitations")
@bp.output(InvitationOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Supervisors only", 404: "Not found",
                                      409: "Already accepted or revoked", 429: RATE_LIMITED,
                                      503: "The e-mail could not be sent"})
@require_role(Role.SUPERVISOR)
def resend_invitation(invitation_id):
    """Send the invitation again with a new link for 72 hours; the earlier link stops working"""
    return _invitation_payload(invitations.resend(me(), invitation_id))


@bp.delete("/staff/invitations/<int:invitation_id>")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Supervisors only", 404: "Not found",
                                      409: "Already accepted or revoked"})
@require_role(Role.SUPERVISOR)
def revoke_invitation(invitation_id):
    """Revoke an invitation: its link stops working"""
    invitations.revoke(me(), invitation_id)
    return ""


@bp.get("/invitations/<token>")
@bp.output(InvitationPreviewOut)
@bp.doc(responses={410: "Used, revoked, replaced or expired (`invitation_invalid`)"})
def show_invitation(token):
    """What an invitation link invites to: the agency, the role and the address (the link stays unused)"""
    invitation = invitations.peek(token)
    return {"agency_name": invitation.agency.name, "role": invitation.role.value, "email": invitation.email,
            "display_name": invitation.display_name, "expires_at": invitation.expires_at}


@bp.post("/invitations/<token>/second-factor")
@limited("RATELIMIT_INVITATION_JOIN", client_ip, "attempts to join from this address", shared_scope="join")
@bp.input(JoinSetupIn, arg_name="data")
@bp.output(SecondFactorSetupOut)
@bp.doc(responses={410: "Used, revoked, replaced or expired (`invitation_invalid`)", 422: "Validation error",
                   429: RATE_LIMITED})
def join_second_factor(token, data):
    """Joining, step 1: check the chosen password and get a secret and QR code for an authenticator app

    Nothing is created yet; asking again replaces the secret.
    """
    return invitations.begin_setup(token, data["password"])


@bp.post("/invitations/<token>/accept")
@limited("RATELIMIT_INVITATION_JOIN", client_ip, "attempts to join from this address", shared_scope="join")
@bp.input(JoinIn, arg_name="data")
@bp.output(JoinedOut, status_code=201)
@bp.doc(responses={409: "No authenticator set up yet (`no_setup_started`), or the address cannot join",
                   410: "Used, revoked, replaced or expired (`invitation_invalid`)",
                   422: "Validation error (a code that does not match)", 429: RATE_LIMITED})
def accept_invitation(token, data):
    """Joining, step 2: confirm a code from the app; creates the account, signed in, with two-step sign-in on

    The answer carries the recovery codes, shown only now. The link is used up.
    """
    user, codes = invitations.accept(token, data["password"], data["code"])
    start_session(user)
    _remember_device(user)  # password and code: every factor
    payload = _me_payload(user)
    payload.new_recovery_codes = codes  # (User.recovery_codes holds their hashes)
    return payload
# --- proving an e-mail address (app/accounts/verification.py) -------------------------------

@bp.post("/auth/verify-email")
@limited("RATELIMIT_SIGN_IN", client_ip, "verification attempts from this address")
@bp.input(EmailVerifyIn, arg_name="data")
@bp.output(VerifiedOut)
@bp.doc(responses={410: "`link_invalid`: used, replaced, expired, or the address was proved by another account",
                   422: "Validation error", 429: RATE_LIMITED})
def verify_email(data):
    """Prove an e-mail address with the token of the link sent to it

    The link opens a page with a Confirm button that sends this POST: opening the link
    (as mail scanners do) changes nothing. The first account to prove an address owns
    it; other accounts' unproved claims to it end. Needs no session (the link may be
    opened on another device).
    """
    user = verification.confirm_email(data["token"])
    return {"email": user.email, "email_verified": True}


@bp.post("/auth/email/verification")
@limited("RATELIMIT_EMAIL_VERIFICATION", user_or_ip, "verification links asked for by your account")
@bp.input(EmailVerificationIn, arg_name="data")
@bp.output(EmailVerificationSentOut, status_code=202)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 409: "`no_email` or `already_verified`",
                                      422: "Validation error", 429: RATE_LIMITED})
@require_login
def send_email_verification(data):
    """E-mail a link that proves an address: your account's own, or one to add or change to

    Settings' "Verify" / "Resend", and "Add" / "Change" with `email`. The account keeps
    the address it has until the link sent to the new one is confirmed; an address that
    was verified before is then told of the change. The answer is the same whether or
    not the address belongs to another account (its holder is told instead), and at most
    three messages an hour reach one address.
    """
    return verification.resend(me(), data.get("email")), 202
