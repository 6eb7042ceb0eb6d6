"""signed checkpoints of the audit chains' heads

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-06 03:30:00.000000

- ``audit_checkpoints``: one row per chain and seq, the chain's head (seq, hash) signed
  with the installation's Ed25519 key at ``signed_at`` (app/audit/checkpoints.py). The
  rows are published on the public transparency pages; a log that later lacks a published
  checkpoint's event (trimmed, its head rolled back) fails `flask audit verify --checkpoints`.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_checkpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chain', sa.String(length=32), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('signature', sa.String(length=88), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
        sa.UniqueConstraint('chain', 'seq', name='uq_audit_checkpoints_chain_seq'),
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoints_chain_signed', ['chain', 'signed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_agency_id'), ['agency_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_agency_id'))
        batch_op.drop_index('ix_audit_checkpoints_chain_signed')
    op.drop_table('audit_checkpoints')
