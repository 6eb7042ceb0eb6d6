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
This file, proofs.py and canonical.py (app/audit/) can also be copied elsewhere together
and run as ``python verify_export.py ...``. Exit status 0: everything verifies; 1: a problem, named.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__:
    from app.audit.canonical import event_hash, key_id
    from app.audit.proofs import (
        checkpoint_problems,
        checkpoints_of,
        load_document,
        public_key_bytes,
        receipt_problems,
    )
else:  # run as a copied script, next to canonical.py and proofs.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from canonical import event_hash, key_id  # type: ignore[no-redef]
    from proofs import (  # type: ignore[no-redef]
        checkpoint_problems,
        checkpoints_of,
        load_document,
        public_key_bytes,
        receipt_problems,
    )

GENESIS_HASH = "0" * 64
HISTORY = "history"


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
