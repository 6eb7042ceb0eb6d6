"""verified identities: the first to verify an address owns it; owner and staff accounts kept apart

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:30:00.000000

Until now ``users.email`` and ``users.phone`` were unique, so whoever typed an address
first held it, verified or not, and a resident and a police officer could not share an
address. From here on only *verified* addresses are unique, and per side: one verified
e-mail (``email_verified_at`` set) and one verified phone (``phone_verified``) per address
among owner-side accounts (owners, district managers) and one among staff (officers,
supervisors, ``is_staff``). An unverified claim blocks nobody.

``unverified_since`` is when a new account gave an address it has not yet proved; the
scheduler ends claims left unproved for UNVERIFIED_CLAIM_DAYS. Accounts that exist
before this revision keep it NULL, and their addresses never expire nor give way to
another account's proof: they were unique and in use (app/accounts/identities.py).

Downgrading restores the unique constraints, which fails if two accounts now share an
address.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

VERIFIED_EMAIL = "email_verified_at IS NOT NULL"
VERIFIED_PHONE = "phone_verified"


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_staff', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('unverified_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint('uq_users_email', type_='unique')
        batch_op.drop_constraint('uq_users_phone', type_='unique')
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_phone'), ['phone'], unique=False)

    op.execute(sa.text("UPDATE users SET is_staff = :staff WHERE role IN ('officer', 'supervisor')")
               .bindparams(staff=True))

    op.create_index('uq_users_verified_email', 'users', ['email', 'is_staff'], unique=True,
                    postgresql_where=sa.text(VERIFIED_EMAIL), sqlite_where=sa.text(VERIFIED_EMAIL))
    op.create_index('uq_users_verified_phone', 'users', ['phone', 'is_staff'], unique=True,
                    postgresql_where=sa.text(VERIFIED_PHONE), sqlite_where=sa.text(VERIFIED_PHONE))


def downgrade():
    op.drop_index('uq_users_verified_phone', table_name='users')
    op.drop_index('uq_users_verified_email', table_name='users')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone'))
        batch_op.drop_index(batch_op.f('ix_users_email'))
        batch_op.create_unique_constraint('uq_users_phone', ['phone'])
        batch_op.create_unique_constraint('uq_users_email', ['email'])
        batch_op.drop_column('unverified_since')
        batch_op.drop_column('is_staff')
