"""objective values: each trial's final value of every objective and constrained metric

Revision ID: 0006_objective_values
Revises: 0005_session_keys
Create Date: 2026-12-01

``trials.values`` (JSON, NULL for trials of single-objective studies without
constraints, and for trials stored before this revision): ``{metric: value}``
read by the Pareto front and hypervolume queries (hpsearch/store/fronts.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_objective_values'
down_revision = '0005_session_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trials') as batch:
        batch.add_column(sa.Column('values', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trials') as batch:
        batch.drop_column('values')
