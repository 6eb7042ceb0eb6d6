"""Issuing, revoking, looking up and redeeming enrollment codes."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext
from sqlalchemy.dialects.postgresql import ARRAY

from app.accounts.models import Role, User
from app.agencies.models import District, Membership
from app.agencies.service import district_for
from app.audit import service as audit
from app.common.fields import fits_int
from app.db import utcnow
from app.districts.models import DistrictMember
from app.enrollment import codes
from app.enrollment.models import CodeKind, EnrollmentCode, EnrollmentUse
from app.errors import ApiError, field_error, forbidden, not_found
from app.extensions import db
from app.sql import chunks, dialect

MAX_LIFETIME = timedelta(days=365)
DEFAULT_LIFETIME = {CodeKind.SINGLE: timedelta(days=30), CodeKind.CAMPAIGN: timedelta(days=90)}
MAX_CAMPAIGN_USES = 100_000

_UNUSABLE = {
    "revoked": (410, "enrollment_code_revoked", "This enrollment code was withdrawn by the agency."),
    "expired": (410, "enrollment_code_expired", "This enrollment code has expired; ask for a new one."),
    "used_up": (410, "enrollment_code_used_up", "This enrollment code has been used as many times as it allows."),
}


def _codes_visible_to(user: User) -> sa.Select:
    query = sa.select(EnrollmentCode)
    if user.role == Role.SUPERVISOR:
        return query.where(EnrollmentCode.agency_id == user.agency_id)
    if user.role == Role.MANAGER:
        return query.where(EnrollmentCode.district_id == user.district_id)
    raise forbidden()


def code_for(user: User, code_id: int) -> EnrollmentCode:
    query = _codes_visible_to(user)
    code = db.session.scalar(query.where(EnrollmentCode.id == code_id)) if fits_int(code_id) else None
    if code is None:
        raise not_found("Enrollment code")
    return code


def list_codes(user: User) -> list[EnrollmentCode]:
    return list(db.session.scalars(_codes_visible_to(user).order_by(EnrollmentCode.id.desc())))


def issue_code(
    issuer: User,
    *,
    label: str,
    kind: CodeKind,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    district_id: int | None = None,
) -> EnrollmentCode:
    now = utcnow()
    if issuer.role == Role.MANAGER:
        if district_id not in (None, issuer.district_id):
            raise field_error("district_id", "District managers issue codes for their own district only.")
        district = issuer.district
    elif issuer.role == Role.SUPERVISOR:
        district = None
        if district_id is not None:
            try:
                district = district_for(issuer.agency_id, district_id)
            except ApiError:
                raise field_error("district_id", "No such district in your agency.") from None
    else:
        raise forbidden()
    if kind == CodeKind.SINGLE:
        if max_uses not in (None, 1):
            raise field_error("max_uses", "A single-use code has exactly one use; issue a campaign code for more.")
        max_uses = 1
    elif max_uses is None:
        raise field_error("max_uses", "A campaign code needs max_uses.")
    elif not 1 <= max_uses <= MAX_CAMPAIGN_USES:
        raise field_error("max_uses", f"Must be between 1 and {MAX_CAMPAIGN_USES}.")
    if expires_at is None:
        expires_at = now + DEFAULT_LIFETIME[kind]
    elif expires_at <= now:
        raise field_error("expires_at", "Must be in the future.")
    elif expires_at > now + MAX_LIFETIME:
        raise field_error("expires_at", "Must be within a year from now.")
    agency_id = district.agency_id if district is not None else issuer.agency_id
    code = EnrollmentCode(
        code=_unique_code(), agency_id=agency_id, district_id=district.id if district else None,
        label=label, kind=kind, max_uses=max_uses, use_count=0, expires_at=expires_at,
        created_by_id=issuer.id,
    )
    db.session.add(code)
    db.session.flush()
    audit.record("enrollment_code.issued", target=code, agency_id=agency_id, details={
        "label": label, "kind": kind.value, "max_uses": max_uses,
        "expires_at": expires_at.isoformat(), "district_id": code.district_id})
    db.session.commit()
    return code


def _unique_code() -> str:
    # 31^8 ≈ 8.5e11 codes: a collision is rare, but cheap to rule out.
    while True:
        candidate = codes.generate()
        if db.session.scalar(sa.select(EnrollmentCode.id).where(EnrollmentCode.code == candidate)) is None:
            return candidate


def unique_codes(count: int) -> list[str]:
    """``count`` distinct new codes, checked against the table with one query per thousand."""
    found: set[str] = set()
    postgresql = dialect() == "postgresql"
    while len(found) < count:
        candidates = sorted({codes.generate() for _ in range(count - len(found))} - found)
        for chunk in chunks(candidates, 1000):
            # PostgreSQL takes the thousand as one array parameter, not a thousand placeholders.
            among = (EnrollmentCode.code == sa.any_(sa.literal(chunk, ARRAY(sa.String))) if postgresql
                     else EnrollmentCode.code.in_(chunk))
            taken = set(db.session.scalars(sa.select(EnrollmentCode.code).where(among)))
            found.update(c for c in chunk if c not in taken)
    return list(found)


def issue_single_use_codes(issuer: User, district: District, labels: list[str], expires_at: datetime) -> list[str]:
    """Bulk: one single-use code of ``district`` per label, inserted together; the codes in label order.

    For imports of thousands of members: the caller records one audit event for the
    batch and commits. (No RETURNING: a plain executemany is several times faster on
    PostgreSQL; callers find the rows by their unique code.)
    """
    if not labels:
        return []
    now = utcnow()
    new = unique_codes(len(labels))
    rows = [{"code": code, "agency_id": district.agency_id, "district_id": district.id, "label": label[:120],
             "kind": CodeKind.SINGLE.value, "max_uses": 1, "use_count": 0, "expires_at": expires_at,
             "created_by_id": issuer.id, "created_at": now}
            for code, label in zip(new, labels, strict=True)]
    db.session.execute(sa.insert(EnrollmentCode.__table__), rows)
    return new


def revoke_code(user: User, code_id: int) -> EnrollmentCode:
    code = code_for(user, code_id)
    if code.revoked_at is None:
        code.revoked_at = utcnow()
        code.revoked_by_id = user.id
        audit.record("enrollment_code.revoked", target=code, agency_id=code.agency_id,
                     details={"uses": code.use_count})
        db.session.commit()
    return code


def find_code(text: str) -> EnrollmentCode:
    """The code a person typed or scanned, whatever its state; 404 when there is none."""
    canonical = codes.canonical(text)
    code = db.session.scalar(sa.select(EnrollmentCode).where(EnrollmentCode.code == canonical)) if canonical else None
    if code is None:
        raise ApiError(404, "enrollment_code_unknown",
                       lazy_gettext("No enrollment code matches that; check the letters and digits and try again."))
    return code


def _refuse(status: str) -> ApiError:
    status_code, error_code, message = _UNUSABLE[status]
    return ApiError(status_code, error_code, message)


def _has_used(owner: User | None, code: EnrollmentCode) -> bool:
    if owner is None or owner.role != Role.OWNER:
        return False
    return db.session.scalar(
        sa.select(EnrollmentUse.id).where(EnrollmentUse.code_id == code.id, EnrollmentUse.owner_id == owner.id)
    ) is not None


def usable_code(text: str, owner: User | None = None) -> EnrollmentCode:
    """The code if it can be used now, or the error that says why not.

    A code ``owner`` has already used stays usable to them once used up: their use is
    the one counted, and using it again changes nothing.
    """
    code = find_code(text)
    status = code.status(utcnow())
    if status == "used_up" and _has_used(owner, code):
        return code
    if status != "active":
        raise _refuse(status)
    return code


def redeem(owner: User, code: EnrollmentCode) -> Membership:
    """Join the owner to the code's agency (and district), recording the use.

    The caller commits. A second redemption of the same code by the same owner uses
    nothing up and changes nothing.
    """
    if owner.role != Role.OWNER:
        raise forbidden("Enrollment codes are for camera owners.")
    membership = db.session.scalar(
        sa.select(Membership).where(Membership.owner_id == owner.id, Membership.agency_id == code.agency_id))
    if _has_used(owner, code):
        status = code.status(utcnow())
        if status in ("revoked", "expired"):
            raise _refuse(status)
        # Used before (perhaps before leaving the agency): rejoin without using it up again.
        if membership is None:
            membership = Membership(owner_id=owner.id, agency_id=code.agency_id,
                                    district_id=code.district_id, enrollment_code_id=code.id)
            db.session.add(membership)
            db.session.flush()
            audit.record("enrollment_code.used", target=code, agency_id=code.agency_id, actor=owner,
                         details={"owner_id": owner.id, "district_id": code.district_id, "rejoined": True})
        return membership
    # Counting with a guarded UPDATE keeps two owners from taking a single-use code's last use.
    taken = db.session.execute(
        sa.update(EnrollmentCode)
        .where(EnrollmentCode.id == code.id, EnrollmentCode.use_count < EnrollmentCode.max_uses,
               EnrollmentCode.revoked_at.is_(None), EnrollmentCode.expires_at > utcnow())
        .values(use_count=EnrollmentCode.use_count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        db.session.refresh(code)
        status = code.status(utcnow())
        raise _refuse(status if status in _UNUSABLE else "used_up")
    db.session.refresh(code)
    use = EnrollmentUse(code_id=code.id, owner_id=owner.id, source_ip=audit._source_ip())
    db.session.add(use)
    if membership is None:
        membership = Membership(owner_id=owner.id, agency_id=code.agency_id, district_id=code.district_id,
                                enrollment_code_id=code.id)
        db.session.add(membership)
    elif code.district_id is not None:
        membership.district_id = code.district_id
    db.session.flush()
    if code.district_id is not None:
        _enroll_district_member(code, owner)
    audit.record("enrollment_code.used", target=code, agency_id=code.agency_id, actor=owner,
                 details={"owner_id": owner.id, "district_id": code.district_id, "use": code.use_count})
    return membership


def _enroll_district_member(code: EnrollmentCode, owner: User) -> None:
    """The district member this code was made for (a bulk import) is enrolled now."""
    db.session.execute(
        sa.update(DistrictMember)
        .where(DistrictMember.enrollment_code_id == code.id, DistrictMember.owner_id.is_(None))
        .values(owner_id=owner.id, enrolled_at=utcnow())
        .execution_options(synchronize_session=False))


def redeem_text(owner: User, text: str) -> Membership:
    membership = redeem(owner, usable_code(text, owner))
    db.session.commit()
    return membership


def code_uses(user: User, code_id: int) -> list[EnrollmentUse]:
    code = code_for(user, code_id)
    return list(db.session.scalars(
        sa.select(EnrollmentUse).where(EnrollmentUse.code_id == code.id).order_by(EnrollmentUse.id)))
