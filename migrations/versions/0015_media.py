"""footage as owners have it: probe facts, working copies, the recorder's clock

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 21:20:00.000000

- ``clips`` gain the media job's state (``media_status``: pending, processing, ready,
  failed; the error, attempts, claim and finish times), what the probe found, a ZIP
  bundle's listing, the file's last-modified time as the browser reported it, and the
  recorder-clock offset the owner gave. Clips already complete become ``pending``, so
  the scheduler makes their working copies too.
- ``clip_derivatives``: the working copy and poster made from a master, with their
  SHA-256 and how they were made.
- ``clip_accesses.variant``: which file an access was to (``master`` for every earlier row).
- ``cameras.recorder_offset_s``/``recorder_offset_at``: the offset remembered per camera.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_modified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recorder_offset_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('media_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('media_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('media_attempts', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('media_claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('media_done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('probe', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('bundle_entries', sa.JSON(), nullable=True))
        batch_op.create_index('ix_clips_media_status', ['media_status'], unique=False)
    op.execute("UPDATE clips SET media_status = 'pending' WHERE status = 'complete'")

    op.create_table(
        'clip_derivatives',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clip_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('versions', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], name=op.f('fk_clip_derivatives_clip_id_clips'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_clip_derivatives')),
        sa.UniqueConstraint('clip_id', 'kind', name='uq_clip_derivatives_clip_kind'),
        sa.UniqueConstraint('storage_key', name=op.f('uq_clip_derivatives_storage_key')),
    )
    with op.batch_alter_table('clip_derivatives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clip_derivatives_clip_id'), ['clip_id'], unique=False)

    with op.batch_alter_table('clip_accesses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=16), server_default='master', nullable=False))

    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorder_offset_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recorder_offset_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_column('recorder_offset_at')
        batch_op.drop_column('recorder_offset_s')
    with op.batch_alter_table('clip_accesses', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('clip_derivatives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clip_derivatives_clip_id'))
    op.drop_table('clip_derivatives')
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index('ix_clips_media_status')
        for column in ('bundle_entries', 'probe', 'media_done_at', 'media_claimed_at', 'media_attempts',
                       'media_error', 'media_status', 'recorder_offset_s', 'file_modified_at'):
            batch_op.drop_column(column)
