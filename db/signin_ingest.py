"""A page of sign-ins into the database, in two steps: prepared, then written in one transaction.

* :func:`prepare_signins` is pure (no database): each sign-in mapped to its row (db.rows), its JSON
  compressed (db.signin_raw), and every row the index keeps beside it built (db.signin_index: policy
  outcomes, would-be blocks, failed sign-ins' blocking policy, counters and places). It can run in
  another process (db.signin_pipeline), which is where the ingest's CPU time goes.
* :func:`write_prepared` sends those rows to the driver (db.driver), in the caller's transaction.

Idempotent by id: a page is prepared as if none of its sign-ins were stored; the writer looks the
page's ids up (db.signin_index.stored_ids) and, when some were stored before (the collectors' overlap
re-reads), prepares the page again without them, so a sign-in is counted once however often it is read.
:func:`store_signins` is both steps in one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Table

from db.driver import DriverStatement, driver_statement, insert_ignoring_duplicates
from db.models import SignIn
from db.rows import SIGNIN_COLUMNS, MalformedObject, SigninJson, signin_json, signin_row_details
from db.signin_index import STATEMENTS, failure_rows, outcome_rows, places_not_written, stored_ids
from db.signin_raw import compressor, page_dictionary
from graphjson.times import utcnow

_SIGNINS: Table = SignIn.__table__  # type: ignore[assignment]
_ID, _CREATED = SIGNIN_COLUMNS.index("id"), SIGNIN_COLUMNS.index("created_at")


def _signin_insert(dialect: Dialect) -> DriverStatement:
    return DriverStatement(
        dialect,
        insert_ignoring_duplicates(dialect, _SIGNINS, "id"),
        _SIGNINS,
        SIGNIN_COLUMNS,
        convert=("created_at",),
    )


# Every statement a page writes, by name; the sign-ins first.
_BUILDERS: dict[str, Callable[[Dialect], DriverStatement]] = {"signins": _signin_insert, **STATEMENTS}


@dataclass(slots=True)
class PreparedSignins:
    """A page ready to write: plain tuples and bytes, so it crosses a process boundary (pickle)."""

    tenant_id: str
    dict_id: int  # the dictionary the sign-ins' JSON is compressed with (db.signin_raw)
    offered: int = 0  # usable sign-ins read, duplicates and ones stored before included
    skipped: int = 0  # malformed ones (db.rows.MalformedObject)
    newest: datetime | None = None
    ids: list[str] = field(default_factory=list)  # the sign-ins to insert, created between:
    first: datetime | None = None
    last: datetime | None = None
    # (statement, its driver parameters: db.driver.DriverStatement.parameters) in order
    writes: list[tuple[str, list[Any]]] = field(default_factory=list)
    places: list[tuple] = field(default_factory=list)  # rows; written once per process (signin_index)


def prepare_signins(
    dialect: Dialect,
    tenant_id: str,
    signins: Iterable[SigninJson],
    dict_id: int,
    stored: Set[str] = frozenset(),
) -> PreparedSignins:
    """Everything a page writes, for its sign-ins not in ``stored`` (each id once), as the driver of
    ``dialect`` takes it. Pure, apart from the dictionary ``dict_id``, which must be loaded or added
    (db.signin_raw) in this process."""
    compress = compressor(dict_id)
    prepared = PreparedSignins(tenant_id, dict_id)
    rows: list[tuple] = []
    failed: list[tuple[tuple, dict[str, Any]]] = []
    outcomes: list[tuple[tuple, list[tuple[str, str]]]] = []
    seen = set(stored)
    offered = skipped = 0
    newest: datetime | None = None
    for signin in signins:  # hot: locals only
        try:
            row, applied, failure = signin_row_details(tenant_id, signin)
        except MalformedObject:
            skipped += 1
            continue
        offered += 1
        created = row[_CREATED]
        if newest is None or created > newest:
            newest = created
        signin_id = row[_ID]
        if signin_id in seen:
            continue
        seen.add(signin_id)
        rows.append(row)
        if applied:
            outcomes.append((row, applied))
        if failure is not None:
            failed.append((row, failure))
    prepared.offered, prepared.skipped, prepared.newest = offered, skipped, newest
    if not rows:
        return prepared
    prepared.ids = [row[_ID] for row in rows]
    created = [row[_CREATED] for row in rows]
    prepared.first, prepared.last = min(created), max(created)
    writes = [("signins", [(*row[:-1], compress(row[-1])) for row in rows])]
    if failed:
        rollups, blocks, prepared.places = failure_rows(tenant_id, failed)
        writes += [("rollups", rollups), ("blocks", blocks)]
    if outcomes:
        postings, would_block = outcome_rows(tenant_id, outcomes)
        writes += [("outcomes", postings), ("would_block", would_block)]
    prepared.writes = [
        (name, driver_statement(dialect, name, _BUILDERS[name]).parameters(rows))
        for name, rows in writes
        if rows
    ]
    return prepared


def write_prepared(conn: Connection, prepared: PreparedSignins) -> tuple[int, int, datetime | None]:
    """Write a prepared page in the caller's transaction (its sign-ins must not be stored yet: see
    :func:`stored_ids_of`). Returns (sign-ins offered, malformed ones skipped, newest createdDateTime)."""
    dialect = conn.dialect
    for name, parameters in prepared.writes:
        driver_statement(dialect, name, _BUILDERS[name]).send(conn, parameters)
    places = places_not_written(conn, prepared.places)
    if places:
        driver_statement(dialect, "places", _BUILDERS["places"]).execute(conn, places)
    return prepared.offered, prepared.skipped, prepared.newest


def stored_ids_of(conn: Connection, prepared: PreparedSignins) -> set[str]:
    """The prepared page's sign-ins stored before (call in the writing transaction)."""
    if prepared.first is None or prepared.last is None:
        return set()
    return stored_ids(conn, prepared.tenant_id, prepared.ids, prepared.first, prepared.last)


def _samples(signins: list[SigninJson]) -> list[bytes]:
    samples = []
    for signin in signins:
        try:
            samples.append(bytes(signin_json(signin)))
        except MalformedObject:
            continue
    return samples


def store_signins(
    conn: Connection, tenant_id: str, signins: Iterable[SigninJson]
) -> tuple[int, int, datetime | None]:
    """Insert sign-ins (each its JSON, as db.rows.signin_row takes it), each id once however often it
    is collected, with everything the index keeps beside them, in the caller's transaction.

    Returns (rows offered, malformed objects skipped, newest createdDateTime seen)."""
    page = signins if isinstance(signins, list) else list(signins)
    dict_id = page_dictionary(conn, lambda: _samples(page), utcnow())
    prepared = prepare_signins(conn.dialect, tenant_id, page, dict_id)
    stored = stored_ids_of(conn, prepared)
    if stored:
        prepared = prepare_signins(conn.dialect, tenant_id, page, dict_id, stored)
    return write_prepared(conn, prepared)
