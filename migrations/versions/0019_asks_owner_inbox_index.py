"""an index for the owner's inbox

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 00:10:00.000000

- ``ix_asks_owner_id`` on ``asks (owner_id, id)``: the inbox reads an owner's asks newest
  first, a page of 100 at a time. With only ``(owner_id, state)`` to go by, PostgreSQL
  walked the primary key backwards through every owner's asks to fill the page of an
  owner with fewer than 100 (nearly all of them): a cost that grew with the table
  (47 ms a page at 150,000 asks, bench/load.py). With this index a page is a range scan.

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.create_index('ix_asks_owner_id', ['owner_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.drop_index('ix_asks_owner_id')
