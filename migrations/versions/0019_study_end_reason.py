"""studies.end_reason: why a finished study ended (its budget ran, its time limit passed,
a cancel), shown by the CLI, the API and the study page

Revision ID: 0019_study_end_reason
Revises: 0018_trials_value_page_index
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0019_study_end_reason'
down_revision = '0018_trials_value_page_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.add_column(sa.Column('end_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.drop_column('end_reason')
