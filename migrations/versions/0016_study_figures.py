"""study_figures: a finished study's charts as built, served by any web UI process

Revision ID: 0016_study_figures
Revises: 0015_trials_value_index
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_study_figures'
down_revision = '0015_trials_value_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'study_figures',
        sa.Column('study_id', sa.Integer(), sa.ForeignKey('studies.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('key', sa.String(length=64), primary_key=True),
        sa.Column('version', sa.String(length=200), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('study_figures')
