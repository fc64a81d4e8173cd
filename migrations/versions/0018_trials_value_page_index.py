"""trials (study_id, value IS NULL, value, number) indexes, ascending and descending values:
the trials table sorted by value (NULLs last either way) read from an index at any page

Revision ID: 0018_trials_value_page_index
Revises: 0017_trials_started_index
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_trials_value_page_index'
down_revision = '0017_trials_started_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trials_study_value_up', 'trials',
                    ['study_id', sa.text('(value IS NULL)'), 'value', 'number'])
    op.create_index('ix_trials_study_value_down', 'trials',
                    ['study_id', sa.text('(value IS NULL)'), sa.text('value DESC'), 'number'])


def downgrade() -> None:
    op.drop_index('ix_trials_study_value_down', table_name='trials')
    op.drop_index('ix_trials_study_value_up', table_name='trials')
