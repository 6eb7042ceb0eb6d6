"""purpose and legal basis of footage requests; re-asks counted; agency taxonomy

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 03:10:00.000000

- ``footage_requests``: ``legal_basis`` (voluntary | warrant | exigent), ``warrant_number``,
  ``warrant_court``, ``exigent_reason``, ``offense_category`` (a key of the agency's
  taxonomy) with ``offense_category_label`` (its label when the request was made),
  ``prohibited_purposes_affirmed`` (the list the officer affirmed none of applies) with
  ``affirmed_at``, and ``re_ask_cameras`` (cameras asked again after their owner declined
  or did not answer an overlapping request within 30 days). Existing requests read as
  voluntary, category "other", with no affirmation on record.
- ``agency_policies``: ``offense_categories`` and ``prohibited_purposes`` (JSON; null: the
  defaults).

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('footage_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_basis', sa.Enum('voluntary', 'warrant', 'exigent', name='legal_basis',
                                                             native_enum=False, length=16),
                                      server_default='voluntary', nullable=False))
        batch_op.add_column(sa.Column('warrant_number', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('warrant_court', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('exigent_reason', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('offense_category', sa.String(length=64), server_default='other',
                                      nullable=False))
        batch_op.add_column(sa.Column('offense_category_label', sa.String(length=120), server_default='Other',
                                      nullable=False))
        batch_op.add_column(sa.Column('prohibited_purposes_affirmed', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('affirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('re_ask_cameras', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('agency_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offense_categories', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('prohibited_purposes', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('agency_policies', schema=None) as batch_op:
        batch_op.drop_column('prohibited_purposes')
        batch_op.drop_column('offense_categories')
    with op.batch_alter_table('footage_requests', schema=None) as batch_op:
        for column in ('re_ask_cameras', 'affirmed_at', 'prohibited_purposes_affirmed', 'offense_category_label',
                       'offense_category', 'exigent_reason', 'warrant_court', 'warrant_number', 'legal_basis'):
            batch_op.drop_column(column)
