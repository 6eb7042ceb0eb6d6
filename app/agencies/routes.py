"""The staff member's agency and its districts."""
from apiflask import APIBlueprint

from app.accounts.models import Role
from app.agencies import service
from app.agencies.schemas import AgencyOut, DistrictIn, DistrictOut
from app.auth import SECURITY, me, require_role

bp = APIBlueprint("agencies", __name__, url_prefix="/api/agency", tag="Agency")

STAFF = (Role.OFFICER, Role.SUPERVISOR)


@bp.get("")
@bp.output(AgencyOut)
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(*STAFF)
def get_agency():
    """Your agency"""
    return service.get_agency(me().agency_id)


@bp.get("/districts")
@bp.output(DistrictOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(*STAFF)
def list_districts():
    """Business improvement districts in your agency"""
    return service.list_districts(me().agency_id)


@bp.post("/districts")
@bp.input(DistrictIn, arg_name="data")
@bp.output(DistrictOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 409, 422])
@require_role(Role.SUPERVISOR)
def create_district(data):
    """Create a business improvement district"""
    return service.create_district(me(), data["name"])
