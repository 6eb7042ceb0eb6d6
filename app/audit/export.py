"""``flask audit export``: the chains' events as JSON lines, for app/audit/verify_export.py.

Each chain starts with a header line (``"type": "chain"``: its head row as recorded:
length, last and link hash), then its events oldest first with every hashed field as
hashed (``occurred_at`` as the exact string the hash covers), so the verifier recomputes
each hash without the database.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from app.audit import service as audit
from app.audit.canonical import EVENT_FIELDS, timestamp
from app.db import utcnow


def export_lines(chains: Iterable[str]) -> Iterator[str]:
    exported_at = timestamp(utcnow())
    for chain in chains:
        head = audit.head_row(chain)
        yield json.dumps({"type": "chain", "chain": chain, "length": head.length if head else 0,
                          "last_hash": head.last_hash if head else None, "link_hash": head.link_hash if head else None,
                          "exported_at": exported_at}, sort_keys=True) + "\n"
        for event in audit.events_in_order(chain):
            row = {name: getattr(event, name) for name in EVENT_FIELDS}
            row.update(occurred_at=timestamp(event.occurred_at), details=event.details or {}, id=event.id,
                       chain=chain, prev_hash=event.prev_hash, hash=event.hash)
            yield json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
