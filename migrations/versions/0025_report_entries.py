"""annual report: the fields an agency enters itself (costs, funding source, policy changes)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 03:50:00.000000

- ``report_entries``: one row per agency and calendar year with three length-limited free
  texts a supervisor enters (costs, funding source, policy changes). Everything else on the
  annual report is computed from the data at generation time and stored nowhere.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('costs', sa.String(length=1000), nullable=True),
    sa.Column('funding_source', sa.String(length=1000), nullable=True),
    sa.Column('policy_changes', sa.String(length=4000), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_report_entries_agency_id_agencies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_report_entries_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_entries')),
    sa.UniqueConstraint('agency_id', 'year', name=op.f('uq_report_entries_agency_id'))
    )


def downgrade():
    op.drop_table('report_entries')
