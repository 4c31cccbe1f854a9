"""Retention at size: the oldest day of a seeded database (bench/seed.py) purged as the worker purges it
(collectors.run.purge: PostgreSQL's day partitions dropped, each in a short transaction; then the
sign-ins a quarter of an hour per transaction and their policy outcomes a tenant per transaction), while the
dashboard and the collectors carry on.

Two load processes start first and run throughout: one refreshes the wall (every data function of
bench/scenarios.py's WALL rows, all tenants then one, a fresh connection per refresh as a page render),
the other writes as the collectors do (db.store.ingest_signin_page: a page of a few new sign-ins every
0.1 s). After ``--before`` seconds of that, the purge runs in this process with a clock set so that the
cut falls ``--hours`` after the oldest sign-in (``--midnight``: rounded down to a day's start, the cut
that drops whole PostgreSQL partitions and deletes no rows one by one); ``--after`` seconds later the
load stops and the figures are printed: how long the purge took and the longest any of its write
transactions held the write lock (collectors.run.PURGE_SLICE of sign-ins per transaction), the
longest a write waited while it ran, and the wall refresh's p50/p95/max before and during it.

    python bench/purge.py data/bench.db [--hours 24] [--midnight] [--before 20] [--after 5]

Run it on a copy of a seeded SQLite file (it deletes that day). The last line reads
``purge: <rows> sign-ins in <s> s; longest write lock <s> s; longest write wait <s> s; wall p95 <ms> ms
before, <ms> ms during``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

import collectors.run
from bench.common import database_url
from bench.scenarios import SCENARIOS, WALL, Bench, Case, percentile
from collectors.run import purge
from collectors.status import fresh_limits
from db import open_database
from db.models import CollectionState, SignIn, Tenant
from db.rows import decode_signin_page
from db.signin_raw import raw_json
from db.store import ingest_signin_page
from settings import load_settings

WRITE_EVERY = 0.1  # seconds between the collectors' pages
WRITE_SIGNINS = 5  # sign-ins in each page


@dataclass
class Timings:
    """(start, end) of each operation on the system-wide monotonic clock, and the failures."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    errors: list[tuple[float, float, str]] = field(default_factory=list)


def wall_load(url: str, now: datetime, tenants: list[str], stop: Any, out: Any) -> None:
    """Refresh the wall (all tenants, then one: its rotation) until ``stop`` is set."""
    engine = open_database(url)
    settings = load_settings(database_url=url)
    fresh = fresh_limits(settings)
    wall = [s for s in SCENARIOS if s.page == WALL]
    msp, account = settings.msp_tenant_id, settings.service_account_upn
    big = tenants[1] if len(tenants) > 1 else tenants[0]
    timings = Timings()
    while not stop.is_set():
        for label, chosen in (("all tenants", tenants), ("one tenant", [big])):
            started = time.monotonic()
            try:
                with engine.connect() as conn:
                    bench = Bench(conn, now, tenants, big, msp, account, fresh, [])
                    case = Case(label, tenants=chosen)
                    for scenario in wall:
                        scenario.run(bench, case)
                timings.spans.append((started, time.monotonic()))
            except Exception as error:  # a refresh that fails is a figure, not the end of the bench
                timings.errors.append((started, time.monotonic(), str(error).splitlines()[0]))
    out.put(("wall", timings))


def write_load(url: str, tenant_id: str, stop: Any, out: Any) -> None:
    """Store a page of WRITE_SIGNINS new sign-ins (copies of stored ones, new ids, created now) every
    WRITE_EVERY seconds through the collectors' path until ``stop`` is set."""
    engine = open_database(url)
    with engine.connect() as conn:
        stored = conn.execute(
            select(SignIn.raw)
            .where(SignIn.tenant_id == tenant_id)
            .order_by(SignIn.created_at.desc())
            .limit(WRITE_SIGNINS)
        ).scalars()
        templates = [orjson.loads(raw_json(conn, raw)) for raw in stored]
    timings = Timings()
    while not stop.is_set():
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        page = orjson.dumps(
            {"value": [t | {"id": str(uuid.uuid4()), "createdDateTime": created} for t in templates]}
        )
        started = time.monotonic()
        try:
            ingest_signin_page(engine, tenant_id, decode_signin_page(page).value)
            timings.spans.append((started, time.monotonic()))
        except Exception as error:  # SQLite's busy timeout running out is what this bench looks for
            timings.errors.append((started, time.monotonic(), str(error).splitlines()[0]))
        time.sleep(WRITE_EVERY)
    out.put(("write", timings))


def overlapping(spans: list[tuple[float, float]], start: float, end: float) -> list[float]:
    """Milliseconds of the operations that ran at some point between start and end."""
    return [(e - s) * 1000 for s, e in spans if s < end and e > start]


def within(spans: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [(e - s) * 1000 for s, e in spans if s >= start and e <= end]


def summary(times: list[float]) -> str:
    if not times:
        return "none"
    return (
        f"{len(times)} runs, p50 {statistics.median(times):,.0f} ms, p95 {percentile(times, 95):,.0f} ms, "
        f"max {max(times):,.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a database made by bench/seed.py (a copy: SQLite file or URL)")
    parser.add_argument("--hours", type=float, default=24, help="the cut, after the oldest sign-in")
    parser.add_argument("--midnight", action="store_true", help="the cut rounded down to a day's start")
    parser.add_argument("--before", type=float, default=20, help="seconds of load before the purge")
    parser.add_argument("--after", type=float, default=5, help="seconds of load after it")
    args = parser.parse_args()
    if "://" not in args.database and not os.path.exists(args.database):
        parser.error(f"{args.database} does not exist: seed one with bench/seed.py (and copy it)")
    url = database_url(args.database)
    engine = open_database(url)
    settings = load_settings(database_url=url)
    with engine.connect() as conn:
        oldest = conn.execute(select(func.min(SignIn.created_at))).scalar()
        now = conn.execute(select(func.max(CollectionState.last_success_at))).scalar()
        tenants = list(
            conn.execute(
                select(Tenant.tenant_id)
                .where(Tenant.active)
                .order_by(Tenant.role != "msp", Tenant.display_name)
            ).scalars()
        )
    if oldest is None or now is None or not tenants:
        parser.error(f"{args.database} has no sign-ins: seed it with bench/seed.py")
    cut = oldest + timedelta(hours=args.hours)
    if args.midnight:
        cut = cut.replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        doomed = conn.execute(
            select(func.count()).select_from(SignIn).where(SignIn.created_at < cut)
        ).scalar()
    print(
        f"database: {url} ({engine.dialect.name})\n  oldest sign-in {oldest:%Y-%m-%d %H:%M}, cut at "
        f"{cut:%Y-%m-%d %H:%M}: {doomed:,} sign-ins to purge; {len(tenants)} tenants",
        flush=True,
    )
    engine.dispose()  # the load processes open their own

    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    loads = [
        context.Process(target=wall_load, args=(url, now, tenants, stop, out)),
        context.Process(
            target=write_load, args=(url, tenants[1] if len(tenants) > 1 else tenants[0], stop, out)
        ),
    ]
    for process in loads:
        process.start()
    time.sleep(args.before)
    print(f"  load running ({args.before:.0f} s): purging, as the worker does", flush=True)
    # The worker's clock, set so that its cut (now - retention_days) falls on ours.
    clock_now = cut + timedelta(days=settings.retention_days)
    held: list[float] = []  # each write transaction of the purge: how long it held the write lock
    real_transaction = collectors.run.write_transaction

    @contextmanager
    def timed_transaction(engine: Any) -> Iterator[Any]:
        with real_transaction(engine) as conn:
            started = time.monotonic()
            yield conn
        held.append(time.monotonic() - started)

    collectors.run.write_transaction = timed_transaction  # type: ignore[assignment]
    purge_start = time.monotonic()
    try:
        counts = purge(settings, engine, clock=lambda: clock_now)
    finally:
        collectors.run.write_transaction = real_transaction  # type: ignore[assignment]
    purge_end = time.monotonic()
    print(f"  purged in {purge_end - purge_start:.1f} s: {counts}", flush=True)
    time.sleep(args.after)
    stop.set()
    results: dict[str, Timings] = {}
    for _ in loads:
        name, timings = out.get(timeout=300)
        results[name] = timings
    for process in loads:
        process.join()

    wall, write = results["wall"], results["write"]
    first = min([s for s, _ in wall.spans + write.spans], default=purge_start)
    wall_before = within(wall.spans, first, purge_start)
    wall_during = overlapping(wall.spans, purge_start, purge_end)
    writes_before = within(write.spans, first, purge_start)
    writes_during = overlapping(write.spans, purge_start, purge_end)
    failed_during = [(e - s, m) for s, e, m in write.errors if s < purge_end and e > purge_start]
    longest_wait = max([w / 1000 for w in writes_during] + [w for w, _ in failed_during], default=0.0)
    print(
        f"\nthe purge: {purge_end - purge_start:.1f} s in {len(held)} write transactions, "
        f"the longest holding the write lock {max(held, default=0):.1f} s"
    )
    print("  each, in order (s): " + " ".join(f"{h:.1f}" for h in held))
    print(f"writes (a page of {WRITE_SIGNINS} sign-ins every {WRITE_EVERY} s)")
    print(f"  before the purge: {summary(writes_before)}")
    print(f"  during it:        {summary(writes_during)}")
    for waited, message in failed_during:
        print(f"  failed after {waited:.1f} s: {message}")
    print("wall refreshes (every WALL function, all tenants or one)")
    print(f"  before the purge: {summary(wall_before)}")
    print(f"  during it:        {summary(wall_during)}")
    for s, e, message in wall.errors:
        print(f"  failed after {e - s:.1f} s: {message}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    p95_before = percentile(wall_before, 95) if wall_before else 0.0
    p95_during = percentile(wall_during, 95) if wall_during else 0.0
    print(
        f"purge: {counts.get('signins', 0):,} sign-ins in {purge_end - purge_start:.1f} s; "
        f"longest write lock {max(held, default=0):.1f} s; longest write wait {longest_wait:.1f} s; "
        f"wall p95 {p95_before:,.0f} ms before, "
        f"{p95_during:,.0f} ms during"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
