"""Secrets at rest: the ENCRYPTION_KEYS key ring and the column type that uses it.

Reversible secrets the app must read back (authenticator secrets, Web Push auth
secrets) are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256, cryptography's
``MultiFernet``). ``ENCRYPTION_KEYS`` lists the keys newest first: the newest
encrypts, every one decrypts, so a new key can be put in front, everything
re-encrypted with ``flask keys rotate`` and the old key dropped without locking
anyone out. Development keeps a generated key in instance/; production refuses to
start without a usable key ring.

Model attributes stay plaintext in Python (:class:`EncryptedString`); only the
database holds tokens.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from app.audit import service as audit
from app.common import instance_keys
from app.extensions import db

log = logging.getLogger(__name__)

SETTING = "ENCRYPTION_KEYS"
KEY_FILE = "encryption_key"
EXTENSION = "porchlight.encryption"
# A Fernet token is base64 of 0x80 (the version) and a 64-bit timestamp whose top bytes
# are zero for the next few thousand years: every token starts with this.
FERNET_PREFIX = "gAAAAA"


class KeyRing:
    """The app's keys, newest first: the newest encrypts, any of them decrypts."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernets = [Fernet(key) for key in keys]
        self._newest = self._fernets[0]
        self._multi = MultiFernet(self._fernets)

    def __len__(self) -> int:
        return len(self._fernets)

    def encrypt(self, text: str) -> str:
        return self._multi.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The text of ``token``; InvalidToken when no key opens it."""
        return self._multi.decrypt(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """Whether the newest key opens ``token`` (nothing to rotate)."""
        try:
            self._newest.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """``token``'s text encrypted under the newest key; InvalidToken when no key opens it."""
        return self._multi.rotate(token.encode()).decode()


def parse_keys(text: str | None, source: str = SETTING) -> list[bytes]:
    """Comma-separated urlsafe-base64 Fernet keys, newest first; RuntimeError naming ``source``."""
    keys = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not keys:
        raise RuntimeError(f"{source} is empty: it must hold at least one key (see docs/DEPLOY.md)")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # The key itself is never echoed: a malformed secret is still a secret.
            raise RuntimeError(
                f"{source}: key {position} of {len(keys)} is not a Fernet key (32 bytes in urlsafe base64, "
                "44 characters); make one with `flask keys generate` (see docs/DEPLOY.md)") from None
    return [key.encode() for key in keys]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _keys_from_instance(instance_path: str) -> list[bytes]:
    path = Path(instance_path) / KEY_FILE
    text, made = instance_keys.read_or_create(path, generate_key)
    if made:
        log.warning("generated an encryption key for secrets at rest into %s; keep it, and back it up "
                    "apart from the database: without it the two-step and push secrets stored under it "
                    "cannot be read (set %s to share one key between machines)", path, SETTING)
    return parse_keys(text, source=str(path))


def init_app(app: Flask) -> None:
    """Load the key ring (refusing to start without a usable one) and check it opens stored secrets."""
    configured = app.config.get(SETTING)
    if configured:
        keys = parse_keys(configured)
    elif app.config["ENV_NAME"] == "production":
        raise RuntimeError(f"{SETTING} must be set in production: comma-separated Fernet keys, newest first "
                           "(see docs/DEPLOY.md, 'Secrets at rest and key rotation')")
    else:
        keys = _keys_from_instance(app.instance_path)
    app.extensions[EXTENSION] = KeyRing(keys)
    # Test apps start on a database still holding the previous test's rows (it is emptied
    # after start-up), some written under other keys; the start-up tests use production apps.
    if app.config["ENV_NAME"] != "testing":
        check_stored_secrets(app)


def key_ring(app: Flask | None = None) -> KeyRing:
    return (app or current_app).extensions[EXTENSION]


class EncryptedString(sa.types.TypeDecorator):
    """Text stored as a Fernet token under the app's key ring; plaintext in Python.

    The length is the column's, i.e. the token's: a token of n bytes of text is about
    4/3 · (57 + 16·⌈(n+1)/16⌉) characters (140 for a 32-character secret).
    Tokens are randomised, so such a column cannot be searched or compared in SQL.
    """

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        if value is None:
            return None
        return key_ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        if value is None:
            return None
        try:
            return key_ring().decrypt(value)
        except InvalidToken:
            raise RuntimeError(f"a stored secret cannot be decrypted with any key in {SETTING} "
                               "(was a key dropped before `flask keys rotate` finished?)") from None


def encrypted_columns(metadata: sa.MetaData) -> Iterator[tuple[sa.Table, sa.Column]]:
    """Every (table, column) of the models stored with :class:`EncryptedString`."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                yield table, column


def raw(table: sa.Table, column: sa.Column) -> tuple[sa.TableClause, sa.ColumnClause, sa.ColumnClause]:
    """The table with its id and ``column`` as plain strings: reads and writes the tokens themselves."""
    clause = sa.table(table.name, sa.column("id"), sa.column(column.name, sa.String))
    return clause, clause.c.id, clause.c[column.name]


def check_stored_secrets(app: Flask) -> None:
    """Refuse to start when the key ring cannot open what is stored.

    The oldest stored token of each encrypted column is tried (the one most likely
    to be under a key dropped too early). A database not migrated yet (no tables, or
    plaintext waiting for ``flask db upgrade``) passes; so does one that cannot be
    reached now (the app answers 503 until it can, as it always has).
    """
    ring = key_ring(app)
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                inspector = sa.inspect(conn)
                tables = set(inspector.get_table_names())
                for table, column in encrypted_columns(db.metadata):
                    if table.name not in tables or column.name not in {
                            c["name"] for c in inspector.get_columns(table.name)}:
                        continue
                    clause, row_id, value = raw(table, column)
                    token = conn.execute(sa.select(value).where(value.is_not(None)).order_by(row_id)
                                         .limit(1)).scalar()
                    if token is None or not token.startswith(FERNET_PREFIX):
                        continue
                    try:
                        ring.decrypt(token)
                    except InvalidToken:
                        raise RuntimeError(
                            f"{SETTING} cannot decrypt the secrets stored in {table.name}.{column.name}: the key "
                            "they were encrypted with is not in the list. Put it back (after the newest key) "
                            "and run `flask keys rotate` before dropping it (see docs/DEPLOY.md)") from None
        except sa.exc.OperationalError as exc:
            # As before this check: the app starts and answers 503 until the database is back.
            log.warning("could not check %s against the stored secrets: database unreachable (%s)",
                        SETTING, str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__)
        finally:
            # No connection made at start-up is inherited by forked workers (gunicorn --preload).
            db.engine.dispose()


class RotationReport:
    """What ``flask keys rotate`` did to one column."""

    def __init__(self, table: str, column: str) -> None:
        self.name = f"{table}.{column}"
        self.rotated = self.current = 0
        self.unreadable: list[int] = []  # ids of rows no key opens


def rotate_stored_secrets(batch_size: int = 500) -> list[RotationReport]:
    """Re-encrypt every stored secret under the newest key, in batches; audited with the counts.

    Idempotent: tokens the newest key already opens are left as they are. A row changed
    since it was read (a process writing with the new key) is left to that write.
    """
    ring = key_ring()
    reports = []
    for table, column in encrypted_columns(db.metadata):
        clause, row_id, value = raw(table, column)
        report = RotationReport(table.name, column.name)
        last_id = 0
        while True:
            rows = db.session.execute(sa.select(row_id, value).where(value.is_not(None), row_id > last_id)
                                      .order_by(row_id).limit(batch_size)).all()
            if not rows:
                break
            for rid, token in rows:
                if ring.is_current(token):
                    report.current += 1
                    continue
                try:
                    rotated = ring.rotate(token)
                except InvalidToken:
                    report.unreadable.append(rid)
                    continue
                # Compare-and-set on the old token: a concurrent write already used the newest key.
                db.session.execute(sa.update(clause).where(row_id == rid, value == token).values({value: rotated}))
                report.rotated += 1
            db.session.commit()
            last_id = rows[-1][0]
        reports.append(report)
    audit.record("keys.rotated", target_type="encryption_keys", details={
        "keys": len(ring),
        "columns": {r.name: {"rotated": r.rotated, "current": r.current, "unreadable": len(r.unreadable)}
                    for r in reports}})
    db.session.commit()
    return reports
