"""Owners' history of their clips: each clip's SHA-256, every view and download by agency staff,
and each clip's fate (received, first opened, held, released, purged)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import Agency
from app.clips.models import Clip, ClipAccess, ClipStatus, EvidenceHold
from app.extensions import db
from app.footage.answers import ask_for_owner


def _accesses_query() -> sa.Select:
    return (sa.select(ClipAccess, Clip, User.role, Agency.name)
            .join(Clip, Clip.id == ClipAccess.clip_id)
            .join(Agency, Agency.id == Clip.agency_id)
            .outerjoin(User, User.id == ClipAccess.user_id))


def _access_view(access: ClipAccess, clip: Clip, role: Role | None, agency_name: str) -> dict[str, Any]:
    return {"id": access.id, "clip_id": clip.id, "ask_id": clip.ask_id, "request_id": clip.request_id,
            "action": access.action, "variant": access.variant, "byte_range": access.byte_range,
            "accessed_at": access.created_at,
            "agency_name": agency_name, "accessor_role": role.value if role else None}


def owner_clips_of_ask(ask_id: int) -> list[dict[str, Any]]:
    """An ask's clips (but aborted uploads), each with every access to it; the caller checked who asks."""
    clips = list(db.session.scalars(sa.select(Clip).where(Clip.ask_id == ask_id,
                                                          Clip.status != ClipStatus.ABORTED).order_by(Clip.id)))
    accesses: dict[int, list[dict[str, Any]]] = {c.id: [] for c in clips}
    if clips:
        rows = db.session.execute(_accesses_query().where(ClipAccess.clip_id.in_(list(accesses)))
                                  .order_by(ClipAccess.id))
        for access, clip, role, agency_name in rows:
            accesses[clip.id].append(_access_view(access, clip, role, agency_name))
    holds = _holds(clips)
    return [{"clip": clip, "accesses": accesses[clip.id], "fate": _fate(clip, accesses[clip.id], holds)}
            for clip in clips]


def _holds(clips: list[Clip]) -> list[EvidenceHold]:
    if not clips:
        return []
    return list(db.session.scalars(sa.select(EvidenceHold).where(
        EvidenceHold.request_id.in_({c.request_id for c in clips})).order_by(EvidenceHold.id)))


def _fate(clip: Clip, accesses: list[dict[str, Any]], holds: list[EvidenceHold]) -> list[dict[str, Any]]:
    """What became of a delivered clip, oldest first: received, first opened by the agency, each
    hold placed and released (never its reason: that is the investigation's), purged."""
    if clip.completed_at is None:
        return []
    events = [{"event": "received", "at": clip.completed_at}]
    if accesses:
        events.append({"event": "first_viewed", "at": min(a["accessed_at"] for a in accesses)})
    for hold in holds:
        if hold.request_id == clip.request_id:
            events.append({"event": "held", "at": hold.placed_at})
            if hold.released_at is not None:
                events.append({"event": "released", "at": hold.released_at})
    if clip.purged_at is not None:
        events.append({"event": "purged", "at": clip.purged_at})
    return sorted(events, key=lambda e: e["at"])


def clips_for_ask(owner: User, ask_id: int) -> list[dict[str, Any]]:
    """The owner's clips for one of their asks, each with its SHA-256 and every access to it."""
    ask = ask_for_owner(owner, ask_id)
    return owner_clips_of_ask(ask.id)


def accesses_for_owner(owner: User, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Every view and download of the owner's clips, newest first."""
    query = _accesses_query().where(Clip.owner_id == owner.id)
    if before_id is not None:
        query = query.where(ClipAccess.id < before_id)
    rows = db.session.execute(query.order_by(ClipAccess.id.desc()).limit(limit))
    return [_access_view(*row) for row in rows]
