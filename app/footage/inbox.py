"""The owner's inbox, read as plain rows: the API's busiest read.

An inbox page is up to 100 asks of 23 fields each. Loading them as ORM objects (with
their request and agency) and dumping them through marshmallow cost about 3 ms of
CPU a request; one Core query of exactly the columns shown, turned into dicts here,
costs a fraction of that (bench/load.py, docs/BENCHMARKS.md). The answer is the same
document AskOut describes, field for field; tests/test_inbox.py holds the two to
each other, so the schema stays the contract and the OpenAPI document stays true.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
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

# The tables' own columns, not the models' attributes: a Core query of plain rows skips the
# ORM's statement and row machinery, a good part of the page's cost.
_ASK, _REQUEST, _AGENCY, _CAMERA = (model.__table__.c for model in (Ask, FootageRequest, Agency, Camera))
_COLUMNS = (
    _ASK.id, _ASK.request_id, _ASK.state, _ASK.camera_id, _ASK.camera_label, _ASK.distance_m, _ASK.reply_code,
    _AGENCY.name, _REQUEST.case_number, _REQUEST.incident_type, _REQUEST.summary,
    _REQUEST.window_start, _REQUEST.window_end, _REQUEST.expires_at,
    _ASK.created_at, _ASK.seen_at, _ASK.responded_at, _ASK.answered_via, _ASK.decline_reason, _ASK.closed_at,
    _CAMERA.recorder_offset_s, _CAMERA.retention_days,
    _REQUEST.legal_basis, _REQUEST.warrant_court, _REQUEST.offense_category,
    _REQUEST.offense_category_label, _ASK.filter_rule,
)


def _iso(value: datetime | None) -> str | None:
    # marshmallow's DateTime("iso") is datetime.isoformat(); the same here.
    return None if value is None else value.isoformat()


@cache
def _query(kind: str) -> sa.Select:
    """The owner's asks (``page``), those before an id (``before``) or one (``one``), values bound per call.

    Built once per process: composing a 27-column join costs more than running it.
    """
    query = (sa.select(*_COLUMNS)
             .join_from(Ask.__table__, FootageRequest.__table__, _REQUEST.id == _ASK.request_id)
             .join(Agency.__table__, _AGENCY.id == _REQUEST.agency_id)
             .outerjoin(Camera.__table__, _CAMERA.id == _ASK.camera_id)
             .where(_ASK.owner_id == sa.bindparam("owner_id")))
    if kind == "one":
        return query.where(_ASK.id == sa.bindparam("ask_id"))
    if kind == "before":
        query = query.where(_ASK.id < sa.bindparam("before_id"))
    return query.order_by(_ASK.id.desc()).limit(sa.bindparam("limit", type_=sa.Integer))


class _Words:
    """The page's legal bases and categories as the owner reads them, each worded once.

    A page's asks mostly share a few of them, and each wording is a catalog lookup in the
    request's language; kept for one page only, so nothing outlives the request.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str | None, str | None], str] = {}

    def basis(self, basis: str, court: str | None) -> str:
        key = ("basis", basis, court)
        text = self._seen.get(key)
        if text is None:
            text = self._seen[key] = purpose.legal_basis_words(basis, court)
        return text

    def category(self, key: str, label: str) -> str:
        seen_key = ("category", key, label)
        text = self._seen.get(seen_key)
        if text is None:
            text = self._seen[seen_key] = purpose.category_label(key, label)
        return text


def _as_dict(row: sa.Row, words: _Words, now: datetime) -> dict[str, Any]:
    (ask_id, request_id, state, camera_id, camera_label, distance_m, reply_code, agency_name, case_number,
     incident_type, summary, window_start, window_end, expires_at, created_at, seen_at, responded_at,
     answered_via, decline_reason, closed_at, recorder_offset_s, retention_days, legal_basis, warrant_court,
     offense_category, offense_category_label, filter_rule) = row
    if filter_rule is not None:
        # The owner's own filter declined it when it was made; the later stamp is for staff counts only.
        responded_at = closed_at = created_at
    times = recorder_clock.ask_times(window_start, window_end, recorder_offset_s, retention_days, now)
    window = times["recorder_window"]
    return {
        "id": ask_id, "request_id": request_id, "state": state.value, "camera_id": camera_id,
        "camera_label": camera_label, "distance_m": float(distance_m), "reply_code": reply_code,
        "agency_name": agency_name, "case_number": case_number, "incident_type": incident_type,
        "summary": summary, "legal_basis": legal_basis.value,
        "legal_basis_text": words.basis(legal_basis.value, warrant_court),
        "warrant_court": warrant_court if legal_basis == LegalBasis.WARRANT else None,
        "offense_category": offense_category,
        "offense_category_label": words.category(offense_category, offense_category_label),
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
    if before_id is None:
        rows = db.session.execute(_query("page"), {"owner_id": owner.id, "limit": limit})
    else:
        rows = db.session.execute(_query("before"), {"owner_id": owner.id, "before_id": before_id, "limit": limit})
    return _as_dicts(rows)


def answered(owner_id: int, ask_id: int) -> dict[str, Any]:
    """The ask just answered, as AskOut dumps it: one joined row, where dumping the ask itself
    would reload it, its request and its agency. Read in the answer's transaction, with what
    it changed through the ORM (a decline's reason) written first."""
    db.session.flush()
    return _as_dicts([db.session.execute(_query("one"), {"owner_id": owner_id, "ask_id": ask_id}).one()])[0]


def _as_dicts(rows: Iterable[sa.Row]) -> list[dict[str, Any]]:
    words, now = _Words(), datetime.now(UTC)  # one moment for the page's "days left"
    return [_as_dict(row, words, now) for row in rows]
