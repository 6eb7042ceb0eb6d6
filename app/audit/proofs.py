"""Checking what the installation signed, with no database: checkpoints and clip receipts.

The standard library and ``cryptography`` only (and app/audit/canonical.py for the bytes
signed), so that ``flask audit verify --checkpoints`` (app/cli.py, with the database's
events) and the standalone verifier (app/audit/verify_export.py, with an export's) apply
the very same checks. The three files can be copied out together and run anywhere.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

if __package__:
    from app.audit.canonical import checkpoint_message, key_id, receipt_message
else:  # copied out, next to canonical.py (see verify_export.py)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from canonical import checkpoint_message, key_id, receipt_message  # type: ignore[no-redef]


def _b64(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def public_key_bytes(text: str) -> bytes:
    """A base64 Ed25519 public key's 32 raw bytes; ValueError otherwise."""
    raw = _b64(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def signature_problem(public_keys: Mapping[str, bytes], signed_by: str, message: bytes, signature: str) -> str | None:
    """None when ``signature`` is the key ``signed_by``'s over ``message``; else what is wrong."""
    raw = public_keys.get(signed_by)
    if raw is None:
        return f"it is signed with key {signed_by!r}, which is not among the keys it is checked with"
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(_b64(signature), message)
    except (InvalidSignature, ValueError):
        return "its signature does not verify: it was forged or altered"
    return None


# --- checkpoints ---------------------------------------------------------------------------------

def load_document(source: str) -> Any:
    """JSON from a file or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (http/https only)
            return json.load(response)
    return json.loads(Path(source).read_text(encoding="utf-8"))


def checkpoints_of(document: Any) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The checkpoints of a published document (or of several, in a list) and the public keys it lists."""
    documents = document if isinstance(document, list) else [document]
    checkpoints: list[dict[str, Any]] = []
    keys: dict[str, bytes] = {}
    for doc in documents:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("checkpoints"), list):
            raise ValueError("not a checkpoints document: it has no list of checkpoints")
        checkpoints += doc["checkpoints"]
        for key in doc.get("keys", []):
            raw = public_key_bytes(key["public_key"])
            keys[key_id(raw)] = raw
    return checkpoints, keys


def checkpoint_name(checkpoint: Mapping[str, Any]) -> str:
    return f"checkpoint ({checkpoint.get('chain')}, seq {checkpoint.get('seq')})"


def checkpoint_problems(checkpoints: Iterable[Mapping[str, Any]], public_keys: Mapping[str, bytes],
                        hash_at: Callable[[str, int], str | None]) -> list[str]:
    """What is wrong with the log as to these published checkpoints: each one's signature must
    verify, and the log must still hold its chain's event at its seq with its hash."""
    problems = []
    for checkpoint in checkpoints:
        name = checkpoint_name(checkpoint)
        try:
            message = checkpoint_message(checkpoint)
        except KeyError as missing:
            problems.append(f"{name} lacks {missing}: not a checkpoint")
            continue
        wrong = signature_problem(public_keys, checkpoint["key_id"], message, str(checkpoint.get("signature", "")))
        if wrong:
            problems.append(f"{name} is refused: {wrong}")
            continue
        found = hash_at(checkpoint["chain"], int(checkpoint["seq"]))
        if found is None:
            problems.append(f"the log no longer contains published {name}: there is no event at that seq "
                            "(the log was trimmed)")
        elif found != checkpoint["hash"]:
            problems.append(f"the log no longer contains published {name}: the event at that seq has hash "
                            f"{found[:12]}…, the checkpoint {checkpoint['hash'][:12]}… (rewritten)")
    return problems


# --- receipts ------------------------------------------------------------------------------------

def receipt_problems(receipt: Mapping[str, Any], public_keys: Mapping[str, bytes],
                     clip: bytes | None = None) -> list[str]:
    """What is wrong with a clip receipt: its signature, and (given the clip's bytes) its SHA-256 and size."""
    try:
        message = receipt_message(receipt)
    except KeyError as missing:
        return [f"the receipt lacks {missing}"]
    wrong = signature_problem(public_keys, str(receipt["key_id"]), message, str(receipt.get("signature", "")))
    problems = [f"the receipt is refused: {wrong}"] if wrong else []
    if clip is not None:
        if hashlib.sha256(clip).hexdigest() != receipt["sha256"]:
            problems.append("the clip file's SHA-256 is not the receipt's")
        if len(clip) != receipt["size"]:
            problems.append(f"the clip file has {len(clip)} bytes, the receipt {receipt['size']}")
    return problems
