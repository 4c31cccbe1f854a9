"""every sign-in's Conditional Access policy outcomes

Each policy's result for every stored sign-in (success too), so a report-only policy's would-be
blocks (reportOnlyFailure, reportOnlyInterrupted) can be found by tenant, policy, result and time
and joined to the sign-in's user, app and IP. Postings: one row per tenant, policy, result, hour and
ingested page with the sign-ins' ids (db.models.SignInPolicyOutcome). Sign-ins stored before this
revision have no outcomes (the report-only evidence starts with the next collection).
`signin_would_block` keeps the report-only would-be blocks with the columns the impact reads.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('signin_policy_outcomes',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=32), nullable=False),
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('first_id', sa.String(length=64), nullable=False),
    sa.Column('signin_ids', sa.Text(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'policy_id', 'result', 'hour', 'first_id')
    )
    op.create_table('signin_would_block',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('signin_id', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=32), nullable=False),
    sa.Column('user_principal_name', sa.String(length=256), nullable=False),
    sa.Column('app_display_name', sa.String(length=256), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=8), nullable=False),
    sa.Column('cross_tenant_access_type', sa.String(length=64), nullable=False),
    sa.Column('home_tenant_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'policy_id', 'created_at', 'signin_id'),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('signin_would_block')
    op.drop_table('signin_policy_outcomes')
