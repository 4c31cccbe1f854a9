"""Statements on the ingest hot path: compiled by SQLAlchemy once per dialect, rows sent straight to
the DB-API driver.

SQLAlchemy's per-row parameter processing costs as much as SQLite's own insert at thousands of rows a
second (bench/ingest.py). The SQL is still SQLAlchemy's, so no dialect-specific SQL is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(dialect: Dialect, table: Table) -> Any:
    """An INSERT with the dialect's ON CONFLICT clauses (SQLite and PostgreSQL)."""
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect.name!r}")  # pragma: no cover


def insert_ignoring_duplicates(dialect: Dialect, table: Table, key: str) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING for the dialect; on PostgreSQL ON CONFLICT DO NOTHING on
    any unique key, as a partitioned table's keys include its partition key, so none is ``key`` alone
    (db.partitions: the sign-ins' is (id, created_at), one per id)."""
    if dialect.name == "postgresql":
        return dialect_insert(dialect, table).on_conflict_do_nothing()
    return dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=[key])


WriteObserver = Callable[[str, list[Any]], None]
_observers: list[WriteObserver] = []


@contextmanager
def observing_writes(observer: WriteObserver) -> Iterator[None]:
    """Call ``observer(sql, parameters)`` with every batch a DriverStatement sends to the driver, as it
    sends it (bench/ingest.py records the ingest's writes to replay them as its ceiling)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


class DriverStatement:
    """A statement compiled for one dialect, executed for many rows through the driver's executemany.

    Rows are tuples in ``columns`` order. Only the ``convert`` columns go through their type's bind
    processor (datetimes, which SQLite keeps as text); the driver takes every
    other value as it is, which saves rebuilding each row for types it handles natively.
    """

    def __init__(
        self,
        dialect: Dialect,
        statement: Any,
        table: Table,
        columns: Sequence[str],
        convert: Sequence[str] = (),
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = compiled.positional
        self.columns = tuple(columns)
        self.order = [self.columns.index(name) for name in compiled.positiontup or columns]
        self.in_order = self.order == list(range(len(self.columns)))
        self.processors = [
            (self.columns.index(name), process)
            for name in convert
            if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]

    def parameters(self, rows: list[tuple]) -> list[Any]:
        """``rows`` as the driver takes them for this statement."""
        for i, process in self.processors:
            memo: dict[Any, Any] = {}  # hours and days repeat across rows
            converted = []
            for row in rows:
                value = row[i]
                done = memo.get(value)
                if done is None:
                    done = memo[value] = process(value)
                converted.append(row[:i] + (done,) + row[i + 1 :])
            rows = converted
        if not self.positional:
            return [dict(zip(self.columns, row, strict=True)) for row in rows]
        if self.in_order:
            return rows
        return [tuple(row[i] for i in self.order) for row in rows]

    def execute(self, conn: Connection, rows: list[tuple]) -> None:
        if rows:
            self.send(conn, self.parameters(rows))

    def send(self, conn: Connection, parameters: list[Any]) -> None:
        """Execute for ``parameters`` (:meth:`parameters` of the rows, made here or in another
        process by the same dialect)."""
        for observe in _observers:
            observe(self.sql, parameters)
        # The DB-API cursor of the transaction's own connection: this runs for every page.
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(self.sql, parameters)
        finally:
            cursor.close()


_statements: dict[tuple[str, str], DriverStatement] = {}


def driver_statement(
    dialect: Dialect, name: str, build: Callable[[Dialect], DriverStatement]
) -> DriverStatement:
    """The statement ``name`` for the dialect, built on first use."""
    key = (dialect.name, name)
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = build(dialect)
    return found
