"""civilian oversight: the complaint log (and the oversight role, which needs no DDL)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 03:30:00.000000

- ``complaints``: complaints against a footage request, recorded by supervisors and
  oversight: received date, summary, source (resident, owner, other), outcome (open,
  sustained, not sustained, unfounded, exonerated, withdrawn) with its date and note.
  Indexed by agency and received date for the log and the annual report's yearly count.
- The role ``oversight`` joins ``users.role`` and ``staff_invitations.role``. Those columns
  are VARCHAR(16) without a CHECK constraint (app/db.py db_enum: non-native enums), on
  PostgreSQL as on SQLite, so there is no type to ALTER and no constraint to rebuild: the
  application refuses values outside the enum when it writes.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('summary', sa.String(length=2000), nullable=False),
    sa.Column('source', sa.Enum('resident', 'owner', 'other', name='complaint_source', native_enum=False, length=16), nullable=False),
    sa.Column('outcome', sa.Enum('open', 'sustained', 'not_sustained', 'unfounded', 'exonerated', 'withdrawn', name='complaint_outcome', native_enum=False, length=16), server_default='open', nullable=False),
    sa.Column('outcome_on', sa.Date(), nullable=True),
    sa.Column('outcome_note', sa.String(length=2000), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('outcome_on IS NULL OR outcome_on >= received_on', name=op.f('ck_complaints_outcome_after_received')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_complaints_agency_id_agencies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['footage_requests.id'], name=op.f('fk_complaints_request_id_footage_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_complaints_recorded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_complaints_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index('ix_complaints_agency_received', ['agency_id', 'received_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_request_id'))
        batch_op.drop_index('ix_complaints_agency_received')

    op.drop_table('complaints')
