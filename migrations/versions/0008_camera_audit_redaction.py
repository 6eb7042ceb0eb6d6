"""camera audit events without personal data, and the chain re-sealed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 15:00:00.000000

Security round, finding 8: camera.created/updated/deleted events kept a camera's label,
address and exact position in the append-only audit log, where they outlived the
owner's account. The app now records (app/cameras/service.py) which fields changed and
the new values of the non-personal ones (bearing, field of view, retention, mode,
status, shares), the position rounded to 0.01°, and never the label, the address or
the blackout hours (they tell when someone is at home).

This data migration (no schema change) rewrites the details of every older camera event
to that rule. A rewritten event gets a new hash, and so does every event after it: the
chain is re-sealed from the first rewritten event to the end, and one ``audit.resealed``
event (no actor) is appended saying which rule was applied, how many events were
rewritten, their seq range, and the chain head before (length and last hash), so that an
operator who kept the old head off-site (docs/DEPLOY.md §6) can reconcile it with the new
one. The chain must verify first (else this refuses to run and changes nothing), and it
verifies after. A chain with no old-format camera event is left exactly as it is.

Downgrade is a no-op: the personal data removed cannot be brought back, and the re-sealed
chain verifies under the earlier code as well.

"""
import hashlib
import json
import logging
from datetime import UTC, datetime
from types import SimpleNamespace

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

GENESIS_HASH = "0" * 64
HEAD_ID = 1
BATCH = 1000

EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()), sa.column("seq", sa.BigInteger()),
    sa.column("occurred_at", sa.DateTime(timezone=True)), sa.column("actor_id", sa.Integer()),
    sa.column("actor_role", sa.String()), sa.column("action", sa.String()), sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()), sa.column("agency_id", sa.Integer()), sa.column("source_ip", sa.String()),
    sa.column("details", sa.JSON()), sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
)
HEAD = sa.table("audit_chain_head", sa.column("id", sa.Integer()), sa.column("length", sa.BigInteger()),
                sa.column("last_hash", sa.String()))


# --- the v1 event hash: a frozen copy ------------------------------------------------------
# A copy of app.audit.service.event_hash as it stands, because revisions never import app
# code. The canonical form is a contract: every stored chain was sealed with it, so it
# must never change (here or there) without a new version of the chain format.

def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite gives back the stored UTC time without its zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event_hash(event, details: dict, prev_hash: str) -> str:
    content = {
        "seq": event.seq,
        "occurred_at": _timestamp(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "agency_id": event.agency_id,
        "source_ip": event.source_ip,
        "details": details or {},
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- the rule: a frozen copy of app/cameras/service.py's audit_details ---------------------

CAMERA_ACTIONS = ("camera.created", "camera.updated", "camera.deleted")
VALUES = ("bearing", "field_of_view", "retention_days", "mode", "status", "shared_agency_ids")
ROUNDED = ("latitude", "longitude")
NAMED_ONLY = ("label", "address", "blackout_windows")
KEPT = ("via",)  # how the event came about (the demo loader), nothing about the camera
RULE = ("camera.created/updated/deleted details: the names of the fields set or changed ('changed'); the new "
        "values of bearing, field_of_view, retention_days, mode, status and shared_agency_ids; latitude and "
        "longitude rounded to 2 decimals (0.01 degree); label, address and blackout_windows never "
        "(named only); camera.deleted: nothing but the camera's id")


def _redacted(action: str, details: dict) -> dict:
    """An old-format camera event's details under the rule (new-format ones come back as they are)."""
    if "changed" in details:
        return details
    kept = {key: details[key] for key in KEPT if key in details}
    old = {key: value for key, value in details.items() if key not in KEPT}
    if action == "camera.deleted":
        return kept
    if action == "camera.updated":
        # The old form: field -> [before, after].
        new = {key: value[1] if isinstance(value, list) and len(value) == 2 else None for key, value in old.items()}
    else:
        # A full snapshot: an empty address or blackout list was not set.
        new = {key: value for key, value in old.items() if key not in NAMED_ONLY or value}
    out = {"changed": sorted(new)}
    for key, value in new.items():
        if key in VALUES:
            out[key] = value
        elif key in ROUNDED and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = round(value, 2)
    return {**out, **kept}


# --- walking the chain ------------------------------------------------------------------------

def _batches(conn):
    """The events in chain order, a batch at a time (a real chain can be long)."""
    last_seq = 0
    while True:
        rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.seq > last_seq)
                            .order_by(EVENTS.c.seq).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_seq = rows[-1].seq


def _head(conn) -> tuple[int, str]:
    row = conn.execute(sa.select(HEAD.c.length, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ID)
                       .with_for_update()).first()
    return (row.length, row.last_hash) if row else (0, GENESIS_HASH)


def _chain_problem(conn) -> str | None:
    """What is wrong with the chain (as ``flask audit verify`` would find it), or None."""
    expected, prev_hash = 1, GENESIS_HASH
    for rows in _batches(conn):
        for row in rows:
            if _event_hash(row, row.details, row.prev_hash) != row.hash:
                return f"event seq {row.seq} ({row.action}) was changed: its content no longer matches its hash"
            if row.seq != expected:
                return f"seq {expected} is missing: seq {row.seq} follows seq {expected - 1}"
            if row.prev_hash != prev_hash:
                return f"event seq {expected - 1} was changed and re-hashed: seq {row.seq} chains to another hash"
            expected, prev_hash = expected + 1, row.hash
    length, last_hash = _head(conn)
    if (length, last_hash) != (expected - 1, prev_hash):
        return (f"the chain head records {length} events ending in {last_hash[:12]}…, the events are "
                f"{expected - 1} ending in {prev_hash[:12]}…")
    return None


def _refuse(problem: str) -> None:
    raise RuntimeError(
        f"migration 0008 refuses to run: the audit chain does not verify ({problem}). It rewrites and re-seals "
        "the chain, which would hide that break. Nothing was changed. Investigate with `flask audit verify` "
        "(docs/DEPLOY.md §6), restore the audit tables from a backup, then upgrade again.")


def _rewrite(conn) -> tuple[int, int | None, int | None, str]:
    """Rewrite old camera events and re-hash from the first of them; (count, first seq, last seq, new last hash)."""
    set_details = (EVENTS.update().where(EVENTS.c.id == sa.bindparam("event_id"))
                   .values(details=sa.bindparam("new_details", type_=sa.JSON()),
                           prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")))
    rehash = (EVENTS.update().where(EVENTS.c.id == sa.bindparam("event_id"))
              .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")))
    rewritten, first, last, prev_hash = 0, None, None, GENESIS_HASH
    for rows in _batches(conn):
        changed, moved = [], []
        for row in rows:
            details = row.details or {}
            new = _redacted(row.action, details) if row.action in CAMERA_ACTIONS else details
            if new != details:
                rewritten += 1
                first = first or row.seq
                last = row.seq
            if first is None:  # before the first rewritten event, nothing changes
                prev_hash = row.hash
                continue
            new_hash = _event_hash(row, new, prev_hash)
            values = {"event_id": row.id, "new_prev": prev_hash, "new_hash": new_hash}
            if new != details:
                changed.append({**values, "new_details": new})
            else:
                moved.append(values)
            prev_hash = new_hash
        if changed:
            conn.execute(set_details, changed)
        if moved:
            conn.execute(rehash, moved)
    return rewritten, first, last, prev_hash


def upgrade():
    if op.get_context().as_sql:
        raise RuntimeError("migration 0008 reads and re-seals the audit chain: run it against the database, "
                           "not as --sql")
    conn = op.get_bind()
    problem = _chain_problem(conn)
    if problem:
        _refuse(problem)
    length, old_last_hash = _head(conn)
    rewritten, first, last, prev_hash = _rewrite(conn)
    if not rewritten:
        return
    event = SimpleNamespace(
        seq=length + 1, occurred_at=datetime.now(UTC), actor_id=None, actor_role=None, action="audit.resealed",
        target_type="audit_chain", target_id=None, agency_id=None, source_ip=None)
    details = {
        "migration": "0008",
        "rule": RULE,
        "events_rewritten": rewritten,
        "rewritten_seqs": {"first": first, "last": last},
        "resealed_seqs": {"first": first, "last": length},
        "previous_head": {"length": length, "last_hash": old_last_hash},
    }
    new_hash = _event_hash(event, details, prev_hash)
    conn.execute(EVENTS.insert().values(**vars(event), details=details, prev_hash=prev_hash, hash=new_hash))
    conn.execute(HEAD.update().where(HEAD.c.id == HEAD_ID).values(length=event.seq, last_hash=new_hash))
    problem = _chain_problem(conn)
    if problem:
        raise RuntimeError(f"migration 0008: the re-sealed chain does not verify ({problem}); rolled back")
    log.warning("0008: %d camera audit events rewritten (seqs %d-%d) and the chain re-sealed from seq %d; "
                "head before: %d events ending in %s; now %d events ending in %s (seq %d: audit.resealed)",
                rewritten, first, last, first, length, old_last_hash, event.seq, new_hash, event.seq)


def downgrade():
    # The label, address and exact position removed from the audit log cannot be brought
    # back, and the re-sealed chain verifies under the earlier code too: nothing to undo.
    pass
