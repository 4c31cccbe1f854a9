"""Read-side queries shared by pages and CLIs. Aggregates run in the database, never in pandas.

Queries that return model objects go through a short ORM Session on the caller's connection (a
plain Connection would return their columns instead)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from db.models import CollectionRun, CollectionState, CollectRequest, GraphObject, SignIn, Tenant


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

        return {"tenantId": self.tenant_id, "tenant": self.tenant_name, "source": self.source,
                "lastSuccess": iso(self.last_success_at), "lastErrorAt": iso(self.last_error_at),
                "lastError": self.last_error, "rows": self.last_rows,
                "ageSeconds": None if self.age_seconds is None else round(self.age_seconds),
                "fresh": self.fresh, "failing": self.failing, "standing": self.standing,
                "stateSince": iso(self.standing_since), "stateDetail": self.standing_detail,
                "lastAttempt": iso(self.last_attempt_at)}


def active_tenants(conn: Connection) -> list[Tenant]:
    """The MSP first, then clients by name."""
    with Session(conn) as session:
        return list(session.scalars(select(Tenant).where(Tenant.active)
                                    .order_by((Tenant.role != "msp"), Tenant.display_name)))


def source_status(conn: Connection, now: datetime, fresh_within_s: dict[str, float],
                  default_fresh_s: float) -> list[SourceStatus]:
    """Per active tenant and source: last success, last error, rows and freshness."""
    with Session(conn) as session:
        rows = session.execute(
            select(CollectionState, Tenant.display_name)
            .join(Tenant, Tenant.tenant_id == CollectionState.tenant_id)
            .where(Tenant.active)
            .order_by((Tenant.role != "msp"), Tenant.display_name, CollectionState.source)
        ).all()
    out = []
    for state, name in rows:
        age = (now - state.last_success_at).total_seconds() if state.last_success_at else None
        limit = fresh_within_s.get(state.source, default_fresh_s)
        # A standing state (not licensed, consent needed) is not a failure: it is shown as itself.
        failing = not state.state and bool(state.last_error_at and (
            state.last_success_at is None or state.last_error_at > state.last_success_at))
        out.append(SourceStatus(state.tenant_id, name, state.source, state.last_success_at,
                                state.last_error_at, state.last_error, state.last_rows, age,
                                age is not None and age <= limit, failing, state.state,
                                state.state_since, state.state_detail, state.last_attempt_at))
    return out


def signin_counts_by_tenant(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(SignIn.tenant_id, func.count()).group_by(SignIn.tenant_id)).all()
    return {tenant_id: count for tenant_id, count in rows}


def recent_runs(conn: Connection, limit: int = 200) -> list[CollectionRun]:
    with Session(conn) as session:
        return list(session.scalars(select(CollectionRun).order_by(CollectionRun.id.desc())
                                    .limit(limit)))


def recent_errors(conn: Connection, since: datetime, limit: int = 100) -> list[tuple[Any, ...]]:
    return conn.execute(
        select(CollectionRun.started_at, Tenant.display_name, CollectionRun.source, CollectionRun.error)
        .join(Tenant, Tenant.tenant_id == CollectionRun.tenant_id, isouter=True)
        .where(CollectionRun.status == "error", CollectionRun.started_at >= since)
        .order_by(CollectionRun.id.desc()).limit(limit)).all()


def graph_objects(conn: Connection, tenant_id: str, kind: str) -> list[Any]:
    rows = conn.execute(select(GraphObject.body).where(
        GraphObject.tenant_id == tenant_id, GraphObject.kind == kind).order_by(GraphObject.id))
    return [orjson.loads(body) for (body,) in rows]


def latest_collection_at(conn: Connection) -> datetime | None:
    return conn.execute(select(func.max(CollectionState.last_success_at))).scalar()


def request_collection_now(conn: Connection, requested_by: str, now: datetime) -> None:
    """Queue a "collect now" request for the worker."""
    conn.execute(insert(CollectRequest).values(requested_at=now, requested_by=requested_by))


def pending_collect_request(conn: Connection) -> CollectRequest | None:
    with Session(conn) as session:
        return session.scalars(select(CollectRequest).where(CollectRequest.done_at.is_(None))
                               .order_by(CollectRequest.id.desc()).limit(1)).first()
