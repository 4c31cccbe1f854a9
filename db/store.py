"""Writes of collected data: idempotent, in the caller's transaction (see db.engine.write_transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from db.engine import write_transaction
from db.history import record_versions
from db.models import CollectionRun, CollectionState, GraphObject, SignIn, Tenant
from db.rows import SigninJson, cyclic_gc_paused, object_id
from db.signin_index import policy_outcome_tenants, purge_before, purge_outcomes_before, tenants_of
from db.signin_ingest import store_signins
from db.signin_raw import maintain_dictionaries
from graphjson.times import utcnow


def ingest_signin_page(
    engine: Engine, tenant_id: str, signins: list[SigninJson]
) -> tuple[int, int, datetime | None]:
    """The collectors' sign-in path: one page (db.rows.decode_signin_page's ``value``), one committed
    transaction."""
    with cyclic_gc_paused(), write_transaction(engine) as conn:
        return store_signins(conn, tenant_id, signins)


def replace_objects(
    conn: Connection, tenant_id: str, kind: str, objects: Iterable[Any], collected_at: datetime
) -> int:
    """Replace a tenant's whole set of one kind (deleted policies must disappear too). A configuration
    kind also gets a new version of each object whose content changed (db.history.record_versions)."""
    conn.execute(delete(GraphObject).where(GraphObject.tenant_id == tenant_id, GraphObject.kind == kind))
    rows = []
    seen: dict[str, Any] = {}
    for obj in objects:
        if isinstance(obj, dict):
            oid = object_id(kind, obj)
        else:  # CIPP can put a stray string beside its objects: keep it, the snapshot is verbatim
            oid = f"{kind}:{json.dumps(obj)}"
        if oid in seen:
            continue
        seen[oid] = obj
        rows.append(
            {
                "tenant_id": tenant_id,
                "kind": kind,
                "object_id": oid,
                "body": json.dumps(obj, separators=(",", ":")),
                "collected_at": collected_at,
            }
        )
    if rows:
        conn.execute(insert(GraphObject), rows)
    record_versions(conn, tenant_id, kind, seen, collected_at)
    return len(rows)


def upsert_tenant(conn: Connection, now: datetime, **values: Any) -> None:
    tenant_id = values["tenant_id"]
    existing = conn.execute(select(Tenant.tenant_id).where(Tenant.tenant_id == tenant_id)).first()
    if existing:
        conn.execute(
            update(Tenant)
            .where(Tenant.tenant_id == tenant_id)
            .values(last_seen_at=now, active=True, **values)
        )
    else:
        conn.execute(insert(Tenant).values(first_seen_at=now, last_seen_at=now, active=True, **values))


def mark_missing_tenants_inactive(conn: Connection, seen_ids: set[str]) -> None:
    """Tenants no longer listed (offboarded) stay in history but stop being collected."""
    if seen_ids:
        conn.execute(update(Tenant).where(Tenant.tenant_id.not_in(seen_ids)).values(active=False))


def record_run(
    conn: Connection,
    *,
    cycle_id: str,
    tenant_id: str,
    source: str,
    started_at: datetime,
    finished_at: datetime,
    rows: int,
    error: str | None,
    watermark: datetime | None = None,
    state: str | None = None,
) -> None:
    """Record one run and fold it into the per-(tenant, source) state.

    With ``state`` ('not-licensed', 'consent-needed': collectors.states) ``error`` is the service's
    answer, kept as the state's detail: the run is that state, not an error, and the last success
    and last error stay what they were."""
    status = state or ("error" if error else "ok")
    conn.execute(
        insert(CollectionRun).values(
            cycle_id=cycle_id,
            tenant_id=tenant_id,
            source=source,
            started_at=started_at,
            finished_at=finished_at,
            status=status,
            rows=rows,
            error=error,
        )
    )
    values: dict[str, Any] = {"last_attempt_at": finished_at}
    previous = conn.execute(
        select(CollectionState.state, CollectionState.state_since).where(
            CollectionState.tenant_id == tenant_id, CollectionState.source == source
        )
    ).first()
    if state:
        since = previous.state_since if previous and previous.state == state else None
        values.update(state=state, state_since=since or finished_at, state_detail=error)
    else:
        values.update(state=None, state_since=None, state_detail=None)
        if error:
            values.update(last_error=error, last_error_at=finished_at)
        else:
            values.update(last_success_at=finished_at, last_rows=rows)
    if watermark is not None:
        values["watermark"] = watermark
    if previous is not None:
        conn.execute(
            update(CollectionState)
            .where(CollectionState.tenant_id == tenant_id, CollectionState.source == source)
            .values(**values)
        )
    else:
        conn.execute(insert(CollectionState).values(tenant_id=tenant_id, source=source, **values))


def signin_watermark(conn: Connection, tenant_id: str) -> datetime | None:
    return source_watermark(conn, tenant_id, "signIns")


def source_watermark(conn: Connection, tenant_id: str, source: str) -> datetime | None:
    """How far an incremental source (sign-ins, directory audits) has been read for a tenant."""
    row = conn.execute(
        select(CollectionState.watermark).where(
            CollectionState.tenant_id == tenant_id, CollectionState.source == source
        )
    ).first()
    return row[0] if row else None


def signin_tenant_ids(conn: Connection) -> list[str]:
    """The tenants with sign-ins stored (an index seek each: db.signin_index.tenants_of)."""
    return tenants_of(conn, SignIn.tenant_id)


def purge_signins_before(conn: Connection, cutoff: datetime, tenants: Sequence[str] | None = None) -> int:
    """Retention of sign-ins alone: those older than ``cutoff`` with their blocks and counters (any
    earlier cut leaves a consistent database, so a big purge can go a slice per transaction), found
    tenant by tenant through the (tenant, time) index; ``tenants``: those with sign-ins stored (looked
    up here when not given: a sliced purge looks them up once). Returns how many."""
    if tenants is None:
        tenants = signin_tenant_ids(conn)
    purge_before(conn, cutoff, tenants)
    statement = delete(SignIn).where(SignIn.tenant_id.in_(tenants), SignIn.created_at < cutoff)
    return conn.execute(statement).rowcount or 0


def oldest_signin_at(conn: Connection) -> datetime | None:
    """When the oldest stored sign-in was made: one look-up per tenant in the (tenant, time) index
    (a plain min() reads the whole index: ~7 s for 10 M sign-ins)."""
    oldest_per_tenant = (
        select(func.min(SignIn.created_at))
        .where(SignIn.tenant_id == Tenant.tenant_id)
        .correlate(Tenant)
        .scalar_subquery()
    )
    statement = select(func.min(oldest_per_tenant, type_=SignIn.created_at.type)).select_from(Tenant)
    return conn.execute(statement).scalar()


def purge_older_than(conn: Connection, signins_before: datetime, runs_before: datetime) -> dict[str, int]:
    """Retention in one transaction: sign-ins and their policy outcomes past their keep period, run
    records past theirs (collectors.run.purge does the same in short transactions)."""
    signins = purge_signins_before(conn, signins_before)
    for tenant_id in policy_outcome_tenants(conn):
        purge_outcomes_before(conn, tenant_id, signins_before)
    return {"signins": signins, **purge_runs_and_dictionaries(conn, signins_before, runs_before)}


def purge_runs_and_dictionaries(
    conn: Connection, signins_before: datetime, runs_before: datetime
) -> dict[str, int]:
    """Retention of run records before ``runs_before``, and of the compression dictionaries no sign-in
    kept (those before ``signins_before``) uses."""
    runs = conn.execute(delete(CollectionRun).where(CollectionRun.started_at < runs_before)).rowcount
    dictionaries = maintain_dictionaries(conn, utcnow(), signins_before)
    return {"runs": runs or 0, **dictionaries}
