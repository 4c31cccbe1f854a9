"""The fix engine end to end against the in-process simulator: plan, guards, apply, verify, audit,
rollback. Every test gets a fresh simulator (its state is what the fixes change)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import httpx
import pytest

from connectors.pacing import LIMITS, Pacer
from db import open_database, write_transaction
from db.posture_store import store_evaluation
from fixes import Actor, BadInput, FixEngine, FixRequest, RangeError, fix_for_finding
from fixes.audit import MISSING, Change, changes, shown_value
from fixes.exposure import opened_access, recreated_findings
from simulator import SimConfig, Simulator, demo
from support import FIXED_NOW

OPERATOR = Actor("alice@northwindmsp.onmicrosoft.com", ["Operator"])
VIEWER = Actor("victor@northwindmsp.onmicrosoft.com", ["Viewer"])
MSP = demo.MSP_TENANT_ID
POLICIES = "identity/conditionalAccess/policies"
LOCATIONS = "identity/conditionalAccess/namedLocations"
OFFICE_IP = demo.MSP_OFFICE_IPS[0]
TIMESTAMPS = ("createdDateTime", "modifiedDateTime", "@odata.context")
D1 = "client-policy.exclude-service-provider"
SWITCH_ON = ("technician-policy.enable", "service-account-policy.enable")
# A switch-on without sign-ins collected (these tests' database) has thin evidence: a warning to accept
# (tests/test_switch_on_gate.py tests the gate itself).
THIN = {"acknowledge_warnings": True}
IP_LOCATION = "#microsoft.graph.ipNamedLocation"


# --- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def fsim():
    """A fresh, unthrottled simulator per test (fixes change its state)."""
    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def _engine(fsim, db_url: str, **overrides: Any) -> FixEngine:
    from settings import load_settings

    settings = load_settings(database_url=db_url, simulator_url=fsim.url, **overrides)
    # Unthrottled simulator: pace generously so the suite stays fast (production keeps Graph's limits).
    pacer = Pacer({family: ((10_000, 1.0), (10_000, 1.0)) for family in LIMITS})
    return FixEngine(settings, open_database(db_url), pacer=pacer)


@pytest.fixture
def fx(fsim, db_url) -> FixEngine:
    return _engine(fsim, db_url)


class Sim:
    """Reads and writes the simulator over HTTP, as another Graph/CIPP client would."""

    def __init__(self, sim: Simulator):
        self.url = sim.url

    def _graph(self, method: str, tenant: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {Simulator.token(tenant)}"}
        return httpx.request(method, f"{self.url}/v1.0/{path}", json=body, headers=headers)

    def get(self, tenant: str, path: str) -> Any:
        response = self._graph("GET", tenant, path)
        return None if response.status_code == 404 else response.json()

    def patch(self, tenant: str, path: str, body: dict) -> None:
        assert self._graph("PATCH", tenant, path, body).status_code == 204

    def post(self, tenant: str, path: str, body: dict) -> dict:
        response = self._graph("POST", tenant, path, body)
        assert response.status_code == 201, response.text
        return response.json()

    def policies(self, tenant: str) -> list[dict]:
        return self.get(tenant, POLICIES)["value"]

    def policy_id(self, tenant: str, prefix: str) -> str:
        return next(p["id"] for p in self.policies(tenant) if p["displayName"].startswith(prefix))

    def location_id(self, name: str) -> str:
        return next(n["id"] for n in self.get(MSP, LOCATIONS)["value"] if n["displayName"] == name)

    def _cipp(self, action: str, body: Any = None) -> Any:
        response = httpx.post(
            f"{self.url}/cipp/api/ExecApiClient",
            params={"Action": action},
            json=body,
            headers={"Authorization": f"Bearer {Simulator.cipp_token()}"},
        )
        return response.json() if response.content else None

    def clients(self) -> list[dict]:
        return [c for c in self._cipp("List")["Results"] if isinstance(c, dict)]

    def client(self, name: str) -> dict:
        return next(c for c in self.clients() if c["AppName"] == name)

    def azure_ids(self) -> list[str]:
        return self._cipp("GetAzureConfiguration")["Results"]["ClientIDs"]


@pytest.fixture
def sim(fsim) -> Sim:
    return Sim(fsim)


def stripped(obj: Any) -> Any:
    """The object without timestamps (a write moves modifiedDateTime)."""
    if isinstance(obj, dict):
        return {k: stripped(v) for k, v in obj.items() if k not in TIMESTAMPS}
    if isinstance(obj, list):
        return [stripped(v) for v in obj]
    return obj


def tenant(profile: str) -> str:
    return next(c.tenant_id for c in demo.client_tenants() if c.profile == profile)


def roundtrip(
    fx: FixEngine, request: FixRequest, read, acknowledge: bool = False, egress_ip: str = ""
) -> tuple[Any, Any]:
    """Plan, apply, check the simulator changed and the audit record, roll back (stating ``egress_ip``),
    check it is exactly as before. Returns (state before, state after the fix)."""
    before = read()
    plan = fx.plan(request)
    assert plan.ready, (plan.refusal, plan.summary)
    assert plan.diff().startswith("--- before")
    outcome = fx.apply(plan, OPERATOR, acknowledge_warnings=acknowledge)
    assert outcome.outcome == "applied", outcome.message
    changed = read()
    assert stripped(changed) != stripped(before)
    record = fx.audit_entry(outcome.audit_id)
    assert (record.actor, record.outcome, record.fix_id, record.tenant_id) == (
        OPERATOR.name,
        "applied",
        request.fix_id,
        request.tenant_id,
    )
    assert stripped(record.after) == stripped(changed)
    assert record.requests and all(r["status"] in (200, 201, 204) for r in record.requests)
    undone = fx.rollback(outcome.audit_id, OPERATOR, egress_ip=egress_ip)
    assert undone.outcome == "rolled-back", undone.message
    assert fx.audit_entry(undone.audit_id).rollback_of == outcome.audit_id
    assert stripped(read()) == stripped(before)
    return before, changed


# --- D-1: client policies ------------------------------------------------------------------------------


def test_d1_gdap_appends_service_provider_to_a_multi_valued_exclusion_and_rolls_back(fx, sim):
    tid = tenant("device_wrong_excl")
    pid = sim.policy_id(tid, "CA005")
    assert fx.plan(FixRequest(D1, tid, pid)).warnings  # every tenant's service providers: acknowledged
    before, after = roundtrip(
        fx, FixRequest(D1, tid, pid), lambda: sim.get(tid, f"{POLICIES}/{pid}"), acknowledge=True
    )
    excluded = after["conditions"]["users"]["excludeGuestsOrExternalUsers"]
    assert (
        excluded["guestOrExternalUserTypes"] == "b2bCollaborationGuest,b2bCollaborationMember,serviceProvider"
    )
    assert excluded["externalTenants"]["membershipKind"] == "all"  # kept: narrowing would lose exclusions
    # Nothing else in conditions.users was lost on the way.
    assert {k: v for k, v in after["conditions"]["users"].items() if k != "excludeGuestsOrExternalUsers"} == {
        k: v for k, v in before["conditions"]["users"].items() if k != "excludeGuestsOrExternalUsers"
    }


def test_d1_keeps_internal_guest_service_provider_string_through_apply_and_rollback(fx, sim):
    tid = tenant("wrong_tenant_excl")
    pid = sim.policy_id(tid, "CA003")
    excluded = demo.guests_condition("internalGuest,serviceProvider", [demo.OTHER_PARTNER_TENANT_ID])
    sim.patch(tid, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeGuestsOrExternalUsers": excluded}}})
    before, after = roundtrip(fx, FixRequest(D1, tid, pid), lambda: sim.get(tid, f"{POLICIES}/{pid}"))
    excluded = after["conditions"]["users"]["excludeGuestsOrExternalUsers"]
    assert excluded["guestOrExternalUserTypes"] == "internalGuest,serviceProvider"
    assert excluded["externalTenants"]["members"] == [demo.OTHER_PARTNER_TENANT_ID, MSP]
    assert (
        before["conditions"]["users"]["excludeGuestsOrExternalUsers"]["guestOrExternalUserTypes"]
        == "internalGuest,serviceProvider"
    )


def test_d1_plan_warns_naming_each_type_and_tenant_pair_excluded_besides_the_msp(fx, sim):
    tid = tenant("wrong_tenant_excl")
    pid = sim.policy_id(tid, "CA003")
    partner = demo.OTHER_PARTNER_TENANT_ID
    excluded = demo.guests_condition("b2bCollaborationGuest", [partner])
    sim.patch(tid, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeGuestsOrExternalUsers": excluded}}})
    plan = fx.plan(FixRequest(D1, tid, pid))
    assert plan.ready and len(plan.warnings) == 1
    warning = plan.warnings[0]
    assert f"b2bCollaborationGuest users of tenant {MSP.lower()} (the MSP)" in warning
    assert f"serviceProvider users of tenant {partner.lower()}" in warning
    assert f"serviceProvider users of tenant {MSP.lower()}" not in warning
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "refused" and "acknowledg" in outcome.message.lower()
    again = fx.apply(fx.plan(FixRequest(D1, tid, pid)), OPERATOR, acknowledge_warnings=True)
    assert again.outcome == "applied", again.message


def test_d1_adds_an_exclusion_without_touching_the_six_flag_inclusion(fx, sim):
    tid = tenant("guests_mfa_no_excl")
    pid = sim.policy_id(tid, "CA006")
    included = sim.get(tid, f"{POLICIES}/{pid}")["conditions"]["users"]["includeGuestsOrExternalUsers"]
    _, after = roundtrip(fx, FixRequest(D1, tid, pid), lambda: sim.get(tid, f"{POLICIES}/{pid}"))
    users = after["conditions"]["users"]
    assert users["includeGuestsOrExternalUsers"] == included
    assert users["excludeGuestsOrExternalUsers"] == {
        "guestOrExternalUserTypes": "serviceProvider",
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
            "membershipKind": "enumerated",
            "members": [MSP],
        },
    }


def test_d1_direct_tenant_excludes_the_tenants_own_service_account(fx, sim):
    tid = tenant("direct_missing_sa")
    pid = sim.policy_id(tid, "CA010")
    account = sim.get(tid, "users/cipp-svc@wingtiptoys.com")
    plan = fx.plan(FixRequest(D1, tid, pid))
    body = plan.requests[0].body
    assert list(body) == ["conditions"] and list(body["conditions"]) == ["users"]  # only what changes
    _, after = roundtrip(fx, FixRequest(D1, tid, pid), lambda: sim.get(tid, f"{POLICIES}/{pid}"))
    assert after["conditions"]["users"]["excludeUsers"][-1] == account["id"]


def test_nothing_to_change_writes_nothing_and_records_nothing(fx, sim):
    tid = tenant("baseline_good")
    pid = sim.policy_id(tid, "CA001")
    plan = fx.plan(FixRequest(D1, tid, pid))
    assert plan.unchanged and not plan.requests and plan.summary.startswith("nothing to change")
    outcome = fx.apply(plan, OPERATOR)
    assert (outcome.outcome, outcome.audit_id) == ("unchanged", None)
    assert fx.audit_log() == []


# --- the technician block policy ----------------------------------------------------------


def _break_technician_policies(sim: Sim) -> None:
    """Make the demo's three block policies miss A-1 (no location condition), so A-1 fails."""
    for prefix in ("CIPP - Block technicians", "CIPP - Block outside office", "OLD - Block CIPP"):
        sim.patch(MSP, f"{POLICIES}/{sim.policy_id(MSP, prefix)}", {"conditions": {"locations": None}})


def test_a1_creates_the_block_policy_report_only_then_a3_switches_it_on_guarded(fx, sim):
    _break_technician_policies(sim)
    policies_before = sim.policies(MSP)
    plan = fx.plan(FixRequest("technician-policy.create", MSP))
    assert plan.ready and plan.requests[0].method == "POST" and plan.before is None
    created = fx.apply(plan, OPERATOR)
    assert created.outcome == "applied", created.message
    pid = created.plan.target.id
    policy = sim.get(MSP, f"{POLICIES}/{pid}")
    bg = sim.get(MSP, f"users/{demo.BREAK_GLASS_UPNS[0]}")
    assert policy["state"] == "enabledForReportingButNotEnforced"
    assert bg["id"] in policy["conditions"]["users"]["excludeUsers"]
    assert policy["conditions"]["applications"]["includeApplications"] == [demo.CIPP_APP_ID]
    office = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    assert policy["conditions"]["locations"]["excludeLocations"] == [office]
    assert fx.audit_entry(created.audit_id).target_id == pid

    enable = FixRequest("technician-policy.enable", MSP, pid, egress_ip="198.51.100.7")
    refused = fx.plan(enable)
    assert "198.51.100.7 is not inside 'Trusted - MSP Office'" in refused.refusal
    outcome = fx.apply(refused, OPERATOR)
    assert outcome.outcome == "refused" and fx.audit_entry(outcome.audit_id).outcome == "refused"
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"

    # Just created, with no sign-in it applied to: the evidence is thin, so it needs acknowledging.
    on_plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert any(w.startswith("thin evidence") for w in on_plan.warnings)
    on = fx.apply(on_plan, OPERATOR, acknowledge_warnings=True)
    assert on.outcome == "applied" and sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"
    assert fx.rollback(on.audit_id, OPERATOR).outcome == "rolled-back"
    assert stripped(sim.get(MSP, f"{POLICIES}/{pid}")) == stripped(policy)
    assert fx.rollback(created.audit_id, OPERATOR).outcome == "rolled-back"
    assert sim.get(MSP, f"{POLICIES}/{pid}") is None
    assert stripped(sim.policies(MSP)) == stripped(policies_before)


def test_a1_create_targets_the_app_technicians_sign_in_to_not_the_cipp_api_client(fsim, db_url, sim):
    _break_technician_policies(sim)
    signin_app = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"  # CIPP's Static Web App registration
    engine = _engine(fsim, db_url, cipp_signin_app_ids=signin_app)
    body = engine.plan(FixRequest("technician-policy.create", MSP)).requests[0].body
    assert body["conditions"]["applications"]["includeApplications"] == [signin_app]
    assert demo.CIPP_APP_ID != signin_app


def test_a1_is_unchanged_while_a_block_policy_exists(fx):
    assert fx.plan(FixRequest("technician-policy.create", MSP)).unchanged


def test_a3_refuses_when_a_break_glass_account_is_not_excluded(fx, sim):
    pid = sim.policy_id(MSP, "OLD - Block CIPP")
    before = sim.get(MSP, f"{POLICIES}/{pid}")
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.refusal == (
        "'OLD - Block CIPP off-network' does not exclude the break-glass account "
        f"{demo.BREAK_GLASS_UPNS[0]}: exclude it first"
    )
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "refused" and outcome.message == plan.refusal
    assert sim.get(MSP, f"{POLICIES}/{pid}") == before


def _spare_service_account(sim: Sim, pid: str) -> None:
    """Exclude the CIPP service account from the policy directly (A-4 passes)."""
    users = sim.get(MSP, f"{POLICIES}/{pid}")["conditions"]["users"]
    sa = sim.get(MSP, f"users/{demo.SERVICE_ACCOUNT_UPN}")["id"]
    sim.patch(
        MSP, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeUsers": [*users["excludeUsers"], sa]}}}
    )


def test_a3_follows_nested_excluded_groups_for_break_glass_accounts(fsim, sim, db_url):
    fx = _engine(fsim, db_url, break_glass_upns=f"{demo.BREAK_GLASS_UPNS[0]},{demo.EMERGENCY_ACCESS_UPN}")
    pid = sim.policy_id(MSP, "CIPP - Block technicians")
    sim.patch(MSP, f"{POLICIES}/{pid}", {"state": "enabledForReportingButNotEnforced"})
    _spare_service_account(sim, pid)
    request = FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP)
    assert fx.plan(request).ready  # emergency-access is excluded through 'CA Exclusions' > 'Emergency ...'
    sim.patch(MSP, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeGroups": []}}})
    refusal = fx.plan(request).refusal
    assert refusal.endswith(f"the break-glass account {demo.EMERGENCY_ACCESS_UPN}: exclude it first")


def test_a3_refuses_a_block_policy_that_reaches_the_cipp_service_account(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block technicians")  # excludes break-glass, not the service account
    sim.patch(MSP, f"{POLICIES}/{pid}", {"state": "enabledForReportingButNotEnforced"})
    assert _statuses(sim, [])[("A-4", pid)] == "fail"
    request = FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP)
    plan = fx.plan(request)
    assert plan.refusal.startswith(
        "'CIPP - Block technicians outside trusted location' reaches the CIPP "
        f"service account {demo.SERVICE_ACCOUNT_UPN} (included through 'All')"
    )
    assert fx.apply(plan, OPERATOR).outcome == "refused"
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"
    _spare_service_account(sim, pid)
    assert _statuses(sim, [])[("A-4", pid)] == "pass" and fx.plan(request).ready


def test_a3_reads_the_cipp_app_like_posture_never_a_cipp_api_client_id(fsim, sim, db_url):
    rewst = sim.client("Rewst automation")["ClientId"]  # a CIPP-API client, configured as a sign-in app
    fx = _engine(fsim, db_url, cipp_signin_app_ids=f"{demo.CIPP_APP_ID},{rewst}")
    pid = sim.policy_id(MSP, "CIPP - Block outside office (pilot)")
    sim.patch(MSP, f"{POLICIES}/{pid}", {"conditions": {"applications": {"includeApplications": [rewst]}}})
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.refusal and "it targets a CIPP-API client id" in plan.refusal


def test_a1_created_block_policy_spares_the_cipp_service_account(fx, sim):
    _break_technician_policies(sim)
    created = fx.apply(fx.plan(FixRequest("technician-policy.create", MSP)), OPERATOR)
    assert created.outcome == "applied", created.message
    statuses = _statuses(sim, [])
    assert (statuses[("A-1", MSP)], statuses[("A-4", created.plan.target.id)]) == ("pass", "pass")


def test_undoing_a_rollback_that_switches_a_block_policy_on_is_guarded_like_enable(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block outside office")
    temporary = sim.location_id("Trusted - Temporary (remote work)")  # 0.0.0.0/0: nobody would be outside
    sim.patch(MSP, f"{LOCATIONS}/{temporary}", {"@odata.type": IP_LOCATION, "isTrusted": False})
    on = fx.apply(
        fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP)), OPERATOR, **THIN
    )
    off = fx.rollback(on.audit_id, OPERATOR)
    assert (on.outcome, off.outcome) == ("applied", "rolled-back")
    again = fx.rollback(off.audit_id, OPERATOR)
    assert again.outcome == "refused" and "state your egress IP" in again.message
    assert "'CIPP - Block outside office (pilot)'" in again.message
    outside = fx.rollback(off.audit_id, OPERATOR, egress_ip="198.51.100.7")
    assert outside.outcome == "refused" and "198.51.100.7 is not inside" in outside.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"
    inside = fx.rollback(off.audit_id, OPERATOR, egress_ip=OFFICE_IP, **THIN)  # judged like a forward fix
    assert inside.outcome == "rolled-back", inside.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"


def test_undoing_a_rollback_is_refused_while_the_block_policy_reaches_the_service_account(fsim, db_url, sim):
    fx = _engine(fsim, db_url)
    pid = sim.policy_id(MSP, "CIPP - Block outside office")  # spares the service account directly
    temporary = sim.location_id("Trusted - Temporary (remote work)")
    sim.patch(MSP, f"{LOCATIONS}/{temporary}", {"@odata.type": IP_LOCATION, "isTrusted": False})
    on = fx.apply(
        fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP)), OPERATOR, **THIN
    )
    off = fx.rollback(on.audit_id, OPERATOR)
    assert (on.outcome, off.outcome) == ("applied", "rolled-back")
    # The policy is unchanged, but CIPP now signs in as another account, which it does not spare.
    rotated = "megan.bowen@northwindmsp.onmicrosoft.com"
    again = _engine(fsim, db_url, service_account_upn=rotated).rollback(
        off.audit_id, OPERATOR, egress_ip=OFFICE_IP
    )
    assert again.outcome == "refused" and f"reaches the CIPP service account {rotated}" in again.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"


def test_a_rollback_can_itself_be_rolled_back(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    on = fx.apply(fx.plan(FixRequest("service-account-policy.enable", MSP, pid)), OPERATOR, **THIN)
    off = fx.rollback(on.audit_id, OPERATOR)
    redo = fx.rollback(off.audit_id, OPERATOR, **THIN)  # no sign-in evidence here: thin, acknowledged
    assert redo.outcome == "rolled-back" and sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"
    again = fx.rollback(on.audit_id, OPERATOR)
    assert again.message == f"#{on.audit_id} was already rolled back by #{off.audit_id}"


def test_a3_needs_a_stated_egress_ip_and_a_valid_one(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block outside office")
    assert "state your egress IP" in fx.plan(FixRequest("technician-policy.enable", MSP, pid)).refusal
    with pytest.raises(RangeError, match="'office' is not a valid IP address"):
        fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip="office"))


# --- LOC-1: trusted location -----------------------------------------------------------------------


def test_loc1_adds_a_technicians_ip_as_a_host_range_and_rolls_back(fx, sim):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    _, after = roundtrip(
        fx,
        FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.7",)),
        lambda: sim.get(MSP, f"{LOCATIONS}/{lid}"),
        egress_ip=OFFICE_IP,
    )
    assert after["ipRanges"][-1] == {
        "@odata.type": "#microsoft.graph.iPv4CidrRange",
        "cidrAddress": "66.171.41.7/32",
    }


def test_loc1_ranges_already_there_change_nothing(fx):
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=(demo.MSP_OFFICE_RANGE,)))
    assert plan.unchanged


def test_loc1_broad_range_needs_acknowledging(fx, sim):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("198.0.0.0/8",)))
    assert plan.warnings == ["198.0.0.0/8: broader than /16 (16,777,216 addresses)"]
    refused = fx.apply(plan, OPERATOR)
    assert refused.outcome == "refused" and "warning(s) to acknowledge" in refused.message
    roundtrip(
        fx,
        FixRequest("trusted-location.add-range", MSP, ranges=("198.0.0.0/8",)),
        lambda: sim.get(MSP, f"{LOCATIONS}/{lid}"),
        acknowledge=True,
        egress_ip=OFFICE_IP,
    )


def test_loc1_rollback_never_empties_a_trusted_location(fx, sim):
    empty = sim.post(
        MSP,
        LOCATIONS,
        {
            "@odata.type": IP_LOCATION,
            "displayName": "Trusted - New office",
            "isTrusted": True,
            "ipRanges": [],
        },
    )
    outcome = fx.apply(
        fx.plan(FixRequest("trusted-location.add-range", MSP, empty["id"], ("66.171.41.8",))), OPERATOR
    )
    assert outcome.outcome == "applied"
    undo = fx.plan_rollback(outcome.audit_id)
    assert undo.refusal.startswith(
        "this would leave the trusted location 'Trusted - New office' without any range"
    )
    assert fx.rollback(outcome.audit_id, OPERATOR).outcome == "refused"
    assert sim.get(MSP, f"{LOCATIONS}/{empty['id']}")["ipRanges"]


def test_loc1_creates_a_trusted_location_when_there_is_none(fx, sim):
    for name in (demo.TRUSTED_LOCATION_NAME, "Trusted - Temporary (remote work)"):
        sim.patch(
            MSP, f"{LOCATIONS}/{sim.location_id(name)}", {"@odata.type": IP_LOCATION, "isTrusted": False}
        )
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("2600:1700:abcd::/48",)))
    assert plan.requests[0].method == "POST"
    assert plan.requests[0].body["ipRanges"] == [
        {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2600:1700:abcd:0:0:0:0:0/48"}
    ]
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "applied"
    assert sim.get(MSP, f"{LOCATIONS}/{outcome.plan.target.id}")["isTrusted"] is True


def test_loc1_refuses_every_address_and_names_several_candidates(fx, sim):
    with pytest.raises(RangeError, match="allows every address"):
        fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("0.0.0.0/0",)))
    sim.post(
        MSP,
        LOCATIONS,
        {
            "@odata.type": IP_LOCATION,
            "displayName": "Trusted - DR",
            "isTrusted": True,
            "ipRanges": [{"cidrAddress": "66.171.42.0/28"}],
        },
    )
    with pytest.raises(BadInput, match="several trusted locations could take the range"):
        fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.9",)))


# --- B-1..B-5: the service-account policy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fix_id", "check"),
    [
        (
            "service-account-policy.require-mfa",
            lambda p: (
                p["grantControls"]["builtInControls"] == ["mfa"] and p["grantControls"]["operator"] == "OR"
            ),
        ),
        (
            "service-account-policy.sign-in-every-time",
            lambda p: p["sessionControls"]["signInFrequency"]["frequencyInterval"] == "everyTime",
        ),
        ("service-account-policy.remove-locations", lambda p: p["conditions"]["locations"] is None),
        ("service-account-policy.enable", lambda p: p["state"] == "enabled"),
    ],
)
def test_b2_to_b5_change_one_property_of_the_service_account_policy(fx, sim, fix_id, check):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    before, after = roundtrip(
        fx, FixRequest(fix_id, MSP, pid), lambda: sim.get(MSP, f"{POLICIES}/{pid}"), fix_id in SWITCH_ON
    )
    assert check(after) and not check(before)
    changed = {k for k in after if k not in TIMESTAMPS and after[k] != before[k]}
    assert len(changed) == 1  # only the one property the fix is about


def test_b2_require_mfa_replaces_mfa_or_compliant_device_so_v2_b2_passes(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    sim.patch(
        MSP,
        f"{POLICIES}/{pid}",
        {"grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}},
    )
    assert _statuses(sim, [])[("B-2", pid)] == "fail"  # the device alone satisfies an OR
    plan = fx.plan(FixRequest("service-account-policy.require-mfa", MSP, pid))
    assert plan.ready and "compliantDevice" in " ".join(plan.notes) and "dropped" in " ".join(plan.notes)
    assert fx.apply(plan, OPERATOR).outcome == "applied"
    assert sim.get(MSP, f"{POLICIES}/{pid}")["grantControls"]["builtInControls"] == ["mfa"]
    assert _statuses(sim, [])[("B-2", pid)] == "pass"


def test_b2_require_mfa_drops_custom_controls_and_a_non_mfa_strength(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    sim.patch(
        MSP,
        f"{POLICIES}/{pid}",
        {
            "grantControls": {
                "operator": "OR",
                "builtInControls": [],
                "customAuthenticationFactors": ["DuoSecurityMFA"],
                "authenticationStrength": {
                    "id": "00000000-0000-0000-0000-000000000004",
                    "displayName": "Phishing-resistant MFA",
                    "requirementsSatisfied": "none",
                },
            }
        },
    )
    plan = fx.plan(FixRequest("service-account-policy.require-mfa", MSP, pid))
    notes = " ".join(plan.notes)
    assert "custom control 'DuoSecurityMFA'" in notes
    assert "authentication strength 'Phishing-resistant MFA'" in notes
    assert fx.apply(plan, OPERATOR).outcome == "applied"
    grant = sim.get(MSP, f"{POLICIES}/{pid}")["grantControls"]
    assert grant["builtInControls"] == ["mfa"]
    assert (grant["customAuthenticationFactors"], grant["authenticationStrength"]) == ([], None)
    assert _statuses(sim, [])[("B-2", pid)] == "pass"


def test_b2_require_mfa_keeps_an_mfa_strength_alone(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    sim.patch(
        MSP,
        f"{POLICIES}/{pid}",
        {
            "grantControls": {
                "operator": "OR",
                "builtInControls": ["compliantDevice"],
                "customAuthenticationFactors": [],
                "authenticationStrength": {"id": demo.MFA_STRENGTH_ID, "requirementsSatisfied": "mfa"},
            }
        },
    )
    plan = fx.plan(FixRequest("service-account-policy.require-mfa", MSP, pid))
    assert fx.apply(plan, OPERATOR).outcome == "applied"
    grant = sim.get(MSP, f"{POLICIES}/{pid}")["grantControls"]
    assert grant["builtInControls"] == [] and grant["authenticationStrength"]["id"] == demo.MFA_STRENGTH_ID
    assert _statuses(sim, [])[("B-2", pid)] == "pass"


def test_b1_creates_the_dedicated_policy_and_rollback_deletes_it(fx, sim):
    good = sim.policy_id(MSP, "CIPP - Service account MFA every time")
    sim.patch(
        MSP,
        f"{POLICIES}/{good}",
        {"conditions": {"users": {"includeGroups": [sim.get(MSP, "groups")["value"][0]["id"]]}}},
    )
    count = len(sim.policies(MSP))
    plan = fx.plan(FixRequest("service-account-policy.create", MSP))
    body = plan.requests[0].body
    account = sim.get(MSP, f"users/{demo.SERVICE_ACCOUNT_UPN}")
    assert body["conditions"]["users"] == {"includeUsers": [account["id"]]}
    assert body["sessionControls"]["signInFrequency"]["frequencyInterval"] == "everyTime"
    created = fx.apply(plan, OPERATOR)
    assert created.outcome == "applied" and len(sim.policies(MSP)) == count + 1
    statuses = _statuses(sim, [])  # the created policy passes v2's B-1, B-2 (MFA) and B-6 (coverage)
    assert (
        statuses[("B-1", created.plan.target.id)],
        statuses[("B-2", created.plan.target.id)],
        statuses[("B-6", created.plan.target.id)],
    ) == ("pass", "pass", "pass")
    assert fx.rollback(created.audit_id, OPERATOR).outcome == "rolled-back"
    assert len(sim.policies(MSP)) == count


def test_b_fixes_refuse_a_policy_that_is_not_the_service_accounts(fx, sim):
    pid = sim.policy_id(MSP, "Require MFA for all users")
    with pytest.raises(BadInput, match="does not include the service account"):
        fx.plan(FixRequest("service-account-policy.enable", MSP, pid))


# --- C-1 / C-2 / C-3: CIPP ----------------------------------------------------------------------------


def test_c1_sets_ranges_of_an_open_client_and_refuses_a_rollback_to_any(fx, sim):
    client = sim.client("Rewst automation")
    ranges = ("203.0.113.0/24", "2001:db8:aa::/48", "203.0.113.0/24")
    plan = fx.plan(FixRequest("api-client.set-ranges", MSP, client["ClientId"], ranges))
    assert plan.notes == ["203.0.113.0/24 is the same range as 203.0.113.0/24: listed once"]
    assert plan.irreversible and "open 'Rewst automation' to any IP" in plan.irreversible
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "applied", outcome.message
    after = sim.client("Rewst automation")
    assert after["IPRange"] == ["203.0.113.0/24", "2001:db8:aa:0:0:0:0:0/48"]
    assert (after["Role"], after["MCPAllowed"], after["Enabled"]) == (None, True, True)
    undo = fx.rollback(outcome.audit_id, OPERATOR)  # refused like a forward fix asking for "Any"
    assert undo.outcome == "refused"
    assert undo.message == (
        "this would open the API client 'Rewst automation' to any IP (IPRange "
        '["Any"]): set its ranges instead (api-client.set-ranges with the ranges it '
        "calls from)"
    )
    assert sim.client("Rewst automation")["IPRange"] == after["IPRange"]


def test_c2_normalises_host_bits_with_a_warning_and_rolls_back_exactly(fx, sim):
    client = sim.client("Partner portal sync")
    plan = fx.plan(FixRequest("api-client.set-ranges", MSP, client["ClientId"]))
    assert plan.warnings == [
        "52.174.22.7/24 has host bits set and is written as 52.174.22.0/24, the network "
        "CIPP enforces (52.174.22.7/32 would be the single address)"
    ]
    _, after = roundtrip(
        fx,
        FixRequest("api-client.set-ranges", MSP, client["ClientId"]),
        lambda: sim.client("Partner portal sync"),
        acknowledge=True,
    )
    assert after["IPRange"] == ["52.174.22.0/24"]


def test_c2_writes_ipv6_in_eight_groups_and_says_the_old_form_cannot_come_back(fx, sim):
    client = sim.client("Office IPv6 tooling")
    plan = fx.plan(FixRequest("api-client.set-ranges", MSP, client["ClientId"]))
    assert plan.irreversible.startswith("CIPP's save validation rejects 2001:4860:4801:10::/64")
    outcome = fx.apply(plan, OPERATOR)
    assert sim.client("Office IPv6 tooling")["IPRange"] == ["2001:4860:4801:10:0:0:0:0/64"]
    undo = fx.rollback(outcome.audit_id, OPERATOR)
    assert undo.outcome == "refused" and undo.message == plan.irreversible


def test_c1_a_client_without_ranges_needs_them_given(fx, sim):
    rewst = sim.client("Rewst automation")["ClientId"]
    with pytest.raises(BadInput, match="'Rewst automation' has no ranges to normalise"):
        fx.plan(FixRequest("api-client.set-ranges", MSP, rewst))
    with pytest.raises(RangeError, match="'Any' is not a range"):
        fx.plan(FixRequest("api-client.set-ranges", MSP, rewst, ("Any",)))


def test_c3_saves_enabled_clients_to_azure_and_cannot_be_rolled_back(fx, sim):
    plan = fx.plan(FixRequest("api-config.save-to-azure", MSP))
    assert plan.irreversible and any("Legacy RMM" in w and "20.0.0.0/8" in w for w in plan.warnings)
    assert fx.apply(plan, OPERATOR).outcome == "refused"  # warnings not acknowledged
    outcome = fx.apply(plan, OPERATOR, acknowledge_warnings=True)
    assert outcome.outcome == "applied", outcome.message
    assert sorted(sim.azure_ids()) == sorted(c["ClientId"] for c in sim.clients() if c["Enabled"])
    undo = fx.rollback(outcome.audit_id, OPERATOR)
    assert undo.outcome == "refused" and undo.message.startswith("SaveToAzure cannot be rolled back")


# --- staleness, authorisation, audit ----------------------------------------------------------------


def test_a_target_changed_between_plan_and_apply_is_refused_as_stale(fx, sim):
    tid = tenant("device_wrong_excl")
    pid = sim.policy_id(tid, "CA005")
    plan = fx.plan(FixRequest(D1, tid, pid))
    sim.patch(tid, f"{POLICIES}/{pid}", {"displayName": "CA005: renamed by someone else"})
    outcome = fx.apply(plan, OPERATOR, acknowledge_warnings=True)
    assert outcome.outcome == "refused" and "changed since the plan was made" in outcome.message
    excluded = sim.get(tid, f"{POLICIES}/{pid}")["conditions"]["users"]["excludeGuestsOrExternalUsers"]
    assert "serviceProvider" not in excluded["guestOrExternalUserTypes"]
    again = fx.apply(fx.plan(plan.request), OPERATOR, acknowledge_warnings=True)
    assert again.outcome == "applied"  # a new plan goes through


def test_a_cipp_client_changed_between_plan_and_apply_is_stale(fx, sim):
    client = sim.client("Rewst automation")
    plan = fx.plan(FixRequest("api-client.set-ranges", MSP, client["ClientId"], ("203.0.113.0/24",)))
    sim._cipp(
        "AddUpdate",
        {"ClientId": client["ClientId"], "IPRange": [{"value": "198.51.100.0/24"}], "Enabled": True},
    )
    assert "changed since the plan" in fx.apply(plan, OPERATOR).message
    assert sim.client("Rewst automation")["IPRange"] == ["198.51.100.0/24"]


def test_rollback_refuses_when_the_target_changed_since_the_fix(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    outcome = fx.apply(fx.plan(FixRequest("service-account-policy.enable", MSP, pid)), OPERATOR, **THIN)
    sim.patch(MSP, f"{POLICIES}/{pid}", {"displayName": "CIPP service account (renamed)"})
    undo = fx.rollback(outcome.audit_id, OPERATOR)
    assert undo.outcome == "refused" and "changed since #" in undo.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"


def test_a_plan_handed_back_with_other_requests_is_not_sent(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    forged = copy.deepcopy(plan)
    forged.requests[0] = type(plan.requests[0])("graph", "PATCH", plan.requests[0].url, {"state": "disabled"})
    assert fx.apply(forged, OPERATOR, **THIN).outcome == "refused"
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"


def test_a_viewer_cannot_apply_or_roll_back_and_the_attempt_is_recorded(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    with pytest.raises(PermissionError, match="does not hold the Operator role"):
        fx.apply(plan, VIEWER)
    with pytest.raises(PermissionError):
        fx.apply(plan, Actor("  ", ["Operator"]))
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"
    applied = fx.apply(plan, OPERATOR, **THIN)
    with pytest.raises(PermissionError):
        fx.rollback(applied.audit_id, VIEWER)
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"
    log = fx.audit_log()
    assert [(e.actor, e.outcome) for e in log] == [
        (VIEWER.name, "refused"),
        (OPERATOR.name, "applied"),
        ("(anonymous)", "refused"),
        (VIEWER.name, "refused"),
    ]
    assert log[0].rollback_of == applied.audit_id


def test_bad_requests_are_one_sentence(fx, sim):
    with pytest.raises(BadInput, match="unknown fix 'nope'"):
        fx.plan(FixRequest("nope", MSP))
    with pytest.raises(BadInput, match="changes the MSP tenant .* only"):
        fx.plan(FixRequest("service-account-policy.create", tenant("weak")))
    with pytest.raises(BadInput, match="needs the policy id"):
        fx.plan(FixRequest("service-account-policy.enable", MSP))
    with pytest.raises(BadInput, match="no Conditional Access policy"):
        fx.plan(FixRequest("technician-policy.enable", MSP, "00000000-0000-0000-0000-00000000dead"))
    with pytest.raises(BadInput, match="not a known client tenant"):
        fx.plan(FixRequest(D1, "00000000-0000-0000-0000-000000000001", "x"))
    with pytest.raises(BadInput, match="there is no audit record #99"):
        fx.rollback(99, OPERATOR)


# --- findings → fixes -------------------------------------------------------------------------------


def _finding(
    check: str,
    status: str,
    fix: str | None,
    subject: dict,
    evidence: dict | None = None,
    tenant_id: str = MSP,
) -> dict:
    return {
        "check": check,
        "tenantId": tenant_id,
        "status": status,
        "severity": "high",
        "subject": subject,
        "message": "m",
        "evidence": evidence or {},
        "fix": fix,
    }


def test_fix_for_finding_maps_subjects_to_targets():
    policy = {"type": "policy", "id": "p1", "name": "P"}
    assert fix_for_finding(_finding("D-1", "fail", D1, policy, tenant_id="t")) == FixRequest(D1, "t", "p1")
    assert fix_for_finding(
        _finding(
            "C-2",
            "warn",
            "api-client.set-ranges",
            {"type": "range", "id": "20.0.0.0/8", "name": "r"},
            {"clientId": "c1"},
        )
    ) == FixRequest("api-client.set-ranges", MSP, "c1")
    assert fix_for_finding(
        _finding("A-1", "fail", "technician-policy.create", {"type": "tenant", "id": MSP, "name": "MSP"})
    ) == FixRequest("technician-policy.create", MSP, "")
    assert (
        fix_for_finding(
            _finding(
                "C-3", "fail", "api-config.save-to-azure", {"type": "apiClient", "id": "c9", "name": "c9"}
            )
        ).target_id
        == ""
    )
    assert fix_for_finding(_finding("B-5", "pass", None, policy)) is None
    assert fix_for_finding(_finding("B-5", "accepted", "service-account-policy.enable", policy)) is None
    assert fix_for_finding(_finding("B-1", "warn", "service-account-policy.create", policy)) is None
    assert fix_for_finding(_finding("B-1", "fail", "service-account-policy.create", policy)) is None


def test_offers_come_from_the_latest_findings_one_per_request(fx):
    client = {"type": "apiClient", "id": "c1", "name": "c1"}
    findings = [
        _finding("C-3", "fail", "api-config.save-to-azure", client),
        _finding("C-3", "warn", "api-config.save-to-azure", {**client, "id": "c2"}),
        _finding("A-3", "warn", "technician-policy.enable", {"type": "policy", "id": "p", "name": "P"}),
        _finding("LOC-2", "warn", None, {"type": "range", "id": "10.0.0.0/8", "name": "r"}),
    ]
    with write_transaction(fx.db) as conn:
        store_evaluation(
            conn,
            evaluated_at=datetime(2026, 11, 22),
            collected_at=datetime(2026, 11, 22),
            raw=findings,
            with_accepted=findings,
        )
    offers = fx.offers()
    assert [(o.finding["check"], o.request.fix_id) for o in offers] == [
        ("C-3", "api-config.save-to-azure"),
        ("A-3", "technician-policy.enable"),
    ]
    assert offers[1].spec.needs_egress_ip and offers[1].as_dict()["request"]["targetId"] == "p"


# --- the checks pass once fixed -------------------------------------------------------------------


def _snapshot(sim: Sim, client_ids: list[str]) -> dict:
    """What a collection would see now, for the MSP and ``client_ids`` (enough for the checks fixed)."""

    def tenant_doc(tid: str, role: str) -> dict:
        doc = {
            "tenantId": tid,
            "role": role,
            "conditionalAccessPolicies": sim.policies(tid),
            "namedLocations": sim.get(tid, LOCATIONS)["value"],
            "users": sim.get(tid, "users?$select=id,userPrincipalName,displayName")["value"],
        }
        if role == "msp":
            doc["groups"] = sim.get(tid, "groups?$expand=members")["value"]
            doc["directoryRoles"] = sim.get(tid, "directoryRoles?$expand=members")["value"]
            doc["userRegistrationDetails"] = sim.get(
                tid, "reports/authenticationMethods/userRegistrationDetails"
            )["value"]
        return doc

    cipp_tenants = httpx.get(
        f"{sim.url}/cipp/api/ListTenants", headers={"Authorization": f"Bearer {Simulator.cipp_token()}"}
    ).json()
    return {
        "version": 1,
        "collectedAt": "2026-11-22T12:00:00Z",
        "msp": {
            "tenantId": MSP,
            "serviceAccountUpn": demo.SERVICE_ACCOUNT_UPN,
            "breakGlassUpns": list(demo.BREAK_GLASS_UPNS),
        },
        "tenants": [tenant_doc(MSP, "msp"), *(tenant_doc(t, "client") for t in client_ids)],
        "cipp": {
            "apiClients": sim.clients(),
            "tenants": cipp_tenants,
            "azureConfiguration": sim._cipp("GetAzureConfiguration")["Results"],
        },
    }


def _statuses(sim: Sim, client_ids: list[str]) -> dict[tuple[str, str], str]:
    from posture import PostureOptions, evaluate

    findings = evaluate(_snapshot(sim, client_ids), PostureOptions(cipp_app_ids=(demo.CIPP_APP_ID,)))
    return {(f.check, f.subject.id): f.status for f in findings}


def test_every_offered_fix_makes_its_check_pass(fx, sim):
    gdap, direct = tenant("device_wrong_excl"), tenant("direct_missing_sa")
    clients = [gdap, direct]
    legacy = sim.policy_id(MSP, "CIPP service account (legacy)")
    pilot = sim.policy_id(MSP, "CIPP - Block outside office (pilot)")
    d1 = [(gdap, sim.policy_id(gdap, "CA005")), (direct, sim.policy_id(direct, "CA010"))]
    rewst, ipv6 = sim.client("Rewst automation")["ClientId"], sim.client("Office IPv6 tooling")["ClientId"]
    before = _statuses(sim, clients)
    assert {before[("D-1", pid)] for _, pid in d1} == {"fail"}
    assert [before[(c, legacy)] for c in ("B-2", "B-3", "B-4", "B-5")] == ["fail"] * 4
    assert before[("B-9", MSP)] == "fail"  # the legacy policy lets a custom control stand in for MFA
    assert (before[("A-3", pilot)], before[("C-1", rewst)], before[("C-2", "2001:4860:4801:10::/64")]) == (
        "warn",
        "fail",
        "fail",
    )

    requests = (
        [FixRequest(D1, tid, pid) for tid, pid in d1]
        + [
            FixRequest(f"service-account-policy.{fix}", MSP, legacy)
            for fix in ("require-mfa", "sign-in-every-time", "remove-locations", "enable")
        ]
        + [
            FixRequest("technician-policy.enable", MSP, pilot, egress_ip=OFFICE_IP),
            FixRequest("api-client.set-ranges", MSP, rewst, ("20.190.128.0/24",)),
            FixRequest("api-client.set-ranges", MSP, ipv6),
        ]
    )
    # D-1 on CA005 widens to every tenant's service providers, the switch-ons have no evidence: acknowledged
    for request in requests:
        outcome = fx.apply(
            fx.plan(request), OPERATOR, acknowledge_warnings=request.fix_id in (D1, *SWITCH_ON)
        )
        assert outcome.outcome == "applied", (request, outcome.message)
    assert (
        fx.apply(
            fx.plan(FixRequest("api-config.save-to-azure", MSP)), OPERATOR, acknowledge_warnings=True
        ).outcome
        == "applied"
    )

    after = _statuses(sim, clients)
    assert {after[("D-1", pid)] for _, pid in d1} == {"pass"}
    assert [after[(c, legacy)] for c in ("B-2", "B-3", "B-4", "B-5")] == ["pass"] * 4
    assert after[("B-9", MSP)] == "pass"  # require-mfa dropped the custom control
    assert (
        after[("A-3", pilot)],
        after[("C-1", rewst)],
        after[("C-2", "2001:4860:4801:10:0:0:0:0/64")],
        after[("C-3", MSP)],
    ) == ("pass", "pass", "pass", "pass")


# --- roles --------------------------------------------------------------------------------------------


def test_role_names_are_compared_exactly():
    from fixes import holds_role

    assert holds_role(["Viewer", "Operator"], "Operator")
    assert not holds_role(["operator"], "Operator") and not holds_role(["OPERATOR "], "Operator")
    assert not Actor("x", ["operator"]).is_operator and Actor("x", ["Operator"]).is_operator


def test_a_lower_case_operator_role_is_refused_and_the_refusal_is_audited(fx, sim):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    with pytest.raises(PermissionError, match="does not hold the Operator role"):
        fx.apply(plan, Actor("x", ["operator"]))
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"
    assert [(e.actor, e.outcome) for e in fx.audit_log()] == [("x", "refused")]


# --- one guard set for every write ---------------------------------------------------------------------

BLOCK_POLICY = "CIPP - Block technicians outside trusted location"  # enabled, exempts the office by id


def _add_my_range(fx: FixEngine, my_ip: str) -> int:
    outcome = fx.apply(fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=(my_ip,))), OPERATOR)
    assert outcome.outcome == "applied", outcome.message
    return outcome.audit_id


def test_rolling_back_the_operators_own_range_while_the_block_policy_is_on_is_refused(fx, sim):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    audit_id = _add_my_range(fx, "66.171.41.7")
    undo = fx.rollback(audit_id, OPERATOR, egress_ip="66.171.41.7")
    assert undo.outcome == "refused"
    assert undo.message.startswith(
        f"after this write your egress IP 66.171.41.7 would be outside every "
        f"location '{BLOCK_POLICY}' exempts ('{demo.TRUSTED_LOCATION_NAME}')"
    )
    assert "66.171.41.7/32" in [r["cidrAddress"] for r in sim.get(MSP, f"{LOCATIONS}/{lid}")["ipRanges"]]


def test_a_rollback_taking_ranges_away_needs_the_egress_ip_while_the_block_policy_is_on(fx, sim):
    audit_id = _add_my_range(fx, "66.171.41.7")
    plan = fx.plan_rollback(audit_id)
    assert plan.refusal.startswith(
        f"'{BLOCK_POLICY}' is on and exempts '{demo.TRUSTED_LOCATION_NAME}', and "
        "this write takes ranges away from it: state your egress IP"
    )
    assert fx.plan_rollback(audit_id, egress_ip=OFFICE_IP).ready  # the office range stays


def test_a_trusted_location_whose_ranges_together_cover_everything_is_refused(fx, sim):
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("0.0.0.0/1", "128.0.0.0/1")))
    assert plan.refusal.startswith(
        f"this would leave '{demo.TRUSTED_LOCATION_NAME}' covering every IPv4 address ("
    )
    assert fx.apply(plan, OPERATOR, acknowledge_warnings=True).outcome == "refused"


def test_loc1_skips_a_location_whose_ranges_together_trust_everything(fx, sim):
    temporary = sim.location_id("Trusted - Temporary (remote work)")
    sim.patch(
        MSP,
        f"{LOCATIONS}/{temporary}",
        {
            "@odata.type": IP_LOCATION,
            "ipRanges": [
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "0.0.0.0/1"},
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "128.0.0.0/1"},
            ],
        },
    )
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.7",)))
    assert plan.target.name == demo.TRUSTED_LOCATION_NAME


def test_a3_counts_an_ipv4_mapped_egress_ip_inside_an_ipv4_range(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block technicians")
    sim.patch(MSP, f"{POLICIES}/{pid}", {"state": "enabledForReportingButNotEnforced"})
    _spare_service_account(sim, pid)
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=f"::ffff:{OFFICE_IP}"))
    assert plan.ready, plan.refusal


def test_c2_refuses_ranges_that_together_cover_every_address(fx, sim):
    client = sim.client("Rewst automation")
    plan = fx.plan(FixRequest("api-client.set-ranges", MSP, client["ClientId"], ("0.0.0.0/1", "128.0.0.0/1")))
    assert plan.refusal == (
        "the ranges of the API client 'Rewst automation' would together cover every IPv4 "
        "address (0.0.0.0/1, 128.0.0.0/1), which opens it to any IP: set narrower ranges "
        "(api-client.set-ranges with the ranges it calls from)"
    )


# --- concurrent edits: re-read before each write, rebase, record conflicts -------------------------------


def _after_replan(monkeypatch, edit) -> None:
    """Run ``edit`` (another admin's change) right after the engine re-made the plan, before it writes."""
    original = FixEngine._replan

    async def replan_then_edit(self, ctx, plan):
        fresh = await original(self, ctx, plan)
        edit()
        return fresh

    monkeypatch.setattr(FixEngine, "_replan", replan_then_edit)


def _ranges(sim: Sim, lid: str) -> list[str]:
    return [r["cidrAddress"] for r in sim.get(MSP, f"{LOCATIONS}/{lid}")["ipRanges"]]


def _add_range_by_hand(sim: Sim, lid: str, cidr: str) -> None:
    location = sim.get(MSP, f"{LOCATIONS}/{lid}")
    sim.patch(
        MSP,
        f"{LOCATIONS}/{lid}",
        {
            "@odata.type": IP_LOCATION,
            "ipRanges": [
                *location["ipRanges"],
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr},
            ],
        },
    )


def test_a_range_added_by_someone_else_before_the_write_is_kept_and_the_merge_noted(fx, sim, monkeypatch):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.7",)))
    _after_replan(monkeypatch, lambda: _add_range_by_hand(sim, lid, "66.171.42.0/28"))
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "applied", outcome.message
    assert {"66.171.42.0/28", "66.171.41.7/32"} <= set(_ranges(sim, lid))
    record = fx.audit_entry(outcome.audit_id)
    assert "merged with a change made meanwhile by someone else" in record.message
    assert "ipRanges" in record.message
    assert "66.171.42.0/28" in [r["cidrAddress"] for r in record.before["ipRanges"]]  # the state written over


def test_a_change_landing_just_before_the_write_is_recorded_as_a_conflict(fx, sim, monkeypatch):
    from fixes import CONFLICT
    from fixes.context import FixContext

    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    original = FixContext.send

    async def send_after_someone_else(self, tenant_id, call):
        sim.patch(MSP, f"{POLICIES}/{pid}", {"displayName": "CIPP service account (renamed meanwhile)"})
        return await original(self, tenant_id, call)

    monkeypatch.setattr(FixContext, "send", send_after_someone_else)
    outcome = fx.apply(plan, OPERATOR, **THIN)
    assert outcome.outcome == CONFLICT == "applied-with-conflict"
    record = fx.audit_entry(outcome.audit_id)
    assert record.outcome == CONFLICT
    assert 'displayName reads "CIPP service account (renamed meanwhile)"' in record.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"
    assert fx.rollback_reason(record) is None  # it changed something: a rollback can be planned


def test_a_rollback_rebases_onto_the_target_read_just_before_its_write(fx, sim, monkeypatch):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    audit_id = _add_my_range(fx, "66.171.41.7")
    _after_replan(monkeypatch, lambda: _add_range_by_hand(sim, lid, "66.171.42.0/28"))
    undo = fx.rollback(audit_id, OPERATOR, egress_ip=OFFICE_IP)
    assert undo.outcome == "rolled-back", undo.message
    ranges = _ranges(sim, lid)
    assert "66.171.42.0/28" in ranges and "66.171.41.7/32" not in ranges
    assert "merged with a change made meanwhile" in undo.message


def test_a_field_the_plan_sets_changed_differently_just_before_the_write_is_stale(fx, sim, monkeypatch):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    _after_replan(monkeypatch, lambda: sim.patch(MSP, f"{POLICIES}/{pid}", {"state": "disabled"}))
    outcome = fx.apply(plan, OPERATOR, **THIN)
    assert outcome.outcome == "refused" and "changed just before the write, in state" in outcome.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "disabled"


# --- rollback offered only where it can run ----------------------------------------------------------


def test_a_failed_write_whose_read_back_failed_too_offers_no_rollback(fx, sim, fsim, monkeypatch):
    from fixes.context import FixContext

    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    plan = fx.plan(FixRequest("service-account-policy.enable", MSP, pid))
    original = FixContext.send

    async def send_into_an_outage(self, tenant_id, call):
        fault = {"kind": "status", "status": 400, "path": f"/policies/{pid}"}  # the write and every read fail
        httpx.post(f"{fsim.url}/_sim/faults", json={"faults": [fault]}).raise_for_status()
        return await original(self, tenant_id, call)

    monkeypatch.setattr(FixContext, "send", send_into_an_outage)
    outcome = fx.apply(plan, OPERATOR, **THIN)
    httpx.post(f"{fsim.url}/_sim/faults", json={"faults": []}).raise_for_status()
    record = fx.audit_entry(outcome.audit_id)
    assert (record.outcome, record.after) == ("failed", None)
    reason = fx.rollback_reason(record)
    assert reason == (
        f"#{record.id} failed and 'CIPP service account (legacy)' could not be read back "
        "either, so its state after the write is unknown: re-read it and fix it by hand"
    )
    assert fx.plan_rollback(record.id).refusal == reason


# --- one confirmation rule: which writes open access, which findings a rollback re-creates -----------


def _location(*cidrs: str, trusted: bool = True) -> dict:
    return {
        "@odata.type": IP_LOCATION,
        "displayName": "Office",
        "isTrusted": trusted,
        "ipRanges": [{"cidrAddress": c} for c in cidrs],
    }


def _block_policy(state: str = "enabled", **users: list[str]) -> dict:
    return {
        "displayName": "Block outside office",
        "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"], **users},
            "applications": {"includeApplications": ["All"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["office-id"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }


def test_a_range_added_to_a_location_opens_access_and_one_taken_away_does_not():
    assert opened_access(
        "namedLocation", _location("203.0.113.0/24"), _location("203.0.113.0/24", "198.51.100.7/32")
    ) == ["'Office' covers 198.51.100.7/32 too"]
    assert (
        opened_access(
            "namedLocation", _location("203.0.113.0/24", "198.51.100.7/32"), _location("203.0.113.0/24")
        )
        == []
    )
    # A narrower range inside one already there trusts no new address.
    assert (
        opened_access(
            "namedLocation", _location("203.0.113.0/24"), _location("203.0.113.0/24", "203.0.113.8/29")
        )
        == []
    )
    assert opened_access(
        "namedLocation", _location("203.0.113.0/24", trusted=False), _location("203.0.113.0/24")
    ) == ["'Office' becomes trusted"]


def test_an_api_client_opened_to_any_ip_or_wider_ranges_opens_access():
    client = {"AppName": "Zapier", "Enabled": True, "IPRange": ["203.0.113.0/24"]}
    assert opened_access("apiClient", client, {**client, "IPRange": ["Any"]}) == [
        "the API client 'Zapier' accepts calls from any IP"
    ]
    assert opened_access("apiClient", client, {**client, "IPRange": ["203.0.113.0/24", "0.0.0.0/0"]}) == [
        "the API client 'Zapier' accepts calls from 0.0.0.0/0 too"
    ]
    assert opened_access("apiClient", {**client, "IPRange": ["Any"]}, client) == []  # narrowed: C-1's fix


def test_a_block_policy_switched_off_deleted_or_excluding_more_opens_access():
    on = _block_policy()
    assert opened_access("policy", on, _block_policy("disabled")) == [
        "'Block outside office' is switched off"
    ]
    assert opened_access("policy", on, None) == ["'Block outside office' is deleted"]
    assert opened_access("policy", on, _block_policy(excludeUsers=["someone"])) == [
        "'Block outside office' excludes more (excludeUsers)"
    ]
    assert opened_access("policy", _block_policy(excludeUsers=["someone"]), on) == []  # covers more people
    # A report-only policy enforces nothing: switching it off or deleting it opens nothing.
    assert opened_access("policy", _block_policy("enabledForReportingButNotEnforced"), None) == []
    assert opened_access("policy", None, on) == []  # a new policy only adds requirements


def test_a_policy_that_stops_requiring_mfa_or_every_time_sign_in_opens_access():
    mfa = {
        "displayName": "Service account",
        "state": "enabled",
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "sessionControls": {"signInFrequency": {"frequencyInterval": "everyTime", "isEnabled": True}},
    }
    weaker = {**mfa, "grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}}
    assert opened_access("policy", mfa, weaker) == ["'Service account' no longer requires MFA"]
    assert opened_access("policy", mfa, {**mfa, "sessionControls": None}) == [
        "'Service account' no longer asks for a sign-in every time"
    ]


def test_a_forward_fix_that_adds_a_trusted_range_needs_the_typed_confirmation(fx, sim):
    plan = fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.7",)))
    confirmation = fx.confirmation(plan)
    assert confirmation.required
    assert confirmation.opens == (f"'{demo.TRUSTED_LOCATION_NAME}' covers 66.171.41.7/32 too",)
    assert confirmation.recreates == ()  # a fix re-creates nothing


def test_a_fix_that_only_adds_a_requirement_needs_no_typed_confirmation(fx, sim):
    _break_technician_policies(sim)
    plan = fx.plan(FixRequest("technician-policy.create", MSP))  # report-only: opens nothing
    assert not fx.confirmation(plan).required


def test_switching_the_block_policy_on_asks_for_the_confirmation_as_a_lockout_risk(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block outside office")
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    confirmation = fx.confirmation(plan)
    assert confirmation.required and confirmation.lockout and not confirmation.opens


def test_a_rollback_names_the_critical_finding_it_re_creates(fx, sim):
    tid = tenant("device_wrong_excl")
    pid = sim.policy_id(tid, "CA005")
    applied = fx.apply(fx.plan(FixRequest(D1, tid, pid)), OPERATOR, acknowledge_warnings=True)
    assert applied.outcome == "applied", applied.message
    rollback = fx.plan_rollback(applied.audit_id)
    confirmation = fx.confirmation(rollback)
    assert confirmation.required
    assert [(f.check, f.severity) for f in confirmation.recreates] == [("D-1", "critical")]
    assert confirmation.recreates[0].title == "Client policies exclude the MSP's people"
    assert "This re-creates the finding D-1 “Client policies exclude the MSP's people” (critical)." in (
        confirmation.reasons()
    )


def test_rolling_back_the_block_policy_switch_opens_access_and_re_creates_a3(fx, sim):
    pid = sim.policy_id(MSP, "CIPP - Block outside office")
    temporary = sim.location_id("Trusted - Temporary (remote work)")
    sim.patch(MSP, f"{LOCATIONS}/{temporary}", {"@odata.type": IP_LOCATION, "isTrusted": False})
    on = fx.apply(
        fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP)), OPERATOR, **THIN
    )
    confirmation = fx.confirmation(fx.plan_rollback(on.audit_id))
    assert confirmation.opens == ("'CIPP - Block outside office (pilot)' is switched off",)
    assert [f.check for f in confirmation.recreates] == ["A-3"]
    assert not confirmation.lockout
    off = fx.rollback(on.audit_id, OPERATOR)
    # Undoing that rollback re-applies the fix: a lockout risk again, no finding re-created.
    redo = fx.confirmation(fx.plan_rollback(off.audit_id, OFFICE_IP))
    assert redo.lockout and redo.recreates == () and redo.opens == ()


def test_undoing_set_ranges_re_creates_c1_for_any_and_c2_for_ranges():
    assert [f.check for f in recreated_findings("api-client.set-ranges", {"IPRange": ["Any"]})] == ["C-1"]
    assert [
        f.check for f in recreated_findings("api-client.set-ranges", {"IPRange": ["52.174.22.7/24"]})
    ] == ["C-2"]
    assert str(recreated_findings("api-client.set-ranges", {"IPRange": ["Any"]})[0]) == (
        "C-1 “Every enabled API client has its own IP ranges” (critical)"
    )


# --- the audit record as a diff -------------------------------------------------------------------------


def test_the_diff_names_each_changed_field_by_its_json_path():
    before = {"displayName": "CA005", "state": "enabled", "conditions": {"users": {"excludeUsers": ["a"]}}}
    after = {
        "displayName": "CA005",
        "state": "disabled",
        "conditions": {"users": {"excludeUsers": ["a", "b"]}},
    }
    assert changes(before, after) == [
        Change("conditions.users.excludeUsers[]", MISSING, "b"),
        Change("state", "enabled", "disabled"),
    ]


def test_the_diff_of_a_range_added_in_the_middle_is_one_line():
    before = _location("203.0.113.0/24", "198.51.100.0/24")
    after = _location("203.0.113.0/24", "66.171.41.7/32", "198.51.100.0/24")
    assert changes(before, after) == [Change("ipRanges[]", MISSING, {"cidrAddress": "66.171.41.7/32"})]


def test_the_diff_of_a_created_or_deleted_object_lists_its_fields_and_of_a_reorder_the_whole_list():
    assert changes(None, {"state": "enabled", "grantControls": {"builtInControls": ["block"]}}) == [
        Change("grantControls.builtInControls", MISSING, ["block"]),
        Change("state", MISSING, "enabled"),
    ]
    assert changes({"IPRange": ["Any"]}, None) == [Change("IPRange", ["Any"], MISSING)]
    assert changes({"x": [1, 2]}, {"x": [2, 1]}) == [Change("x", [1, 2], [2, 1])]
    assert changes({"a": None}, {"a": 1}) == [Change("a", None, 1)]  # null is a value, not a missing field
    assert changes({"a": 1}, {"a": 1}) == []
    assert shown_value(MISSING) == "(none)" and shown_value({"b": 1}) == '{"b":1}'


def test_a_records_diff_shows_what_the_fix_changed(fx, sim):
    lid = sim.location_id(demo.TRUSTED_LOCATION_NAME)
    outcome = fx.apply(
        fx.plan(FixRequest("trusted-location.add-range", MSP, ranges=("66.171.41.7",))), OPERATOR
    )
    record = fx.audit_entry(outcome.audit_id)
    added = [c for c in changes(record.before, record.after) if c.path == "ipRanges[]"]
    assert [c.after["cidrAddress"] for c in added] == ["66.171.41.7/32"] and added[0].before is MISSING
    assert record.target_id == lid


def test_a_dashboard_change_in_the_audit_log_is_refused_a_rollback_without_reading_a_tenant(fx):
    from db import write_transaction as transaction
    from fixes.audit import KIOSK_LINK_CREATED, record_change

    with transaction(fx.db) as conn:
        audit_id = record_change(
            conn,
            at=FIXED_NOW,
            actor="op",
            kind=KIOSK_LINK_CREATED,
            tenant_id=MSP,
            target_type="kioskLink",
            target_id="7",
            target_name="NOC",
            message="Created a kiosk link",
            before=None,
            after={"id": 7, "label": "NOC"},
        )
    refused = fx.rollback(audit_id, OPERATOR)
    assert refused.outcome == "refused"
    assert refused.message == (
        f"#{audit_id} is a change to Perimeter itself, not to a tenant: "
        "revoke the link on the Kiosk links page"
    )
