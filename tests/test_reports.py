"""The annual report: figures equal to counts made here from the test's own data, small counts
hidden (with the secondary hiding that stops subtraction), entered fields marked and audited,
CSV and PDF."""
from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.agencies.service import agency_zone
from app.audit import checkpoints
from app.audit import service as audit
from app.audit.models import AuditEvent, agency_chain
from app.clips.models import Clip, ClipAccess, ClipStatus, EvidenceHold
from app.db import utcnow
from app.extensions import db
from app.footage.filters import VIA_FILTER
from app.footage.models import AskState, LegalBasis, RequestStatus
from app.oversight.models import Complaint, ComplaintOutcome, ComplaintSource
from app.transparency.service import sub_count, suppress_group
from tests import factories
from tests.conftest import signed_in

_n = itertools.count(1)
YEAR = 2025


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def test_small_cell_helpers():
    # Primary: 2 is hidden; secondary: the smallest other non-zero part (5) too, so the hidden add up to 7.
    assert suppress_group({"a": 2, "b": 5, "c": 9, "d": 0}) == ({"a": None, "b": None, "c": 9, "d": 0}, 16)
    # Two small parts adding up to 5 or more need no more hiding.
    assert suppress_group({"a": 2, "b": 3, "c": 9}) == ({"a": None, "b": None, "c": 9}, 14)
    assert suppress_group({"a": 1, "b": 2}) == ({"a": None, "b": None}, None)  # a small total hides all
    assert suppress_group({"a": 0, "b": 7}, 7) == ({"a": 0, "b": 7}, 7)
    assert [sub_count(9, 6), sub_count(9, 3), sub_count(9, 0), sub_count(9, 9), sub_count(None, 6)] == [
        None, None, 0, 9, None]
    assert sub_count(10, 5) == 5


@pytest.fixture
def year_data(world):
    """One agency's 2025 (America/Chicago), with neighbours just outside the year and another agency."""
    w = world
    cam = factories.camera(w.owner, shared_with=[w.agency])
    # Requests: (count, radius m, window minutes, status, reviewed as over-limit: None / approved / rejected).
    specs = [
        (12, 50, 20, RequestStatus.EXPIRED, None),
        (7, 200, 45, RequestStatus.ACTIVE, None),
        (2, 120, 10, RequestStatus.PENDING_APPROVAL, None),
        (6, 400, 90, RequestStatus.CANCELLED, None),
        (8, 800, 45, RequestStatus.EXPIRED, "approved"),
        (5, 800, 180, RequestStatus.REJECTED, "rejected"),
    ]
    requests = []
    for count, radius, minutes, status, review in specs:
        for i in range(count):
            created = at("2025-01-01 06:00") + timedelta(days=7 * len(requests))
            n = len(requests)
            # Legal basis and category by position: 28 voluntary, 7 warrant, 5 exigent; 33 burglaries,
            # 4 thefts, 3 robberies.
            kw = {"legal_basis": LegalBasis.VOLUNTARY if n < 28 else LegalBasis.WARRANT if n < 35
                  else LegalBasis.EXIGENT,
                  "offense_category": "burglary" if n < 33 else "theft" if n < 37 else "robbery"}
            if review:
                kw |= {"exceeded_limits": ["radius"], "justification": "Wide", "reviewed_by_id": w.supervisor.id,
                   "reviewed_at": created + timedelta(hours=1), "self_approved": review == "approved" and i < 5,
                   "re_ask_cameras": 1 if review == "approved" else 0}
            requests.append(factories.footage_request(
                w.agency, w.officer, radius_m=radius, window_length=timedelta(minutes=minutes), status=status,
                created_at=created, **kw))
    # Just outside 2025 in Chicago (UTC-6): 23:30 on 31 December 2024, 00:30 on 1 January 2026.
    factories.footage_request(w.agency, w.officer, created_at=at("2025-01-01 05:30"))
    factories.footage_request(w.agency, w.officer, created_at=at("2026-01-01 06:30"))
    factories.footage_request(w.other_agency, w.other_officer, created_at=at("2025-06-01 12:00"))

    # Asks sent in 2025, by state.
    ask_states = ([AskState.DELIVERED] * 6 + [AskState.APPROVED] * 3 + [AskState.DECLINED] * 7
                  + [AskState.NO_FOOTAGE] * 3 + [AskState.EXPIRED] * 10 + [AskState.SEEN] * 5)
    asks = [factories.ask(requests[i], cam, state=state, created_at=at("2025-03-01 12:00") + timedelta(days=i))
            for i, state in enumerate(ask_states)]
    for ask in asks:  # 5 of the 7 declines came from the owner's standing filter
        if ask.state == AskState.DECLINED and sum(a.answered_via == "filter" for a in asks) < 5:
            ask.answered_via = "filter"
    factories.ask(requests[-1], cam, state=AskState.DECLINED, created_at=at("2026-01-02 12:00"))  # next year

    # Clips: (completed, status, retain_until, purged_at, on the held request?)
    clip_specs = (
        [("2025-02-01 12:00", ClipStatus.PURGED, "2025-05-01 00:00", "2025-05-01 12:00", False)] * 3
        + [("2025-02-01 12:00", ClipStatus.PURGED, "2025-05-01 00:00", "2025-05-05 12:00", False)] * 2  # late
        + [("2025-03-01 12:00", ClipStatus.COMPLETE, "2025-06-01 00:00", None, False)] * 5  # overdue
        + [("2025-03-01 12:00", ClipStatus.COMPLETE, "2025-06-01 00:00", None, True)]  # held: not overdue
        + [("2025-12-01 12:00", ClipStatus.COMPLETE, "2026-03-01 00:00", None, True)]  # not due yet
        + [("2024-12-01 12:00", ClipStatus.COMPLETE, "2025-12-31 00:00", None, False)]  # received in 2024
    )
    clips = []
    for completed, status, until, purged, held in clip_specs:
        n = next(_n)
        ask = asks[1] if held else asks[0]
        clips.append(Clip(upload_id=f"r{n:031d}", ask_id=ask.id, request_id=ask.request_id, agency_id=w.agency.id,
                          owner_id=w.owner.id, status=status, size=10, upload_offset=10, storage_key=f"r{n:063d}",
                          completed_at=at(completed), retain_until=at(until),
                          purged_at=at(purged) if purged else None, sha256="ab" * 32))
    db.session.add_all(clips)
    db.session.flush()
    db.session.add(EvidenceHold(request_id=asks[1].request_id, reason="Trial", placed_by_id=w.supervisor.id,
                                placed_at=at("2025-05-20 12:00")))
    # First views: clips 0-6 in 2025 (clip 0 twice, and downloaded), clip 7 only in 2026.
    accesses = [(clips[i], "view", "2025-06-01 12:00") for i in range(7)]
    accesses += [(clips[0], "view", "2025-07-01 12:00"), (clips[7], "view", "2026-01-05 12:00")]
    accesses += [(clips[i], "download", "2025-08-01 12:00") for i in range(6)]
    db.session.add_all([ClipAccess(clip_id=c.id, user_id=w.officer.id, action=action, created_at=at(when))
                        for c, action, when in accesses])

    # Cameras also shared with the other agency: 5 (and one shared with this agency only, above).
    for i in range(5):
        factories.camera(w.owner, 43.05 + i * 0.001, -87.9, shared_with=[w.agency, w.other_agency])

    # Complaints received in 2025: 6 not sustained, 2 sustained; one in 2024.
    for outcome, count, received in ((ComplaintOutcome.NOT_SUSTAINED, 6, date(2025, 4, 1)),
                                     (ComplaintOutcome.SUSTAINED, 2, date(2025, 4, 1)),
                                     (ComplaintOutcome.SUSTAINED, 1, date(2024, 4, 1))):
        for _ in range(count):
            db.session.add(Complaint(agency_id=w.agency.id, request_id=requests[0].id, received_on=received,
                                     summary="Too wide", source=ComplaintSource.RESIDENT, outcome=outcome,
                                     outcome_on=received + timedelta(days=30)))
    db.session.commit()
    # Two events in the agency's chain, and a checkpoint of its head signed in December 2025.
    for _ in range(2):
        audit.record("policy.updated", target_type="agency_policy", target_id=w.agency.id, agency_id=w.agency.id,
                     actor=audit.NO_ACTOR, details={})
    db.session.commit()
    checkpoints.make_checkpoints(now=at("2025-12-01 12:00"))
    return {"world": w, "specs": specs, "ask_states": ask_states, "clip_specs": clip_specs, "accesses": accesses}


def _get(client, slug, year=YEAR, suffix=""):
    return client.get(f"/api/public/agencies/{slug}/reports/{year}{suffix}")


def test_figures_equal_counts_made_from_the_data(client, year_data):
    w, specs = year_data["world"], year_data["specs"]
    r = _get(client, w.agency.slug)
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["year"], body["complete"], body["min_count"]) == (YEAR, True, 5)

    status = Counter()
    radius = Counter()
    window = Counter()
    for count, rad, minutes, st, _ in specs:
        status[st.value] += count
        radius["radius_up_to_100_m" if rad <= 100 else "radius_101_to_250_m" if rad <= 250
               else "radius_251_to_500_m" if rad <= 500 else "radius_over_500_m"] += count
        window["window_up_to_30_min" if minutes <= 30 else "window_31_to_60_min" if minutes <= 60
               else "window_61_to_120_min" if minutes <= 120 else "window_over_120_min"] += count
    total = sum(status.values())
    # 2 pending is small: hidden, and the smallest other non-zero status (5 rejected) with it.
    # 8 re-asks of 40 (the approved over-limit ones) is shown: neither it nor the rest is small.
    assert body["requests"] == {"total": total, "re_asks": 8, "by_status": {
        "pending_approval": None, "active": status["active"], "rejected": None,
        "cancelled": status["cancelled"], "expired": status["expired"]}}
    assert [(c["key"], c["requests"]) for c in body["purposes"]["legal_basis"]] == [
        ("voluntary", 28), ("warrant", 7), ("exigent", 5)]
    categories = {c["key"]: c["requests"] for c in body["purposes"]["offense_categories"]}
    # 4 thefts and 3 robberies are hidden; together 7, so no other category need be.
    assert (categories["burglary"], categories["theft"], categories["robbery"], categories["arson"]) == (
        33, None, None, 0)
    assert body["scope"] == {"radius": dict(radius), "window": dict(window)}

    approved = sum(c for c, *_, review in specs if review == "approved")
    rejected = sum(c for c, *_, review in specs if review == "rejected")
    # 5 of 8 self-approved: the other 3 would follow by subtraction, so it is hidden; no re-asks (0) shows.
    # 5 of 8 self-approved and 8 of 8 re-asks: the first leaves 3 (hidden), the second 0 (shown).
    assert body["reviews"] == {"reviewed": approved + rejected, "over_limit_approved": approved,
                               "over_limit_rejected": rejected, "self_approved": None, "re_asks_approved": 8}

    states = Counter(s.value for s in year_data["ask_states"])
    # 3 no-footage answers are hidden, and so the 5 still open; delivered (6 of 9) leaves 3: hidden,
    # and so do 5 declines by filters of 7.
    assert body["outcomes"] == {
        "asks": len(year_data["ask_states"]), "approved": states["delivered"] + states["approved"],
        "delivered": None, "declined": states["declined"], "declined_by_owner_filters": None, "no_footage": None,
        "expired": states["expired"], "cancelled": 0, "open": None}

    clip_specs = year_data["clip_specs"]
    received = sum(1 for c in clip_specs if c[0].startswith(str(YEAR)))
    purged = [c for c in clip_specs if c[3]]
    first_views = {c.id: min(when for c2, _, when in year_data["accesses"] if c2 is c)
                   for c, _, _ in year_data["accesses"]}
    assert body["clips"] == {"received": received, "first_viewed": sum(1 for v in first_views.values()
                                                                       if v.startswith(str(YEAR))),
                             "placed_under_hold": None, "purged": len(purged)}  # 2 held: hidden
    assert body["retention"]["past_retention_not_purged_or_held"] == sum(
        1 for c in clip_specs if c[1] == ClipStatus.COMPLETE and not c[4]
        and at(c[2]) < at("2026-01-01 06:00") - timedelta(days=1))
    assert body["retention"]["purged_late"] is None  # 2 late purges: hidden

    sharing = body["sharing"]
    assert sharing["clips_passed_to_other_agencies"] == 0 and "no way to pass a clip" in sharing["statement"]
    assert (sharing["downloads"], sharing["cameras_also_shared_with_other_agencies"]) == (
        sum(1 for _, action, when in year_data["accesses"] if action == "download" and when.startswith("2025")), 5)

    # 2 sustained is hidden, and the 6 not sustained with it; the total of 8 stays.
    assert body["complaints"] == {"total": 8, "open": 0, "sustained": None, "not_sustained": None,
                                  "unfounded": 0, "exonerated": 0, "withdrawn": 0}
    chain = agency_chain(w.agency.id)
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.chain == chain))
    assert body["audit"]["ok"] is True
    assert body["audit"]["events_checked"] == events and body["audit"]["problem"] is None
    signed = body["audit"]["checkpoints"]
    assert (signed["published"], signed["not_held_by_log"], signed["last"]["seq"]) == (1, 0, events)
    assert body["entered"]["entered_by_agency"] is True and body["entered"]["costs"] is None

    # The other agency's year holds nothing of this one's.
    other = _get(client, w.other_agency.slug).json
    assert other["requests"]["total"] is None and other["outcomes"]["asks"] == 0


def test_csv_and_pdf(client, year_data):
    slug = year_data["world"].agency.slug
    r = _get(client, slug, suffix=".csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert f"porchlight-annual-report-{slug}-{YEAR}.csv" in r.headers["Content-Disposition"]
    rows = {(row["section"], row["figure"]): row for row in csv.DictReader(io.StringIO(r.get_data(as_text=True)))}
    assert rows[("outcomes", "expired")]["value"] == "10"
    assert rows[("outcomes", "no_footage")]["value"] == ""  # hidden
    assert rows[("entered", "costs")]["source"] == "entered by the agency"
    pdf = _get(client, slug, suffix=".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert _get(client, "nowhere").status_code == 404
    assert _get(client, slug, year=2999, suffix=".pdf").status_code == 422


def test_entered_fields_are_marked_and_audited(app, client, world, as_supervisor):
    url = f"/api/agency/reports/{YEAR}/entries"
    policy = "Retention cut from 90 to 60 days in June. " * 40  # long: wraps in the PDF
    r = as_supervisor.patch(url, json={"costs": " $12,000 (staff time) ", "funding_source": "City general fund",
                                       "policy_changes": policy})
    assert r.status_code == 200, r.json
    assert r.json["costs"] == "$12,000 (staff time)" and r.json["entered_by_agency"] is True
    entered = _get(client, world.agency.slug).json["entered"]
    assert entered["note"].startswith("Entered by the agency, not computed")
    assert (entered["funding_source"], entered["policy_changes"]) == ("City general fund", policy.strip())
    assert _get(client, world.agency.slug, suffix=".pdf").data.startswith(b"%PDF")
    # Clearing one field is a change like another, audited with before and after.
    assert as_supervisor.patch(url, json={"funding_source": None}).json["funding_source"] is None
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report.entries_updated")
                                .order_by(AuditEvent.id)).all()
    assert [e.details for e in events][-1] == {"year": YEAR, "funding_source": {"before": "City general fund",
                                                                                 "after": None}}
    assert events[0].actor_id == world.supervisor.id and events[0].agency_id == world.agency.id
    # Too long, a future year, an officer: refused, nothing written.
    assert as_supervisor.patch(url, json={"costs": "x" * 1001}).status_code == 422
    assert as_supervisor.patch("/api/agency/reports/2999/entries", json={"costs": "x"}).status_code == 422
    officer = signed_in(app, world.officer)
    assert officer.get(url).json["costs"] == "$12,000 (staff time)"
    assert officer.patch(url, json={"costs": "0"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "report.entries_updated")) == 2
    # Another agency's supervisor edits only its own year.
    other = signed_in(app, world.other_supervisor)
    assert other.get(url).json["costs"] is None



def test_a_filters_decline_counts_only_from_its_disguised_time(client, world):
    """Read just after a fan-out, the report must not show which asks a filter declined at once."""
    now = utcnow()
    request_ = factories.footage_request(world.agency, world.officer)
    for n in range(6):
        camera = factories.camera(factories.user(factories.Role.OWNER), shared_with=[world.agency])
        later = n < 3  # three declines still before their disguised time, three after it
        factories.ask(request_, camera, state=AskState.DECLINED, answered_via=VIA_FILTER,
                      responded_at=now + (timedelta(hours=1) if later else -timedelta(minutes=5)))
    for state in [AskState.DECLINED] * 5 + [AskState.NO_FOOTAGE] * 6:
        factories.ask(request_, factories.camera(factories.user(factories.Role.OWNER), shared_with=[world.agency]),
                      state=state, answered_via="app", responded_at=now - timedelta(minutes=5))
    db.session.commit()
    year = now.astimezone(agency_zone(world.agency)).year  # the agency's year, whatever UTC says
    outcomes = client.get(f"/api/public/agencies/{world.agency.slug}/reports/{year}").json["outcomes"]
    # The 3 still shown as waiting are a small cell, and the next smallest (no footage) is hidden with it.
    assert (outcomes["declined"], outcomes["open"], outcomes["no_footage"]) == (8, None, None), outcomes
