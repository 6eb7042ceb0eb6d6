"""Sign-up, sign-in, sign-out, the current user, and supervisors' staff management."""
from apiflask import APIBlueprint
from flask import session
from flask_login import logout_user

from app.accounts import service
from app.accounts.models import Role
from app.accounts.schemas import MeOut, PasswordChangeIn, ProfileIn, SignInIn, SignUpIn, StaffIn, StaffPatchIn, UserOut
from app.agencies.service import memberships_of
from app.auth import SECURITY, me, require_login, require_role, start_session
from app.ratelimits import RATE_LIMITED, client_ip, limited, typed_login, without_enrollment_code

bp = APIBlueprint("accounts", __name__, url_prefix="/api", tag="Accounts")


def _me_payload(user):
    user.memberships = memberships_of(user) if user.role == Role.OWNER else []
    return user


@bp.post("/auth/signup")
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
@limited("RATELIMIT_SIGN_IN", client_ip, "sign-in attempts from this address")
@limited("RATELIMIT_SIGN_IN_LOGIN", typed_login, "sign-in attempts for this login")
@bp.input(SignInIn, arg_name="data")
@bp.output(MeOut)
@bp.doc(responses={401: "Unauthenticated", 422: "Validation error", 429: RATE_LIMITED})
def sign_in(data):
    """Sign in with e-mail or phone and password; sets the session cookie"""
    user = service.authenticate(data["login"], data["password"])
    start_session(user)
    return _me_payload(user)


@bp.post("/auth/signout")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401])
@require_login
def sign_out():
    """End this session"""
    service.record_sign_out(me())
    logout_user()
    session.clear()
    return ""


@bp.get("/auth/me")
@bp.output(MeOut)
@bp.doc(security=SECURITY, responses=[401])
@require_login
def current():
    """The signed-in account, with an owner's agency memberships"""
    return _me_payload(me())


@bp.patch("/auth/me")
@bp.input(ProfileIn, arg_name="data")
@bp.output(MeOut)
@bp.doc(security=SECURITY, responses=[401, 422])
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
    # The token rotated, which ended every session; this one starts again with the new token.
    start_session(user)
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
