"""users and addresses of failed sign-ins for searches, and indexes by user and address (issue 17)

A search for part of a UPN, an address or a CIDR walked the window's failed sign-ins in
`ix_signins_failed` (10 M sign-ins, a month: 0.2-0.5 s, for each of the page's queries when it matched
more than a few thousand). `signin_search_values` keeps each tenant's failing users (kind 'u') and
addresses (kind 'i') once, with the last time one failed: a search is matched against these few rows,
and its sign-ins are read through two partial indexes of failed sign-ins, by user and by address.
Backfilled from the stored failed sign-ins (the ingest keeps it from now on: db.signin_index).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FAILED = 'error_code != 0'
INDEXES = {'ix_signins_failed_user': 'user_principal_name', 'ix_signins_failed_ip': 'ip_address'}
KINDS = {'u': 'user_principal_name', 'i': 'ip_address'}


def _backfill(conn: sa.Connection) -> None:
    """The users and addresses of the stored failed sign-ins, each with its newest failure (replacing
    any): what ingest keeps for them (db.signin_index.failure_rows at this revision)."""
    conn.exec_driver_sql('DELETE FROM signin_search_values')
    for kind, column in KINDS.items():
        # `error_code != 0` literally: the failed sign-ins' partial index answers it
        conn.exec_driver_sql(
            f"INSERT INTO signin_search_values (kind, tenant_id, value, last_seen) "
            f"SELECT '{kind}', tenant_id, substr({column}, 1, 256), max(created_at) FROM signins "
            f"WHERE {FAILED} AND {column} != '' GROUP BY tenant_id, substr({column}, 1, 256)"
        )


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    op.create_table(
        'signin_search_values',
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=256), nullable=False),
        # signins.created_at's type (db.models.SigninTime): text on SQLite, copied as it is below
        sa.Column('last_seen', sa.String() if sqlite else sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'tenant_id', 'value'),
        sqlite_with_rowid=False,
    )
    _backfill(bind)
    for name, column in INDEXES.items():
        op.create_index(
            name,
            'signins',
            [column, 'created_at'],
            sqlite_where=sa.text(FAILED),
            postgresql_where=sa.text(FAILED),
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='signins')
    op.drop_table('signin_search_values')
