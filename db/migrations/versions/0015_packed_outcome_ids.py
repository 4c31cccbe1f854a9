"""policy outcomes' sign-in ids packed (issue 17)

`signin_policy_outcomes.packed_ids`: the ids of a postings row as 16 bytes each when they are all
canonical GUIDs (Graph's sign-in ids; `signin_ids` is then ''), instead of 37 characters each.
Rows written before keep their space-separated ids (packed_ids NULL); both are read
(db.signin_index.unpack_ids).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 20:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('signin_policy_outcomes', sa.Column('packed_ids', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Unpack first: a row's ids must not be lost with the column.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT tenant_id, policy_id, result, hour, first_id, packed_ids FROM signin_policy_outcomes "
        "WHERE packed_ids IS NOT NULL"
    )).all()
    for tenant_id, policy_id, result, hour, first_id, packed in rows:
        hexed = bytes(packed).hex()
        ids = " ".join(
            f"{hexed[i:i + 8]}-{hexed[i + 8:i + 12]}-{hexed[i + 12:i + 16]}-{hexed[i + 16:i + 20]}-{hexed[i + 20:i + 32]}"
            for i in range(0, len(hexed), 32)
        )
        bind.execute(
            sa.text(
                "UPDATE signin_policy_outcomes SET signin_ids = :ids WHERE tenant_id = :t AND policy_id = :p "
                "AND result = :r AND hour = :h AND first_id = :f"
            ),
            {"ids": ids, "t": tenant_id, "p": policy_id, "r": result, "h": hour, "f": first_id},
        )
    with op.batch_alter_table('signin_policy_outcomes') as batch:
        batch.drop_column('packed_ids')
