"""server-side sessions: a revocable record per signed-in client

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 15:00:00.000000

Signing out did not end a session: the signed cookie, copied before, still worked. Each
sign-in now makes a ``user_sessions`` row (the SHA-256 of the cookie's random key, when
it started and was last used, the browser and address it came from) that every request
is checked against; signing out, "sign out everywhere else", a password change, a
deactivation or a two-step reset end rows. The per-account ``session_token`` that used
to be part of the cookie goes: existing cookies stop working, so everyone signs in once
more after this upgrade.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.String(length=120), nullable=True),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_user_sessions_key_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_ended_at'), ['ended_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_token')


def downgrade():
    # Every account gets a fresh token: sessions of the newer schema do not carry over.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=32), nullable=False,
                                      server_default='downgraded'))
    op.execute("UPDATE users SET session_token = substr(md5(random()::text), 1, 22)"
               if op.get_bind().dialect.name == "postgresql" else
               "UPDATE users SET session_token = lower(hex(randomblob(11)))")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('session_token', server_default=None)

    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_user_sessions_ended_at'))

    op.drop_table('user_sessions')
