"""signin_rollups clustered on its key (SQLite WITHOUT ROWID)

Every read of the counters (timelines, top values, filter options, the wall) walks a range of the
primary key and needs ``label`` and ``count`` too: stored in the key's own B-tree, that is one walk
instead of a key walk plus a row look-up per counter (bench/queries.py), and ingest updates one B-tree
instead of two. PostgreSQL has no clustered tables: nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:15:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ('grain', 'dim', 'bucket', 'tenant_id', 'value', 'label', 'count')


def _rebuild(with_rowid: bool) -> None:
    op.create_table('signin_rollups_rebuilt',
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('dim', sa.String(length=8), nullable=False),
    sa.Column('bucket', sa.DateTime(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('label', sa.String(length=256), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('grain', 'dim', 'bucket', 'tenant_id', 'value'),
    sqlite_with_rowid=with_rowid,
    )
    old = sa.table('signin_rollups', *(sa.column(c) for c in COLUMNS))
    new = sa.table('signin_rollups_rebuilt', *(sa.column(c) for c in COLUMNS))
    op.execute(sa.insert(new).from_select(list(COLUMNS), sa.select(*old.c)))
    op.drop_table('signin_rollups')
    op.rename_table('signin_rollups_rebuilt', 'signin_rollups')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild(with_rowid=True)
