"""The simulator's directory audit log over real HTTP: Graph's directoryAudit shape, filters, paging,
licence and throttling, an entry for every Conditional Access write, and the demo's drift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.directory_audit import DirectoryAudit

from simulator import SimConfig, Simulator, audits, demo, make_token
from support import FIXED_NOW

CLIENTS = {c.display_name: c for c in demo.client_tenants()}
UNLICENSED = CLIENTS["Coho Winery"]  # no Entra ID P1
DRIFT_TENANT = audits.drift_tenants(7)[0]
AUDITS = "/v1.0/auditLogs/directoryAudits"
POLICIES = "/v1.0/identity/conditionalAccess/policies"


def auth(tenant_id: str, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant_id, **claims)}"}


def entries(sim: Simulator, tenant_id: str, path: str = AUDITS, **params: str) -> httpx.Response:
    return httpx.get(f"{sim.url}{path}", params=params or None, headers=auth(tenant_id), timeout=30)


def follow(sim: Simulator, tenant_id: str, url: str) -> list[dict]:
    items: list[dict] = []
    while url:
        response = httpx.get(url, headers=auth(tenant_id), timeout=30)
        assert response.status_code == 200, response.text
        items += response.json()["value"]
        url = response.json().get("@odata.nextLink")
    return items


def at(dt: datetime) -> str:
    return dt.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_with_exclusion(sim: Simulator, tenant_id: str) -> dict:
    policies = httpx.get(f"{sim.url}{POLICIES}", headers=auth(tenant_id), timeout=30).json()["value"]
    return next(
        p
        for p in sorted(policies, key=lambda p: (p["displayName"], p["id"]))
        if p["state"] == "enabled"
        and "serviceProvider"
        in str(
            (p["conditions"]["users"].get("excludeGuestsOrExternalUsers") or {}).get(
                "guestOrExternalUserTypes"
            )
        )
    )


@pytest.fixture(scope="module")
def reader() -> Iterator[Simulator]:
    """A simulator nobody writes to (fixed clock, no throttling: the tests read a lot)."""
    with Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False)) as sim:
        yield sim


@pytest.fixture
def fresh() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False)) as sim:
        yield sim


def test_entries_have_graphs_directory_audit_shape(reader):
    value = entries(reader, DRIFT_TENANT).json()["value"]
    assert value
    for entry in value:
        assert entry["category"] == "Policy"
        assert entry["loggedByService"] == "Conditional Access"
        assert entry["result"] == "success"
        assert entry["operationType"] in ("Add", "Update", "Delete")
        assert entry["activityDateTime"].endswith("Z")
        target = entry["targetResources"][0]
        assert target["type"] == "Policy"
        changed = target["modifiedProperties"][0]
        assert changed["displayName"] == "ConditionalAccessPolicy"
        assert json.loads(changed["newValue"])["id"] == target["id"]
        node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(entry).encode())
        model = node.get_object_value(DirectoryAudit)
        assert not model.additional_data
        assert (
            model.initiated_by.user.user_principal_name == entry["initiatedBy"]["user"]["userPrincipalName"]
        )


def test_entries_are_newest_first_on_both_versions(reader):
    for path in (AUDITS, "/beta/auditLogs/directoryAudits"):
        times = [e["activityDateTime"] for e in entries(reader, DRIFT_TENANT, path).json()["value"]]
        assert times == sorted(times, reverse=True)


def test_the_fresh_demo_has_history_in_client_tenants(reader):
    with_history = [
        c for c in demo.client_tenants() if c.premium and entries(reader, c.tenant_id).json()["value"]
    ]
    assert len(with_history) >= 10


def test_filter_by_time_window(reader):
    everything = entries(reader, DRIFT_TENANT).json()["value"]
    middle = everything[len(everything) // 2]["activityDateTime"]
    newer = entries(reader, DRIFT_TENANT, **{"$filter": f"activityDateTime gt {middle}"}).json()["value"]
    older = entries(reader, DRIFT_TENANT, **{"$filter": f"activityDateTime le {middle}"}).json()["value"]
    assert all(e["activityDateTime"] > middle for e in newer)
    assert all(e["activityDateTime"] <= middle for e in older)
    assert len(newer) + len(older) == len(everything)


def test_filter_by_category_and_time(reader):
    since = at(FIXED_NOW - timedelta(days=30))
    policy = entries(
        reader, DRIFT_TENANT, **{"$filter": f"category eq 'Policy' and activityDateTime ge {since}"}
    )
    other = entries(reader, DRIFT_TENANT, **{"$filter": "category eq 'UserManagement'"})
    assert policy.json()["value"]
    assert other.json()["value"] == []


def test_paging_follows_next_links_without_gaps(fresh):
    for _ in range(5):
        httpx.post(f"{fresh.url}/_sim/drift", json={"tenantId": DRIFT_TENANT})  # one entry, then 409s
    pid = httpx.get(f"{fresh.url}{POLICIES}", headers=auth(DRIFT_TENANT)).json()["value"][0]["id"]
    for n in range(4):  # more entries: rename a policy a few times
        httpx.patch(
            f"{fresh.url}{POLICIES}/{pid}", headers=auth(DRIFT_TENANT), json={"displayName": f"Renamed {n}"}
        )
    everything = entries(fresh, DRIFT_TENANT).json()["value"]
    first = entries(fresh, DRIFT_TENANT, **{"$top": "2"}).json()
    assert len(first["value"]) == 2 and first["@odata.nextLink"].startswith(fresh.url)
    paged = first["value"] + follow(fresh, DRIFT_TENANT, first["@odata.nextLink"])
    assert [e["id"] for e in paged] == [e["id"] for e in everything]
    assert len(everything) >= 6


def test_top_out_of_range_is_a_400(reader):
    assert entries(reader, DRIFT_TENANT, **{"$top": "1001"}).status_code == 400


def test_tenant_without_p1_gets_403(reader):
    response = entries(reader, UNLICENSED.tenant_id)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_unsupported_filter_is_a_400_in_graphs_error_shape(reader):
    response = entries(reader, DRIFT_TENANT, **{"$filter": "startswith(activityDisplayName, 'Update')"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_a_patch_by_the_graph_client_is_an_update_entry_with_old_and_new(fresh):
    tenant = DRIFT_TENANT
    policy = policy_with_exclusion(fresh, tenant)
    fresh.advance(60)
    response = httpx.patch(
        f"{fresh.url}{POLICIES}/{policy['id']}",
        headers=auth(tenant, appid=demo.PERIMETER_APP_ID),
        json={"state": "enabledForReportingButNotEnforced"},
    )
    assert response.status_code == 204
    entry = entries(fresh, tenant).json()["value"][0]
    assert entry["activityDisplayName"] == "Update conditional access policy"
    assert entry["activityDateTime"] == at(FIXED_NOW + timedelta(seconds=60))
    assert entry["initiatedBy"]["user"] is None
    assert entry["initiatedBy"]["app"]["appId"] == demo.PERIMETER_APP_ID
    assert entry["initiatedBy"]["app"]["displayName"] == "Perimeter"
    changed = entry["targetResources"][0]["modifiedProperties"][0]
    assert json.loads(changed["oldValue"])["state"] == "enabled"
    assert json.loads(changed["newValue"])["state"] == "enabledForReportingButNotEnforced"
    assert entry["targetResources"][0]["id"] == policy["id"]


def test_named_location_create_and_delete_are_logged(fresh):
    tenant = DRIFT_TENANT
    created = httpx.post(
        f"{fresh.url}/v1.0/identity/conditionalAccess/namedLocations",
        headers=auth(tenant),
        json={
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": "Branch",
            "isTrusted": False,
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}],
        },
    ).json()
    httpx.delete(
        f"{fresh.url}/v1.0/identity/conditionalAccess/namedLocations/{created['id']}", headers=auth(tenant)
    )
    newest = entries(fresh, tenant).json()["value"][:2]
    assert [e["activityDisplayName"] for e in newest] == ["Delete named location", "Add named location"]
    deleted, added = (e["targetResources"][0]["modifiedProperties"][0] for e in newest)
    assert added["oldValue"] is None and json.loads(added["newValue"])["displayName"] == "Branch"
    assert deleted["newValue"] is None and json.loads(deleted["oldValue"])["id"] == created["id"]


def test_forced_drift_removes_the_exclusion_and_logs_the_client_admin(fresh):
    tenant = DRIFT_TENANT
    spec = demo.client_by_id(tenant)
    policy = policy_with_exclusion(fresh, tenant)
    forced = httpx.post(f"{fresh.url}/_sim/drift", json={"tenantId": tenant})
    assert forced.status_code == 200
    after = httpx.get(f"{fresh.url}{POLICIES}/{policy['id']}", headers=auth(tenant)).json()
    assert after["conditions"]["users"]["excludeGuestsOrExternalUsers"] is None
    entry = entries(fresh, tenant).json()["value"][0]
    assert entry == forced.json()
    assert entry["activityDisplayName"] == "Update conditional access policy"
    assert entry["initiatedBy"]["app"] is None
    assert entry["initiatedBy"]["user"]["userPrincipalName"] == f"admin@{spec.default_domain}"
    assert entry["initiatedBy"]["user"]["ipAddress"] in demo.office_range(7, spec)[1]
    old = json.loads(entry["targetResources"][0]["modifiedProperties"][0]["oldValue"])
    assert (
        old["conditions"]["users"]["excludeGuestsOrExternalUsers"]
        == policy["conditions"]["users"]["excludeGuestsOrExternalUsers"]
    )


def test_forced_drift_with_nothing_left_to_remove_is_a_409(fresh):
    for _ in range(10):  # each drift removes one policy's exclusion; the tenant runs out
        last = httpx.post(f"{fresh.url}/_sim/drift", json={"tenantId": DRIFT_TENANT})
    assert last.status_code == 409


def test_drift_now_on_the_simulator_object(fresh):
    body = fresh.drift_now()
    assert body is not None and body["initiatedBy"]["user"]["userPrincipalName"].startswith("admin@")


def test_scheduled_drift_happens_after_its_period_and_is_reproducible():
    logs = []
    for _ in range(2):
        with Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False)) as sim:
            before = entries(sim, DRIFT_TENANT).json()["value"]
            sim.advance(audits.DRIFT_EVERY_SECONDS - 1)
            assert entries(sim, DRIFT_TENANT).json()["value"] == before
            sim.advance(1)
            logs.append(entries(sim, DRIFT_TENANT).json()["value"])
            assert len(logs[-1]) == len(before) + 1
    assert logs[0] == logs[1]
    drift = logs[0][0]
    assert drift["activityDateTime"] == at(FIXED_NOW + timedelta(seconds=audits.DRIFT_EVERY_SECONDS))
    assert drift["initiatedBy"]["user"] is not None


def test_audit_reads_are_throttled_as_reports():
    with Simulator(SimConfig(seed=7, now=FIXED_NOW)) as sim:
        codes = [entries(sim, DRIFT_TENANT).status_code for _ in range(6)]
        assert codes[:5] == [200] * 5
        assert codes[5] == 429
        assert httpx.get(f"{sim.url}/_sim/stats").json()["requests"][DRIFT_TENANT]["reports"] == 6


def test_a_refused_write_logs_nothing(fresh):
    before = entries(fresh, DRIFT_TENANT).json()["value"]
    pid = before[0]["targetResources"][0]["id"]
    refused = httpx.patch(f"{fresh.url}{POLICIES}/{pid}", headers=auth(DRIFT_TENANT), json={"state": "on"})
    assert refused.status_code == 400
    assert entries(fresh, DRIFT_TENANT).json()["value"] == before


def test_another_apps_write_is_attributed_to_that_app(fresh):
    other_app = "0b5a4c2e-1f3d-4e6a-8b9c-7d0e1f2a3b4c"
    pid = entries(fresh, DRIFT_TENANT).json()["value"][0]["targetResources"][0]["id"]
    httpx.patch(
        f"{fresh.url}{POLICIES}/{pid}", headers=auth(DRIFT_TENANT, appid=other_app), json={"displayName": "X"}
    )
    app = entries(fresh, DRIFT_TENANT).json()["value"][0]["initiatedBy"]["app"]
    assert app["appId"] == other_app and app["displayName"] != "Perimeter"


def test_select_keeps_only_the_asked_properties(reader):
    value = entries(reader, DRIFT_TENANT, **{"$select": "activityDisplayName,initiatedBy"}).json()["value"]
    assert value and all(set(e) == {"id", "activityDisplayName", "initiatedBy"} for e in value)


def test_the_drift_period_is_a_setting_the_demo_launcher_shortens():
    with Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False, drift_every_s=1800)) as sim:
        before = entries(sim, DRIFT_TENANT).json()["value"]
        sim.advance(1799)
        assert entries(sim, DRIFT_TENANT).json()["value"] == before
        sim.advance(1)
        assert len(entries(sim, DRIFT_TENANT).json()["value"]) == len(before) + 1
