"""PostgreSQL's time partitions of ``signins`` (issue 17): the PostgreSQL-only SQL lives here, as the
SQLite-only SQL lives in db/engine.py. On SQLite every function is a no-op (one file, rows deleted).

On PostgreSQL ``signins`` is partitioned by RANGE on ``created_at`` (migration 0014): one partition a
day (``signins_pYYYYMMDD``) and a DEFAULT partition (``signins_default``) so an odd timestamp (far past,
far future) never fails an ingest page. The primary key is (id, created_at), as a partitioned table's
must include its partition key; a sign-in's createdDateTime never changes between reads, so the ingest's
ON CONFLICT DO NOTHING still keeps each id once (db.driver.insert_ignoring_duplicates).

A day rather than a week: with 30 days kept, retention drops a thirtieth of the rows at a time and the
row-deleting purge (db.store.purge_older_than) only trims what is left of one day (under 24 h of rows;
a week would leave up to 7 days to delete row by row, or keep them too long). About 40 partitions (30
kept, a week ahead, the default) is far below where planning over partitions costs anything noticeable,
and every page query bounds created_at, so it is pruned to the days it reads.

The other time-keyed sign-in tables (blocks, would-be blocks, policy outcomes, rollups) stay single
tables: together they hold about a seventh of the sign-ins' bytes (bench/seed.py, 10 tenants × 7 days
on PostgreSQL: policy outcomes 29 MB, would-be blocks 4 MB, blocks 4 MB, rollups 2 MB beside 268 MB of
sign-ins), so deleting their old rows costs little beside the sign-ins'. The blocks of dropped
days go with them here (they are found through the sign-ins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import sleep
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from db.engine import write_transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

PARENT = "signins"
DEFAULT = "signins_default"
PREFIX = "signins_p"
AHEAD_DAYS = 7  # partitions made ahead of today: a week without a retention run still finds its day
# Existing rows older than this when the table is converted go to the default partition, not one each.
CONVERT_MAX_DAYS = 400
_LOCK = "perimeter.signin_partitions"  # advisory lock: one process changes partitions at a time
_LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"
# How long making or dropping a partition waits for its lock on ``signins``: every reader arriving
# meanwhile queues behind it (the wall's reads waited up to 0.8 s), so at most this long per attempt.
LOCK_TIMEOUT_MS = 200
LOCK_ATTEMPTS = 3  # tries before the partition work is left to the next run
LOCK_BACKOFF_SECONDS = 0.2  # pause before the 2nd try (twice as long before the 3rd): readers finish
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock not had within lock_timeout


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def is_partitioned(conn: Connection) -> bool:
    """Whether ``signins`` is a partitioned table (PostgreSQL after migration 0014)."""
    if not is_postgresql(conn):
        return False
    return bool(
        conn.exec_driver_sql(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.oid = to_regclass(%(parent)s))",
            {"parent": PARENT},
        ).scalar()
    )


def day_partitions(conn: Connection) -> dict[date, str]:
    """The day partitions of ``signins`` by day (the default partition apart)."""
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%(parent)s)",
        {"parent": PARENT},
    ).scalars()
    out: dict[date, str] = {}
    for name in names:
        if name.startswith(PREFIX) and len(name) == len(PREFIX) + 8 and name[len(PREFIX) :].isdigit():
            out[datetime.strptime(name[len(PREFIX) :], "%Y%m%d").date()] = name
    return out


def _has_default(conn: Connection) -> bool:
    return (
        conn.exec_driver_sql(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = to_regclass(%(parent)s) "
            "AND inhrelid = to_regclass(%(default)s))",
            {"parent": PARENT, "default": DEFAULT},
        ).scalar()
        is True
    )


def _bounds(day: date) -> str:
    return f"FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"


def _create_day(conn: Connection, parent: str, day: date, with_default: bool) -> None:
    """One day's partition. Rows of that day already in the default partition (an odd timestamp that
    came before its day's partition) are moved into it first: PostgreSQL refuses a partition whose
    range the default partition still holds rows of."""
    name, bounds = partition_name(day), _bounds(day)
    in_default = (
        with_default
        and conn.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE created_at >= %(start)s AND created_at < %(end)s)",
            {"start": day, "end": day + timedelta(days=1)},
        ).scalar()
    )
    if not in_default:
        conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {parent} FOR VALUES {bounds}")
        return
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {parent} {_LIKE})")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %(start)s AND created_at < %(end)s "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        {"start": day, "end": day + timedelta(days=1)},
    )
    conn.exec_driver_sql(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES {bounds}")


def _wanted_days(now: datetime, ahead: int) -> list[date]:
    return [now.date() + timedelta(days=n) for n in range(ahead + 1)]


def partitions_missing(conn: Connection, now: datetime, ahead: int = AHEAD_DAYS) -> bool:
    """Whether :func:`ensure_partitions` has a partition to make (a catalog read, no lock)."""
    if not is_partitioned(conn):
        return False
    existing = day_partitions(conn)
    return not (all(day in existing for day in _wanted_days(now, ahead)) and _has_default(conn))


def ensure_partitions(conn: Connection, now: datetime, ahead: int = AHEAD_DAYS) -> list[str]:
    """Partitions for today and ``ahead`` days after it, and the default partition, where missing
    (PostgreSQL, partitioned ``signins`` only). Returns the partitions made."""
    if not is_partitioned(conn):
        return []
    if not partitions_missing(conn, now, ahead):
        return []  # the usual case: a catalog read, no lock
    wanted = _wanted_days(now, ahead)
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(lock)s))", {"lock": _LOCK})
    existing = day_partitions(conn)  # another process may have made them while this one waited
    made = []
    with_default = _has_default(conn)
    for day in wanted:
        if day not in existing:
            _create_day(conn, PARENT, day, with_default)
            made.append(partition_name(day))
    if not with_default:
        conn.exec_driver_sql(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT")
        made.append(DEFAULT)
    return made


def ensure_partitions_now(engine: Engine, now: datetime) -> list[str]:
    """:func:`ensure_partitions` in a short transaction of its own (on opening the database, and by
    retention), its locks waited for briefly (_with_short_locks): partitions are made a week ahead, so
    days not made because ``signins`` was busy are made by the next run. Returns the partitions made."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        if not partitions_missing(conn, now):
            return []  # the usual case: a catalog read, no lock
    made = _with_short_locks(engine, lambda conn: ensure_partitions(conn, now))
    if made is None:
        log.info("partitions of the coming days not made (signins was locked): left to the next run")
        return []
    return made


@dataclass(frozen=True)
class PartitionDrop:
    """What retention did with the day partitions past its cut (PostgreSQL)."""

    signins: int = 0  # sign-ins of the partitions dropped
    dropped: tuple[str, ...] = ()  # partitions dropped
    kept: tuple[date, ...] = ()  # days past the cut whose partition could not be locked: the next run's

    @property
    def kept_from(self) -> datetime | None:
        """Where the oldest day left in place starts (None when none was)."""
        return datetime.combine(self.kept[0], time()) if self.kept else None


def _lock_partitions(conn: Connection) -> None:
    """One process changes partitions at a time (until this transaction ends)."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(lock)s))", {"lock": _LOCK})


def _exists(conn: Connection, name: str) -> bool:
    return conn.exec_driver_sql("SELECT to_regclass(%(name)s)", {"name": name}).scalar() is not None


def _delete_blocks(engine: Engine, name: str) -> int | None:
    """The blocking policies of a partition's failed sign-ins deleted, in a transaction of its own that
    locks the partition only (reading a partition by its name takes no lock on ``signins``). Returns the
    partition's sign-ins, None when another process dropped it meanwhile."""
    with write_transaction(engine) as conn:
        _lock_partitions(conn)
        if not _exists(conn, name):
            return None
        conn.exec_driver_sql(
            f"DELETE FROM signin_blocks WHERE signin_id IN (SELECT id FROM {name} WHERE error_code != 0)"
        )
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() or 0)


def _is_lock_timeout(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def _with_short_locks(engine: Engine, work: Callable[[Connection], T]) -> T | None:
    """``work`` in a short transaction of its own, holding the partitions' advisory lock, waiting at most
    LOCK_TIMEOUT_MS for each lock it takes on ``signins``, LOCK_ATTEMPTS times; None when it never got
    them. Making or dropping a partition takes an ACCESS EXCLUSIVE lock on ``signins``: while it waits
    for a long reader, every new reader of ``signins`` queues behind it."""
    for attempt in range(LOCK_ATTEMPTS):
        if attempt:
            sleep(LOCK_BACKOFF_SECONDS * attempt)
        try:
            with write_transaction(engine) as conn:
                # Before the timeout is set: waiting for another process's partition work queues no reader.
                _lock_partitions(conn)
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
                return work(conn)
        except OperationalError as error:
            if not _is_lock_timeout(error):
                raise
    return None


def _drop(engine: Engine, name: str) -> bool | None:
    """DROP TABLE of one partition (_with_short_locks). True: dropped; False: another process dropped
    it; None: not locked."""

    def drop(conn: Connection) -> bool:
        if not _exists(conn, name):
            return False
        conn.exec_driver_sql(f"DROP TABLE {name}")
        return True

    return _with_short_locks(engine, drop)


def drop_partitions_before(engine: Engine, cutoff: datetime) -> PartitionDrop:
    """Retention on PostgreSQL: drop the day partitions that end at or before ``cutoff`` (whole days
    past the keep period), oldest first, with the blocking policies of their failed sign-ins
    (``signin_blocks`` is found through the sign-ins: db.signin_index.purge_before). Each partition's
    blocks go in a transaction of their own, then the partition in a short one of its own (_drop).

    DROP TABLE of a partition takes an ACCESS EXCLUSIVE lock on ``signins`` (and on the default
    partition): while it waits for a long reader, every new reader of ``signins`` queues behind it. So
    it waits LOCK_TIMEOUT_MS at most, a few times; a partition still not locked is left in place
    with the newer ones (every reader of ``signins`` holds the parent, so they would wait as long) and
    reported in ``kept``: the next run drops them. (DETACH PARTITION ... CONCURRENTLY, which waits
    without that lock, is refused while the table has a default partition.) Call before the
    row-deleting purge, which then only trims the rest and must stop short of ``kept_from``."""
    if engine.dialect.name != "postgresql":
        return PartitionDrop()
    with engine.connect() as conn:
        if not is_partitioned(conn):
            return PartitionDrop()
        old = sorted(
            (day, name)
            for day, name in day_partitions(conn).items()
            if day + timedelta(days=1) <= cutoff.date()
        )
    signins = 0
    dropped: list[str] = []
    for n, (_day, name) in enumerate(old):
        count = _delete_blocks(engine, name)
        if count is None:
            continue  # dropped by another process
        done = _drop(engine, name)
        if done is None:
            return PartitionDrop(signins, tuple(dropped), tuple(day for day, _name in old[n:]))
        if done:
            signins += count
            dropped.append(name)
    return PartitionDrop(signins, tuple(dropped))


def analyze_signins(conn: Connection) -> bool:
    """Refresh the statistics of the partitioned ``signins`` itself (PostgreSQL). Autovacuum analyzes
    each day's partition but never the partitioned table, whose statistics the planner reads for a
    query across days (a month's rows per tenant, user or app; its grouping and join plans): without
    this they are those of the day the table was made. Sampled (~20 s for 2.5 M sign-ins, taking no lock
    that stops writers or readers). False where there is nothing to refresh (SQLite)."""
    if not is_partitioned(conn):
        return False
    conn.exec_driver_sql(f"ANALYZE {PARENT}")
    return True


# Day partitions with pages that vacuum has not marked all-visible: the file's real size against the
# pages its last vacuum saw visible (pg_class's figure), or rows inserted or deleted since it ran.
_UNSETTLED = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE i.inhparent = to_regclass(%(parent)s) AND ("
    "pg_relation_size(c.oid) / current_setting('block_size')::int > c.relallvisible "
    "OR coalesce(s.n_ins_since_vacuum, 0) > 0 OR coalesce(s.n_dead_tup, 0) > 0)"
)
VACUUM_LOCK_TIMEOUT = "5s"  # waits only for other maintenance (VACUUM does not block readers or writers)


def unsettled_days(conn: Connection, now: datetime) -> list[str]:
    """The partitions of days that ended before ``now`` with pages not yet vacuumed all-visible, oldest
    first (PostgreSQL; nothing on SQLite)."""
    if not is_partitioned(conn):
        return []
    names = set(conn.exec_driver_sql(_UNSETTLED, {"parent": PARENT}).scalars())
    return [name for day, name in sorted(day_partitions(conn).items()) if day < now.date() and name in names]


def settle_ended_days(engine: Engine, now: datetime) -> list[str]:
    """VACUUM (ANALYZE) each partition of a day that has ended, once its rows stopped coming: returns the
    partitions vacuumed. Why: an index-only scan reads a row's heap page too unless the visibility map
    says the page is all-visible, and only VACUUM sets it. Autovacuum runs on a partition each time a
    fifth more rows came in, so the last hours of every day stayed unmarked for good (10 M sign-ins:
    a month's failed sign-ins scanned for a CIDR took 470 ms, 300 ms once vacuumed, every day partition
    of the month read through its heap). VACUUM takes no lock that stops readers or writers; a partition
    whose lock is not had within VACUUM_LOCK_TIMEOUT (other maintenance) is left to the next run."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        names = unsettled_days(conn, now)
    done = []
    for name in names:
        # VACUUM cannot run in a transaction: a connection of its own, in autocommit.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'")
            try:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {name}")
            except OperationalError as error:
                if not _is_lock_timeout(error):
                    raise
                log.info("partition %s not vacuumed (other maintenance held it): left to the next run", name)
                continue
            finally:
                conn.exec_driver_sql("RESET lock_timeout")
            done.append(name)
    return done


def _index_definitions(conn: Connection, table: str) -> list[str]:
    """CREATE INDEX statements of ``table``'s indexes other than its primary key."""
    definitions = conn.exec_driver_sql(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = to_regclass(%(table)s) "
        "AND NOT i.indisprimary ORDER BY i.indexrelid",
        {"table": table},
    ).scalars()
    # A partitioned table's read "ON ONLY" (the parent alone): made again, they must cover every partition.
    return [d.replace(" ON ONLY ", " ON ", 1) for d in definitions]


def _swap_in(conn: Connection, new: str, indexes: list[str]) -> None:
    """Replace ``signins`` by ``new`` (same columns), under the old name, with the old indexes."""
    conn.exec_driver_sql(f"DROP TABLE {PARENT}")
    conn.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {PARENT}")
    conn.exec_driver_sql(f"ALTER TABLE {PARENT} RENAME CONSTRAINT {new}_pkey TO {PARENT}_pkey")
    for definition in indexes:  # made after the copy: faster than keeping them up to date row by row
        conn.exec_driver_sql(definition)
    conn.exec_driver_sql(f"ANALYZE {PARENT}")


def partition_signins(conn: Connection, now: datetime) -> None:
    """Migration 0014: make ``signins`` a table partitioned by day, its rows moved in (PostgreSQL;
    a no-op on SQLite or when it is partitioned already). Columns (whatever earlier migrations added),
    defaults and indexes are kept; the primary key becomes (id, created_at)."""
    if not is_postgresql(conn) or is_partitioned(conn):
        return
    new = f"{PARENT}_partitioned"
    indexes = _index_definitions(conn, PARENT)
    conn.exec_driver_sql(f"CREATE TABLE {new} (LIKE {PARENT} {_LIKE}) PARTITION BY RANGE (created_at)")
    conn.exec_driver_sql(f"ALTER TABLE {new} ADD CONSTRAINT {new}_pkey PRIMARY KEY (id, created_at)")
    today = now.date()
    days = set(
        conn.exec_driver_sql(
            f"SELECT DISTINCT created_at::date FROM {PARENT} WHERE created_at >= %(oldest)s "
            "AND created_at < %(newest)s",
            {
                "oldest": today - timedelta(days=CONVERT_MAX_DAYS),
                "newest": today + timedelta(days=AHEAD_DAYS + 1),
            },
        ).scalars()
    )
    days.update(today + timedelta(days=n) for n in range(AHEAD_DAYS + 1))
    for day in sorted(days):
        _create_day(conn, new, day, with_default=False)
    conn.exec_driver_sql(f"CREATE TABLE {DEFAULT} PARTITION OF {new} DEFAULT")
    conn.exec_driver_sql(f"INSERT INTO {new} SELECT * FROM {PARENT}")
    _swap_in(conn, new, indexes)


def unpartition_signins(conn: Connection) -> None:
    """Migration 0014's downgrade: one plain ``signins`` table again, primary key (id)."""
    if not is_partitioned(conn):
        return
    new = f"{PARENT}_plain"
    indexes = _index_definitions(conn, PARENT)
    conn.exec_driver_sql(f"CREATE TABLE {new} (LIKE {PARENT} {_LIKE})")
    conn.exec_driver_sql(f"ALTER TABLE {new} ADD CONSTRAINT {new}_pkey PRIMARY KEY (id)")
    conn.exec_driver_sql(f"INSERT INTO {new} SELECT * FROM {PARENT} ON CONFLICT (id) DO NOTHING")
    _swap_in(conn, new, indexes)
