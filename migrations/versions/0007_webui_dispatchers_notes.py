"""web UI: dispatcher heartbeats; study notes, tags, archive, submitted spec text; trial notes

Revision ID: 0007_webui_dispatchers_notes
Revises: 0006_objective_values
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_webui_dispatchers_notes'
down_revision = '0006_objective_values'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatchers',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('max_studies', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_index(op.f('ix_dispatchers_heartbeat_at'), 'dispatchers', ['heartbeat_at'], unique=False)
    with op.batch_alter_table('studies') as batch:
        batch.add_column(sa.Column('notes', sa.Text(), nullable=True))
        batch.add_column(sa.Column('tags', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('spec_text', sa.Text(), nullable=True))
    with op.batch_alter_table('trials') as batch:
        batch.add_column(sa.Column('notes', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trials') as batch:
        batch.drop_column('notes')
    with op.batch_alter_table('studies') as batch:
        batch.drop_column('spec_text')
        batch.drop_column('archived_at')
        batch.drop_column('tags')
        batch.drop_column('notes')
    op.drop_index(op.f('ix_dispatchers_heartbeat_at'), table_name='dispatchers')
    op.drop_table('dispatchers')
