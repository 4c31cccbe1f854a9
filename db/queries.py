"""Read-side queries shared by pages and CLIs. Aggregates run in the database, never in pandas.

Queries that return model objects go through a short ORM Session on the caller's connection (a
plain Connection would return their columns instead)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from db.models import (
    CollectionRun,
    CollectionState,
    CollectRequest,
    GraphObject,
    SignIn,
    Tenant,
)

# Recorded beside the sources by the collectors after each full cycle (connectors.sources.POSTURE): a
# run over the data, not data. It is listed with the sources but never counts as the newest data.
POSTURE_SOURCE = "posture"


@dataclass(frozen=True)
class SourceStatus:
    tenant_id: str
    tenant_name: str
    source: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    last_rows: int
    age_seconds: float | None  # since last success
    fresh: bool
    failing: bool  # the latest attempt failed
    # A standing state instead of data ('not-licensed', 'consent-needed': collectors.states)
    standing: str | None = None
    standing_since: datetime | None = None
    standing_detail: str | None = None
    last_attempt_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") + "Z" if value else None

        return {
            "tenantId": self.tenant_id,
            "tenant": self.tenant_name,
            "source": self.source,
            "lastSuccess": iso(self.last_success_at),
            "lastErrorAt": iso(self.last_error_at),
            "lastError": self.last_error,
            "rows": self.last_rows,
            "ageSeconds": None if self.age_seconds is None else round(self.age_seconds),
            "fresh": self.fresh,
            "failing": self.failing,
            "standing": self.standing,
            "stateSince": iso(self.standing_since),
            "stateDetail": self.standing_detail,
            "lastAttempt": iso(self.last_attempt_at),
            "derived": self.source == POSTURE_SOURCE,
        }


def active_tenants(conn: Connection) -> list[Tenant]:
    """The MSP first, then clients by name."""
    with Session(conn) as session:
        return list(
            session.scalars(
                select(Tenant).where(Tenant.active).order_by((Tenant.role != "msp"), Tenant.display_name)
            )
        )


def source_status(
    conn: Connection, now: datetime, fresh_within_s: dict[str, float], default_fresh_s: float
) -> list[SourceStatus]:
    """Per active tenant and source: last success, last error, rows and freshness. The one reader of
    the collection state for people (the Collectors and Tenants pages, ``collectors status``, the
    wall's freshness tile); plain rows, no ORM objects, so the wall can afford it every period."""
    c = CollectionState
    rows = conn.execute(
        select(
            c.tenant_id,
            Tenant.display_name,
            c.source,
            c.last_success_at,
            c.last_error_at,
            c.last_error,
            c.last_rows,
            c.state,
            c.state_since,
            c.state_detail,
            c.last_attempt_at,
        )
        .join(Tenant, Tenant.tenant_id == c.tenant_id)
        .where(Tenant.active)
        .order_by((Tenant.role != "msp"), Tenant.display_name, c.source)
    )
    out = []
    for (
        tenant_id,
        name,
        source,
        success,
        error_at,
        error,
        last_rows,
        standing,
        since,
        detail,
        attempt,
    ) in rows:
        age = (now - success).total_seconds() if success else None
        limit = fresh_within_s.get(source, default_fresh_s)
        # A standing state (not licensed, consent needed) is not a failure: it is shown as itself.
        failing = not standing and bool(error_at and (success is None or error_at > success))
        # A source whose latest attempt failed is never fresh, however recent its last success.
        fresh = age is not None and age <= limit and not failing
        out.append(
            SourceStatus(
                tenant_id,
                name,
                source,
                success,
                error_at,
                error,
                last_rows,
                age,
                fresh,
                failing,
                standing,
                since,
                detail,
                attempt,
            )
        )
    return out


def collected_sources(conn: Connection) -> set[tuple[str, str]]:
    """(tenant, source) pairs that succeeded at least once."""
    rows = conn.execute(
        select(CollectionState.tenant_id, CollectionState.source).where(
            CollectionState.last_success_at.is_not(None)
        )
    )
    return {(tenant_id, source) for tenant_id, source in rows}


def failing_since(conn: Connection) -> dict[tuple[str, str], datetime]:
    """Per (tenant, source) whose latest runs failed: its first failed run after the last success (from
    the run history), so data is "stale since" the outage began, not since its latest retry."""
    state = CollectionState
    rows = conn.execute(
        select(CollectionRun.tenant_id, CollectionRun.source, func.min(CollectionRun.finished_at))
        .join(state, (state.tenant_id == CollectionRun.tenant_id) & (state.source == CollectionRun.source))
        .where(
            CollectionRun.status == "error",
            CollectionRun.finished_at.is_not(None),
            or_(state.last_success_at.is_(None), CollectionRun.finished_at > state.last_success_at),
        )
        .group_by(CollectionRun.tenant_id, CollectionRun.source)
    )
    return {(tenant_id, source): first for tenant_id, source, first in rows}


def signin_counts_by_tenant(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(SignIn.tenant_id, func.count()).group_by(SignIn.tenant_id)).all()
    return {tenant_id: count for tenant_id, count in rows}


def recent_errors(conn: Connection, since: datetime) -> list[tuple[Any, ...]]:
    """Failed runs since ``since`` by error text: (error, runs, tenants, sources, first, last, tenant
    names up to a few). One row per distinct text, so an outage of hundreds of runs is a few rows."""
    r = CollectionRun
    return conn.execute(
        select(
            r.error,
            func.count(),
            func.count(r.tenant_id.distinct()),
            func.count(r.source.distinct()),
            func.min(r.started_at),
            func.max(r.started_at),
            func.min(Tenant.display_name),
        )
        .join(Tenant, Tenant.tenant_id == r.tenant_id, isouter=True)
        .where(r.status == "error", r.started_at >= since)
        .group_by(r.error)
        .order_by(func.max(r.started_at).desc())
    ).all()


def graph_objects(conn: Connection, tenant_id: str, kind: str) -> list[Any]:
    rows = conn.execute(
        select(GraphObject.body)
        .where(GraphObject.tenant_id == tenant_id, GraphObject.kind == kind)
        .order_by(GraphObject.id)
    )
    return [orjson.loads(body) for (body,) in rows]


def latest_collection_at(conn: Connection) -> datetime | None:
    return conn.execute(select(func.max(CollectionState.last_success_at))).scalar()


def request_collection_now(conn: Connection, requested_by: str, now: datetime) -> None:
    """Queue a "collect now" request for the worker."""
    conn.execute(insert(CollectRequest).values(requested_at=now, requested_by=requested_by))


def pending_collect_request(conn: Connection) -> CollectRequest | None:
    with Session(conn) as session:
        return session.scalars(
            select(CollectRequest)
            .where(CollectRequest.done_at.is_(None))
            .order_by(CollectRequest.id.desc())
            .limit(1)
        ).first()


def tenant_objects(
    conn: Connection, tenant_ids: Iterable[str], kinds: Sequence[str]
) -> dict[tuple[str, str], list[Any]]:
    """Stored Graph/CIPP objects by (tenant, kind); a missing key means never collected."""
    out: dict[tuple[str, str], list[Any]] = {}
    ids = list(dict.fromkeys(tenant_ids))
    if not ids:
        return out
    rows = conn.execute(
        select(GraphObject.tenant_id, GraphObject.kind, GraphObject.body)
        .where(GraphObject.tenant_id.in_(ids), GraphObject.kind.in_(list(kinds)))
        .order_by(GraphObject.id)
    )
    for tenant_id, kind, body in rows:
        out.setdefault((tenant_id, kind), []).append(orjson.loads(body))
    return out
