"""Inviting a district's members to enroll: by SMS, or on a printed sheet with a QR code each.

Invitations go out as SMS through the notifications dispatcher (one ``invitation``
notification per member, rate-limited per district, opt-outs honoured) and as a
printable PDF sheet. A member's single-use enrollment code is renewed first when it
has expired, was revoked or is missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import District
from app.audit import service as audit
from app.common.fields import fits_int
from app.common.settings import setting
from app.db import utcnow
from app.districts.members import MemberView, code_label, district_of, members_query
from app.districts.models import DistrictMember
from app.enrollment import service as enrollment
from app.enrollment.models import EnrollmentCode
from app.errors import ApiError, not_found
from app.extensions import db
from app.notifications import dispatcher
from app.notifications.models import DeliveryStatus, Notification, NotificationKind, SmsOptOut
from app.sql import chunks


def _check_member_ids(district_id: int, member_ids: list[int]) -> list[int]:
    wanted = sorted(set(member_ids))
    if not all(fits_int(i) for i in wanted):
        raise not_found("Member")
    found: set[int] = set()
    for chunk in chunks(wanted, 500):
        found.update(db.session.scalars(sa.select(DistrictMember.id).where(
            DistrictMember.district_id == district_id, DistrictMember.id.in_(chunk))))
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise ApiError(404, "not_found", f"No member of your district has the id{'s' if len(missing) > 1 else ''} "
                                         f"{shown}.")
    return wanted


def renew_codes(manager: User, district: District, members: list[DistrictMember], now: datetime) -> int:
    """New single-use codes for members (not enrolled) whose code expired, was revoked or is missing."""
    code_ids = [m.enrollment_code_id for m in members if m.enrollment_code_id is not None]
    usable: set[int] = set()
    for chunk in chunks(code_ids, 500):
        usable.update(db.session.scalars(sa.select(EnrollmentCode.id).where(
            EnrollmentCode.id.in_(chunk), EnrollmentCode.revoked_at.is_(None),
            EnrollmentCode.expires_at > now + timedelta(days=1), EnrollmentCode.use_count < EnrollmentCode.max_uses)))
    stale = [m for m in members if m.owner_id is None and m.enrollment_code_id not in usable]
    if not stale:
        return 0
    expires = now + timedelta(days=setting("DISTRICT_CODE_LIFETIME_DAYS"))
    new_codes = enrollment.issue_single_use_codes(manager, district, [code_label(m) for m in stale], expires)
    ids: dict[str, int] = {}
    for chunk in chunks(new_codes, 500):
        ids.update(db.session.execute(sa.select(EnrollmentCode.code, EnrollmentCode.id).where(
            EnrollmentCode.code.in_(chunk))).all())
    for member, code in zip(stale, new_codes, strict=True):
        member.enrollment_code_id = ids[code]
    db.session.flush()
    audit.record("district.codes_renewed", target=district, agency_id=district.agency_id,
                 details={"district_id": district.id, "members": len(stale)})
    return len(stale)


@dataclass
class InvitationResult:
    queued: int = 0
    skipped_opted_out: int = 0
    skipped_no_phone: int = 0
    skipped_enrolled: int = 0
    skipped_already_invited: int = 0
    notification_ids: list[int] = field(default_factory=list)


def queue_sms_invitations(manager: User, member_ids: list[int] | None) -> InvitationResult:
    """Record one invitation SMS per chosen member (rate-limited; opt-outs, enrolled and phoneless skipped).

    Without ``member_ids``: every member of the district not yet sent an invitation
    SMS. A member whose invitation is still waiting to go out is never queued twice.
    Members are sorted into skips and sends in SQL, so a district of any size is one
    query; only the members sent to are loaded. The caller hands the notification ids
    to the dispatcher after the commit.
    """
    district = district_of(manager, lock=True)  # serialises the rate limit's count per district
    now = utcnow()
    members = DistrictMember
    scope = [members.district_id == district.id]
    if member_ids is not None:
        scope.append(members.id.in_(_check_member_ids(district.id, member_ids)))
    invitation = sa.and_(Notification.district_member_id == members.id,
                         Notification.kind == NotificationKind.INVITATION)
    already = [DeliveryStatus.PENDING, DeliveryStatus.SENDING] + ([DeliveryStatus.SENT] if member_ids is None else [])
    # Literal words, not bound parameters: PostgreSQL groups by the expression as written.
    word = {w: sa.literal_column(f"'{w}'") for w in ("enrolled", "no_phone", "opted_out", "already_invited", "send")}
    category = sa.case(
        (members.owner_id.is_not(None), word["enrolled"]),
        (members.phone.is_(None), word["no_phone"]),
        (sa.exists().where(SmsOptOut.phone == members.phone), word["opted_out"]),
        (sa.exists().where(invitation, Notification.status.in_(already)), word["already_invited"]),
        else_=word["send"])
    counts = dict(db.session.execute(sa.select(category, sa.func.count()).where(*scope).group_by(category)).all())
    result = InvitationResult(skipped_opted_out=counts.get("opted_out", 0), skipped_no_phone=counts.get("no_phone", 0),
                              skipped_enrolled=counts.get("enrolled", 0),
                              skipped_already_invited=counts.get("already_invited", 0))
    _check_rate(district, counts.get("send", 0), now)
    chosen = list(db.session.scalars(sa.select(members).where(*scope, category == word["send"]).order_by(members.id)))
    if chosen:
        renew_codes(manager, district, chosen, now)
        result.notification_ids = dispatcher.record_invitations(m.id for m in chosen)
        for member in chosen:
            member.invited_at = now
    result.queued = len(chosen)
    audit.record("district.invitations_queued", target=district, agency_id=district.agency_id, details={
        "district_id": district.id, "channel": "sms", "queued": result.queued,
        "skipped_opted_out": result.skipped_opted_out, "skipped_no_phone": result.skipped_no_phone,
        "skipped_enrolled": result.skipped_enrolled, "skipped_already_invited": result.skipped_already_invited,
        "selection": "all" if member_ids is None else "chosen"})
    db.session.commit()
    return result


def _check_rate(district: District, wanted: int, now: datetime) -> None:
    limit = setting("DISTRICT_SMS_PER_HOUR")
    window_start = now - timedelta(hours=1)
    recent = (sa.select(Notification.created_at)
              .join(DistrictMember, DistrictMember.id == Notification.district_member_id)
              .where(DistrictMember.district_id == district.id, Notification.kind == NotificationKind.INVITATION,
                     Notification.created_at > window_start))
    used = db.session.scalar(sa.select(sa.func.count()).select_from(recent.subquery()))
    if not wanted or used + wanted <= limit:
        return
    left = max(0, limit - used)
    if wanted > limit:
        retry = 3600
        advice = f"choose at most {limit:,} members at a time"
    else:
        # Wait until enough of the last hour's invitations are older than an hour.
        must_age = used + wanted - limit
        oldest = db.session.scalar(recent.order_by(Notification.created_at).offset(must_age - 1).limit(1))
        retry = max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds())) if oldest else 3600
        advice = f"choose at most {left:,} members now, or try again in {_duration(retry)}"
    raise ApiError(429, "sms_rate_limited",
                   f"Your district may send {limit:,} SMS invitations an hour and has {left:,} left this hour; "
                   f"this would send {wanted:,}: {advice}.", headers={"Retry-After": str(retry)})


def _duration(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def sheet_members(manager: User, member_ids: list[int] | None, offset: int, limit: int | None
                  ) -> tuple[District, list[MemberView], int]:
    """The members of a printed invitation sheet (default: everyone not enrolled), codes renewed, audited."""
    district = district_of(manager, lock=True)
    now = utcnow()
    most = setting("DISTRICT_PDF_MAX_MEMBERS")
    limit = most if limit is None else limit
    if limit > most:
        raise ApiError(422, "validation_error", f"limit: at most {most} members fit one sheet download.",
                       fields={"limit": [f"Must be at most {most}."]})
    if member_ids is not None:
        ids = _check_member_ids(district.id, member_ids)
        if len(ids) > most:
            raise ApiError(422, "validation_error", f"member_ids: at most {most} members fit one sheet download; "
                           "print the rest in another.", fields={"member_ids": [f"At most {most} members."]})
        query = members_query(district.id, member_ids=ids)
    else:
        query = members_query(district.id, status="invited")
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(DistrictMember.business_name, DistrictMember.id)
                              .limit(limit).offset(offset)).all()
    views = [MemberView(*row) for row in rows]
    waiting = [v.member for v in views if v.member.owner_id is None]
    if renew_codes(manager, district, waiting, now):
        # Read again: the sheet prints the new codes.
        rows = db.session.execute(query.where(DistrictMember.id.in_([v.member.id for v in views]))
                                  .order_by(DistrictMember.business_name, DistrictMember.id)).all()
        views = [MemberView(*row) for row in rows]
    for member in waiting:
        member.invited_at = now
    audit.record("district.invitation_sheet_printed", target=district, agency_id=district.agency_id, details={
        "district_id": district.id, "members": len(views), "offset": offset, "total": total,
        "member_ids": [v.member.id for v in views][:1000]})
    db.session.commit()
    return district, views, total
