"""trials (study_id, value) index: the best trial and the best value without a sort

Revision ID: 0015_trials_value_index
Revises: 0014_results_index
Create Date: 2026-12-01
"""
from alembic import op


revision = '0015_trials_value_index'
down_revision = '0014_results_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trials_study_value', 'trials', ['study_id', 'value'])


def downgrade() -> None:
    op.drop_index('ix_trials_study_value', table_name='trials')
