"""The one engine factory. SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writers;
any other SQLAlchemy URL (PostgreSQL) is used as is. No SQLite-only SQL lives outside this file."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "perimeter_write"
CHECKPOINTER_IDLE_SECONDS = 30.0

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL per process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Sign-ins are ~3 KB of JSON each: 16 KiB pages avoid overflow chains and double the
        # insert rate (measured in bench/ingest.py). Only takes effect on a new, empty file.
        cursor.execute("PRAGMA page_size=16384")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Keep index B-trees in memory while millions of sign-ins go by (default cache is 2 MB).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine in _checkpointers:  # the bulk writer's checkpoints run on their own thread
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes after another process committed fails at
        # once with "database is locked", ignoring the busy timeout: writers take the lock up front.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgresql_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _postgresql_settings(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # No JIT compilation: the pages' queries over a month are costly enough by the planner's
        # estimate for PostgreSQL to compile them, 50-150 ms each time, more than they take to run
        # (bench/queries.py on 2.5 M sign-ins: top_values p95 267 -> 139 ms). Committed: a SET in a
        # transaction rolled back would be undone.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        # Every statement planned for its own values: psycopg prepares a statement after its fifth run,
        # and PostgreSQL may then switch to a generic plan that cannot prune the day partitions by the
        # window nor size the tenants' list (10 M sign-ins: a month's count from the counters went from
        # 35 ms to 360 ms at the sixth call). Planning these takes about a millisecond.
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on error."""
    with engine.connect().execution_options(**{_WRITE_OPTION: True}) as conn, conn.begin():
        yield conn
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        checkpointer.kick()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


class _Checkpointer:
    """Copies a SQLite WAL back into the database on a thread of its own, with its own connection.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so the process
    that writes sign-ins in bulk would spend a quarter of its time copying pages (bench/ingest.py).
    Here the copy is a single C call that releases the GIL, so it runs on the second core while the
    next page is parsed. PASSIVE never blocks the writer or readers. The thread stops after
    CHECKPOINTER_IDLE_SECONDS without writes (a last checkpoint first) and starts again on the next.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Condition()
        self._requested = 0  # commits announced
        self._done = 0  # commits covered by a finished checkpoint
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        with self._lock:
            self._requested += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every commit announced so far is checkpointed; False on timeout."""
        with self._lock:
            target = self._requested
            if self._done >= target:
                return True
            if self._thread is None or not self._thread.is_alive():
                self.kick()
            return self._lock.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                with self._lock:
                    if not self._lock.wait_for(
                        lambda: self._requested > self._done, CHECKPOINTER_IDLE_SECONDS
                    ):
                        self._thread = None
                        return
                    target = self._requested
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # e.g. disk full: the writer's next commits still land
                    log.warning("background WAL checkpoint of %s failed: %s", self.path, error)
                with self._lock:
                    self._done = max(self._done, target)
                    self._lock.notify_all()
        finally:
            connection.close()


_checkpointers: dict[Engine, _Checkpointer] = {}


def checkpoint_in_background(engine: Engine) -> None:
    """Make ``engine`` a bulk writer: its commits no longer checkpoint the WAL themselves, a thread
    does (see _Checkpointer). For the process that stores sign-ins; no-op except for a SQLite file."""
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:" or engine in _checkpointers:
        return
    engine.dispose()  # pooled connections keep the automatic checkpoint; new ones connect without it
    _checkpointers[engine] = _Checkpointer(database)


def drain_checkpoints(engine: Engine, timeout: float | None = None) -> bool:
    """Wait for the background checkpointer (if any) to cover every write so far."""
    checkpointer = _checkpointers.get(engine)
    return True if checkpointer is None else checkpointer.drain(timeout)
