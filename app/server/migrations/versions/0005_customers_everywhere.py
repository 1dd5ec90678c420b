"""workspace settings (the phone region); a phone number may be shared by customers; indexes
for finding any customer by name, organization, number or address

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = '0005'
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_PHONE = sa.text("kind != 'phone'")


def upgrade() -> None:
    op.create_table(
        'workspace_settings',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_settings')),
    )
    # An email address or a handle keeps one owner; a phone number may have several (a family
    # landline, an office switchboard).  SQLite drops a constraint by copying the table.
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_constraint('uq_customer_identities_kind_value', type_='unique')
        batch_op.create_index(
            'ix_customer_identities_one_owner',
            ['kind', 'value'],
            unique=True,
            sqlite_where=NOT_PHONE,
            postgresql_where=NOT_PHONE,
        )
        batch_op.create_index('ix_customer_identities_value', ['value'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_name'), ['name'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_customers_organization_id'), ['organization_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_organization_id'))
        batch_op.drop_index(batch_op.f('ix_customers_name'))
    # Shared numbers cannot go back under a unique rule: all but their first owner lose them.
    op.execute(
        "DELETE FROM customer_identities WHERE kind = 'phone' AND id NOT IN ("
        " SELECT min(id) FROM customer_identities WHERE kind = 'phone' GROUP BY value)"
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_identities_value')
        batch_op.drop_index('ix_customer_identities_one_owner')
        batch_op.create_unique_constraint('uq_customer_identities_kind_value', ['kind', 'value'])
    op.drop_table('workspace_settings')
