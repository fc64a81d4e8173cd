"""results: drop the index on trial_id alone; the unique (trial_id, iteration) serves it

Every lookup by trial (a trial's curve, the cascade when a trial is deleted) uses the
unique index's leading column, so the separate index was a third index maintained on
every result row for nothing (at 100 million rows, ~2 GB and a quarter of the
insert's index work; docs/scaling.md).

Revision ID: 0014_results_index
Revises: 0013_study_frames
Create Date: 2026-12-01
"""
from alembic import op


revision = '0014_results_index'
down_revision = '0013_study_frames'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.drop_index('ix_results_trial_id')


def downgrade() -> None:
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index('ix_results_trial_id', ['trial_id'], unique=False)
