"""500 tenants, measured: one full collection of a 500-client MSP against the simulator's published
throttling, then the posture evaluation and the wall and posture pages' data functions on what it stored.

1. The simulator (``python -m simulator --tenants 500``: the demo's 25 clients and copies of them) is
   started in a child process on loopback, so its work does not share the collectors' interpreter lock,
   with Graph's published limits on (simulator/throttle.py) and every throttling decision recorded; what
   it would otherwise work out on the first requests (its drift tenants) is worked out before.
2. One full collection cycle through the worker's own path (collectors.run.collect_once: discovery,
   every source of every tenant, lockout prediction, posture evaluation) into a fresh SQLite file in a
   temporary directory. The collectors' clock is the simulator's fixed instant and the sign-in window is
   the shortest the settings allow (1 hour), so the run takes a few minutes.
   Printed: requests per family; the reports family's achieved rate (auditLogs/*, reports/*: sign-ins,
   directory audits, registration details) as a share of Graph's per-app ceiling across tenants
   (122 requests / 10 s), over the part of the run where that family was busy (its first to its last
   request answered); 429s received and the longest run of consecutive 429s; the total time.
   Goal: >= 90 % of the ceiling, no 429 storm.
3. The posture evaluation of all tenants timed (goal < 5 s): collectors.evaluate.evaluate_and_store
   (snapshot, evaluation, storage) and its pure core, posture.evaluate, apart.
4. The wall's data functions (bench/scenarios.py, target p95 100 ms) and the posture page's
   (target p95 200 ms) timed on that database with bench/scenarios.py's machinery.

    python bench/collect.py [--tenants 500] [--now 2026-11-24T17:00:00Z] [--concurrency 64] [--repeat 7]

The last line reads ``verdict: PASS`` or ``verdict: FAIL — <what missed its goal>``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from bench.scenarios import SCENARIOS, WALL, Bench, Case, Results, Scenario, percentile, prepare, run
from collectors.evaluate import evaluate_and_store
from collectors.run import CycleReport, collect_once
from collectors.snapshot import build_snapshot
from collectors.status import status_rows
from db import open_database
from db.models import Tenant
from db.posture_store import accepted_risks, current_findings, daily_history, regression_versions_of_findings
from db.queries import active_tenants
from posture import evaluate
from settings import Settings, load_settings, posture_options
from simulator import SimConfig, Simulator, audits, demo
from simulator.throttle import Decision, Throttler

# Graph's published ceiling for the reports family, per app across all tenants (REFERENCE.md).
REPORTS_CEILING = 122 / 10.0
SHARE_GOAL = 0.90
POSTURE_GOAL_S = 5.0
POSTURE = "posture"
DEFAULT_NOW = "2026-11-24T17:00:00Z"  # a Tuesday afternoon in Europe, morning in America: busy hours

Event = tuple[float, str, bool]  # (monotonic time, family, allowed)


# --- the simulator, in a child process --------------------------------------------------------------


class RecordingThrottler(Throttler):
    """The simulator's throttler, unchanged, with every decision recorded (time, family, allowed)."""

    def __init__(self, inner: Throttler) -> None:
        super().__init__(inner.enabled)
        self.inner = inner
        self.events: list[Event] = []

    def check(self, family: str, tenant_id: str, cost: float = 1) -> Decision:
        decision = self.inner.check(family, tenant_id, cost)
        self.events.append((time.monotonic(), family, decision.allowed))
        return decision


def serve(clients: int, now: datetime, pipe: Pipe) -> None:
    """The child: serve until told to stop, then send back the decisions and the request counters."""
    sim = Simulator(SimConfig(now=now, clients=clients))
    # The simulator works out its drift tenants (simulator/audits.py) on its first Graph requests, in
    # every request thread that arrives before the first one is done (functools.cache holds none back):
    # 64 tenants' first requests spent 10-20 s of its interpreter on it, answering nothing meanwhile.
    # Graph has no such pause: worked out here, before the measured collection.
    audits.drift_tenants(sim.state.seed)
    recorder = RecordingThrottler(sim.throttler)
    sim.throttler = recorder
    with sim:
        pipe.send(sim.url)
        pipe.recv()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send((recorder.events, sim.state.stats(), usage.ru_utime + usage.ru_stime))


# --- figures ------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def longest_429_run(events: list[Event], family: str | None = None) -> int:
    longest = current = 0
    for _, fam, allowed in events:
        if family is not None and fam != family:
            continue
        current = 0 if allowed else current + 1
        longest = max(longest, current)
    return longest


def reports_share(events: list[Event]) -> tuple[int, float, float]:
    """(reports requests answered, seconds the family was busy, achieved rate ÷ the ceiling)."""
    times = [t for t, fam, allowed in events if fam == "reports" and allowed]
    if len(times) < 2:
        return len(times), 0.0, 0.0
    span = times[-1] - times[0]
    return len(times), span, len(times) / span / REPORTS_CEILING


def per_window(events: list[Event], family: str, seconds: float = 10.0) -> list[int]:
    """Requests of ``family`` answered in each consecutive window of its busy span."""
    times = [t for t, fam, allowed in events if fam == family and allowed]
    counts = [0] * (int((times[-1] - times[0]) // seconds) + 1 if times else 0)
    for t in times:
        counts[int((t - times[0]) // seconds)] += 1
    return counts


def posture_scenarios(settings: Settings, engine: Engine) -> list[Scenario]:
    """What the posture page reads (pages/posture.py through ui/data.py and ui/changes_data.py)."""

    def once(b: Bench) -> list[Case]:
        return [Case("all tenants")]

    def tenant_rows(b: Bench, c: Case) -> object:
        return status_rows(settings, engine, b.now), active_tenants(b.conn)

    def history(b: Bench, c: Case) -> object:
        return daily_history(b.conn, (b.now - timedelta(days=90)).date())

    return [
        Scenario(
            POSTURE,
            "current_findings",
            "the latest findings",
            lambda b, c: current_findings(b.conn, b.now),
            once,
            200,
        ),
        Scenario(POSTURE, "daily_history (90 days)", "the score trend", history, once, 200),
        Scenario(
            POSTURE, "tenant rows (names, health)", "tenants, sources, sign-ins", tenant_rows, once, 200
        ),
        Scenario(POSTURE, "accepted_risks", "accepted risks", lambda b, c: accepted_risks(b.conn), once, 200),
        Scenario(
            POSTURE,
            "regression_versions_of_findings",
            "the changes findings name as their cause",
            lambda b, c: regression_versions_of_findings(b.conn),
            once,
            200,
        ),
    ]


def print_table(results: Results) -> list[str]:
    print(f"\n{'page':8s} {'function':40s} {'runs':>5s} {'p50 ms':>8s} {'p95 ms':>8s} {'target':>7s}")
    missed = []
    for (page, name), times in results.samples.items():
        p50, p95, target = statistics.median(times), percentile(times, 95), results.targets[(page, name)]
        flag = "" if p95 <= target else "  <-- over target"
        if flag:
            missed.append(f"{page}: {name} p95 {p95:.0f} ms")
        print(f"{page:8s} {name:40s} {len(times):5d} {p50:8.1f} {p95:8.1f} {target:7.0f}{flag}")
    return missed


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class Collected:
    settings: Settings
    report: CycleReport
    events: list[Event]  # the simulator's throttling decisions
    stats: dict[str, Any]  # the simulator's request counters (SimState.stats)
    seconds: float
    collector_cpu: float
    simulator_cpu: float
    load: float


def collect(tenants: int, now: datetime, url: str, concurrency: int, engine: Engine) -> Collected:
    """One full cycle against a simulator of ``tenants`` clients served by a child process."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(tenants, now, theirs), daemon=True)
    child.start()
    try:
        settings = load_settings(
            database_url=url,
            simulator_url=ours.recv(),
            signin_initial_lookback_hours=1,  # the shortest window the settings allow
            max_concurrent_tenants=concurrency,
        )
        naive_now = now.replace(tzinfo=None)  # the collectors' clock: naive UTC
        started, cpu_before = time.monotonic(), cpu_seconds()
        report = collect_once(settings, engine, clock=lambda: naive_now)
        seconds, collector_cpu = time.monotonic() - started, cpu_seconds() - cpu_before
        load = os.getloadavg()[0]
    finally:
        ours.send("stop")
        events, stats, simulator_cpu = ours.recv()
        child.join(timeout=30)
    return Collected(settings, report, events, stats, seconds, collector_cpu, simulator_cpu, load)


def print_collection(c: Collected) -> list[str]:
    requests: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    for per_family in c.stats["requests"].values():
        requests.update(per_family)
    for per_family in c.stats["throttled"].values():
        throttled.update(per_family)
    r = c.report
    print(
        f"\ncollected {r.tenants} tenants: {r.runs_ok} sources ok, {len(r.states)} standing states "
        f"(no licence, no consent), {len(r.errors)} errors, {r.signins_stored:,} sign-ins"
    )
    for error in r.errors[:5]:
        print(f"  error: {error}")
    print("requests per family:")
    for family, count in sorted(requests.items()):
        print(f"  {family:10s} {count:7,d}  ({throttled[family]} answered 429)")
    answered, busy_s, share = reports_share(c.events)
    print(
        f"reports family: {answered:,} answered in {busy_s:.1f} s busy "
        f"= {answered / max(busy_s, 1e-9):.2f}/s, "
        f"{share:.1%} of the ceiling (122 / 10 s per app across tenants; goal >= {SHARE_GOAL:.0%})"
    )
    print(f"  answered per 10 s: {' '.join(str(n) for n in per_window(c.events, 'reports'))}")
    storm = longest_429_run(c.events)
    print(f"429s received: {sum(throttled.values())}; longest run of consecutive 429s: {storm}")
    print(f"collection total: {c.seconds:.1f} s")
    print(
        f"CPU: collectors {c.collector_cpu:.0f} s, simulator {c.simulator_cpu:.0f} s (its start included) "
        f"in those {c.seconds:.0f} s; load average {c.load:.1f} on {os.cpu_count()} cores"
    )
    failures = [f"reports share {share:.1%}"] if share < SHARE_GOAL else []
    if storm > 1:
        failures.append(f"a run of {storm} consecutive 429s")
    if r.errors:
        failures.append(f"{len(r.errors)} collection errors")
    return failures


def time_posture(settings: Settings, engine: Engine, now: datetime, repeat: int) -> list[str]:
    """The posture step as the worker runs it (evaluate_and_store), then its pure core alone."""
    whole = []
    for _ in range(repeat):
        started = time.perf_counter()
        summary = evaluate_and_store(settings, engine, now)
        whole.append(time.perf_counter() - started)
    started = time.perf_counter()
    snapshot = build_snapshot(settings, engine, signins="posture")
    snapshot_s = time.perf_counter() - started
    options = posture_options(settings)
    pure = []
    for _ in range(repeat):
        started = time.perf_counter()
        evaluate(snapshot, options)
        pure.append(time.perf_counter() - started)
    core = statistics.median(pure)
    print(
        f"\nposture of {len(snapshot['tenants'])} tenants ({summary['findings']:,} findings): "
        f"evaluate_and_store median {statistics.median(whole):.2f} s, of which building the snapshot "
        f"{snapshot_s:.2f} s; the pure core (posture.evaluate) median {core:.2f} s "
        f"(goal < {POSTURE_GOAL_S:.0f} s)"
    )
    return [f"posture.evaluate {core:.2f} s"] if core >= POSTURE_GOAL_S else []


def time_pages(settings: Settings, engine: Engine, now: datetime, repeat: int) -> list[str]:
    with engine.connect() as conn:
        query = (
            select(Tenant.tenant_id).where(Tenant.active).order_by(Tenant.role != "msp", Tenant.display_name)
        )
        tenants = list(conn.execute(query).scalars())
    with engine.connect() as conn:
        bench = prepare(conn, now, tenants, settings)
        wall = [s for s in SCENARIOS if s.page == WALL]
        results = run(bench, repeat, [*wall, *posture_scenarios(settings, engine)])
    return print_table(results)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=500, help="client tenants (default 500)")
    parser.add_argument("--now", default=DEFAULT_NOW, help=f"the simulated instant (default {DEFAULT_NOW})")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="PERIMETER_MAX_CONCURRENT_TENANTS (default 64)"
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs per data function (default 7)")
    parser.add_argument("--posture-repeat", type=int, default=3, help="timed posture evaluations (default 3)")
    args = parser.parse_args()
    try:
        now = datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        parser.error(f"--now: not an ISO 8601 instant: {args.now!r}")
    if not demo.DEMO_CLIENTS <= args.tenants <= demo.MAX_CLIENTS:
        parser.error(f"--tenants: expected {demo.DEMO_CLIENTS} to {demo.MAX_CLIENTS} client tenants")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency: expected 1 to 64 (the setting's range)")

    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{Path(work) / 'perimeter.db'}"
        engine = open_database(url)
        print(
            f"{args.tenants} client tenants at {now:%Y-%m-%d %H:%M} UTC, throttling on; collected "
            f"{args.concurrency} at a time into {url}"
        )
        collected = collect(args.tenants, now, url, args.concurrency, engine)
        settings = collected.settings
        failures = print_collection(collected)
        naive_now = now.replace(tzinfo=None)
        failures += time_posture(settings, engine, naive_now, args.posture_repeat)
        failures += time_pages(settings, engine, naive_now, args.repeat)
        engine.dispose()

    verdict = "PASS" if not failures else "FAIL — " + "; ".join(failures)
    print(f"\nverdict: {verdict}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
