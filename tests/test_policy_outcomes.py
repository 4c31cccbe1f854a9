"""Every sign-in's Conditional Access outcomes are kept with it (db.signin_index.index_outcomes) and
read back by tenant, policy, result, user, app, IP and time (db.policy_outcomes), on SQLite and
PostgreSQL (the `engine` fixture)."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

from db import write_transaction
from db.models import SignInPolicyOutcome, SignInWouldBlock
from db.policy_outcomes import (
    WOULD_BLOCK,
    OutcomeQuery,
    first_outcome_hour,
    policy_impact,
    policy_outcomes,
    result_counts,
    would_block_tallies,
)
from db.rows import signin_row_outcomes
from db.signin_index import pack_ids, unpack_ids
from db.store import ingest_signin_page, purge_older_than
from investigate.impact import SERVICE_ACCOUNT, TECHNICIAN, People, Tallies, WouldBlock, tally

T1, T2 = "tenant-1", "tenant-2"
MFA, PILOT, OFF = "policy-mfa", "policy-pilot", "policy-off"
NOON = datetime(2026, 11, 21, 12, 0, 0)


def _signin(
    n: int,
    *,
    minutes_ago: int = 0,
    upn: str = "alice@contoso.com",
    app: str = "Azure Portal",
    ip: str = "20.1.1.1",
    code: int = 0,
    results: dict[str, str] | None = None,
) -> dict:
    results = results if results is not None else {MFA: "success", PILOT: "reportOnlyFailure"}
    return {
        "id": f"00000000-0000-0000-0000-{n:012d}",
        "createdDateTime": (NOON - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userPrincipalName": upn,
        "appDisplayName": app,
        "ipAddress": ip,
        "location": {"countryOrRegion": "GB", "city": "London"},
        "status": {"errorCode": code},
        "appliedConditionalAccessPolicies": [
            {"id": pid, "displayName": pid, "result": result, "enforcedGrantControls": []}
            for pid, result in results.items()
        ],
    }


def _query(**kwargs) -> OutcomeQuery:
    values = {"tenants": (T1, T2), "start": NOON - timedelta(days=1), "end": NOON + timedelta(hours=1)}
    values.update(kwargs)
    return OutcomeQuery(**values)


def _ids(outcomes) -> set[tuple[str, str, str]]:
    return {(o.signin_id[-3:], o.policy_id, o.result) for o in outcomes}


def test_the_row_mapping_takes_each_policys_id_and_result_as_written():
    _row, outcomes = signin_row_outcomes(
        T1, _signin(1, results={MFA: "success", PILOT: "reportOnlyInterrupted", OFF: "somethingNew"})
    )
    assert outcomes == [(MFA, "success"), (PILOT, "reportOnlyInterrupted"), (OFF, "somethingNew")]


def test_a_policy_entry_without_an_id_is_left_out_and_odd_values_kept_as_text():
    obj = _signin(1)
    obj["appliedConditionalAccessPolicies"] = [{"result": "success"}, {"id": 7, "result": ["x"]}]
    assert signin_row_outcomes(T1, obj)[1] == [("7", '["x"]')]


def test_outcomes_are_stored_for_successful_and_failed_signins(engine):
    ingest_signin_page(engine, T1, [_signin(1), _signin(2, code=53003, results={MFA: "failure"})])
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query())
    assert _ids(found) == {
        ("001", MFA, "success"),
        ("001", PILOT, "reportOnlyFailure"),
        ("002", MFA, "failure"),
    }


def _mfa_postings(conn) -> tuple:  # type: ignore[no-untyped-def]
    """(signin_ids, packed_ids) of the MFA policy's one postings row."""
    o = SignInPolicyOutcome
    return tuple(conn.execute(select(o.signin_ids, o.packed_ids).where(o.policy_id == MFA)).one())


def test_guid_signin_ids_are_kept_packed_16_bytes_each_and_read_back(engine):
    ingest_signin_page(engine, T1, [_signin(1), _signin(2)])
    with engine.connect() as conn:
        stored = _mfa_postings(conn)
        found = policy_outcomes(conn, _query(policy_id=MFA))
    assert stored[0] == "" and len(stored[1]) == 2 * 16
    assert sorted(o.signin_id for o in found) == [_signin(1)["id"], _signin(2)["id"]]


def test_signin_ids_that_are_not_all_guids_are_kept_as_written(engine):
    odd = {**_signin(3), "id": "Not-A-GUID 3"}
    ingest_signin_page(engine, T1, [_signin(1), odd])
    with engine.connect() as conn:
        stored = _mfa_postings(conn)
        found = policy_outcomes(conn, _query(policy_id=MFA))
    assert stored[1] is None and "Not-A-GUID" in stored[0]
    assert {o.signin_id for o in found} >= {_signin(1)["id"]}


def test_postings_written_before_packing_are_read(engine):
    ingest_signin_page(engine, T1, [_signin(1), _signin(2)])
    with write_transaction(engine) as conn:
        conn.execute(
            update(SignInPolicyOutcome)
            .where(SignInPolicyOutcome.policy_id == MFA)
            .values(signin_ids=f"{_signin(1)['id']} {_signin(2)['id']}", packed_ids=None)
        )
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query(policy_id=MFA))
    assert sorted(o.signin_id for o in found) == [_signin(1)["id"], _signin(2)["id"]]


def test_a_signin_collected_twice_keeps_its_outcomes_once(engine):
    page = [_signin(1), _signin(2, minutes_ago=5)]
    ingest_signin_page(engine, T1, page)
    ingest_signin_page(engine, T1, [*page, _signin(3, minutes_ago=2)])  # the collectors' overlap
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query(policy_id=MFA))
        counted = result_counts(conn, T1, MFA, NOON - timedelta(days=1), NOON + timedelta(hours=1))
    assert sorted(o.signin_id[-3:] for o in found) == ["001", "002", "003"]
    assert counted == {"success": 3}


def test_outcomes_are_queried_by_tenant(engine):
    ingest_signin_page(engine, T1, [_signin(1)])
    ingest_signin_page(engine, T2, [_signin(2)])
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query(tenants=(T2,)))
    assert {(o.tenant_id, o.signin_id[-3:]) for o in found} == {(T2, "002")}


def test_outcomes_are_queried_by_policy_and_result(engine):
    ingest_signin_page(
        engine,
        T1,
        [
            _signin(1),
            _signin(2, results={MFA: "success", PILOT: "reportOnlyInterrupted"}),
            _signin(3, results={MFA: "success", PILOT: "reportOnlyNotApplied"}),
        ],
    )
    with engine.connect() as conn:
        pilot = policy_outcomes(conn, _query(policy_id=PILOT))
        would_block = policy_outcomes(conn, _query(policy_id=PILOT, results=WOULD_BLOCK))
    assert _ids(pilot) == {
        ("001", PILOT, "reportOnlyFailure"),
        ("002", PILOT, "reportOnlyInterrupted"),
        ("003", PILOT, "reportOnlyNotApplied"),
    }
    assert _ids(would_block) == {("001", PILOT, "reportOnlyFailure"), ("002", PILOT, "reportOnlyInterrupted")}


def test_outcomes_are_queried_by_user_app_and_ip(engine):
    ingest_signin_page(
        engine,
        T1,
        [
            _signin(1, upn="alice@contoso.com", app="Azure Portal", ip="20.1.1.1"),
            _signin(2, upn="bob@contoso.com", app="Microsoft Teams", ip="20.1.1.1"),
            _signin(3, upn="bob@contoso.com", app="Azure Portal", ip="20.2.2.2"),
        ],
    )
    with engine.connect() as conn:
        by_user = policy_outcomes(conn, _query(policy_id=MFA, user="BOB@contoso.com"))
        by_app = policy_outcomes(conn, _query(policy_id=MFA, app="azure portal"))
        by_ip = policy_outcomes(conn, _query(policy_id=MFA, ip="20.1.1.1"))
    assert sorted(o.signin_id[-3:] for o in by_user) == ["002", "003"]
    assert sorted(o.signin_id[-3:] for o in by_app) == ["001", "003"]
    assert sorted(o.signin_id[-3:] for o in by_ip) == ["001", "002"]
    assert {o.user_principal_name for o in by_user} == {"bob@contoso.com"}


def test_outcomes_are_queried_by_time_to_the_second(engine):
    ingest_signin_page(
        engine, T1, [_signin(1, minutes_ago=0), _signin(2, minutes_ago=30), _signin(3, minutes_ago=90)]
    )
    with engine.connect() as conn:
        found = policy_outcomes(
            conn, _query(policy_id=MFA, start=NOON - timedelta(minutes=45), end=NOON - timedelta(minutes=10))
        )
    assert [o.signin_id[-3:] for o in found] == ["002"]


def test_newest_outcomes_come_first_up_to_the_limit(engine):
    ingest_signin_page(engine, T1, [_signin(n, minutes_ago=n * 50) for n in range(1, 6)])
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query(policy_id=MFA), limit=2)
    assert [o.signin_id[-3:] for o in found] == ["001", "002"]


def test_the_first_outcome_hour_says_how_far_the_evidence_goes_back(engine):
    ingest_signin_page(engine, T1, [_signin(1, minutes_ago=0), _signin(2, minutes_ago=150)])
    with engine.connect() as conn:
        assert first_outcome_hour(conn, T1, PILOT, WOULD_BLOCK) == datetime(2026, 11, 21, 9, 0)
        assert first_outcome_hour(conn, T1, "no-such-policy") is None


def test_retention_deletes_outcomes_with_their_signins(engine):
    ingest_signin_page(engine, T1, [_signin(1, minutes_ago=0), _signin(2, minutes_ago=60 * 30)])
    with write_transaction(engine) as conn:
        purge_older_than(conn, NOON - timedelta(days=1), NOON - timedelta(days=90))
    with engine.connect() as conn:
        found = policy_outcomes(conn, _query(start=NOON - timedelta(days=3)))
        hours = conn.execute(select(func.min(SignInPolicyOutcome.hour))).scalar()
    assert {o.signin_id[-3:] for o in found} == {"001"}
    assert hours is not None and hours >= NOON - timedelta(days=1, hours=1)


def test_would_be_blocks_are_kept_with_the_signins_columns_once_and_purged_with_them(engine):
    page = [_signin(1, upn="carol@contoso.com", ip="20.9.9.9"), _signin(2, minutes_ago=60 * 30)]
    ingest_signin_page(engine, T1, page)
    ingest_signin_page(engine, T1, page)  # collected again
    columns = (SignInWouldBlock.signin_id, SignInWouldBlock.user_principal_name, SignInWouldBlock.ip_address)
    with engine.connect() as conn:
        kept = {(i[-3:], upn, ip) for i, upn, ip in conn.execute(select(*columns))}
    assert kept == {("001", "carol@contoso.com", "20.9.9.9"), ("002", "alice@contoso.com", "20.1.1.1")}
    with write_transaction(engine) as conn:
        purge_older_than(conn, NOON - timedelta(days=1), NOON - timedelta(days=90))
    with engine.connect() as conn:
        assert [i[-3:] for (i,) in conn.execute(select(SignInWouldBlock.signin_id))] == ["001"]


# --- a policy's would-be blocks, counted in SQL ----------------------------------------------------------

MSP_PEOPLE = People(T1, "svc@contoso.com", frozenset({"glass@contoso.com"}))


def _varied_would_blocks(engine) -> None:
    """Would-be blocks of PILOT in T1 over three days: users in two spellings and a service provider,
    apps, IPs and countries repeated, both results, times on and off the hour (a fraction too)."""
    page = []
    for n in range(60):
        obj = _signin(
            n,
            minutes_ago=n * 71,
            upn=("Alice@Contoso.com", "alice@contoso.com", "svc@contoso.com", "bob@contoso.com")[n % 4],
            app=("Azure Portal", "CIPP", "Outlook")[n % 3],
            ip=("20.1.1.1", "198.51.100.7", "203.0.113.9", "")[n % 4 if n % 5 else 0],
            results={PILOT: ("reportOnlyFailure", "reportOnlyInterrupted")[n % 2 if n % 7 else 0]},
        )
        obj["location"]["countryOrRegion"] = ("GB", "US", "")[n % 3]
        if n % 6 == 0:
            obj["createdDateTime"] = obj["createdDateTime"].replace("Z", ".250000Z")
        if n % 9 == 0:
            obj["crossTenantAccessType"] = "serviceProvider"
            obj["homeTenantId"] = T2
        page.append(obj)
    ingest_signin_page(engine, T1, page)


def _every_row(conn) -> list[WouldBlock]:
    w = SignInWouldBlock
    columns = (w.signin_id, w.created_at, w.result, w.user_principal_name, w.app_display_name)
    rest = (w.ip_address, w.country, w.cross_tenant_access_type, w.home_tenant_id)
    return [
        WouldBlock(i, at, result, upn, app, ip, country, None, access, home)
        for i, at, result, upn, app, ip, country, access, home in conn.execute(select(*columns, *rest))
    ]


def _same(tallies: Tallies) -> tuple:
    """The tallies in one order (SQL groups come in any order)."""
    return (
        sorted(tallies.users, key=repr),
        sorted(tallies.apps, key=repr),
        sorted(tallies.ips, key=repr),
        sorted(tallies.countries, key=repr),
        sorted(tallies.ip_users, key=repr),
        tallies.timeline,
        tallies.newest,
    )


@pytest.mark.parametrize("with_ips", [True, False], ids=["by-user-and-ip", "by-user-by-ip"])
@pytest.mark.parametrize("hourly", [True, False], ids=["hourly", "daily"])
def test_would_be_blocks_are_counted_in_sql_as_over_every_row(engine, hourly, with_ips):
    _varied_would_blocks(engine)
    start, end = NOON - timedelta(days=3), NOON + timedelta(hours=1)
    with engine.connect() as conn:
        counted = would_block_tallies(
            conn, T1, PILOT, start, end, hourly=hourly, with_ips_by_user=with_ips, newest=25
        )
        every = tally(_every_row(conn), hourly=hourly, with_ips_by_user=with_ips, newest=25)
    assert counted.timeline and bool(counted.ip_users) == with_ips
    assert any(u.home_tenant_id for u in counted.users)
    assert _same(counted) == _same(every)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("with_ips", [True, False], ids=["by-user-and-ip", "by-user-by-ip"])
@pytest.mark.parametrize("hourly", [True, False], ids=["hourly", "daily"])
def test_postgresql_counts_would_be_blocks_in_one_grouping_sets_pass_as_the_separate_group_bys_do(
    engine, hourly, with_ips
):
    _varied_would_blocks(engine)
    start, end = NOON - timedelta(days=3), NOON + timedelta(hours=1)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with engine.connect() as conn:
        planner_setting = conn.exec_driver_sql("SHOW hash_mem_multiplier").scalar()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            at_once = would_block_tallies(
                conn, T1, PILOT, start, end, hourly=hourly, with_ips_by_user=with_ips, newest=25
            )
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert conn.exec_driver_sql("SHOW hash_mem_multiplier").scalar() == planner_setting  # restored
        apart = would_block_tallies(
            conn,
            T1,
            PILOT,
            start,
            end,
            hourly=hourly,
            with_ips_by_user=with_ips,
            newest=25,
            grouping_sets=False,
        )
    reads = [statement for statement in statements if "FROM signin_would_block" in statement]
    assert len(reads) == 2  # the range read once for every grouping, and once for the newest rows
    assert sum("GROUPING SETS" in statement for statement in reads) == 1
    assert at_once.timeline and at_once.users and at_once.ips and bool(at_once.ip_users) == with_ips
    assert _same(at_once) == _same(apart)


def test_the_impact_counts_every_would_be_block_and_lists_the_newest(engine):
    _varied_would_blocks(engine)
    policy = {"id": PILOT, "displayName": "Pilot", "state": "enabledForReportingButNotEnforced"}
    with engine.connect() as conn:
        end = NOON + timedelta(hours=1)
        impact = policy_impact(conn, T1, PILOT, end, MSP_PEOPLE, policy=policy, newest=5)
        every = _every_row(conn)
    assert impact is not None
    assert impact.total == len(every) == 60
    assert impact.blocked == sum(1 for s in every if s.result == "reportOnlyFailure")
    newest_first = sorted(every, key=lambda s: (s.created_at, s.signin_id), reverse=True)
    assert [s.signin_id for s in impact.newest] == [s.signin_id for s in newest_first[:5]]
    assert impact.role_signins == {SERVICE_ACCOUNT: 15, TECHNICIAN: 45}


GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("ids", "packed"),
    [
        ([GUID, GUID.replace("0f8f", "1234")], True),
        ([GUID.upper()], False),  # upper case would come back lower
        ([GUID[:8] + " " + GUID[9:]], False),  # a space where a dash goes (fromhex skips spaces)
        ([GUID.replace("-", "") + "abcd"], False),  # 36 characters, no dashes
        ([GUID[:35] + "g"], False),
        ([GUID, "short"], False),
        (["Not-A-GUID 3"], False),
    ],
)
def test_postings_ids_are_packed_only_when_they_come_back_exactly(ids, packed):
    signin_ids, packed_ids = pack_ids(ids)
    assert (packed_ids is not None) is packed
    if not any(" " in i for i in ids):  # the unpacked form is space-separated
        assert unpack_ids(signin_ids, packed_ids) == ids
