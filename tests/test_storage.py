import gc
from contextlib import contextmanager
from datetime import datetime

import orjson
import pytest
from sqlalchemy import event, func, select

import collectors.run
from db import write_transaction
from db.models import SignIn, SignInBlock
from db.rows import (
    NOT_JSON,
    MalformedObject,
    MalformedPage,
    decode_signin_page,
    failure_fields,
    signin_row,
    use_parsed_json,
)
from db.store import oldest_signin_at, purge_older_than, replace_objects, store_signins, upsert_tenant
from graphjson.times import parse_graph_datetime
from settings import load_settings
from support import SAMPLES, sample


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


def test_a_signin_page_decodes_into_each_signins_own_json_and_the_next_link():
    body = (SAMPLES / "signins_v1_list_ex1.response.json").read_bytes()
    page = decode_signin_page(body)
    assert [orjson.loads(bytes(s)) for s in page.value] == orjson.loads(body)["value"]
    assert page.next_link.startswith("https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1")


def test_raw_is_the_signin_json_exactly_as_graph_sent_it():
    name = "signins_beta_list_ex1_password_failure_50126.response.json"
    body = (SAMPLES / name).read_bytes()
    (signin,) = decode_signin_page(body).value
    raw = bytes(signin_row("t1", signin)[-1])
    assert raw == bytes(signin)  # whitespace, key order and escapes as sent
    assert raw in body
    assert orjson.loads(raw) == sample(name)["value"][0]


def test_a_body_of_another_shape_is_a_malformed_page_and_a_cut_off_body_is_not_json():
    for body in (b'{"value": 3}', b"[1, 2]", b'{"value": [], "@odata.nextLink": 5}'):
        with pytest.raises(MalformedPage):
            decode_signin_page(body)
    with pytest.raises(NOT_JSON):
        decode_signin_page(b'{"value": [{"id": "a"')


def test_odd_values_in_a_signin_are_judged_per_field_not_per_page():
    obj = _signin(4)
    obj.update(id=42, status="oops", location=["Redmond"], isInteractive=None)
    row = signin_row("t1", obj)
    assert row[0] == "42" and row[11] == 0 and (row[9], row[10]) == ("", "") and row[14] is True
    obj.update(ipAddress=5, userPrincipalName={"upn": "a@b.c"}, location={"city": ["Redmond"]})
    row = signin_row("t1", obj)  # text that is not text is kept as its JSON text
    assert (row[8], row[3], row[10]) == ("5", '{"upn":"a@b.c"}', '["Redmond"]')
    obj["status"] = {"errorCode": "50126"}
    assert signin_row("t1", obj)[11] == 50126
    not_utf8 = orjson.dumps(_signin(6)).replace(b"Redmond", b"Redm\xf6nd")
    for bad in ({**obj, "createdDateTime": 5}, {**obj, "id": None}, b'"a string"', b"[1]", not_utf8):
        with pytest.raises(MalformedObject):
            signin_row("t1", bad)


def test_a_failed_signin_gives_its_failing_policies_place_and_error_code_for_explaining_it():
    obj = _signin(5)
    obj["appliedConditionalAccessPolicies"] = [
        {"id": "p-block", "displayName": "Block", "result": "failure", "enforcedGrantControls": ["Block"]},
        {"id": "p-mfa", "displayName": "MFA", "result": "notApplied", "enforcedGrantControls": ["Mfa"]},
        {"id": "p-ro", "displayName": "RO", "result": " Failure ", "enforcedGrantControls": ["Mfa"]},
    ]
    fields = failure_fields(obj)
    assert set(fields) == {"appliedConditionalAccessPolicies", "location", "status"}
    assert [p["id"] for p in fields["appliedConditionalAccessPolicies"]] == ["p-block", "p-ro"]
    assert fields["location"]["geoCoordinates"] == obj["location"]["geoCoordinates"]  # the map's dot
    assert fields["status"] == {"errorCode": 50126}


def test_the_stored_blocking_policy_is_the_one_that_explains_the_error_code(engine):
    obj = _signin(11)
    obj["status"] = {"errorCode": 50074, "failureReason": "Strong Authentication is required."}
    obj["appliedConditionalAccessPolicies"] = [
        {"id": "p-block", "displayName": "Block", "result": "failure", "enforcedGrantControls": ["Block"]},
        {"id": "p-mfa", "displayName": "MFA", "result": "failure", "enforcedGrantControls": ["Mfa"]},
    ]
    with write_transaction(engine) as conn:
        store_signins(conn, "t1", [obj])
    with engine.connect() as conn:
        stored = conn.execute(
            select(SignInBlock.policy_id).where(SignInBlock.signin_id == obj["id"])
        ).scalar_one()
    assert stored == "p-mfa"  # an MFA failure is explained by the MFA policy, not by the block one


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


def test_retention_finds_old_rows_through_indexes_not_by_reading_whole_tables(engine):
    # Every retention statement on the sign-ins and what is kept beside them (SQLite's plans: no
    # SCAN of a table or index, only SEARCHes); a condition on time alone read 10 M sign-ins per slice.
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    statements: list[tuple[str, tuple]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("DELETE", "WITH")):
            statements.append((statement, parameters))

    with write_transaction(engine) as conn:
        store_signins(conn, "t1", [_signin(1, "2026-10-01T00:00:00Z"), _signin(2, "2026-11-21T00:00:00Z")])
    event.listen(engine, "before_cursor_execute", record)
    try:
        with write_transaction(engine) as conn:
            purge_older_than(conn, datetime(2026, 10, 23), datetime(2026, 8, 1))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    big = ("signins", "signin_blocks", "signin_rollups", "signin_policy_outcomes", "signin_would_block")
    checked = 0
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            if any(f" {table}" in statement for table in big):
                checked += 1
                assert not [step for step in plan if step.startswith("SCAN") and "tenants" not in step], (
                    statement,
                    plan,
                )
    assert checked >= 6


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


def test_a_nul_in_a_signins_text_is_stored_as_a_replacement_character_not_a_failed_page(engine):
    obj = _signin(9)
    obj["userDisplayName"] = "Eve\u0000Admin"
    with write_transaction(engine) as conn:
        stored, skipped, _ = store_signins(conn, "t1", [obj, _signin(10)])
    assert (stored, skipped) == (2, 0)
    with engine.connect() as conn:
        name = conn.execute(select(SignIn.user_display_name).where(SignIn.id == obj["id"])).scalar_one()
    assert name == "Eve\ufffdAdmin"


def test_retention_deletes_a_backlog_of_signins_an_hour_per_transaction(engine, monkeypatch):
    now = datetime(2026, 11, 22, 12, 0)
    with write_transaction(engine) as conn:
        upsert_tenant(conn, now, tenant_id="t1", display_name="Tenant 1", role="client")
        # five hours of sign-ins past the 30 days kept, and one inside them
        store_signins(conn, "t1", [_signin(i, f"2026-10-23T0{i}:30:00Z") for i in range(1, 6)])
        store_signins(conn, "t1", [_signin(9, "2026-10-23T12:30:00Z")])
    transactions = []

    @contextmanager
    def counted(engine):
        with write_transaction(engine) as conn:
            before = conn.execute(select(func.count()).select_from(SignIn)).scalar()
            yield conn
            transactions.append(before - conn.execute(select(func.count()).select_from(SignIn)).scalar())

    monkeypatch.setattr(collectors.run, "write_transaction", counted)
    purged = collectors.run.purge(load_settings(retention_days=30), engine, clock=lambda: now)
    assert purged["signins"] == 5
    assert max(transactions) == 1  # never more than an hour's sign-ins at once
    with engine.connect() as conn:
        assert conn.execute(select(SignIn.id)).scalars().all() == ["00000000-0000-0000-0000-000000000009"]
        assert oldest_signin_at(conn) == datetime(2026, 10, 23, 12, 30)
