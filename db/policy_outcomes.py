"""Reads of every sign-in's Conditional Access outcomes (``signin_policy_outcomes``, written with the
sign-ins by db.signin_index.index_outcomes): by tenant, policy, result and time from the postings'
key, by user, app and IP from the sign-ins they name (joined by id).

Times are [start, end) in naive UTC. Postings are per hour: a query reads the hours the window
touches and keeps the sign-ins whose own createdDateTime is inside it, so answers are exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from db.models import SignIn, SignInPolicyOutcome, SignInWouldBlock
from db.queries import tenant_objects
from db.signin_index import unpack_ids
from db.signin_scope import day_key, hour_key, parse_bucket_key
from investigate.impact import (
    DEFAULT_DAYS,
    Impact,
    People,
    Tallies,
    Tally,
    UserTally,
    WouldBlock,
    hourly_timeline,
    offers_ranges,
    summarise,
)

REPORT_ONLY_FAILURE = "reportOnlyFailure"
REPORT_ONLY_INTERRUPTED = "reportOnlyInterrupted"
# What a report-only policy would have done to a sign-in had it been On: block it, or stop it for a
# control (MFA, terms) the user was not asked for.
WOULD_BLOCK = (REPORT_ONLY_FAILURE, REPORT_ONLY_INTERRUPTED)
# Results that say the policy did not apply to the sign-in (its conditions did not match, or it was off).
NOT_APPLIED = ("notApplied", "reportOnlyNotApplied", "notEnabled")

_CHUNK = 2000  # ids per IN (...) look-up (SQLite allows 32,766 variables, PostgreSQL 65,535)
MAX_IDS = 200_000  # sign-ins read per query at most (newest hours first)
NEWEST_ROWS = 500  # would-be blocks listed on the Report-only impact page (the rest are counted)
# PostgreSQL's hash_mem_multiplier (× work_mem; default 2) for the would-be blocks' GROUPING SETS: the
# planner hashes every set only if its group estimate fits, and it multiplies the columns' distinct
# counts (users × IPs: tens of thousands of groups estimated for a few thousand real ones), so with the
# default it sorted the rows instead (spilling to disk: slower than the separate GROUP BYs). A hash table
# that does outgrow it spills to disk (PostgreSQL 13 and later), so this changes the plan, not the memory.
GROUPING_SETS_HASH_MEM_MULTIPLIER = 8.0


@dataclass(frozen=True)
class OutcomeQuery:
    """Which outcomes: tenants and window always; policy, results, user (UPN), app and IP optional
    (user and app compared case-insensitively, IP exactly)."""

    tenants: tuple[str, ...]
    start: datetime
    end: datetime
    policy_id: str | None = None
    results: tuple[str, ...] | None = None
    user: str | None = None
    app: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy's result in one sign-in, with the sign-in's own columns."""

    signin_id: str
    tenant_id: str
    created_at: datetime
    policy_id: str
    result: str
    user_principal_name: str
    user_display_name: str
    app_display_name: str
    ip_address: str
    country: str
    city: str
    error_code: int
    cross_tenant_access_type: str
    home_tenant_id: str


def _postings(conn: Connection, query: OutcomeQuery) -> Sequence[tuple[str, str, str, str, bytes | None]]:
    first_hour = query.start.replace(minute=0, second=0, microsecond=0)
    o = SignInPolicyOutcome
    statement = select(o.tenant_id, o.policy_id, o.result, o.signin_ids, o.packed_ids).where(
        o.tenant_id.in_(query.tenants), o.hour >= first_hour, o.hour < query.end
    )
    if query.policy_id is not None:
        statement = statement.where(o.policy_id == query.policy_id)
    if query.results is not None:
        statement = statement.where(o.result.in_(query.results))
    return conn.execute(statement.order_by(o.hour.desc())).all()  # type: ignore[return-value]


def _wanted(conn: Connection, query: OutcomeQuery) -> dict[str, list[tuple[str, str, str]]]:
    """Sign-in id -> its (tenant, policy, result) outcomes matching the query's key columns."""
    wanted: dict[str, list[tuple[str, str, str]]] = {}
    for tenant_id, policy_id, result, ids, packed in _postings(conn, query):
        outcome = (tenant_id, policy_id, result)
        for signin_id in unpack_ids(ids, packed):
            found = wanted.get(signin_id)
            if found is None:
                wanted[signin_id] = [outcome]
            else:
                found.append(outcome)
        if len(wanted) >= MAX_IDS:
            break
    return wanted


def _signin_columns(conn: Connection, query: OutcomeQuery, ids: list[str]) -> Iterator[Any]:
    """The sign-ins among ``ids`` inside the query's window and filters: (id, created_at, upn,
    display name, app, IP, country, city, error code, cross-tenant access type, home tenant) each.
    Ids are looked up in sorted order, so consecutive look-ups walk the primary key forwards."""
    s = SignIn
    ids = sorted(ids)
    for start in range(0, len(ids), _CHUNK):
        statement = select(
            s.id,
            s.created_at,
            s.user_principal_name,
            s.user_display_name,
            s.app_display_name,
            s.ip_address,
            s.country,
            s.city,
            s.error_code,
            s.cross_tenant_access_type,
            s.home_tenant_id,
        ).where(
            s.id.in_(ids[start : start + _CHUNK]),
            s.created_at >= query.start,
            s.created_at < query.end,
        )
        if query.user is not None:
            statement = statement.where(func.lower(s.user_principal_name) == query.user.lower())
        if query.app is not None:
            statement = statement.where(func.lower(s.app_display_name) == query.app.lower())
        if query.ip is not None:
            statement = statement.where(s.ip_address == query.ip)
        yield from conn.execute(statement)


def policy_outcomes(conn: Connection, query: OutcomeQuery, limit: int = 5000) -> list[PolicyOutcome]:
    """The outcomes matching ``query``, newest first, at most ``limit`` (and at most MAX_IDS sign-ins
    read: the newest hours' first)."""
    if not query.tenants or query.start >= query.end or limit <= 0:
        return []
    wanted = _wanted(conn, query)
    found: list[PolicyOutcome] = []
    for row in _signin_columns(conn, query, list(wanted)):
        for tenant_id, policy_id, result in wanted[row[0]]:
            found.append(PolicyOutcome(row[0], tenant_id, row[1], policy_id, result, *row[2:]))
    found.sort(key=lambda o: (o.created_at, o.signin_id, o.policy_id), reverse=True)
    return found[:limit]


def result_counts(
    conn: Connection, tenant_id: str, policy_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """How many sign-ins had each result for the policy, in the hours [start's hour, end): to the hour
    (the postings' grain), for evidence counts that need no sign-in read."""
    o = SignInPolicyOutcome
    rows = conn.execute(
        select(o.result, func.sum(o.count))
        .where(
            o.tenant_id == tenant_id,
            o.policy_id == policy_id,
            o.hour >= start.replace(minute=0, second=0, microsecond=0),
            o.hour < end,
        )
        .group_by(o.result)
    )
    return {result: int(count or 0) for result, count in rows}


def first_outcome_hour(
    conn: Connection, tenant_id: str, policy_id: str, results: Sequence[str] | None = None
) -> datetime | None:
    """The hour of the policy's oldest kept outcome (of ``results``, if given): how long the evidence
    goes back."""
    o = SignInPolicyOutcome
    statement = select(func.min(o.hour)).where(o.tenant_id == tenant_id, o.policy_id == policy_id)
    if results is not None:
        statement = statement.where(o.result.in_(tuple(results)))
    return conn.execute(statement).scalar()


def _would_block_window(tenant_id: str, policy_id: str, start: datetime, end: datetime) -> tuple[Any, ...]:
    """The policy's would-be blocks in [start, end): one range of signin_would_block's clustered key."""
    w = SignInWouldBlock
    return (w.tenant_id == tenant_id, w.policy_id == policy_id, w.created_at >= start, w.created_at < end)


# The columns of the three groupings of would-be blocks: by bucket, by user, by IP (see _groupings).
_Groupings = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]


@dataclass(frozen=True)
class _Groups:
    """The would-be blocks counted per group, however the database grouped them: ``buckets`` (app,
    country, bucket key, result, n); ``users`` (upn, access type, home tenant, n), or (upn, access type,
    home tenant, IP, n) when by user and IP; ``ips`` (IP, n), none when by user and IP."""

    buckets: Sequence[Any]
    users: Sequence[Any]
    ips: Sequence[Any]


def _groupings(hourly: bool, with_ips_by_user: bool) -> _Groupings:
    """By app, country, timeline bucket and result; by user (and IP, when ``with_ips_by_user``); by IP
    (none when by user and IP). By user and by IP apart is cheaper than by both (fewer, narrower
    groups)."""
    w = SignInWouldBlock
    bucket = hour_key(w.created_at) if hourly else day_key(w.created_at)
    by_bucket = (w.app_display_name, w.country, bucket, w.result)
    user = (w.user_principal_name, w.cross_tenant_access_type, w.home_tenant_id)
    if with_ips_by_user:
        return by_bucket, (*user, w.ip_address), ()
    return by_bucket, user, (w.ip_address,)


def _grouped_apart(conn: Connection, window: tuple[Any, ...], groupings: _Groupings) -> _Groups:
    """A GROUP BY per grouping, each walking the key range again (SQLite, which has no GROUPING SETS)."""

    def grouped(columns: tuple[Any, ...]) -> Sequence[Any]:
        if not columns:
            return ()
        return conn.execute(select(*columns, func.count()).where(*window).group_by(*columns)).all()

    by_bucket, by_user, by_ip = groupings
    return _Groups(grouped(by_bucket), grouped(by_user), grouped(by_ip))


def _grouped_at_once(conn: Connection, window: tuple[Any, ...], groupings: _Groupings) -> _Groups:
    """Every grouping in one GROUP BY GROUPING SETS (PostgreSQL): the key range is read once instead of
    once per grouping (2.5 M sign-ins: three walks of it made the p95 203 ms). Each row belongs to one
    set, told by GROUPING() (1 when the column is not in the row's set), not by NULLs."""
    w = SignInWouldBlock
    by_bucket, by_user, by_ip = groupings
    statement = (
        select(
            func.grouping(w.app_display_name),
            func.grouping(w.user_principal_name),
            *by_bucket,
            *by_user,
            *by_ip,
            func.count(),
        )
        .where(*window)
        .group_by(func.grouping_sets(*(tuple_(*columns) for columns in groupings if columns)))
    )
    user_at, ip_at = 2 + len(by_bucket), 2 + len(by_bucket) + len(by_user)
    setting = "SELECT set_config('hash_mem_multiplier', %(value)s, true)"  # true: this transaction only
    previous = conn.exec_driver_sql("SELECT current_setting('hash_mem_multiplier')").scalar_one()
    wanted = max(float(previous), GROUPING_SETS_HASH_MEM_MULTIPLIER)
    conn.exec_driver_sql(setting, {"value": str(wanted)})
    rows = conn.execute(statement).all()
    conn.exec_driver_sql(setting, {"value": previous})  # as it was, for the caller's next queries
    buckets, users, ips = [], [], []
    for row in rows:
        if row[0] == 0:  # the app is in the row's set: by app, country, bucket and result
            buckets.append((*row[2:user_at], row[-1]))
        elif row[1] == 0:  # the user is
            users.append((*row[user_at:ip_at], row[-1]))
        else:
            ips.append((*row[ip_at:-1], row[-1]))
    return _Groups(buckets, users, ips)


def would_block_tallies(
    conn: Connection,
    tenant_id: str,
    policy_id: str,
    start: datetime,
    end: datetime,
    *,
    hourly: bool,
    with_ips_by_user: bool,
    newest: int = NEWEST_ROWS,
    grouping_sets: bool | None = None,
) -> Tallies:
    """The policy's would-be blocks in [start, end) counted in SQL over their key range (a busy policy
    has thousands: reading and summing every row in Python cost several times more): by user, app, IP,
    country, timeline bucket (hourly or daily) and result; by IP and user when ``with_ips_by_user``
    (the MSP tenant's LOC-1 offers); and the ``newest`` rows. The groupings return a few hundred to a
    few thousand groups, summed further here: by app, country, bucket and result; by user and IP (or
    by user, and by IP). ``grouping_sets``: all groupings in one pass over the range (None: where the
    database has GROUPING SETS, PostgreSQL) or a GROUP BY each (False; SQLite's only way); the same
    tallies either way."""
    w = SignInWouldBlock
    window = _would_block_window(tenant_id, policy_id, start, end)
    groupings = _groupings(hourly, with_ips_by_user)
    if grouping_sets is None:
        grouping_sets = conn.dialect.name == "postgresql"
    groups = (_grouped_at_once if grouping_sets else _grouped_apart)(conn, window, groupings)
    apps: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    buckets: Counter[tuple[str, str]] = Counter()
    for app, country, key, result, n in groups.buckets:
        apps[app] += n
        countries[country] += n
        buckets[(key, result)] += n
    users: Counter[tuple[str, str, str]] = Counter()
    ips: Counter[str] = Counter()
    ip_users: tuple[UserTally, ...] = ()
    if with_ips_by_user:
        ip_users = tuple(UserTally(u, a, h, n, ip) for u, a, h, ip, n in groups.users)
        for t in ip_users:
            users[(t.upn, t.cross_tenant_access_type, t.home_tenant_id)] += t.count
            ips[t.ip] += t.count
    else:
        users.update({(u, a, h): n for u, a, h, n in groups.users})
        ips.update({ip: n for ip, n in groups.ips})
    rows = conn.execute(
        select(
            w.signin_id,
            w.created_at,
            w.result,
            w.user_principal_name,
            w.app_display_name,
            w.ip_address,
            w.country,
            w.cross_tenant_access_type,
            w.home_tenant_id,
        )
        .where(*window)
        .order_by(w.created_at.desc(), w.signin_id.desc())
        .limit(newest)
    ).all()
    return Tallies(
        users=tuple(UserTally(*user, n) for user, n in users.items()),
        apps=tuple(Tally(app, n) for app, n in apps.items()),
        ips=tuple(Tally(ip, n) for ip, n in ips.items()),
        countries=tuple(Tally(country, n) for country, n in countries.items()),
        ip_users=ip_users,
        timeline=tuple(sorted((parse_bucket_key(key), result, n) for (key, result), n in buckets.items())),
        newest=tuple(
            WouldBlock(i, at, result, upn, app, ip, country, None, access, home)
            for i, at, result, upn, app, ip, country, access, home in rows
        ),
    )


def policy_impact(
    conn: Connection,
    tenant_id: str,
    policy_id: str,
    now: datetime,
    people: People,
    days: int = DEFAULT_DAYS,
    trusted_names: set[str] | None = None,
    newest: int = NEWEST_ROWS,
    policy: dict[str, Any] | None = None,
    named_locations: list[dict[str, Any]] | None = None,
) -> Impact | None:
    """What the tenant's policy would have blocked or interrupted in the last ``days`` days (its
    reportOnlyFailure and reportOnlyInterrupted outcomes), with the people who matter flagged, counted
    over every one of them, and the ``newest`` of them; None when the policy is not among the tenant's
    collected policies. ``policy`` and ``named_locations``: as just read from Graph (the fixes),
    instead of the collected ones."""
    objects = tenant_objects(conn, [tenant_id], ("conditionalAccessPolicies", "namedLocations"))
    if policy is None:
        policies = objects.get((tenant_id, "conditionalAccessPolicies"), [])
        key = policy_id.lower()
        policy = next(
            (p for p in policies if isinstance(p, dict) and str(p.get("id", "")).lower() == key), None
        )
    if policy is None:
        return None
    start = now - timedelta(days=days)
    found_id = str(policy.get("id"))
    if named_locations is None:
        named_locations = [n for n in objects.get((tenant_id, "namedLocations"), []) if isinstance(n, dict)]
    tallies = would_block_tallies(
        conn,
        tenant_id,
        found_id,
        start,
        now,
        hourly=hourly_timeline(start, now),
        # LOC-1 offers: for the technicians (of the MSP tenant), when the policy exempts a trusted location
        with_ips_by_user=people.in_msp(tenant_id) and offers_ranges(policy, named_locations, trusted_names),
        newest=newest,
    )
    counts = result_counts(conn, tenant_id, found_id, start, now)
    applied = sum(count for result, count in counts.items() if result not in NOT_APPLIED)
    return summarise(
        tenant_id=tenant_id,
        policy=policy,
        start=start,
        end=now,
        tallies=tallies,
        people=people,
        applied=applied,
        first_outcome=first_outcome_hour(conn, tenant_id, found_id),
        named_locations=named_locations,
        trusted_names=trusted_names,
    )


@dataclass(frozen=True)
class ReportOnlyPolicy:
    tenant_id: str
    policy_id: str
    name: str
    modified: str  # modifiedDateTime as collected ('' when absent)


def report_only_policies(conn: Connection, tenant_ids: Sequence[str]) -> list[ReportOnlyPolicy]:
    """Every collected policy in report-only, in the tenants' order then by name."""
    objects = tenant_objects(conn, tenant_ids, ("conditionalAccessPolicies",))
    found = []
    for tenant_id in tenant_ids:
        for p in objects.get((tenant_id, "conditionalAccessPolicies"), []):
            if not isinstance(p, dict) or not p.get("id"):
                continue
            if str(p.get("state", "")).lower() != "enabledforreportingbutnotenforced":
                continue
            found.append(
                ReportOnlyPolicy(
                    tenant_id,
                    str(p["id"]),
                    str(p.get("displayName") or p["id"]),
                    str(p.get("modifiedDateTime") or p.get("createdDateTime") or ""),
                )
            )
    return sorted(found, key=lambda r: (list(tenant_ids).index(r.tenant_id), r.name.lower()))
