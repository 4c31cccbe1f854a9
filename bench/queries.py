"""Query benchmark: every data function behind the Blocked sign-ins, MFA coverage, Wall, Report-only
impact and Changes pages, timed on a seeded database (bench/seed.py), beside a naive baseline measured in
the same run.

* ours     — db.signin_scope, signin_aggregates and signin_lists as the pages call them: rollups for
             whole hours/days, the partial covering index `ix_signins_failed` for the rest, the side
             tables (blocks, places, rankings, MFA);
* baseline — the same answer by a plain scan of `signins` (through its original tenant/time index,
             JSON read with SQLite's json functions): what the pages would cost without this work.
             Run on the 24-hour scenario only (a month of plain scans takes minutes) and checked to give
             the same answer as ours.

Every function runs over several scenarios (periods of 24 h, 7 and 30 days, all tenants or one, filters);
p50/p95 are over all its runs after the first of each scenario, which fills the OS cache and is shown
apart ("1st run", the slowest one); baselines get the same first run. Targets: p95 <= 200 ms
(investigation, MFA, the report-only impact of the five policies with the most would-be blocks, the
Changes page's list of the last 7 days: all tenants, the tenant with the most changes, a "who" filter),
<= 100 ms (wall), on the warm runs. Before the timed runs the process sets what it holds aside from the
cycle collector, as the dashboard's process does after its first page run (ui.heap). At the end
the three pages run in-process under Streamlit's AppTest and the peak RSS is reported (target < 500 MB).

    python bench/queries.py data/bench.db [--now 2026-11-22T12:00] [--repeat 7]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from bench import baseline
from bench.common import database_url, peak_rss_mb
from bench.scenarios import INVESTIGATION, SCENARIOS, Bench, Case, Results, Scenario, percentile, prepare, run
from db import history, open_database
from db.models import (
    CollectionState,
    ObjectVersion,
    SignIn,
    Tenant,
)
from db.signin_index import FAILED
from investigate.filters import Filters
from ui.changes_data import LIMIT as CHANGES_LIMIT
from ui.heap import freeze_startup_heap

ROOT = Path(__file__).resolve().parent.parent
CHANGES = "changes"
CHANGES_DAYS = 7  # the Changes page's default range


def change_cases(b: Bench) -> list[Case]:
    """The Changes page as it opens (all tenants), filtered to the tenant with the most changes in the
    range, and filtered by who (part of a UPN, as typed)."""
    since = b.now - timedelta(days=CHANGES_DAYS)
    busiest = b.conn.execute(
        select(ObjectVersion.tenant_id)
        .where(ObjectVersion.seen_at >= since)
        .group_by(ObjectVersion.tenant_id)
        .order_by(func.count().desc())
        .limit(1)
    ).scalar()
    cases = [Case("7 days, all tenants"), Case("7 days, who: admin", filters=Filters(user="admin"))]
    if busiest is not None:
        cases.append(Case("7 days, one tenant", tenants=[busiest]))
    return cases


# The Changes page's one query (db.history.changes: versions, their audit entry or fix, the diff from the
# version before, the findings each moved), as ui.changes_data calls it (its newest LIMIT).
CHANGE_SCENARIOS = [
    Scenario(
        CHANGES,
        "changes (7 days)",
        "the changes of the last 7 days with who, diff and the findings they moved",
        lambda b, c: history.changes(
            b.conn,
            b.now - timedelta(days=CHANGES_DAYS),
            tenant_id=c.tenants[0] if c.tenants else None,
            who=c.filters.user or None,
            limit=CHANGES_LIMIT,
        ),
        change_cases,
        200,
    )
]


def describe(engine: Engine, url: str, now_arg: str | None, repeat: int) -> tuple[list[str], datetime]:
    """Print what the bench runs on; the active tenants (the MSP first) and the moment pages look from."""
    with engine.connect() as conn:
        tenants = [
            t
            for (t,) in conn.execute(
                select(Tenant.tenant_id)
                .where(Tenant.active)
                .order_by(Tenant.role != "msp", Tenant.display_name)
            )
        ]
        now = (
            datetime.fromisoformat(now_arg)
            if now_arg
            else conn.execute(select(func.max(CollectionState.last_success_at))).scalar()
        )
        failed = conn.execute(select(func.count()).select_from(SignIn).where(FAILED)).scalar()
        total = (
            conn.execute(text("SELECT max(rowid) FROM signins")).scalar()
            if engine.dialect.name == "sqlite"
            else conn.execute(select(func.count()).select_from(SignIn)).scalar()
        )
    print(
        f"database: {url}\n  ~{total:,} sign-ins ({failed:,} failed), {len(tenants)} tenants; "
        f"pages look from {now:%Y-%m-%d %H:%M} UTC; {repeat} runs per function and scenario"
    )
    return tenants, now


def report(results: Results, base: baseline.Baseline) -> list[str]:
    """Print the table of figures; the rows over their target."""
    print()
    header = (
        f"{'page':13s} {'function':42s} {'runs':>5s} {'p50 ms':>8s} {'p95 ms':>8s} {'target':>7s} "
        f"{'1st run':>8s}  {'baseline p50/p95 ms (24 h)':>27s}  slowest scenario"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for (page, name), times in results.samples.items():
        p50, p95 = statistics.median(times), percentile(times, 95)
        target = results.targets[(page, name)]
        ok = p95 <= target
        shown_target = "—" if target == float("inf") else f"{target:.0f}"
        if not ok:
            failures.append(f"{page}: {name} p95 {p95:.0f} ms")
        shown_baseline = ""
        if name in base.runs:
            btimes, note = base.runs[name]
            shown_baseline = f"{statistics.median(btimes):,.0f} / {percentile(btimes, 95):,.0f}" + (
                f" ({note})" if note else ""
            )
        print(
            f"{page:13s} {name:42s} {len(times):5d} {p50:8.1f} {p95:8.1f} {shown_target:>7s} "
            f"{results.first_runs.get((page, name), 0.0):8.1f}  {shown_baseline:>27s}  "
            f"{results.worst[(page, name)][1]}{'' if ok else '  <-- over target'}"
        )
    if "compute_rankings" in results.notes:
        print(
            "\n(the collector's ranking of IPs and users, 7 and 30 days, all tenants: "
            f"{results.notes['compute_rankings'][0]:.0f} ms "
            "per full cycle; (collector) rows are what it replaces, not page queries)"
        )
    if base.mismatches:
        print(f"baseline answers differ for: {', '.join(base.mismatches)}")
    for name, naive_ms in base.month:
        ours_p95 = percentile(results.samples[(INVESTIGATION, name)], 95)
        print(
            f"30 days, all tenants, {name}: plain scan {naive_ms:,.0f} ms once; ours p95 {ours_p95:.0f} ms "
            "over every scenario"
        )
    return failures


def report_by_case(results: Results) -> None:
    """Each function's p50/p95 case by case (which filter makes a row miss its target)."""
    print(f"\n{'page':13s} {'function':42s} {'case':32s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for (page, name, label), times in results.by_case.items():
        p95 = percentile(times, 95)
        over = "  <-- over target" if p95 > results.targets[(page, name)] else ""
        print(f"{page:13s} {name:42s} {label:32s} {statistics.median(times):8.1f} {p95:8.1f}{over}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a database made by bench/seed.py (SQLite file or URL)")
    parser.add_argument("--now", help="the moment the pages look from (default: the seed's last collection)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per function and scenario")
    parser.add_argument("--skip-pages", action="store_true", help="do not run the pages for the RSS figure")
    parser.add_argument("--skip-month", action="store_true", help="no plain scans of the whole month")
    parser.add_argument("--only", help="run only this page's scenarios (e.g. investigation)")
    parser.add_argument(
        "--by-case", action="store_true", help="also print each function's p50/p95 case by case"
    )
    parser.add_argument("--pages-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = database_url(args.database)
    if args.pages_only:
        run_pages(url, datetime.fromisoformat(args.now))
        return 0
    engine = open_database(url)
    from settings import load_settings

    settings = load_settings(database_url=url)
    tenants, now = describe(engine, url, args.now, args.repeat)
    with engine.connect() as conn:
        bench = prepare(conn, now, tenants, settings)
        freeze_startup_heap()  # as the dashboard process does after its first page run
        scenarios = [s for s in (*SCENARIOS, *CHANGE_SCENARIOS) if args.only in (None, s.page)]
        results = run(bench, args.repeat, scenarios)
        # The naive baseline's plain scans are SQLite's SQL (INDEXED BY, json_extract): none on PostgreSQL.
        base = (
            baseline.measure(conn, tenants, now, bench.ours, args.repeat, month=not args.skip_month)
            if engine.dialect.name == "sqlite" and args.only is None
            else baseline.Baseline()
        )
    failures = report(results, base)
    if args.by_case:
        report_by_case(results)

    rss = 0.0
    if not args.skip_pages:
        import subprocess

        subprocess.run(
            [sys.executable, __file__, url, "--pages-only", "--now", now.isoformat()],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            "\npeak RSS of a dashboard process running the three pages (AppTest: Blocked sign-ins over "
            f"30 days, MFA coverage, the kiosk wall): {rss:.0f} MB (target < 500)"
        )
    verdict = "PASS" if not failures and not base.mismatches and rss < 500 else "FAIL"
    print(f"verdict: {verdict}" + ("" if not failures else " — " + "; ".join(failures)))
    return 0 if verdict == "PASS" else 1


def run_pages(url: str, now: datetime) -> float:
    """The three pages in this process under AppTest (Streamlit, plotly and the caches included)."""
    import logging
    import os

    from streamlit.testing.v1 import AppTest

    from settings import get_settings

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    os.environ["PERIMETER_DATABASE_URL"] = url
    get_settings.cache_clear()
    import ui.data

    ui.data.utcnow = lambda: now  # type: ignore[assignment]
    for page, params in (
        ("pages/signins.py", {"period": "30d"}),
        ("pages/mfa.py", {}),
        ("pages/wall.py", {"kiosk": "1"}),
    ):
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        at.switch_page(page)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        if at.exception:
            print(f"  {page}: {at.exception[0].value}")
    return peak_rss_mb()


if __name__ == "__main__":
    sys.exit(main())
