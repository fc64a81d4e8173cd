"""trials (study_id, started_at, number) index: the timeline's latest trials without a scan

Revision ID: 0017_trials_started_index
Revises: 0016_study_figures
Create Date: 2026-12-01
"""
from alembic import op


revision = '0017_trials_started_index'
down_revision = '0016_study_figures'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trials_study_started', 'trials', ['study_id', 'started_at', 'number'])


def downgrade() -> None:
    op.drop_index('ix_trials_study_started', table_name='trials')
