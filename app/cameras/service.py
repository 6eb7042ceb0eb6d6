"""The camera registry: owners' cameras, and the radius search footage requests use."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency, Membership
from app.agencies.service import member_agency_ids
from app.audit import service as audit
from app.cameras import geo
from app.cameras.models import Camera, CameraMode, CameraStatus, camera_shares
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import field_error, not_found
from app.extensions import db
from app.sql import ID_CHUNK, chunks

# Fields an owner may set; the schema has validated each one's type and range.
EDITABLE = ("label", "address", "bearing", "field_of_view", "retention_days", "mode", "blackout_windows",
            "recorder_offset_s")


def camera_for(owner: User, camera_id: int) -> Camera:
    """The owner's own camera; anyone else's is indistinguishable from a missing one."""
    if not fits_int(camera_id):
        raise not_found("Camera")
    camera = db.session.scalar(sa.select(Camera).where(Camera.id == camera_id, Camera.owner_id == owner.id))
    if camera is None:
        raise not_found("Camera")
    return camera


def list_cameras(owner: User) -> list[Camera]:
    return list(db.session.scalars(sa.select(Camera).where(Camera.owner_id == owner.id).order_by(Camera.id)))


def _share_targets(owner: User, agency_ids: list[int]) -> list[Agency]:
    allowed = member_agency_ids(owner)
    unknown = sorted(set(agency_ids) - allowed)
    if unknown:
        raise field_error("shared_agency_ids",
                          f"You can share only with agencies you have joined; not with {unknown}.")
    if not agency_ids:
        return []
    return list(db.session.scalars(sa.select(Agency).where(Agency.id.in_(agency_ids)).order_by(Agency.id)))


def _latest_district_id(owner: User) -> int | None:
    return db.session.scalar(
        sa.select(Membership.district_id).where(Membership.owner_id == owner.id, Membership.district_id.is_not(None))
        .order_by(Membership.joined_at.desc(), Membership.id.desc()).limit(1))


# --- what camera audit events keep ---------------------------------------------------
#
# The audit log is append-only and outlives the owner's account, so a camera event must
# hold nothing personal: it names the fields that changed and gives the new values of
# the non-personal ones. The label and address are never recorded, nor the blackout
# hours (they tell when someone is at home); the position only rounded to 0.01°, about
# a kilometre, the transparency report's grid. Migration 0008 rewrote older events to
# this rule with a frozen copy of it: keep the two in step. (The recorder's clock offset
# came later: how wrong a clock is tells nothing of anyone, so its value is kept.)

AUDIT_VALUES = ("bearing", "field_of_view", "retention_days", "mode", "status", "shared_agency_ids",
                "recorder_offset_s")
AUDIT_ROUNDED = ("latitude", "longitude")
AUDIT_NAMED_ONLY = ("label", "address", "blackout_windows")
AUDIT_COORDINATE_DECIMALS = 2


def _settings(camera: Camera) -> dict[str, Any]:
    """Every field an owner sets, as compared before and after a change."""
    return {
        "label": camera.label, "address": camera.address, "latitude": camera.latitude,
        "longitude": camera.longitude, "bearing": camera.bearing, "field_of_view": camera.field_of_view,
        "retention_days": camera.retention_days, "mode": camera.mode.value, "status": camera.status.value,
        "blackout_windows": camera.blackout_windows,
        "shared_agency_ids": [a.id for a in camera.shared_with],
        "recorder_offset_s": camera.recorder_offset_s,
    }


def audit_details(changed: dict[str, Any]) -> dict[str, Any]:
    """A camera event's details for the fields in ``changed`` (field -> new value)."""
    details: dict[str, Any] = {"changed": sorted(changed)}
    for key, value in changed.items():
        if key in AUDIT_VALUES:
            details[key] = value
        elif key in AUDIT_ROUNDED:
            details[key] = round(value, AUDIT_COORDINATE_DECIMALS)
    return details


def created_audit_details(camera: Camera) -> dict[str, Any]:
    """``camera.created``: every field that was set (an empty address or blackout list is not, nor an
    unknown recorder clock)."""
    return audit_details({key: value for key, value in _settings(camera).items()
                          if (key not in AUDIT_NAMED_ONLY or value)
                          and not (key == "recorder_offset_s" and value is None)})


def _blank_to_none(text: str | None) -> str | None:
    # An emptied address input means "no address", not an address of "".
    return text or None


def create_camera(owner: User, data: dict[str, Any]) -> Camera:
    if data.get("public_attestation") is not True:
        raise field_error("public_attestation",
                          "Confirm that this camera records only what is visible from public space.")
    shares = data.get("shared_agency_ids")
    # By default a new camera is shared with every agency the owner has joined.
    shared_with = _share_targets(owner, sorted(member_agency_ids(owner)) if shares is None else shares)
    camera = Camera(
        owner_id=owner.id,
        district_id=_latest_district_id(owner),
        public_attestation=True,
        attested_at=utcnow(),
        mode=CameraMode(data.get("mode", CameraMode.REGISTER)),
        status=CameraStatus.ACTIVE,
        field_of_view=data.get("field_of_view", 90),
        blackout_windows=data.get("blackout_windows") or [],
        address=_blank_to_none(data.get("address")),
        shared_with=shared_with,
        recorder_offset_s=data.get("recorder_offset_s"),
        recorder_offset_at=None if data.get("recorder_offset_s") is None else utcnow(),
        **{k: data.get(k) for k in ("label", "bearing", "retention_days")},
    )
    camera.place(data["latitude"], data["longitude"])
    db.session.add(camera)
    db.session.flush()
    audit.record("camera.created", target=camera, details=created_audit_details(camera))
    db.session.commit()
    return camera


def update_camera(owner: User, camera_id: int, data: dict[str, Any]) -> Camera:
    """Change only the fields given; every check runs before anything changes."""
    camera = camera_for(owner, camera_id)
    if "public_attestation" in data and data["public_attestation"] is not True:
        raise field_error("public_attestation", "Cannot be withdrawn; pause or delete the camera instead.")
    if ("latitude" in data) != ("longitude" in data):
        missing = "longitude" if "latitude" in data else "latitude"
        raise field_error(missing, "Latitude and longitude change together.")
    shared_with = _share_targets(owner, data["shared_agency_ids"]) if "shared_agency_ids" in data else None
    before = _settings(camera)
    for key in EDITABLE:
        if key in data:
            value = data[key]
            if key == "mode":
                value = CameraMode(value)
            elif key == "blackout_windows":
                value = value or []
            elif key == "address":
                value = _blank_to_none(value)
            setattr(camera, key, value)
    if "latitude" in data:
        camera.place(data["latitude"], data["longitude"])
    if shared_with is not None:
        camera.shared_with = shared_with
    after = _settings(camera)
    changed = {k: after[k] for k in after if before[k] != after[k]}
    if "recorder_offset_s" in data:
        # A reading of the clock, even one that changed nothing, is the latest reading.
        camera.recorder_offset_at = None if camera.recorder_offset_s is None else utcnow()
    if changed:
        # onupdate misses a change to the shares alone (another table), so set it here.
        camera.updated_at = utcnow()
        audit.record("camera.updated", target=camera, details=audit_details(changed))
    db.session.commit()
    return camera


def remember_recorder_offset(camera: Camera, offset_s: int, *, actor: Any, clip_id: int) -> None:
    """An upload's reading of the recorder's clock becomes the camera's (audited when it changed); no commit."""
    changed = camera.recorder_offset_s != offset_s
    camera.recorder_offset_s = offset_s
    camera.recorder_offset_at = utcnow()
    if changed:
        audit.record("camera.updated", target=camera, actor=actor,
                     details={**audit_details({"recorder_offset_s": offset_s}), "clip_id": clip_id})


def set_paused(owner: User, camera_id: int, paused: bool) -> Camera:
    camera = camera_for(owner, camera_id)
    if not paused and camera.status == CameraStatus.PAUSED and (
            camera.pause_reason == UNCONFIRMED or camera.confirm_requested_at is not None):
        # Resuming a camera that is due its yearly confirmation (or paused for want of it) is that
        # confirmation: else the scheduler would pause it again at once.
        camera = confirm(camera, owner, "app")
        if camera.status == CameraStatus.PAUSED:
            camera.status = CameraStatus.ACTIVE
            audit.record("camera.resumed", target=camera)
        db.session.commit()
        return camera
    status = CameraStatus.PAUSED if paused else CameraStatus.ACTIVE
    if camera.status != status:
        camera.status, camera.pause_reason = status, None
        audit.record("camera.paused" if paused else "camera.resumed", target=camera)
        db.session.commit()
    return camera


# Why a camera paused by the scheduler is paused (app/cameras/confirmation.py).
UNCONFIRMED = "unconfirmed"


def confirm(camera: Camera, owner: User, via: str) -> Camera:
    """The yearly re-confirmation: the owner says the camera is still theirs and recording.

    Its clock restarts; a camera paused because it went unconfirmed resumes. Audited; the
    caller commits.
    """
    resumed = camera.status == CameraStatus.PAUSED and camera.pause_reason == UNCONFIRMED
    camera.confirmed_at, camera.confirm_requested_at = utcnow(), None
    if resumed:
        camera.status, camera.pause_reason = CameraStatus.ACTIVE, None
    audit.record("camera.confirmed", target=camera, actor=owner, details={"resumed": resumed, "via": via})
    return camera


def confirm_due(owner: User, via: str) -> int:
    """Confirm every camera of the owner asked for a confirmation, or paused for want of one (an SMS
    reply); returns how many. The caller commits."""
    due = db.session.scalars(sa.select(Camera).where(
        Camera.owner_id == owner.id,
        sa.or_(Camera.confirm_requested_at.is_not(None), Camera.pause_reason == UNCONFIRMED)).order_by(Camera.id))
    return sum(1 for camera in due if confirm(camera, owner, via))


def confirm_camera(owner: User, camera_id: int) -> Camera:
    """One tap in the app: confirm one of the owner's cameras."""
    camera = confirm(camera_for(owner, camera_id), owner, "app")
    db.session.commit()
    return camera


def delete_camera(owner: User, camera_id: int) -> None:
    camera = camera_for(owner, camera_id)
    # The event names the camera by id only: the owner deleted it, with where it was.
    audit.record("camera.deleted", target=camera)
    db.session.delete(camera)
    db.session.commit()


def nearby_for_agency(agency_id: int | None, latitude: float, longitude: float, radius_m: float) -> list[dict]:
    """Active cameras shared with the agency within the radius, nearest first.

    Only where each camera is and where it looks: nothing that tells who owns it.
    """
    if agency_id is None:
        # cameras_within reads None as "every agency"; staff without one see nothing.
        return []
    hits = cameras_within(latitude, longitude, radius_m, agency_id=agency_id, active_only=True)
    cameras = cameras_by_id([h.camera_id for h in hits])
    return [
        {"id": camera.id, "latitude": camera.latitude, "longitude": camera.longitude,
         "bearing": camera.bearing, "field_of_view": camera.field_of_view,
         "mode": camera.mode.value, "distance_m": round(hit.distance_m, 1)}
        for hit in hits
        # A camera deleted between the two queries is simply no longer there.
        if (camera := cameras.get(hit.camera_id)) is not None
    ]


# --- radius search ---------------------------------------------------------------

# Slots and no frozen __setattr__: a dense downtown builds thousands of these a query.
@dataclass(slots=True)
class CameraHit:
    camera_id: int
    latitude: float
    longitude: float
    distance_m: float


def _bbox_condition(box: geo.BoundingBox, flat: geo.FlatBound | None) -> sa.ColumnElement[bool]:
    """The box, answered from the index, and ``flat``'s plane test, which leaves out its corners."""
    # Table columns, not ORM attributes: a plain Core select skips the ORM's per-row work.
    c = Camera.__table__.c
    bands = box.bands
    if len(bands) <= geo.MAX_BAND_LIST:
        band_filter = c.lat_band.in_(list(bands))
    else:
        band_filter = c.lat_band.between(bands.start, bands.stop - 1)
    lon_filter = sa.or_(*(c.longitude.between(west, east) for west, east in box.lon_ranges))
    condition = sa.and_(band_filter, lon_filter, c.latitude.between(box.min_lat, box.max_lat))
    if flat is not None:
        dlat, dlon = c.latitude - flat.centre_lat, c.longitude - flat.centre_lon
        condition = sa.and_(condition, dlat * dlat + dlon * dlon * flat.lon_scale <= flat.limit)
    return condition


def within_query(latitude: float, longitude: float, radius_m: float, *, agency_id: int | None = None,
                 active_only: bool = False) -> sa.Select:
    """The radius search's SELECT: the cameras in the circle's bounding box but not its corners
    (``id``, ``latitude``, ``longitude``, then whatever a caller adds), answered from the
    ``ix_cameras_geo`` index.

    ``agency_id`` keeps cameras shared with that agency. :func:`in_circle` narrows the rows to the
    circle; a caller that needs more of each camera adds columns and joins to this one statement.
    """
    c = Camera.__table__.c
    box = geo.bounding_box(latitude, longitude, radius_m)
    query = sa.select(c.id, c.latitude, c.longitude).where(
        _bbox_condition(box, geo.flat_bound(latitude, longitude, radius_m, box)))
    if agency_id is not None:
        query = query.where(sa.exists().where(
            camera_shares.c.camera_id == c.id, camera_shares.c.agency_id == agency_id))
    if active_only:
        query = query.where(c.status == CameraStatus.ACTIVE)
    return query


def in_circle(latitude: float, longitude: float, radius_m: float, rows: Iterable[Any]) -> list[tuple[float, Any]]:
    """``(distance_m, row)`` of each of :func:`within_query`'s rows at most ``radius_m`` away, nearest
    first (then by camera id)."""
    by_id = {row[0]: row for row in rows}  # by position: the first three columns are the query's own
    return [(distance, by_id[camera_id]) for distance, camera_id, _, _ in geo.points_within(
        latitude, longitude, radius_m, (row[:3] for row in by_id.values()))]


def cameras_within(
    latitude: float,
    longitude: float,
    radius_m: float,
    *,
    agency_id: int | None = None,
    active_only: bool = False,
) -> list[CameraHit]:
    """Cameras whose great-circle distance from the point is at most ``radius_m``, nearest first.

    The bounding box is answered from the ``ix_cameras_geo`` index, less its corners
    (``geo.flat_bound``); the exact distance filters the candidates. ``agency_id`` keeps
    cameras shared with that agency.
    """
    box = geo.bounding_box(latitude, longitude, radius_m)
    candidates = _candidates(box, geo.flat_bound(latitude, longitude, radius_m, box),
                             agency_id=agency_id, active_only=active_only)
    return [CameraHit(camera_id, lat, lon, distance)
            for distance, camera_id, lat, lon in geo.points_within(latitude, longitude, radius_m, candidates)]


def _candidates(box: geo.BoundingBox, flat: geo.FlatBound | None, *, agency_id: int | None,
                active_only: bool) -> list[tuple[int, float, float]]:
    """``(id, latitude, longitude)`` of every camera in the box that passes ``flat``'s plane test.

    The box is ``_bbox_condition``'s, as SQL text; the plane test leaves out the box's
    corners in the database, on the index's own columns, so neither the driver nor the exact
    distance in Python spends anything on them.

    A metro search reads about 400 index entries, and building, caching and executing the
    Core statement for them, then making a Row of each, cost more CPU than the database's
    whole part of the query (bench/geo.py: about 0.5 ms of a 1.5 ms search). The text goes
    through the connection (its events, its transaction) and the rows stay the driver's
    tuples. tests/test_geo.py holds it to the index's plan and to a brute-force reference.
    """
    connection = db.session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    bands = box.bands
    if len(bands) <= geo.MAX_BAND_LIST:
        band_filter, params = f"lat_band IN ({', '.join([mark] * len(bands))})", list(bands)
    else:
        band_filter, params = f"lat_band BETWEEN {mark} AND {mark}", [bands.start, bands.stop - 1]
    lon_filter = " OR ".join([f"longitude BETWEEN {mark} AND {mark}"] * len(box.lon_ranges))
    params += [bound for lon_range in box.lon_ranges for bound in lon_range] + [box.min_lat, box.max_lat]
    # Only placeholders are formatted into the text; every value is a bound parameter.
    sql = (f"SELECT id, latitude, longitude FROM cameras WHERE {band_filter} AND ({lon_filter}) "  # noqa: S608
           f"AND latitude BETWEEN {mark} AND {mark}")
    if flat is not None:
        sql += (f" AND (latitude - {mark}) * (latitude - {mark})"
                f" + (longitude - {mark}) * (longitude - {mark}) * {mark} <= {mark}")
        params += [flat.centre_lat, flat.centre_lat, flat.centre_lon, flat.centre_lon, flat.lon_scale, flat.limit]
    if agency_id is not None:
        sql += (" AND EXISTS (SELECT 1 FROM camera_shares WHERE camera_shares.camera_id = cameras.id "  # noqa: S608
                f"AND camera_shares.agency_id = {mark})")
        params.append(agency_id)
    if active_only:
        sql += f" AND status = {mark}"
        params.append(CameraStatus.ACTIVE.value)
    result = connection.exec_driver_sql(sql, tuple(params))
    try:
        return result.cursor.fetchall()  # the driver's own tuples, read before SQLAlchemy's rows would be made
    finally:
        result.close()


def cameras_by_id(ids: list[int]) -> dict[int, Camera]:
    found: dict[int, Camera] = {}
    for chunk in chunks(ids, ID_CHUNK):
        found.update((c.id, c) for c in db.session.scalars(sa.select(Camera).where(Camera.id.in_(chunk))))
    return found
