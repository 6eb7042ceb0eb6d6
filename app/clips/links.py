"""Signed upload links for owners who answer by SMS and have no session on their phone.

A link carries a token signed with SECRET_KEY (itsdangerous) that names one ask and
its owner and expires with the footage request: it lets its holder upload clips to
that ask and read what the upload page shows, nothing else. The token is sent as
``Authorization: Bearer <token>`` or as a ``token`` query parameter.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime

from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.orm import joinedload

from app.common.fields import fits_int
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from app.footage.models import Ask
from app.links import absolute_url

_SALT = "porchlight.upload-link.v1"
PAGE_PATH = "/u/"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_token(ask: Ask) -> str:
    expires_at = ask.request.expires_at
    # Compact on purpose: the link goes into an SMS.
    return _serializer().dumps([ask.id, ask.owner_id, math.ceil(expires_at.timestamp()) if expires_at else None])


def upload_link(ask: Ask) -> str:
    """The absolute URL of the upload page for this ask (``/u/<token>``), for SMS owners."""
    return absolute_url(f"{PAGE_PATH}{make_token(ask)}")


def invalid_link() -> ApiError:
    return ApiError(404, "invalid_link", "This upload link is not valid; use the link from your latest message.")


def ask_for_token(token: str, now: datetime | None = None) -> Ask:
    """The ask a link token names, or 404 (forged, altered, or not this owner's) / 410 (expired)."""
    if not token or len(token) > 512:
        raise invalid_link()
    try:
        payload = _serializer().loads(token)
    except BadData:
        raise invalid_link() from None
    if not (isinstance(payload, list) and len(payload) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in payload[:2])
            and (payload[2] is None or isinstance(payload[2], int))):
        raise invalid_link()
    ask_id, owner_id, expires = payload
    ask = db.session.get(Ask, ask_id, options=[joinedload(Ask.request)]) if fits_int(ask_id) else None
    # A camera that changed hands, or an account deleted since, ends the link.
    if ask is None or ask.owner_id != owner_id:
        raise invalid_link()
    now = now or utcnow()
    live_expiry = ask.request.expires_at
    if (expires is not None and datetime.fromtimestamp(expires, UTC) <= now) or (live_expiry and live_expiry <= now):
        raise ApiError(410, "link_expired", "This upload link has expired with the footage request.")
    return ask


def token_from_request() -> str | None:
    """The link token of this request: ``Authorization: Bearer`` first, then ``?token=``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None
