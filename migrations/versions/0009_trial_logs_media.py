"""trial logs and media: what a trial printed (bounded) and the images/figures it drew

Revision ID: 0009_trial_logs_media
Revises: 0008_models
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_trial_logs_media'
down_revision = '0008_models'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trial_logs',
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('head', sa.Text(), nullable=False),
    sa.Column('tail', sa.Text(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('cut', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['trial_id'], ['trials.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trial_id')
    )
    op.create_table('trial_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trial_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['trial_id'], ['trials.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trial_id', 'name', 'step', name='uq_trial_media_name_step')
    )
    op.create_index(op.f('ix_trial_media_trial_id'), 'trial_media', ['trial_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_trial_media_trial_id'), table_name='trial_media')
    op.drop_table('trial_media')
    op.drop_table('trial_logs')
