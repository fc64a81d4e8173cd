"""study_frames: each study's scored trials as columns, what its charts read

Revision ID: 0013_study_frames
Revises: 0012_trial_placement
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_study_frames'
down_revision = '0012_trial_placement'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'study_frames',
        sa.Column('study_id', sa.Integer(), sa.ForeignKey('studies.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('marker', sa.String(length=100), nullable=False),
        sa.Column('trials', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('study_frames')
