"""secrets at rest: two-step secrets and push auth secrets encrypted under ENCRYPTION_KEYS

users.totp_secret, users.totp_pending_secret and push_subscriptions.auth become
Fernet tokens under the newest key of the app's ENCRYPTION_KEYS (the columns widen
to hold them); the downgrade decrypts them back. Run it with `flask db upgrade`:
it uses the key ring the app loaded at start-up.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = (("users", "totp_secret"), ("users", "totp_pending_secret"), ("push_subscriptions", "auth"))
OLD_LENGTH, NEW_LENGTH = 64, 255
BATCH = 500


def _key_ring():
    # Loaded from ENCRYPTION_KEYS (or instance/encryption_key in development) when the
    # app started; the app refuses to start without a usable one.
    ring = current_app.extensions.get("porchlight.encryption")
    if ring is None:
        raise RuntimeError("this migration needs the app's ENCRYPTION_KEYS: run it with `flask db upgrade`")
    return ring


def _convert(table_name, column_name, convert):
    """Rewrite every non-null value of the column with ``convert`` (None: leave it), in id order."""
    conn = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column_name, sa.String))
    column = table.c[column_name]
    last_id = 0
    while True:
        rows = conn.execute(sa.select(table.c.id, column).where(column.is_not(None), table.c.id > last_id)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        changes = [{"row_id": row_id, "new": new} for row_id, value in rows
                   if (new := convert(value)) is not None]
        if changes:
            conn.execute(table.update().where(table.c.id == sa.bindparam("row_id"))
                         .values({column_name: sa.bindparam("new")}), changes)
        last_id = rows[-1][0]


def _resize(length_from, length_to):
    for table_name in ("users", "push_subscriptions"):
        with op.batch_alter_table(table_name) as batch:
            for _, column_name in (c for c in COLUMNS if c[0] == table_name):
                batch.alter_column(column_name, existing_type=sa.String(length_from),
                                   type_=sa.String(length_to), existing_nullable=column_name != "auth")


def upgrade():
    ring = _key_ring()
    _resize(OLD_LENGTH, NEW_LENGTH)

    def encrypt(value):
        try:
            ring.decrypt(value)
            return None  # written by the new code before this ran: encrypted already
        except InvalidToken:
            return ring.encrypt(value)

    for table_name, column_name in COLUMNS:
        _convert(table_name, column_name, encrypt)


def downgrade():
    ring = _key_ring()

    def decrypt(value):
        try:
            return ring.decrypt(value)
        except InvalidToken:
            raise RuntimeError("a stored secret cannot be decrypted with ENCRYPTION_KEYS: start the app with "
                               "the key it was encrypted with to downgrade") from None

    for table_name, column_name in COLUMNS:
        _convert(table_name, column_name, decrypt)
    _resize(NEW_LENGTH, OLD_LENGTH)
