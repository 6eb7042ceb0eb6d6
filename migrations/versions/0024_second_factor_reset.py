"""two-step sign-in set up again after a reset proves the mailbox too

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 04:00:00.000000

- ``users.second_factor_reset_at``: when a supervisor or the operator last took two-step
  sign-in off the account (a lost phone). Until the account sets it up again, the set-up
  also needs a code e-mailed to the account's address, so someone who only knows the
  password cannot be the one to enrol an authenticator app in the owner's place.

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second_factor_reset_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('second_factor_reset_at')
