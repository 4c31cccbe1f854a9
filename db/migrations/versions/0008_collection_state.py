"""collection state besides ok / failing

A client tenant without Entra ID P1 answers 403 on sign-ins and registration details for good, and a
tenant where the app was never consented refuses the token: standing states of a source, not errors.
`state` holds 'not-licensed' or 'consent-needed' (NULL otherwise), with since when and the answer's
text. Existing rows keep NULL: their next collection sets it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('collection_state') as batch:
        batch.add_column(sa.Column('state', sa.String(length=24), nullable=True))
        batch.add_column(sa.Column('state_since', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('state_detail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('collection_state') as batch:
        batch.drop_column('state_detail')
        batch.drop_column('state_since')
        batch.drop_column('state')
