"""owners told when a request is withdrawn or expires; the order of their channels

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 18:30:00.000000

Two new kinds of notification, ``withdrawn`` and ``expired``, need no change here:
``notifications.kind`` is a VARCHAR(16) without a CHECK constraint (app/db.py's
db_enum), on PostgreSQL as on SQLite. ``users.channel_order`` is the order in which an
owner's channels are tried (comma-separated: push, sms, email); every existing owner
gets the order the app used so far, push before SMS, then e-mail.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_order', sa.String(length=32), server_default='push,sms,email',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('channel_order')
