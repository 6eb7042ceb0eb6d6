"""Owners' camera registry, and the officers' radius search over shared cameras."""
from apiflask import APIBlueprint

from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.cameras import service
from app.cameras.schemas import CameraIn, CameraOut, CameraPatchIn, NearbyOut, NearbyQuery

bp = APIBlueprint("cameras", __name__, url_prefix="/api", tag="Cameras")


@bp.get("/cameras")
@bp.output(CameraOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(Role.OWNER)
def list_cameras():
    """Your cameras"""
    return service.list_cameras(me())


@bp.post("/cameras")
@bp.input(CameraIn, arg_name="data")
@bp.output(CameraOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OWNER)
def create_camera(data):
    """Register a camera

    The camera is shared with every agency you have joined unless
    `shared_agency_ids` says otherwise.
    """
    return service.create_camera(me(), data)


@bp.get("/cameras/<int:camera_id>")
@bp.output(CameraOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def get_camera(camera_id):
    """One of your cameras"""
    return service.camera_for(me(), camera_id)


@bp.patch("/cameras/<int:camera_id>")
@bp.input(CameraPatchIn, arg_name="data")
@bp.output(CameraOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 422])
@require_role(Role.OWNER)
def update_camera(camera_id, data):
    """Edit one of your cameras (only the fields given change)"""
    return service.update_camera(me(), camera_id, data)


@bp.post("/cameras/<int:camera_id>/pause")
@bp.output(CameraOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def pause_camera(camera_id):
    """Pause a camera: no footage requests reach it until resumed"""
    return service.set_paused(me(), camera_id, True)


@bp.post("/cameras/<int:camera_id>/resume")
@bp.output(CameraOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def resume_camera(camera_id):
    """Resume a paused camera"""
    return service.set_paused(me(), camera_id, False)


@bp.post("/cameras/<int:camera_id>/confirm")
@bp.output(CameraOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def confirm_camera(camera_id):
    """Confirm a camera is still yours and recording (asked once a year; resumes one paused for want of it)"""
    return service.confirm_camera(me(), camera_id)


@bp.delete("/cameras/<int:camera_id>")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def delete_camera(camera_id):
    """Delete one of your cameras"""
    service.delete_camera(me(), camera_id)
    return ""


@bp.get("/agency/cameras/nearby")
@bp.input(NearbyQuery, location="query", arg_name="query")
@bp.output(NearbyOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OFFICER, Role.SUPERVISOR)
def nearby_cameras(query):
    """Active cameras shared with your agency within a radius, nearest first

    Only location and direction: officers never see who owns a camera.
    """
    items = service.nearby_for_agency(me().agency_id, query["lat"], query["lon"], query["radius_m"])
    return {"count": len(items), "cameras": items}
