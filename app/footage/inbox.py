"""The owner's inbox, read as plain rows: the API's busiest read.

An inbox page is up to 100 asks of 23 fields each. Loading them as ORM objects (with
their request and agency) and dumping them through marshmallow cost about 3 ms of
CPU a request; one Core query of exactly the columns shown, turned into dicts here,
costs a fraction of that (bench/load.py, docs/BENCHMARKS.md). The answer is the same
document AskOut describes, field for field; tests/test_inbox.py holds the two to
each other, so the schema stays the contract and the OpenAPI document stays true.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency
from app.cameras import recorder_clock
from app.cameras.models import Camera
from app.extensions import db
from app.footage import purpose
from app.footage.asks import actions_for
from app.footage.models import Ask, FootageRequest, LegalBasis

_COLUMNS = (
    Ask.id, Ask.request_id, Ask.state, Ask.camera_id, Ask.camera_label, Ask.distance_m, Ask.reply_code,
    Agency.name, FootageRequest.case_number, FootageRequest.incident_type, FootageRequest.summary,
    FootageRequest.window_start, FootageRequest.window_end, FootageRequest.expires_at,
    Ask.created_at, Ask.seen_at, Ask.responded_at, Ask.answered_via, Ask.decline_reason, Ask.closed_at,
    Camera.recorder_offset_s, Camera.retention_days,
    FootageRequest.legal_basis, FootageRequest.warrant_court, FootageRequest.offense_category,
    FootageRequest.offense_category_label, Ask.filter_rule,
)


def _iso(value: datetime | None) -> str | None:
    # marshmallow's DateTime("iso") is datetime.isoformat(); the same here.
    return None if value is None else value.isoformat()


def _select_owner(owner_id: int) -> sa.Select:
    return (sa.select(*_COLUMNS)
            .join(FootageRequest, FootageRequest.id == Ask.request_id)
            .join(Agency, Agency.id == FootageRequest.agency_id)
            .outerjoin(Camera, Camera.id == Ask.camera_id)
            .where(Ask.owner_id == owner_id))


def _select(owner: User) -> sa.Select:
    return _select_owner(owner.id)


def _as_dict(row: sa.Row) -> dict[str, Any]:
    (ask_id, request_id, state, camera_id, camera_label, distance_m, reply_code, agency_name, case_number,
     incident_type, summary, window_start, window_end, expires_at, created_at, seen_at, responded_at,
     answered_via, decline_reason, closed_at, recorder_offset_s, retention_days, legal_basis, warrant_court,
     offense_category, offense_category_label, filter_rule) = row
    if filter_rule is not None:
        # The owner's own filter declined it when it was made; the later stamp is for staff counts only.
        responded_at = closed_at = created_at
    times = recorder_clock.ask_times(window_start, window_end, recorder_offset_s, retention_days)
    window = times["recorder_window"]
    return {
        "id": ask_id, "request_id": request_id, "state": state.value, "camera_id": camera_id,
        "camera_label": camera_label, "distance_m": float(distance_m), "reply_code": reply_code,
        "agency_name": agency_name, "case_number": case_number, "incident_type": incident_type,
        "summary": summary, "legal_basis": legal_basis.value,
        "legal_basis_text": purpose.legal_basis_words(legal_basis.value, warrant_court),
        "warrant_court": warrant_court if legal_basis == LegalBasis.WARRANT else None,
        "offense_category": offense_category,
        "offense_category_label": purpose.category_label(offense_category, offense_category_label),
        "window_start": _iso(window_start), "window_end": _iso(window_end),
        "deadline": _iso(expires_at), "actions": actions_for(state),
        "created_at": _iso(created_at), "seen_at": _iso(seen_at), "responded_at": _iso(responded_at),
        "answered_via": answered_via, "decline_reason": decline_reason, "closed_at": _iso(closed_at),
        "filter_rule": filter_rule,
        "recorder_window": window and {**window, "start": _iso(window["start"]), "end": _iso(window["end"])},
        "overwrite_at": _iso(times["overwrite_at"]), "overwrite_days_left": times["overwrite_days_left"],
    }


def inbox(owner: User, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """The owner's asks, open and past, newest first (paged by ``before_id``), as AskOut dumps them."""
    query = _select(owner)
    if before_id is not None:
        query = query.where(Ask.id < before_id)
    return [_as_dict(row) for row in db.session.execute(query.order_by(Ask.id.desc()).limit(limit))]


def answered(owner_id: int, ask_id: int) -> dict[str, Any]:
    """The ask just answered, as AskOut dumps it: one joined row, where dumping the ask itself
    would reload it, its request and its agency, all expired by the answer's commit."""
    return _as_dict(db.session.execute(_select_owner(owner_id).where(Ask.id == ask_id)).one())
