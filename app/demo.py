"""Demo data for `make run`: one of each role, two cameras and a live enrollment code.

Refuses to run in production: the demo passwords are public.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import current_app

from app import links
from app.accounts.models import Role, User
from app.accounts.passwords import hash_password
from app.agencies.models import Agency, District, Membership
from app.audit import service as audit
from app.cameras.models import Camera, CameraMode
from app.cameras.service import created_audit_details
from app.db import utcnow
from app.enrollment import codes
from app.enrollment.models import CodeKind, EnrollmentCode
from app.extensions import db

SLUG = "demo-pd"
PASSWORDS = {
    "supervisor@demo.porchlight.test": "demo-supervisor-pw",
    "officer@demo.porchlight.test": "demo-officer-pw",
    "manager@demo.porchlight.test": "demo-manager-pw",
    "owner@demo.porchlight.test": "demo-owner-pw",
    "neighbor@demo.porchlight.test": "demo-neighbor-pw",
    "oversight@demo.porchlight.test": "demo-oversight-pw",
}
# An owner reached by e-mail only (a verified address, no push, no phone): a request near
# City Hall reaches them in the outbox (`flask mail outbox`), whose link answers it.
EMAIL_OWNER = "neighbor@demo.porchlight.test"
# The civilian oversight body's account: read-only, the agency's requests and audit log.
OVERSIGHT = "oversight@demo.porchlight.test"


@dataclass
class Demo:
    agency: Agency
    code: EnrollmentCode
    created: bool


def _user(email: str, role: Role, **extra) -> User:
    user = User(email=email, role=role, password_hash=hash_password(PASSWORDS[email]),
                password_changed_at=utcnow(), **extra)
    db.session.add(user)
    db.session.flush()
    audit.record("staff.created" if role != Role.OWNER else "account.signup", target=user,
                 actor=None, agency_id=extra.get("agency_id"), details={"role": role.value, "via": "demo"})
    return user


def _live_code(agency: Agency, district: District, supervisor: User) -> EnrollmentCode:
    now = utcnow()
    code = db.session.scalar(
        sa.select(EnrollmentCode).where(EnrollmentCode.agency_id == agency.id, EnrollmentCode.label == "Demo campaign")
        .order_by(EnrollmentCode.id.desc()).limit(1))
    if code is not None and code.status(now) == "active":
        return code
    code = EnrollmentCode(code=codes.generate(), agency_id=agency.id, district_id=district.id,
                          label="Demo campaign", kind=CodeKind.CAMPAIGN, max_uses=1000,
                          expires_at=now + timedelta(days=90), created_by_id=supervisor.id)
    db.session.add(code)
    db.session.flush()
    audit.record("enrollment_code.issued", target=code, actor=supervisor, agency_id=agency.id,
                 details={"label": code.label, "kind": "campaign", "via": "demo"})
    return code


def _email_owner(agency: Agency, district: District) -> None:
    if db.session.scalar(sa.select(User.id).where(User.email == EMAIL_OWNER)) is not None:
        return
    owner = _user(EMAIL_OWNER, Role.OWNER, display_name="Demo Neighbor", email_verified_at=utcnow())
    db.session.add(Membership(owner_id=owner.id, agency_id=agency.id, district_id=district.id))
    camera = Camera(owner_id=owner.id, district_id=district.id, label="Side gate", bearing=270, field_of_view=100,
                    retention_days=14, mode=CameraMode.REGISTER, public_attestation=True, blackout_windows=[],
                    shared_with=[agency])
    camera.place(43.04130, -87.90951)  # 47 m south of the Front porch
    db.session.add(camera)
    db.session.flush()
    audit.record("camera.created", target=camera, actor=owner, details={**created_audit_details(camera), "via": "demo"})


def _oversight(agency: Agency) -> None:
    # Made on its own (not only with a new agency) so that a demo loaded before the role existed gets one too.
    if db.session.scalar(sa.select(User.id).where(User.email == OVERSIGHT)) is None:
        _user(OVERSIGHT, Role.OVERSIGHT, agency_id=agency.id, display_name="Demo Police Commission",
              email_verified_at=utcnow())


def load_demo() -> Demo:
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("demo data is never loaded in production")
    agency = db.session.scalar(sa.select(Agency).where(Agency.slug == SLUG))
    created = agency is None
    if created:
        agency = Agency(name="Demo Police Department", slug=SLUG, timezone=current_app.config["DEFAULT_TIMEZONE"])
        db.session.add(agency)
        db.session.flush()
        audit.record("agency.created", target=agency, agency_id=agency.id, details={"via": "demo"})
        district = District(agency_id=agency.id, name="Downtown BID")
        db.session.add(district)
        db.session.flush()
        supervisor = _user("supervisor@demo.porchlight.test", Role.SUPERVISOR, agency_id=agency.id,
                           display_name="Sgt. Demo Supervisor")
        _user("officer@demo.porchlight.test", Role.OFFICER, agency_id=agency.id, display_name="Ofc. Demo Officer")
        _user("manager@demo.porchlight.test", Role.MANAGER, district_id=district.id, display_name="Demo BID Manager")
        owner = _user("owner@demo.porchlight.test", Role.OWNER, display_name="Demo Owner")
        db.session.add(Membership(owner_id=owner.id, agency_id=agency.id, district_id=district.id))
        # Two cameras near Milwaukee's City Hall.
        for label, lat, lon, bearing in (("Front porch", 43.04172, -87.90951, 180),
                                         ("Driveway", 43.04189, -87.90897, 90)):
            camera = Camera(owner_id=owner.id, district_id=district.id, label=label, bearing=bearing,
                            field_of_view=100, retention_days=14, mode=CameraMode.REGISTER,
                            public_attestation=True, blackout_windows=[], shared_with=[agency])
            camera.place(lat, lon)
            db.session.add(camera)
            db.session.flush()
            audit.record("camera.created", target=camera, actor=owner,
                         details={**created_audit_details(camera), "via": "demo"})
    else:
        district = agency.districts[0]
        supervisor = db.session.scalar(sa.select(User).where(User.email == "supervisor@demo.porchlight.test"))
    _email_owner(agency, district)
    _oversight(agency)
    code = _live_code(agency, district, supervisor)
    db.session.commit()
    return Demo(agency=agency, code=code, created=created)


def print_demo(demo: Demo) -> None:
    """How to sign in, and the live code's link and QR code, at the app's public base URL."""
    base = links.base_url()
    url = codes.enrollment_url(demo.code.code)
    echo = click.echo
    echo("")
    echo("Porchlight demo " + ("loaded" if demo.created else "already loaded") + f" ({demo.agency.name}).")
    echo("Sign in at POST /api/auth/signin (or through the API docs) with:")
    for email, password in PASSWORDS.items():
        echo(f"  {email.split('@')[0]:<11} {email:<34} {password}")
    echo("The officer, supervisor and oversight accounts also need two-step sign-in: at their first")
    echo("sign-in the app asks them to set up an authenticator app (any TOTP app; the screen shows")
    echo("the key for typing as well as the QR code). Lost the phone? flask staff reset-second-factor EMAIL")
    echo("")
    echo(f"{EMAIL_OWNER} gets requests near City Hall by e-mail only: read them with `flask mail outbox`")
    echo("and open the message's link to answer.")
    echo(f"{OVERSIGHT} is the police commission's read-only account: requests, approvals, the audit log")
    echo("and the complaint log of the demo agency; never footage or owners.")
    echo("")
    echo(f"Enrollment code {demo.code.display_code} (campaign, Downtown BID): {url}")
    echo(codes.qr_text(url))
    echo(f"API docs: {base}/api/docs    OpenAPI: {base}/api/openapi.json")
    echo("")
