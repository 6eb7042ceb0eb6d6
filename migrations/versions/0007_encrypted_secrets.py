"""secrets at rest: two-step secrets encrypted under ENCRYPTION_KEYS

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:00:00.000000

(being written: finding 6 of the security round)

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
