"""trained models: a study's cold-start source, and deployments on Ray Serve

Revision ID: 0008_models
Revises: 0007_webui_dispatchers_notes
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_models'
down_revision = '0007_webui_dispatchers_notes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies') as batch:
        batch.add_column(sa.Column('init_source', sa.JSON(), nullable=True))
    op.create_table('deployments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('study_name', sa.String(length=200), nullable=False),
    sa.Column('trial_number', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=200), nullable=False),
    sa.Column('model_path', sa.Text(), nullable=False),
    sa.Column('card', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('min_replicas', sa.Integer(), nullable=False),
    sa.Column('max_replicas', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index('ix_deployments_study_id', 'deployments', ['study_id'])


def downgrade() -> None:
    op.drop_index('ix_deployments_study_id', table_name='deployments')
    op.drop_table('deployments')
    with op.batch_alter_table('studies') as batch:
        batch.drop_column('init_source')
