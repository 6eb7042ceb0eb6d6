"""audit chains per agency: the single chain sealed as history

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 00:30:00.000000

Issue 16: the audit log had one hash chain and one head row for the whole installation,
so every write of every agency waited on that row at commit. From here each agency's
events form their own chain (``agency:<id>``) with their own head row, and events
without an agency (owners, sign-ins, the operator's commands) the installation's
(``installation``); ``seq`` counts within a chain.

- ``audit_events.chain``: the chain an event is in; ``seq`` is unique per chain.
- ``audit_chain_head``: one row per chain (``chain``, its ``agency_id``), and
  ``link_hash``, the hash the chain's first event chains from; ``sealed_at`` on the
  history chain.

The existing chain must verify first (else this refuses to run and changes nothing). It
becomes the ``history`` chain: every event keeps its seq and hash, marked as in it. If it
holds any event, one ``audit.sealed`` event (no actor) is appended to it, recording its
length and last hash before the seal; then it is sealed. The installation's chain and a
chain for each existing agency start empty, their head rows recording as link the
history chain's final hash (the seal's): their first events chain from it, and
``flask audit verify`` checks that the link is the history chain's final hash. Chains of
agencies created later start the same way (app/audit/service.py).

Downgrade merges the chains back into one: the history chain stays as it is, and every
event recorded since (all chains, in the order they were written) is appended to it with
a new seq and re-hashed, then one ``audit.chains_merged`` event records each chain's head
before the merge, for whoever kept them off-site (docs/DEPLOY.md §6). It refuses to run,
changing nothing, if any chain does not verify.

"""
import hashlib
import json
import logging
from datetime import UTC, datetime
from types import SimpleNamespace

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

GENESIS_HASH = "0" * 64
HISTORY, INSTALLATION = "history", "installation"
BATCH = 1000

_V1_COLUMNS = (
    sa.column("id", sa.Integer()), sa.column("seq", sa.BigInteger()),
    sa.column("occurred_at", sa.DateTime(timezone=True)), sa.column("actor_id", sa.Integer()),
    sa.column("actor_role", sa.String()), sa.column("action", sa.String()), sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()), sa.column("agency_id", sa.Integer()), sa.column("source_ip", sa.String()),
    sa.column("details", sa.JSON()), sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
)
# The events table before (one chain) and after (a chain column) this revision.
EVENTS_V1 = sa.table("audit_events", *_V1_COLUMNS)
EVENTS = sa.table("audit_events", *(sa.column(c.name, c.type) for c in _V1_COLUMNS), sa.column("chain", sa.String()))
HEAD_V1 = sa.table("audit_chain_head", sa.column("id", sa.Integer()), sa.column("length", sa.BigInteger()),
                   sa.column("last_hash", sa.String()))
HEAD = sa.table("audit_chain_head", sa.column("id", sa.Integer()), sa.column("chain", sa.String()),
                sa.column("agency_id", sa.Integer()), sa.column("length", sa.BigInteger()),
                sa.column("last_hash", sa.String()), sa.column("link_hash", sa.String()),
                sa.column("sealed_at", sa.DateTime(timezone=True)))


def _v1(table) -> list:
    """The columns the event hash covers (and the id), of either form of the table."""
    return [table.c[column.name] for column in _V1_COLUMNS]


AGENCIES = sa.table("agencies", sa.column("id", sa.Integer()))


# --- the v1 event hash: a frozen copy (as in 0008) -----------------------------------------
# A copy of app.audit.service.event_hash as it stands, because revisions never import app
# code. The canonical form is a contract: every stored chain was sealed with it. It does
# not cover the chain column, so the history chain's events keep their hashes.

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


# --- walking a chain --------------------------------------------------------------------------

def _batches(conn, chain: str | None):
    """A chain's events in order, a batch at a time; ``chain=None``: the single chain before 0017."""
    table = EVENTS_V1 if chain is None else EVENTS
    last_seq = 0
    while True:
        query = sa.select(*_v1(table)).where(table.c.seq > last_seq)
        if chain is not None:
            query = query.where(table.c.chain == chain)
        rows = conn.execute(query.order_by(table.c.seq).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_seq = rows[-1].seq


def _walk_problem(conn, chain: str | None, link: str, length: int, last_hash: str) -> str | None:
    """What is wrong with one chain (as ``flask audit verify`` would find it), or None."""
    where = "the audit chain" if chain is None else f"chain {chain}"
    agency = int(chain.split(":", 1)[1]) if chain and chain.startswith("agency:") else None
    expected, prev_hash = 1, link
    for rows in _batches(conn, chain):
        for row in rows:
            if _event_hash(row, row.details, row.prev_hash) != row.hash:
                return f"{where}: event seq {row.seq} ({row.action}) was changed: its content no longer matches its hash"
            if row.seq != expected:
                return f"{where}: seq {expected} is missing: seq {row.seq} follows seq {expected - 1}"
            if chain not in (None, HISTORY) and row.agency_id != agency:
                return f"{where}: event seq {row.seq} belongs to another chain (agency {row.agency_id})"
            if row.prev_hash != prev_hash:
                return f"{where}: seq {row.seq} does not chain from seq {expected - 1} (or from the chain's link)"
            expected, prev_hash = expected + 1, row.hash
    if (length, last_hash) != (expected - 1, prev_hash):
        return (f"{where}: the head records {length} events ending in {last_hash[:12]}…, the events are "
                f"{expected - 1} ending in {prev_hash[:12]}…")
    return None


def _old_head(conn) -> tuple[int, str]:
    row = conn.execute(sa.select(HEAD_V1.c.length, HEAD_V1.c.last_hash).where(HEAD_V1.c.id == 1)
                       .with_for_update()).first()
    return (row.length, row.last_hash) if row else (0, GENESIS_HASH)


def _refuse(direction: str, problem: str) -> None:
    raise RuntimeError(
        f"migration 0017 refuses to {direction}: the audit chain does not verify ({problem}). Sealing or merging "
        "it would hide that break. Nothing was changed. Investigate with `flask audit verify` (docs/DEPLOY.md §6), "
        "restore the audit tables from a backup, then try again.")


def _reset_head_id_sequence(conn) -> None:
    # Rows inserted with explicit ids (0001's head row) leave a PostgreSQL sequence behind.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('audit_chain_head', 'id'), "
                             "(SELECT coalesce(max(id), 0) + 1 FROM audit_chain_head), false)"))


# --- upgrade ----------------------------------------------------------------------------------

def upgrade():
    if op.get_context().as_sql:
        raise RuntimeError("migration 0017 verifies and seals the audit chain: run it against the database, "
                           "not as --sql")
    conn = op.get_bind()
    length, last_hash = _old_head(conn)
    problem = _walk_problem(conn, None, GENESIS_HASH, length, last_hash)
    if problem:
        _refuse("run", problem)
    before = (length, last_hash)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=32), nullable=True))
    conn.execute(EVENTS.update().values(chain=HISTORY))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint('uq_audit_events_seq', type_='unique')
        batch_op.create_unique_constraint('uq_audit_events_chain', ['chain', 'seq'])
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('agency_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('link_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=True))

    now = datetime.now(UTC)
    if length:
        seal = SimpleNamespace(seq=length + 1, occurred_at=now, actor_id=None, actor_role=None,
                               action="audit.sealed", target_type="audit_chain", target_id=HISTORY, agency_id=None,
                               source_ip=None)
        details = {"migration": "0017", "sealed_head": {"length": length, "last_hash": last_hash},
                   "continued_in": "a chain per agency and one for the installation, each starting from this "
                                   "event's hash"}
        seal_hash = _event_hash(seal, details, last_hash)
        conn.execute(EVENTS.insert().values(**vars(seal), chain=HISTORY, details=details, prev_hash=last_hash,
                                            hash=seal_hash))
        length, last_hash = seal.seq, seal_hash
    history = dict(chain=HISTORY, agency_id=None, length=length, last_hash=last_hash, link_hash=GENESIS_HASH,
                   sealed_at=now)
    if conn.execute(sa.select(HEAD.c.id).where(HEAD.c.id == 1)).first():
        conn.execute(HEAD.update().where(HEAD.c.id == 1).values(**history))
    else:
        conn.execute(HEAD.insert().values(id=1, **history))
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('link_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('uq_audit_chain_head_chain', ['chain'])
    _reset_head_id_sequence(conn)

    agencies = conn.execute(sa.select(AGENCIES.c.id).order_by(AGENCIES.c.id)).scalars().all()
    starts = [(INSTALLATION, None)] + [(f"agency:{agency}", agency) for agency in agencies]
    conn.execute(HEAD.insert(), [dict(chain=chain, agency_id=agency, length=0, last_hash=last_hash,
                                      link_hash=last_hash) for chain, agency in starts])

    problem = _walk_problem(conn, HISTORY, GENESIS_HASH, length, last_hash)
    if problem:
        raise RuntimeError(f"migration 0017: the sealed history chain does not verify ({problem}); rolled back")
    log.warning("0017: the audit chain (%d events ending in %s) is sealed as the history chain%s; %d chains "
                "(the installation's and one per agency) start from its final hash %s",
                before[0], before[1], " with an audit.sealed event" if before[0] else "", len(starts), last_hash)


# --- downgrade --------------------------------------------------------------------------------

def _chain_heads(conn) -> dict[str, sa.Row]:
    return {row.chain: row for row in conn.execute(sa.select(HEAD).order_by(HEAD.c.id)).all()}


def _merge(conn, length: int, last_hash: str) -> tuple[int, str]:
    """Append every non-history event to the history chain in the order written; (new length, last hash)."""
    move = (EVENTS.update().where(EVENTS.c.id == sa.bindparam("event_id"))
            .values(chain=HISTORY, seq=sa.bindparam("new_seq"), prev_hash=sa.bindparam("new_prev"),
                    hash=sa.bindparam("new_hash")))
    last_id = 0
    while True:
        rows = conn.execute(sa.select(*_v1(EVENTS))
                            .where(EVENTS.c.chain != HISTORY, EVENTS.c.id > last_id)
                            .order_by(EVENTS.c.id).limit(BATCH)).all()
        if not rows:
            return length, last_hash
        moved = []
        for row in rows:
            length += 1
            placed = SimpleNamespace(**{**row._mapping, "seq": length})
            new_hash = _event_hash(placed, row.details, last_hash)
            moved.append({"event_id": row.id, "new_seq": length, "new_prev": last_hash, "new_hash": new_hash})
            last_hash = new_hash
        conn.execute(move, moved)
        last_id = rows[-1].id


def downgrade():
    if op.get_context().as_sql:
        raise RuntimeError("migration 0017's downgrade verifies and merges the audit chains: run it against the "
                           "database, not as --sql")
    conn = op.get_bind()
    heads = _chain_heads(conn)
    history = heads.get(HISTORY)
    if history is None:
        _refuse("downgrade", "the history chain has no head row")
    stray = conn.execute(sa.select(EVENTS.c.chain).where(EVENTS.c.chain.not_in(list(heads))).limit(1)).scalar()
    if stray is not None:
        _refuse("downgrade", f"chain {stray} has events but no head row")
    for chain, head in heads.items():
        link = GENESIS_HASH if chain == HISTORY else history.last_hash
        if head.link_hash != link:
            _refuse("downgrade", f"chain {chain}: its recorded link is not the history chain's final hash")
        problem = _walk_problem(conn, chain, link, head.length, head.last_hash)
        if problem:
            _refuse("downgrade", problem)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_events_chain', type_='unique')
    first = history.length + 1
    length, last_hash = _merge(conn, history.length, history.last_hash)
    if length > history.length:
        merged_heads = {chain: {"length": head.length, "last_hash": head.last_hash}
                        for chain, head in heads.items() if head.length}
        event = SimpleNamespace(seq=length + 1, occurred_at=datetime.now(UTC), actor_id=None, actor_role=None,
                                action="audit.chains_merged", target_type="audit_chain", target_id=None,
                                agency_id=None, source_ip=None)
        details = {"migration": "0017 (downgrade)", "heads_before": merged_heads,
                   "merged_seqs": {"first": first, "last": length}}
        new_hash = _event_hash(event, details, last_hash)
        conn.execute(EVENTS.insert().values(**vars(event), chain=HISTORY, details=details, prev_hash=last_hash,
                                            hash=new_hash))
        log.warning("0017 downgrade: %d events of %d chains appended to the history chain (seqs %d-%d, re-hashed); "
                    "heads before: %s", length - history.length, len(merged_heads) - (HISTORY in merged_heads),
                    first, length, merged_heads)
        length, last_hash = event.seq, new_hash

    conn.execute(HEAD.delete().where(HEAD.c.chain != HISTORY))
    conn.execute(HEAD.update().where(HEAD.c.chain == HISTORY).values(id=1, length=length, last_hash=last_hash))
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_chain_head_chain', type_='unique')
        batch_op.drop_column('sealed_at')
        batch_op.drop_column('link_hash')
        batch_op.drop_column('agency_id')
        batch_op.drop_column('chain')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('chain')
        batch_op.create_unique_constraint('uq_audit_events_seq', ['seq'])
    _reset_head_id_sequence(conn)

    problem = _walk_problem(conn, None, GENESIS_HASH, length, last_hash)
    if problem:
        raise RuntimeError(f"migration 0017 (downgrade): the merged chain does not verify ({problem}); rolled back")
