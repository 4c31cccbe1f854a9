"""The scenarios of bench/queries.py: one entry per data function a page calls, what it measures, the
cases it runs over and its p95 target; `run` times them all, in table order.

Cases: the Blocked sign-ins functions run over every filter case (periods of 24 h, 7 and 30 days, all
tenants or one, filters), each case's functions one after another, starting with resolve_scope whose
scope the rest take; the wall runs for all tenants, then one (rotation); the rest once, with a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, func, select

from db import mfa_store, queries
from db import policy_outcomes as outcomes
from db import signin_aggregates as agg
from db import signin_lists as lists
from db import signin_scope as scope_q
from db.models import SignInPolicyOutcome as O
from db.posture_store import current_findings
from investigate.filters import Filters
from investigate.impact import People

INVESTIGATION, MFA, WALL, COLLECTOR = "investigation", "mfa", "wall", "(collector)"
REPORT_ONLY = "report-only"
DIMENSIONS = ("code", "policy", "app", "country", "ip", "user")
BASELINE_CASE = "24h, all tenants"  # the case whose answers the naive baseline checks


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Runs(list[float]):
    """Milliseconds of the timed runs; ``first`` is the run before them, kept apart.

    The first call of a function on a scenario reads its pages from disk into the OS cache (on this
    19 GB database, tens of ms a page on a shared disk); a dashboard that answers the same functions
    all day, every wall screen every 30 s, runs warm. The targets are on the warm runs; the slowest
    first run is printed beside them so that cost is in view too."""

    first: float = 0.0


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Runs, Any]:
    times, result = Runs(), None
    for i in range(repeat + 1):
        started = time.perf_counter()
        result = fn()
        elapsed = (time.perf_counter() - started) * 1000
        if i == 0:
            times.first = elapsed
        else:
            times.append(elapsed)
    return times, result


# --- what the scenarios run against --------------------------------------------------------------


@dataclass
class Bench:
    """The connection, the moment the pages look from, the tenants and what the cases are made of."""

    conn: Connection
    now: datetime
    tenants: list[str]
    big: str  # the tenant of the one-tenant cases
    msp: str
    account: str  # the CIPP service account
    fresh: tuple[dict[str, float], float]  # collectors.status.fresh_limits
    filters: list[tuple[str, Filters]]
    ours: dict[str, Any] = field(default_factory=dict)  # answers of the baseline case
    people: People = field(default_factory=lambda: People(""))


def prepare(conn: Connection, now: datetime, tenants: list[str], settings: Any) -> Bench:
    """Rankings stored as the collector stores them after each full cycle, then the filter cases."""
    from collectors.status import fresh_limits

    with conn.begin():
        agg.store_rankings(conn, agg.compute_rankings(conn, now))
    big = tenants[1] if len(tenants) > 1 else tenants[0]
    filters = [
        ("24h, all tenants", Filters(period="24h")),
        ("7d, all tenants", Filters(period="7d")),
        ("30d, all tenants", Filters(period="30d")),
        ("30d, one tenant", Filters(period="30d", tenants=(big,))),
        ("7d, code 53003", Filters(period="7d", codes=(53003,))),
        ("30d, code 53003 + interactive", Filters(period="30d", codes=(53003,), interactive=True)),
        ("30d, user filter", Filters(period="30d", user="admin")),
        ("30d, IP", Filters(period="30d", ip="66.171.40.18")),
        ("30d, CIDR /24", Filters(period="30d", ip="66.171.40.0/24")),
        ("7d, service providers", Filters(period="7d", service_provider=True)),
    ]
    policies = agg.filter_options(conn, tenants, now - timedelta(days=30)).policies
    if policies:
        filters.append(("30d, blocking policy", Filters(period="30d", policy=policies[0][0])))
    msp, account = settings.msp_tenant_id, settings.service_account_upn
    people = People(msp, account, frozenset(u.lower() for u in settings.break_glass_upns))
    return Bench(conn, now, tenants, big, msp, account, fresh_limits(settings), filters, people=people)


@dataclass
class Case:
    """One run of a group of scenarios: its label in the report, its inputs and the answers so far."""

    label: str
    filters: Filters = field(default_factory=Filters)
    tenants: list[str] = field(default_factory=list)
    signin_id: str = ""
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> scope_q.Scope:
        return self.answers[RESOLVE_SCOPE]


def each_filter(b: Bench) -> list[Case]:
    return [Case(label, filters=filters) for label, filters in b.filters]


def all_and_one(b: Bench) -> list[Case]:
    return [Case("all tenants", tenants=b.tenants), Case("one tenant", tenants=[b.big])]


def once(label: str) -> Callable[[Bench], list[Case]]:
    return lambda b: [Case(label)]


def report_only_cases(b: Bench) -> list[Case]:
    """The report-only policies with the most outcomes stored (the heaviest impact queries), up to
    five, as (tenant, policy) cases; none when no policy is in report-only."""
    found = outcomes.report_only_policies(b.conn, b.tenants)
    if not found:
        return []
    wanted = {(p.tenant_id, p.policy_id) for p in found}
    counted = b.conn.execute(
        select(O.tenant_id, O.policy_id, func.sum(O.count))
        .where(O.result.in_(outcomes.WOULD_BLOCK), O.hour >= b.now - timedelta(days=14))
        .group_by(O.tenant_id, O.policy_id)
        .order_by(func.sum(O.count).desc())
    ).all()
    heaviest = [(t, p) for t, p, _n in counted if (t, p) in wanted][:5] or sorted(wanted)[:5]
    return [Case(f"{t[:8]}/{p[:8]}", tenants=[t], signin_id=p) for t, p in heaviest]


def by_id(b: Bench) -> list[Case]:
    rows = b.ours["failed_signins (table)"]
    return [Case("by id", signin_id=rows[0].id if rows else "")]


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    page: str
    name: str  # the function as the report names it
    measures: str
    run: Callable[[Bench, Case], Any]
    over: Callable[[Bench], list[Case]]  # consecutive scenarios over the same cases run case by case
    target_ms: float  # p95 of the warm runs
    optional: bool = False  # reported only when it answers (a stored ranking, for some periods only)
    shown_by: str | None = None  # when that scenario answered, the page shows it: reported as (collector)
    repeat: int | None = None  # runs (default: --repeat)
    reported: bool = True  # False: timed for a note, not a row of the table


RESOLVE_SCOPE = "resolve_scope (CIDR → addresses)"
_30_MINUTES = timedelta(minutes=30)
_MFA_CHECKS = ("MFA-1", "MFA-2", "MFA-3", "B-8")

SCENARIOS: list[Scenario] = [
    # Blocked sign-ins, case by case: the scope first, then what the page draws from it.
    Scenario(
        INVESTIGATION,
        RESOLVE_SCOPE,
        "filters to tenants, window and a CIDR's addresses seen",
        lambda b, c: scope_q.resolve_scope(b.conn, c.filters, b.now, b.tenants, b.msp),
        each_filter,
        200,
    ),
    *[
        Scenario(
            INVESTIGATION,
            f"stored_ranking[{d}]",
            f"the collector's stored ranking of {d}s",
            lambda b, c, d=d: agg.stored_ranking(b.conn, c.scope, d, _30_MINUTES),
            each_filter,
            200,
            optional=True,
        )
        for d in ("ip", "user")
    ],
    Scenario(
        INVESTIGATION,
        "count_failed",
        "failed sign-ins in scope",
        lambda b, c: agg.count_failed(b.conn, c.scope),
        each_filter,
        200,
    ),
    Scenario(
        INVESTIGATION,
        "timeline",
        "failed sign-ins per hour or day and code",
        lambda b, c: agg.timeline(b.conn, c.scope),
        each_filter,
        200,
    ),
    *[
        Scenario(
            INVESTIGATION,
            f"top_values[{d}]",
            f"the ten commonest {d} values, live",
            lambda b, c, d=d: agg.top_values(b.conn, c.scope, d),
            each_filter,
            200,
            shown_by=f"stored_ranking[{d}]" if d in ("ip", "user") else None,
        )
        for d in DIMENSIONS
    ],
    Scenario(
        INVESTIGATION,
        "places (map)",
        "failed sign-ins by place, for the map",
        lambda b, c: agg.places(b.conn, c.scope),
        each_filter,
        200,
    ),
    Scenario(
        INVESTIGATION,
        "failed_signins (table)",
        "the newest 200 failed sign-ins with their blocks",
        lambda b, c: lists.failed_signins(b.conn, c.scope),
        each_filter,
        200,
    ),
    # Blocked sign-ins, once.
    Scenario(
        INVESTIGATION,
        "filter_options",
        "the filter choices of 30 days",
        lambda b, c: agg.filter_options(b.conn, b.tenants, b.now - timedelta(days=30)),
        once("30d"),
        200,
    ),
    Scenario(
        INVESTIGATION,
        "signin_raw (drill-down)",
        "one sign-in's stored JSON",
        lambda b, c: lists.signin_raw(b.conn, c.signin_id),
        by_id,
        200,
    ),
    Scenario(
        INVESTIGATION,
        "tenant_objects (explanation context)",
        "a tenant's policies and named locations",
        lambda b, c: queries.tenant_objects(b.conn, [b.big], ("conditionalAccessPolicies", "namedLocations")),
        once("one tenant"),
        200,
    ),
    Scenario(
        COLLECTOR,
        "compute_rankings",
        "the collector's ranking of IPs and users, 7 and 30 days",
        lambda b, c: agg.compute_rankings(b.conn, b.now),
        once("all tenants"),
        float("inf"),
        repeat=1,
        reported=False,
    ),
    # MFA coverage.
    Scenario(
        MFA,
        "mfa_coverage_latest",
        "the latest day's coverage of every tenant",
        lambda b, c: mfa_store.mfa_coverage_latest(b.conn),
        once("all"),
        200,
    ),
    Scenario(
        MFA,
        "mfa_trend",
        "90 days of coverage, all tenants",
        lambda b, c: mfa_store.mfa_trend(b.conn, (b.now - timedelta(days=90)).date()),
        once("90 days, all"),
        200,
    ),
    Scenario(
        MFA,
        "mfa_trend",
        "90 days of coverage, one tenant",
        lambda b, c: mfa_store.mfa_trend(b.conn, (b.now - timedelta(days=90)).date(), [b.big]),
        once("90 days, one tenant"),
        200,
    ),
    Scenario(
        MFA,
        "current_findings (MFA-1..3, B-8)",
        "the MFA checks' findings",
        lambda b, c: current_findings(b.conn, b.now, checks=_MFA_CHECKS),
        once("all"),
        200,
    ),
    Scenario(
        MFA,
        "account_signins (service account, 24 h)",
        "the CIPP service account's sign-ins",
        lambda b, c: lists.account_signins(b.conn, b.msp, b.account, b.now - timedelta(hours=24), b.now),
        once("MSP"),
        200,
    ),
    # The wall, for all tenants and for one (rotation).
    Scenario(
        WALL,
        "blocked_counts (1 h, 24 h, change)",
        "blocked in the last hour and day, and the change",
        lambda b, c: agg.blocked_counts(b.conn, c.tenants, b.now),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "hourly_failed (sparkline)",
        "failed sign-ins per hour over 24 h",
        lambda b, c: agg.hourly_failed(b.conn, c.tenants, b.now, 24),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "top_blocking_policies",
        "the policies that blocked most",
        lambda b, c: agg.top_blocking_policies(b.conn, c.tenants, b.now),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "failed_signins (latest 8)",
        "the eight newest failed sign-ins of 24 h",
        lambda b, c: lists.failed_signins(
            b.conn, scope_q.Scope(Filters(), tuple(c.tenants), b.now - timedelta(hours=24), b.now), 8
        ),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "current_findings (critical failing)",
        "failing critical findings",
        lambda b, c: current_findings(b.conn, b.now, statuses=("fail",), severity="critical"),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "current_findings (C-1) + API clients",
        "C-1's findings and the CIPP API clients",
        lambda b, c: (
            current_findings(b.conn, b.now, checks=("C-1",)),
            queries.tenant_objects(b.conn, [b.msp], ("cipp.apiClients",)),
        ),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "mfa_coverage_latest",
        "the latest day's coverage of every tenant",
        lambda b, c: mfa_store.mfa_coverage_latest(b.conn),
        all_and_one,
        100,
    ),
    Scenario(
        WALL,
        "source_status (freshness)",
        "how fresh each source is",
        lambda b, c: queries.source_status(b.conn, b.now, *b.fresh),
        all_and_one,
        100,
    ),
]


SCENARIOS.append(
    # Report-only impact (page and switch-on fixes): a policy's would-be blocks over 14 days.
    Scenario(
        REPORT_ONLY,
        "policy_impact (14 days)",
        "what a report-only policy would have blocked, with who matters",
        lambda b, c: outcomes.policy_impact(b.conn, c.tenants[0], c.signin_id, b.now, b.people),
        report_only_cases,
        200,
    )
)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    """Per report row (page, function), in the order rows first appear: every warm run's ms, the
    target, the slowest first run and the case of the slowest warm run."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    targets: dict[tuple[str, str], float] = field(default_factory=dict)
    first_runs: dict[tuple[str, str], float] = field(default_factory=dict)
    worst: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    notes: dict[str, Runs] = field(default_factory=dict)  # scenarios that are not rows, by name
    by_case: dict[tuple[str, str, str], Runs] = field(default_factory=dict)  # (page, name, case label)

    def record(self, page: str, name: str, target_ms: float, label: str, times: Runs) -> None:
        key = (page, name)
        self.samples.setdefault(key, []).extend(times)
        self.targets[key] = target_ms
        self.first_runs[key] = max(self.first_runs.get(key, 0.0), times.first)
        if max(times) > self.worst.get(key, (0.0, ""))[0]:
            self.worst[key] = (max(times), label)
        self.by_case[(page, name, label)] = times


def run(b: Bench, repeat: int, scenarios: Iterable[Scenario] = SCENARIOS) -> Results:
    results = Results()
    for over, group in groupby(scenarios, key=lambda s: s.over):
        group_list = list(group)
        for case in over(b):
            if case.label == BASELINE_CASE:
                b.ours = case.answers
            for s in group_list:
                times, answer = timed(partial(s.run, b, case), repeat if s.repeat is None else s.repeat)
                case.answers[s.name] = answer
                if not s.reported:
                    results.notes[s.name] = times
                elif s.optional and answer is None:
                    continue
                elif s.shown_by is not None and case.answers.get(s.shown_by) is not None:
                    name = f"{s.name}, live (the page reads the ranking)"
                    results.record(COLLECTOR, name, float("inf"), case.label, times)
                else:
                    results.record(s.page, s.name, s.target_ms, case.label, times)
    return results
