"""drop two indexes that a unique index already answers

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 09:00:00.000000

- ``ix_asks_request_id``: the unique ``(request_id, camera_id)`` index leads with the same
  column, so every lookup by request (and the cascade when a request is deleted) uses it.
- ``ix_notifications_ask_id``: likewise the unique ``(ask_id, channel, kind)`` index.

Both were written on every row of a request's fan-out (1,000 asks and 1,000
notifications for a 1,000-owner request) for no reader.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asks_request_id'))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_ask_id'))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_ask_id'), ['ask_id'], unique=False)
    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asks_request_id'), ['request_id'], unique=False)
