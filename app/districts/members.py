"""A district's members as its manager sees them: the list, the dashboard, the CSV export.

Business improvement district managers run one district of an agency; every function
here takes the manager and reads their own district only (:func:`district_of`).
Nothing in the districts package reads requests, asks or clips.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import District
from app.audit import service as audit
from app.cameras.models import Camera, CameraStatus
from app.db import utcnow
from app.districts.models import DistrictMember
from app.enrollment.models import EnrollmentCode
from app.errors import forbidden
from app.extensions import db

EXPORT_CHUNK = 1000  # members read per step of the CSV export


def district_of(user: User, *, lock: bool = False) -> District:
    """The district a manager runs (locked for update when asked); 403 for anyone else."""
    if user.role != Role.MANAGER:
        raise forbidden("This is for district managers.")
    if user.district_id is None:
        raise forbidden("Your account is not attached to a district.")
    query = sa.select(District).where(District.id == user.district_id)
    if lock:
        query = query.with_for_update()
    district = db.session.scalar(query)
    if district is None:
        raise forbidden("Your account is not attached to a district.")
    return district


def code_label(member: Any) -> str:
    return f"{member.business_name} ({member.member_ref})"[:120]


def _cameras_by_owner(district_id: int):
    return (sa.select(Camera.owner_id,
                      sa.func.count().label("registered"),
                      sa.func.count().filter(Camera.status == CameraStatus.ACTIVE).label("active"))
            .where(Camera.district_id == district_id).group_by(Camera.owner_id).subquery())


def members_query(district_id: int, status: str | None = None, search: str | None = None,
                   member_ids: list[int] | None = None):
    cameras = _cameras_by_owner(district_id)
    members = DistrictMember
    query = (sa.select(members, EnrollmentCode.code, EnrollmentCode.expires_at, EnrollmentCode.revoked_at,
                       sa.func.coalesce(cameras.c.registered, 0), sa.func.coalesce(cameras.c.active, 0))
             .outerjoin(EnrollmentCode, EnrollmentCode.id == members.enrollment_code_id)
             .outerjoin(cameras, cameras.c.owner_id == members.owner_id)
             .where(members.district_id == district_id))
    if status == "enrolled":
        query = query.where(members.owner_id.is_not(None))
    elif status == "invited":
        query = query.where(members.owner_id.is_(None))
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(*[sa.func.lower(column).like(pattern, escape="\\") for column in (
            members.member_ref, members.business_name, members.contact_name, members.email, members.phone,
            members.address)]))
    if member_ids is not None:
        query = query.where(members.id.in_(member_ids))
    return query


@dataclass
class MemberView:
    """A member as the dashboard shows it."""

    member: DistrictMember
    code: str | None
    code_expires_at: datetime | None
    code_revoked_at: datetime | None
    cameras_registered: int
    cameras_active: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.member, name)

    @property
    def status(self) -> str:
        return "enrolled" if self.member.owner_id is not None else "invited"

    @property
    def code_display(self) -> str | None:
        return f"{self.code[:4]}-{self.code[4:]}" if self.code else None

    @property
    def code_status(self) -> str | None:
        if self.code is None:
            return None
        if self.member.owner_id is not None:
            return "used"
        if self.code_revoked_at is not None:
            return "revoked"
        return "expired" if self.code_expires_at <= utcnow() else "active"


def list_members(manager: User, *, limit: int, offset: int, status: str | None = None,
                 search: str | None = None) -> dict[str, Any]:
    district = district_of(manager)
    query = members_query(district.id, status, search)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(DistrictMember.business_name, DistrictMember.id)
                              .limit(limit).offset(offset)).all()
    return {"members": [MemberView(*row) for row in rows], "total": total, "limit": limit, "offset": offset}


def dashboard(manager: User) -> dict[str, Any]:
    district = district_of(manager)
    members = DistrictMember
    totals = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(members.invited_at), sa.func.count(members.owner_id),
                  sa.func.count(members.sms_sent_at), sa.func.coalesce(sa.func.sum(members.cameras_expected), 0))
        .where(members.district_id == district.id)).one()
    owners = sa.select(members.owner_id).where(members.district_id == district.id, members.owner_id.is_not(None))
    registered, active = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Camera.status == CameraStatus.ACTIVE))
        .where(Camera.district_id == district.id, Camera.owner_id.in_(owners))).one()
    return {"district": {"id": district.id, "name": district.name}, "members": totals[0], "invited": totals[1],
            "enrolled": totals[2], "not_enrolled": totals[0] - totals[2], "sms_sent": totals[3],
            "cameras_expected": int(totals[4]), "cameras_registered": registered, "cameras_active": active}


def export_rows(manager: User) -> tuple[District, Iterator[MemberView]]:
    """Every member for the CSV export (audited), read in keyset chunks while the response streams."""
    district = district_of(manager)
    count = db.session.scalar(sa.select(sa.func.count()).where(DistrictMember.district_id == district.id))
    audit.record("district.members_exported", target=district, agency_id=district.agency_id,
                 details={"district_id": district.id, "rows": count, "format": "csv"})
    db.session.commit()
    district_id = district.id

    def rows() -> Iterator[MemberView]:
        last_name, last_id = "", 0
        query = members_query(district_id)
        while True:
            chunk = db.session.execute(
                query.where(sa.tuple_(DistrictMember.business_name, DistrictMember.id) > sa.tuple_(last_name, last_id))
                .order_by(DistrictMember.business_name, DistrictMember.id).limit(EXPORT_CHUNK)).all()
            if not chunk:
                return
            for row in chunk:
                yield MemberView(*row)
            last_name, last_id = chunk[-1][0].business_name, chunk[-1][0].id
            db.session.expunge_all()  # keep the session from holding every member read

    return district, rows()
