"""change-log rows written before the log named its writer no longer claim a workstation

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002 as first written back-filled every past row with origin 'workstation' and left it as
    # the column's default.  A workstation's change always names its workstation, so a
    # 'workstation' row without one is such a back-filled row (the command line's or a seed's):
    # it is 'unknown', as 0002 now labels it.  In place, never a batch copy (AUTOINCREMENT).
    op.execute("UPDATE change_log SET origin = 'unknown' WHERE origin = 'workstation' AND workstation_id IS NULL")
    # Every new row names its writer: on PostgreSQL one that forgets to must fail, not be
    # labelled.  (SQLite cannot drop a column's default in place; the writers always set it.)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE change_log ALTER COLUMN origin DROP DEFAULT')


def downgrade() -> None:
    # The labels are corrected, not changed: 0003's schema reads them as they are.
    pass
