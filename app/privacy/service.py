"""An owner's control over their data: export it, leave one agency, delete the account.

This package stands above the domains: an owner's data is spread over all of them
(accounts, agencies, cameras, enrollment, footage, clips, notifications, audit), and
no domain should import the others to gather or erase it.

What deletion removes and what it keeps (clips already delivered stay under the
agency's retention, de-identified):

- removed: the ``users`` row (e-mail, phone, name, password hash), its memberships,
  enrollment uses, push subscriptions, phone verifications and sessions (foreign keys
  cascade), every SMS to or from the account or its number, every e-mail to it or its
  address, the delivery errors of its notifications (a provider's error can quote the
  number), and the owner's cameras with their shares and blackout hours (a camera's
  place is where the owner lives or works);
- closed: every ask that can still be cancelled is cancelled (audited), unfinished
  uploads are discarded with their bytes;
- kept, de-identified: asks already answered and clips already delivered stay with
  the agency (its counts and evidence) with no link to a person: ``owner_id`` and
  ``camera_id`` are NULL, the camera label is replaced, a decline reason and the
  uploader's own file name are erased; a clip's working copy and poster stay with it
  (made from the master, holding nothing of the owner's but its pictures; the copy
  carries none of the master's container metadata, such as a phone's location) and go
  when retention purges it;
- kept as is: the audit log, which is append-only. Events name the account by its
  former id only; the deletion event holds counts, never personal data, and camera
  events hold no label, address, blackout hours or exact position (see
  ``app.cameras.service.audit_details``; migration 0008 rewrote older ones).

SMS opt-outs (a number that texted STOP) are kept: they belong to the number, not to
the account, and honouring STOP must outlive the account.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.accounts.models import Role, User, UserSession
from app.accounts.passwords import verify_password
from app.agencies.models import Agency, District, Membership
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.cameras.models import Camera
from app.clips.models import Clip, ClipAccess, ClipStatus
from app.clips.uploads import discard_uploads_for
from app.common.fields import fits_int
from app.db import utcnow
from app.enrollment.models import EnrollmentCode, EnrollmentUse
from app.errors import ApiError, field_error, not_found
from app.extensions import db
from app.footage import asks
from app.footage.filters import forget_agency
from app.footage.models import Ask, AskState, FootageRequest, OwnerFilter
from app.notifications.models import (
    MailMessage,
    Notification,
    PhoneVerification,
    PushSubscription,
    SmsDirection,
    SmsMessage,
)

DELETED_CAMERA_LABEL = "Deleted camera"
EXPORT_FORMAT = "porchlight-owner-export/1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


# --- export --------------------------------------------------------------------------------

def _account(user: User) -> dict[str, Any]:
    return {"id": user.id, "role": user.role.value, "email": user.email, "phone": user.phone,
            "phone_verified": user.phone_verified, "display_name": user.display_name,
            "active": user.active, "notify_push": user.notify_push, "notify_sms": user.notify_sms,
            "channel_order": user.channels_in_order,
            "notify_email": user.notify_email,
            "created_at": _iso(user.created_at), "password_changed_at": _iso(user.password_changed_at),
            "last_signin_at": _iso(user.last_signin_at),
            # The authenticator secret and recovery codes are credentials, not data about
            # the person: an export file travels, so it says only when they were made and used.
            "second_factor_enabled_at": _iso(user.totp_enabled_at),
            "recovery_codes": [{"created_at": _iso(c.created_at), "used_at": _iso(c.used_at)}
                               for c in user.recovery_codes]}


def _memberships(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(Membership, Agency.name, District.name)
        .join(Agency, Agency.id == Membership.agency_id)
        .outerjoin(District, District.id == Membership.district_id)
        .where(Membership.owner_id == user.id).order_by(Membership.id))
    return [{"agency_id": m.agency_id, "agency_name": agency, "district_id": m.district_id,
             "district_name": district, "enrollment_code_id": m.enrollment_code_id, "joined_at": _iso(m.joined_at)}
            for m, agency, district in rows]


def _cameras(user: User) -> list[dict[str, Any]]:
    cameras = db.session.scalars(sa.select(Camera).where(Camera.owner_id == user.id).order_by(Camera.id))
    return [{"id": c.id, "label": c.label, "address": c.address, "latitude": c.latitude,
             "longitude": c.longitude, "bearing": c.bearing, "field_of_view": c.field_of_view,
             "retention_days": c.retention_days, "mode": c.mode.value, "status": c.status.value,
             "district_id": c.district_id, "public_attestation": c.public_attestation,
             "attested_at": _iso(c.attested_at), "blackout_windows": c.blackout_windows or [],
             "shared_with": [{"agency_id": a.id, "agency_name": a.name} for a in c.shared_with],
             "recorder_offset_s": c.recorder_offset_s, "recorder_offset_at": _iso(c.recorder_offset_at),
             "pause_reason": c.pause_reason, "confirmed_at": _iso(c.confirmed_at),
             "confirm_requested_at": _iso(c.confirm_requested_at),
             "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at)}
            for c in cameras]


def _filters(user: User) -> dict[str, Any] | None:
    row = db.session.get(OwnerFilter, user.id)
    return None if row is None else {
        "declined_categories": list(row.declined_categories), "agency_ids": row.agency_ids,
        "max_footage_age_days": row.max_footage_age_days, "paused_until": _iso(row.paused_until),
        "updated_at": _iso(row.updated_at)}


def _enrollment_uses(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(EnrollmentUse, EnrollmentCode.agency_id, EnrollmentCode.district_id)
        .join(EnrollmentCode, EnrollmentCode.id == EnrollmentUse.code_id)
        .where(EnrollmentUse.owner_id == user.id).order_by(EnrollmentUse.id))
    return [{"code_id": use.code_id, "agency_id": agency_id, "district_id": district_id,
             "used_at": _iso(use.used_at), "source_ip": use.source_ip} for use, agency_id, district_id in rows]


def _asks(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(Ask, FootageRequest, Agency.name)
        .join(FootageRequest, FootageRequest.id == Ask.request_id)
        .join(Agency, Agency.id == FootageRequest.agency_id)
        .where(Ask.owner_id == user.id).order_by(Ask.id))
    return [{"id": a.id, "request_id": a.request_id, "agency_id": r.agency_id, "agency_name": agency,
             "case_number": r.case_number, "incident_type": r.incident_type, "summary": r.summary,
             "window_start": _iso(r.window_start), "window_end": _iso(r.window_end),
             "camera_id": a.camera_id, "camera_label": a.camera_label, "distance_m": a.distance_m,
             "state": a.state.value, "reply_code": a.reply_code, "decline_reason": a.decline_reason,
             "answered_via": a.answered_via, "filter_rule": a.filter_rule,
             "created_at": _iso(a.created_at), "notified_at": _iso(a.notified_at),
             "seen_at": _iso(a.seen_at), "responded_at": _iso(a.responded_at),
             "delivered_at": _iso(a.delivered_at), "closed_at": _iso(a.closed_at)}
            for a, r, agency in rows]


def _clips(user: User) -> list[dict[str, Any]]:
    clips = db.session.scalars(sa.select(Clip).where(Clip.owner_id == user.id).order_by(Clip.id))
    return [{"id": c.id, "ask_id": c.ask_id, "request_id": c.request_id, "agency_id": c.agency_id,
             "status": c.status.value, "filename": c.filename, "size": c.size, "container": c.container,
             "sha256": c.sha256, "created_at": _iso(c.created_at), "completed_at": _iso(c.completed_at),
             "retain_until": _iso(c.retain_until), "purged_at": _iso(c.purged_at),
             "recorder_offset_s": c.recorder_offset_s, "file_modified_at": _iso(c.file_modified_at)} for c in clips]


def _clip_accesses(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(
        sa.select(ClipAccess, Clip.ask_id, Clip.request_id, Agency.name, User.role)
        .join(Clip, Clip.id == ClipAccess.clip_id)
        .join(Agency, Agency.id == Clip.agency_id)
        .outerjoin(User, User.id == ClipAccess.user_id)
        .where(Clip.owner_id == user.id).order_by(ClipAccess.id))
    # Who accessed is given by role, as in the app: officers' identities are the agency's.
    return [{"id": x.id, "clip_id": x.clip_id, "ask_id": ask_id, "request_id": request_id,
             "agency_name": agency, "accessor_role": _enum(role), "action": x.action,
             "byte_range": x.byte_range, "accessed_at": _iso(x.created_at)}
            for x, ask_id, request_id, agency, role in rows]


# A number or address is the account's only once it proved it (app/accounts/identities.py):
# until then, messages to it may be another person's, and a code or link sent to prove it
# must not be readable here (nor may the export of an account whose address was taken
# differ from one whose address was free).
def _sms_filter(user: User) -> sa.ColumnElement[bool]:
    conditions = [SmsMessage.user_id == user.id]
    if user.phone and user.phone_verified:
        conditions += [SmsMessage.to_number == user.phone, SmsMessage.from_number == user.phone]
    return sa.or_(*conditions)


def _sms_shown(user: User) -> sa.ColumnElement[bool]:
    """The account's texts an export shows: not those sent to a number it has not proved."""
    to_proved = SmsMessage.to_number == user.phone if user.phone and user.phone_verified else sa.false()
    return sa.and_(_sms_filter(user), sa.or_(SmsMessage.direction == SmsDirection.INBOUND, to_proved))


def _sms(user: User) -> list[dict[str, Any]]:
    messages = db.session.scalars(sa.select(SmsMessage).where(_sms_shown(user)).order_by(SmsMessage.id))
    return [{"id": m.id, "direction": m.direction.value, "to_number": m.to_number, "from_number": m.from_number,
             "body": m.body, "status": m.status, "created_at": _iso(m.created_at)} for m in messages]


def _mail_filter(user: User) -> sa.ColumnElement[bool]:
    conditions = [MailMessage.user_id == user.id]
    if user.email and user.email_verified_at is not None:
        conditions.append(MailMessage.to_address == user.email)
    return sa.or_(*conditions)


def _mail(user: User) -> list[dict[str, Any]]:
    # Only e-mails to the address the account proved (see _sms_filter).
    shown = (MailMessage.to_address == user.email if user.email and user.email_verified_at is not None
             else sa.false())
    messages = db.session.scalars(sa.select(MailMessage).where(_mail_filter(user), shown)
                                  .order_by(MailMessage.id))
    return [{"id": m.id, "to_address": m.to_address, "subject": m.subject, "body_text": m.body_text,
             "status": m.status, "created_at": _iso(m.created_at)} for m in messages]


def _notifications(user: User) -> list[dict[str, Any]]:
    rows = db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                              .order_by(Notification.id))
    return [{"id": n.id, "ask_id": n.ask_id, "channel": n.channel.value, "kind": n.kind.value,
             "status": n.status.value, "sent_at": _iso(n.sent_at), "created_at": _iso(n.created_at)} for n in rows]


def _push_subscriptions(user: User) -> list[dict[str, Any]]:
    # Endpoints only: the keys are the browser's secrets for decrypting messages.
    subs = db.session.scalars(sa.select(PushSubscription).where(PushSubscription.user_id == user.id)
                              .order_by(PushSubscription.id))
    return [{"id": s.id, "endpoint": s.endpoint, "user_agent": s.user_agent, "created_at": _iso(s.created_at),
             "last_success_at": _iso(s.last_success_at)} for s in subs]


def _sessions(user: User) -> list[dict[str, Any]]:
    rows = db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id))
    return [{"id": r.id, "created_at": _iso(r.created_at), "last_seen_at": _iso(r.last_seen_at),
             "user_agent": r.user_agent, "ip_address": r.ip_address, "ended_at": _iso(r.ended_at),
             "end_reason": r.end_reason} for r in rows]


def _phone_verifications(user: User) -> list[dict[str, Any]]:
    rows = db.session.scalars(sa.select(PhoneVerification).where(PhoneVerification.user_id == user.id)
                              .order_by(PhoneVerification.id))
    return [{"id": v.id, "phone": v.phone, "attempts": v.attempts, "created_at": _iso(v.created_at),
             "expires_at": _iso(v.expires_at), "verified_at": _iso(v.verified_at)} for v in rows]


def _audit_events(user: User, ask_ids: list[int], camera_ids: list[int], clip_ids: list[int],
                  sub_ids: list[int]) -> list[dict[str, Any]]:
    targets = [("user", [user.id]), ("ask", ask_ids), ("camera", camera_ids), ("clip", clip_ids),
               ("push_subscription", sub_ids)]
    conditions = [AuditEvent.actor_id == user.id]
    conditions += [sa.and_(AuditEvent.target_type == kind, AuditEvent.target_id.in_([str(i) for i in ids]))
                   for kind, ids in targets if ids]
    # In the order written: the events are in several chains (the installation's, agencies'), each with its own seq.
    events = db.session.scalars(sa.select(AuditEvent).where(sa.or_(*conditions)).order_by(AuditEvent.id))
    # Staff who acted on the owner's things show by role, as in the app: their ids and
    # addresses are not the owner's data.
    return [{"chain": e.chain, "seq": e.seq, "occurred_at": _iso(e.occurred_at), "action": e.action,
             "actor_id": e.actor_id if e.actor_id == user.id else None, "actor_role": e.actor_role,
             "target_type": e.target_type, "target_id": e.target_id, "agency_id": e.agency_id,
             "source_ip": e.source_ip if e.actor_id == user.id else None, "details": e.details or {},
             "hash": e.hash}
            for e in events]


def export_for(owner: User) -> dict[str, Any]:
    """Everything Porchlight holds about ``owner``, as one JSON document (audited)."""
    asks_ = _asks(owner)
    cameras = _cameras(owner)
    clips = _clips(owner)
    subs = _push_subscriptions(owner)
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        "account": _account(owner),
        "memberships": _memberships(owner),
        "cameras": cameras,
        "filters": _filters(owner),
        "enrollment_uses": _enrollment_uses(owner),
        "asks": asks_,
        "clips": clips,
        "clip_accesses": _clip_accesses(owner),
        "notifications": _notifications(owner),
        "push_subscriptions": subs,
        "sms_messages": _sms(owner),
        "mail_messages": _mail(owner),
        "phone_verifications": _phone_verifications(owner),
        "sessions": _sessions(owner),
    }
    document["audit_events"] = _audit_events(owner, [a["id"] for a in asks_], [c["id"] for c in cameras],
                                             [c["id"] for c in clips], [s["id"] for s in subs])
    audit.record("account.exported", target=owner, actor=owner,
                 details={name: len(value) for name, value in document.items() if isinstance(value, list)})
    db.session.commit()
    return document


# --- leaving an agency ---------------------------------------------------------------------

def _close_open_asks(owner: User, agency_id: int | None = None) -> int:
    """Cancel the owner's asks that can still be cancelled (of one agency, or all); discard unfinished uploads."""
    query = (sa.select(Ask).join(FootageRequest, FootageRequest.id == Ask.request_id)
             .where(Ask.owner_id == owner.id, Ask.state.in_(asks.states_leading_to(AskState.CANCELLED)))
             .order_by(Ask.id).execution_options(populate_existing=True))
    if agency_id is not None:
        query = query.where(FootageRequest.agency_id == agency_id)
    closed = 0
    for ask in db.session.scalars(query).all():
        uploading = ask.state == AskState.UPLOADING
        asks.cancel(ask, owner)
        if ask.state == AskState.CANCELLED:
            closed += 1
            if uploading:
                discard_uploads_for(ask)
    return closed


def leave_agency(owner: User, agency_id: int) -> dict[str, Any]:
    """End the owner's membership of one agency: its camera shares and open asks end too; history stays."""
    membership = db.session.scalar(sa.select(Membership).where(
        Membership.owner_id == owner.id, Membership.agency_id == agency_id)) if fits_int(agency_id) else None
    if membership is None:
        raise not_found("Membership")
    cameras = list(db.session.scalars(sa.select(Camera).where(Camera.owner_id == owner.id)))
    unshared = 0
    district_ids = set(db.session.scalars(sa.select(District.id).where(District.agency_id == agency_id)))
    for camera in cameras:
        if any(a.id == agency_id for a in camera.shared_with):
            camera.shared_with = [a for a in camera.shared_with if a.id != agency_id]
            unshared += 1
        if camera.district_id in district_ids:
            camera.district_id = None
    asks_closed = _close_open_asks(owner, agency_id)
    forget_agency(owner, agency_id)
    db.session.delete(membership)
    audit.record("membership.left", target=owner, actor=owner, agency_id=agency_id,
                 details={"cameras_unshared": unshared, "asks_cancelled": asks_closed})
    db.session.commit()
    return {"agency_id": agency_id, "cameras_unshared": unshared, "asks_cancelled": asks_closed}


# --- deleting the account ------------------------------------------------------------------

DELETE_CONFIRMATION = "DELETE"


def _discard_remaining_uploads(owner: User) -> int:
    """Unfinished uploads of asks that stay open for uploads (delivered asks may take more clips)."""
    ask_ids = set(db.session.scalars(sa.select(Clip.ask_id).where(
        Clip.owner_id == owner.id, Clip.status == ClipStatus.UPLOADING)))
    return sum(discard_uploads_for(db.session.get(Ask, ask_id)) for ask_id in sorted(ask_ids))


def delete_account(owner: User, password: str, confirm: str) -> dict[str, int]:
    """Delete an owner's account and personal data; delivered footage stays with the agency, de-identified."""
    if owner.role != Role.OWNER:
        raise ApiError(403, "forbidden", "Staff accounts are closed by a supervisor of the agency.")
    if not verify_password(owner.password_hash, password):
        audit.record("account.delete_failed", target=owner, actor=owner, details={"reason": "bad_password"})
        db.session.commit()
        raise field_error("password", "Does not match your current password.", status=403)
    if confirm != DELETE_CONFIRMATION:
        raise field_error("confirm", f"Type {DELETE_CONFIRMATION} to confirm.")
    return erase(owner, actor=owner)


def erase(owner: User, *, actor: User | None, reason: str | None = None) -> dict[str, int]:
    """Delete the owner's account and data as above, once the caller has decided it goes (and commit)."""
    asks_cancelled = _close_open_asks(owner)
    uploads_discarded = _discard_remaining_uploads(owner)
    clips_kept = db.session.execute(
        sa.update(Clip).where(Clip.owner_id == owner.id).values(owner_id=None, filename=None)
        .execution_options(synchronize_session=False)).rowcount
    asks_kept = db.session.execute(
        sa.update(Ask).where(Ask.owner_id == owner.id)
        .values(owner_id=None, camera_id=None, camera_label=DELETED_CAMERA_LABEL, decline_reason=None)
        .execution_options(synchronize_session=False)).rowcount
    sms_deleted = db.session.execute(
        sa.delete(SmsMessage).where(_sms_filter(owner)).execution_options(synchronize_session=False)).rowcount
    mail_deleted = db.session.execute(
        sa.delete(MailMessage).where(_mail_filter(owner)).execution_options(synchronize_session=False)).rowcount
    # A provider's error text can quote the owner's number ("The 'To' number +1... is not valid").
    db.session.execute(sa.update(Notification).where(Notification.user_id == owner.id)
                       .values(user_id=None, last_error=None).execution_options(synchronize_session=False))
    counts = {"asks_cancelled": asks_cancelled, "uploads_discarded": uploads_discarded, "asks_kept": asks_kept,
              "clips_kept": clips_kept, "sms_deleted": sms_deleted, "mail_deleted": mail_deleted}
    for model, column in ((Camera, Camera.owner_id), (PushSubscription, PushSubscription.user_id),
                          (PhoneVerification, PhoneVerification.user_id), (EnrollmentUse, EnrollmentUse.owner_id),
                          (Membership, Membership.owner_id)):
        counts[f"{model.__tablename__}_deleted"] = _delete_rows(model, column, owner.id)
    # Counts only: the append-only log must never be where deleted personal data survives.
    audit.record("account.deleted", target=owner, actor=actor,
                 details={**counts, "reason": reason} if reason else counts)
    db.session.delete(owner)
    db.session.commit()
    return counts


def _delete_rows(model: type, column: sa.ColumnElement, owner_id: int) -> int:
    if model is Camera:
        # Through the ORM, so the shares (a secondary table) go with each camera.
        cameras = list(db.session.scalars(sa.select(Camera).where(column == owner_id)))
        for camera in cameras:
            db.session.delete(camera)
        db.session.flush()
        return len(cameras)
    return db.session.execute(sa.delete(model).where(column == owner_id)
                              .execution_options(synchronize_session=False)).rowcount
