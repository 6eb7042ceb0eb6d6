"""owners' languages

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-12 10:00:00.000000

- ``users.language``: the language a person chose (en, es, hmn; app/i18n). NULL, as for
  every earlier row, follows the browser's Accept-Language in the app, and English for
  messages sent outside a request (SMS, push, e-mail).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
