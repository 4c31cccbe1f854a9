"""SQLAlchemy 2.x models. Sign-ins keep the columns pages filter on beside the raw Graph JSON;
everything else Graph or CIPP returns is kept as raw JSON documents (the snapshot's shapes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
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


# Failed sign-ins only (a tenth of them): what the investigation and wall filter and group on.
SIGNIN_FAILED_WHERE = "error_code != 0"


class SigninTime(TypeDecorator):
    """``signins.created_at``: one text form on SQLite for what is written and what it is compared with.

    The ingest path hands datetimes to the driver, which writes '2026-11-21 10:00:00' (a fraction
    only when there is one); SQLAlchemy's own SQLite form always has '.000000', which sorts after it,
    so ``created_at >= 10:00:00`` would miss the 10:00:00 row. This type binds every value (inserts and
    the bounds of every query on the column) as the driver writes it. Elsewhere a plain timestamp.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else DateTime())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ")

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value


class SigninRaw(TypeDecorator):
    """``signins.raw``: the sign-in's JSON, a zstd frame (db.signin_raw) or, for rows written before
    compression, its text. Bytes on PostgreSQL (bytea); on SQLite the column keeps its first declared
    type (TEXT: changing it rebuilds the table) and holds blobs, read back as bytes, and old text."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # SQLite: no bind or result processing (a plain Text passes bytes and str through as they are;
        # LargeBinary's would fail on an old row's text).
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else LargeBinary())


class SignIn(Base):
    __tablename__ = "signins"
    __table_args__ = (
        # Only what the pages query: every index costs ingest speed (bench/ingest.py).
        Index("ix_signins_tenant_created", "tenant_id", "created_at"),
        # Partial and covering: the failed sign-ins' filter columns, so the investigation reads this
        # narrow index instead of 3 KB rows, and only failed sign-ins pay for it at ingest. Queries must
        # say `error_code != 0` literally (db.signin_index.FAILED) for the planners to use it.
        Index(
            "ix_signins_failed",
            "tenant_id",
            "created_at",
            "error_code",
            "user_principal_name",
            "app_display_name",
            "ip_address",
            "country",
            "city",
            "is_interactive",
            "cross_tenant_access_type",
            "home_tenant_id",
            "id",
            sqlite_where=text(SIGNIN_FAILED_WHERE),
            postgresql_where=text(SIGNIN_FAILED_WHERE),
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(SigninTime)
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
    raw: Mapped[bytes] = mapped_column(SigninRaw)  # read with db.signin_raw.raw_json


class SignInDictionary(Base):
    """The zstd dictionaries sign-ins are compressed with (db.signin_raw), under the id zstd writes in
    each frame: every stored sign-in names the one it needs."""

    __tablename__ = "signin_dictionaries"

    dict_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trained_at: Mapped[datetime] = mapped_column(DateTime)
    samples: Mapped[int] = mapped_column(Integer)  # sign-ins it was trained on
    body: Mapped[bytes] = mapped_column(LargeBinary)


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
    # A service's standing answer that is neither data nor an outage (collectors.states):
    # 'not-licensed' (no Entra ID P1 for this source) or 'consent-needed' (the app is not consented in
    # the tenant). NULL when the latest attempt succeeded or failed. Since when, and the answer's text.
    state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    state_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    state_detail: Mapped[str | None] = mapped_column(Text, nullable=True)


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
    status: Mapped[str] = mapped_column(String(16))  # 'ok' | 'error' | 'not-licensed' | 'consent-needed'
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
    # What it rests on (migration 0009): the oldest last success of a collectable source, and how many
    # sources were failing; NULL for evaluations made before they were recorded.
    data_up_to: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sources_failing: Mapped[int | None] = mapped_column(Integer, nullable=True)


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


class SignInBlock(Base):
    """The Conditional Access policy that blocked a failed sign-in (the one whose grant explains the error
    code: investigate.explain.primary_blocking_policy), for filtering and counting by policy without
    reading the sign-in's JSON. Written with the sign-in (db.signin_index)."""

    __tablename__ = "signin_blocks"
    # Looked up by sign-in id (counting by policy): on SQLite one B-tree descent instead of two, the row
    # living in the primary key. A policy filter starts from the policy's own sign-ins in the window.
    __table_args__ = (
        Index("ix_signin_blocks_policy_created", "policy_id", "created_at"),
        {"sqlite_with_rowid": False},
    )

    signin_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    policy_id: Mapped[str] = mapped_column(String(64))
    policy_name: Mapped[str] = mapped_column(String(256), default="")


class SignInPolicyOutcome(Base):
    """Each Conditional Access policy's result for every stored sign-in (success too), e.g.
    ``reportOnlyFailure``: what a report-only policy would have done (investigate.impact). Written
    with the sign-ins (db.signin_index.index_outcomes); deleted by retention with them.

    Kept compactly as postings: one row per tenant, policy, result, hour and ingested page, holding the
    ids of the sign-ins with that result (space-separated). A page of 1,000 sign-ins under 20 policies
    writes a few dozen rows instead of 20,000 (bench/ingest.py). User, app, IP, country and the exact
    time are the sign-in's own columns, read by id (db.policy_outcomes)."""

    __tablename__ = "signin_policy_outcomes"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # As Graph wrote it (success, failure, notApplied, notEnabled, reportOnlySuccess,
    # reportOnlyFailure, reportOnlyInterrupted, reportOnlyNotApplied, or any other value).
    result: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime, primary_key=True)  # the sign-ins' hour (UTC)
    first_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the smallest id: a page's row
    # The ids space-separated, or '' when they are all canonical GUIDs (Graph's sign-in ids): then
    # packed_ids holds them as 16 bytes each, in order (db.signin_index.pack_ids: 16 B an id, not 37).
    signin_ids: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    packed_ids: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, default=None)


class SignInWouldBlock(Base):
    """A sign-in a report-only policy would have blocked or interrupted (its reportOnlyFailure or
    reportOnlyInterrupted outcome) with the sign-in's columns the impact reads, so the Report-only
    impact page and the switch-on fixes walk one key range instead of looking each sign-in up (a few
    in a hundred outcomes: bench/queries.py). Written with the outcomes (db.signin_index)."""

    __tablename__ = "signin_would_block"
    __table_args__ = {"sqlite_with_rowid": False}

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    signin_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[str] = mapped_column(String(32))
    user_principal_name: Mapped[str] = mapped_column(String(256), default="")
    app_display_name: Mapped[str] = mapped_column(String(256), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(8), default="")
    cross_tenant_access_type: Mapped[str] = mapped_column(String(64), default="")
    home_tenant_id: Mapped[str] = mapped_column(String(64), default="")


class SignInPlace(Base):
    """Coordinates of the places failed sign-ins came from (the map), one row per country and city."""

    __tablename__ = "signin_places"

    country: Mapped[str] = mapped_column(String(8), primary_key=True)
    city: Mapped[str] = mapped_column(String(128), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)


class SignInRollup(Base):
    """Failed sign-ins counted per time bucket, tenant and one dimension (error code, blocking policy,
    app, country, place), by the collector in the ingest transaction (only sign-ins stored for the
    first time are counted). Pages read these for whole buckets and the partial index for the ragged
    edges of a time range. Grains and dimensions: db.signin_index.ROLLUP_DIMS."""

    __tablename__ = "signin_rollups"
    # Every read walks a key range and wants label and count: SQLite keeps the table clustered on its
    # key (migration 0006); PostgreSQL reads them from a covering index (migration 0017).
    __table_args__ = (
        Index(
            "ix_signin_rollups_covering",
            "grain",
            "dim",
            "bucket",
            "tenant_id",
            "value",
            postgresql_include=["label", "count"],
        ).ddl_if(dialect="postgresql"),
        # Which values a dimension has had (the filters' choices): one seek per value instead of a walk
        # of every counter of the window (migration 0018). Not partial on the daily counters (37 MB instead
        # of 80 at 10 M sign-ins): PostgreSQL then leaves the implied grain out of the index condition and
        # walks the index for each next value (filter choices 26-38 -> 411 ms), and without grain leading
        # SQLite's planner walks the key for the correlated EXISTS.
        Index("ix_signin_rollups_values", "grain", "dim", "value", "tenant_id", "bucket"),
        {"sqlite_with_rowid": False},
    )

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)  # db.signin_index.ROLLUP_DIMS
    bucket: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), primary_key=True)
    label: Mapped[str] = mapped_column(String(256), default="")  # e.g. the policy's name
    count: Mapped[int] = mapped_column(Integer, default=0)


class MfaCoverageDaily(Base):
    """MFA coverage of each tenant per day (the day's last posture evaluation; collectors/evaluate.py),
    for the MFA page's coverage, methods and trend without re-reading every registration detail."""

    __tablename__ = "mfa_coverage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled_members: Mapped[int] = mapped_column(Integer, default=0)
    mfa_capable: Mapped[int] = mapped_column(Integer, default=0)
    mfa_registered: Mapped[int] = mapped_column(Integer, default=0)
    admins: Mapped[int] = mapped_column(Integer, default=0)
    admins_capable: Mapped[int] = mapped_column(Integer, default=0)
    # 'securityDefaults' | 'conditionalAccess' | 'none' | 'unknown' (from MFA-3)
    enforcement: Mapped[str] = mapped_column(String(24), default="unknown")
    enforcement_detail: Mapped[str] = mapped_column(Text, default="")
    methods: Mapped[str] = mapped_column(Text, default="{}")  # JSON: method -> enabled members


class KioskLink(Base):
    """A revocable read-only link for an unattended wall screen: its holder is a Viewer of the wall
    page only. Only the token's SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "kiosk_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: until revoked


class SignInTopValue(Base):
    """The most frequent IPs and users among failed sign-ins of all tenants over the last 7 and 30 days,
    computed by the collector after each full cycle (db.signin_aggregates.compute_rankings). Distinct IPs
    and users are nearly as many as failed sign-ins (password sprays), so no counter makes the month's
    ranking cheap: the investigation page shows this one, saying as of when."""

    __tablename__ = "signin_top_values"

    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    dim: Mapped[str] = mapped_column(String(8), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    label: Mapped[str] = mapped_column(String(256), default="")
    count: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    window_end: Mapped[datetime] = mapped_column(DateTime)
    tenants: Mapped[int] = mapped_column(Integer)  # how many active tenants it covers


# --- change history (issue 16)


class ObjectVersion(Base):
    """One content version of a configuration object (a CA policy, a named location, security defaults,
    a CIPP API client or CIPP's Azure configuration), written by db.store.replace_objects only when the
    content differs from the object's latest version. body NULL: the object was gone in this version.
    Who made it: the directory audit entry or Perimeter's own fix (audit_log) that produced it."""

    __tablename__ = "object_versions"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "kind", "object_id", "version", name="uq_object_versions_object_version"
        ),
        Index("ix_object_versions_seen_at", "seen_at"),
        Index("ix_object_versions_tenant_seen", "tenant_id", "seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(48))  # = graph_objects.kind
    object_id: Mapped[str] = mapped_column(String(256))  # = graph_objects.object_id
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per object
    body: Mapped[str | None] = mapped_column(Text, nullable=True)  # the JSON as collected; NULL: deleted
    # Of the content without volatile fields (modifiedDateTime, @odata.*): a re-collection is no change.
    content_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime)  # the collection that first saw it (naive UTC)
    directory_audit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fix_audit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # audit_log.id


class DirectoryAudit(Base):
    """A Graph auditLogs/directoryAudits entry of category Policy (who changed a CA policy or named
    location, from where), kept for `posture_history_days`."""

    __tablename__ = "directory_audits"
    __table_args__ = (Index("ix_directory_audits_tenant_activity", "tenant_id", "activity_at"),)

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    activity_at: Mapped[datetime] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(String(64), default="")
    activity: Mapped[str] = mapped_column(String(256), default="")  # activityDisplayName
    operation_type: Mapped[str] = mapped_column(String(32), default="")
    result: Mapped[str] = mapped_column(String(32), default="")
    initiated_by: Mapped[str] = mapped_column(String(256), default="")  # the user's UPN or the app's name
    initiated_by_type: Mapped[str] = mapped_column(String(8), default="")  # 'user' | 'app'
    initiated_from_ip: Mapped[str] = mapped_column(String(64), default="")  # '' when none
    target_ids: Mapped[str] = mapped_column(Text, default="")  # space-separated lower-case ids
    body: Mapped[str] = mapped_column(Text)  # the entry's JSON as sent


class FindingTransition(Base):
    """A finding's status changed between two posture evaluations ('new' before: it did not exist;
    'gone' after: it no longer exists), with the configuration version judged to have caused it."""

    __tablename__ = "finding_transitions"
    __table_args__ = (
        Index("ix_finding_transitions_at", "at"),
        Index("ix_finding_transitions_tenant_check", "tenant_id", "check_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)  # the evaluation's evaluated_at
    tenant_id: Mapped[str] = mapped_column(String(64))
    check_id: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[str] = mapped_column(String(512), default="")
    subject_name: Mapped[str] = mapped_column(String(512), default="")
    severity: Mapped[str] = mapped_column(String(16), default="")
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)  # the finding's JSON after (before when gone)
    cause_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # object_versions.id


# --- alerts (issue 16)


class AlertRuleConfig(Base):
    """An operator's choices for one alert rule (alerts.rules.RULES): on or off, its threshold, and the
    channels it goes to, by name (channel URLs are secrets: never stored). No row: the rule's defaults."""

    __tablename__ = "alert_rules"

    rule_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    threshold: Mapped[str] = mapped_column(String(64), default="")  # '' : the rule's default
    channels: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of channel names; [] : all
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(256), default="")


class AlertState(Base):
    """One alert (a rule's condition key): open while its condition holds, resolved when it cleared, or
    an event (a sign-in, a change) that fires once and has nothing to resolve."""

    __tablename__ = "alert_states"
    __table_args__ = (Index("ix_alert_states_status", "status"),)

    rule_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)  # the condition key beyond the rule
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))  # 'open' | 'resolved' | 'event'
    since: Mapped[datetime] = mapped_column(DateTime)  # when the condition started holding
    opened_at: Mapped[datetime] = mapped_column(DateTime)  # the evaluation that saw it first
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    title: Mapped[str] = mapped_column(String(512), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(1024), default="")


class AlertOutbox(Base):
    """One message for one channel (by name), from queueing to sent: delivered once by claiming the row
    in a transaction before sending and marking it sent right after (alerts.delivery). Rows with a
    sent_at are the history of what was sent; error holds the latest failure (redacted)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        Index("ix_alert_outbox_due", "sent_at", "next_attempt_at"),
        Index("ix_alert_outbox_rule_created", "rule_id", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # 'firing' | 'resolved' | 'digest' | 'report' | 'test'
    kind: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str] = mapped_column(String(48), default="")
    key: Mapped[str] = mapped_column(String(512), default="")
    channel: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), default="")
    title: Mapped[str] = mapped_column(String(512), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    attachment: Mapped[str | None] = mapped_column(Text, nullable=True)  # a self-contained HTML report
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Rate-limited: held for the rule's next digest (folded=True), then the digest's id.
    folded: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AlertAttempt(Base):
    """Every delivery attempt of an outbox row, failures included (the Alerts page's history)."""

    __tablename__ = "alert_attempts"
    __table_args__ = (Index("ix_alert_attempts_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    channel: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReportRun(Base):
    """A weekly report queued for one audience ('msp' or a client tenant id) and ISO week: the key that
    makes it once per week per audience, whatever the worker's restarts."""

    __tablename__ = "report_runs"

    audience: Mapped[str] = mapped_column(String(64), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # '2026-W48'
    queued_at: Mapped[datetime] = mapped_column(DateTime)
