"""Signed receipts for owners: proof, checkable without us, that an agency received a clip.

For each delivered clip its owner can download a receipt (agency, request, clip SHA-256
and size, the time it was received) signed with the installation's Ed25519 key, the one
that signs the audit checkpoints (app/audit/signing.py). Ed25519 signatures are
deterministic: the same clip always gets the same receipt, so nothing is stored. A
receipt stays valid after the clip is purged: the agency did receive it. Anyone checks
it offline with ``python -m app.audit.verify_export receipt FILE --public-key KEY``.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import Agency
from app.audit.canonical import RECEIPT_TYPE, receipt_message, timestamp
from app.audit.signing import ALGORITHM, b64, signer
from app.clips.models import Clip, ClipStatus
from app.common.fields import fits_int
from app.errors import not_found
from app.extensions import db

# A clip the agency has received: complete, or complete once and purged since.
RECEIVED = (ClipStatus.COMPLETE, ClipStatus.PURGED)


def receipt_for_owner(owner: User, clip_id: int) -> dict[str, Any]:
    """The signed receipt of one of the owner's delivered clips; 404 for anyone else's or one not delivered."""
    row = None
    if fits_int(clip_id):
        row = db.session.execute(
            sa.select(Clip, Agency).join(Agency, Agency.id == Clip.agency_id)
            .where(Clip.id == clip_id, Clip.owner_id == owner.id, Clip.status.in_(RECEIVED),
                   Clip.completed_at.is_not(None), Clip.sha256.is_not(None))).first()
    if row is None:
        raise not_found("Clip")
    clip, agency = row
    key = signer()
    receipt: dict[str, Any] = {
        "type": RECEIPT_TYPE, "agency_id": agency.id, "agency_name": agency.name, "agency_slug": agency.slug,
        "request_id": clip.request_id, "clip_id": clip.id, "sha256": clip.sha256, "size": clip.size,
        "received_at": timestamp(clip.completed_at), "key_id": key.key_id}
    receipt["signature"] = key.sign(receipt_message(receipt))
    receipt.update(algorithm=ALGORITHM, public_key=b64(key.public_key))
    return receipt
