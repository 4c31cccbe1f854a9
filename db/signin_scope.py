"""Which sign-ins a page asks about: the time buckets of the counters and a filter's scope (tenants,
window, conditions) as SQL conditions on ``signins`` and ``signin_blocks``; every reader of sign-ins starts
here. Time ranges are [start, end) in naive UTC; ``tenants`` is always an explicit list (the planners
then walk the index tenant by tenant); pass every active tenant for "all"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    cast,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from db.models import (
    SignIn,
    SignInBlock,
)
from db.signin_index import DAY, FAILED, HOUR
from investigate.filters import Filters
from investigate.network import IpFilter, parse_ip
from investigate.timeline import HOURS_UP_TO

HOUR_SPAN = timedelta(hours=1)


DAY_SPAN = timedelta(days=1)


# Up to this range a timeline has hourly bars (or 5-minute ones: investigate.timeline), beyond it daily.
HOURLY_TIMELINE_UP_TO = HOURS_UP_TO


MAX_CIDR_ADDRESSES = 5000  # distinct failing addresses a CIDR filter may expand to


# A search (a user, an app, an IP…) is matched once, by resolve_scope, when it finds at most this many
# failed sign-ins: the page's queries then look those up by id instead of each walking the whole window
# of the index again (10 M sign-ins, a month: 0.3-0.4 s a query, ten queries a page).
MAX_SEARCH_IDS = 5000
# PostgreSQL looks an id up in each day's partition of the window (the key is id and time): there a
# month's search is narrowed only to this many id look-ups (10 M sign-ins: 3,705 ids over 30 days took
# 1.2 s a query, the scan 0.45 s; 245 ids, 50 ms).
MAX_PARTITION_PROBES = 15000


def search_id_limit(conn: Connection, start: datetime, end: datetime) -> int:
    """How many matches a search is narrowed to (MAX_SEARCH_IDS, less on PostgreSQL for long windows)."""
    if conn.dialect.name != "postgresql":
        return MAX_SEARCH_IDS
    days = max(1, (end - start).days + 1)
    return min(MAX_SEARCH_IDS, MAX_PARTITION_PROBES // days)


# dim -> the sign-in column it groups by (policy and place are special)
DIM_COLUMNS = {
    "code": SignIn.error_code,
    "app": SignIn.app_display_name,
    "country": SignIn.country,
    "ip": SignIn.ip_address,
    "user": SignIn.user_principal_name,
}


DIMS = ("code", "policy", "app", "country", "ip", "user", "place")


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


def hour_key(column: Any) -> Any:
    """'YYYY-MM-DD HH' of a timestamp, portably: CAST to text is ISO on both databases."""
    return func.substr(cast(column, String), 1, 13)


def minute_key(column: Any) -> Any:
    """'YYYY-MM-DD HH:MM' of a timestamp (the short timelines' 5-minute bars are made of these)."""
    return func.substr(cast(column, String), 1, 16)


def day_key(column: Any) -> Any:
    return func.substr(cast(column, String), 1, 10)


def parse_bucket_key(key: str) -> datetime:
    if len(key) >= 16:
        return datetime.strptime(key[:16], "%Y-%m-%d %H:%M")
    if len(key) >= 13:
        return datetime.strptime(key[:13], "%Y-%m-%d %H")
    return datetime.strptime(key[:10], "%Y-%m-%d")


@dataclass(frozen=True)
class Scope:
    """A filter resolved for the database: the tenant list and the window are explicit."""

    filters: Filters
    tenants: tuple[str, ...]
    start: datetime
    end: datetime
    msp_tenant_id: str = ""
    cidr_addresses: tuple[str, ...] | None = None  # a CIDR filter, expanded (None: no CIDR filter)
    ids: tuple[str, ...] | None = None  # a search's failed sign-ins, found once (None: not narrowed so)


def resolve_scope(
    conn: Connection, filters: Filters, now: datetime, all_tenants: Sequence[str], msp_tenant_id: str = ""
) -> Scope:
    """Filters → Scope: tenants made explicit, window computed, a CIDR expanded to addresses seen, a
    search's failed sign-ins found once when they are few (search_id_limit)."""
    tenants = (
        tuple(t for t in filters.tenants if t in set(all_tenants)) if filters.tenants else tuple(all_tenants)
    )
    start, end = filters.window(now)
    scope = Scope(filters, tenants, start, end, msp_tenant_id)
    ip = filters.ip_filter
    if ip is not None and not ip.single:
        scope = replace(scope, cidr_addresses=tuple(_addresses_in(conn, scope, ip)))
    if not filters.only_tenant_time_code:  # a search: the counters cannot answer it
        # Stops at the first limit + 1 matches: a broad filter costs little here.
        limit = search_id_limit(conn, start, end)
        query = select(SignIn.id).where(*signin_conditions(scope)).limit(limit + 1)
        ids = tuple(conn.execute(query).scalars())
        if len(ids) <= limit:
            scope = replace(scope, ids=ids)
    return scope


def reads_few(scope: Scope) -> bool:
    """Whether the scope's sign-ins are looked up by id (a search's few matches: resolve_scope) rather
    than by walking the window: a reader then asks for the whole window at once."""
    return scope.ids is not None


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
    """Failed, in the tenants, in the window (of any kind: a CIDR's addresses are looked up once)."""
    return [
        FAILED,
        SignIn.tenant_id.in_(scope.tenants),
        SignIn.created_at >= scope.start,
        SignIn.created_at < scope.end,
    ]


def signin_conditions(
    scope: Scope, start: datetime | None = None, end: datetime | None = None
) -> list[ColumnElement[bool]]:
    f = scope.filters
    start, end = start or scope.start, end or scope.end
    if scope.ids is not None:
        # A search's matches, found once under every condition below (resolve_scope): looked up by id.
        # Only the window stays (a function reads parts of it); a condition on the tenants would make the
        # planners walk the month's index again instead.
        return [SignIn.id.in_(scope.ids), SignIn.created_at >= start, SignIn.created_at < end]
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
    codes = f.counted_codes  # the kind (blocked or every failure) and the chosen codes
    if codes is not None:
        out.append(SignIn.error_code.in_(codes) if codes else false())
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


def dim_expression(dim: str) -> Any:
    if dim == "place":
        return SignIn.country.concat("|").concat(SignIn.city)
    return DIM_COLUMNS[dim]
