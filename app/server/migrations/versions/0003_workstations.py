"""workstations are called workstations: client_devices and the device_id columns renamed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In place on both engines (SQLite >= 3.26 renames the references to a renamed table and
# column too), never a batch copy: the change log must keep its AUTOINCREMENT.
_TABLES = (('client_devices', 'workstations'),)
_COLUMNS = (('change_log', 'device_id', 'workstation_id'), ('mutation_results', 'device_id', 'workstation_id'))
# PostgreSQL keeps constraint names; they follow the naming convention of the new names.
_CONSTRAINTS = (
    ('workstations', 'pk_client_devices', 'pk_workstations'),
    ('workstations', 'fk_client_devices_agent_id_agents', 'fk_workstations_agent_id_agents'),
    ('mutation_results', 'fk_mutation_results_device_id_client_devices', 'fk_mutation_results_workstation_id_workstations'),
)


def upgrade() -> None:
    for old, new in _TABLES:
        op.execute(f'ALTER TABLE {old} RENAME TO {new}')
    for table, old, new in _COLUMNS:
        op.execute(f'ALTER TABLE {table} RENAME COLUMN {old} TO {new}')
    if op.get_bind().dialect.name == 'postgresql':
        for table, old, new in _CONSTRAINTS:
            op.execute(f'ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table, old, new in _CONSTRAINTS:
            op.execute(f'ALTER TABLE {table} RENAME CONSTRAINT {new} TO {old}')
    for table, old, new in _COLUMNS:
        op.execute(f'ALTER TABLE {table} RENAME COLUMN {new} TO {old}')
    for old, new in _TABLES:
        op.execute(f'ALTER TABLE {new} RENAME TO {old}')
