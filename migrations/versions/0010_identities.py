"""verified identities: sign-up and password-reset tokens, staff invitations

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 18:10:00.000000

(being written)

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
