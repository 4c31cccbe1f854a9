"""Fill a database with a month of a big MSP: 100 tenants × 30 days, over 2,000,000 sign-ins.

The data is the simulator's (simulator/), used as a library without HTTP: its demo MSP (1 MSP + 25
client tenants of varied size, policies, named locations, users, registration details, CIPP API
clients) is taken four times with four seeds — new people, addresses and sign-ins each time — and the
copies' client tenants get their own ids, names and domains. Sign-ins are generated minute by minute
(working hours, weekends, technicians, the CIPP service account, guests, leavers, password sprays,
evaluated against each tenant's Conditional Access) in worker processes and stored through the
collectors' own path, ``db.store.ingest_signin_page``, one page of up to 1,000 per transaction, so the
failed-sign-in index and rollups are built exactly as in production. Then the posture evaluation runs
once (findings, daily posture, MFA coverage); earlier days of MFA coverage are synthesised (a slow
upward trend) so the MFA page has a trend to draw, and so is a month of change history (the Changes page,
issue 16): a few changes per tenant per day to its policies and named locations, each a version with the
directory audit entry of the admin who made it (now and then Perimeter's own fix), and the finding
transitions some of them caused.

    python bench/seed.py data/bench.db [more databases] [--tenants 100] [--days 30] [--now 2026-11-22T12:00]
                         [--workers 2]

Given several databases (say a SQLite file and a PostgreSQL URL), it generates the sign-ins once and
stores each page into every one of them, so they hold the same month.

Prints progress, then the storage it takes (`bytes per sign-in`: the whole database ÷ sign-ins); the last
line reads `seeded: <sign-ins> sign-ins, <tenants> tenants in <s> s`.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, text, update

from bench.common import database_url
from collectors.evaluate import evaluate_and_store
from collectors.run import refresh_statistics
from connectors.sources import (
    CIPP_API_CLIENTS,
    CIPP_AZURE_CONFIGURATION,
    CIPP_TENANTS,
    SIGNINS,
    TENANT_SOURCES,
    TENANTS,
    needed_from,
)
from db import checkpoint_in_background, drain_checkpoints, open_database, write_transaction
from db.history import directory_audit_row
from db.models import (
    AuditRecord,
    DirectoryAudit,
    FindingTransition,
    MfaCoverageDaily,
    ObjectVersion,
    PostureEvaluation,
    SignIn,
)
from db.partitions import ensure_partitions
from db.queries import graph_objects as stored_objects
from db.rows import decode_signin_page
from db.signin_raw import maintain_dictionaries
from db.store import ingest_signin_page, record_run, replace_objects, upsert_tenant
from graphjson.times import utcnow
from investigate.diff import content_hash
from settings import load_settings

BASE_SEED = 7
COPY_SUFFIXES = ("", " East", " West", " North", " South", " Central", " Pacific", " Atlantic")
PAGE = 1000
CYCLE = "bench-seed"
CHANGES_PER_TENANT_DAY = 3  # configuration changes a day, on average, in each tenant
CHANGED_KINDS = ("conditionalAccessPolicies", "namedLocations")
FIX_SHARE = 0.05  # of the changes, made by Perimeter's own fix (an audit record)
MOVED_SHARE = 0.3  # of the changes, moving a finding (one transition each)


# --- the simulated MSP, copied ----------------------------------------------------------------------


def copy_tenant_id(tenant_id: str, copy: int) -> str:
    return (
        tenant_id if copy == 0 else str(uuid.uuid5(uuid.NAMESPACE_URL, f"perimeter-bench/{copy}/{tenant_id}"))
    )


def copy_domain(domain: str, copy: int) -> str:
    if copy == 0 or "." not in domain:
        return domain
    head, _, tail = domain.partition(".")
    return f"{head}{copy + 1}.{tail}"


def plan(tenants: int) -> list[tuple[int, str, str, str, str, str | None]]:
    """(copy, demo tenant id, tenant id, name, domain, access mode) for the MSP and ``tenants - 1``
    client tenants, taken copy by copy."""
    from simulator import demo

    out: list[tuple[int, str, str, str, str, str | None]] = [
        (0, demo.MSP_TENANT_ID, demo.MSP_TENANT_ID, demo.MSP_NAME, demo.MSP_DOMAIN, None)
    ]
    clients = demo.client_tenants()
    copy = 0
    while len(out) < tenants:
        for spec in clients:
            if len(out) >= tenants:
                break
            suffix = COPY_SUFFIXES[copy] if copy < len(COPY_SUFFIXES) else f" {copy + 1}"
            out.append(
                (
                    copy,
                    spec.tenant_id,
                    copy_tenant_id(spec.tenant_id, copy),
                    spec.display_name + suffix,
                    copy_domain(spec.default_domain, copy),
                    spec.access_mode,
                )
            )
        copy += 1
    return out


_states: dict[int, Any] = {}


def _state(copy: int, now: datetime) -> Any:
    from simulator.state import SimState

    state = _states.get(copy)
    if state is None:
        state = _states[copy] = SimState(BASE_SEED + copy, now)
        # Every minute is generated once here: the simulator's cache of recent minutes only costs memory.
        state.signins._cache_limit = 0
    return state


def _remap(body: bytes, demo_id: str, tenant_id: str, domains: list[tuple[str, str]]) -> bytes:
    if tenant_id != demo_id:
        body = body.replace(demo_id.encode(), tenant_id.encode())
    for old, new in domains:
        body = body.replace(f"@{old}".encode(), f"@{new}".encode())
    return body


def graph_objects(copy: int, demo_id: str, mode: str | None, now: datetime) -> dict[str, Any]:
    """Every source the collectors read from this tenant, as the simulator answers it (paged like Graph).
    A source the tenant refuses for want of a licence (no Entra ID P1: 403) is left out, as the
    collectors leave it."""
    from simulator import graph as sim_graph
    from simulator.graph_api import GraphError

    state = _state(copy, now)
    out: dict[str, Any] = {}
    role = "msp" if demo_id == _msp_id() else "client"
    for source in TENANT_SOURCES:
        if not needed_from(source, role, mode):
            continue
        handler, match = sim_graph.resolve("GET", source.path)  # type: ignore[misc]
        params = list(source.params.items())
        items: list[Any] = []
        token = None
        while True:
            request = sim_graph.Request(
                "GET",
                "v1.0",
                source.path,
                params + ([("$skiptoken", token)] if token else []),
                b"",
                demo_id,
                "http://bench.invalid",
                match,
            )
            try:
                result = handler(state, request)
            except GraphError as error:
                if error.status != 403:
                    raise
                items = None
                break
            if isinstance(result, sim_graph.Result):
                body = dict(result.body)
                body.pop("@odata.context", None)
                items = [body]
                break
            items += result.items
            token = result.next_token
            if token is None:
                break
        if items is not None:
            out[source.name] = items
    return out


def _msp_id() -> str:
    from simulator import demo

    return demo.MSP_TENANT_ID


def signin_pages(
    job: tuple[int, str, str, list[tuple[str, str]], datetime, int, int],
) -> tuple[str, list[bytes], int]:
    """(tenant id, Graph pages of sign-ins, sign-ins) for one tenant and day (runs in a worker process)."""
    copy, demo_id, tenant_id, domains, now, first_minute, minutes = job
    state = _state(copy, now)
    records: list[bytes] = []
    for minute in range(first_minute + minutes - 1, first_minute - 1, -1):  # newest first, as Graph
        records += [r.body for r in state.signins.bucket(demo_id, minute)]
    pages = [
        _remap(b'{"value":[' + b",".join(records[i : i + PAGE]) + b"]}", demo_id, tenant_id, domains)
        for i in range(0, len(records), PAGE)
    ]
    return tenant_id, pages, len(records)


# --- the database ---------------------------------------------------------------------------------


def store_configuration(
    engine: Any, tenants: list[tuple[int, str, str, str, str, str | None]], now: datetime
) -> None:
    from simulator import cipp as sim_cipp

    msp_id = _msp_id()
    cipp_rows = []
    for copy, demo_id, tenant_id, name, domain, mode in tenants:
        domains = _domains(copy, demo_id)
        objects = graph_objects(copy, demo_id, mode, now)
        with write_transaction(engine) as conn:
            upsert_tenant(
                conn,
                now,
                tenant_id=tenant_id,
                display_name=name,
                default_domain=domain,
                role="msp" if demo_id == msp_id else "client",
                access_mode=mode,
                discovered_from="settings" if demo_id == msp_id else "cipp",
            )
            for kind, items in objects.items():
                remapped = orjson.loads(_remap(orjson.dumps(items), demo_id, tenant_id, domains))
                _store(conn, tenant_id, kind, remapped, now)
        if demo_id != msp_id:
            row = next(r for r in sim_cipp.list_tenants(_state(copy, now)) if r.get("customerId") == demo_id)
            cipp_rows.append(
                orjson.loads(_remap(orjson.dumps(row), demo_id, tenant_id, domains))
                | {"displayName": name, "defaultDomainName": domain}
            )
    state = _state(0, now)
    with write_transaction(engine) as conn:
        clients = (sim_cipp.list_clients(state) or {}).get("Results", [])
        for kind, objects in (
            (CIPP_API_CLIENTS, clients),
            (CIPP_AZURE_CONFIGURATION, [sim_cipp.azure_configuration(state)["Results"]]),
            (CIPP_TENANTS, cipp_rows),
        ):
            _store(conn, msp_id, kind, objects, now)
        _record_ok(conn, msp_id, TENANTS, len(tenants), now)


def _store(conn: Any, tenant_id: str, kind: str, objects: list[Any], now: datetime) -> None:
    """One source's objects stored and recorded as collected at `now`."""
    _record_ok(conn, tenant_id, kind, replace_objects(conn, tenant_id, kind, objects, now), now)


def _record_ok(
    conn: Any, tenant_id: str, source: str, rows: int, now: datetime, watermark: datetime | None = None
) -> None:
    """A successful run of the seed's one collection cycle (started and finished at `now`)."""
    record_run(
        conn,
        cycle_id=CYCLE,
        tenant_id=tenant_id,
        source=source,
        started_at=now,
        finished_at=now,
        rows=rows,
        error=None,
        watermark=watermark,
    )


def _domains(copy: int, demo_id: str) -> list[tuple[str, str]]:
    from simulator import demo

    if copy == 0:
        return []
    spec = demo.client_by_id(demo_id)
    if spec is None:
        return []
    return [(spec.default_domain, copy_domain(spec.default_domain, copy))]


def jobs(
    tenants: list[tuple[int, str, str, str, str, str | None]], now: datetime, days: int
) -> Iterator[tuple[int, str, str, list[tuple[str, str]], datetime, int, int]]:
    end_minute = int(now.replace(tzinfo=UTC).timestamp() // 60)
    for day in range(days):
        first = end_minute - (day + 1) * 1440
        for copy, demo_id, tenant_id, _name, _domain, _mode in tenants:
            yield copy, demo_id, tenant_id, _domains(copy, demo_id), now, first, 1440


def synthesise_mfa_history(engine: Any, now: datetime, days: int) -> int:
    """Earlier days of MFA coverage: today's figures, a little lower the further back (seeded)."""
    rng = random.Random(BASE_SEED)
    today = now.date()
    with write_transaction(engine) as conn:
        latest = [
            dict(r._mapping)
            for r in conn.execute(select(MfaCoverageDaily).where(MfaCoverageDaily.day == today))
        ]
        conn.execute(delete(MfaCoverageDaily).where(MfaCoverageDaily.day < today))
        rows = []
        for back in range(1, days):
            day: date = today - timedelta(days=back)
            for row in latest:
                missing = row["enabled_members"] - row["mfa_capable"]
                gained = min(
                    missing + row["mfa_capable"],
                    round(row["enabled_members"] * 0.003 * back * rng.uniform(0.5, 1.5)),
                )
                rows.append(
                    {
                        **row,
                        "day": day,
                        "mfa_capable": max(0, row["mfa_capable"] - gained),
                        "mfa_registered": max(0, row["mfa_registered"] - gained),
                    }
                )
        if rows:
            conn.execute(insert(MfaCoverageDaily), rows)
    return len(rows)


def _mutate(rng: random.Random, kind: str, body: dict[str, Any], n: int) -> dict[str, Any]:
    """The next content of an object: a policy's state flips or its excluded users change, a named
    location's ranges change (each a real difference, as an admin's edit is)."""
    changed = orjson.loads(orjson.dumps(body))
    if kind == "namedLocations":  # a range added, or the last one added taken out again
        ranges = changed.setdefault("ipRanges", [])
        if ranges and str(ranges[-1].get("cidrAddress", "")).startswith("198.18.") and rng.random() < 0.5:
            ranges.pop()
        else:
            address = f"198.18.{n // 256 % 256}.{n % 256}/32"
            ranges.append({"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": address})
        return changed
    if rng.random() < 0.4:
        changed["state"] = (
            "enabled" if changed.get("state") != "enabled" else "enabledForReportingButNotEnforced"
        )
    else:
        users = (changed.setdefault("conditions", {}) or {}).setdefault("users", {}) or {}
        excluded = users.setdefault("excludeUsers", []) or []
        if excluded and rng.random() < 0.5:
            excluded.pop()
        else:
            excluded.append(str(uuid.UUID(int=rng.getrandbits(128))))
        users["excludeUsers"] = excluded
    return changed


def _audit_entry(
    tenant_id: str, kind: str, body: dict[str, Any], version: int, at: datetime, upn: str, ip: str
) -> dict[str, Any]:
    """A directoryAudit entry (Graph's shape) of an admin's update to one object (its ``version``)."""
    what = "conditional access policy" if kind == "conditionalAccessPolicies" else "named location"
    entry_id = uuid.uuid5(uuid.NAMESPACE_URL, "/".join((tenant_id, str(body.get("id")), str(version))))
    return {
        "id": f"IPCGraph_{entry_id}",
        "category": "Policy",
        "activityDisplayName": f"Update {what}",
        "activityDateTime": at.isoformat() + "Z",
        "loggedByService": "Conditional Access",
        "operationType": "Update",
        "result": "success",
        "initiatedBy": {
            "user": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, upn)),
                "userPrincipalName": upn,
                "ipAddress": ip,
            }
        },
        "targetResources": [{"id": body.get("id"), "displayName": body.get("displayName"), "type": "Policy"}],
    }


def synthesise_change_history(
    engine: Any, tenants: list[tuple[int, str, str, str, str, str | None]], now: datetime, days: int
) -> int:
    """A month of changes (seeded): each tenant's stored policies and named locations become its baseline
    (first collected ``days`` ago), then about CHANGES_PER_TENANT_DAY changes a day, each a new version
    linked to the directory audit entry of the tenant's admin who made it (FIX_SHARE of them to an
    audit record of Perimeter's fix instead), and MOVED_SHARE of them a finding transition naming it as
    cause. Written directly (the collectors' path would need a collection per change); the versions'
    bodies are real objects, changed. Returns how many changes."""
    rng = random.Random(BASE_SEED)
    start = now - timedelta(days=days)
    with write_transaction(engine) as conn:
        conn.execute(update(ObjectVersion).values(seen_at=start))  # the seed's one collection: the baseline
        evaluation_id = conn.execute(select(func.max(PostureEvaluation.id))).scalar() or 0
    changes = 0
    for _copy, _demo, tenant_id, _name, domain, _mode in tenants:
        with write_transaction(engine) as conn:
            objects = [
                (kind, body)
                for kind in CHANGED_KINDS
                for body in stored_objects(conn, tenant_id, kind)
                if body.get("id")
            ]
        if not objects:
            continue
        latest = {(kind, body["id"]): (1, body) for kind, body in objects}
        upn, ip = f"admin@{domain}", f"203.0.113.{rng.randrange(1, 255)}"
        versions: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        fixes: list[tuple[int, dict[str, Any]]] = []  # (index in versions, audit record)
        moved: list[tuple[int, dict[str, Any]]] = []  # (index in versions, transition)
        moments = sorted(
            start + timedelta(minutes=rng.randrange(1, days * 1440))
            for _ in range(
                rng.randint(days * CHANGES_PER_TENANT_DAY // 2, days * CHANGES_PER_TENANT_DAY * 3 // 2)
            )
        )
        for seen_at in moments:
            kind, body = rng.choice(objects)
            version, current = latest[(kind, body["id"])]
            after = _mutate(rng, kind, current, len(versions))
            latest[(kind, body["id"])] = (version + 1, after)
            made_at = seen_at - timedelta(minutes=rng.randrange(1, 5))
            row = {
                "tenant_id": tenant_id,
                "kind": kind,
                "object_id": body["id"],
                "version": version + 1,
                "body": orjson.dumps(after).decode(),
                "content_hash": content_hash(after),
                "seen_at": seen_at,
                "directory_audit_id": None,
                "fix_audit_id": None,
            }
            if rng.random() < FIX_SHARE:
                fixes.append(
                    (
                        len(versions),
                        {
                            "at": made_at,
                            "actor": "tech@northwindmsp.onmicrosoft.com",
                            "tenant_id": tenant_id,
                            "fix_id": "client-policy.exclude-service-provider",
                            "target_type": "policy",
                            "target_id": body["id"],
                            "target_name": str(body.get("displayName", "")),
                            "outcome": "applied",
                            "message": "bench seed",
                            "before": orjson.dumps(current).decode(),
                            "after": orjson.dumps(after).decode(),
                        },
                    )
                )
            else:
                audit = directory_audit_row(
                    tenant_id, _audit_entry(tenant_id, kind, after, version + 1, made_at, upn, ip)
                )
                if audit is not None:
                    audits.append(audit)
                    row["directory_audit_id"] = audit["id"]
            if rng.random() < MOVED_SHARE:
                regressed = rng.random() < 0.5
                finding = {
                    "check": "D-1",
                    "tenantId": tenant_id,
                    "status": "fail" if regressed else "pass",
                    "severity": "critical",
                    "subject": {"type": "policy", "id": body["id"], "name": str(body.get("displayName", ""))},
                    "message": "bench seed",
                    "evidence": {},
                    "fix": None,
                }
                moved.append(
                    (
                        len(versions),
                        {
                            "evaluation_id": evaluation_id,
                            "at": seen_at + timedelta(minutes=1),
                            "tenant_id": tenant_id,
                            "check_id": "D-1",
                            "subject_type": "policy",
                            "subject_id": body["id"],
                            "subject_name": finding["subject"]["name"][:512],
                            "severity": "critical",
                            "from_status": "pass" if regressed else "fail",
                            "to_status": finding["status"],
                            "body": orjson.dumps(finding).decode(),
                        },
                    )
                )
            versions.append(row)
        with write_transaction(engine) as conn:
            if audits:
                conn.execute(insert(DirectoryAudit), audits)
            for index, record in fixes:
                versions[index]["fix_audit_id"] = conn.execute(
                    insert(AuditRecord).values(**record)
                ).inserted_primary_key[0]
            ids = [
                conn.execute(insert(ObjectVersion).values(**row)).inserted_primary_key[0] for row in versions
            ]
            if moved:
                conn.execute(
                    insert(FindingTransition), [{**t, "cause_version_id": ids[index]} for index, t in moved]
                )
        changes += len(versions)
    return changes


def stored_size(engine: Any) -> tuple[int, int]:
    """(sign-ins stored, bytes the whole database takes): SQLite's file after a full checkpoint (so the
    WAL is in it), PostgreSQL's pg_database_size."""
    drain_checkpoints(engine)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(SignIn)).scalar() or 0
        if engine.dialect.name != "sqlite":
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
            return int(stored), int(size or 0)
    engine.dispose()  # no connection left reading: the checkpoint can empty the WAL
    path = Path(engine.url.database or "")
    with closing(sqlite3.connect(path)) as plain:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int(stored), path.stat().st_size


def finish(
    url: str,
    engine: Any,
    tenants: list[tuple[int, str, str, str, str, str | None]],
    now: datetime,
    days: int,
    newest: dict[str, datetime],
    started: float,
) -> None:
    """What follows the sign-ins: each tenant's sign-in watermark recorded, statistics, the posture
    evaluation, MFA and change history, and the storage printed."""
    with write_transaction(engine) as conn:
        for _copy, _demo, tenant_id, *_ in tenants:
            _record_ok(conn, tenant_id, SIGNINS, 0, now, watermark=newest.get(tenant_id))
    refresh_statistics(engine, lambda: now)  # PostgreSQL: as the worker's retention job leaves them
    summary = evaluate_and_store(load_settings(database_url=url), engine, now)
    history = synthesise_mfa_history(engine, now, days)
    changed = synthesise_change_history(engine, tenants, now, days)
    print(
        f"  {url}: {changed:,} configuration changes in {days} days ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    print(
        f"  posture evaluated: {summary['findings']} findings, {summary['failing']} failing; "
        f"{history} days×tenants of MFA history ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    stored, size = stored_size(engine)
    print(
        f"  storage: {size / 1e6:,.0f} MB for {stored:,} sign-ins = "
        f"{size / max(stored, 1):,.0f} bytes per sign-in ({engine.dialect.name}: the whole database, "
        "indexes, rollups and history included; goal <= 1,200)",
        flush=True,
    )


def newest_signins(
    engine: Any, tenants: list[tuple[int, str, str, str, str, str | None]]
) -> dict[str, datetime]:
    """Each tenant's newest stored sign-in (one index look-up each)."""
    with engine.connect() as conn:
        found = {
            tenant_id: conn.execute(
                select(func.max(SignIn.created_at)).where(SignIn.tenant_id == tenant_id)
            ).scalar()
            for _copy, _demo, tenant_id, *_ in tenants
        }
    return {tenant_id: at for tenant_id, at in found.items() if at is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "databases",
        nargs="+",
        metavar="database",
        help="SQLite file (or a SQLAlchemy URL); several: the same sign-ins, generated once, into each",
    )
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--now", help="end of the month, naive UTC ISO (default: now)")
    parser.add_argument("--workers", type=int, default=2, help="sign-in generator processes")
    parser.add_argument(
        "--finish",
        action="store_true",
        help="only what follows the sign-ins (posture, histories, storage), on databases holding them "
        "(a seed stopped after its sign-ins; same --tenants, --days and --now)",
    )
    args = parser.parse_args()
    if args.tenants < 1 or not 1 <= args.days <= 30:
        parser.error("--tenants must be at least 1 and --days between 1 and 30 (retention)")
    for database in args.databases:
        if "://" not in database and Path(database).exists() != args.finish:
            parser.error(f"{database} " + ("does not exist" if args.finish else "exists: seed a new file"))
    if args.finish and not args.now:
        parser.error("--finish needs the seed's --now")
    urls = [database_url(database) for database in args.databases]
    now = (datetime.fromisoformat(args.now) if args.now else datetime.now(UTC).replace(tzinfo=None)).replace(
        second=0, microsecond=0
    )
    started = time.monotonic()
    engines = [open_database(url) for url in urls]
    tenants = plan(args.tenants)
    if args.finish:
        for url, engine in zip(urls, engines, strict=True):
            finish(url, engine, tenants, now, args.days, newest_signins(engine, tenants), started)
        print(f"finished: {len(tenants)} tenants in {time.monotonic() - started:.0f} s")
        return 0
    for url, engine in zip(urls, engines, strict=True):
        checkpoint_in_background(engine)  # as the collectors do
        with write_transaction(engine) as conn:  # PostgreSQL: a partition for each seeded day (db.partitions)
            ensure_partitions(conn, now - timedelta(days=args.days), ahead=args.days + 1)
        print(
            f"seeding {url}: {len(tenants)} tenants × {args.days} days up to {now:%Y-%m-%d %H:%M} UTC",
            flush=True,
        )
        store_configuration(engine, tenants, now)
    print(f"  configuration stored ({time.monotonic() - started:.0f} s)", flush=True)

    total = pages = 0
    newest: dict[str, datetime] = {}
    work = iter(list(jobs(tenants, now, args.days)))
    count_jobs = len(tenants) * args.days
    report_every = max(1, count_jobs // 20)
    # The first page's dictionary fits one tenant; once every tenant has a day (a first full collection
    # cycle, before the worker's first 6-hourly retention job), one is trained on them all.
    retrain_after = len(tenants)
    workers = max(1, args.workers)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # A few jobs ahead of the writer, no more: generated pages wait in memory until stored.
        pending = deque(pool.submit(signin_pages, job) for job in islice(work, workers * 2))
        done = 0
        while pending:
            tenant_id, bodies, count = pending.popleft().result()
            following = next(work, None)
            if following is not None:
                pending.append(pool.submit(signin_pages, following))
            for body in bodies:
                signins = decode_signin_page(body).value
                for engine in engines:
                    _stored, _skipped, page_newest = ingest_signin_page(engine, tenant_id, signins)
                pages += 1
                if page_newest is not None and page_newest > newest.get(tenant_id, datetime.min):
                    newest[tenant_id] = page_newest
            total += count
            done += 1
            if done == retrain_after:  # the worker's retention job, 6-hourly, does this in production
                for engine in engines:
                    with write_transaction(engine) as conn:
                        maintain_dictionaries(conn, utcnow(), now - timedelta(days=args.days))
            if done % report_every == 0 or done == count_jobs:
                elapsed = time.monotonic() - started
                print(
                    f"  {done}/{count_jobs} tenant-days, {total:,} sign-ins in {pages:,} pages "
                    f"({elapsed:.0f} s, {total / max(elapsed, 1e-9):,.0f}/s overall)",
                    flush=True,
                )

    for url, engine in zip(urls, engines, strict=True):
        finish(url, engine, tenants, now, args.days, newest, started)
    print(f"seeded: {total:,} sign-ins, {len(tenants)} tenants in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
