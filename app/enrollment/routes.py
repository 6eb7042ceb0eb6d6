"""Enrollment codes: issuing and managing them, their QR images, looking up and redeeming."""
from apiflask import APIBlueprint
from flask import Response, url_for
from flask_login import current_user

from app.accounts.models import Role
from app.accounts.schemas import MembershipOut
from app.auth import SECURITY, me, require_role
from app.db import utcnow
from app.enrollment import codes, service
from app.enrollment.models import CodeKind, EnrollmentCode
from app.enrollment.schemas import CodeIn, CodeLookupOut, CodeOut, CodeUseOut, RedeemIn
from app.ratelimits import RATE_LIMITED, client_ip, limited

bp = APIBlueprint("enrollment", __name__, url_prefix="/api/enrollment", tag="Enrollment")

ISSUERS = (Role.SUPERVISOR, Role.MANAGER)


def _present(code: EnrollmentCode) -> EnrollmentCode:
    code.status_now = code.status(utcnow())
    code.url = codes.enrollment_url(code.code)
    code.qr_png_url = url_for("enrollment.code_qr_png", code_id=code.id)
    code.qr_svg_url = url_for("enrollment.code_qr_svg", code_id=code.id)
    return code


@bp.get("/codes")
@bp.output(CodeOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(*ISSUERS)
def list_codes():
    """Enrollment codes of your agency (supervisors) or district (managers), newest first"""
    return [_present(c) for c in service.list_codes(me())]


@bp.post("/codes")
@bp.input(CodeIn, arg_name="data")
@bp.output(CodeOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*ISSUERS)
def issue_code(data):
    """Issue an enrollment code, single-use or a campaign code with a maximum of uses"""
    data["kind"] = CodeKind(data["kind"])
    return _present(service.issue_code(me(), **data))


@bp.get("/codes/<int:code_id>")
@bp.output(CodeOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*ISSUERS)
def get_code(code_id):
    """One enrollment code"""
    return _present(service.code_for(me(), code_id))


@bp.post("/codes/<int:code_id>/revoke")
@bp.output(CodeOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*ISSUERS)
def revoke_code(code_id):
    """Withdraw a code: nobody can use it from now on"""
    return _present(service.revoke_code(me(), code_id))


@bp.get("/codes/<int:code_id>/uses")
@bp.output(CodeUseOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*ISSUERS)
def code_uses(code_id):
    """Every use of a code"""
    return service.code_uses(me(), code_id)


@bp.get("/codes/<int:code_id>/qr.png")
@bp.doc(security=SECURITY, responses={200: {"description": "QR code (PNG) of the enrollment URL",
                                            "content": {"image/png": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
                                      401: "Unauthenticated", 403: "Forbidden", 404: "Not found"})
@require_role(*ISSUERS)
def code_qr_png(code_id):
    """The code's QR image, PNG"""
    code = service.code_for(me(), code_id)
    return Response(codes.qr_png(codes.enrollment_url(code.code)), mimetype="image/png",
                    headers={"Content-Disposition": f'inline; filename="enroll-{code.code}.png"'})


@bp.get("/codes/<int:code_id>/qr.svg")
@bp.doc(security=SECURITY, responses={200: {"description": "QR code (SVG) of the enrollment URL",
                                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                                      401: "Unauthenticated", 403: "Forbidden", 404: "Not found"})
@require_role(*ISSUERS)
def code_qr_svg(code_id):
    """The code's QR image, SVG (for print)"""
    code = service.code_for(me(), code_id)
    return Response(codes.qr_svg(codes.enrollment_url(code.code)), mimetype="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="enroll-{code.code}.svg"'})


@bp.get("/lookup/<string:code>")
@limited("RATELIMIT_ENROLLMENT_LOOKUP", client_ip, "enrollment codes tried from this address",
         shared_scope="enrollment-code")
@bp.output(CodeLookupOut)
@bp.doc(responses={404: "Not found", 410: "Gone", 429: RATE_LIMITED})
def lookup(code):
    """What a code enrolls you in, before signing up (no session needed)

    Unknown codes answer 404 `enrollment_code_unknown`; expired, revoked and
    used-up codes answer 410 with `enrollment_code_expired`, `_revoked` or `_used_up`
    (a signed-in owner who used a code up still sees it).
    """
    owner = me() if current_user.is_authenticated and current_user.role == Role.OWNER else None
    return service.usable_code(code, owner)


@bp.post("/redeem")
@limited("RATELIMIT_ENROLLMENT_LOOKUP", client_ip, "enrollment codes tried from this address",
         shared_scope="enrollment-code")
@bp.input(RedeemIn, arg_name="data")
@bp.output(MembershipOut)
@bp.doc(security=SECURITY, responses={401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 410: "Gone",
                                      422: "Validation error", 429: RATE_LIMITED})
@require_role(Role.OWNER)
def redeem(data):
    """Join the agency (and district) of a code with your signed-in owner account"""
    return service.redeem_text(me(), data["code"])
