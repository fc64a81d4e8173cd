"""deployments.serve_state: what Ray Serve reports for a deployment (replicas, bounds)

Revision ID: 0010_deployment_serve_state
Revises: 0009_trial_logs_media
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_deployment_serve_state'
down_revision = '0009_trial_logs_media'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.add_column(sa.Column('serve_state', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('serve_state')
