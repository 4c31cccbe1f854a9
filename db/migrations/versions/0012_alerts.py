"""alerts: rules, state, outbox, attempts, weekly report runs (issue 16)

`alert_rules`: an operator's choices per rule (enabled, threshold, channel names; never a URL).
`alert_states`: per condition key, open / resolved / event and since when.
`alert_outbox`: one message per channel, claimed in a transaction before sending and marked sent
right after (attempts, next attempt, claim, sent time, error, rate-limit folding).
`alert_attempts`: every delivery attempt, failures included. `report_runs`: one weekly report per
audience and ISO week.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('alert_rules',
    sa.Column('rule_id', sa.String(length=48), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('threshold', sa.String(length=64), nullable=False),
    sa.Column('channels', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('rule_id')
    )
    op.create_table('alert_states',
    sa.Column('rule_id', sa.String(length=48), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=1024), nullable=False),
    sa.PrimaryKeyConstraint('rule_id', 'key')
    )
    op.create_index('ix_alert_states_status', 'alert_states', ['status'], unique=False)
    op.create_table('alert_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('rule_id', sa.String(length=48), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attachment', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('folded', sa.Boolean(), nullable=False),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_alert_outbox_due', 'alert_outbox', ['sent_at', 'next_attempt_at'], unique=False)
    op.create_index(
        'ix_alert_outbox_rule_created', 'alert_outbox', ['rule_id', 'channel', 'created_at'], unique=False
    )
    op.create_table('alert_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_alert_attempts_at', 'alert_attempts', ['at'], unique=False)
    op.create_index('ix_alert_attempts_outbox_id', 'alert_attempts', ['outbox_id'], unique=False)
    op.create_table('report_runs',
    sa.Column('audience', sa.String(length=64), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('audience', 'week')
    )


def downgrade() -> None:
    op.drop_table('report_runs')
    op.drop_index('ix_alert_attempts_outbox_id', table_name='alert_attempts')
    op.drop_index('ix_alert_attempts_at', table_name='alert_attempts')
    op.drop_table('alert_attempts')
    op.drop_index('ix_alert_outbox_rule_created', table_name='alert_outbox')
    op.drop_index('ix_alert_outbox_due', table_name='alert_outbox')
    op.drop_table('alert_outbox')
    op.drop_index('ix_alert_states_status', table_name='alert_states')
    op.drop_table('alert_states')
    op.drop_table('alert_rules')
