"""four eyes on over-limit requests: self-approval only by agency policy

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 15:00:00.000000

A supervisor could approve their own over-limit request (security round, finding 5).
Now another supervisor must, unless the agency's policy sets ``allow_self_approval``
(off for every agency, existing ones included); a request approved that way is marked
``self_approved`` and counted on the public transparency report.

Requests that a supervisor already approved for themselves before this revision are
marked self-approved, so the public report counts them too.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agency_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allow_self_approval', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    with op.batch_alter_table('footage_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_approved', sa.Boolean(), server_default=sa.false(), nullable=False))

    requests = sa.table('footage_requests', sa.column('officer_id', sa.Integer()),
                        sa.column('reviewed_by_id', sa.Integer()), sa.column('activated_at'),
                        sa.column('self_approved', sa.Boolean()))
    # Approved (reviewed, then activated) by the officer who made it: a self-approval.
    op.execute(requests.update()
               .where(requests.c.reviewed_by_id == requests.c.officer_id, requests.c.activated_at.is_not(None))
               .values(self_approved=True))


def downgrade():
    with op.batch_alter_table('footage_requests', schema=None) as batch_op:
        batch_op.drop_column('self_approved')

    with op.batch_alter_table('agency_policies', schema=None) as batch_op:
        batch_op.drop_column('allow_self_approval')
