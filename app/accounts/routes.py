"""Sign-up, sign-in, sign-out, the current user, and supervisors' staff management."""
from apiflask import APIBlueprint
from flask import after_this_request, session
from flask_login import logout_user

from app.accounts import devices, second_factor, service, sessions
from app.accounts.devices import logins_of, trusted_device, typed_login, untrusted_device
from app.accounts.models import Role
from app.accounts.schemas import (
    MeOut,
    PasswordChangeIn,
    PasswordConfirmIn,
    ProfileIn,
    RecoveryCodesOut,
    SecondFactorCodeIn,
    SecondFactorSetupOut,
    SessionOut,
    SessionsEndedOut,
    SignInIn,
    SignUpIn,
    StaffIn,
    StaffPatchIn,
    UserOut,
)
from app.agencies.service import memberships_of
from app.auth import SECURITY, me, require_login, require_login_during_setup, require_role, start_session
from app.ratelimits import RATE_LIMITED, client_ip, device_key, failed_sign_in, limited, without_enrollment_code

bp = APIBlueprint("accounts", __name__, url_prefix="/api", tag="Accounts")


def _me_payload(user):
    user.memberships = memberships_of(user) if user.role == Role.OWNER else []
    user.second_factor = second_factor.status(user)
    return user


@bp.post("/auth/signup")
@limited("RATELIMIT_SIGN_UP", client_ip, "sign-ups from this address")
@limited("RATELIMIT_ENROLLMENT_LOOKUP", client_ip, "enrollment codes tried from this address",
         shared_scope="enrollment-code", exempt_when=without_enrollment_code)
@bp.input(SignUpIn, arg_name="data")
@bp.output(MeOut, status_code=201)
@bp.doc(responses={404: "Not found", 409: "Conflict", 410: "Gone", 422: "Validation error", 429: RATE_LIMITED})
def sign_up(data):
    """Create an owner account and sign in

    Owners sign up with an e-mail address, a mobile number, or both. With an
    enrollment code the account joins that agency (and district) at once.
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
                   422: "Validation error", 429: RATE_LIMITED})
def sign_in(data):
    """Sign in with e-mail or phone and password (and a two-step code); sets the session cookie

    Officers and supervisors without two-step sign-in yet get a session that can only
    set it up: `second_factor.setup_required` is true in the answer. A sign-in with
    every factor also sets a device cookie: later sign-ins to this login from this
    browser are not held up by the lockout that other clients' failures cause.
    """
    user = service.authenticate(data["login"], data["password"], data.get("code"))
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
    """Change the display name or, for owners, the channels requests arrive by"""
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


@bp.post("/auth/second-factor/setup")
@bp.output(SecondFactorSetupOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 409: "Already on (`second_factor_enabled`)"})
@require_login_during_setup
def second_factor_setup():
    """Start setting up two-step sign-in: a new secret and its QR code for an authenticator app

    Nothing changes until a code from the app confirms it
    (POST /api/auth/second-factor/confirm); asking again replaces the secret.
    """
    return second_factor.begin_setup(me())


@bp.post("/auth/second-factor/confirm")
@bp.input(SecondFactorCodeIn, arg_name="data")
@bp.output(RecoveryCodesOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 409: "Already on, or no set-up started",
                                      422: "Validation error (a code that does not match)", 429: RATE_LIMITED})
@require_login_during_setup
def second_factor_confirm(data):
    """Turn two-step sign-in on with a code from the app; answers the recovery codes, once

    Every other session of the account ends; this one continues.
    """
    user = me()
    codes = second_factor.confirm_setup(user, data["code"])
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


@bp.post("/agency/staff")
@bp.input(StaffIn, arg_name="data")
@bp.output(UserOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 409, 422])
@require_role(Role.SUPERVISOR)
def create_staff(data):
    """Create an officer, supervisor or district-manager account"""
    data["role"] = Role(data["role"])
    return service.create_staff(me(), **data)


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
