"""Sign-in counters: reads of ``signin_rollups`` (timelines, top values, places, filter options, the
wall's counts) and the stored rankings (``signin_top_values``: computed and written by the worker, read by
the pages). Aggregates run in the database, on the rollups for whole hours and days and on the partial
covering index ``ix_signins_failed`` for the ragged edges and the filters the counters do not have;
never on whole tables in Python. Every function works on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
)

from db.models import (
    SignIn,
    SignInBlock,
    SignInPlace,
    SignInRollup,
    SignInTopValue,
    Tenant,
)
from db.signin_index import BLOCKED_DIMS, DAY, HOUR, ROLLUP_DIMS, distinct_values
from db.signin_scope import (
    DAY_SPAN,
    DIMS,
    HOUR_SPAN,
    Scope,
    day_key,
    dim_expression,
    floor_to,
    hour_key,
    minute_key,
    parse_bucket_key,
    plan_ranges,
    signin_conditions,
)
from investigate.codes import BLOCKED, counted_codes
from investigate.filters import Filters
from investigate.timeline import FIVE_MINUTES, bucket_start, grain_for


def rollup_sums(
    conn: Connection,
    grain: str,
    dim: str,
    tenants: Sequence[str],
    first: datetime,
    last: datetime,
    by_bucket: bool,
    values: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """(bucket?, value, label, count) summed over whole buckets [first, last)."""
    r = SignInRollup
    columns: list[Any] = [r.bucket] if by_bucket else []
    query = (
        select(*columns, r.value, func.max(r.label), func.sum(r.count))
        .where(r.grain == grain, r.dim == dim, r.bucket >= first, r.bucket < last, r.tenant_id.in_(tenants))
        .group_by(*columns, r.value)
    )
    if values is not None:
        query = query.where(r.value.in_(list(values)))
    return [tuple(row) for row in conn.execute(query)]


def _code_values(codes: tuple[int, ...] | None) -> list[str] | None:
    """The counters' values (codes as text) for a set of codes; None: every code."""
    return None if codes is None else [str(c) for c in codes]


def timeline(conn: Connection, scope: Scope) -> tuple[str, list[tuple[datetime, int, int]]]:
    """(grain, [(bucket start, error code, sign-ins)]) over the scope's window: 5-minute bars up to six
    hours (read from the index), hourly up to three days, daily beyond (investigate.timeline)."""
    grain = grain_for(scope.end - scope.start)
    counts: Counter[tuple[datetime, int]] = Counter()
    codes = _code_values(scope.filters.counted_codes)
    if grain != FIVE_MINUTES and scope.filters.only_tenant_time_code:
        for piece, a, b in plan_ranges(scope.start, scope.end, (DAY, HOUR) if grain == DAY else (HOUR,)):
            if piece is not None:
                for bucket, value, _label, n in rollup_sums(
                    conn, piece, "code", scope.tenants, a, b, True, codes
                ):
                    counts[(floor_to(bucket, grain), int(value))] += int(n)
                continue
            query = (
                select(SignIn.error_code, func.count())
                .where(*signin_conditions(scope, a, b))
                .group_by(SignIn.error_code)
            )
            for code, n in conn.execute(query):  # a raw piece lies within one bucket
                counts[(floor_to(a, grain), int(code))] += n
    else:
        key = {FIVE_MINUTES: minute_key, HOUR: hour_key, DAY: day_key}[grain](SignIn.created_at)
        query = (
            select(key, SignIn.error_code, func.count())
            .where(*signin_conditions(scope))
            .group_by(key, SignIn.error_code)
        )
        for bucket, code, n in conn.execute(query):
            counts[(bucket_start(parse_bucket_key(bucket), grain), int(code))] += n
    return grain, sorted((bucket, code, n) for (bucket, code), n in counts.items())


@dataclass(frozen=True)
class TopValue:
    value: str
    label: str
    count: int


def top_values(conn: Connection, scope: Scope, dim: str, limit: int = 10) -> list[TopValue]:
    """The most frequent values of one dimension among the scope's failed sign-ins."""
    if dim not in DIMS:
        raise ValueError(f"unknown dimension {dim!r}")
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    any_ids: dict[str, str] = {}  # a sign-in of each user (for display names the index lacks)
    # Whole days from the daily counters, whole hours from the hourly ones where the dimension has them
    # (a 24-hour window ending at 12:00 has no whole day), the ragged edges from the index. The counters
    # of codes are kept by code; apps, countries and places over every failure and over blocked sign-ins
    # (BLOCKED_DIMS), so other sets of codes come from the index. The policy counters count sign-ins
    # whose Conditional Access policy failed, each one a block (Conditional Access fails with a blocking
    # code): they answer either kind.
    codes = _code_values(scope.filters.counted_codes)
    f = scope.filters
    counted = dim
    if dim == "code":
        by_counters = f.only_tenant_time_code
    elif dim == "policy":
        by_counters = f.only_tenant_time_code and not f.codes
    elif dim in BLOCKED_DIMS and f.only_tenant_time_code and f.failures == BLOCKED and not f.codes:
        by_counters, counted = True, BLOCKED_DIMS[dim]
    else:
        by_counters = f.only_tenant_time
    grains = [g for g in (DAY, HOUR) if counted in ROLLUP_DIMS[g]] if by_counters else []
    pieces = plan_ranges(scope.start, scope.end, grains) if grains else [(None, scope.start, scope.end)]
    single_query = len(pieces) == 1 and pieces[0][0] is None
    for grain, a, b in pieces:
        if grain is not None:
            for value, label, n in rollup_sums(
                conn, grain, counted, scope.tenants, a, b, False, codes if dim == "code" else None
            ):
                if value:
                    counts[value] += int(n)
                    if label:
                        labels[value] = label
            continue
        conditions = signin_conditions(scope, a, b)
        if dim == "policy":
            column = SignInBlock.policy_id
            query = (
                select(column, func.count(), func.max(SignInBlock.policy_name))
                .join(SignIn, SignIn.id == SignInBlock.signin_id)
                .where(*conditions)
                .group_by(column)
            )
        elif dim == "user":
            column = SignIn.user_principal_name
            query = select(column, func.count(), func.max(SignIn.id)).where(*conditions, column != "")
            query = query.group_by(column)
        else:
            column = dim_expression(dim)
            query = select(column, func.count()).where(*conditions).group_by(column)
        if single_query:  # one query answers it all: let the database rank (ties by value, as below)
            query = query.order_by(func.count().desc(), column).limit(limit)
        for row in conn.execute(query):
            value = str(row[0])
            if not value or value == "|":  # no IP, no user, no place
                continue
            counts[value] += int(row[1])
            if dim == "policy" and row[2]:
                labels[value] = row[2]
            elif dim == "user":
                any_ids[value] = row[2]
    # Ties in value order: the same answer on every refresh, whichever way the rows came.
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    if dim == "user":
        wanted = [any_ids[v] for v, _ in top if v not in labels and v in any_ids]
        if wanted:
            names = dict(
                conn.execute(
                    select(SignIn.user_principal_name, SignIn.user_display_name).where(SignIn.id.in_(wanted))
                ).all()
            )
            labels.update({upn: name for upn, name in names.items() if name})
    return [TopValue(value, labels.get(value, ""), n) for value, n in top]


RANKED_DAYS = (7, 30)


RANKED_DIMS = ("ip", "user", "app", "country")
# The collector ranks the page's default view: blocked sign-ins of every tenant.
RANKED_KIND = BLOCKED


RANKED_SIZE = 25


def stored_ranking(
    conn: Connection, scope: Scope, dim: str, max_age: timedelta, limit: int = 10
) -> tuple[datetime, list[TopValue]] | None:
    """(as of, values) from the collector's ranking (SignInTopValue), when it answers this scope: every
    active tenant, blocked sign-ins, no other filter, the last 7 or 30 days, computed at most ``max_age``
    before its end."""
    days = round((scope.end - scope.start) / DAY_SPAN)
    f = scope.filters
    if (
        dim not in RANKED_DIMS
        or days not in RANKED_DAYS
        or f.tenants
        or f.period not in ("7d", "30d")
        or not f.only_tenant_time_code
        or f.codes
        or f.failures != RANKED_KIND
    ):
        return None
    t = SignInTopValue
    rows = conn.execute(
        select(t.value, t.label, t.count, t.window_end, t.tenants)
        .where(t.days == days, t.dim == dim)
        .order_by(t.rank)
        .limit(limit)
    ).all()
    if not rows:
        return None
    as_of, tenants = rows[0][3], rows[0][4]
    if tenants != len(scope.tenants) or not timedelta(0) <= scope.end - as_of <= max_age:
        return None
    return as_of, [TopValue(value, label, int(n)) for value, label, n, _e, _t in rows]


def compute_rankings(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """The rankings of IPs and users over the last 7 and 30 days, for :func:`store_rankings` (the
    collector runs both after each full cycle: reading here, writing briefly there)."""
    tenants = [t for (t,) in conn.execute(select(Tenant.tenant_id).where(Tenant.active))]
    rows = []
    for days in RANKED_DAYS:
        scope = Scope(
            Filters(period=f"{days}d", failures=RANKED_KIND), tuple(tenants), now - timedelta(days=days), now
        )
        for dim in RANKED_DIMS:
            for rank, top in enumerate(top_values(conn, scope, dim, RANKED_SIZE) if tenants else [], 1):
                rows.append(
                    {
                        "days": days,
                        "dim": dim,
                        "rank": rank,
                        "value": top.value[:256],
                        "label": top.label[:256],
                        "count": top.count,
                        "window_start": scope.start,
                        "window_end": now,
                        "tenants": len(tenants),
                    }
                )
    return rows


def store_rankings(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(delete(SignInTopValue))
    if rows:
        conn.execute(insert(SignInTopValue), rows)


@dataclass(frozen=True)
class Place:
    country: str
    city: str
    latitude: float | None
    longitude: float | None
    count: int


def places(conn: Connection, scope: Scope, limit: int = 300) -> list[Place]:
    """Where failed sign-ins came from, by country and city, with coordinates for a map."""
    top = top_values(conn, scope, "place", limit)
    countries = {t.value.partition("|")[0] for t in top}
    known = (
        {
            (c, city): (lat, lon)
            for c, city, lat, lon in conn.execute(
                select(
                    SignInPlace.country, SignInPlace.city, SignInPlace.latitude, SignInPlace.longitude
                ).where(SignInPlace.country.in_(countries))
            )
        }
        if top
        else {}
    )
    out = []
    for t in top:
        country, _, city = t.value.partition("|")
        out.append(Place(country, city, *known.get((country, city), (None, None)), t.count))
    return out


def counts_by_tenant(conn: Connection, scope: Scope) -> dict[str, int]:
    """Sign-ins the scope holds per tenant (tenants without any left out), from the counters for whole
    days and hours when they can answer."""
    totals: Counter[str] = Counter()
    codes = _code_values(scope.filters.counted_codes)
    if scope.filters.only_tenant_time_code:
        pieces = plan_ranges(scope.start, scope.end, (DAY, HOUR))
    else:
        pieces = [(None, scope.start, scope.end)]
    r = SignInRollup
    for grain, a, b in pieces:
        if grain is not None:
            query = (
                select(r.tenant_id, func.sum(r.count))
                .where(
                    r.grain == grain,
                    r.dim == "code",
                    r.bucket >= a,
                    r.bucket < b,
                    r.tenant_id.in_(scope.tenants),
                )
                .group_by(r.tenant_id)
            )
            if codes is not None:
                query = query.where(r.value.in_(codes))
        else:
            query = (
                select(SignIn.tenant_id, func.count())
                .where(*signin_conditions(scope, a, b))
                .group_by(SignIn.tenant_id)
            )
        for tenant_id, n in conn.execute(query):
            totals[tenant_id] += int(n or 0)
    return {tenant_id: n for tenant_id, n in totals.items() if n}


def count_failed(conn: Connection, scope: Scope) -> int:
    """How many sign-ins the scope holds: blocked ones, or every failure (``scope.filters.failures``)."""
    return sum(counts_by_tenant(conn, scope).values())


@dataclass(frozen=True)
class FilterOptions:
    codes: list[int]
    policies: list[tuple[str, str, str]]  # (id, name, tenant id): one policy name recurs across tenants
    countries: list[str]
    apps: list[str]


def filter_options(conn: Connection, tenants: Sequence[str], since: datetime) -> FilterOptions:
    """What the filters can choose from: values seen since ``since`` (from the daily counters)."""
    r = SignInRollup
    seen: dict[str, list[str]] = {}
    for dim in ("code", "country", "app"):
        # Each value the counters have (a seek each: ix_signin_rollups_values), kept when a counter of
        # the tenants and the window has it (a seek per tenant at most): not a walk of every counter.
        found = distinct_values(r.value, r.grain == DAY, r.dim == dim)
        # SELECT value, not exists()'s SELECT *: SQLite would walk the key, whose rows hold every column.
        counted = (
            select(r.value)
            .where(
                r.grain == DAY,
                r.dim == dim,
                r.value == found.c.value,
                r.tenant_id.in_(tenants),
                r.bucket >= floor_to(since, DAY),
            )
            .exists()
        )
        values = select(found.c.value).where(found.c.value.is_not(None), counted)
        seen[dim] = list(conn.execute(values).scalars())
    by_tenant = conn.execute(
        select(r.value, r.tenant_id, func.max(r.label))
        .where(r.grain == DAY, r.bucket >= floor_to(since, DAY), r.tenant_id.in_(tenants), r.dim == "policy")
        .group_by(r.value, r.tenant_id)
    ).all()
    codes = sorted(int(v) for v in seen["code"] if v.lstrip("-").isdigit())
    policies = sorted(
        ((v, label or v, tenant_id) for v, tenant_id, label in by_tenant), key=lambda p: (p[1].lower(), p[2])
    )
    countries = sorted(seen["country"])
    apps = sorted(seen["app"], key=str.lower)
    return FilterOptions(codes, policies, countries, apps)


@dataclass(frozen=True)
class BlockedCounts:
    last_hour: int
    previous_hour: int
    last_day: int
    previous_day: int


def blocked_counts(
    conn: Connection, tenants: Sequence[str], now: datetime, failures: str = BLOCKED
) -> BlockedCounts:
    """Blocked sign-ins (or every failure) in the last hour and 24 hours, and in the periods before
    them (for change): sums of the counters by code, the ragged edges from the index."""

    def count(start: datetime, end: datetime) -> int:
        scope = Scope(Filters(failures=failures), tuple(tenants), start, end)
        return count_failed(conn, scope)

    return BlockedCounts(
        count(now - HOUR_SPAN, now),
        count(now - 2 * HOUR_SPAN, now - HOUR_SPAN),
        count(now - DAY_SPAN, now),
        count(now - 2 * DAY_SPAN, now - DAY_SPAN),
    )


def hourly_failed(
    conn: Connection, tenants: Sequence[str], now: datetime, hours: int = 24, failures: str = BLOCKED
) -> list[tuple[datetime, int]]:
    """Blocked sign-ins (or every failure) per hour for the last ``hours`` hours (the current one so
    far), oldest first: the hourly counters of the blocked codes, summed."""
    current = floor_to(now, HOUR)
    first = current - timedelta(hours=hours - 1)
    r = SignInRollup
    query = (
        select(r.bucket, func.sum(r.count))
        .where(
            r.grain == HOUR, r.dim == "code", r.bucket >= first, r.bucket <= current, r.tenant_id.in_(tenants)
        )
        .group_by(r.bucket)
    )
    codes = _code_values(counted_codes(failures))
    if codes is not None:
        query = query.where(r.value.in_(codes))
    rows = conn.execute(query)
    by_hour = {bucket: int(n) for bucket, n in rows}
    return [(first + timedelta(hours=i), by_hour.get(first + timedelta(hours=i), 0)) for i in range(hours)]


def top_blocking_policies(
    conn: Connection, tenants: Sequence[str], now: datetime, hours: int = 24, limit: int = 5
) -> list[tuple[str, str, str, int]]:
    """(tenant, policy id, policy name, blocked sign-ins) over the last ``hours`` hours, most first. The
    policy counters count sign-ins whose Conditional Access policy failed: each one a block."""
    r = SignInRollup
    start = floor_to(now - timedelta(hours=hours), HOUR)
    rows = conn.execute(
        select(r.tenant_id, r.value, func.max(r.label), func.sum(r.count))
        .where(
            r.grain == HOUR, r.dim == "policy", r.bucket >= start, r.bucket <= now, r.tenant_id.in_(tenants)
        )
        .group_by(r.tenant_id, r.value)
        .order_by(func.sum(r.count).desc())
        .limit(limit)
    )
    return [(tenant, pid, name or pid, int(n)) for tenant, pid, name, n in rows]
