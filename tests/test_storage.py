import gc
from datetime import datetime

import orjson
import pytest
from sqlalchemy import func, select

from conftest import sample
from db import write_transaction
from db.models import SignIn
from db.rows import MalformedObject, parse_graph_datetime, signin_row, use_parsed_json
from db.store import purge_older_than, replace_objects, store_signins


def _signin(i: int, created: str = "2026-11-21T10:00:00Z") -> dict:
    obj = dict(sample("signins_beta_list_ex1_password_failure_50126.response.json")["value"][0])
    obj["id"] = f"00000000-0000-0000-0000-{i:012d}"
    obj["createdDateTime"] = created
    return obj


def test_graph_timestamps_with_seven_fraction_digits_parse():
    assert parse_graph_datetime("2019-09-26T23:12:16.0792706Z") == datetime(2019, 9, 26, 23, 12, 16, 79270)
    assert parse_graph_datetime("2021-06-30T16:34:32Z") == datetime(2021, 6, 30, 16, 34, 32)
    assert parse_graph_datetime("2021-06-30T18:34:32+02:00") == datetime(2021, 6, 30, 16, 34, 32)


def test_signin_row_takes_the_filter_columns_from_the_beta_sample():
    row = signin_row("t1", _signin(1))
    assert row[0] == "00000000-0000-0000-0000-000000000001"
    assert row[3] == "testaccount1@contoso.com"
    assert row[9] == "US" and row[10] == "Redmond"
    assert row[11] == 50126
    assert row[13] == "notApplied"
    assert row[15] == "singleFactorAuthentication"
    assert orjson.loads(row[-1])["appDisplayName"] == "Azure Portal"


def test_status_without_error_code_counts_as_success():
    obj = _signin(2)
    obj["status"] = {}
    assert signin_row("t1", obj)[11] == 0


def test_signin_without_id_is_malformed():
    obj = _signin(3)
    del obj["id"]
    try:
        signin_row("t1", obj)
    except MalformedObject as error:
        assert "id" in str(error)
    else:
        raise AssertionError("expected MalformedObject")


def test_a_page_is_parsed_and_used_with_the_cycle_collector_paused():
    seen = use_parsed_json(b'{"value": [{"id": "a"}]}', lambda doc: (gc.isenabled(), doc["value"][0]["id"]))
    assert seen == (False, "a")
    assert gc.isenabled()


def test_the_cycle_collector_resumes_when_using_a_page_fails():
    def fail(_doc: object) -> None:
        raise RuntimeError("store failed")

    with pytest.raises(RuntimeError):
        use_parsed_json(b"[]", fail)
    with pytest.raises(orjson.JSONDecodeError):
        use_parsed_json(b'{"value": [', fail)
    assert gc.isenabled()


def test_storing_the_same_signins_twice_keeps_one_row_each(engine):
    page = [_signin(i) for i in range(50)]
    for _ in range(2):
        with write_transaction(engine) as conn:
            stored, skipped, newest = store_signins(conn, "t1", page)
    assert (stored, skipped) == (50, 0)
    assert newest == datetime(2026, 11, 21, 10, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SignIn)).scalar() == 50


def test_malformed_signins_are_skipped_and_the_rest_kept(engine):
    page = [_signin(1), "stray", {"id": "x"}, _signin(2)]
    with write_transaction(engine) as conn:
        stored, skipped, _ = store_signins(conn, "t1", page)
    assert (stored, skipped) == (2, 2)


def test_replace_objects_drops_deleted_objects(engine):
    now = datetime(2026, 11, 22)
    with write_transaction(engine) as conn:
        replace_objects(conn, "t1", "conditionalAccessPolicies", [{"id": "a"}, {"id": "b"}], now)
        replace_objects(conn, "t1", "conditionalAccessPolicies", [{"id": "b"}], now)
    from db.queries import graph_objects

    with engine.connect() as conn:
        assert graph_objects(conn, "t1", "conditionalAccessPolicies") == [{"id": "b"}]


def test_cipp_stray_strings_are_kept_verbatim(engine):
    now = datetime(2026, 11, 22)
    clients = [{"ClientId": "c1", "IPRange": ["Any"]}, "Any"]
    with write_transaction(engine) as conn:
        replace_objects(conn, "msp", "cipp.apiClients", clients, now)
    from db.queries import graph_objects

    with engine.connect() as conn:
        assert graph_objects(conn, "msp", "cipp.apiClients") == clients


def test_retention_purges_only_old_signins(engine):
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", [_signin(1, "2026-10-01T00:00:00Z"), _signin(2, "2026-11-21T00:00:00Z")])
        purged = purge_older_than(conn, datetime(2026, 10, 23), datetime(2026, 8, 1))
    assert purged["signins"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(SignIn.id)).scalars().all() == ["00000000-0000-0000-0000-000000000002"]


def test_retention_keeps_a_signin_stored_exactly_at_the_cutoff(engine):
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", [_signin(1, "2026-10-23T00:00:00Z"), _signin(2, "2026-10-22T23:59:59Z")])
        purged = purge_older_than(conn, datetime(2026, 10, 23), datetime(2026, 8, 1))
    assert purged["signins"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(SignIn.id)).scalars().all() == ["00000000-0000-0000-0000-000000000001"]


def test_a_query_bound_equal_to_a_stored_time_includes_that_signin(engine):
    bound = datetime(2026, 11, 21, 10, 0)
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", [_signin(1, "2026-11-21T10:00:00Z"), _signin(2, "2026-11-21T10:00:00.5Z")])
    with engine.connect() as conn:
        at_or_after = conn.execute(select(func.count()).where(SignIn.created_at >= bound)).scalar()
        before = conn.execute(select(func.count()).where(SignIn.created_at < bound)).scalar()
        newest = conn.execute(select(func.max(SignIn.created_at))).scalar()
    assert (at_or_after, before) == (2, 0)
    assert newest == datetime(2026, 11, 21, 10, 0, 0, 500000)


def test_sqlite_runs_in_wal_mode(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
