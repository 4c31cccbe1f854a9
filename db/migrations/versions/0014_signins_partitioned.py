"""signins partitioned by day on PostgreSQL (issue 17)

PostgreSQL only (SQLite keeps one table; retention deletes its rows): `signins` becomes a table
partitioned by RANGE on created_at, one partition a day, today and a week ahead, a DEFAULT partition,
and a partition for each day the existing rows fall on (they are moved in). Its primary key becomes
(id, created_at). What, why and the upkeep (partitions made ahead, whole days dropped by retention):
db/partitions.py.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 19:50:00

"""
from datetime import UTC, datetime
from typing import Sequence, Union

from alembic import op

from db.partitions import partition_signins, unpartition_signins


revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    partition_signins(op.get_bind(), datetime.now(UTC).replace(tzinfo=None))


def downgrade() -> None:
    unpartition_signins(op.get_bind())
