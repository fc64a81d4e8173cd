"""trials.node_id, node_host, node_ip, slot: where each trial ran

Revision ID: 0012_trial_placement
Revises: 0011_warm_start_picked
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_trial_placement'
down_revision = '0011_warm_start_picked'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trials') as batch:
        batch.add_column(sa.Column('node_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('node_host', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('node_ip', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('slot', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trials') as batch:
        for name in ('slot', 'node_ip', 'node_host', 'node_id'):
            batch.drop_column(name)
