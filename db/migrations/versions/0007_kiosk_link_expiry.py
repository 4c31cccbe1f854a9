"""kiosk links expire

A kiosk link is a bearer token on a screen in a shared room: it gets an end of validity chosen by the
operator who creates it. Links made before this revision keep none (NULL: valid until revoked).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('kiosk_links') as batch:
        batch.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kiosk_links') as batch:
        batch.drop_column('expires_at')
