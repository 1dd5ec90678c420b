"""one write path: the change log names its writer; server writers' idempotency keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('submission_keys',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_submission_keys'))
    )
    # Not in batch mode: SQLite adds a column in place, whereas a batch copy of the change log
    # would lose its AUTOINCREMENT (seqs must never be handed out twice).  SQLite does not
    # enforce VARCHAR lengths, so only PostgreSQL widens actor_id (server actors' names).
    # Past rows did not record their writer: those with a device came from a workstation, the
    # others are 'unknown' (the command line's or a seed's: nothing says which).  Every new row
    # names its writer; PostgreSQL keeps no default, so a row that forgets to fails (SQLite
    # cannot drop a column's default in place: there a forgotten one reads 'unknown').
    # (As first released, this labelled every past row 'workstation'; 0004 repairs those stores.)
    op.add_column('change_log', sa.Column('origin', sa.String(length=40), nullable=False, server_default='unknown'))
    op.execute("UPDATE change_log SET origin = 'workstation' WHERE device_id IS NOT NULL")
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('change_log', 'origin', existing_type=sa.String(length=40), server_default=None, existing_nullable=False)
        op.alter_column('change_log', 'actor_id', existing_type=sa.String(length=36), type_=sa.String(length=64), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('change_log', 'actor_id', existing_type=sa.String(length=64), type_=sa.String(length=36), existing_nullable=True)
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE change_log DROP COLUMN origin')  # in place, as above
    else:
        op.drop_column('change_log', 'origin')
    op.drop_table('submission_keys')
