"""camera audit events without personal data, and the chain re-sealed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 15:00:00.000000

(being written: finding 8 of the security round)

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
