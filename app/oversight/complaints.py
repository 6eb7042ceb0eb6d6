"""The complaint log: complaints about footage requests, recorded by supervisors and oversight.

A complaint names one request of the agency, when it was received, a summary, where it
came from (a resident, a camera owner, someone else) and, once decided, its outcome
with a date and a note. Recording and changing one is audited; oversight's reads of the
log are audited too (app/oversight/audited.py). The annual report counts complaints
received in a year by outcome (:func:`complaint_counts`).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.audit import service as audit
from app.common.fields import fits_int
from app.db import utcnow
from app.errors import field_error, not_found
from app.extensions import db
from app.footage.models import FootageRequest
from app.oversight import audited
from app.oversight.models import Complaint, ComplaintOutcome, ComplaintSource

OPEN = ComplaintOutcome.OPEN


def _today(agency_id: int) -> date:
    """Today where the agency is: a complaint received "today" in the evening is not in the future."""
    return datetime.now(agency_zone(db.session.get(Agency, agency_id))).date()


def _request_of(user: User, request_id: Any) -> FootageRequest:
    request = None
    if isinstance(request_id, int) and fits_int(request_id):
        request = db.session.scalar(sa.select(FootageRequest).where(
            FootageRequest.id == request_id, FootageRequest.agency_id == user.agency_id))
    if request is None:
        # The same answer for another agency's request as for one that does not exist.
        raise field_error("request_id", "No such request in your agency.")
    return request


def _check_outcome(outcome: ComplaintOutcome, outcome_on: date | None, received_on: date, today: date) -> None:
    if outcome == OPEN:
        if outcome_on is not None:
            raise field_error("outcome_on", "An open complaint has no outcome date yet.")
        return
    if outcome_on is None:
        raise field_error("outcome_on", "Give the date of the outcome.")
    if outcome_on < received_on:
        raise field_error("outcome_on", "The outcome cannot come before the complaint was received.")
    if outcome_on > today:
        raise field_error("outcome_on", "The outcome date cannot be in the future.")


def record_complaint(user: User, data: dict[str, Any]) -> Complaint:
    """A new complaint against a request of the user's agency; audited."""
    request = _request_of(user, data.get("request_id"))
    today = _today(user.agency_id)
    received_on = data["received_on"]
    if received_on > today:
        raise field_error("received_on", "The date received cannot be in the future.")
    outcome = ComplaintOutcome(data.get("outcome") or OPEN)
    _check_outcome(outcome, data.get("outcome_on"), received_on, today)
    complaint = Complaint(agency_id=user.agency_id, request_id=request.id, received_on=received_on,
                          summary=data["summary"], source=ComplaintSource(data["source"]), outcome=outcome,
                          outcome_on=data.get("outcome_on"), outcome_note=data.get("outcome_note") or None,
                          recorded_by_id=user.id, updated_by_id=user.id)
    db.session.add(complaint)
    db.session.flush()
    audit.record("complaint.recorded", target=complaint, agency_id=user.agency_id, actor=user,
                 details={"request_id": request.id, "received_on": received_on.isoformat(),
                          "source": complaint.source.value, "outcome": outcome.value})
    db.session.commit()
    return complaint


def complaint_for(user: User, complaint_id: int) -> Complaint:
    complaint = None
    if fits_int(complaint_id) and user.agency_id is not None:
        complaint = db.session.scalar(sa.select(Complaint).where(Complaint.id == complaint_id,
                                                                 Complaint.agency_id == user.agency_id))
    if complaint is None:
        raise not_found("Complaint")
    return complaint


def update_complaint(user: User, complaint_id: int, data: dict[str, Any]) -> Complaint:
    """Record or change a complaint's outcome (and its date and note); audited with what changed."""
    complaint = complaint_for(user, complaint_id)
    outcome = ComplaintOutcome(data.get("outcome", complaint.outcome))
    outcome_on = data["outcome_on"] if "outcome_on" in data else complaint.outcome_on
    if outcome == OPEN and "outcome_on" not in data:
        outcome_on = None  # reopened: the earlier outcome's date goes with it
    _check_outcome(outcome, outcome_on, complaint.received_on, _today(user.agency_id))
    note = data["outcome_note"] if "outcome_note" in data else complaint.outcome_note
    changed = {}
    for name, value in (("outcome", outcome), ("outcome_on", outcome_on), ("outcome_note", note or None)):
        old = getattr(complaint, name)
        if old != value:
            # The note's words stay in the complaint log; the audit trail says that it changed.
            changed[name] = True if name == "outcome_note" else [
                getattr(old, "value", old.isoformat() if isinstance(old, date) else old),
                getattr(value, "value", value.isoformat() if isinstance(value, date) else value)]
            setattr(complaint, name, value)
    if changed:
        complaint.updated_by_id = user.id
        complaint.updated_at = utcnow()
        audit.record("complaint.updated", target=complaint, agency_id=user.agency_id, actor=user,
                     details={"request_id": complaint.request_id, "changed": changed})
    db.session.commit()
    return complaint


def list_complaints(user: User, *, request_id: int | None = None, outcome: str | None = None,
                    year: int | None = None) -> list[Complaint]:
    """The agency's complaint log, newest received first; oversight's read is audited."""
    audited.viewed(user, "complaints", request_id=request_id, outcome=outcome, year=year)
    # Each complaint names its request's case number: loaded in one more query, not one a row.
    query = sa.select(Complaint).where(Complaint.agency_id == user.agency_id).options(selectinload(Complaint.request))
    if request_id is not None:
        query = query.where(Complaint.request_id == request_id)
    if outcome is not None:
        query = query.where(Complaint.outcome == ComplaintOutcome(outcome))
    if year is not None:
        query = query.where(Complaint.received_on >= date(year, 1, 1), Complaint.received_on < date(year + 1, 1, 1))
    return list(db.session.scalars(query.order_by(Complaint.received_on.desc(), Complaint.id.desc())))


def complaint_counts(agency_id: int, year: int) -> dict[str, int]:
    """Complaints the agency received in ``year`` (by received date), by outcome: every outcome named,
    zeros included, plus ``total``. For the annual report."""
    counts = dict.fromkeys((o.value for o in ComplaintOutcome), 0)
    rows = db.session.execute(sa.select(Complaint.outcome, sa.func.count()).where(
        Complaint.agency_id == agency_id, Complaint.received_on >= date(year, 1, 1),
        Complaint.received_on < date(year + 1, 1, 1)).group_by(Complaint.outcome))
    for outcome, count in rows:
        counts[outcome.value] = count
    counts["total"] = sum(counts.values())
    return counts
