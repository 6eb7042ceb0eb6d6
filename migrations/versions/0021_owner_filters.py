"""owners' filters and the yearly re-confirmation of cameras

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 03:10:00.000000

- ``owner_filters``: an owner's standing answers (offense categories always declined,
  the only agencies answered, the oldest footage given, "pause everything" until a
  date). A new ask one of them catches is declined at creation, never notified.
- ``asks.filter_rule``: which of those rules declined an ask (the owner's history only).
- ``cameras.confirmed_at`` / ``confirm_requested_at`` / ``pause_reason``: once a year an
  owner confirms each camera; one not confirmed in time pauses ("unconfirmed") until
  the owner confirms it. Existing cameras count as confirmed at the upgrade, so no
  camera is asked the day the upgrade runs.

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'owner_filters',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('declined_categories', sa.JSON(), nullable=False),
        sa.Column('agency_ids', sa.JSON(), nullable=True),
        sa.Column('max_footage_age_days', sa.SmallInteger(), nullable=True),
        sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('max_footage_age_days IS NULL OR max_footage_age_days BETWEEN 1 AND 365',
                           name=op.f('ck_owner_filters_max_age_range')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_owner_filters_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_owner_filters')),
    )
    with op.batch_alter_table('owner_filters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_owner_filters_paused_until'), ['paused_until'], unique=False)

    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filter_rule', sa.String(length=16), nullable=True))

    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('confirm_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pause_reason', sa.String(length=16), nullable=True))
    cameras = sa.table('cameras', sa.column('confirmed_at', sa.DateTime(timezone=True)))
    op.execute(cameras.update().values(confirmed_at=datetime.now(UTC)))
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.alter_column('confirmed_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f('ix_cameras_confirmed_at'), ['confirmed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cameras_confirm_requested_at'), ['confirm_requested_at'], unique=False)


def downgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cameras_confirm_requested_at'))
        batch_op.drop_index(batch_op.f('ix_cameras_confirmed_at'))
        batch_op.drop_column('pause_reason')
        batch_op.drop_column('confirm_requested_at')
        batch_op.drop_column('confirmed_at')
    with op.batch_alter_table('asks', schema=None) as batch_op:
        batch_op.drop_column('filter_rule')
    with op.batch_alter_table('owner_filters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_owner_filters_paused_until'))
    op.drop_table('owner_filters')
