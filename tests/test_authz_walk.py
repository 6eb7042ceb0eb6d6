"""The authorization walk: every operation of the live OpenAPI document, called anonymously,
with agency A's upload link, and as each role of agency A, with the ids of agency B, of
another owner in A and of another district of A, refuses without leaking; called with the
caller's own ids, every operation reaches its handler for someone, so the walk cannot
pass by never getting in. Nor can it pass by leaving an operation out: every operation is
walked with agency B's values, and each partial side (another owner, another district, a
colleague's) with exactly the operations PARTIAL_WALKS lists for it.

The others write a sentinel (``zzleakb``, ``zzleako``, ``zzleakd``) into every text field
and get phone numbers of their own and ids from ranges nobody else uses: any of them in
any answer, body or header, is a leak. Their rows are compared before and after: a write
that went through with foreign ids is a failure even if its answer said nothing.
"""
from __future__ import annotations

import base64
import hashlib
import io
import itertools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from secrets import token_urlsafe
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from itsdangerous import URLSafeSerializer
from twilio.request_validator import RequestValidator

from app import links
from app.accounts import recovery, tokens
from app.accounts.models import Role, User
from app.agencies.models import Agency, District
from app.cameras.models import Camera, CameraStatus, camera_shares
from app.clips.models import Clip, ClipDerivative, DerivativeKind, MediaStatus
from app.db import utcnow
from app.districts.models import DistrictImport, DistrictMember
from app.enrollment import codes
from app.enrollment.models import EnrollmentUse
from app.extensions import db
from app.footage.models import AskState, RequestStatus
from app.notifications.models import PushSubscription, SmsDirection, SmsMessage
from app.storage import get_storage, new_key
from tests import factories
from tests.conftest import signed_in
from tests.invitation_support import invitation_token
from tests.upload_support import TUS, create, metadata, mp4_bytes, patch

LAT, LON = 43.0389, -87.9065
# The other owner's camera is far from every request the walk makes: the staff's own
# requests may then ask nobody of theirs, and their rows must stay as they were.
FAR_LAT, FAR_LON = 43.2000, -87.9065
CLIP_SIZE = 4096
TWILIO_TOKEN = "walk-twilio-auth-token"
INBOUND_URL = "http://porchlight.test/api/sms/inbound"  # TestingConfig's PUBLIC_BASE_URL
CALLBACK_URL = "http://porchlight.test/api/sms/status-callback"
REFUSED = {401, 403, 404}
# A P-256 point and a 16-byte secret, base64url, as a browser's PushSubscription has them.
_POINT = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
PUSH_KEYS = {"p256dh": base64.urlsafe_b64encode(_POINT).decode().rstrip("="),
             "auth": base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip("=")}
_n = itertools.count(1)


# --- the sides ------------------------------------------------------------------------------

class Side(dict):
    """The ids and values one side offers the walk, by name; remembers which were asked for.

    The partial sides (another owner, another district, a colleague's) hold only what is
    theirs: an operation that asks one for anything else is not one its values can be tried on.
    """

    def __init__(self, name: str, own: bool, **values):
        super().__init__(**values)
        self.name, self.own, self.used = name, own, set()

    def __getitem__(self, key):
        self.used.add(key)
        value = super().__getitem__(key)
        return value() if callable(value) else value


@dataclass
class Secrets:
    """What must never appear in an answer: text, phone numbers (digits), ids and random strings."""

    text: set[str] = field(default_factory=set)
    ids: set[int] = field(default_factory=set)
    # Only what the caller's session reads: a public operation answers to the credential it
    # carries (an owner's texting number, an upload link), whoever's session comes along.
    session_only: bool = False

    def found_in(self, haystack: str, allowed: tuple[str, ...] = (), skip_ids: set[int] = frozenset()) -> list[str]:
        text = haystack.lower()
        for ok in allowed:
            text = text.replace(ok.lower(), "")
        found = [s for s in self.text if s.lower() in text]
        # Bounded by anything but hex digits: an id is never part of a hash or a random name.
        found += [str(i) for i in self.ids - skip_ids if re.search(rf"(?<![0-9a-f]){i}(?![0-9a-f])", text)]
        return found


class Ids:
    """Explicit ids from a range of their own, so that a leaked id is as visible as a leaked name.

    A thousand apart: SQLite numbers a new row max(id) + 1, so rows made later in a table
    B has written to follow B's ids closely, and must not land on one of B's in another table.
    """

    def __init__(self, start: int | None):
        self.counter = itertools.count(start, 1000) if start else None
        self.given: set[int] = set()

    def __call__(self) -> dict[str, int]:
        if self.counter is None:
            return {}
        value = next(self.counter)
        self.given.add(value)
        return {"id": value}


def _digits(phone: str) -> str:
    return phone.lstrip("+")[1:]  # the national number, whichever format an answer uses


def _csv(rows: list[tuple]) -> bytes:
    header = "Member ref,Business name,Contact name,Mobile,E-mail,Address,Latitude,Longitude,Cameras\r\n"
    lines = [",".join(str(v) for v in row) for row in rows]
    return (header + "\r\n".join(lines) + "\r\n").encode()


def _import(manager_client, rows, filename) -> int:
    r = manager_client.post("/api/district/imports", content_type="multipart/form-data",
                            data={"file": (io.BytesIO(_csv(rows)), filename)})
    assert r.status_code == 201 and r.json["status"] == "validated", r.json
    return r.json["id"]


def _upload(owner_client, ask_id: int, filename: str, *, complete: bool) -> str:
    created = create(owner_client, ask_id, CLIP_SIZE, filename=filename)
    assert created.status_code == 201, created.json
    location = created.headers["Location"]
    if complete:
        r = patch(owner_client, location, mp4_bytes(CLIP_SIZE, seed=next(_n)), 0)
        assert r.status_code == 204, r.json
    return location.rsplit("/", 1)[1]


def _made_working_copy(clip: Clip) -> None:
    """The media job's result without FFmpeg (the walk's clips are not real video): a working
    copy and poster stored and recorded, the clip ready; committed."""
    storage = get_storage()
    for kind, data in ((DerivativeKind.WORKING_COPY, mp4_bytes(CLIP_SIZE, seed=next(_n))),
                       (DerivativeKind.POSTER, b"\xff\xd8\xff\xe0" + bytes(60))):
        key = new_key()
        storage.create(key)
        with storage.open_append(key, 0) as out:
            out.write(data)
        db.session.add(ClipDerivative(clip_id=clip.id, kind=kind, storage_key=key, size=len(data),
                                      sha256=hashlib.sha256(data).hexdigest(), method="remux", settings={},
                                      versions={}))
    clip.media_status = MediaStatus.READY
    db.session.commit()


def build_side(app, tag: str, phone_base: int, id_start: int | None, reply_base: int) -> tuple[Side, Secrets]:
    """An agency with a district, one account of each role, a shared camera and everything the
    routes take an id of; every text carries ``tag``."""
    ids, secrets = Ids(id_start), Secrets(text={tag})
    phones = iter(f"+1414555{phone_base + i:04d}" for i in range(50))
    reply = itertools.count(reply_base)
    agency = factories.agency(f"{tag} Police Department", slug=f"{tag}-pd", **ids())
    district = District(agency_id=agency.id, name=f"{tag} district", **ids())
    db.session.add(district)
    db.session.flush()

    def person(role, **kw):
        return factories.user(role, email=f"{tag}-{role.value}-{next(_n)}@example.com",
                              display_name=f"{tag} {role.value}", **ids(), **kw)

    owner_phone = next(phones)
    owner = person(Role.OWNER, phone=owner_phone, phone_verified=True)
    officer = person(Role.OFFICER, agency_id=agency.id)
    supervisor = person(Role.SUPERVISOR, agency_id=agency.id)
    manager = person(Role.MANAGER, district_id=district.id)
    staff_spare = person(Role.OFFICER, agency_id=agency.id)
    overseer = person(Role.OVERSIGHT, agency_id=agency.id)
    factories.membership(owner, agency, district)
    camera = factories.camera(owner, LAT, LON, shared_with=[agency], label=f"{tag} porch camera",
                              address=f"1 {tag} Street", **ids())
    camera_spare = factories.camera(owner, LAT, LON, shared_with=[agency], label=f"{tag} garage camera", **ids())

    def request(**kw):
        return factories.footage_request(agency, officer, LAT, LON, case_number=f"{tag}-{next(_n)}",
                                         incident_type=f"{tag} burglary", summary=f"{tag} summary", **ids(), **kw)

    def ask(req, state=AskState.QUEUED):
        return factories.ask(req, camera, state=state, reply_code=f"{next(reply):04d}", **ids())

    main = request()
    ask_upload = ask(main, AskState.APPROVED)
    open_asks = {key: ask(request()) for key in ("ask_open", "ask_approve", "ask_decline", "ask_none",
                                                 "ask_token", "ask_sms")}
    pending = [request(status=RequestStatus.PENDING_APPROVAL, exceeded_limits=["radius"],
                       justification=f"{tag} justification") for _ in range(2)]
    cancel = request()
    code = factories.enrollment_code(agency, district=district, label=f"{tag} code", created_by_id=supervisor.id)
    code_spare = factories.enrollment_code(agency, district=district, label=f"{tag} spare code")
    active_code = factories.enrollment_code(agency, district=district, label=f"{tag} open code",
                                            kind=factories.CodeKind.CAMPAIGN, max_uses=100)
    db.session.add(EnrollmentUse(code_id=code.id, owner_id=owner.id, source_ip="203.0.113.9"))
    db.session.add(PushSubscription(user_id=owner.id, endpoint=f"https://push.example/{tag}/{next(_n)}",
                                    p256dh=f"{tag}-p256dh", auth=f"{tag}-auth", user_agent=f"{tag} browser"))
    db.session.add(SmsMessage(user_id=owner.id, direction=SmsDirection.OUTBOUND, to_number=owner_phone,
                              body=f"{tag} earlier message", status="outbox"))
    db.session.commit()

    # What is done through the API leaves the audit trail and derived rows it would in use.
    as_owner, as_officer = signed_in(app, owner), signed_in(app, officer)
    owner_elsewhere = signed_in(app, owner).get("/api/auth/sessions").json
    spare_session = next(s["id"] for s in owner_elsewhere if s["current"])
    as_supervisor, as_manager = signed_in(app, supervisor), signed_in(app, manager)
    clip_upload_id = _upload(as_owner, ask_upload.id, f"{tag} front door.mp4", complete=True)
    upload_id = _upload(as_owner, ask_upload.id, f"{tag} back door.mp4", complete=False)
    upload_spare = _upload(as_owner, ask_upload.id, f"{tag} side door.mp4", complete=False)
    clip = db.session.scalar(sa.select(Clip).where(Clip.upload_id == clip_upload_id))
    _made_working_copy(clip)
    assert as_officer.get(f"/api/clips/{clip.id}/content").status_code == 200
    r = as_supervisor.post(f"/api/requests/{main.id}/holds", json={"reason": f"{tag} hold reason"})
    assert r.status_code == 201, r.json
    hold_id = r.json["id"]
    member_phone, import_phone = next(phones), next(phones)
    _import(as_manager, [(f"{tag}-m1", f"{tag} Bakery", f"{tag} Contact", member_phone, f"{tag}-m1@example.com",
                          f"2 {tag} Avenue", LAT, LON, 1)], f"{tag}-members.csv")
    committed = db.session.scalar(sa.select(DistrictImport.id).where(DistrictImport.district_id == district.id))
    assert as_manager.post(f"/api/district/imports/{committed}/commit").status_code == 200
    import_id = _import(as_manager, [(f"{tag}-m2", f"{tag} Books", f"{tag} Reader", import_phone,
                                      f"{tag}-m2@example.com", f"3 {tag} Avenue", LAT, LON, 2)], f"{tag}-more.csv")
    member = db.session.scalar(sa.select(DistrictMember).where(DistrictMember.district_id == district.id))
    invitations = {}
    for key in ("invitation", "invitation_spare", "invitation_link"):
        email = f"{tag}-invitee-{next(_n)}@example.com"
        r = as_supervisor.post("/api/staff/invitations", json={"email": email, "role": "officer",
                                                                "display_name": f"{tag} invitee"})
        assert r.status_code == 201, r.json
        invitations[key] = r.json["id"]
    invitations["invitation_token"] = invitation_token(email)
    r = as_supervisor.post("/api/oversight/complaints", json={
        "request_id": main.id, "received_on": "2026-01-05", "summary": f"{tag} complaint", "source": "resident"})
    assert r.status_code == 201, r.json
    complaint_id = r.json["id"]
    endpoint = f"https://push.example/{tag}/{next(_n)}"
    db.session.add(PushSubscription(user_id=owner.id, endpoint=endpoint, p256dh="BKey", auth="secret"))
    db.session.commit()

    side = Side(tag, own=id_start is None, agency=agency.id, slug=agency.slug, district=district.id,
                owner=owner.id, officer=officer.id, staff_spare=staff_spare.id, camera=camera.id,
                camera_spare=camera_spare.id, request=main.id, request_pending=pending[0].id,
                request_pending2=pending[1].id, request_cancel=cancel.id, ask_upload=ask_upload.id,
                clip=clip.id, upload=upload_id, upload_spare=upload_spare, hold=hold_id, code=code.id,
                code_spare=code_spare.id, code_text=active_code.code, member=member.id,
                member_name=f"{tag} Bakery", import_=import_id, complaint=complaint_id,
                endpoint=endpoint, owner_phone=owner_phone, owner_email=owner.email, session=spare_session,
                **{key: a.id for key, a in open_asks.items()}, **invitations)
    side["link_token"] = links.upload_token(ask_upload)
    side["action_token"] = links.action_token(open_asks["ask_token"], "approve")
    side["sms_reply"] = f"YES {open_asks['ask_sms'].reply_code}"
    # A live reset link of the spare officer's (using it ends only that account's sessions).
    side["reset_token"] = tokens.issue_link(staff_spare, recovery.PURPOSE, staff_spare.email, recovery.TTL)[1]
    db.session.commit()
    side.used.clear()
    side.home = side
    side.public_names = (agency.name, agency.slug)
    side.clients = {"owner": as_owner, "officer": as_officer, "supervisor": as_supervisor, "manager": as_manager,
                    "oversight": signed_in(app, overseer)}
    side.users = [owner, officer, supervisor, manager, staff_spare, overseer]
    # What civilian oversight of the side's own agency must never see: its owner, cameras,
    # footage and district members (the rest of the side's texts, its requests', are theirs to read).
    side.private = Secrets(text={owner.display_name, owner.email, _digits(owner_phone), camera.label,
                                 camera_spare.label, f"1 {tag} Street", f"{tag} front door", f"{tag} back door",
                                 f"{tag} side door", clip_upload_id, upload_id, upload_spare, f"{tag} Bakery",
                                 f"{tag} Contact", _digits(member_phone), f"{tag} Books", f"{tag} Reader",
                                 _digits(import_phone), f"{tag} browser", f"{tag} earlier message"},
                           session_only=True)
    secrets.text |= {_digits(p) for p in (owner_phone, member_phone, import_phone)}
    secrets.text |= {code.code, code_spare.code, active_code.code, clip_upload_id, upload_id, upload_spare}
    # Every explicit id: agency, district, accounts, cameras, requests, asks.
    secrets.ids |= ids.given
    return side, secrets


def forged(side: Side) -> None:
    """Replace B's bearer secrets (link tokens, codes) by ones naming B's objects but not issued:
    holding the real secret *is* the authority, so the walk tries what an attacker could make."""
    wrong = "not-porchlight's-key"
    exp = int((utcnow() + timedelta(days=1)).timestamp())
    side["link_token"] = URLSafeSerializer(wrong, salt=links.UPLOAD_LINK_SALT).dumps(
        [side["ask_upload"], side["owner"], exp])
    side["action_token"] = URLSafeSerializer(wrong, salt=links.ACTION_LINK_SALT).dumps(
        {"ask": side["ask_token"], "owner": side["owner"], "action": "approve", "exp": exp})
    side["code_text"] = codes.generate()
    side["invitation_token"] = f"{side['invitation_link']}.{token_urlsafe(32)}"
    # B's real link row, with a secret nobody sent.
    side["reset_token"] = side["reset_token"].split(".")[0] + ".not-the-secret-that-was-sent"
    side.used.clear()


def build_other_owner(app, a: Side) -> tuple[Side, Secrets]:
    """A second owner in agency A, far from A's requests, with a camera, asks and uploads of its own."""
    tag, ids = "zzleako", Ids(8_001_000)
    agency = db.session.get(Agency, a["agency"])
    phone = "+14145550501"
    owner = factories.user(Role.OWNER, email=f"{tag}@example.com", phone=phone, phone_verified=True,
                           display_name=f"{tag} neighbour", **ids())
    factories.membership(owner, agency)
    camera = factories.camera(owner, FAR_LAT, FAR_LON, shared_with=[agency], label=f"{tag} camera",
                              address=f"9 {tag} Lane", **ids())
    officer = db.session.get(User, a["officer"])

    def ask(state):
        request = factories.footage_request(agency, officer, FAR_LAT, FAR_LON)
        return factories.ask(request, camera, state=state, reply_code="5001" if state == AskState.QUEUED else "5002",
                             **ids())

    approved, open_ask = ask(AskState.APPROVED), ask(AskState.QUEUED)
    endpoint = f"https://push.example/{tag}/1"
    db.session.add(PushSubscription(user_id=owner.id, endpoint=endpoint, p256dh="BKey", auth="secret"))
    db.session.commit()
    client = signed_in(app, owner)
    clip = _upload(client, approved.id, f"{tag} driveway.mp4", complete=True)
    upload = _upload(client, approved.id, f"{tag} alley.mp4", complete=False)
    side = Side(tag, own=False, owner=owner.id, camera=camera.id, camera_spare=camera.id, ask_upload=approved.id,
                ask_open=open_ask.id, ask_approve=open_ask.id, ask_decline=open_ask.id, ask_none=open_ask.id,
                upload=upload, upload_spare=upload, endpoint=endpoint, staff_spare=owner.id)
    side.client, side.home = client, a
    secrets = Secrets(text={tag, _digits(phone), clip, upload}, ids=ids.given)
    return side, secrets


def build_other_district(app, a: Side) -> tuple[Side, Secrets, Secrets]:
    """A second district of agency A, with its own manager, members, import and codes: agency A's
    police see its codes, but A's manager runs another district and must see none of it."""
    tag, ids = "zzleakd", Ids(6_001_000)
    agency = db.session.get(Agency, a["agency"])
    district = District(agency_id=agency.id, name=f"{tag} district", **ids())
    db.session.add(district)
    db.session.flush()
    manager = factories.user(Role.MANAGER, email=f"{tag}-manager@example.com", display_name=f"{tag} manager",
                             district_id=district.id, **ids())
    code = factories.enrollment_code(agency, district=district, label=f"{tag} code")
    db.session.commit()
    client = signed_in(app, manager)
    phone = "+14145550601"
    # Who to contact at a member carries a marker of its own: the agency's police see the district's
    # codes, labelled with the business and its reference, but not its people.
    member_tag = f"{tag}m"
    _import(client, [(f"{tag}-1", f"{tag} Deli", f"{member_tag} Grocer", phone, f"{member_tag}-1@example.com",
                      f"6 {member_tag} Court", LAT, LON, 1)], f"{tag}-members.csv")
    first = db.session.scalar(sa.select(DistrictImport.id).where(DistrictImport.district_id == district.id))
    assert client.post(f"/api/district/imports/{first}/commit").status_code == 200
    import_id = _import(client, [(f"{tag}-2", f"{tag} Cafe", f"{member_tag} Barista", "+14145550602",
                                  f"{member_tag}-2@example.com", "", "", "", "")], f"{tag}-more.csv")
    member = db.session.scalar(sa.select(DistrictMember.id).where(DistrictMember.district_id == district.id))
    side = Side(tag, own=False, district=district.id, code=code.id, code_spare=code.id, member=member,
                member_name=f"{tag} Deli", import_=import_id)
    side.home, side.manager = a, manager.id
    secrets = Secrets(text={tag, _digits(phone), "4145550602", code.code}, ids=ids.given)
    return side, secrets, Secrets(text={member_tag, _digits(phone), "4145550602"})


def build_colleagues(a: Side) -> Side:
    """What another officer of A made and an agency-wide code: A's agency, not the caller's to touch."""
    agency = db.session.get(Agency, a["agency"])
    colleague = db.session.get(User, a["staff_spare"])
    request = factories.footage_request(agency, colleague, FAR_LAT, FAR_LON, case_number="colleague-1")
    code = factories.enrollment_code(agency, label="agency-wide code")
    db.session.commit()
    side = Side("a colleague's", own=False, request_cancel=request.id, code=code.id, code_spare=code.id)
    side.home = a
    return side


def finish_sides(app, a: Side, b: Side, b_secrets: Secrets) -> None:
    """What differs between the sides: A's own spare agencies and numbers; B's values as a caller
    from A would meet them."""
    owner = db.session.get(User, a["owner"])
    leave, join = factories.agency("Spare Agency"), factories.agency("Joinable Agency")
    factories.membership(owner, leave)
    a["agency_leave"] = leave.id
    a["redeem_code"] = factories.enrollment_code(join).code
    db.session.commit()
    a["verify_phone"] = "+14145550199"
    a["verify_code"] = lambda: _latest_code("+14145550199")
    a["sms_from"] = a["owner_phone"]

    b.home = a
    b["agency_leave"] = b["agency"]
    b["redeem_code"] = codes.generate()
    b["verify_phone"] = b["owner_phone"]
    # B's owner is verifying a new number: its code must be useless to anyone else.
    pending_phone = "+14145550990"
    r = b.clients["owner"].post("/api/auth/phone/verification", json={"phone": pending_phone})
    assert r.status_code == 202, r.json
    b["verify_code"] = _latest_code(pending_phone)
    b["sms_from"] = a["owner_phone"]  # the caller texts from A's verified number, naming B's reply code
    b_secrets.text |= {_digits(pending_phone)}


def make_callers(app, a: Side, other: Side, b_secrets: Secrets, o_secrets: Secrets,
                 d_secrets: Secrets, d_members: Secrets) -> list[Caller]:
    # Police never learn who owns a camera: the other owner's identity is a secret to A's staff
    # too, though the ids of its asks in A's own requests are theirs to know. The other
    # district is agency A's, so its codes are A's police's business; its members are not.
    o_identity = Secrets(text=set(o_secrets.text))
    o_blind = Secrets(text=set(o_secrets.text), ids={dict.__getitem__(other, key) for key in ("owner", "camera")})
    link = app.test_client()
    link.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {a['link_token']}"
    return [
        Caller("anonymous", app.test_client(), None, [b_secrets, o_secrets, d_secrets]),
        Caller("upload link", link, None, [b_secrets, o_secrets, d_secrets], token=a["link_token"]),
        Caller("owner", a.clients["owner"], Role.OWNER, [b_secrets, o_secrets, d_secrets]),
        Caller("officer", a.clients["officer"], Role.OFFICER, [b_secrets, o_identity, d_members]),
        Caller("supervisor", a.clients["supervisor"], Role.SUPERVISOR, [b_secrets, o_identity, d_members]),
        Caller("manager", a.clients["manager"], Role.MANAGER, [b_secrets, o_identity, d_secrets]),
        # Oversight reads agency A's requests and audit log: never an owner, camera or clip of
        # A's (its own side's included), nor A's district members; not even the other owner's
        # account number, which supervisors see in the audit log (its asks' ids stay A's).
        Caller("oversight", a.clients["oversight"], Role.OVERSIGHT, [b_secrets, o_blind, d_members, a.private]),
        Caller("other owner", other.client, Role.OWNER, [b_secrets, d_secrets]),
    ]


# --- the operations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """How the walk calls one operation of the document.

    ``path`` fills the path parameters from a side and ``call`` gives the rest of the
    request (``client.open`` arguments); both are called afresh for every request.
    """

    path: Callable[[Side], dict] = lambda s: {}
    call: Callable[[Side], dict] = lambda s: {}
    # Why a 2xx is fine with the other side's values: the request names nothing of theirs
    # (a list, the caller's own account) or what it names is the caller's by right.
    self_scoped: str | None = None
    # Statuses besides 401/403/404 a foreign call may get, with why none of them tells anything.
    also: dict[int, str] = field(default_factory=dict)
    # Why anyone may call it without a session.
    public: str | None = None
    # Public pages may name the other agency: these of its values are then no leak.
    shows_agency: bool = False
    # Why a public page may show the agency's id too (an audit chain is named agency:<id>).
    shows_agency_id: str | None = None
    # Ends or replaces the caller's session: each call gets a throwaway account of the role.
    fresh: bool = False
    # Why no client of agency A gets a 2xx with its own ids.
    never_succeeds: str | None = None
    # Why the walk does not call it at all.
    skip: str | None = None
    # Why an answer may repeat what the caller typed (an address of another account among
    # it): the same answer comes for an address nobody has, so it tells nothing.
    echoes: str | None = None
    # The caller's own records may hold what it typed into an ``echoes`` operation.
    shows_typed: bool = False


def _email() -> str:
    return f"walk-{next(_n)}@example.com"


def _tus(s: Side, **headers) -> dict:
    return {"headers": {**TUS, **headers}}


def _twilio(url: str, params: dict) -> dict:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return {"data": params, "headers": {"X-Twilio-Signature": signature}}


def _latest_code(phone: str) -> str:
    body = db.session.scalar(sa.select(SmsMessage.body).where(SmsMessage.to_number == phone)
                             .order_by(SmsMessage.id.desc()).limit(1))
    match = re.search(r"\b(\d{6})\b", body or "")
    return match.group(1) if match else "000000"


_THIS_YEAR = utcnow().year - 1  # last year: a valid report year in every time zone
OWN = "names nothing of another account: the answer is the caller's own"

OPS: dict[tuple[str, str], Op] = {
    # --- accounts ---
    ("POST", "/api/auth/signup"): Op(
        call=lambda s: {"json": {"email": _email() if s.own else s["owner_email"], "password": factories.PASSWORD}},
        public="creating an account needs no session", fresh=True,
        self_scoped="the account made is the caller's own, unverified, as for an address nobody has "
                    "(the address's holder is told instead)",
        echoes="the new account's address is the one typed; a taken one answers as a free one"),
    ("POST", "/api/auth/password-reset"): Op(
        # Another side's address would get its holder a reset link (as it would from anyone):
        # a change to its rows by design. tests/test_recovery.py shows the answer is the same
        # for every login; here the walk checks the operation leaks nothing of anyone.
        call=lambda s: {"json": {"login": s["owner_email"] if s.own else _email()}},
        public="asking for a reset needs no session; the answer is the same whatever the login",
        self_scoped="answers the same 202 for every login, and sends only to the address's holder"),
    ("GET", "/api/auth/password-reset/link"): Op(
        call=lambda s: {"query_string": {"token": s["reset_token"]}},
        public="the link's secret is the authority; B's side tries its link with a secret nobody sent",
        also={410: "a link that is not live, told alike for any made-up one"}),
    ("POST", "/api/auth/password-reset/confirm"): Op(
        call=lambda s: {"json": {"token": s["reset_token"], "password": "walk-new-password-1"}},
        public="the link's secret is the authority; B's side tries its link with a secret nobody sent",
        also={410: "a link that is not live (or used by an earlier caller), told alike for any made-up one"}),
    ("POST", "/api/auth/signin"): Op(
        skip="signed_in() signs every client of the walk in through it; its flow (and two-factor) "
             "has its own tests"),
    ("POST", "/api/auth/signout"): Op(fresh=True, self_scoped=OWN),
    ("GET", "/api/auth/sessions"): Op(self_scoped=OWN),
    ("DELETE", "/api/auth/sessions/{session_id}"): Op(path=lambda s: {"session_id": s["session"]}),
    ("POST", "/api/auth/sessions/sign-out-others"): Op(fresh=True, self_scoped=OWN),
    ("GET", "/api/auth/me"): Op(self_scoped=OWN),
    ("PATCH", "/api/auth/me"): Op(call=lambda s: {"json": {"display_name": "walk"}}, self_scoped=OWN),
    ("POST", "/api/auth/password"): Op(
        call=lambda s: {"json": {"current_password": factories.PASSWORD, "new_password": "walk-new-password-1"}},
        fresh=True, self_scoped=OWN),
    ("POST", "/api/auth/second-factor/setup"): Op(fresh=True, self_scoped=OWN,
                                                  also={409: "it is already on: the caller's own account"}),
    ("POST", "/api/auth/second-factor/confirm"): Op(
        call=lambda s: {"json": {"code": "000000"}}, fresh=True, self_scoped=OWN,
        also={409: "no set-up of the caller's own is waiting", 422: "not the code of the caller's own set-up"},
        never_succeeds="the code comes from an authenticator app; the second-factor tests confirm it"),
    ("POST", "/api/auth/second-factor/recovery-codes"): Op(
        call=lambda s: {"json": {"password": factories.PASSWORD}}, fresh=True, self_scoped=OWN,
        also={409: "two-step sign-in is off on the caller's own account"}),
    ("DELETE", "/api/auth/second-factor"): Op(
        call=lambda s: {"json": {"password": factories.PASSWORD}}, fresh=True, self_scoped=OWN,
        also={409: "two-step sign-in is already off on the caller's own account"},
        never_succeeds="turning it off needs it on: owners and managers here have it off, police must keep it"),
    ("POST", "/api/agency/staff/{user_id}/second-factor/reset"): Op(path=lambda s: {"user_id": s["staff_spare"]}),
    ("GET", "/api/agency/staff"): Op(self_scoped=OWN),
    ("GET", "/api/staff/invitations"): Op(self_scoped=OWN),
    ("POST", "/api/staff/invitations"): Op(call=lambda s: {"json": {
        "email": _email(), "role": "manager", "district_id": s["district"]}},
        also={422: "district_id is a body field: another agency's district is refused like one that "
                   "does not exist, naming the field"}),
    ("POST", "/api/staff/invitations/{invitation_id}/resend"): Op(
        path=lambda s: {"invitation_id": s["invitation"]}),
    ("DELETE", "/api/staff/invitations/{invitation_id}"): Op(
        path=lambda s: {"invitation_id": s["invitation_spare"]},
        also={409: "revoked already (by an earlier call of the walk): about the caller's own agency's invitation"}),
    ("GET", "/api/invitations/{token}"): Op(
        path=lambda s: {"token": s["invitation_token"]},
        public="the secret in an invitation e-mail's link is the authority; B's is forged here",
        also={410: "a link not issued is refused like a used one"}),
    ("POST", "/api/invitations/{token}/second-factor"): Op(
        path=lambda s: {"token": s["invitation_token"]}, call=lambda s: {"json": {"password": "walk-password-123"}},
        public="the secret in an invitation e-mail's link is the authority; B's is forged here",
        also={410: "a link not issued is refused like a used one"}),
    ("POST", "/api/invitations/{token}/accept"): Op(
        path=lambda s: {"token": s["invitation_token"]},
        call=lambda s: {"json": {"password": "walk-password-123", "code": "123456"}},
        public="the secret in an invitation e-mail's link is the authority; B's is forged here",
        also={410: "a link not issued is refused like a used one"},
        never_succeeds="the code comes from the authenticator app the set-up step provisions; "
                       "tests/test_invitations.py joins"),
    ("PATCH", "/api/agency/staff/{user_id}"): Op(path=lambda s: {"user_id": s["staff_spare"]},
                                                 call=lambda s: {"json": {"role": "officer"}}),
    ("GET", "/api/me/export"): Op(self_scoped=OWN, shows_typed=True),
    ("POST", "/api/me/agencies/{agency_id}/leave"): Op(path=lambda s: {"agency_id": s["agency_leave"]}),
    ("GET", "/api/me/filters"): Op(self_scoped=OWN),
    ("PATCH", "/api/me/filters"): Op(call=lambda s: {"json": {"max_footage_age_days": 30}}, self_scoped=OWN),
    ("DELETE", "/api/me"): Op(call=lambda s: {"json": {"password": factories.PASSWORD, "confirm": "DELETE"}},
                              fresh=True, self_scoped=OWN),
    # --- agency ---
    ("GET", "/api/agency"): Op(self_scoped=OWN),
    ("GET", "/api/agency/districts"): Op(self_scoped=OWN),
    ("POST", "/api/agency/districts"): Op(call=lambda s: {"json": {"name": f"walk district {next(_n)}"}},
                                         self_scoped=OWN),
    ("GET", "/api/agency/policy"): Op(self_scoped=OWN),
    ("PATCH", "/api/agency/policy"): Op(call=lambda s: {"json": {"max_clips_per_ask": 16}}, self_scoped=OWN),
    # --- audit: filtering on another agency's user must find nothing of theirs ---
    ("GET", "/api/agency/audit"): Op(call=lambda s: {"query_string": {"actor_id": s["officer"]}},
                                     self_scoped="the filter only narrows the caller's own agency's log"),
    ("GET", "/api/agency/audit.csv"): Op(call=lambda s: {"query_string": {"actor_id": s["officer"]}},
                                         self_scoped="the filter only narrows the caller's own agency's log"),
    ("GET", "/api/agency/audit/verification"): Op(self_scoped=OWN),
    # --- annual report: the entered fields are the caller's agency's; the year names nothing of anyone's ---
    ("GET", "/api/agency/reports/{year}/entries"): Op(path=lambda s: {"year": _THIS_YEAR}, self_scoped=OWN),
    ("PATCH", "/api/agency/reports/{year}/entries"): Op(
        path=lambda s: {"year": _THIS_YEAR}, call=lambda s: {"json": {"costs": "Staff time"}}, self_scoped=OWN),
    # --- civilian oversight ---
    ("GET", "/api/oversight/requests"): Op(self_scoped=OWN),
    ("GET", "/api/oversight/requests/{request_id}"): Op(path=lambda s: {"request_id": s["request"]}),
    ("GET", "/api/oversight/complaints"): Op(call=lambda s: {"query_string": {"request_id": s["request"]}},
                                             self_scoped="the filter only narrows the caller's own agency's log"),
    ("POST", "/api/oversight/complaints"): Op(
        call=lambda s: {"json": {"request_id": s["request"], "received_on": "2026-02-01", "summary": "walk complaint",
                                 "source": "other"}},
        also={422: "request_id is a body field: another agency's request is refused like one that does not "
                   "exist, naming the field"}),
    ("PATCH", "/api/oversight/complaints/{complaint_id}"): Op(
        path=lambda s: {"complaint_id": s["complaint"]},
        call=lambda s: {"json": {"outcome": "withdrawn", "outcome_on": "2026-02-02"}}),
    # --- cameras ---
    ("GET", "/api/cameras"): Op(self_scoped=OWN),
    ("POST", "/api/cameras"): Op(call=lambda s: {"json": {
        "label": "walk camera", "latitude": LAT, "longitude": LON, "retention_days": 30,
        "public_attestation": True, "shared_agency_ids": [s["agency"]]}},
        also={422: "shared_agency_ids is a body field: an agency not joined is refused, naming the field"}),
    ("GET", "/api/cameras/{camera_id}"): Op(path=lambda s: {"camera_id": s["camera"]}),
    ("PATCH", "/api/cameras/{camera_id}"): Op(path=lambda s: {"camera_id": s["camera"]},
                                              call=lambda s: {"json": {"retention_days": 30}}),
    ("DELETE", "/api/cameras/{camera_id}"): Op(path=lambda s: {"camera_id": s["camera_spare"]}),
    ("POST", "/api/cameras/{camera_id}/pause"): Op(path=lambda s: {"camera_id": s["camera"]}),
    ("POST", "/api/cameras/{camera_id}/resume"): Op(path=lambda s: {"camera_id": s["camera"]}),
    ("POST", "/api/cameras/{camera_id}/confirm"): Op(path=lambda s: {"camera_id": s["camera"]}),
    ("GET", "/api/agency/cameras/nearby"): Op(
        call=lambda s: {"query_string": {"lat": LAT, "lon": LON, "radius_m": 1000}},
        self_scoped="searches the cameras shared with the caller's agency; B's stand at the same spot"),
    # --- uploads (tus) and upload links ---
    ("POST", "/api/uploads"): Op(call=lambda s: _tus(s, **{
        "Upload-Length": str(CLIP_SIZE), "Upload-Metadata": metadata(ask_id=str(s["ask_upload"]),
                                                                     filename="walk.mp4")})),
    ("PATCH", "/api/uploads/{upload_id}"): Op(
        path=lambda s: {"upload_id": s["upload"]},
        call=lambda s: {"data": mp4_bytes(CLIP_SIZE, seed=99)[:1024],
                        "headers": {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}}),
    ("DELETE", "/api/uploads/{upload_id}"): Op(path=lambda s: {"upload_id": s["upload_spare"]}, call=_tus),
    ("HEAD", "/api/uploads/{upload_id}"): Op(path=lambda s: {"upload_id": s["upload"]}, call=_tus),
    ("OPTIONS", "/api/uploads"): Op(public="tus discovery: the protocol's version and limits",
                                    self_scoped="names nothing; with a link token, that link's own limits"),
    ("GET", "/api/upload-links/{token}"): Op(
        path=lambda s: {"token": s["link_token"]},
        public="the signed token in an SMS link is the authority for its one ask; B's is forged here"),
    # --- review, holds ---
    ("GET", "/api/requests/{request_id}/clips"): Op(path=lambda s: {"request_id": s["request"]}),
    ("GET", "/api/clips/{clip_id}/content"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/clips/{clip_id}/download"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/clips/{clip_id}"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/clips/{clip_id}/working-copy"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/clips/{clip_id}/working-copy/download"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/clips/{clip_id}/poster"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/asks/{ask_id}/clips"): Op(path=lambda s: {"ask_id": s["ask_upload"]}),
    ("GET", "/api/me/clip-accesses"): Op(self_scoped=OWN),
    ("GET", "/api/me/clips/{clip_id}/receipt"): Op(path=lambda s: {"clip_id": s["clip"]}),
    ("GET", "/api/requests/{request_id}/holds"): Op(path=lambda s: {"request_id": s["request"]}),
    ("POST", "/api/requests/{request_id}/holds"): Op(path=lambda s: {"request_id": s["request"]},
                                                     call=lambda s: {"json": {"reason": "walk hold"}}),
    ("POST", "/api/holds/{hold_id}/release"): Op(path=lambda s: {"hold_id": s["hold"]},
                                                 call=lambda s: {"json": {"reason": "walk release"}}),
    # --- districts ---
    ("POST", "/api/district/imports"): Op(
        call=lambda s: {"content_type": "multipart/form-data", "data": {"file": (io.BytesIO(_csv([(
            f"walk-{next(_n)}", "Walk Shop", "Walk Person", "", f"walk{next(_n)}@example.com", "", "", "", "")])),
            "walk.csv")}}, self_scoped="checks the caller's file against the caller's district"),
    ("GET", "/api/district/imports/{import_id}"): Op(path=lambda s: {"import_id": s["import_"]}),
    ("POST", "/api/district/imports/{import_id}/commit"): Op(path=lambda s: {"import_id": s["import_"]}),
    ("GET", "/api/district/dashboard"): Op(self_scoped=OWN),
    ("GET", "/api/district/members"): Op(self_scoped=OWN),
    ("GET", "/api/district/members.csv"): Op(self_scoped=OWN),
    ("POST", "/api/district/invitations/sms"): Op(call=lambda s: {"json": {"member_ids": [s["member"]]}}),
    ("GET", "/api/district/invitations.pdf"): Op(call=lambda s: {"query_string": {"member_ids": str(s["member"])}}),
    # --- enrollment ---
    ("GET", "/api/enrollment/codes"): Op(self_scoped=OWN),
    ("POST", "/api/enrollment/codes"): Op(
        call=lambda s: {"json": {"label": "walk code", "kind": "single", "district_id": s["district"]}},
        also={422: "district_id is a body field: another agency's district is refused like one that "
                   "does not exist, naming the field"}),
    ("GET", "/api/enrollment/codes/{code_id}"): Op(path=lambda s: {"code_id": s["code"]}),
    ("GET", "/api/enrollment/codes/{code_id}/qr.png"): Op(path=lambda s: {"code_id": s["code"]}),
    ("GET", "/api/enrollment/codes/{code_id}/qr.svg"): Op(path=lambda s: {"code_id": s["code"]}),
    ("GET", "/api/enrollment/codes/{code_id}/uses"): Op(path=lambda s: {"code_id": s["code"]}),
    ("POST", "/api/enrollment/codes/{code_id}/revoke"): Op(path=lambda s: {"code_id": s["code_spare"]}),
    ("GET", "/api/enrollment/lookup/{code}"): Op(
        path=lambda s: {"code": s["code_text"]},
        public="the code printed on a QR sheet is the authority; B's side tries one nobody issued"),
    ("POST", "/api/enrollment/redeem"): Op(call=lambda s: {"json": {"code": s["redeem_code"]}}),
    # --- footage requests ---
    ("POST", "/api/requests"): Op(call=lambda s: {"json": {
        **_scope(), "case_number": f"walk-{next(_n)}", "incident_type": "burglary",
        "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
        # The walk's earlier asks at this spot include declined ones: this is a re-ask, held for approval.
        "summary": "walk", "justification": "walk re-ask"}},
        self_scoped="asks the cameras shared with the caller's agency; B's stand at the same spot"),
    ("POST", "/api/requests/preview"): Op(call=lambda s: {"json": _scope()},
                                          self_scoped="counts the caller's agency's cameras only"),
    ("GET", "/api/requests"): Op(self_scoped=OWN),
    ("GET", "/api/requests/{request_id}"): Op(path=lambda s: {"request_id": s["request"]}),
    ("POST", "/api/requests/{request_id}/approve"): Op(path=lambda s: {"request_id": s["request_pending"]},
                                                       call=lambda s: {"json": {"reason": "walk approval"}}),
    ("POST", "/api/requests/{request_id}/reject"): Op(path=lambda s: {"request_id": s["request_pending2"]},
                                                      call=lambda s: {"json": {"reason": "walk rejection"}}),
    ("POST", "/api/requests/{request_id}/cancel"): Op(path=lambda s: {"request_id": s["request_cancel"]}),
    # --- asks ---
    ("GET", "/api/asks"): Op(self_scoped=OWN),
    ("GET", "/api/asks/{ask_id}"): Op(path=lambda s: {"ask_id": s["ask_open"]}),
    ("POST", "/api/asks/{ask_id}/approve"): Op(path=lambda s: {"ask_id": s["ask_approve"]}),
    ("POST", "/api/asks/{ask_id}/decline"): Op(path=lambda s: {"ask_id": s["ask_decline"]},
                                               call=lambda s: {"json": {"reason": "walk"}}),
    ("POST", "/api/asks/{ask_id}/no-footage"): Op(path=lambda s: {"ask_id": s["ask_none"]}),
    ("POST", "/api/ask-actions/{token}"): Op(
        path=lambda s: {"token": s["action_token"]},
        public="the signed token of a notification's button is the authority; B's is forged here"),
    # --- notifications ---
    ("GET", "/api/push/vapid-public-key"): Op(public="the server's public key", self_scoped=OWN),
    ("GET", "/api/push/subscriptions"): Op(self_scoped=OWN),
    ("POST", "/api/push/subscriptions"): Op(
        call=lambda s: {"json": {"endpoint": f"https://push.example/walk/{next(_n)}",
                                 "keys": PUSH_KEYS}},
        self_scoped="a new endpoint of the caller's device (an endpoint is the browser's secret: "
                    "registering B's would need B's browser)"),
    ("DELETE", "/api/push/subscriptions"): Op(call=lambda s: {"json": {"endpoint": s["endpoint"]}}),
    ("POST", "/api/auth/phone/verification"): Op(
        call=lambda s: {"json": {"phone": s["verify_phone"]}},
        self_scoped="any number may be claimed: a taken one answers as a free one (its holder is told "
                    "and the code goes to nobody)",
        echoes="the answer repeats the number typed"),
    ("POST", "/api/auth/phone/verify"): Op(
        call=lambda s: {"json": {"code": s["verify_code"]}},
        also={409: "no code waits for the caller's own account: B's code is only ever compared with the "
                   "caller's own verifications",
              422: "a wrong code for the caller's own pending number (the one it typed)"}),
    ("POST", "/api/auth/verify-email"): Op(
        call=lambda s: {"json": {"token": "1.not-a-real-link-token"}},
        public="the link's token is the proof: it needs no session (opened on another device)",
        also={410: "a token that is not a live link: the same answer whatever exists"},
        never_succeeds="a live link is only in the e-mail sent to the address (tests/test_identities.py and "
                       "tests/browser/test_sign_up.py use real ones)"),
    ("POST", "/api/auth/email/verification"): Op(
        self_scoped=OWN, also={409: "the caller's own address is already verified (or it has none)"},
        never_succeeds="the walk's accounts have verified addresses (tests/test_identities.py asks for links)"),
    ("GET", "/api/sms/status"): Op(public="whether SMS are sent: deployment, not data", self_scoped=OWN),
    ("GET", "/api/mail/status"): Op(public="whether e-mails are sent: deployment, not data", self_scoped=OWN),
    ("POST", "/api/sms/inbound"): Op(
        call=lambda s: _twilio(INBOUND_URL, {"MessageSid": f"SMwalk{next(_n)}", "From": s["sms_from"],
                                             "To": "+14145550100", "Body": s["sms_reply"]}),
        public="Twilio's webhook: its signature is the authority, the sender's verified number the identity",
        self_scoped="a reply from the caller's own verified number; B's reply code must not reach B's ask"),
    ("POST", "/api/sms/status-callback"): Op(
        call=lambda s: _twilio(CALLBACK_URL, {"MessageSid": f"SMwalk{next(_n)}", "MessageStatus": "delivered"}),
        public="Twilio's webhook: its signature is the authority", self_scoped="names no message of anyone's"),
    # --- public ---
    ("GET", "/api/health"): Op(public="liveness", self_scoped=OWN),
    ("GET", "/api/app-config"): Op(public="map settings and ask rules the PWA needs before sign-in", self_scoped=OWN),
    ("GET", "/api/public/agencies"): Op(public="the transparency index names every agency", shows_agency=True,
                                        self_scoped=OWN),
    ("GET", "/api/public/agencies/{slug}/report"): Op(
        path=lambda s: {"slug": s["slug"]}, public="aggregate transparency figures, by design for anyone",
        shows_agency=True, self_scoped="public aggregates of the agency named"),
    **{("GET", f"/api/public/agencies/{{slug}}/reports/{{year}}{suffix}"): Op(
        path=lambda s: {"slug": s["slug"], "year": _THIS_YEAR}, public="the annual report's aggregates, by design "
        "for anyone", shows_agency=True, self_scoped="public aggregates of the agency named")
       for suffix in ("", ".csv", ".pdf")},
    ("GET", "/api/public/agencies/{slug}/report.csv"): Op(
        path=lambda s: {"slug": s["slug"]}, public="aggregate transparency figures, by design for anyone",
        shows_agency=True, self_scoped="public aggregates of the agency named"),
    ("GET", "/api/public/audit/checkpoints"): Op(
        public="signed checkpoints of the installation's audit chains are published for anyone to keep",
        self_scoped=OWN),
    ("GET", "/api/public/agencies/{slug}/checkpoints"): Op(
        path=lambda s: {"slug": s["slug"]}, public="an agency's signed audit checkpoints are published for anyone",
        shows_agency=True, self_scoped="the published checkpoints of the agency named",
        shows_agency_id="the signed checkpoints name the agency's chain, agency:<id>, as its events do"),
}

# The other side's values in the body of a call on the caller's own objects: a mix must be
# refused whole, not carried out for the part that is the caller's.
MIXED: dict[str, tuple[tuple[str, str], Op]] = {
    "share one's camera with B": (("PATCH", "/api/cameras/{camera_id}"), Op(
        path=lambda s: {"camera_id": s.home["camera"]}, call=lambda s: {"json": {"shared_agency_ids": [s["agency"]]}},
        also={422: "shared_agency_ids is a body field: an agency not joined is refused, naming the field"})),
    "make B's owner an officer": (("PATCH", "/api/agency/staff/{user_id}"), Op(
        path=lambda s: {"user_id": s["owner"]}, call=lambda s: {"json": {"role": "officer", "active": False}})),
    "reset B's owner's second factor": (("POST", "/api/agency/staff/{user_id}/second-factor/reset"), Op(
        path=lambda s: {"user_id": s["owner"]})),
    # (Inviting B's owner's address answers as for any address, echoing only what the caller
    # typed: tests/test_invitations.py compares the two answers.)
    "invite one's member and B's": (("POST", "/api/district/invitations/sms"), Op(
        call=lambda s: {"json": {"member_ids": [s.home["member"], s["member"]]}})),
    "print one's member and B's": (("GET", "/api/district/invitations.pdf"), Op(
        call=lambda s: {"query_string": {"member_ids": f"{s.home['member']},{s['member']}"}})),
    "search one's members for B's": (("GET", "/api/district/members"), Op(
        call=lambda s: {"query_string": {"q": s["member_name"]}}, self_scoped="searches the caller's district")),
    "one's audit log filtered on B's request": (("GET", "/api/agency/audit"), Op(
        call=lambda s: {"query_string": {"target_type": "footage_request", "target_id": str(s["request"])}},
        self_scoped="the filter only narrows the caller's own agency's log")),
}

# The operations walked with each partial side: those taking one of its values and none it
# lacks (see _applies). Every other operation is walked with agency B's values.
PARTIAL_WALKS: dict[str, set[str]] = {
    # another owner of agency A: its cameras, asks, uploads, subscription and account
    "zzleako": {
        "DELETE /api/cameras/{camera_id}",
        "DELETE /api/push/subscriptions",
        "DELETE /api/uploads/{upload_id}",
        "GET /api/asks/{ask_id}",
        "GET /api/asks/{ask_id}/clips",
        "GET /api/cameras/{camera_id}",
        "HEAD /api/uploads/{upload_id}",
        "PATCH /api/agency/staff/{user_id}",
        "PATCH /api/cameras/{camera_id}",
        "PATCH /api/uploads/{upload_id}",
        "POST /api/agency/staff/{user_id}/second-factor/reset",
        "POST /api/asks/{ask_id}/approve",
        "POST /api/asks/{ask_id}/decline",
        "POST /api/asks/{ask_id}/no-footage",
        "POST /api/cameras/{camera_id}/confirm",
        "POST /api/cameras/{camera_id}/pause",
        "POST /api/cameras/{camera_id}/resume",
        "POST /api/uploads",
        "make B's owner an officer",
        "reset B's owner's second factor",
    },
    # another district of agency A: its codes, imports and members
    "zzleakd": {
        "GET /api/district/imports/{import_id}",
        "GET /api/district/invitations.pdf",
        "GET /api/enrollment/codes/{code_id}",
        "GET /api/enrollment/codes/{code_id}/qr.png",
        "GET /api/enrollment/codes/{code_id}/qr.svg",
        "GET /api/enrollment/codes/{code_id}/uses",
        "POST /api/staff/invitations",
        "POST /api/district/imports/{import_id}/commit",
        "POST /api/district/invitations/sms",
        "POST /api/enrollment/codes",
        "POST /api/enrollment/codes/{code_id}/revoke",
        "invite one's member and B's",
        "print one's member and B's",
        "search one's members for B's",
    },
    # another officer's request and an agency-wide code of agency A
    "a colleague's": {
        "GET /api/enrollment/codes/{code_id}",
        "GET /api/enrollment/codes/{code_id}/qr.png",
        "GET /api/enrollment/codes/{code_id}/qr.svg",
        "GET /api/enrollment/codes/{code_id}/uses",
        "POST /api/enrollment/codes/{code_id}/revoke",
        "POST /api/requests/{request_id}/cancel",
    },
}

# What civilian oversight reads (and the complaint log it keeps), within its own agency.
OVERSIGHT_READS = {
    ("GET", "/api/oversight/requests"),
    ("GET", "/api/oversight/requests/{request_id}"),
    ("GET", "/api/oversight/complaints"),
    ("POST", "/api/oversight/complaints"),
    ("PATCH", "/api/oversight/complaints/{complaint_id}"),
    ("GET", "/api/agency/audit"),
    ("GET", "/api/agency/audit.csv"),
    ("GET", "/api/agency/audit/verification"),
}

# Routes the document hides on purpose (tus's HEAD and OPTIONS); walked all the same.
HIDDEN = {("HEAD", "/api/uploads/{upload_id}"), ("OPTIONS", "/api/uploads")}
# Served by apiflask itself: the document and its viewer, the same for everyone.
NOT_API = ("/api/openapi.json", "/api/docs")


def _scope() -> dict:
    now = utcnow()
    return {"latitude": LAT, "longitude": LON, "radius_m": 300,
            "window_start": (now - timedelta(hours=3)).isoformat(),
            "window_end": (now - timedelta(hours=2)).isoformat()}


# --- the document ----------------------------------------------------------------------------------

def _document_operations(app) -> dict[tuple[str, str], dict]:
    spec = app.test_client().get("/api/openapi.json").json
    return {(method.upper(), path): operation for path, item in spec["paths"].items()
            for method, operation in item.items()
            if method in ("get", "put", "post", "patch", "delete", "head", "options")}


def _url_map_operations(app) -> set[tuple[str, str]]:
    """Every /api route the app serves, whether or not the document shows it."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule.startswith(NOT_API):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        # HEAD and OPTIONS come with every route; only a route declaring nothing else is about them.
        methods = (rule.methods - {"HEAD", "OPTIONS"}) or (rule.methods - {"OPTIONS"}) or rule.methods
        found |= {(m, path) for m in methods}
    return found


def test_the_walk_knows_every_operation(app):
    """A new route fails here until OPS says how to walk it (or why it is public)."""
    documented = _document_operations(app)
    unknown = sorted((set(documented) | _url_map_operations(app)) - set(OPS))
    assert not unknown, f"operations the authorization walk does not exercise: add them to OPS: {unknown}"
    stale = sorted(set(OPS) - set(documented) - HIDDEN)
    assert not stale, f"OPS lists operations the app no longer has: {stale}"
    undocumented = sorted(_url_map_operations(app) - set(documented) - HIDDEN)
    assert not undocumented, f"routes missing from the document (and from HIDDEN): {undocumented}"
    # A route anyone may call says why in the table, so a new one cannot go public unnoticed.
    unexplained = sorted(key for key, operation in documented.items()
                         if not operation.get("security") and not (OPS[key].public or OPS[key].skip))
    assert not unexplained, f"operations without a session whose OPS entry gives no public reason: {unexplained}"
    for (method, path), op in OPS.items():
        # The table fills exactly the parameters the path has.
        assert op.skip or set(op.path(_Probe())) == set(re.findall(r"{(\w+)}", path)), (method, path)


class _Probe(dict):
    """Answers every key, so that the table's lambdas can be checked without data."""

    own = True

    def __getitem__(self, key):
        return 1


# --- rows that must not change ---------------------------------------------------------------------

_LOGS = {"audit_events", "audit_chain_head"}  # appended to by everyone's actions, never rewritten


def snapshot(**seeds: set[int]) -> dict[str, list]:
    """Every row of these ids (by table name), following foreign keys down to the rows that
    hang off them (cameras, asks, clips, holds, codes, imports, subscriptions ...)."""
    db.session.expire_all()
    owned: dict[str, set] = {name: set(ids) for name, ids in seeds.items()}
    tables = [t for t in db.metadata.sorted_tables if t.name not in _LOGS]
    rows: dict[str, list] = {}
    grew = True
    while grew:
        grew = False
        for table in tables:
            conditions = [table.c.id.in_(owned[table.name])] if "id" in table.c and owned.get(table.name) else []
            for column in table.c:
                for key in column.foreign_keys:
                    if owned.get(key.column.table.name):
                        conditions.append(column.in_(owned[key.column.table.name]))
            if not conditions:
                continue
            found = db.session.execute(sa.select(table).where(sa.or_(*conditions))).all()
            rows[table.name] = sorted(repr(tuple(r)) for r in found)
            if "id" in table.c:
                ids = {r.id for r in found}
                if not ids <= owned.get(table.name, set()):
                    owned[table.name] = owned.get(table.name, set()) | ids
                    grew = True
    return rows


# The one thing another account may add to B's rows: the message that tells B's owner that
# someone gave B's address or number for another account (and its count for the limit).
_TOLD_MARKS = ("someone tried", "'signup_notice'")


def _differences(before: dict, after: dict) -> list[str]:
    out = []
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, [])), set(after.get(name, []))
        new -= {row for row in new - old if any(mark in row.lower() for mark in _TOLD_MARKS)}
        if old != new:
            out.append(f"{name}: gone {sorted(old - new)[:3]} new {sorted(new - old)[:3]}")
    return out


# --- the walk ---------------------------------------------------------------------------------------

@dataclass
class Caller:
    name: str
    client: Any
    role: Role | None  # None: no session
    secrets: list[Secrets]  # what this caller must never be shown
    token: str | None = None


@dataclass
class Walk:
    app: Any
    home: Side  # agency A: where throwaway accounts are made
    public_names: tuple[str, ...]  # agency B's name and slug, which public pages show
    failures: list[str] = field(default_factory=list)
    successes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # By side: the operations walked with its values (named as in OPS, or MIXED's key).
    walked: dict[str, set[str]] = field(default_factory=dict)
    calls: int = 0
    # What callers typed into ``echoes`` operations (their own records may hold it since).
    typed: set[str] = field(default_factory=set)

    def fresh_client(self, caller: Caller, op_key) -> Any:
        """A client of its own for an operation that ends or replaces its session."""
        if caller.role is None or op_key == ("POST", "/api/auth/signup"):
            client = self.app.test_client()
            if caller.token:
                client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {caller.token}"
            return client
        place = {Role.OWNER: {}, Role.MANAGER: {"district_id": self.home["district"]}}.get(
            caller.role, {"agency_id": self.home["agency"]})
        user = factories.user(caller.role, **place)
        if caller.role == Role.OWNER:
            factories.membership(user, db.session.get(Agency, self.home["agency"]))
        db.session.commit()
        return signed_in(self.app, user)

    def call(self, caller: Caller, op_key, op: Op, side: Side):
        method, template = op_key
        params = op.path(side)
        url = template
        for name, value in params.items():
            url = url.replace("{" + name + "}", str(value))
        kwargs = op.call(side)
        client = self.fresh_client(caller, op_key) if op.fresh else caller.client
        self.calls += 1
        response = client.open(url, method=method, **kwargs)
        label = f"{method} {url} as {caller.name} ({'own' if side.own else side.name})"
        text = _readable(response)
        allowed = self.public_names if op.shows_agency else ()
        if op.echoes:
            body = kwargs.get("json") or {}
            sent = {v for v in body.values() if isinstance(v, str) and len(v) > 3} if isinstance(body, dict) else set()
            self.typed |= sent
            allowed = (*allowed, *sent)
        if op.shows_typed:
            allowed = (*allowed, *sorted(self.typed, key=len, reverse=True))
        # A refusal may repeat the ids the caller sent ("not with [7001000]"); an answer that
        # went through must not name them.
        skip = _sent_ids(params, kwargs) if response.status_code >= 400 else set()
        if op.shows_agency_id:
            skip = skip | {side["agency"]}
        for secrets in caller.secrets:
            if secrets.session_only and op.public:
                continue
            leaked = secrets.found_in(text, allowed, skip)
            if leaked:
                self.failures.append(f"{label}: {response.status_code} shows {sorted(leaked)}: {text[:300]!r}")
        if response.status_code >= 500:
            self.failures.append(f"{label}: {response.status_code} {text[:300]!r}")
        return response, label


def _sent_ids(params: dict, kwargs: dict) -> set[int]:
    sent = [*params.values(), *(kwargs.get("query_string") or {}).values()]
    body = kwargs.get("json")
    if isinstance(body, dict):
        sent += [x for v in body.values() for x in (v if isinstance(v, list) else [v])]
    return {int(v) for v in sent if isinstance(v, int) or (isinstance(v, str) and v.isdigit())} | {
        int(p) for v in sent if isinstance(v, str) for p in v.split(",") if p.isdigit()}


def _readable(response) -> str:
    """Body and headers as text; a PDF's compressed page streams inflated, where names would be."""
    body = response.get_data()
    parts = [body.decode("latin-1"), str(response.headers)]
    if response.mimetype == "application/pdf":
        for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
            try:
                parts.append(zlib.decompress(stream).decode("latin-1"))
            except zlib.error:
                pass
    return "\n".join(parts)


def _operations() -> list[tuple[str, tuple[str, str], Op]]:
    """Every operation the walk makes with another side's values: (name, OPS key, how)."""
    return ([(f"{method} {path}", (method, path), op) for (method, path), op in sorted(OPS.items())]
            + [(name, op_key, op) for name, (op_key, op) in MIXED.items()])


def _values_taken(op: Op, side: Side) -> tuple[set[str], str | None]:
    """The names of the side's values the operation takes, and the first it lacks (None: none)."""
    side.used.clear()
    try:
        op.path(side), op.call(side)
    except KeyError as exc:
        return set(side.used), exc.args[0]
    return set(side.used), None


def _applies(name: str, op: Op, side: Side, partial: bool, walk: Walk) -> bool:
    """Whether the operation is walked with this side's values.

    Agency B offers a value of every name the table asks for: an operation asking B for one
    it lacks is a mistake in the table, and fails the walk. A partial side is walked with the
    operations taking one of its values and none it lacks (the rest take values only a whole
    agency has, and are walked with B); PARTIAL_WALKS lists them, and the walk checks it met
    exactly those.
    """
    if op.skip or (partial and op.fresh):
        return False
    taken, lacking = _values_taken(op, side)
    if lacking is not None and not partial:
        walk.failures.append(f"{name}: asks {side.name} for {lacking!r}, a value it does not have")
        return False
    return lacking is None and (not partial or bool(taken))


def _foreign(walk: Walk, callers: list[Caller], side: Side, partial: bool, oracle: bool = True) -> None:
    """Every operation with the other side's values: refused, or (when it names nothing of
    theirs) answered with nothing of theirs; and (``oracle``) refused just as for values
    nobody has, so that the answer does not tell what exists."""
    ghost = ghost_of(side)
    walked = walk.walked.setdefault(side.name, set())
    for name, op_key, op in _operations():
        if not _applies(name, op, side, partial, walk):
            continue
        walked.add(name)
        for caller in callers:
            if op_key == ("POST", "/api/auth/signup") and caller.name != "anonymous":
                continue  # a fresh anonymous client each time: once is enough
            response, label = walk.call(caller, op_key, op, side)
            status = response.status_code
            if oracle and not op.shows_agency and status not in op.also:
                # Nor may the answer tell that the other side's object exists.
                missing, _ = walk.call(caller, op_key, op, ghost)
                if (status, _error_code(response)) != (missing.status_code, _error_code(missing)):
                    walk.failures.append(f"{label}: {status} {_error_code(response)}, but {missing.status_code} "
                                         f"{_error_code(missing)} for values nobody has")
            if status in REFUSED or status in op.also:
                continue
            if op.self_scoped and 200 <= status < 300:
                continue
            walk.failures.append(f"{label}: {status} {response.get_data(as_text=True)[:200]!r}")


def _error_code(response) -> str | None:
    body = response.get_json(silent=True) if response.is_json else None
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


# Values that look like the real ones but belong to nobody.
_GHOSTS = {"verify_code": "123456", "verify_phone": "+14145550998", "owner_phone": "+14145550997",
           "owner_email": "nobody@example.com", "sms_reply": "YES 0000", "member_name": "Nobody's Shop",
           "slug": "no-such-agency", "endpoint": "https://push.example/nobody"}


def ghost_of(side: Side) -> Side:
    """The side's names with values nobody has: what a caller meets for an id that does not exist."""
    values = {}
    for n, (key, value) in enumerate(dict.items(side)):
        if key in _GHOSTS:
            values[key] = _GHOSTS[key]
        elif isinstance(value, int):
            values[key] = 2_100_000_000 + n
        elif key in ("upload", "upload_spare"):
            values[key] = f"{n:032x}"
        elif key in ("code_text", "redeem_code"):
            values[key] = codes.generate()
        else:
            values[key] = value
    ghost = Side(f"nobody like {side.name}", own=False, **values)
    ghost.home = side.home
    if "link_token" in values:
        forged(ghost)
    return ghost


def _own(walk: Walk, callers: list[Caller], side: Side) -> None:
    for op_key, op in sorted(OPS.items()):
        if op.skip:
            continue
        for caller in callers:
            if op_key == ("POST", "/api/auth/signup") and caller.name != "anonymous":
                continue
            response, label = walk.call(caller, op_key, op, side)
            if 200 <= response.status_code < 300:
                walk.successes.setdefault(op_key, []).append(caller.name)


def _counts_only_shared_cameras(callers: list[Caller], a: Side) -> list[str]:
    """Counts leak as surely as names: B's cameras stand where A's do, and must not be counted."""
    shared = db.session.scalar(sa.select(sa.func.count()).select_from(Camera).join(
        camera_shares, camera_shares.c.camera_id == Camera.id).where(
        camera_shares.c.agency_id == a["agency"], Camera.status == CameraStatus.ACTIVE, Camera.latitude == LAT))
    officer = next(c.client for c in callers if c.name == "officer")
    preview = officer.post("/api/requests/preview", json=_scope()).json["cameras"]
    nearby = officer.get("/api/agency/cameras/nearby", query_string={"lat": LAT, "lon": LON, "radius_m": 300}).json
    return [f"{what} counts {n} cameras, agency A has {shared} there"
            for what, n in (("preview", preview), ("nearby", nearby["count"])) if n != shared]


def test_no_route_leaks_another_agency_or_owner(app):
    app.config["TWILIO_AUTH_TOKEN"] = TWILIO_TOKEN  # signs webhooks; no account SID: SMS stay in the outbox
    # The walk's made-up push service (nothing is sent to it): taken as is, without a DNS lookup.
    app.config["PUSH_TEST_ORIGINS"] = "https://push.example"
    a, _ = build_side(app, "sidea", 100, None, 1000)
    b, b_secrets = build_side(app, "zzleakb", 900, 7_001_000, 9000)
    other, o_secrets = build_other_owner(app, a)
    district, d_secrets, d_members = build_other_district(app, a)
    colleagues = build_colleagues(a)
    finish_sides(app, a, b, b_secrets)
    forged(b)

    callers = make_callers(app, a, other, b_secrets, o_secrets, d_secrets, d_members)
    b_rows = {"agencies": {b["agency"]}, "users": {u.id for u in b.users}}
    o_rows = {"users": {other["owner"]}}
    d_rows = {"districts": {district["district"]}, "users": {district.manager}}
    c_rows = {"footage_requests": {colleagues["request_cancel"]}, "enrollment_codes": {colleagues["code"]}}
    b_before = snapshot(**b_rows)

    walk = Walk(app, a, b.public_names)
    _foreign(walk, callers, b, partial=False)
    # From here on the other owner and district only have things done to them.
    o_before, d_before, c_before = snapshot(**o_rows), snapshot(**d_rows), snapshot(**c_rows)
    agency_a = [c for c in callers if c.name != "other owner"]
    _foreign(walk, agency_a, other, partial=True)
    _foreign(walk, [c for c in agency_a if c.role not in (Role.OFFICER, Role.SUPERVISOR)], district, partial=True)
    # The officer sees a colleague's requests, and the supervisor agency-wide codes: refusing to
    # change them tells nothing new, so only the refusal is asked for.
    _foreign(walk, [c for c in agency_a if c.role != Role.SUPERVISOR], colleagues, partial=True, oracle=False)
    counted_once = _counts_only_shared_cameras(callers, a)
    _own(walk, agency_a, a)

    assert not walk.failures, f"{len(walk.failures)} problems in {walk.calls} calls:\n" + "\n".join(walk.failures)
    # Every operation was walked: each with agency B's values, and each partial side with
    # exactly the operations PARTIAL_WALKS names for it.
    every = {name for name, _, op in _operations() if not op.skip}
    assert walk.walked[b.name] == every, f"not walked with agency B: {sorted(every - walk.walked[b.name])}"
    for side in (other, district, colleagues):
        expected, met = PARTIAL_WALKS[side.name], walk.walked[side.name]
        assert met == expected, f"{side.name}: walked but not listed {sorted(met - expected)}, " \
                                f"listed but not walked {sorted(expected - met)}"
    assert not counted_once, counted_once
    for name, seeds, before in (("agency B", b_rows, b_before), ("the other owner", o_rows, o_before),
                                ("the other district", d_rows, d_before), ("the colleagues", c_rows, c_before)):
        changed = _differences(before, snapshot(**seeds))
        assert not changed, f"{name}'s rows changed:\n" + "\n".join(changed)
    # Not vacuous: with its own ids, every operation reached its handler for someone.
    unreached = sorted(f"{m} {p}" for (m, p), op in OPS.items()
                       if not op.skip and not op.never_succeeds and (m, p) not in walk.successes)
    assert not unreached, f"no client of agency A got a 2xx with its own ids: {unreached}"
    assert sum(map(len, walk.successes.values())) >= 90, walk.successes
    # Oversight gets exactly what it is for, besides its own account and the public pages:
    # everything listed, and nothing else (no footage, owner, camera or police route).
    read = {key for key, names in walk.successes.items() if "oversight" in names
            and not OPS[key].public and not key[1].startswith("/api/auth/")}
    assert read == OVERSIGHT_READS, f"oversight got, unlisted: {sorted(read - OVERSIGHT_READS)}; " \
                                    f"listed, refused: {sorted(OVERSIGHT_READS - read)}"
