"""What is kept beside the sign-ins, written in the same transaction as their insert
(db.signin_ingest: :func:`failure_rows` and :func:`outcome_rows` build the rows, pure; the page's
writer sends them with :data:`STATEMENTS`).

Kept with every failed sign-in: the blocking policy (``signin_blocks``), the place's coordinates
(``signin_places``) and counters per hour and day (``signin_rollups``). The failed sign-ins' own filter
columns live in the partial covering index ``ix_signins_failed`` (db.models).

Kept with EVERY sign-in: each Conditional Access policy's result (``signin_policy_outcomes``, postings
of sign-in ids per policy, result and hour), and each would-be block of a report-only policy with the
sign-in's columns (``signin_would_block``), for what report-only policies would have done
(db.policy_outcomes).

Idempotent: only sign-ins not stored before are counted (:func:`stored_ids`). A stored sign-in of the
tenant has a createdDateTime between the tenant's oldest and newest stored one, so only rows inside that
span (the collectors' overlap re-reads) are looked up by id; SQLite serialises writers (BEGIN
IMMEDIATE) and the collectors never collect one tenant twice at once, so the check and the insert see
the same table.

This is the hot path (bench/ingest.py): per failed sign-in it costs one dict look-up or two and one
counter increment; statements are compiled once per dialect and sent straight to the driver
(db.driver), as the sign-ins themselves are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
)

from db.driver import DriverStatement, dialect_insert
from db.models import (
    SignIn,
    SignInBlock,
    SignInPlace,
    SignInPolicyOutcome,
    SignInRollup,
    SignInWouldBlock,
)
from db.rows import SIGNIN_COLUMNS
from investigate.codes import BLOCKED_CODES
from investigate.explain import coordinates, primary_blocking_policy

BLOCKS: Table = SignInBlock.__table__  # type: ignore[assignment]
PLACES: Table = SignInPlace.__table__  # type: ignore[assignment]
ROLLUPS: Table = SignInRollup.__table__  # type: ignore[assignment]
OUTCOMES: Table = SignInPolicyOutcome.__table__  # type: ignore[assignment]
WOULD_BLOCK_TABLE: Table = SignInWouldBlock.__table__  # type: ignore[assignment]
OUTCOME_COLUMNS = (
    "tenant_id",
    "policy_id",
    "result",
    "hour",
    "first_id",
    "signin_ids",
    "packed_ids",
    "count",
)
OUTCOME_SEPARATOR = " "  # between the ids of a postings row that are not all GUIDs


def pack_ids(ids: list[str]) -> tuple[str, bytes | None]:
    """(signin_ids, packed_ids) of a postings row: canonical lower-case GUIDs (Graph's sign-in ids) as
    16 bytes each, anything else space-separated as written."""
    n = len(ids)
    if n and set(map(len, ids)) == {36}:
        joined, dashes = "".join(ids), "-" * n
        if joined[8::36] == joined[13::36] == joined[18::36] == joined[23::36] == dashes:
            compact = joined.replace("-", "")
            try:
                packed = bytes.fromhex(compact)
            except ValueError:
                packed = b""
            if packed.hex() == compact:  # lower-case hex digits only: written back as they came
                return "", packed
    return OUTCOME_SEPARATOR.join(ids), None


def unpack_ids(signin_ids: str, packed_ids: bytes | None) -> list[str]:
    """The ids of a postings row (:func:`pack_ids`, or a row written before packing)."""
    if packed_ids is None:
        return signin_ids.split(OUTCOME_SEPARATOR)
    hexed = bytes(packed_ids).hex()
    return [
        f"{hexed[i : i + 8]}-{hexed[i + 8 : i + 12]}-{hexed[i + 12 : i + 16]}-{hexed[i + 16 : i + 20]}-"
        f"{hexed[i + 20 : i + 32]}"
        for i in range(0, len(hexed), 32)
    ]


HOUR, DAY = "h", "d"
# Which dimensions are counted at which grain: hours serve the wall and short timelines, days long
# ranges. IPs and users are not: a password spray brings nearly as many distinct values as sign-ins, so
# such counters would be as big as the index that answers them (db.signin_aggregates.top_values).
# The daily counters of apps, countries and places count every failure, and blocked sign-ins
# (investigate.codes.BLOCKED_CODES: the pages' default view) once more under a dimension of their own:
# without these a month of blocked sign-ins' apps was read from the index (10 M sign-ins: 0.7 s).
BLOCKED_DIMS: dict[str, str] = {"app": "app:blocked", "country": "country:blocked", "place": "place:blocked"}
ROLLUP_DIMS: dict[str, tuple[str, ...]] = {
    HOUR: ("code", "policy"),
    DAY: ("code", "policy", "app", "country", "place", *BLOCKED_DIMS.values()),  # place: 'country|city'
}
ROLLUP_COLUMNS = ("grain", "dim", "bucket", "tenant_id", "value", "label", "count")
BLOCK_COLUMNS = ("signin_id", "tenant_id", "created_at", "policy_id", "policy_name")
PLACE_COLUMNS = ("country", "city", "latitude", "longitude")

_ID, _CREATED, _APP, _COUNTRY, _CITY, _CODE = (
    SIGNIN_COLUMNS.index(c) for c in ("id", "created_at", "app_display_name", "country", "city", "error_code")
)
_CHUNK = 500  # ids per IN (...) look-up


def _rollups_upsert(dialect: Dialect) -> DriverStatement:
    upsert = dialect_insert(dialect, ROLLUPS).values({c: bindparam(c) for c in ROLLUP_COLUMNS})
    upsert = upsert.on_conflict_do_update(
        index_elements=["grain", "dim", "bucket", "tenant_id", "value"],
        set_={"count": ROLLUPS.c.count + upsert.excluded.count, "label": upsert.excluded.label},
    )
    return DriverStatement(dialect, upsert, ROLLUPS, ROLLUP_COLUMNS, convert=("bucket",))


def _blocks_insert(dialect: Dialect) -> DriverStatement:
    insert = dialect_insert(dialect, BLOCKS).values({c: bindparam(c) for c in BLOCK_COLUMNS})
    insert = insert.on_conflict_do_nothing(index_elements=["signin_id"])
    return DriverStatement(dialect, insert, BLOCKS, BLOCK_COLUMNS, convert=("created_at",))


def _outcomes_insert(dialect: Dialect) -> DriverStatement:
    insert = dialect_insert(dialect, OUTCOMES).values({c: bindparam(c) for c in OUTCOME_COLUMNS})
    # A key seen twice can only be a page written again after a rollback elsewhere: same ids.
    insert = insert.on_conflict_do_nothing(index_elements=list(OUTCOME_COLUMNS[:5]))
    return DriverStatement(dialect, insert, OUTCOMES, OUTCOME_COLUMNS, convert=("hour",))


SignInOutcomes = tuple[tuple, list[tuple[str, str]]]
"""(db.rows tuple, [(policy id, result)]) of one sign-in (db.rows.signin_row_outcomes)."""

# What a report-only policy would have done had it been On: kept with the sign-in's columns too.
WOULD_BLOCK = frozenset(("reportOnlyFailure", "reportOnlyInterrupted"))
WOULD_BLOCK_COLUMNS = (
    "tenant_id",
    "policy_id",
    "created_at",
    "signin_id",
    "result",
    "user_principal_name",
    "app_display_name",
    "ip_address",
    "country",
    "cross_tenant_access_type",
    "home_tenant_id",
)
_UPN, _IP, _ACCESS, _HOME = (
    SIGNIN_COLUMNS.index(c)
    for c in ("user_principal_name", "ip_address", "cross_tenant_access_type", "home_tenant_id")
)


def _would_block_insert(dialect: Dialect) -> DriverStatement:
    insert = dialect_insert(dialect, WOULD_BLOCK_TABLE).values({c: bindparam(c) for c in WOULD_BLOCK_COLUMNS})
    insert = insert.on_conflict_do_nothing(index_elements=list(WOULD_BLOCK_COLUMNS[:4]))
    return DriverStatement(dialect, insert, WOULD_BLOCK_TABLE, WOULD_BLOCK_COLUMNS, convert=("created_at",))


def outcome_rows(tenant_id: str, signins: Iterable[SignInOutcomes]) -> tuple[list[tuple], list[tuple]]:
    """Every policy outcome of the sign-ins (each sign-in once: new ones only), as postings rows
    (OUTCOME_COLUMNS: one per policy, result and hour) and, for a would-be block of a report-only
    policy, a row with the sign-in's columns (WOULD_BLOCK_COLUMNS, ``signin_would_block``). Pure."""
    postings: dict[tuple[str, str, datetime], list[str]] = {}
    posting = postings.get
    would_block: list[tuple] = []
    for row, applied in signins:  # hot: locals only
        signin_id = row[_ID]
        created = row[_CREATED]
        hour = created.replace(minute=0, second=0, microsecond=0)
        for policy_id, result in applied:
            key = (policy_id, result, hour)
            ids = posting(key)
            if ids is None:
                postings[key] = [signin_id]
            else:
                ids.append(signin_id)
            if result in WOULD_BLOCK:
                would_block.append(
                    (
                        tenant_id,
                        policy_id,
                        created,
                        signin_id,
                        result,
                        row[_UPN][:256],
                        row[_APP][:256],
                        row[_IP][:64],
                        row[_COUNTRY][:8],
                        row[_ACCESS][:64],
                        row[_HOME][:64],
                    )
                )
    return [
        (tenant_id, policy_id, result, hour, min(ids), *pack_ids(ids), len(ids))
        for (policy_id, result, hour), ids in postings.items()
    ], would_block


def _places_insert(dialect: Dialect) -> DriverStatement:
    insert = dialect_insert(dialect, PLACES).values({c: bindparam(c) for c in PLACE_COLUMNS})
    insert = insert.on_conflict_do_nothing(index_elements=["country", "city"])
    return DriverStatement(dialect, insert, PLACES, PLACE_COLUMNS)


STATEMENTS: dict[str, Callable[[Dialect], DriverStatement]] = {
    "outcomes": _outcomes_insert,
    "would_block": _would_block_insert,
    "rollups": _rollups_upsert,
    "blocks": _blocks_insert,
    "places": _places_insert,
}
"""The index's statements by name (db.driver.driver_statement), in the order a page writes them."""

_written_places: dict[str, set[tuple[str, str]]] = {}


class _Span:
    """The tenant's oldest and newest stored createdDateTime (two index look-ups), compiled once per
    dialect and sent to the driver: it runs for every page."""

    def __init__(self, conn: Connection) -> None:
        created = SignIn.created_at
        mine = SignIn.tenant_id == bindparam("tenant")
        statement = select(
            select(created).where(mine).order_by(created).limit(1).scalar_subquery(),
            select(created).where(mine).order_by(created.desc()).limit(1).scalar_subquery(),
        )
        compiled = statement.compile(dialect=conn.dialect)
        self.sql = compiled.string
        self.fixed = dict(compiled.params)  # LIMIT and OFFSET
        self.names = list(compiled.positiontup or []) if compiled.positional else None
        self.result = created.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)

    def __call__(self, conn: Connection, tenant_id: str) -> tuple[datetime | None, datetime | None]:
        values = {**self.fixed, "tenant": tenant_id}
        params: Any = tuple(values[n] for n in self.names) if self.names is not None else values
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(self.sql, params)
            oldest, newest = cursor.fetchone()
        finally:
            cursor.close()
        if self.result is not None:
            oldest, newest = self.result(oldest), self.result(newest)
        return oldest, newest


_spans: dict[str, _Span] = {}


def stored_ids(
    conn: Connection, tenant_id: str, ids: Sequence[str], first: datetime, last: datetime
) -> set[str]:
    """The ids among ``ids`` (sign-ins created between ``first`` and ``last``) stored before: looked
    up only where that span meets the tenant's stored one. Call before the sign-ins are inserted."""
    span = _spans.get(conn.dialect.name)
    if span is None:
        span = _spans[conn.dialect.name] = _Span(conn)
    oldest, newest = span(conn, tenant_id)
    if oldest is None or newest is None or last < oldest or first > newest:
        return set()
    # Both spans bound the look-up: PostgreSQL then looks in those days' partitions only.
    first, last = max(first, oldest), min(last, newest)
    maybe = list(set(ids))
    found: set[str] = set()
    for start in range(0, len(maybe), _CHUNK):
        chunk = maybe[start : start + _CHUNK]
        statement = select(SignIn.id).where(SignIn.id.in_(chunk), SignIn.created_at.between(first, last))
        found.update(i for (i,) in conn.execute(statement))
    return found


# Failed sign-ins, as the partial index ``ix_signins_failed`` (db.models) is defined: queries must say
# `error_code != 0` literally for the planners to use it.
FAILED = SignIn.error_code != literal_column("0")

RollupCounts = Counter[tuple[str, str, datetime, str]]
"""Counters being summed: (grain, dim, bucket, value) -> sign-ins."""


def count_places(
    counts: RollupCounts, day: datetime, app: str, country: str, city: str, count: int, blocked: bool
) -> None:
    """The daily counters of app, country and place of ``count`` failed sign-ins alike (and under
    BLOCKED_DIMS too when they were blocked)."""
    app, country = app[:256], country[:8]
    place = place_value(country, city)[:256] if country or city else ""
    for dim, value in (("app", app), ("country", country), ("place", place)):
        if value:
            counts[(DAY, dim, day, value)] += count
            if blocked:
                counts[(DAY, BLOCKED_DIMS[dim], day, value)] += count


FailureRows = tuple[list[tuple], list[tuple], list[tuple]]
"""(rollups rows, blocks rows, places rows) of a page's failed sign-ins (:func:`failure_rows`)."""


def failure_rows(tenant_id: str, fresh: Iterable[tuple[tuple, dict[str, Any]]]) -> FailureRows:
    """The blocking policy (BLOCK_COLUMNS), counters (ROLLUP_COLUMNS) and places with coordinates
    (PLACE_COLUMNS) of failed sign-ins stored for the first time (each once). Pure."""
    blocks: list[tuple] = []
    places: dict[tuple[str, str], tuple[float, float] | None] = {}
    policy_names: dict[str, str] = {}
    combos: dict[tuple[datetime, int, str, str, str, str], int] = {}  # hour, code, policy, app, country, city
    combo = combos.get
    i_id, i_created, i_code, i_app, i_country, i_city = _ID, _CREATED, _CODE, _APP, _COUNTRY, _CITY
    for row, obj in fresh:  # hot: locals only
        policy_id = ""
        if obj.get("appliedConditionalAccessPolicies"):
            policy_id, policy_name = primary_blocking_policy(obj)
            if policy_id:
                policy_id, policy_name = policy_id[:64], policy_name[:256]
                blocks.append((row[i_id], tenant_id, row[i_created], policy_id, policy_name))
                policy_names[policy_id] = policy_name
        place = (row[i_country], row[i_city])
        if place not in places:
            latitude, longitude = coordinates(obj)
            places[place] = None if latitude is None else (latitude, longitude)
        key = (
            row[i_created].replace(minute=0, second=0, microsecond=0),
            row[i_code],
            policy_id,
            row[i_app],
            *place,
        )
        combos[key] = combo(key, 0) + 1
    counts: RollupCounts = Counter()
    for (hour, code, policy_id, app, country, city), count in combos.items():
        day = hour.replace(hour=0)
        counts[(HOUR, "code", hour, str(code))] += count
        counts[(DAY, "code", day, str(code))] += count
        if policy_id:
            counts[(HOUR, "policy", hour, policy_id)] += count
            counts[(DAY, "policy", day, policy_id)] += count
        count_places(counts, day, app, country, city, count, code in BLOCKED_CODES)
    rollups = [
        (grain, dim, bucket, tenant_id, value, policy_names.get(value, "") if dim == "policy" else "", count)
        for (grain, dim, bucket, value), count in counts.items()
    ]
    located = [
        (country[:8], city[:128], *where)
        for (country, city), where in places.items()
        if where is not None and (country or city)
    ]
    return rollups, blocks, located


def places_not_written(conn: Connection, places: list[tuple]) -> list[tuple]:
    """A place's coordinates are written once: the ``places`` rows this process has not written to
    this database yet (a rolled-back page can only leave one without its dot on the map until the
    next restart). Marks them written."""
    known = _written_places.setdefault(str(conn.engine.url), set())
    new = [place for place in places if (place[0], place[1]) not in known]
    known.update((place[0], place[1]) for place in new)
    return new


def distinct_values(column: Any, *where: Any, name: str = "found") -> Any:
    """The distinct values of ``column`` among the rows matching ``where`` (equalities on the columns
    before it in an index), as a CTE with one column ``value`` ending in a NULL row: one index seek per
    value (a loose index scan: the smallest value above the previous one, recursively), not a read of
    every row. ``name`` names the CTE (the query plans show it)."""
    found = select(func.min(column).label("value")).where(*where).cte(name, recursive=True)
    following = select(select(func.min(column)).where(*where, column > found.c.value).scalar_subquery())
    return found.union_all(following.where(found.c.value.is_not(None)))


def tenants_of(conn: Connection, column: Any) -> list[str]:
    """The tenants a table holds rows of, ``column`` its leading key column (``tenant_id``): one index
    seek per tenant (:func:`distinct_values`), not a read of the table. Retention walks these, tenant by
    tenant."""
    found = distinct_values(column, name="tenants")
    return list(conn.execute(select(found.c.value).where(found.c.value.is_not(None))).scalars())


def policy_outcome_tenants(conn: Connection) -> list[str]:
    """The tenants with policy outcomes or would-be blocks stored (:func:`purge_outcomes_before`)."""
    found = tenants_of(conn, SignInPolicyOutcome.tenant_id) + tenants_of(conn, SignInWouldBlock.tenant_id)
    return sorted(set(found))


def purge_before(conn: Connection, cutoff: datetime, tenants: Sequence[str]) -> None:
    """Retention (call before the sign-ins themselves are deleted): blocks of the tenants' failed
    sign-ins older than ``cutoff``, hourly counters before it and daily counters of days that ended
    before it. Each found through its index: the sign-ins by (tenant, time), the counters by (grain,
    dim, bucket); a condition on time alone read whole tables (10 M sign-ins: 3-6 s a slice)."""
    old = select(SignIn.id).where(SignIn.tenant_id.in_(tenants), SignIn.created_at < cutoff, FAILED)
    conn.execute(delete(SignInBlock).where(SignInBlock.signin_id.in_(old)))
    day = cutoff.replace(hour=0, minute=0, second=0, microsecond=0)
    for grain, before in ((HOUR, cutoff), (DAY, day)):
        r = SignInRollup
        conn.execute(delete(r).where(r.grain == grain, r.dim.in_(ROLLUP_DIMS[grain]), r.bucket < before))


def purge_outcomes_before(conn: Connection, tenant_id: str, cutoff: datetime) -> None:
    """Retention of one tenant's policy outcomes: postings of hours that ended before ``cutoff`` (the
    cut's own hour is kept until the next purge: its purged ids no longer match a sign-in, and every
    reader goes through the sign-ins) and would-be blocks older than it. A tenant at a time: both
    tables are keyed by tenant then policy, so this reads the tenant's part of them, not all of them."""
    hour = cutoff.replace(minute=0, second=0, microsecond=0)
    o, w = SignInPolicyOutcome, SignInWouldBlock
    conn.execute(delete(o).where(o.tenant_id == tenant_id, o.hour < hour))
    conn.execute(delete(w).where(w.tenant_id == tenant_id, w.created_at < cutoff))


def place_value(country: str, city: str) -> str:
    return f"{country}|{city}"
