"""The data behind the investigation and the wall, on SQLite and PostgreSQL: each filter narrows, the
counters agree with the rows, collecting twice counts once (db.signin_index, db.signin_aggregates)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from posture_fixtures import MSP_ID
from sqlalchemy import delete, event, func, select, update

from db import queries, write_transaction
from db import signin_aggregates as agg
from db import signin_lists as lists
from db import signin_scope as scope_q
from db.models import SignIn, SignInBlock, SignInPlace, SignInRollup
from db.signin_index import BLOCKED_DIMS
from db.signin_raw import raw_json
from db.store import ingest_signin_page, purge_older_than, upsert_tenant
from investigate.codes import ALL_FAILURES, BLOCKED
from investigate.filters import Filters

NOW = datetime(2026, 11, 22, 12, 0)
T2, T3 = "c1000000-0000-4000-8000-000000000002", "c1000000-0000-4000-8000-000000000003"
TENANTS = [MSP_ID, T2, T3]
P_CA001, P_DEVICE, P_TECH = "p-ca001", "p-device", "p-tech"


def signin(
    sid: str,
    at: datetime,
    code: int,
    *,
    upn: str = "ann@tailspintoys.com",
    app: str = "Outlook",
    ip: str = "203.0.113.5",
    country: str = "US",
    city: str = "Denver",
    interactive: bool = True,
    cross: str = "none",
    home: str = "",
    policy: tuple[str, str, str] | None = None,
) -> dict:
    applied = []
    if policy is not None:
        applied = [
            {
                "id": policy[0],
                "displayName": policy[1],
                "result": "failure",
                "enforcedGrantControls": [policy[2]],
                "enforcedSessionControls": [],
            }
        ]
    return {
        "id": sid,
        "createdDateTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userPrincipalName": upn,
        "userDisplayName": upn.split("@")[0].title(),
        "appDisplayName": app,
        "ipAddress": ip,
        "isInteractive": interactive,
        "crossTenantAccessType": cross,
        "homeTenantId": home,
        "conditionalAccessStatus": "failure" if applied else "notApplied",
        "status": {"errorCode": code, "failureReason": None},
        "location": {
            "countryOrRegion": country,
            "city": city,
            "geoCoordinates": {"latitude": 39.7, "longitude": -105.0},
        },
        "appliedConditionalAccessPolicies": applied,
    }


PAGES: dict[str, list[dict]] = {
    T2: [
        signin(
            "s1",
            NOW - timedelta(minutes=30),
            53003,
            upn="alex@msp.example",
            app="Azure Portal",
            ip="198.51.100.7",
            city="Portland",
            cross="serviceProvider",
            home=MSP_ID,
            policy=(P_CA001, "CA001: Require MFA for all users", "Block"),
        ),
        signin("s2", datetime(2026, 11, 22, 11, 0, 0), 50126, interactive=False),  # exactly on the hour
        signin(
            "s6",
            NOW - timedelta(days=20),
            50053,
            upn="ann@tailspintoys.com",
            ip="45.0.0.1",
            country="RU",
            city="Moscow",
        ),
    ],
    T3: [
        signin(
            "s3",
            NOW - timedelta(days=3, minutes=7),
            53000,
            upn="bob@fabrikam.com",
            app="Microsoft Teams",
            ip="203.0.113.9",
            country="CA",
            city="Toronto",
            policy=(P_DEVICE, "CA005: Require compliant device", "RequireCompliantDevice"),
        ),
        signin("s5", NOW - timedelta(hours=2), 0, upn="bob@fabrikam.com"),  # a success: never counted
    ],
    MSP_ID: [
        signin(
            "s4",
            NOW - timedelta(days=10, hours=7),
            53003,
            upn="alex@msp.example",
            app="CIPP",
            ip="66.171.40.17",
            city="Portland",
            policy=(P_TECH, "CIPP - Block technicians outside trusted location", "Block"),
        ),
    ],
}
FAILED = {"s1", "s2", "s3", "s4", "s6"}
NOT_BLOCKED = {"s2"}  # a wrong password: a failure, not a block


def every(**values) -> Filters:  # type: ignore[no-untyped-def]
    """Filters that count every failure (the default counts blocked sign-ins only)."""
    return Filters(failures=ALL_FAILURES, **values)


def fill(engine) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        for tenant_id in TENANTS:
            upsert_tenant(
                conn,
                NOW,
                tenant_id=tenant_id,
                display_name=tenant_id[:8],
                role="msp" if tenant_id == MSP_ID else "client",
            )
    for tenant_id, values in PAGES.items():
        ingest_signin_page(engine, tenant_id, values)


@pytest.fixture
def filled(engine):  # type: ignore[no-untyped-def]
    fill(engine)
    return engine


def ids(engine, filters: Filters, now: datetime = NOW) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        scope = scope_q.resolve_scope(conn, filters, now, TENANTS, MSP_ID)
        return {r.id for r in lists.failed_signins(conn, scope)}


def count(engine, filters: Filters, now: datetime = NOW) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return agg.count_failed(conn, scope_q.resolve_scope(conn, filters, now, TENANTS, MSP_ID))


def rollup_total(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return (
            conn.execute(
                select(func.sum(SignInRollup.count)).where(
                    SignInRollup.grain == "d", SignInRollup.dim == "code"
                )
            ).scalar()
            or 0
        )


# --- the list and its filters ----------------------------------------------------------------------


def test_the_list_holds_only_failed_sign_ins_newest_first(filled):
    with filled.connect() as conn:
        scope = scope_q.resolve_scope(conn, every(period="30d"), NOW, TENANTS, MSP_ID)
        rows = lists.failed_signins(conn, scope)
    assert [r.id for r in rows] == ["s1", "s2", "s3", "s4", "s6"]
    first = rows[0]
    assert (first.tenant_id, first.error_code, first.policy_id, first.service_provider) == (
        T2,
        53003,
        P_CA001,
        True,
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(period="30d"), FAILED),
        (Filters(period="24h"), {"s1", "s2"}),
        (Filters(period="7d"), {"s1", "s2", "s3"}),
        (Filters(period="30d", tenants=(T3,)), {"s3"}),
        (Filters(period="30d", user="ALEX@"), {"s1", "s4"}),
        (Filters(period="30d", app="teams"), {"s3"}),
        (Filters(period="30d", ip="198.51.100.7"), {"s1"}),
        (Filters(period="30d", ip="203.0.113.0/24"), {"s2", "s3"}),
        (Filters(period="30d", ip="203.0.113.8/29"), {"s3"}),
        (Filters(period="30d", ip="203.0.0.0/16"), {"s2", "s3"}),
        (Filters(period="30d", country="RU"), {"s6"}),
        (Filters(period="30d", codes=(53003,)), {"s1", "s4"}),
        (Filters(period="30d", codes=(53000, 50053)), {"s3", "s6"}),
        (Filters(period="30d", policy=P_DEVICE), {"s3"}),
        (Filters(period="30d", interactive=False), {"s2"}),
        (Filters(period="30d", service_provider=True), {"s1"}),
        (Filters(period="custom", start=NOW - timedelta(days=11), end=NOW - timedelta(days=9)), {"s4"}),
        (Filters(period="30d", tenants=(T2,), codes=(53003,), user="alex"), {"s1"}),
    ],
    ids=lambda value: value.to_query_params().__repr__() if isinstance(value, Filters) else "",
)
def test_each_filter_narrows_the_sign_ins(filled, filters, expected):
    # Of every failure, and of the blocked ones (the default): the same, less the wrong password.
    assert ids(filled, filters.with_(failures=ALL_FAILURES)) == expected
    assert count(filled, filters.with_(failures=ALL_FAILURES)) == len(expected)
    assert ids(filled, filters.with_(failures=BLOCKED)) == expected - NOT_BLOCKED
    assert count(filled, filters.with_(failures=BLOCKED)) == len(expected - NOT_BLOCKED)


@pytest.mark.parametrize(
    ("filters", "narrow"),
    [
        (Filters(period="30d", user="alex"), True),
        (Filters(period="30d", ip="203.0.113.9"), True),
        (Filters(period="30d"), False),
    ],
)
def test_a_narrow_searchs_newest_sign_ins_are_read_in_one_query_not_slice_by_slice(filled, filters, narrow):
    # In slices, SQLite walks each slice of the window in time order instead of looking the ids up.
    reads: list[str] = []

    def count_reads(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "FROM signins" in statement:
            reads.append(statement)

    with filled.connect() as conn:
        scope = scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID)
        assert scope_q.reads_few(scope) is narrow
        event.listen(filled, "before_cursor_execute", count_reads)
        try:
            lists.failed_signins(conn, scope)
        finally:
            event.remove(filled, "before_cursor_execute", count_reads)
    assert (len(reads) == 1) is narrow


def test_blocked_is_the_default_and_leaves_wrong_passwords_out(filled):
    assert ids(filled, Filters(period="30d")) == FAILED - NOT_BLOCKED
    assert count(filled, Filters(period="30d")) == 4  # from the counters by code
    assert ids(filled, Filters(period="30d", codes=(50126,))) == set()
    assert ids(filled, every(period="30d", codes=(50126,))) == {"s2"}


def test_counts_per_tenant_leave_out_tenants_without_matches(filled):
    with filled.connect() as conn:
        for filters in (Filters(period="30d"), Filters(period="30d", user="@")):  # counters, then rows
            scope = scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID)
            assert agg.counts_by_tenant(conn, scope) == {T2: 2, T3: 1, MSP_ID: 1}
        scope = scope_q.resolve_scope(conn, Filters(period="24h"), NOW, TENANTS, MSP_ID)
        assert agg.counts_by_tenant(conn, scope) == {T2: 1}


def test_the_msp_people_filter_leaves_out_another_partners_service_providers(filled):
    other_partner = "0c4c936b-0527-4964-af24-aa6eef3d292a"
    partner = signin(
        "s7",
        NOW - timedelta(minutes=5),
        53003,
        upn="ravi@partner.example",
        cross="serviceProvider",
        home=other_partner,
        policy=(P_DEVICE, "CA005: Require compliant device", "Block"),
    )
    ingest_signin_page(filled, T3, [partner])
    assert "s7" in ids(filled, Filters(period="30d"))
    assert ids(filled, Filters(period="30d", service_provider=True)) == {"s1"}
    with filled.connect() as conn:
        scope = scope_q.resolve_scope(conn, Filters(period="30d"), NOW, TENANTS, MSP_ID)
        rows = lists.failed_signins(conn, scope)
    assert {r.id: r.service_provider for r in rows}["s7"] is False


def test_a_cidr_that_matches_nothing_matches_nothing(filled):
    assert ids(filled, Filters(period="30d", ip="192.0.2.0/24")) == set()


def test_a_sign_in_exactly_on_the_hour_belongs_to_that_hour(filled):
    # s2 is at 11:00:00: in [11:00, 12:00) whether counted from the rows or from the hourly counters.
    hour = every(period="custom", start=datetime(2026, 11, 22, 11, 0), end=datetime(2026, 11, 22, 12, 0))
    assert ids(filled, hour) == {"s1", "s2"}
    assert count(filled, hour) == 2
    before = every(period="custom", start=datetime(2026, 11, 22, 10, 0), end=datetime(2026, 11, 22, 11, 0))
    assert count(filled, before) == 0


@pytest.mark.parametrize(
    "now", [NOW, NOW + timedelta(minutes=17, seconds=5), NOW + timedelta(days=1, hours=3)]
)
@pytest.mark.parametrize("period", ["1h", "24h", "7d", "30d"])
@pytest.mark.parametrize("failures", [BLOCKED, ALL_FAILURES])
def test_the_counters_agree_with_the_rows(filled, now, period, failures):
    # Tenant and time only: whole days and hours come from the counters (blocked: the blocked codes'
    # counters, summed); a user filter that matches everyone forces the rows. Both must say the same.
    by_counters = count(filled, Filters(period=period, failures=failures), now)
    by_rows = count(filled, Filters(period=period, user="@", failures=failures), now)
    assert by_counters == by_rows


def timeline(engine, filters: Filters, now: datetime = NOW):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return agg.timeline(conn, scope_q.resolve_scope(conn, filters, now, TENANTS, MSP_ID))


def test_the_timeline_adds_up_to_the_count_and_buckets_by_hour(filled):
    grain, points = timeline(filled, every(period="24h"))
    raw_grain, raw_points = timeline(filled, every(period="24h", user="@"))
    assert grain == raw_grain == "h"
    assert (
        sorted(points)
        == sorted(raw_points)
        == [(datetime(2026, 11, 22, 11, 0), 50126, 1), (datetime(2026, 11, 22, 11, 0), 53003, 1)]
    )
    assert timeline(filled, Filters(period="24h")) == ("h", [(datetime(2026, 11, 22, 11, 0), 53003, 1)])


def test_a_one_hour_timeline_has_five_minute_buckets(filled):
    # s2 at 11:00:00 and s1 at 11:30:00: one bar each, at the start of its five minutes.
    assert timeline(filled, every(period="1h")) == (
        "5m",
        [(datetime(2026, 11, 22, 11, 0), 50126, 1), (datetime(2026, 11, 22, 11, 30), 53003, 1)],
    )
    later = NOW + timedelta(minutes=3, seconds=20)  # s1 is now in the bucket 11:30–11:35
    assert timeline(filled, Filters(period="1h"), later) == (
        "5m",
        [(datetime(2026, 11, 22, 11, 30), 53003, 1)],
    )


def test_a_month_has_a_daily_timeline(filled):
    grain, points = timeline(filled, every(period="30d"))
    assert grain == "d" and sum(n for _b, _c, n in points) == 5
    assert all(bucket.hour == 0 for bucket, _c, _n in points)
    assert sum(n for _b, _c, n in timeline(filled, Filters(period="30d"))[1]) == 4


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        ("code", [("53003", 2), ("50053", 1), ("50126", 1), ("53000", 1)]),
        ("policy", [(P_CA001, 1), (P_DEVICE, 1), (P_TECH, 1)]),
        ("user", [("alex@msp.example", 2), ("ann@tailspintoys.com", 2), ("bob@fabrikam.com", 1)]),
        (
            "ip",
            [
                ("203.0.113.5", 1),
                ("203.0.113.9", 1),
                ("198.51.100.7", 1),
                ("45.0.0.1", 1),
                ("66.171.40.17", 1),
            ],
        ),
        ("country", [("US", 3), ("CA", 1), ("RU", 1)]),
        ("app", [("Outlook", 2), ("Azure Portal", 1), ("CIPP", 1), ("Microsoft Teams", 1)]),
    ],
)
def test_top_values_count_each_dimension(filled, dim, expected):
    for filters in (every(period="30d"), every(period="30d", user="@")):  # counters, then rows
        with filled.connect() as conn:
            top = agg.top_values(conn, scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID), dim)
        assert sorted((t.value, t.count) for t in top) == sorted(expected)


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        ("code", [("53003", 2), ("50053", 1), ("53000", 1)]),
        ("app", [("Azure Portal", 1), ("CIPP", 1), ("Microsoft Teams", 1), ("Outlook", 1)]),
        ("country", [("US", 2), ("CA", 1), ("RU", 1)]),
        ("place", [("US|Portland", 2), ("CA|Toronto", 1), ("RU|Moscow", 1)]),
        ("user", [("alex@msp.example", 2), ("ann@tailspintoys.com", 1), ("bob@fabrikam.com", 1)]),
    ],
)
def test_top_values_of_blocked_sign_ins_leave_wrong_passwords_out(filled, dim, expected):
    for filters in (Filters(period="30d"), Filters(period="30d", user="@")):  # counters or index, rows
        with filled.connect() as conn:
            top = agg.top_values(conn, scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID), dim)
        assert sorted((t.value, t.count) for t in top) == sorted(expected)


@pytest.mark.parametrize(
    "now", [NOW, NOW + timedelta(minutes=17, seconds=5), NOW + timedelta(days=1, hours=3)]
)
@pytest.mark.parametrize("period", ["1h", "24h", "7d"])
@pytest.mark.parametrize("dim", ["code", "policy"])
def test_top_values_from_hourly_and_daily_counters_agree_with_the_rows(filled, now, period, dim):
    def top(filters: Filters) -> list[tuple[str, str, int]]:
        with filled.connect() as conn:
            scope = scope_q.resolve_scope(conn, filters, now, TENANTS, MSP_ID)
            return sorted((t.value, t.label, t.count) for t in agg.top_values(conn, scope, dim))

    by_counters = top(Filters(period=period))
    assert by_counters == top(Filters(period=period, user="@"))  # a filter the counters cannot answer
    if period == "24h" and now == NOW:  # the window holds blocked sign-ins: the comparison means something
        assert by_counters


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        ("app", [("Azure Portal", 1), ("CIPP", 1), ("Microsoft Teams", 1), ("Outlook", 1)]),
        ("country", [("US", 2), ("CA", 1), ("RU", 1)]),
        ("place", [("US|Portland", 2), ("CA|Toronto", 1), ("RU|Moscow", 1)]),
    ],
)
def test_a_month_of_blocked_sign_ins_apps_and_places_is_summed_from_daily_counters(filled, dim, expected):
    # Whole days only (the window ends at midnight): with the sign-ins themselves gone, the counters
    # of blocked sign-ins answer alone, wrong passwords (s2) left out.
    with write_transaction(filled) as conn:
        conn.execute(delete(SignIn))
    midnight = datetime(2026, 11, 23)
    with filled.connect() as conn:
        scope = scope_q.resolve_scope(conn, Filters(period="30d"), midnight, TENANTS, MSP_ID)
        top = agg.top_values(conn, scope, dim)
    assert sorted((t.value, t.count) for t in top) == sorted(expected)


def _page_answers(conn, scope: scope_q.Scope) -> tuple:  # type: ignore[no-untyped-def]
    tops = tuple(
        tuple(agg.top_values(conn, scope, dim)) for dim in ("code", "policy", "app", "country", "ip", "user")
    )
    rows = tuple(r.id for r in lists.failed_signins(conn, scope))
    return (
        agg.count_failed(conn, scope),
        agg.timeline(conn, scope),
        tops,
        tuple(agg.places(conn, scope)),
        rows,
    )


@pytest.mark.parametrize(
    "filters",
    [
        Filters(period="30d", user="alex"),
        every(period="30d", ip="203.0.113.0/24"),
        Filters(period="7d", country="CA"),
    ],
)
def test_a_search_is_matched_once_and_answers_as_the_scan_does(filled, filters, monkeypatch):
    with filled.connect() as conn:
        narrowed = scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID)
        monkeypatch.setattr(scope_q, "MAX_SEARCH_IDS", 0)  # too many matches: every query filters
        scanned = scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID)
        assert narrowed.ids and scanned.ids is None
        assert set(narrowed.ids) == {r.id for r in lists.failed_signins(conn, scanned)}
        assert _page_answers(conn, narrowed) == _page_answers(conn, scanned)


def test_a_months_search_is_narrowed_to_fewer_ids_on_postgresql(filled):
    # PostgreSQL looks each id up in every day's partition of the window; SQLite once.
    with filled.connect() as conn:
        month = scope_q.search_id_limit(conn, NOW - timedelta(days=30), NOW)
        day = scope_q.search_id_limit(conn, NOW - timedelta(days=1), NOW)
    if filled.dialect.name == "postgresql":
        assert month * 31 <= scope_q.MAX_PARTITION_PROBES and month < day
    else:
        assert month == day == scope_q.MAX_SEARCH_IDS


def test_what_the_counters_answer_is_not_searched_first(filled):
    with filled.connect() as conn:
        for filters in (Filters(period="30d"), every(period="7d", codes=(50126,)), Filters(tenants=(T2,))):
            assert scope_q.resolve_scope(conn, filters, NOW, TENANTS, MSP_ID).ids is None


def test_top_policies_and_users_carry_their_names(filled):
    with filled.connect() as conn:
        scope = scope_q.resolve_scope(conn, Filters(period="30d"), NOW, TENANTS, MSP_ID)
        policies = {t.value: t.label for t in agg.top_values(conn, scope, "policy")}
        users = {
            t.value: t.label
            for t in agg.top_values(
                conn,
                scope_q.resolve_scope(conn, Filters(period="30d", user="bob"), NOW, TENANTS, MSP_ID),
                "user",
            )
        }
    assert policies[P_DEVICE] == "CA005: Require compliant device"
    assert users == {"bob@fabrikam.com": "Bob"}


def test_places_come_with_coordinates_for_the_map(filled):
    with filled.connect() as conn:
        places = agg.places(conn, scope_q.resolve_scope(conn, Filters(period="30d"), NOW, TENANTS, MSP_ID))
    by_city = {(p.country, p.city): p for p in places}
    assert by_city[("US", "Portland")].count == 2
    assert by_city[("RU", "Moscow")].latitude == pytest.approx(39.7)


def test_filter_choices_are_what_failed_recently(filled):
    with filled.connect() as conn:
        options = agg.filter_options(conn, TENANTS, NOW - timedelta(days=30))
    assert options.codes == [50053, 50126, 53000, 53003]
    assert (P_TECH, "CIPP - Block technicians outside trusted location", MSP_ID) in options.policies
    assert options.countries == ["CA", "RU", "US"]


def test_filter_choices_leave_out_what_failed_only_before_the_window_or_in_other_tenants(filled):
    ingest_signin_page(
        filled, T2, [signin("old", NOW - timedelta(days=40), 50057, app="Old app", country="FR")]
    )
    ingest_signin_page(filled, T3, [signin("elsewhere", NOW - timedelta(days=1), 50076, app="Elsewhere app")])
    with filled.connect() as conn:
        options = agg.filter_options(conn, [MSP_ID, T2], NOW - timedelta(days=30))
    assert options.codes == [50053, 50126, 53003]
    assert options.countries == ["RU", "US"]
    assert options.apps == ["Azure Portal", "CIPP", "Outlook"]


def test_filter_choices_seek_each_value_instead_of_walking_the_windows_counters(filled):
    # SQLite's plans of the code, country and app look-ups: searches of the values index only (a walk of
    # a month's daily counters at 10 M sign-ins read 173,000 of them for 35 values).
    if filled.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    statements: list[tuple[str, tuple]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("WITH"):
            statements.append((statement, parameters))

    event.listen(filled, "before_cursor_execute", record)
    try:
        with filled.connect() as conn:
            agg.filter_options(conn, TENANTS, NOW - timedelta(days=30))
    finally:
        event.remove(filled, "before_cursor_execute", record)
    assert len(statements) == 3
    with filled.connect() as conn:
        for statement, parameters in statements:
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            reads = [step for step in plan if "signin_rollups" in step]
            seeks = [step for step in reads if "USING COVERING INDEX ix_signin_rollups_values" in step]
            assert reads and seeks == reads, plan


def test_the_raw_sign_in_is_read_back_for_the_drill_down(filled):
    with filled.connect() as conn:
        tenant_id, body = lists.signin_raw(conn, "s3")
        assert lists.signin_raw(conn, "nope") is None
    assert tenant_id == T3 and body["appliedConditionalAccessPolicies"][0]["id"] == P_DEVICE


# --- the counters stay right ------------------------------------------------------------------------


def test_collecting_the_same_sign_ins_twice_counts_them_once(filled):
    before = rollup_total(filled)
    for tenant_id, values in PAGES.items():  # the collectors' overlap re-read
        ingest_signin_page(filled, tenant_id, values)
    assert rollup_total(filled) == before == 5
    assert count(filled, every(period="30d")) == 5


def test_a_page_that_repeats_a_sign_in_counts_it_once(engine):
    fill(engine)
    late = signin("s7", NOW - timedelta(minutes=5), 53003)
    ingest_signin_page(engine, T2, [late, late, PAGES[T2][0]])  # one new, one twice, one old
    assert rollup_total(engine) == 6


def test_a_late_sign_in_between_stored_ones_is_counted(filled):
    ingest_signin_page(filled, T2, [signin("s8", NOW - timedelta(days=5), 50126)])
    assert rollup_total(filled) == 6
    assert count(filled, every(period="7d")) == 4


def test_retention_drops_old_blocks_and_counters_with_the_sign_ins(filled):
    cutoff = NOW - timedelta(days=7)
    with write_transaction(filled) as conn:
        purge_older_than(conn, cutoff, cutoff)
    with filled.connect() as conn:
        blocks = set(conn.execute(select(SignInBlock.signin_id)).scalars())
        oldest = conn.execute(select(func.min(SignInRollup.bucket))).scalar()
    assert blocks == {"s1", "s3"}
    assert oldest >= cutoff.replace(hour=0)
    assert count(filled, every(period="30d")) == 3


def _migration(number: str):  # type: ignore[no-untyped-def]
    import importlib.util

    versions = Path(__file__).resolve().parents[1] / "db" / "migrations" / "versions"
    path = next(versions.glob(f"{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index_tables(conn) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    return {
        table.__tablename__: sorted(tuple(r) for r in conn.execute(select(table)))
        for table in (SignInRollup, SignInBlock, SignInPlace)
    }


def test_migration_0004_indexes_the_sign_ins_stored_before_it_as_ingest_does(filled):
    # The migration carries its own copy of the index's rules (frozen: it calls no live code); on the
    # sign-ins stored before it, it must build what ingest builds today.
    with filled.connect() as conn:
        expected = _index_tables(conn)
    with write_transaction(filled) as conn:
        for table in (SignInRollup, SignInBlock, SignInPlace):
            conn.execute(delete(table))
        # Before 0004 (and 0013) each sign-in's JSON was kept as it came, uncompressed.
        for signin_id, raw in conn.execute(select(SignIn.id, SignIn.raw)).all():
            plain = raw_json(conn, raw)
            conn.execute(
                update(SignIn)
                .where(SignIn.id == signin_id)
                .values(raw=plain.decode() if conn.dialect.name == "sqlite" else plain)
            )
        _migration("0004")._backfill(conn, batch=2)
        _migration("0016")._backfill(conn)  # the counters a later revision added
    with filled.connect() as conn:
        assert _index_tables(conn) == expected


def test_counters_are_read_from_an_index_that_holds_every_column_a_read_needs_on_postgresql(filled):
    # SQLite keeps the counters clustered on their key; PostgreSQL would fetch each one's label and count
    # from the table (migration 0017).
    if filled.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's covering index")
    with filled.connect() as conn:
        definition = conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'signin_rollups' "
            "AND indexname = 'ix_signin_rollups_covering'"
        ).scalar()
    assert definition is not None
    assert "(grain, dim, bucket, tenant_id, value) INCLUDE (label, count)" in definition


def test_migration_0016_counts_the_blocked_sign_ins_stored_before_it_as_ingest_does(filled):
    with filled.connect() as conn:
        expected = _index_tables(conn)
    with write_transaction(filled) as conn:
        conn.execute(delete(SignInRollup).where(SignInRollup.dim.in_(list(BLOCKED_DIMS.values()))))
        made = _migration("0016")._backfill(conn)
    with filled.connect() as conn:
        assert _index_tables(conn) == expected
    assert made == sum(1 for row in expected["signin_rollups"] if row[1] in BLOCKED_DIMS.values())


def test_stored_rankings_answer_only_every_tenant_without_filters(filled):
    with write_transaction(filled) as conn:
        agg.store_rankings(conn, agg.compute_rankings(conn, NOW))
    with filled.connect() as conn:

        def ranking(filters: Filters, now: datetime = NOW):  # type: ignore[no-untyped-def]
            scope = scope_q.resolve_scope(conn, filters, now, TENANTS, MSP_ID)
            return agg.stored_ranking(conn, scope, "user", timedelta(minutes=30))

        as_of, top = ranking(Filters(period="30d"))  # the page's default: blocked sign-ins
        assert as_of == NOW and {(t.value, t.count) for t in top} == {
            ("alex@msp.example", 2),
            ("ann@tailspintoys.com", 1),
            ("bob@fabrikam.com", 1),
        }
        assert ranking(every(period="30d")) is None  # ranked over blocked sign-ins only
        assert ranking(Filters(period="24h")) is None
        assert ranking(Filters(period="30d", tenants=(T2,))) is None
        assert ranking(Filters(period="30d", codes=(53003,))) is None
        assert ranking(Filters(period="30d"), NOW + timedelta(hours=1)) is None  # too old by then


# --- the wall ---------------------------------------------------------------------------------------


def test_blocked_counts_compare_the_last_hour_and_day_with_the_ones_before(filled):
    # The last hour holds s1 (blocked) and s2 (a wrong password): the wall counts s1 only.
    with filled.connect() as conn:
        counts = agg.blocked_counts(conn, TENANTS, NOW)
        later = agg.blocked_counts(conn, TENANTS, NOW + timedelta(hours=1))
        failures = agg.blocked_counts(conn, TENANTS, NOW, ALL_FAILURES)
    assert (counts.last_hour, counts.previous_hour, counts.last_day, counts.previous_day) == (1, 0, 1, 0)
    assert (later.last_hour, later.previous_hour) == (0, 1)
    assert (failures.last_hour, failures.last_day) == (2, 2)


def test_the_walls_counts_are_sums_of_the_counters_not_scans_of_the_sign_ins(filled):
    # Whole hours and days are read from signin_rollups: with the sign-ins themselves gone (the
    # counters kept), the counts at a whole hour are unchanged.
    with write_transaction(filled) as conn:
        conn.execute(delete(SignIn))
    with filled.connect() as conn:
        counts = agg.blocked_counts(conn, TENANTS, NOW)
        points = agg.hourly_failed(conn, TENANTS, NOW, 24)
    assert (counts.last_hour, counts.last_day) == (1, 1)
    assert sum(n for _h, n in points) == 1


def test_the_sparkline_has_one_point_per_hour(filled):
    with filled.connect() as conn:
        points = agg.hourly_failed(conn, TENANTS, NOW, 24)
        failures = agg.hourly_failed(conn, TENANTS, NOW, 24, ALL_FAILURES)
    assert len(points) == 24 and points[-1][0] == NOW.replace(minute=0)
    assert points[-2] == (datetime(2026, 11, 22, 11, 0), 1)  # blocked only
    assert sum(n for _h, n in points) == 1
    assert failures[-2] == (datetime(2026, 11, 22, 11, 0), 2)


def test_top_blocking_policies_are_by_tenant_and_policy(filled):
    with filled.connect() as conn:
        assert agg.top_blocking_policies(conn, TENANTS, NOW) == [
            (T2, P_CA001, "CA001: Require MFA for all users", 1)
        ]
        assert agg.top_blocking_policies(conn, [T3], NOW) == []


def test_an_accounts_sign_ins_are_found_by_upn_in_any_case(filled):
    with filled.connect() as conn:
        rows = lists.account_signins(conn, T3, "BOB@fabrikam.com", NOW - timedelta(days=4), NOW)
    assert [(r.id, r.error_code) for r in rows] == [("s5", 0), ("s3", 53000)]


def test_upgrading_a_database_indexes_the_failed_sign_ins_it_already_holds(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, insert

    from db import open_database
    from db.migrate import alembic_config
    from db.models import SignIn
    from db.rows import SIGNIN_COLUMNS, signin_row

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0003")  # before the sign-in index existed
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(
            insert(SignIn),
            [
                dict(zip(SIGNIN_COLUMNS, signin_row(tenant_id, value), strict=True))
                for tenant_id, values in PAGES.items()
                for value in values
            ],
        )
    old.dispose()
    engine = open_database(url)
    assert rollup_total(engine) == 5
    with engine.connect() as conn:
        assert set(conn.execute(select(SignInBlock.signin_id)).scalars()) == {"s1", "s3", "s4"}


def test_source_status_says_how_old_each_tenants_sources_are(filled):
    from db.store import record_run

    with write_transaction(filled) as conn:
        record_run(
            conn,
            cycle_id="c",
            tenant_id=T2,
            source="signIns",
            started_at=NOW - timedelta(minutes=5),
            finished_at=NOW - timedelta(minutes=5),
            rows=1,
            error=None,
        )
        record_run(
            conn,
            cycle_id="c",
            tenant_id=T3,
            source="signIns",
            started_at=NOW,
            finished_at=NOW,
            rows=0,
            error="throttled",
        )
    with filled.connect() as conn:
        rows = {r.tenant_id: r.as_dict() for r in queries.source_status(conn, NOW, {"signIns": 180}, 900)}
    assert rows[T2]["ageSeconds"] == 300 and not rows[T2]["fresh"] and not rows[T2]["failing"]
    assert rows[T3]["ageSeconds"] is None and rows[T3]["failing"]


def test_a_source_whose_latest_attempt_failed_is_never_fresh(filled):
    from db.store import record_run

    with write_transaction(filled) as conn:
        for minutes, error in ((2, None), (1, "ConnectError: connection refused")):
            at = NOW - timedelta(minutes=minutes)
            record_run(
                conn,
                cycle_id="c",
                tenant_id=T2,
                source="signIns",
                started_at=at,
                finished_at=at,
                rows=0,
                error=error,
            )
    with filled.connect() as conn:
        [row] = [r for r in queries.source_status(conn, NOW, {"signIns": 900}, 900) if r.tenant_id == T2]
    assert row.age_seconds == 120 and row.failing and not row.fresh  # young data, but the source is down
