"""signin_rollups read from an index alone on PostgreSQL (issue 17)

SQLite keeps `signin_rollups` clustered on its key (0006), so a month's counters are one walk of one
B-tree. PostgreSQL has no clustered tables: each counter the key finds is fetched from the heap for its
label and count (10 M sign-ins: a month's counts of 300 tenants took 0.3-0.5 s). An index on the key
that INCLUDEs label and count lets those reads be index-only scans (heap pages autovacuum has marked
all-visible: all but the current hour's and day's). SQLite: nothing.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:20:00

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEX = 'ix_signin_rollups_covering'


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index(
            INDEX,
            'signin_rollups',
            ['grain', 'dim', 'bucket', 'tenant_id', 'value'],
            postgresql_include=['label', 'count'],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index(INDEX, table_name='signin_rollups')
