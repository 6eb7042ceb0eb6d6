"""Agencies and districts: reading an agency, its time zone, districts inside it, owners' memberships."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app

from app.accounts.models import User
from app.agencies.models import Agency, District, Membership
from app.audit import service as audit
from app.common.fields import fits_int
from app.errors import ApiError, not_found
from app.extensions import db


def agency_zone(agency: Agency) -> ZoneInfo:
    """The agency's time zone, in which blackout hours, texts and monthly figures are read.

    The zone is checked when an agency is made; should it no longer be known (a
    retired tz name), DEFAULT_TIMEZONE stands in everywhere alike, so a request is
    matched, texted and counted in one zone.
    """
    try:
        return ZoneInfo(agency.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])


def _one_zone(agency_ids: set[int]) -> str | None:
    """The time zone these agencies share, or None (none, or several zones)."""
    if not agency_ids:
        return None
    agencies = db.session.scalars(sa.select(Agency).where(Agency.id.in_(agency_ids)))
    zones = {agency_zone(agency).key for agency in agencies}
    return zones.pop() if len(zones) == 1 else None


def account_time_zone(user: User) -> str | None:
    """The zone the PWA shows this account's dates and times in: its agency's (staff), its
    district's agency's (managers), its agencies' (owners), when that is one zone; None lets
    the device's zone stand (an owner of agencies in several zones, or of none yet)."""
    agency_ids = set(db.session.scalars(sa.select(Membership.agency_id).where(Membership.owner_id == user.id)))
    if user.agency_id is not None:
        agency_ids.add(user.agency_id)
    if user.district_id is not None:
        agency_ids.update(db.session.scalars(sa.select(District.agency_id).where(District.id == user.district_id)))
    return _one_zone(agency_ids)


def installation_time_zone() -> str | None:
    """The zone of signed-out screens: the one agency's, when this installation runs one."""
    ids = list(db.session.scalars(sa.select(Agency.id).limit(2)))
    return _one_zone(set(ids)) if len(ids) == 1 else None


def district_for(agency_id: int, district_id: int) -> District:
    district = db.session.get(District, district_id) if fits_int(district_id) else None
    if district is None or district.agency_id != agency_id:
        raise not_found("District")
    return district


def list_districts(agency_id: int) -> list[District]:
    return list(db.session.scalars(sa.select(District).where(District.agency_id == agency_id).order_by(District.id)))


def create_district(supervisor: User, name: str) -> District:
    # "Downtown BID" and "downtown bid" would be the same district on a QR sheet.
    exists = db.session.scalar(
        sa.select(District.id).where(District.agency_id == supervisor.agency_id,
                                     sa.func.lower(District.name) == name.lower()))
    if exists is not None:
        raise ApiError(409, "district_exists", f"Your agency already has a district named {name!r}.",
                       fields={"name": ["Already exists in your agency."]})
    district = District(agency_id=supervisor.agency_id, name=name)
    db.session.add(district)
    db.session.flush()
    audit.record("district.created", target=district, agency_id=supervisor.agency_id, details={"name": name})
    db.session.commit()
    return district


def memberships_of(owner: User) -> list[Membership]:
    return list(db.session.scalars(
        sa.select(Membership).where(Membership.owner_id == owner.id).order_by(Membership.id)))


def member_agency_ids(owner: User) -> set[int]:
    return set(db.session.scalars(sa.select(Membership.agency_id).where(Membership.owner_id == owner.id)))


def get_agency(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise not_found("Agency")
    return agency
