"""Check an exported audit log against published checkpoints, or a clip receipt, offline.

Runs with Python and the ``cryptography`` package: no database, no Flask app. Anyone
holding an export (``flask audit export``), the checkpoints the transparency pages
published (``/api/public/audit/checkpoints``, ``/api/public/agencies/<slug>/checkpoints``)
or a receipt from an owner's History can check them::

    python -m app.audit.verify_export log audit.jsonl --checkpoints checkpoints.json [--public-key KEY]
    python -m app.audit.verify_export receipt receipt.json [--public-key KEY] [--clip FILE]

``--checkpoints`` takes a file or a URL. Without ``--public-key`` the keys listed in the
checkpoints document (or the receipt) are used, which proves only that the document is
consistent with itself: pin the key you got from the installation's transparency page.
This file and app/audit/canonical.py can also be copied elsewhere together and run as
``python verify_export.py ...``. Exit status 0: everything verifies; 1: a problem, named.
"""
from __future__ import annotations

import argparse
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
    from app.audit.canonical import checkpoint_message, event_hash, key_id, receipt_message
else:  # run as a copied script, next to canonical.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from canonical import checkpoint_message, event_hash, key_id, receipt_message  # type: ignore[no-redef]

GENESIS_HASH = "0" * 64
HISTORY = "history"


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
        return f"it is signed with key {signed_by!r}, which is not a key given to check with"
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


# --- an exported log ------------------------------------------------------------------------------

def read_export(path: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """An export's events by chain (in file order) and its chain header lines by chain."""
    events: dict[str, list[dict[str, Any]]] = {}
    heads: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"line {number} is not JSON") from None
            if row.get("type") == "chain":
                heads[row["chain"]] = row
            else:
                events.setdefault(row["chain"], []).append(row)
    return events, heads


def chain_problems(chain: str, events: list[dict[str, Any]], head: Mapping[str, Any] | None,
                   link: str | None) -> list[str]:
    """The first break of one exported chain: seqs from 1 without gaps, each event's hash, each link."""
    expected_seq, prev_hash = 1, link
    for event in events:
        name = f"{chain} seq {event['seq']} (event {event.get('id')}, {event.get('action')})"
        if event["seq"] != expected_seq:
            return [f"{name}: expected seq {expected_seq} (seqs {expected_seq}-{event['seq'] - 1} missing)"
                    if event["seq"] > expected_seq else f"{name}: seq repeated or out of order"]
        if event_hash(event, event["prev_hash"]) != event["hash"]:
            return [f"{name} was changed: its content no longer matches its hash"]
        if prev_hash is not None and event["prev_hash"] != prev_hash:
            return [f"{name} does not chain from the previous event's hash"]
        prev_hash, expected_seq = event["hash"], expected_seq + 1
    if head is not None:
        if head.get("length") != expected_seq - 1:
            return [f"{chain}: the export holds {expected_seq - 1} events, its head records {head.get('length')}"]
        if events and head.get("last_hash") != prev_hash:
            return [f"{chain}: its last event's hash is not the head's"]
    return []


def verify_log(export: str, checkpoints_source: str | None, pinned: Mapping[str, bytes] | None,
               out=sys.stdout) -> bool:
    events, heads = read_export(export)
    ok = True
    history = events.get(HISTORY)
    history_final = history[-1]["hash"] if history else None
    for chain, rows in sorted(events.items()):
        link = GENESIS_HASH if chain == HISTORY else (history_final or (heads.get(chain) or {}).get("link_hash"))
        problems = chain_problems(chain, rows, heads.get(chain), link)
        for problem in problems:
            print(f"BROKEN: {problem}", file=out)
        if not problems:
            print(f"{chain}: {len(rows)} events, hashes and links intact", file=out)
        ok = ok and not problems
    if checkpoints_source is None:
        print("no --checkpoints given: only the export's own consistency was checked", file=out)
        return ok
    checkpoints, listed = checkpoints_of(load_document(checkpoints_source))
    if not pinned:
        print("note: checking signatures with the keys the checkpoints document lists (pin one with --public-key)",
              file=out)
    exported = [c for c in checkpoints if c.get("chain") in events or c.get("chain") in heads]
    skipped = len(checkpoints) - len(exported)
    by_seq = {chain: {row["seq"]: row["hash"] for row in rows} for chain, rows in events.items()}
    problems = checkpoint_problems(exported, pinned or listed, lambda chain, seq: by_seq.get(chain, {}).get(seq))
    for problem in problems:
        print(f"BROKEN: {problem}", file=out)
    print(f"{len(exported) - len(problems)} of {len(exported)} published checkpoints found in the export"
          + (f" ({skipped} of chains not in this export skipped)" if skipped else ""), file=out)
    return ok and not problems


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


def verify_receipt(path: str, pinned: Mapping[str, bytes] | None, clip_path: str | None, out=sys.stdout) -> bool:
    receipt = json.loads(Path(path).read_text(encoding="utf-8"))
    if not pinned:
        print("note: checking with the public key the receipt carries (pin one with --public-key)", file=out)
        raw = public_key_bytes(str(receipt.get("public_key", "")))
        pinned = {key_id(raw): raw}
    clip = Path(clip_path).read_bytes() if clip_path else None
    problems = receipt_problems(receipt, pinned, clip)
    for problem in problems:
        print(f"BROKEN: {problem}", file=out)
    if not problems:
        print(f"receipt verifies: {receipt['agency_name']} received clip {receipt['clip_id']} "
              f"(SHA-256 {receipt['sha256']}, {receipt['size']} bytes) for request {receipt['request_id']} "
              f"at {receipt['received_at']}" + ("; the clip file matches it" if clip is not None else ""), file=out)
    return not problems


def main(argv: list[str] | None = None, out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.audit.verify_export", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    log = commands.add_parser("log", help="an exported audit log (flask audit export), against published checkpoints")
    log.add_argument("export")
    log.add_argument("--checkpoints", help="a published checkpoints document: a file or a URL")
    receipt = commands.add_parser("receipt", help="a clip receipt from an owner's History")
    receipt.add_argument("receipt")
    receipt.add_argument("--clip", help="the clip file: its SHA-256 and size are checked against the receipt")
    for command in (log, receipt):
        command.add_argument("--public-key", action="append", default=[],
                             help="the installation's Ed25519 public key (base64), from its transparency page; "
                                  "may be given more than once (a retired key)")
    args = parser.parse_args(argv)
    try:
        pinned = {key_id(raw): raw for raw in map(public_key_bytes, args.public_key)}
        if args.command == "log":
            ok = verify_log(args.export, args.checkpoints, pinned, out)
        else:
            ok = verify_receipt(args.receipt, pinned, args.clip, out)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=out)
        return 2
    print("OK" if ok else "FAILED", file=out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
