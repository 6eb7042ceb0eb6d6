"""Civilian oversight: read-only views of the agency's requests (audited), and the complaint log.

Only oversight accounts read these request views (police have their own, app/footage);
supervisors and oversight both keep the complaint log. The audit log and its
verification are app/audit's routes, open to oversight as well.
"""
from apiflask import APIBlueprint

from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.oversight import complaints, requests
from app.oversight.schemas import (
    ComplaintIn,
    ComplaintListQuery,
    ComplaintOut,
    ComplaintPatchIn,
    OversightRequestDetailOut,
    OversightRequestOut,
    OversightRequestQuery,
)

bp = APIBlueprint("oversight", __name__, url_prefix="/api/oversight", tag="Oversight")

COMPLAINT_KEEPERS = (Role.SUPERVISOR, Role.OVERSIGHT)


@bp.get("/requests")
@bp.input(OversightRequestQuery, location="query", arg_name="query")
@bp.output(OversightRequestOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OVERSIGHT)
def list_requests(query):
    """Your agency's requests, newest first: purpose, approvals and counts (the view is audited)

    Never footage, owners, cameras or addresses: asks are counted by state, clips by number.
    """
    return requests.list_requests(me(), status=query.get("status"), before_id=query.get("before_id"),
                                  limit=query["limit"])


@bp.get("/requests/<int:request_id>")
@bp.output(OversightRequestDetailOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OVERSIGHT)
def get_request(request_id):
    """One request with its approvals, evidence holds, retention events and complaints (audited)"""
    return requests.request_detail(me(), request_id)


@bp.get("/complaints")
@bp.input(ComplaintListQuery, location="query", arg_name="query")
@bp.output(ComplaintOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*COMPLAINT_KEEPERS)
def list_complaints(query):
    """Your agency's complaint log, newest received first (oversight's reads are audited)"""
    return complaints.list_complaints(me(), **query)


@bp.post("/complaints")
@bp.input(ComplaintIn, arg_name="data")
@bp.output(ComplaintOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*COMPLAINT_KEEPERS)
def record_complaint(data):
    """Record a complaint against one of your agency's requests (audited)

    `outcome` is `open` until decided; any other outcome needs `outcome_on`.
    """
    return complaints.record_complaint(me(), data)


@bp.patch("/complaints/<int:complaint_id>")
@bp.input(ComplaintPatchIn, arg_name="data")
@bp.output(ComplaintOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 422])
@require_role(*COMPLAINT_KEEPERS)
def update_complaint(complaint_id, data):
    """Record or change a complaint's outcome, its date and note (audited)"""
    return complaints.update_complaint(me(), complaint_id, data)
