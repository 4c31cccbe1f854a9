"""SQLAlchemy 2.x models. Sign-ins keep the columns pages filter on beside the raw Graph JSON;
everything else Graph or CIPP returns is kept as raw JSON documents (the snapshot's shapes)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    """The MSP tenant (role 'msp') and every client tenant (role 'client')."""

    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    default_domain: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16), default="client")
    access_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Where we learned of it: 'settings', 'cipp', 'gdap'.
    discovered_from: Mapped[str] = mapped_column(String(16), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)


class GraphObject(Base):
    """One object as Graph or CIPP returned it, e.g. a CA policy of a tenant (kind 'caPolicy')."""

    __tablename__ = "graph_objects"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    object_id: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    collected_at: Mapped[datetime] = mapped_column(DateTime)


class SignIn(Base):
    __tablename__ = "signins"
    __table_args__ = (
        # Only what today's pages query: every index costs ingest speed (bench/ingest.py).
        Index("ix_signins_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    user_principal_name: Mapped[str] = mapped_column(String(256), default="")
    user_display_name: Mapped[str] = mapped_column(String(256), default="")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    app_display_name: Mapped[str] = mapped_column(String(256), default="")
    app_id: Mapped[str] = mapped_column(String(64), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(8), default="")
    city: Mapped[str] = mapped_column(String(128), default="")
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    conditional_access_status: Mapped[str] = mapped_column(String(32), default="")
    is_interactive: Mapped[bool] = mapped_column(Boolean, default=True)
    authentication_requirement: Mapped[str] = mapped_column(String(48), default="")
    cross_tenant_access_type: Mapped[str] = mapped_column(String(48), default="")
    home_tenant_id: Mapped[str] = mapped_column(String(64), default="")
    raw: Mapped[str] = mapped_column(Text)


class CollectionState(Base):
    """Per tenant and source: watermark and last outcome (what `collectors status` shows)."""

    __tablename__ = "collection_state"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(48), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_rows: Mapped[int] = mapped_column(Integer, default=0)


class CollectionRun(Base):
    """Every run of every source for every tenant, kept for `run_history_days`."""

    __tablename__ = "collection_runs"
    __table_args__ = (Index("ix_runs_tenant_source_started", "tenant_id", "source", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(String(40), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(48))
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # 'ok' | 'error'
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class CollectRequest(Base):
    """A "collect now" request from the dashboard, picked up by the worker."""

    __tablename__ = "collect_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    requested_by: Mapped[str] = mapped_column(String(256), default="")
    picked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)


class PostureEvaluation(Base):
    """One run of the posture engine over the collected data (after each full collection cycle)."""

    __tablename__ = "posture_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    collected_at: Mapped[datetime] = mapped_column(DateTime)
    findings: Mapped[int] = mapped_column(Integer, default=0)


class PostureFinding(Base):
    """The latest evaluation's raw findings (accepted risks are applied when read, so an acceptance
    shows at once)."""

    __tablename__ = "posture_findings"
    __table_args__ = (Index("ix_posture_findings_tenant_check", "tenant_id", "check_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(Integer, index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    check_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)  # the finding in the SPEC's JSON shape


class PostureDaily(Base):
    """Posture over time: per day, tenant and check, how many subjects had each status (the day's
    last evaluation, accepted risks applied). Kept for `posture_history_days` (≥ a year)."""

    __tablename__ = "posture_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    check_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    warned: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    not_applicable: Mapped[int] = mapped_column(Integer, default=0)


class AcceptedRiskRecord(Base):
    """An operator's acceptance of one finding (check + tenant + subject) with a reason and expiry."""

    __tablename__ = "accepted_risks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(512))
    subject_name: Mapped[str] = mapped_column(String(512), default="")
    reason: Mapped[str] = mapped_column(Text)
    accepted_by: Mapped[str] = mapped_column(String(256))
    accepted_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(256), nullable=True)


class AuditRecord(Base):
    """Append-only record of every change Perimeter made or refused (the fix engine writes these;
    nothing updates or deletes them). A rollback is a new record pointing at the one it undoes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(256))  # identity from the login (or CLI user)
    tenant_id: Mapped[str] = mapped_column(String(64))
    fix_id: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(512))
    target_name: Mapped[str] = mapped_column(String(512), default="")
    # 'applied' | 'verified-failed' | 'refused' | 'failed' | 'rolled-back'
    outcome: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[str] = mapped_column(Text, default="null")  # JSON
    after: Mapped[str] = mapped_column(Text, default="null")  # JSON
    requests: Mapped[str] = mapped_column(Text, default="[]")  # JSON: method, url, body, status
    rollback_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
