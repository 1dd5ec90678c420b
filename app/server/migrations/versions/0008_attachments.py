"""attachments on messages, and the server's store of their bytes (content-addressed)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base


revision: str = '0008'
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('ticket_id', sa.String(length=36), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=255), nullable=False),
        sa.Column('mime_type', sa.String(length=127), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_attachments_message_id_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_attachments_ticket_id_tickets'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
    )
    op.create_index('ix_attachments_ticket_id', 'attachments', ['ticket_id'], unique=False)
    op.create_index('ix_attachments_message_id', 'attachments', ['message_id'], unique=False)
    op.create_index('ix_attachments_sha256', 'attachments', ['sha256'], unique=False)
    op.create_table(
        'blobs',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blobs')),
    )
    op.create_table(
        'blob_uploads',
        sa.Column('owner', sa.String(length=36), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('received', sa.BigInteger(), nullable=False),
        sa.Column('agent_id', sa.String(length=36), nullable=False),
        sa.Column('started_at', app.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('owner', 'sha256', name=op.f('pk_blob_uploads')),
    )
    op.create_table(
        'blob_parts',
        sa.Column('owner', sa.String(length=36), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('part_no', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('owner', 'sha256', 'part_no', name=op.f('pk_blob_parts')),
    )
    op.create_table(
        'blob_holders',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('agent_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('sha256', 'agent_id', name=op.f('pk_blob_holders')),
    )


def downgrade() -> None:
    op.drop_table('blob_holders')
    op.drop_table('blob_parts')
    op.drop_table('blob_uploads')
    op.drop_table('blobs')
    op.drop_index('ix_attachments_sha256', table_name='attachments')
    op.drop_index('ix_attachments_message_id', table_name='attachments')
    op.drop_index('ix_attachments_ticket_id', table_name='attachments')
    op.drop_table('attachments')
