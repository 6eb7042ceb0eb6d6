"""Owners' control over their data: download it, leave an agency, delete the account."""
import json

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length
from flask import Response, session
from flask_login import logout_user

from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.privacy import service as privacy

bp = APIBlueprint("privacy", __name__, url_prefix="/api/me", tag="Accounts")

EXPORT = {"description": "Everything held about you, as a JSON file to save (Content-Disposition: attachment): "
                         "account, memberships, cameras with shares and blackout hours, enrollment uses, asks with "
                         "your answers, clips you uploaded (SHA-256, not the video), every access to them, "
                         "notifications, push subscriptions (endpoints), text messages, phone verifications "
                         "(no codes) and audit events about you.",
          "content": {"application/json": {"schema": {"type": "object", "required": ["format", "account"],
                                                      "properties": {"format": {"type": "string"},
                                                                     "account": {"type": "object"}}}}}}


class DeleteAccountIn(Schema):
    password = fields.String(required=True, load_only=True, validate=Length(max=1024),
                             metadata={"description": "Your current password."})
    confirm = fields.String(required=True, validate=Length(max=32),
                            metadata={"description": f"Type {privacy.DELETE_CONFIRMATION} to confirm."})


class LeaveOut(Schema):
    agency_id = fields.Integer()
    cameras_unshared = fields.Integer(metadata={"description": "Your cameras no longer shared with the agency."})
    asks_cancelled = fields.Integer(metadata={"description": "The agency's open requests to you, now cancelled."})


@bp.get("/export")
@bp.doc(security=SECURITY, responses={200: EXPORT, 401: "Unauthenticated", 403: "Forbidden"})
@require_role(Role.OWNER)
def export_my_data():
    """Download everything Porchlight holds about you, as JSON (audited)"""
    user = me()
    document = privacy.export_for(user)
    stamp = document["exported_at"][:10]
    return Response(json.dumps(document, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="porchlight-my-data-{stamp}.json"',
                             "Cache-Control": "private, no-store"})


@bp.post("/agencies/<int:agency_id>/leave")
@bp.output(LeaveOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(Role.OWNER)
def leave_agency(agency_id):
    """Leave one agency's program: your cameras stop being shared with it and its open requests to you end

    Your history with the agency stays visible to you; your other agencies are untouched.
    """
    return privacy.leave_agency(me(), agency_id)


@bp.delete("")
@bp.input(DeleteAccountIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OWNER)
def delete_my_account(data):
    """Delete your account and personal data, with your password and the word DELETE

    Open requests to you are cancelled and unfinished uploads discarded. Clips you already
    delivered stay with the agency until its retention ends, with no link to you.
    """
    privacy.delete_account(me(), data["password"], data["confirm"])
    logout_user()
    session.clear()
    return ""
