"""configuration change history (issue 16)

`object_versions`: one row per content version of a configuration object (CA policies, named
locations, security defaults, CIPP API clients and Azure configuration), NULL body for a deletion,
linked to the directory audit entry or Perimeter's own fix (audit_log) that produced it.
`directory_audits`: Graph auditLogs/directoryAudits entries of category Policy, per tenant.
`finding_transitions`: a finding's status changed between two posture evaluations, with the version
judged to have caused it. Objects collected before this revision get their first version at the
next collection (no history before it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 16:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('object_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('object_id', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.Column('directory_audit_id', sa.String(length=64), nullable=True),
    sa.Column('fix_audit_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'kind', 'object_id', 'version', name='uq_object_versions_object_version')
    )
    op.create_index('ix_object_versions_seen_at', 'object_versions', ['seen_at'], unique=False)
    op.create_index('ix_object_versions_tenant_seen', 'object_versions', ['tenant_id', 'seen_at'], unique=False)
    op.create_table('directory_audits',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('activity_at', sa.DateTime(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('activity', sa.String(length=256), nullable=False),
    sa.Column('operation_type', sa.String(length=32), nullable=False),
    sa.Column('result', sa.String(length=32), nullable=False),
    sa.Column('initiated_by', sa.String(length=256), nullable=False),
    sa.Column('initiated_by_type', sa.String(length=8), nullable=False),
    sa.Column('initiated_from_ip', sa.String(length=64), nullable=False),
    sa.Column('target_ids', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('ix_directory_audits_tenant_activity', 'directory_audits', ['tenant_id', 'activity_at'], unique=False)
    op.create_table('finding_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('check_id', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=512), nullable=False),
    sa.Column('subject_name', sa.String(length=512), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('cause_version_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_finding_transitions_at', 'finding_transitions', ['at'], unique=False)
    op.create_index('ix_finding_transitions_tenant_check', 'finding_transitions', ['tenant_id', 'check_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_finding_transitions_tenant_check', table_name='finding_transitions')
    op.drop_index('ix_finding_transitions_at', table_name='finding_transitions')
    op.drop_table('finding_transitions')
    op.drop_index('ix_directory_audits_tenant_activity', table_name='directory_audits')
    op.drop_table('directory_audits')
    op.drop_index('ix_object_versions_tenant_seen', table_name='object_versions')
    op.drop_index('ix_object_versions_seen_at', table_name='object_versions')
    op.drop_table('object_versions')
