"""studies.waiting: what a running study's trials wait for when no node of the cluster can
run one (cleared once a node that fits joins, and when the study ends)

Revision ID: 0020_study_waiting
Revises: 0019_study_end_reason
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0020_study_waiting'
down_revision = '0019_study_end_reason'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.add_column(sa.Column('waiting', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.drop_column('waiting')
