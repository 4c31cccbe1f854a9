"""Sign-ins partitioned by day on PostgreSQL (db.partitions, migration 0014): partitions made ahead, whole
days dropped by retention, each sign-in kept once, odd timestamps in the default partition. PostgreSQL
only (the ``engine`` fixture's PostgreSQL half); on SQLite the same calls change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from time import monotonic

import pytest
from sqlalchemy import Engine, bindparam, func, select

from collectors.run import purge, refresh_statistics
from collectors.worker import Worker
from db import write_transaction
from db.models import SignIn, SignInBlock
from db.partitions import (
    AHEAD_DAYS,
    DEFAULT,
    LOCK_ATTEMPTS,
    LOCK_BACKOFF_SECONDS,
    LOCK_TIMEOUT_MS,
    PartitionDrop,
    day_partitions,
    drop_partitions_before,
    ensure_partitions,
    ensure_partitions_now,
    is_partitioned,
    partition_name,
    partition_signins,
    settle_ended_days,
    unpartition_signins,
    unsettled_days,
)
from db.store import store_signins
from settings import load_settings
from support import sample

postgresql_only = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
NOW = datetime(2026, 11, 22, 12, 0)


def _signin(i: int, created: datetime, blocked: bool = False) -> dict:
    obj = dict(sample("signins_beta_list_ex1_password_failure_50126.response.json")["value"][0])
    obj["id"] = f"00000000-0000-0000-0000-{i:012d}"
    obj["createdDateTime"] = created.isoformat() + "Z"
    if blocked:  # blocked by a Conditional Access policy: kept in signin_blocks too
        obj["status"] = {"errorCode": 53003, "failureReason": "Blocked by Conditional Access"}
        obj["appliedConditionalAccessPolicies"] = [
            {
                "id": "p-block",
                "displayName": "Block abroad",
                "result": "failure",
                "enforcedGrantControls": ["Block"],
            }
        ]
    return obj


def _store(engine: Engine, *signins: dict) -> None:
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", list(signins))


def _partition_of(engine: Engine, signin_id: str) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT tableoid::regclass::text FROM signins WHERE id = %(id)s", {"id": signin_id}
        ).scalar_one()


def _ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(select(SignIn.id).order_by(SignIn.id)).scalars().all()  # type: ignore[return-value]


@postgresql_only
def test_opening_the_database_makes_partitions_for_today_and_the_days_ahead(engine):
    today = datetime.now(UTC).date()
    with engine.connect() as conn:
        assert is_partitioned(conn)
        days = day_partitions(conn)
    assert all(today + timedelta(days=n) in days for n in range(AHEAD_DAYS + 1))


@postgresql_only
def test_partitions_are_made_ahead_of_a_later_day(engine):
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=20)
    with write_transaction(engine) as conn:
        made = ensure_partitions(conn, later)
        days = day_partitions(conn)
    wanted = [later.date() + timedelta(days=n) for n in range(AHEAD_DAYS + 1)]
    assert made == [partition_name(day) for day in wanted]
    assert all(day in days for day in wanted)


@postgresql_only
def test_making_partitions_again_makes_none(engine):
    with write_transaction(engine) as conn:
        ensure_partitions(conn, NOW)
        assert ensure_partitions(conn, NOW) == []


@postgresql_only
def test_a_signin_is_stored_in_its_days_partition(engine):
    with write_transaction(engine) as conn:
        ensure_partitions(conn, NOW)
    _store(engine, _signin(1, NOW))
    assert _partition_of(engine, _signin(1, NOW)["id"]) == partition_name(NOW.date())


@postgresql_only
def test_a_signin_stored_twice_is_kept_once(engine):
    with write_transaction(engine) as conn:
        ensure_partitions(conn, NOW)
    _store(engine, _signin(1, NOW), _signin(1, NOW))
    _store(engine, _signin(1, NOW))
    assert _ids(engine) == [_signin(1, NOW)["id"]]


@postgresql_only
def test_a_signin_out_of_every_days_range_lands_in_the_default_partition(engine):
    odd = datetime(1999, 1, 1, 3, 0)
    _store(engine, _signin(1, odd))
    assert _partition_of(engine, _signin(1, odd)["id"]) == DEFAULT


@postgresql_only
def test_a_day_partition_made_after_its_signins_takes_them_from_the_default_partition(engine):
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=60)
    _store(engine, _signin(1, future))
    with write_transaction(engine) as conn:
        ensure_partitions(conn, future)
    assert _partition_of(engine, _signin(1, future)["id"]) == partition_name(future.date())
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {DEFAULT}").scalar() == 0


@postgresql_only
def test_retention_drops_whole_days_and_keeps_the_newer_ones(engine):
    old, cut_day, recent = NOW - timedelta(days=35), NOW - timedelta(days=30), NOW - timedelta(days=1)
    with write_transaction(engine) as conn:
        for day in (old, cut_day, recent):
            ensure_partitions(conn, day, ahead=0)
    _store(
        engine,
        _signin(1, old),
        _signin(2, cut_day - timedelta(hours=1)),  # before the cut, on the cut's day: a row trimmed
        _signin(3, cut_day + timedelta(hours=1)),  # after it, the same day: kept
        _signin(4, recent),
    )
    purged = purge(load_settings(retention_days=30), engine, clock=lambda: NOW)
    with engine.connect() as conn:
        days = day_partitions(conn)
    assert old.date() not in days
    assert cut_day.date() in days and recent.date() in days
    assert _ids(engine) == [_signin(3, NOW)["id"], _signin(4, NOW)["id"]]
    assert purged["signins"] == 2


@postgresql_only
def test_retention_refreshes_the_statistics_of_the_partitioned_table(engine):
    with write_transaction(engine) as conn:
        ensure_partitions(conn, NOW - timedelta(days=1), ahead=0)
    _store(engine, *(_signin(i, NOW - timedelta(days=1, minutes=i)) for i in range(50)))
    Worker(load_settings(retention_days=30), engine).retention()
    with engine.connect() as conn:  # the parent's own (inherited = the rows of all its partitions)
        sampled = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'signins' AND inherited"
        ).scalar()
    assert sampled > 0


def _pages_not_all_visible(engine: Engine, name: str) -> int:
    """Pages of a partition that its visibility map does not mark all-visible (as vacuum last saw)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT pg_relation_size(oid) / current_setting('block_size')::int - relallvisible "
            "FROM pg_class WHERE relname = %(name)s",
            {"name": name},
        ).scalar_one()


@postgresql_only
def test_the_partitions_of_ended_days_are_vacuumed_all_visible_and_todays_is_not(engine):
    yesterday = NOW - timedelta(days=1)
    with write_transaction(engine) as conn:
        ensure_partitions(conn, yesterday, ahead=1)
    with write_transaction(engine) as conn:
        # The test server commits asynchronously (.ci/postgres.sh), and vacuum marks rows visible only
        # once their commit is on disk: at once in production, as here.
        conn.exec_driver_sql("SET LOCAL synchronous_commit = on")
        store_signins(conn, "t1", [_signin(i, yesterday + timedelta(minutes=i)) for i in range(200)])
        store_signins(conn, "t1", [_signin(1000 + i, NOW + timedelta(minutes=i)) for i in range(200)])
    ended, today = partition_name(yesterday.date()), partition_name(NOW.date())
    with engine.connect() as conn:
        assert unsettled_days(conn, NOW) == [ended]
    assert _pages_not_all_visible(engine, ended) > 0

    refresh_statistics(engine, lambda: NOW)  # what the worker's retention job ends with

    assert _pages_not_all_visible(engine, ended) == 0
    assert _pages_not_all_visible(engine, today) > 0  # its rows are still coming


@postgresql_only
def test_postgresql_connections_do_not_compile_queries(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        conn.rollback()
    with engine.connect() as conn:  # the pooled connection again, after a rollback
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


@postgresql_only
def test_a_query_run_again_and_again_is_planned_for_its_own_values(engine):
    # psycopg prepares a statement after its fifth run; a generic plan would then neither prune the
    # day partitions by the window nor see the tenants' list.
    # A look-up by key: the kind of statement PostgreSQL switches to a generic plan soonest.
    query = select(func.count()).select_from(SignIn).where(SignIn.id == bindparam("id"))
    with engine.connect() as conn:
        for n in range(20):  # psycopg prepares it at the 6th run; PostgreSQL may go generic at the 11th
            conn.execute(query, {"id": f"id-{n}"})
        generic, custom = conn.exec_driver_sql(
            "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
            "FROM pg_prepared_statements"
        ).one()
    assert custom > 0  # the statement was prepared: the setting is what keeps its plans custom
    assert generic == 0


@postgresql_only
def test_retention_drops_the_blocking_policies_of_the_dropped_days(engine):
    old, recent = NOW - timedelta(days=35), NOW - timedelta(days=1)
    with write_transaction(engine) as conn:
        for day in (old, recent):
            ensure_partitions(conn, day, ahead=0)
    _store(engine, _signin(1, old, blocked=True), _signin(2, recent, blocked=True))
    drop_partitions_before(engine, NOW - timedelta(days=30))
    with engine.connect() as conn:
        blocked = conn.execute(select(SignInBlock.signin_id)).scalars().all()
    assert blocked == [_signin(2, NOW)["id"]]


@contextmanager
def _reading_signins(engine: Engine) -> Iterator[None]:
    """Another connection inside a transaction that has read ``signins``: it holds ACCESS SHARE on the
    partitioned table (and the partitions it read) until it ends, as a long page query does."""
    with engine.connect() as reader:
        reader.execute(select(func.count()).select_from(SignIn)).scalar()
        try:
            yield
        finally:
            reader.rollback()


# The longest retention may wait for a partition's lock: every attempt's timeout and the pauses between.
MOST_WAITED = LOCK_ATTEMPTS * LOCK_TIMEOUT_MS / 1000 + sum(
    LOCK_BACKOFF_SECONDS * n for n in range(LOCK_ATTEMPTS)
)


@postgresql_only
def test_retention_leaves_a_day_a_reader_holds_to_the_next_run_after_waiting_only_the_lock_timeout(engine):
    old, older, recent = NOW - timedelta(days=35), NOW - timedelta(days=36), NOW - timedelta(days=1)
    with write_transaction(engine) as conn:
        for day in (older, old, recent):
            ensure_partitions(conn, day, ahead=0)
    _store(engine, _signin(1, older), _signin(2, old, blocked=True), _signin(3, old), _signin(4, recent))
    cut = NOW - timedelta(days=30)
    with _reading_signins(engine):
        started = monotonic()
        first = drop_partitions_before(engine, cut)
        waited = monotonic() - started
    assert waited < MOST_WAITED + 1.0  # about the lock timeout × attempts (PostgreSQL's own timer, slack)
    # Every reader holds the partitioned table, so the newer day would wait as long: both are kept.
    assert first == PartitionDrop(kept=(older.date(), old.date()))
    assert first.kept_from == datetime.combine(older.date(), datetime.min.time())
    with engine.connect() as conn:
        assert {older.date(), old.date()} <= set(day_partitions(conn))
    assert len(_ids(engine)) == 4

    second = drop_partitions_before(engine, cut)  # the reader has ended
    assert second == PartitionDrop(3, (partition_name(older.date()), partition_name(old.date())))
    with engine.connect() as conn:
        days = day_partitions(conn)
        blocked = conn.execute(select(SignInBlock.signin_id)).scalars().all()
    assert older.date() not in days and old.date() not in days
    assert _ids(engine) == [_signin(4, NOW)["id"]] and blocked == []


@postgresql_only
def test_the_coming_days_partitions_wait_only_the_lock_timeout_for_a_reader_and_are_made_next_run(engine):
    later = NOW + timedelta(days=20)
    with _reading_signins(engine):
        started = monotonic()
        assert ensure_partitions_now(engine, later) == []
        assert monotonic() - started < MOST_WAITED + 1.0
    with engine.connect() as conn:
        assert later.date() not in day_partitions(conn)
    assert partition_name(later.date()) in ensure_partitions_now(engine, later)  # the reader has ended
    assert ensure_partitions_now(engine, later) == []


@postgresql_only
def test_retention_purge_keeps_a_day_it_could_not_drop_whole_until_the_next_run(engine):
    old, cut_day = NOW - timedelta(days=35), NOW - timedelta(days=30)
    with write_transaction(engine) as conn:
        for day in (old, cut_day):
            ensure_partitions(conn, day, ahead=0)
        ensure_partitions(conn, NOW)  # the purge's own call then takes no lock
    _store(
        engine,
        _signin(1, old),
        _signin(2, old + timedelta(hours=3)),
        _signin(3, cut_day - timedelta(hours=1)),
    )
    settings = load_settings(retention_days=30)
    with _reading_signins(engine):
        purged = purge(settings, engine, clock=lambda: NOW)
    # Not deleted row by row: the cut moved back to the kept day's start (the cut's own day waits too).
    assert purged["signins"] == 0 and len(_ids(engine)) == 3
    purged = purge(settings, engine, clock=lambda: NOW)
    with engine.connect() as conn:
        assert old.date() not in day_partitions(conn)
    assert purged["signins"] == 3 and _ids(engine) == []


@postgresql_only
def test_existing_signins_are_moved_into_day_partitions(engine):
    with write_transaction(engine) as conn:
        unpartition_signins(conn)
        assert not is_partitioned(conn)
    days = [NOW - timedelta(days=n) for n in (0, 3, 9)]
    _store(engine, *(_signin(i, day) for i, day in enumerate(days)))
    with write_transaction(engine) as conn:
        partition_signins(conn, NOW)
    for i, day in enumerate(days):
        assert _partition_of(engine, _signin(i, day)["id"]) == partition_name(day.date())
    with engine.connect() as conn:
        indexes = set(
            conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'signins'").scalars()
        )
    assert {"signins_pkey", "ix_signins_tenant_created", "ix_signins_failed"} <= indexes


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_sqlite_has_no_partitions_to_make_or_drop(engine):
    _store(engine, _signin(1, NOW - timedelta(days=40)))
    with write_transaction(engine) as conn:
        assert ensure_partitions(conn, NOW) == []
    assert drop_partitions_before(engine, NOW) == PartitionDrop()
    assert settle_ended_days(engine, NOW) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SignIn)).scalar() == 1
