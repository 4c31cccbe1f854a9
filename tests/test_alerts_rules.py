"""Each alert rule against the database it reads: the conditions it finds, and what it leaves alone."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alerts_support import CLIENT, MSP, add_tenants, finding, store
from sqlalchemy import func, insert, select

from alerts.rules import (
    BLOCKED_SIGNIN_SPIKE,
    BREAK_GLASS_SIGNIN,
    COLLECTOR_FAILING,
    FINDING_REGRESSED,
    MSP_PERIMETER_CHANGE,
    RULES_BY_ID,
    SERVICE_ACCOUNT_BLOCKED,
    RuleContext,
    threshold_error,
)
from alerts.state import evaluate_alerts, open_alerts, save_rule_settings
from db import write_transaction
from db.models import AlertOutbox, AlertState, CollectionRun, CollectionState, SignIn, SignInRollup
from db.posture_store import current_findings
from db.store import replace_objects
from settings import load_settings

NOW = datetime(2026, 11, 22, 12, 0, 0)
BG = "bg-admin@northwindmsp.onmicrosoft.com"


@pytest.fixture(autouse=True)
def tenants(engine) -> None:  # type: ignore[no-untyped-def]
    add_tenants(engine, NOW - timedelta(days=30))


@pytest.fixture
def settings(url):  # type: ignore[no-untyped-def]
    return load_settings(database_url=url, break_glass_upns=[BG])


def conditions(engine, settings, rule_id: str, since: datetime = NOW - timedelta(hours=1), threshold=None):  # type: ignore[no-untyped-def]
    rule = RULES_BY_ID[rule_id]
    with engine.connect() as conn:
        found = current_findings(conn, NOW).findings
        ctx = RuleContext(
            settings,
            NOW,
            since,
            {MSP: "Northwind MSP", CLIENT: "Contoso"},
            found,
            NOW,
            rule.default_threshold(settings) if threshold is None else threshold,
        )
        return rule.read(conn, ctx)


def signin(engine, signin_id: str, upn: str, at: datetime, tenant: str = CLIENT) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        conn.execute(
            insert(SignIn).values(
                id=signin_id,
                tenant_id=tenant,
                created_at=at,
                user_principal_name=upn,
                ip_address="203.0.113.9",
                raw=b"{}",
            )
        )


def test_break_glass_signin_since_the_last_evaluation_alerts(engine, settings):
    signin(engine, "s-1", BG.upper(), NOW - timedelta(minutes=10))
    signin(engine, "s-2", "someone@contoso.example", NOW - timedelta(minutes=10))
    signin(engine, "s-0", BG, NOW - timedelta(hours=3))  # before the previous evaluation
    found = conditions(engine, settings, BREAK_GLASS_SIGNIN)
    assert [(c.key, c.tenant_id) for c in found] == [("s-1", CLIENT)]
    assert "Contoso" in found[0].what and "203.0.113.9" in found[0].what
    assert found[0].link == f"http://127.0.0.1:8501/signins?tenant={CLIENT}"


def test_break_glass_signin_fires_once_and_never_resolves(engine, settings):
    signin(engine, "s-1", BG, NOW - timedelta(minutes=10))
    evaluate_alerts(engine, settings, NOW - timedelta(minutes=5))
    result = evaluate_alerts(engine, settings, NOW)
    assert result == {"opened": 0, "resolved": 0}


def rollup(engine, tenant: str, hour: datetime, count: int) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        conn.execute(
            insert(SignInRollup).values(
                grain="h", dim="code", bucket=hour, tenant_id=tenant, value="53003", label="", count=count
            )
        )


def test_a_spike_against_the_tenants_own_baseline_alerts(engine, settings):
    last_hour = NOW - timedelta(hours=1)
    for h in range(2, 7 * 24):
        rollup(engine, CLIENT, NOW - timedelta(hours=h), 10)
        rollup(engine, MSP, NOW - timedelta(hours=h), 100)
    rollup(engine, CLIENT, last_hour, 60)  # 6× its median of 10, over the floor of 50
    rollup(engine, MSP, last_hour, 120)  # over the floor but not 3× its own median of 100
    found = conditions(engine, settings, BLOCKED_SIGNIN_SPIKE)
    assert [c.tenant_id for c in found] == [CLIENT]
    assert "60 blocked sign-ins in Contoso" in found[0].what


def test_a_quiet_tenant_under_the_floor_does_not_spike(engine, settings):
    rollup(engine, CLIENT, NOW - timedelta(hours=1), 40)  # median 0, but under the floor
    assert conditions(engine, settings, BLOCKED_SIGNIN_SPIKE) == []


def source(engine, source_name: str, last_success: datetime, errors: list[datetime]) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine) as conn:
        conn.execute(
            insert(CollectionState).values(
                tenant_id=CLIENT,
                source=source_name,
                last_success_at=last_success,
                last_error_at=errors[-1] if errors else None,
                last_error="HTTP 503 at graph" if errors else None,
                last_attempt_at=NOW,
                last_rows=1,
            )
        )
        for at in errors:
            conn.execute(
                insert(CollectionRun).values(
                    cycle_id="c",
                    tenant_id=CLIENT,
                    source=source_name,
                    started_at=at,
                    finished_at=at,
                    status="error",
                    rows=0,
                    error="HTTP 503",
                )
            )


def test_a_source_failing_for_more_than_n_cycles_alerts_and_a_short_outage_does_not(engine, settings):
    cycle = timedelta(seconds=settings.collect_interval_seconds)
    source(engine, "conditionalAccessPolicies", NOW - 6 * cycle, [NOW - 5 * cycle, NOW - cycle])
    source(engine, "namedLocations", NOW - 2 * cycle, [NOW - cycle])
    found = conditions(engine, settings, COLLECTOR_FAILING)
    assert [c.key for c in found] == [f"{CLIENT}|conditionalAccessPolicies"]
    assert found[0].since == NOW - 5 * cycle and "failing for more than 3 cycles" in found[0].what


def test_a_source_stale_without_errors_alerts_too(engine, settings):
    cycle = timedelta(seconds=settings.collect_interval_seconds)
    source(engine, "namedLocations", NOW - 10 * cycle, [])
    found = conditions(engine, settings, COLLECTOR_FAILING)
    assert [c.key for c in found] == [f"{CLIENT}|namedLocations"] and "stale" in found[0].what


def test_an_api_client_open_to_any_ip_alerts(engine, settings):
    store(engine, NOW, finding("C-1", MSP, "fail", "high", IPRange=["Any"]))
    found = conditions(engine, settings, "api-client-any-ip")
    assert [c.key for c in found] == ["client-1"] and "any IP" in found[0].what


def test_an_api_client_with_an_empty_range_is_not_open_to_any_ip(engine, settings):
    store(engine, NOW, finding("C-1", MSP, "fail", "high", IPRange=[]))
    assert conditions(engine, settings, "api-client-any-ip") == []


def test_a_regression_at_or_above_the_threshold_alerts(engine, settings):
    store(
        engine,
        NOW - timedelta(minutes=30),
        finding("D-1", CLIENT, "pass", "high"),
        finding("MFA-1", CLIENT, "pass", "medium"),
    )
    store(
        engine,
        NOW - timedelta(minutes=5),
        finding("D-1", CLIENT, "fail", "high"),
        finding("MFA-1", CLIENT, "fail", "medium"),
    )
    found = conditions(engine, settings, FINDING_REGRESSED)
    assert len(found) == 1 and found[0].what.startswith("D-1 (high) went pass → fail in Contoso")
    assert len(conditions(engine, settings, FINDING_REGRESSED, threshold="medium")) == 2


def ca_policy(state: str) -> dict:
    return {"id": "p-1", "displayName": "Block legacy auth", "state": state, "conditions": {}}


def test_a_change_to_the_msp_tenants_policies_alerts_and_a_clients_does_not(engine, settings):
    with write_transaction(engine) as conn:
        for tenant in (MSP, CLIENT):
            replace_objects(
                conn, tenant, "conditionalAccessPolicies", [ca_policy("enabled")], NOW - timedelta(days=1)
            )
            replace_objects(
                conn,
                tenant,
                "conditionalAccessPolicies",
                [ca_policy("disabled")],
                NOW - timedelta(minutes=10),
            )
    found = conditions(engine, settings, MSP_PERIMETER_CHANGE)
    assert [c.tenant_id for c in found] == [MSP]
    assert "Block legacy auth" in found[0].what and "Northwind MSP" in found[0].what


def test_thresholds_are_checked_per_rule():
    assert threshold_error(RULES_BY_ID[FINDING_REGRESSED], "medium") is None
    assert threshold_error(RULES_BY_ID[FINDING_REGRESSED], "urgent")
    assert threshold_error(RULES_BY_ID[COLLECTOR_FAILING], "0")
    assert threshold_error(RULES_BY_ID[BLOCKED_SIGNIN_SPIKE], "25") is None


def test_a_resolved_alert_that_holds_again_opens_again(engine, settings, url):
    settings = load_settings(database_url=url, alert_channels={"x": "json://127.0.0.1:9/"})
    store(engine, NOW, finding("D-2", CLIENT, "fail"))
    evaluate_alerts(engine, settings, NOW)
    store(engine, NOW + timedelta(minutes=5), finding("D-2", CLIENT, "pass"))
    evaluate_alerts(engine, settings, NOW + timedelta(minutes=5))
    store(engine, NOW + timedelta(minutes=10), finding("D-2", CLIENT, "fail"))
    assert evaluate_alerts(engine, settings, NOW + timedelta(minutes=10)) == {"opened": 1, "resolved": 0}
    with engine.connect() as conn:
        assert (
            conn.execute(AlertState.__table__.select().where(AlertState.rule_id == "service-account-blocked"))
            .one()
            .status
            == "open"
        )


def test_a_rule_switched_off_closes_its_open_alerts_without_a_message(engine, url):
    settings = load_settings(database_url=url, alert_channels={"x": "json://127.0.0.1:9/"})
    store(engine, NOW, finding("D-2", CLIENT, "fail"))
    evaluate_alerts(engine, settings, NOW)
    with write_transaction(engine) as conn:
        save_rule_settings(conn, SERVICE_ACCOUNT_BLOCKED, False, "", [], "op", NOW)
    assert evaluate_alerts(engine, settings, NOW + timedelta(minutes=5)) == {"opened": 0, "resolved": 0}
    with engine.connect() as conn:
        assert open_alerts(conn) == []
        assert conn.execute(select(func.count()).select_from(AlertOutbox)).scalar() == 1  # the firing only
