"""D-3: Graph's what-if of CIPP's identity finds no client policy that would block it (SPEC catalogue v2;
issue 15 item 4). Pure cases on snapshots, then the demo end to end: a tenant whose office-only policy
lacks the exclusion fails, and passes once the D-1 fix is applied and the tenant collected again."""

from __future__ import annotations

from datetime import UTC

import pytest

from collectors.evaluate import evaluate_and_store
from collectors.run import collect_once
from db.posture_store import current_findings
from db.queries import graph_objects
from fixes import Actor, FixEngine, fix_for_finding
from posture import evaluate
from posture.catalogue import CHECKS_BY_ID
from settings import load_settings
from simulator import SimConfig, Simulator, demo
from support import FIXED_NOW, collect_demo

MSP = "4f4e31f0-e773-47c1-a231-9b911d163077"
CLIENT = "11111111-2222-3333-4444-555555555555"
IDENTITY = {
    "type": "serviceProvider",
    "userId": "07887585-74c4-4298-8be6-31a04d09078a",
    "userPrincipalName": "cipp@northwindmsp.onmicrosoft.com",
    "externalTenantId": MSP,
}
OPERATOR = Actor("alice@northwindmsp.onmicrosoft.com", ["Operator"])


def _policy(name: str, state: str = "enabled", controls=("block",), operator="OR", applies=True, **extra):  # type: ignore[no-untyped-def]
    return {
        "id": f"id-{name}",
        "displayName": name,
        "state": state,
        "grantControls": {"operator": operator, "builtInControls": list(controls)},
        "conditions": {},
        "policyApplies": applies,
        "analysisReasons": "notSet" if applies else extra.pop("reason", "users"),
        **extra,
    }


def _snapshot(what_if: dict | None) -> dict:
    client: dict = {"tenantId": CLIENT, "displayName": "Client", "role": "client", "accessMode": "gdap"}
    if what_if is not None:
        client["cippWhatIf"] = what_if
    return {
        "version": 1,
        "collectedAt": "2026-11-22T12:00:00Z",
        "msp": {"tenantId": MSP},
        "tenants": [{"tenantId": MSP, "role": "msp"}, client],
    }


def _prediction(*results: dict, error: dict | None = None) -> dict:
    evaluations = (
        []
        if error
        else [{"appId": "app-1", "ipAddress": "20.119.8.45", "country": "US", "results": list(results)}]
    )
    return {
        "evaluatedAt": "2026-11-22T12:00:00Z",
        "identity": IDENTITY,
        "evaluations": evaluations,
        "error": error,
    }


def _d3(snapshot: dict) -> list[dict]:
    return [f.as_dict() for f in evaluate(snapshot) if f.check == "D-3"]


def test_d3_is_a_critical_client_check_with_the_d1_fix():
    check = CHECKS_BY_ID["D-3"]
    assert (check.severity, check.scope, check.fix) == (
        "critical",
        "per client tenant",
        "client-policy.exclude-service-provider",
    )


def test_an_enforced_blocking_policy_fails_naming_it_and_offering_the_d1_fix():
    (finding,) = _d3(
        _snapshot(_prediction(_policy("Block outside office"), _policy("MFA", controls=("mfa",))))
    )
    assert finding["status"] == "fail" and finding["fix"] == "client-policy.exclude-service-provider"
    assert finding["subject"] == {
        "type": "policy",
        "id": "id-Block outside office",
        "name": "Block outside office",
    }
    assert "CIPP would be blocked: 'Block outside office'" in finding["message"]
    assert "cipp@northwindmsp.onmicrosoft.com" in finding["message"] and "20.119.8.45" in finding["message"]
    assert [p["name"] for p in finding["evidence"]["blockingPolicies"]] == ["Block outside office"]


def test_a_device_control_cipp_cannot_meet_blocks_it():
    device = _policy("Compliant device", controls=("compliantDevice", "domainJoinedDevice"))
    (finding,) = _d3(_snapshot(_prediction(device)))
    assert finding["status"] == "fail"
    assert finding["evidence"]["blockingPolicies"][0]["unmetControls"] == [
        "compliantdevice",
        "domainjoineddevice",
    ]


def test_mfa_or_a_device_lets_cipp_in():
    either = _policy("MFA or device", controls=("mfa", "compliantDevice"), operator="OR")
    (finding,) = _d3(_snapshot(_prediction(either)))
    assert finding["status"] == "pass" and finding["subject"]["type"] == "tenant"


def test_mfa_and_a_device_blocks_cipp():
    both = _policy("MFA and device", controls=("mfa", "compliantDevice"), operator="AND")
    assert _d3(_snapshot(_prediction(both)))[0]["status"] == "fail"


def test_a_blocking_policy_that_does_not_apply_passes():
    (finding,) = _d3(_snapshot(_prediction(_policy("Block", applies=False, reason="users"))))
    assert finding["status"] == "pass" and "1 policies evaluated" in finding["message"]


def test_a_report_only_blocking_policy_warns_until_it_is_switched_on():
    (finding,) = _d3(
        _snapshot(_prediction(_policy("Pilot block", state="enabledForReportingButNotEnforced")))
    )
    assert finding["status"] == "warn" and "once 'Pilot block'" in finding["message"]
    assert finding["fix"] == "client-policy.exclude-service-provider"


def test_a_policy_not_judged_for_lack_of_detail_warns():
    unclear = _policy("Countries", applies=False, reason="notEnoughInformation")
    (finding,) = _d3(_snapshot(_prediction(unclear)))
    assert finding["status"] == "warn" and "could not judge 'Countries'" in finding["message"]


def test_no_prediction_is_na():
    (finding,) = _d3(_snapshot(None))
    assert finding["status"] == "n/a" and "no what-if result" in finding["message"]


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("not-licensed", "not licensed"),
        ("no-permission", "Policy.Read.ConditionalAccess"),
        ("no-identity", "CIPP's identity is unknown"),
    ],
)
def test_an_evaluation_that_could_not_run_is_na_with_the_reason(reason, words):
    error = {"reason": reason, "message": "HTTP 403: some code: some text"}
    (finding,) = _d3(_snapshot(_prediction(error=error)))
    assert finding["status"] == "n/a" and words in finding["message"] and "HTTP 403" in finding["message"]
    assert finding["evidence"]["error"] == error


def test_the_evidence_says_what_it_read():
    (finding,) = _d3(_snapshot(_prediction(_policy("Block"))))
    evidence = finding["evidence"]
    assert evidence["evaluatedAt"] == "2026-11-22T12:00:00Z" and evidence["identity"] == IDENTITY
    assert evidence["signIns"] == [
        {"appId": "app-1", "ipAddress": "20.119.8.45", "country": "US", "clientAppType": None}
    ]


# --- the demo, end to end -------------------------------------------------------------------------------

RELECLOUD = next(c.tenant_id for c in demo.client_tenants() if c.display_name == "Relecloud")


@pytest.fixture(scope="module")
def own_simulator():  # type: ignore[no-untyped-def]
    """A simulator this module writes to (the fix), as the demo database's was."""
    with Simulator(SimConfig(seed=7, now=FIXED_NOW.replace(tzinfo=UTC))) as simulator:
        yield simulator


def test_d3_fails_for_a_demo_tenant_lacking_the_exclusion_and_passes_after_the_d1_fix(
    demo_database, tmp_path_factory, own_simulator
):
    url, engine = collect_demo(demo_database, tmp_path_factory, "lockout")
    settings = load_settings(database_url=url, simulator_url=own_simulator.url)
    with engine.connect() as conn:
        before = [
            f.as_dict()
            for f in current_findings(conn, FIXED_NOW).findings
            if f.check == "D-3" and f.tenant_id == RELECLOUD
        ]
    (failing,) = before
    assert (
        failing["status"] == "fail"
        and failing["subject"]["name"] == "CA010: Block access from outside the office"
    )

    fixes = FixEngine(settings, engine)
    request = fix_for_finding(failing)
    assert request is not None and request.target_id == failing["subject"]["id"]
    outcome = fixes.apply(fixes.plan(request), OPERATOR, acknowledge_warnings=True)
    assert outcome.ok, outcome

    report = collect_once(settings, engine, only_tenants={RELECLOUD}, clock=lambda: FIXED_NOW)
    assert not report.errors, report.errors
    evaluate_and_store(settings, engine, FIXED_NOW)
    with engine.connect() as conn:
        after = [
            f.as_dict()
            for f in current_findings(conn, FIXED_NOW).findings
            if f.check == "D-3" and f.tenant_id == RELECLOUD
        ]
        stored = graph_objects(conn, RELECLOUD, "cippWhatIf")
    assert [f["status"] for f in after] == ["pass"]
    assert stored[0]["identity"]["type"] == "serviceProvider" and stored[0]["error"] is None
    office = next(r for r in stored[0]["evaluations"][0]["results"] if r["displayName"].startswith("CA010"))
    assert office["policyApplies"] is False and office["analysisReasons"] == "users"
