"""Reads behind the investigation, MFA and wall pages. Aggregates run in the database, on
``signin_rollups`` for whole hours and days and on the partial covering index ``ix_signins_failed`` for
everything else (the ragged edges of a time range, and filters the counters do not have); never on
whole tables in Python. Every function works on SQLite and PostgreSQL.

Time ranges are [start, end) in naive UTC. ``tenants`` is always an explicit list (the planners then
walk the index tenant by tenant); pass every active tenant for "all".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    cast,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from db.models import (
    CollectionState,
    GraphObject,
    MfaCoverageDaily,
    SignIn,
    SignInBlock,
    SignInPlace,
    SignInRollup,
    SignInTopValue,
    Tenant,
)
from db.signin_index import DAY, HOUR, ROLLUP_DIMS
from investigate.filters import Filters
from investigate.network import IpFilter, parse_ip
from posture.graph import is_msp_person_elsewhere

# Must read `error_code != 0` literally: that is the partial index's condition (db.models).
FAILED = SignIn.error_code != literal_column("0")

HOUR_SPAN = timedelta(hours=1)
DAY_SPAN = timedelta(days=1)
# Up to this range a timeline has hourly bars, beyond it daily ones.
HOURLY_TIMELINE_UP_TO = timedelta(days=3)
MAX_CIDR_ADDRESSES = 5000  # distinct failing addresses a CIDR filter may expand to

# dim -> the sign-in column it groups by (policy and place are special)
DIM_COLUMNS = {
    "code": SignIn.error_code,
    "app": SignIn.app_display_name,
    "country": SignIn.country,
    "ip": SignIn.ip_address,
    "user": SignIn.user_principal_name,
}
DIMS = ("code", "policy", "app", "country", "ip", "user", "place")


# --- time buckets --------------------------------------------------------------------------------


def floor_to(moment: datetime, grain: str) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if grain == HOUR else hour.replace(hour=0)


def ceil_to(moment: datetime, grain: str) -> datetime:
    floor = floor_to(moment, grain)
    return floor if floor == moment else floor + (HOUR_SPAN if grain == HOUR else DAY_SPAN)


def split_range(
    start: datetime, end: datetime, grain: str
) -> tuple[tuple[datetime, datetime] | None, list[tuple[datetime, datetime]]]:
    """[start, end) as (whole buckets [first, last) or None, the ragged edges to read raw)."""
    first, last = ceil_to(start, grain), floor_to(end, grain)
    if first >= last:
        return None, [(start, end)] if start < end else []
    edges = [(a, b) for a, b in ((start, first), (last, end)) if a < b]
    return (first, last), edges


def plan_ranges(
    start: datetime, end: datetime, grains: Sequence[str]
) -> list[tuple[str | None, datetime, datetime]]:
    """[start, end) as pieces: whole days (if DAY in ``grains``), then whole hours of what is left (if
    HOUR in ``grains``), then the raw rest (grain None)."""
    pieces: list[tuple[str | None, datetime, datetime]] = []
    left = [(start, end)] if start < end else []
    for grain in (DAY, HOUR):
        if grain not in grains:
            continue
        rest = []
        for a, b in left:
            whole, edges = split_range(a, b, grain)
            if whole is not None:
                pieces.append((grain, *whole))
            rest += edges
        left = rest
    return pieces + [(None, a, b) for a, b in left]


def _hour_key(column: Any) -> Any:
    """'YYYY-MM-DD HH' of a timestamp, portably: CAST to text is ISO on both databases."""
    return func.substr(cast(column, String), 1, 13)


def _day_key(column: Any) -> Any:
    return func.substr(cast(column, String), 1, 10)


def _parse_key(key: str) -> datetime:
    return (
        datetime.strptime(key[:13], "%Y-%m-%d %H")
        if len(key) >= 13
        else datetime.strptime(key[:10], "%Y-%m-%d")
    )


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A filter resolved for the database: the tenant list and the window are explicit."""

    filters: Filters
    tenants: tuple[str, ...]
    start: datetime
    end: datetime
    msp_tenant_id: str = ""
    cidr_addresses: tuple[str, ...] | None = None  # a CIDR filter, expanded (None: no CIDR filter)


def resolve_scope(
    conn: Connection, filters: Filters, now: datetime, all_tenants: Sequence[str], msp_tenant_id: str = ""
) -> Scope:
    """Filters → Scope: tenants made explicit, window computed, a CIDR expanded to addresses seen."""
    tenants = (
        tuple(t for t in filters.tenants if t in set(all_tenants)) if filters.tenants else tuple(all_tenants)
    )
    start, end = filters.window(now)
    scope = Scope(filters, tenants, start, end, msp_tenant_id)
    ip = filters.ip_filter
    if ip is not None and not ip.single:
        return Scope(filters, tenants, start, end, msp_tenant_id, tuple(_addresses_in(conn, scope, ip)))
    return scope


def _addresses_in(conn: Connection, scope: Scope, ip: IpFilter) -> list[str]:
    """Failing addresses in the window that lie in the CIDR (narrowed in SQL by the fixed octets)."""
    network = ip.network
    query = select(SignIn.ip_address).distinct().where(*_base(scope))
    if network.version == 4 and network.prefixlen >= 8:
        octets = str(network.network_address).split(".")[: network.prefixlen // 8]
        query = query.where(SignIn.ip_address.startswith(".".join(octets) + ".", autoescape=True))
    elif network.version == 6:
        query = query.where(SignIn.ip_address.contains(":"))
    out = []
    for (value,) in conn.execute(query):
        address = parse_ip(value)
        if address is not None and address.version == network.version and address in network:
            out.append(value)
            if len(out) >= MAX_CIDR_ADDRESSES:
                break
    return out


def _base(scope: Scope) -> list[ColumnElement[bool]]:
    """Failed, in the tenants, in the window."""
    return [
        FAILED,
        SignIn.tenant_id.in_(scope.tenants),
        SignIn.created_at >= scope.start,
        SignIn.created_at < scope.end,
    ]


def _conditions(
    scope: Scope, start: datetime | None = None, end: datetime | None = None
) -> list[ColumnElement[bool]]:
    f = scope.filters
    start, end = start or scope.start, end or scope.end
    out: list[ColumnElement[bool]] = [
        FAILED,
        SignIn.tenant_id.in_(scope.tenants),
        SignIn.created_at >= start,
        SignIn.created_at < end,
    ]
    if f.user:
        out.append(SignIn.user_principal_name.icontains(f.user, autoescape=True))
    if f.app:
        out.append(SignIn.app_display_name.icontains(f.app, autoescape=True))
    ip = f.ip_filter
    if ip is not None:
        if ip.single:
            out.append(SignIn.ip_address == str(ip.network.network_address))
        elif scope.cidr_addresses:
            out.append(SignIn.ip_address.in_(scope.cidr_addresses))
        else:
            out.append(false())
    if f.country:
        out.append(SignIn.country == f.country)
    if f.codes:
        out.append(SignIn.error_code.in_(f.codes))
    if f.policy:  # a policy's sign-ins are few: start from them (the planner then looks up each by id)
        block = aliased(SignInBlock)  # the query may join signin_blocks itself (top policies)
        out.append(
            SignIn.id.in_(
                select(block.signin_id).where(
                    block.policy_id == f.policy, block.created_at >= start, block.created_at < end
                )
            )
        )
    if f.interactive is not None:
        out.append(SignIn.is_interactive.is_(f.interactive))
    if f.service_provider:
        # posture.graph.is_msp_person_elsewhere in SQL: the home tenant decides when present.
        no_home = or_(SignIn.home_tenant_id.is_(None), SignIn.home_tenant_id == "")
        provider = and_(no_home, func.lower(SignIn.cross_tenant_access_type) == "serviceprovider")
        if scope.msp_tenant_id:
            msp = scope.msp_tenant_id.lower()
            provider = or_(provider, and_(func.lower(SignIn.home_tenant_id) == msp, SignIn.tenant_id != msp))
        out.append(provider)
    return out


# --- the investigation -----------------------------------------------------------------------------


def _rollup_sums(
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


def timeline(conn: Connection, scope: Scope) -> tuple[str, list[tuple[datetime, int, int]]]:
    """(grain, [(bucket start, error code, failed sign-ins)]) over the scope's window."""
    grain = HOUR if scope.end - scope.start <= HOURLY_TIMELINE_UP_TO else DAY
    counts: Counter[tuple[datetime, int]] = Counter()
    codes = [str(c) for c in scope.filters.codes] or None
    if scope.filters.only_tenant_time_code:
        for piece, a, b in plan_ranges(scope.start, scope.end, (DAY, HOUR) if grain == DAY else (HOUR,)):
            if piece is not None:
                for bucket, value, _label, n in _rollup_sums(
                    conn, piece, "code", scope.tenants, a, b, True, codes
                ):
                    counts[(floor_to(bucket, grain), int(value))] += int(n)
                continue
            query = (
                select(SignIn.error_code, func.count())
                .where(*_conditions(scope, a, b))
                .group_by(SignIn.error_code)
            )
            for code, n in conn.execute(query):  # a raw piece lies within one bucket
                counts[(floor_to(a, grain), int(code))] += n
    else:
        key = (_hour_key if grain == HOUR else _day_key)(SignIn.created_at)
        query = (
            select(key, SignIn.error_code, func.count())
            .where(*_conditions(scope))
            .group_by(key, SignIn.error_code)
        )
        for bucket, code, n in conn.execute(query):
            counts[(_parse_key(bucket), int(code))] += n
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
    # (a 24-hour window ending at 12:00 has no whole day), the ragged edges from the index.
    grains = [g for g in (DAY, HOUR) if dim in ROLLUP_DIMS[g]] if scope.filters.only_tenant_time else []
    pieces = plan_ranges(scope.start, scope.end, grains) if grains else [(None, scope.start, scope.end)]
    single_query = len(pieces) == 1 and pieces[0][0] is None
    for grain, a, b in pieces:
        if grain is not None:
            for value, label, n in _rollup_sums(conn, grain, dim, scope.tenants, a, b, False):
                if value:
                    counts[value] += int(n)
                    if label:
                        labels[value] = label
            continue
        conditions = _conditions(scope, a, b)
        if dim == "policy":
            query = (
                select(SignInBlock.policy_id, func.count(), func.max(SignInBlock.policy_name))
                .join(SignIn, SignIn.id == SignInBlock.signin_id)
                .where(*conditions)
                .group_by(SignInBlock.policy_id)
            )
        elif dim == "user":
            query = (
                select(SignIn.user_principal_name, func.count(), func.max(SignIn.id))
                .where(*conditions, SignIn.user_principal_name != "")
                .group_by(SignIn.user_principal_name)
            )
        else:
            column = _dim_expression(dim)
            query = select(column, func.count()).where(*conditions).group_by(column)
        if single_query:  # one query answers it all: let the database rank
            query = query.order_by(func.count().desc()).limit(limit)
        for row in conn.execute(query):
            value = str(row[0])
            if not value or value == "|":  # no IP, no user, no place
                continue
            counts[value] += int(row[1])
            if dim == "policy" and row[2]:
                labels[value] = row[2]
            elif dim == "user":
                any_ids[value] = row[2]
    top = counts.most_common(limit)
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
RANKED_DIMS = ("ip", "user")
RANKED_SIZE = 25


def stored_ranking(
    conn: Connection, scope: Scope, dim: str, max_age: timedelta, limit: int = 10
) -> tuple[datetime, list[TopValue]] | None:
    """(as of, values) from the collector's ranking (SignInTopValue), when it answers this scope: every
    active tenant, no other filter, the last 7 or 30 days, computed at most ``max_age`` before its end."""
    days = round((scope.end - scope.start) / DAY_SPAN)
    if (
        dim not in RANKED_DIMS
        or days not in RANKED_DAYS
        or scope.filters.tenants
        or scope.filters.period not in ("7d", "30d")
        or not scope.filters.only_tenant_time
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
        scope = Scope(Filters(period=f"{days}d"), tuple(tenants), now - timedelta(days=days), now)
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


def _dim_expression(dim: str) -> Any:
    if dim == "place":
        return SignIn.country.concat("|").concat(SignIn.city)
    return DIM_COLUMNS[dim]


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


@dataclass(frozen=True)
class FailedSignIn:
    id: str
    tenant_id: str
    created_at: datetime
    user_principal_name: str
    app: str
    ip: str
    country: str
    city: str
    error_code: int
    interactive: bool
    policy_id: str
    policy_name: str
    service_provider: bool


_LIST_COLUMNS = (
    SignIn.id,
    SignIn.tenant_id,
    SignIn.created_at,
    SignIn.user_principal_name,
    SignIn.app_display_name,
    SignIn.ip_address,
    SignIn.country,
    SignIn.city,
    SignIn.error_code,
    SignIn.is_interactive,
    SignIn.cross_tenant_access_type,
    SignIn.home_tenant_id,
)


def failed_signins(conn: Connection, scope: Scope, limit: int = 200) -> list[FailedSignIn]:
    """The newest failed sign-ins in the scope. Read in growing slices from the end of the window, so
    the newest rows of a busy month cost what the newest hour costs."""
    found: list[tuple[Any, ...]] = []
    end = scope.end
    span = min(HOUR_SPAN, scope.end - scope.start)
    while end > scope.start and len(found) < limit:
        start = max(scope.start, end - span)
        query = (
            select(*_LIST_COLUMNS)
            .where(*_conditions(scope, start, end))
            .order_by(SignIn.created_at.desc())
            .limit(limit - len(found))
        )
        found += [tuple(r) for r in conn.execute(query)]
        end, span = start, span * 4
    blocks = _blocks(conn, [r[0] for r in found])
    msp = scope.msp_tenant_id.lower()
    out = []
    for sid, tenant, created, upn, app, ip, country, city, code, interactive, cross, home in found:
        policy_id, policy_name = blocks.get(sid, ("", ""))
        provider = is_msp_person_elsewhere(home, cross, tenant, msp)
        out.append(
            FailedSignIn(
                sid,
                tenant,
                created,
                upn,
                app,
                ip,
                country,
                city,
                int(code),
                bool(interactive),
                policy_id,
                policy_name,
                provider,
            )
        )
    return out


def _blocks(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    if not ids:
        return {}
    rows = conn.execute(
        select(SignInBlock.signin_id, SignInBlock.policy_id, SignInBlock.policy_name).where(
            SignInBlock.signin_id.in_(list(ids))
        )
    )
    return {sid: (pid, name) for sid, pid, name in rows}


def count_failed(conn: Connection, scope: Scope) -> int:
    """How many failed sign-ins the scope holds (the counters for whole days and hours, when they can)."""
    total = 0
    codes = [str(c) for c in scope.filters.codes] or None
    if scope.filters.only_tenant_time_code:
        pieces = plan_ranges(scope.start, scope.end, (DAY, HOUR))
    else:
        pieces = [(None, scope.start, scope.end)]
    for grain, a, b in pieces:
        if grain is not None:
            total += sum(
                int(n) for _v, _l, n in _rollup_sums(conn, grain, "code", scope.tenants, a, b, False, codes)
            )
        else:
            total += conn.execute(select(func.count()).where(*_conditions(scope, a, b))).scalar() or 0
    return total


def signin_raw(conn: Connection, signin_id: str) -> tuple[str, dict[str, Any]] | None:
    """(tenant id, the sign-in as Graph returned it), or None."""
    row = conn.execute(select(SignIn.tenant_id, SignIn.raw).where(SignIn.id == signin_id)).first()
    if row is None:
        return None
    try:
        body = orjson.loads(row[1])
    except orjson.JSONDecodeError:
        body = {}
    return row[0], body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class FilterOptions:
    codes: list[int]
    policies: list[tuple[str, str]]  # (id, name)
    countries: list[str]
    apps: list[str]


def filter_options(conn: Connection, tenants: Sequence[str], since: datetime) -> FilterOptions:
    """What the filters can choose from: values seen since ``since`` (from the daily counters)."""
    r = SignInRollup
    rows = conn.execute(
        select(r.dim, r.value, func.max(r.label))
        .where(
            r.grain == DAY,
            r.bucket >= floor_to(since, DAY),
            r.tenant_id.in_(tenants),
            r.dim.in_(("code", "policy", "country", "app")),
        )
        .group_by(r.dim, r.value)
    ).all()
    codes = sorted(int(v) for d, v, _ in rows if d == "code" and v.lstrip("-").isdigit())
    policies = sorted(((v, label or v) for d, v, label in rows if d == "policy"), key=lambda p: p[1].lower())
    countries = sorted(v for d, v, _ in rows if d == "country")
    apps = sorted((v for d, v, _ in rows if d == "app"), key=str.lower)
    return FilterOptions(codes, policies, countries, apps)


# --- explanation context ---------------------------------------------------------------------------


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


# --- the wall ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockedCounts:
    last_hour: int
    previous_hour: int
    last_day: int
    previous_day: int


def blocked_counts(conn: Connection, tenants: Sequence[str], now: datetime) -> BlockedCounts:
    """Failed sign-ins in the last hour and 24 hours, and in the periods before them (for change)."""

    def count(start: datetime, end: datetime) -> int:
        scope = Scope(Filters(), tuple(tenants), start, end)
        return count_failed(conn, scope)

    return BlockedCounts(
        count(now - HOUR_SPAN, now),
        count(now - 2 * HOUR_SPAN, now - HOUR_SPAN),
        count(now - DAY_SPAN, now),
        count(now - 2 * DAY_SPAN, now - DAY_SPAN),
    )


def hourly_failed(
    conn: Connection, tenants: Sequence[str], now: datetime, hours: int = 24
) -> list[tuple[datetime, int]]:
    """Failed sign-ins per hour for the last ``hours`` hours (the current one so far), oldest first."""
    current = floor_to(now, HOUR)
    first = current - timedelta(hours=hours - 1)
    r = SignInRollup
    rows = conn.execute(
        select(r.bucket, func.sum(r.count))
        .where(
            r.grain == HOUR, r.dim == "code", r.bucket >= first, r.bucket <= current, r.tenant_id.in_(tenants)
        )
        .group_by(r.bucket)
    )
    by_hour = {bucket: int(n) for bucket, n in rows}
    return [(first + timedelta(hours=i), by_hour.get(first + timedelta(hours=i), 0)) for i in range(hours)]


def top_blocking_policies(
    conn: Connection, tenants: Sequence[str], now: datetime, hours: int = 24, limit: int = 5
) -> list[tuple[str, str, str, int]]:
    """(tenant, policy id, policy name, blocked sign-ins) over the last ``hours`` hours, most first."""
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


# --- MFA ---------------------------------------------------------------------------------------------


def freshness_rows(
    conn: Connection, now: datetime, fresh_within_s: dict[str, float], default_fresh_s: float
) -> list[dict[str, Any]]:
    """Per active tenant and source: age of the last success, fresh, failing (the wall's freshness tile;
    db.queries.source_status without the ORM objects, which the wall would build every period)."""
    c = CollectionState
    rows = conn.execute(
        select(c.tenant_id, c.source, c.last_success_at, c.last_error_at)
        .join(Tenant, Tenant.tenant_id == c.tenant_id)
        .where(Tenant.active)
    )
    out = []
    for tenant_id, source, success, error in rows:
        age = (now - success).total_seconds() if success else None
        limit = fresh_within_s.get(source, default_fresh_s)
        out.append(
            {
                "tenantId": tenant_id,
                "source": source,
                "ageSeconds": age,
                "fresh": age is not None and age <= limit,
                "failing": bool(error and (success is None or error > success)),
            }
        )
    return out


def mfa_coverage_latest(conn: Connection) -> tuple[date | None, list[MfaCoverageDaily]]:
    """The latest day's MFA coverage rows (one per tenant)."""
    from sqlalchemy.orm import Session

    day = conn.execute(select(func.max(MfaCoverageDaily.day))).scalar()
    if day is None:
        return None, []
    with Session(conn) as session:
        rows = list(session.scalars(select(MfaCoverageDaily).where(MfaCoverageDaily.day == day)))
        session.expunge_all()
    return day, rows


def mfa_trend(
    conn: Connection, since: date, tenants: Sequence[str] | None = None
) -> list[tuple[date, int, int]]:
    """(day, enabled members, MFA capable) summed over the tenants, per day since ``since``."""
    m = MfaCoverageDaily
    query = select(m.day, func.sum(m.enabled_members), func.sum(m.mfa_capable)).where(m.day >= since)
    if tenants:
        query = query.where(m.tenant_id.in_(list(tenants)))
    return [
        (day, int(members or 0), int(capable or 0))
        for day, members, capable in conn.execute(query.group_by(m.day).order_by(m.day))
    ]


@dataclass(frozen=True)
class AccountSignIn:
    id: str
    created_at: datetime
    app: str
    ip: str
    error_code: int
    authentication_requirement: str


def account_signins(
    conn: Connection, tenant_id: str, upn: str, since: datetime, until: datetime, limit: int = 200
) -> list[AccountSignIn]:
    """One account's sign-ins in one tenant, newest first (the service account's MFA evidence)."""
    if not upn:
        return []
    rows = conn.execute(
        select(
            SignIn.id,
            SignIn.created_at,
            SignIn.app_display_name,
            SignIn.ip_address,
            SignIn.error_code,
            SignIn.authentication_requirement,
        )
        .where(
            SignIn.tenant_id == tenant_id,
            SignIn.created_at >= since,
            SignIn.created_at < until,
            func.lower(SignIn.user_principal_name) == upn.lower(),
        )
        .order_by(SignIn.created_at.desc())
        .limit(limit)
    )
    return [
        AccountSignIn(sid, created, app, ip, int(code), requirement or "")
        for sid, created, app, ip, code, requirement in rows
    ]
