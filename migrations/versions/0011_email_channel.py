"""the e-mail channel: owners' choice to get requests by e-mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:10:00.000000

Requests reach an owner by e-mail when the address is verified and ``notify_email`` is
on (the default, as for push and SMS). One-click unsubscribe in every ask e-mail turns
it off; the owner turns it back on in Settings. An ask's e-mails thread under one
Message-ID derived from the ask's id and SECRET_KEY (app/notifications/ask_mail.py), so
nothing else is stored.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_email', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('notify_email')
