"""studies.warm_start_picked: the studies `warm_start: auto` picked, and why

Revision ID: 0011_warm_start_picked
Revises: 0010_deployment_serve_state
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_warm_start_picked'
down_revision = '0010_deployment_serve_state'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.add_column(sa.Column('warm_start_picked', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.drop_column('warm_start_picked')
