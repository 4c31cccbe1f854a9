"""sign-ins' raw JSON compressed: zstd dictionaries (issue 17)

`signin_dictionaries`: the zstd dictionaries trained on the database's sign-ins, under the id each
frame names (db.signin_raw). `signins.raw` holds zstd frames from now on: bytea on PostgreSQL (old
rows become the bytes of their text); on SQLite the column keeps its TEXT declaration (changing it
rebuilds the table) and takes blobs beside the old rows' text. Old rows are read as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 20:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('signin_dictionaries',
    sa.Column('dict_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('trained_at', sa.DateTime(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('dict_id')
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE signins ALTER COLUMN raw TYPE bytea USING convert_to(raw, 'UTF8')")


def downgrade() -> None:
    # Compressed rows cannot go back to text without their dictionaries: refuse rather than lose them.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM signin_dictionaries")).scalar():
        raise RuntimeError("sign-ins are stored compressed; a downgrade would make them unreadable")
    op.drop_table('signin_dictionaries')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE signins ALTER COLUMN raw TYPE text USING convert_from(raw, 'UTF8')")
