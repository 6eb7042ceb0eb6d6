"""The bytes that are hashed and signed: audit events, signed checkpoints, clip receipts.

Standard library only, and no import from the rest of the app: the audit service
(app/audit/service.py), the signing key (app/audit/signing.py), the checks of signed
checkpoints and receipts (app/audit/proofs.py) and the standalone verifier
(app/audit/verify_export.py, which runs with no database and no Flask app) all compute
the same bytes from here, so a verifier can never disagree with what was written. This
file, proofs.py and verify_export.py may be copied out together and run with Python and
the ``cryptography`` package alone.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The fields of an event its hash covers (besides the previous event's hash), in no
# particular order: the canonical JSON sorts them.
EVENT_FIELDS = ("seq", "occurred_at", "actor_id", "actor_role", "action", "target_type", "target_id",
                "agency_id", "source_ip", "details")

CHECKPOINT_TYPE = "porchlight.audit-checkpoint"
RECEIPT_TYPE = "porchlight.clip-receipt"
CHECKPOINT_FIELDS = ("chain", "seq", "hash", "signed_at", "key_id")
RECEIPT_FIELDS = ("agency_id", "agency_name", "agency_slug", "request_id", "clip_id", "sha256", "size",
                  "received_at", "key_id")


def timestamp(value: datetime | str) -> str:
    """The UTC time as hashed: '2026-12-06T03:04:05.123456Z' (a string is taken as already written so)."""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string for one content, whoever writes it."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _field(event: Any, name: str) -> Any:
    return event[name] if isinstance(event, Mapping) else getattr(event, name)


def event_hash(event: Any, prev_hash: str) -> str:
    """SHA-256 over a canonical JSON of the event's content and the previous hash.

    ``event`` is a model, a database row or an exported dict (app/audit/export): anything
    with the fields of EVENT_FIELDS, by attribute or by key.
    """
    content = {name: _field(event, name) for name in EVENT_FIELDS}
    content["occurred_at"] = timestamp(content["occurred_at"])
    content["details"] = content["details"] or {}
    content["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(content)).hexdigest()


def key_id(public_key: bytes) -> str:
    """A short name for an Ed25519 public key (32 raw bytes): the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def checkpoint_message(checkpoint: Mapping[str, Any]) -> bytes:
    """What a checkpoint's signature covers: its chain, seq, hash, time and key, and what it is."""
    return canonical_json({"type": CHECKPOINT_TYPE, **{name: checkpoint[name] for name in CHECKPOINT_FIELDS}})


def receipt_message(receipt: Mapping[str, Any]) -> bytes:
    """What a clip receipt's signature covers."""
    return canonical_json({"type": RECEIPT_TYPE, **{name: receipt[name] for name in RECEIPT_FIELDS}})
