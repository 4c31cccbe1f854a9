"""what each posture evaluation rests on

An evaluation during an outage judges data collected before it: `data_up_to` is the oldest last
success among the collectable sources when it ran (all its data is at least that new) and
`sources_failing` how many sources were failing then. Earlier evaluations keep NULL (unknown).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('posture_evaluations') as batch:
        batch.add_column(sa.Column('data_up_to', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('sources_failing', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('posture_evaluations') as batch:
        batch.drop_column('sources_failing')
        batch.drop_column('data_up_to')
