"""customers and tickets can be merged: merged_into names the record that survived

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place on both engines (a nullable column with no default): no batch copy.
    op.add_column('customers', sa.Column('merged_into', sa.String(length=36), nullable=True))
    op.add_column('tickets', sa.Column('merged_into', sa.String(length=36), nullable=True))


def downgrade() -> None:
    # In place too (SQLite 3.35+ drops a column with no constraint on it).  Never a batch copy:
    # dropping the old customers table would cascade to their identities and unlink tickets.
    op.drop_column('tickets', 'merged_into')
    op.drop_column('customers', 'merged_into')
