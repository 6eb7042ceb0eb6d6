"""Factories for test data, written straight to the database (the API is what tests test)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pyotp

from app.accounts.models import Role, User
from app.accounts.passwords import hash_password
from app.agencies.models import Agency, District, Membership
from app.cameras.models import Camera, CameraMode
from app.db import utcnow
from app.enrollment import codes
from app.enrollment.models import CodeKind, EnrollmentCode
from app.extensions import db

PASSWORD = "test-password-123"
_seq = itertools.count(1)
_hash_cache: dict[str, str] = {}


def _password_hash(password: str) -> str:
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def agency(name: str | None = None, **kw) -> Agency:
    n = next(_seq)
    obj = Agency(name=name or f"Agency {n}", slug=kw.pop("slug", f"agency-{n}"),
                 timezone=kw.pop("timezone", "America/Chicago"), **kw)
    db.session.add(obj)
    db.session.flush()
    return obj


def district(agency: Agency, name: str | None = None) -> District:
    obj = District(agency_id=agency.id, name=name or f"District {next(_seq)}")
    db.session.add(obj)
    db.session.flush()
    return obj


def user(role: Role, *, email: str | None = None, phone: str | None = None, password: str = PASSWORD,
         **kw) -> User:
    """An account; officers, supervisors and oversight come with two-step sign-in set up, as the
    product requires (pass ``totp_secret=None`` for one that has not set it up yet).
    The e-mail address counts as verified (pass ``email_verified_at=None`` for a fresh
    sign-up's)."""
    if email is None and phone is None:
        email = f"{role.value}{next(_seq)}@example.com"
    if email is not None:
        kw.setdefault("email_verified_at", utcnow())
    if role in (Role.OFFICER, Role.SUPERVISOR, Role.OVERSIGHT) and "totp_secret" not in kw:
        kw["totp_secret"] = pyotp.random_base32()
        kw.setdefault("totp_enabled_at", utcnow())
    obj = User(role=role, email=email, phone=phone, password_hash=_password_hash(password), **kw)
    db.session.add(obj)
    db.session.flush()
    return obj


def membership(owner: User, agency: Agency, district: District | None = None) -> Membership:
    obj = Membership(owner_id=owner.id, agency_id=agency.id, district_id=district.id if district else None)
    db.session.add(obj)
    db.session.flush()
    return obj


def camera(owner: User, lat: float = 43.0389, lon: float = -87.9065, *, shared_with=(), **kw) -> Camera:
    obj = Camera(owner_id=owner.id, label=kw.pop("label", f"Camera {next(_seq)}"),
                 retention_days=kw.pop("retention_days", 30), public_attestation=True,
                 mode=kw.pop("mode", CameraMode.REGISTER), field_of_view=kw.pop("field_of_view", 90),
                 blackout_windows=kw.pop("blackout_windows", []), shared_with=list(shared_with), **kw)
    obj.place(lat, lon)
    db.session.add(obj)
    db.session.flush()
    return obj


def enrollment_code(agency: Agency, *, district: District | None = None, kind: CodeKind = CodeKind.SINGLE,
                    max_uses: int = 1, expires_in: timedelta = timedelta(days=7), **kw) -> EnrollmentCode:
    obj = EnrollmentCode(code=codes.generate(), agency_id=agency.id, district_id=district.id if district else None,
                         label=kw.pop("label", "Test code"), kind=kind, max_uses=max_uses,
                         expires_at=utcnow() + expires_in, **kw)
    db.session.add(obj)
    db.session.flush()
    return obj


@dataclass
class World:
    agency: Agency
    district: District
    supervisor: User
    officer: User
    manager: User
    owner: User
    other_agency: Agency
    other_supervisor: User
    other_officer: User
    other_owner: User

    @classmethod
    def build(cls) -> World:
        a = agency("Riverside Police Department")
        d = district(a, "Downtown BID")
        other = agency("Hillcrest Police Department")
        world = cls(
            agency=a,
            district=d,
            supervisor=user(Role.SUPERVISOR, agency_id=a.id),
            officer=user(Role.OFFICER, agency_id=a.id),
            manager=user(Role.MANAGER, district_id=d.id),
            owner=user(Role.OWNER),
            other_agency=other,
            other_supervisor=user(Role.SUPERVISOR, agency_id=other.id),
            other_officer=user(Role.OFFICER, agency_id=other.id),
            other_owner=user(Role.OWNER),
        )
        membership(world.owner, a, d)
        membership(world.other_owner, other)
        db.session.commit()
        return world


# --- footage requests, asks, agency policy -----------------------------------------------

def policy(agency: Agency, **kw):
    """The agency's stored policy: the defaults, with ``kw`` changed."""
    from app.footage.models import AgencyPolicy

    obj = db.session.get(AgencyPolicy, agency.id)
    if obj is None:
        obj = AgencyPolicy.defaults(agency.id)
        db.session.add(obj)
    for key, value in kw.items():
        setattr(obj, key, value)
    db.session.flush()
    return obj


def footage_request(agency: Agency, officer: User | None = None, lat: float = 43.0389, lon: float = -87.9065, *,
                    radius_m: float = 300, window_ago: timedelta = timedelta(hours=3),
                    window_length: timedelta = timedelta(hours=1), status=None,
                    lifetime: timedelta = timedelta(hours=72), **kw):
    """A request written straight to the database (active by default, with no asks)."""
    from app.footage.models import FootageRequest, RequestStatus

    now = utcnow()
    status = status or RequestStatus.ACTIVE
    active = status != RequestStatus.PENDING_APPROVAL
    obj = FootageRequest(
        agency_id=agency.id, officer_id=officer.id if officer else None,
        case_number=kw.pop("case_number", f"2026-{next(_seq):06d}"), incident_type=kw.pop("incident_type", "burglary"),
        summary=kw.pop("summary", "Break-in at the corner store; looking for people on foot."),
        latitude=lat, longitude=lon, radius_m=radius_m, window_start=now - window_ago,
        window_end=now - window_ago + window_length, status=status,
        exceeded_limits=kw.pop("exceeded_limits", []),
        activated_at=kw.pop("activated_at", now if active else None),
        expires_at=kw.pop("expires_at", now + lifetime if active else None), **kw)
    db.session.add(obj)
    db.session.flush()
    return obj


def ask(request, camera: Camera, *, state=None, reply_code: str | None = None, **kw):
    """An ask of ``camera``'s owner for ``request``, in ``state`` (queued by default)."""
    from app.footage.models import Ask, AskState

    obj = Ask(request_id=request.id, camera_id=camera.id, owner_id=camera.owner_id, state=state or AskState.QUEUED,
              reply_code=reply_code or f"{next(_seq) % 10_000:04d}", distance_m=kw.pop("distance_m", 25.0),
              camera_label=camera.label, **kw)
    db.session.add(obj)
    db.session.flush()
    return obj
