"""The simulator over real HTTP: identity, paging, filters, clock, throttling, faults, writes, CIPP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from simulator import SimConfig, Simulator, demo

ROOT = Path(__file__).resolve().parent.parent
# A Wednesday, mid-morning in Portland: working-hour traffic in the last hours.
NOW = datetime(2026, 11, 18, 18, 0, tzinfo=UTC)
MSP = demo.MSP_TENANT_ID
CLIENTS = {c.display_name: c for c in demo.client_tenants()}
SMALL = CLIENTS["Southridge Video"]  # 75 users, baseline_good
TREY = CLIENTS["Trey Research"]  # enforced office-only block without a service-provider exclusion
ALL_SIGNINS = "signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')"


def auth(tenant_id: str, audience: str = "https://graph.microsoft.com") -> dict[str, str]:
    return {"Authorization": f"Bearer {Simulator.token(tenant_id, audience)}"}


def get(sim: Simulator, tenant_id: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{sim.url}{path}", params=params or None, headers=auth(tenant_id), timeout=30)


def follow(sim: Simulator, tenant_id: str, url: str) -> list[dict]:
    """Every item of a collection, following absolute nextLinks."""
    items: list[dict] = []
    while url:
        response = httpx.get(url, headers=auth(tenant_id), timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith(f"{sim.url}/"), url
    return items


def signins_url(
    sim: Simulator, since: str, until: str | None = None, top: int | None = None, all_types: bool = True
) -> str:
    clauses = [f"createdDateTime ge {since}"]
    if until:
        clauses.append(f"createdDateTime le {until}")
    if all_types:
        clauses.append(ALL_SIGNINS)
    params = {"$filter": " and ".join(clauses)}
    if top:
        params["$top"] = str(top)
    return str(httpx.URL(f"{sim.url}/beta/auditLogs/signIns", params=params))


def graph_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    if code:
        assert error["code"] == code
    return error


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """Read-only tests share one simulator without throttling."""
    with Simulator(SimConfig(seed=7, now=NOW, throttle=False)) as simulator:
        yield simulator


@pytest.fixture
def fresh() -> Iterator[Simulator]:
    """Tests that write, advance the clock or inject faults get their own simulator."""
    with Simulator(SimConfig(seed=7, now=NOW, throttle=False)) as simulator:
        yield simulator


# --- identity --------------------------------------------------------------------------------------


def test_the_token_chooses_the_tenant(sim):
    msp_users = get(sim, MSP, "/v1.0/users", **{"$top": "5"}).json()["value"]
    client_users = get(sim, SMALL.tenant_id, "/v1.0/users", **{"$top": "5"}).json()["value"]
    assert all(u["userPrincipalName"].endswith("@" + demo.MSP_DOMAIN) for u in msp_users)
    assert all(u["userPrincipalName"].endswith("@" + SMALL.default_domain) for u in client_users)
    msp_names = {
        p["displayName"] for p in get(sim, MSP, "/v1.0/identity/conditionalAccess/policies").json()["value"]
    }
    assert "CIPP - Service account MFA every time" in msp_names
    client_policies = get(sim, SMALL.tenant_id, "/beta/identity/conditionalAccess/policies").json()["value"]
    assert "CIPP - Service account MFA every time" not in {p["displayName"] for p in client_policies}


def test_missing_garbled_or_unknown_tokens_are_refused(sim):
    url = f"{sim.url}/v1.0/users"
    graph_error(httpx.get(url), 401, "InvalidAuthenticationToken")
    graph_error(
        httpx.get(url, headers={"Authorization": "Bearer not-a-jwt"}), 401, "InvalidAuthenticationToken"
    )
    graph_error(
        httpx.get(url, headers=auth("00000000-1111-2222-3333-444444444444")),
        401,
        "InvalidAuthenticationToken",
    )
    graph_error(
        httpx.get(url, headers=auth(MSP, f"api://{demo.CIPP_APP_ID}")), 401, "InvalidAuthenticationToken"
    )


def test_unknown_resources_and_methods_answer_graph_errors(sim):
    graph_error(get(sim, MSP, "/v1.0/nothingHere"), 400, "BadRequest")
    response = httpx.put(f"{sim.url}/v1.0/identity/conditionalAccess/policies", headers=auth(MSP), json={})
    graph_error(response, 405)
    graph_error(get(sim, MSP, "/v1.0/identity/conditionalAccess/policies/nope"), 404)
    graph_error(get(sim, MSP, "/v1.0/users", **{"$skiptoken": "forged"}), 400)


# --- paging and queries ------------------------------------------------------------------------------


def test_paging_with_absolute_next_links_covers_everything_exactly_once(sim):
    d = demo.directory(7, SMALL.tenant_id)
    users = follow(
        sim, SMALL.tenant_id, f"{sim.url}/v1.0/users?$top=7&$select=id,userPrincipalName,accountEnabled"
    )
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)) == len(d.people)
    assert set(users[0]) == {"id", "userPrincipalName", "accountEnabled"}

    since = "2026-11-18T06:00:00Z"
    whole = follow(sim, SMALL.tenant_id, signins_url(sim, since))
    paged = follow(sim, SMALL.tenant_id, signins_url(sim, since, top=25))
    assert len(whole) > 50
    assert [s["id"] for s in paged] == [s["id"] for s in whole]
    assert len({s["id"] for s in paged}) == len(paged)
    stamps = [s["createdDateTime"] for s in paged]
    assert stamps == sorted(stamps, reverse=True)  # newest first


def test_next_links_keep_the_filter(sim):
    body = httpx.get(signins_url(sim, "2026-11-18T00:00:00Z", top=10), headers=auth(SMALL.tenant_id)).json()
    link = httpx.URL(body["@odata.nextLink"])
    assert "createdDateTime ge 2026-11-18T00:00:00Z" in link.params["$filter"]
    assert link.params["$top"] == "10" and link.params["$skiptoken"]


def test_sign_in_filters_bound_the_window_and_choose_event_types(sim):
    since, until = "2026-11-18T12:00:00Z", "2026-11-18T15:30:00Z"
    both = follow(sim, SMALL.tenant_id, signins_url(sim, since, until))
    interactive = follow(sim, SMALL.tenant_id, signins_url(sim, since, until, all_types=False))
    assert both and interactive
    assert all(since <= s["createdDateTime"] <= until for s in both)
    assert all(s["isInteractive"] for s in interactive)
    assert {s["signInEventTypes"][0] for s in both} == {"interactiveUser", "nonInteractiveUser"}
    assert {s["id"] for s in interactive} < {s["id"] for s in both}

    # gt/lt exclude their bound; quotes and fractional seconds are accepted.
    edge = both[0]["createdDateTime"]
    strict = follow(
        sim,
        SMALL.tenant_id,
        str(
            httpx.URL(
                f"{sim.url}/beta/auditLogs/signIns",
                params={
                    "$filter": f"createdDateTime gt '{since[:-1]}.000Z' and createdDateTime lt {edge} "
                    f"and {ALL_SIGNINS}"
                },
            )
        ),
    )
    assert strict and all(s["createdDateTime"] < edge for s in strict)

    bad = get(sim, SMALL.tenant_id, "/beta/auditLogs/signIns", **{"$filter": "userDisplayName eq 'x' or 1"})
    graph_error(bad, 400)
    graph_error(
        get(sim, SMALL.tenant_id, "/beta/auditLogs/signIns", **{"$filter": "createdDateTime ge yesterday"}),
        400,
    )


def test_top_limits_the_page(sim):
    body = get(sim, TREY.tenant_id, "/beta/auditLogs/signIns", **{"$top": "5"}).json()
    assert len(body["value"]) == 5 and body["@odata.nextLink"].startswith(sim.url)
    assert len(get(sim, TREY.tenant_id, "/v1.0/users").json()["value"]) == 100  # Graph's default page
    graph_error(get(sim, TREY.tenant_id, "/beta/auditLogs/signIns", **{"$top": "1001"}), 400)
    graph_error(get(sim, TREY.tenant_id, "/v1.0/users", **{"$top": "1000"}), 400)


def test_groups_filter_and_expand_members(sim):
    groups = get(
        sim, MSP, "/v1.0/groups", **{"$filter": "displayName eq 'AdminAgents'", "$expand": "members"}
    ).json()["value"]
    assert [g["displayName"] for g in groups] == ["AdminAgents"]
    assert demo.SERVICE_ACCOUNT_UPN in {m.get("userPrincipalName") for m in groups[0]["members"]}
    nested = get(
        sim,
        MSP,
        "/v1.0/groups",
        **{"$filter": "displayName eq 'CA Exclusions - Break Glass'", "$expand": "members"},
    ).json()["value"][0]
    assert nested["members"][0]["@odata.type"] == "#microsoft.graph.group"


def test_expand_members_stops_at_20_without_a_next_link(sim):
    everyone = get(sim, MSP, "/v1.0/groups", **{"$filter": "displayName eq 'All Staff'"}).json()["value"][0]
    whole = follow(sim, MSP, f"{sim.url}/v1.0/groups/{everyone['id']}/members?$top=5")
    assert len(whole) == 21  # paged whole, five at a time
    expanded = get(
        sim, MSP, "/v1.0/groups", **{"$filter": "displayName eq 'All Staff'", "$expand": "members"}
    ).json()["value"][0]
    assert [m["id"] for m in expanded["members"]] == [m["id"] for m in whole[:20]]
    assert not any("nextLink" in key for key in expanded)
    single = get(sim, MSP, f"/v1.0/groups/{everyone['id']}", **{"$expand": "members"}).json()
    assert len(single["members"]) == 20


def test_directory_role_members_page_with_a_next_link(sim):
    roles = get(sim, MSP, "/v1.0/directoryRoles").json()["value"]
    admins = next(r for r in roles if r["roleTemplateId"] == demo.GLOBAL_ADMIN_TEMPLATE_ID)
    first = get(sim, MSP, f"/v1.0/directoryRoles/{admins['id']}/members", **{"$top": "1"}).json()
    assert len(first["value"]) == 1 and first["@odata.nextLink"].startswith(sim.url)
    whole = follow(sim, MSP, f"{sim.url}/v1.0/directoryRoles/{admins['id']}/members?$top=1")
    assert demo.BREAK_GLASS_UPNS[0] in {m["userPrincipalName"] for m in whole}


# --- clock -----------------------------------------------------------------------------------------


def test_advancing_the_clock_brings_new_sign_ins(fresh):
    url = signins_url(fresh, "2026-11-18T16:00:00Z")
    before = follow(fresh, MSP, url)
    moved = httpx.post(f"{fresh.url}/_sim/clock", json={"advanceSeconds": 3600}).json()
    assert moved["now"] == "2026-11-18T19:00:00Z"
    after = follow(fresh, MSP, url)
    assert after[0]["createdDateTime"] > before[0]["createdDateTime"]
    assert {s["id"] for s in before} < {s["id"] for s in after}  # the past does not change
    assert httpx.get(f"{fresh.url}/_sim/health").json() == {
        "ok": True,
        "now": "2026-11-18T19:00:00Z",
        "tenants": 26,
    }


def test_the_real_clock_cannot_be_advanced():
    with Simulator(SimConfig(now=None, throttle=False)) as sim:
        assert httpx.post(f"{sim.url}/_sim/clock", json={"advanceSeconds": 5}).status_code == 409
        newest = get(sim, MSP, "/beta/auditLogs/signIns", **{"$top": "1", "$filter": ALL_SIGNINS}).json()[
            "value"
        ]
        assert newest and newest[0]["createdDateTime"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- throttling ------------------------------------------------------------------------------------


def test_throttling_follows_graphs_published_limits():
    with Simulator(SimConfig(seed=7, now=NOW, throttle=True)) as sim:
        path = "/v1.0/reports/authenticationMethods/userRegistrationDetails"
        codes = [get(sim, SMALL.tenant_id, path, **{"$top": "1"}).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        throttled = get(sim, SMALL.tenant_id, path)
        graph_error(throttled, 429, "TooManyRequests")
        assert 1 <= int(throttled.headers["Retry-After"]) <= 10
        assert get(sim, TREY.tenant_id, path, **{"$top": "1"}).status_code == 200  # per tenant

        ca = "/v1.0/identity/conditionalAccess/policies"
        assert get(sim, SMALL.tenant_id, ca).status_code == 200
        ca_throttled = get(sim, SMALL.tenant_id, ca)
        graph_error(ca_throttled, 429)
        assert "Retry-After" not in ca_throttled.headers

        stats = httpx.get(f"{sim.url}/_sim/stats").json()
        assert stats["throttled"][SMALL.tenant_id] == {"reports": 2, "ca": 1}
        assert stats["requests"][SMALL.tenant_id]["reports"] == 7


def test_what_if_is_paced_as_conditional_access():
    member = next(p for p in demo.directory(7, SMALL.tenant_id).active_members)
    body = {
        "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": member.id},
        "signInContext": {
            "@odata.type": "#microsoft.graph.applicationContext",
            "includeApplications": ["00000002-0000-0ff1-ce00-000000000000"],
        },
        "signInConditions": {"ipAddress": "81.2.69.160", "country": "GB"},
    }
    with Simulator(SimConfig(seed=7, now=NOW, throttle=True)) as sim:
        url = f"{sim.url}/beta/identity/conditionalAccess/evaluate"
        codes = [httpx.post(url, json=body, headers=auth(SMALL.tenant_id)).status_code for _ in range(2)]
        assert codes == [200, 429]  # one request per second per tenant, as every CA request
        stats = httpx.get(f"{sim.url}/_sim/stats").json()
        assert stats["requests"][SMALL.tenant_id] == {"ca": 2}  # a throttled request is counted too
        assert stats["throttled"][SMALL.tenant_id] == {"ca": 1}


# --- faults ----------------------------------------------------------------------------------------


def set_faults(sim: Simulator, *faults: dict) -> None:
    response = httpx.post(f"{sim.url}/_sim/faults", json={"faults": list(faults)})
    assert response.status_code == 200, response.text


def test_status_faults_fire_count_times_with_retry_after(fresh):
    set_faults(
        fresh, {"path": "/users", "tenant": MSP, "count": 1, "kind": "status", "status": 503, "retryAfter": 2}
    )
    first = get(fresh, MSP, "/v1.0/users")
    graph_error(first, 503)
    assert first.headers["Retry-After"] == "2"
    assert get(fresh, MSP, "/v1.0/users").status_code == 200
    assert get(fresh, SMALL.tenant_id, "/v1.0/users").status_code == 200
    assert httpx.get(f"{fresh.url}/_sim/stats").json()["faultsFired"] == 1


def test_truncate_delay_and_rate_faults(fresh):
    set_faults(fresh, {"path": "subscribedSkus", "count": 1, "kind": "truncate"})
    cut = get(fresh, MSP, "/v1.0/subscribedSkus")
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert len(get(fresh, MSP, "/v1.0/subscribedSkus").content) >= 2 * len(cut.content)

    set_faults(fresh, {"path": "subscribedSkus", "count": 1, "kind": "delay", "ms": 400})
    started = time.monotonic()
    assert get(fresh, MSP, "/v1.0/subscribedSkus").status_code == 200
    assert time.monotonic() - started >= 0.4

    set_faults(fresh, {"path": "subscribedSkus", "rate": 0.5, "kind": "status", "status": 500})
    codes = [get(fresh, MSP, "/v1.0/subscribedSkus").status_code for _ in range(30)]
    assert 0 < codes.count(500) < 30


def test_empty_page_fault_keeps_the_position(fresh):
    set_faults(fresh, {"path": "auditLogs/signIns", "count": 1, "kind": "emptyPage"})
    url = signins_url(fresh, "2026-11-18T10:00:00Z", top=20)
    empty = httpx.get(url, headers=auth(SMALL.tenant_id)).json()
    assert empty["value"] == [] and empty["@odata.nextLink"]
    resumed = httpx.get(empty["@odata.nextLink"], headers=auth(SMALL.tenant_id)).json()
    direct = httpx.get(url, headers=auth(SMALL.tenant_id)).json()
    assert [s["id"] for s in resumed["value"]] == [s["id"] for s in direct["value"]]


def test_revoked_consent_is_403_on_every_call_of_that_tenant(fresh):
    set_faults(fresh, {"tenant": TREY.tenant_id, "count": None, "rate": None, "kind": "revoked"})
    for path in ("/v1.0/users", "/v1.0/identity/conditionalAccess/policies", "/beta/auditLogs/signIns"):
        graph_error(get(fresh, TREY.tenant_id, path), 403, "Authorization_RequestDenied")
    assert get(fresh, SMALL.tenant_id, "/v1.0/users").status_code == 200


def test_bad_fault_rules_are_refused(fresh):
    for bad in ({"kind": "explode"}, {"kind": "status", "status": 200}, {"kind": "delay", "rate": 2}):
        assert httpx.post(f"{fresh.url}/_sim/faults", json={"faults": [bad]}).status_code == 400
    assert httpx.post(f"{fresh.url}/_sim/faults", json={"nope": 1}).status_code == 400


# --- writes ----------------------------------------------------------------------------------------


def test_patching_one_policy_leaves_the_others_of_the_tenant_alone(fresh):
    tailspin = next(c for c in demo.client_tenants() if c.display_name == "Tailspin Toys")
    path = "/v1.0/identity/conditionalAccess/policies"
    before = {p["id"]: p for p in get(fresh, tailspin.tenant_id, path).json()["value"]}
    mfa = next(p for p in before.values() if p["displayName"].startswith("CA001"))
    legacy = next(p for p in before.values() if p["displayName"].startswith("CA002"))
    # The demo builds both from one exclusion condition: a write to one must not reach the other.
    assert (
        mfa["conditions"]["users"]["excludeGuestsOrExternalUsers"]
        == legacy["conditions"]["users"]["excludeGuestsOrExternalUsers"]
    )
    changed = {
        "guestOrExternalUserTypes": "serviceProvider",
        "externalTenants": {
            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
            "membershipKind": "all",
        },
    }
    response = httpx.patch(
        f"{fresh.url}{path}/{mfa['id']}",
        headers=auth(tailspin.tenant_id),
        json={"conditions": {"users": {"excludeGuestsOrExternalUsers": changed}}},
    )
    assert response.status_code == 204
    after = get(fresh, tailspin.tenant_id, f"{path}/{legacy['id']}").json()
    assert after["conditions"]["users"] == legacy["conditions"]["users"]


def test_patch_post_and_delete_change_what_later_reads_show(fresh):
    base = f"{fresh.url}/v1.0/identity/conditionalAccess/policies"
    policies = get(fresh, MSP, "/v1.0/identity/conditionalAccess/policies").json()["value"]
    legacy = next(p for p in policies if p["displayName"] == "CIPP service account (legacy)")
    patch = {
        "state": "enabled",
        "conditions": {"locations": None},
        "sessionControls": {
            "signInFrequency": {
                "isEnabled": True,
                "frequencyInterval": "everyTime",
                "type": None,
                "value": None,
                "authenticationType": "primaryAndSecondaryAuthentication",
            }
        },
    }
    response = httpx.patch(f"{base}/{legacy['id']}", json=patch, headers=auth(MSP))
    assert response.status_code == 204 and response.content == b""
    after = get(fresh, MSP, f"/v1.0/identity/conditionalAccess/policies/{legacy['id']}").json()
    assert after["state"] == "enabled" and after["conditions"]["locations"] is None
    assert after["conditions"]["users"] == legacy["conditions"]["users"]  # deep merge kept the rest
    assert after["sessionControls"]["signInFrequency"]["frequencyInterval"] == "everyTime"
    assert after["modifiedDateTime"].startswith("2026-11-18T18:00:00")

    graph_error(httpx.patch(f"{base}/{legacy['id']}", json={"state": "on"}, headers=auth(MSP)), 400)
    graph_error(httpx.patch(f"{base}/{legacy['id']}", json={"colour": "red"}, headers=auth(MSP)), 400)

    new = {
        "displayName": "CIPP - Block technicians (created by Perimeter)",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    created = httpx.post(base, json=new, headers=auth(MSP))
    assert created.status_code == 201
    body = created.json()
    assert set(demo.empty_policy()) <= set(body)  # the full shape, like Graph's answer
    assert body["conditions"]["users"]["excludeGuestsOrExternalUsers"] is None
    listed = {p["id"] for p in get(fresh, MSP, "/v1.0/identity/conditionalAccess/policies").json()["value"]}
    assert body["id"] in listed
    assert httpx.delete(f"{base}/{body['id']}", headers=auth(MSP)).status_code == 204
    graph_error(get(fresh, MSP, f"/v1.0/identity/conditionalAccess/policies/{body['id']}"), 404)
    assert httpx.get(f"{fresh.url}/_sim/stats").json()["writes"] == 3


def test_named_location_writes_need_their_odata_type(fresh):
    base = f"{fresh.url}/v1.0/identity/conditionalAccess/namedLocations"
    locations = get(fresh, MSP, "/v1.0/identity/conditionalAccess/namedLocations").json()["value"]
    trusted = next(n for n in locations if n["displayName"] == demo.TRUSTED_LOCATION_NAME)
    ranges = [
        *trusted["ipRanges"],
        {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "73.20.4.9/32"},
    ]
    graph_error(httpx.patch(f"{base}/{trusted['id']}", json={"ipRanges": ranges}, headers=auth(MSP)), 400)
    typed = {"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": ranges}
    assert httpx.patch(f"{base}/{trusted['id']}", json=typed, headers=auth(MSP)).status_code == 204
    after = get(fresh, MSP, f"/v1.0/identity/conditionalAccess/namedLocations/{trusted['id']}").json()
    assert after["ipRanges"][-1]["cidrAddress"] == "73.20.4.9/32"
    bad = {"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [{"cidrAddress": "300.1.1.1/32"}]}
    graph_error(httpx.patch(f"{base}/{trusted['id']}", json=bad, headers=auth(MSP)), 400)
    created = httpx.post(
        base,
        headers=auth(MSP),
        json={
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "displayName": "Allowed",
            "countriesAndRegions": ["US", "CA"],
            "includeUnknownCountriesAndRegions": False,
        },
    )
    assert created.status_code == 201 and created.json()["countryLookupMethod"] == "clientIpAddress"
    # A location a policy uses cannot be deleted.
    graph_error(httpx.delete(f"{base}/{trusted['id']}", headers=auth(MSP)), 400)


def service_account_signins(sim: Simulator, tenant_id: str, since: str) -> list[dict]:
    rows = follow(sim, tenant_id, signins_url(sim, since))
    return [s for s in rows if s["userPrincipalName"] == demo.SERVICE_ACCOUNT_UPN]


def test_service_account_is_blocked_until_the_exclusion_is_added(fresh):
    """The consequence Part D is about: CIPP's account is blocked by a client policy lacking the exclusion."""
    before = service_account_signins(fresh, TREY.tenant_id, "2026-11-18T12:00:00Z")
    assert before and all(s["status"]["errorCode"] == 53003 for s in before)
    assert all(s["crossTenantAccessType"] == "serviceProvider" and s["homeTenantId"] == MSP for s in before)
    assert all(s["conditionalAccessStatus"] == "failure" for s in before)
    policies = get(fresh, TREY.tenant_id, "/v1.0/identity/conditionalAccess/policies").json()["value"]
    block = next(p for p in policies if "outside the office" in p["displayName"])
    assert {a["id"]: a["result"] for a in before[0]["appliedConditionalAccessPolicies"]}[
        block["id"]
    ] == "failure"

    exclusion = {
        "conditions": {
            "users": {
                "excludeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "internalGuest,serviceProvider",
                    "externalTenants": {
                        "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                        "membershipKind": "enumerated",
                        "members": [MSP],
                    },
                }
            }
        }
    }
    patched = httpx.patch(
        f"{fresh.url}/v1.0/identity/conditionalAccess/policies/{block['id']}",
        json=exclusion,
        headers=auth(TREY.tenant_id),
    )
    assert patched.status_code == 204
    httpx.post(f"{fresh.url}/_sim/clock", json={"advanceSeconds": 3 * 3600})

    rows = service_account_signins(fresh, TREY.tenant_id, "2026-11-18T12:00:00Z")
    after = [s for s in rows if s["createdDateTime"] > "2026-11-18T18:00:00Z"]
    earlier = [s for s in rows if s["createdDateTime"] <= "2026-11-18T18:00:00Z"]
    assert after and all(s["status"]["errorCode"] == 0 for s in after)
    assert all(
        {a["id"]: a["result"] for a in s["appliedConditionalAccessPolicies"]}[block["id"]] == "notApplied"
        for s in after
    )
    assert [s["id"] for s in earlier] == [s["id"] for s in before]  # history is kept
    assert all(s["status"]["errorCode"] == 53003 for s in earlier)


def test_the_msp_service_account_satisfies_mfa_through_its_policy(sim):
    rows = service_account_signins(sim, MSP, "2026-11-18T06:00:00Z")
    assert rows and all(s["status"]["errorCode"] == 0 for s in rows)
    assert all(s["authenticationRequirement"] == "multiFactorAuthentication" for s in rows)
    results = {a["displayName"]: a["result"] for a in rows[0]["appliedConditionalAccessPolicies"]}
    assert results["CIPP - Service account MFA every time"] == "success"
    assert results["CIPP - Block technicians outside trusted location"] == "notApplied"


def test_demo_sign_ins_show_blocks_worth_investigating(sim):
    msp = follow(sim, MSP, signins_url(sim, "2026-11-17T18:00:00Z"))
    technician_blocks = [
        s for s in msp if s["appId"] == demo.CIPP_APP_ID and s["status"]["errorCode"] == 53003
    ]
    assert technician_blocks, "technicians at home should hit the CIPP block policy"
    codes = {s["status"]["errorCode"] for s in msp}
    assert {0, 50126, 53003} <= codes
    client = follow(
        sim, CLIENTS["Adventure Works Cycles"].tenant_id, signins_url(sim, "2026-11-18T14:00:00Z")
    )
    provider = [s for s in client if s["crossTenantAccessType"] == "serviceProvider"]
    assert provider and all(s["conditionalAccessStatus"] == "failure" for s in provider)


# --- CIPP ------------------------------------------------------------------------------------------


def cipp(sim: Simulator, action: str, body: dict | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {Simulator.cipp_token()}"}
    url = f"{sim.url}/cipp/api/ExecApiClient?Action={action}"
    return (
        httpx.post(url, json=body, headers=headers) if body is not None else httpx.get(url, headers=headers)
    )


def test_cipp_accepts_a_token_for_a_saved_api_client_and_refuses_cipps_app_id(sim):
    url = f"{sim.url}/cipp/api/ListTenants"
    assert httpx.get(url, headers={"Authorization": f"Bearer {Simulator.cipp_token()}"}).status_code == 200
    for audience in (
        f"api://{demo.CIPP_APP_ID}",
        demo.CIPP_APP_ID,
        "api://00000000-0000-4000-8000-000000000000",
    ):
        assert httpx.get(url, headers=auth(MSP, audience)).status_code == 401, audience


def test_cipp_lists_api_clients_with_cipps_quirks(sim):
    results = cipp(sim, "List").json()["Results"]
    assert "Any" in results  # the stray string CIPP leaks for a row stored as []
    clients = {c["AppName"]: c for c in results if isinstance(c, dict)}
    assert clients["Rewst automation"]["IPRange"] == ["Any"] and clients["Rewst automation"]["Role"] is None
    assert clients["Old PowerShell reporting"]["IPRange"] == []
    assert clients["HaloPSA integration"]["IPRange"] == ["20.105.3.44/32"]
    assert clients["Decommissioned BI export"]["Enabled"] is False
    assert set(clients["Perimeter collector"]) == {
        "ClientId",
        "AppName",
        "Role",
        "IPRange",
        "Enabled",
        "MCPAllowed",
    }

    config = cipp(sim, "GetAzureConfiguration").json()["Results"]
    assert config["ApiUrl"] == demo.CIPP_API_URL and config["TenantID"] == MSP
    enabled = {c["ClientId"] for c in clients.values() if c["Enabled"]}
    assert set(config["ClientIDs"]) - enabled and enabled - set(config["ClientIDs"])  # differ both ways

    tenants = httpx.get(
        f"{sim.url}/cipp/api/ListTenants", headers={"Authorization": f"Bearer {Simulator.cipp_token()}"}
    ).json()
    assert len(tenants) == 25
    direct = [t for t in tenants if t["delegatedPrivilegeStatus"] == "directTenant"]
    assert len(direct) == 3 and sum("directTenantUserPrincipalName" in t for t in direct) == 2
    assert {"customerId", "displayName", "defaultDomainName", "GraphErrorCount", "LastGraphError"} <= set(
        tenants[0]
    )


def test_cipp_add_update_validates_like_cipp_and_save_to_azure(fresh):
    results = cipp(fresh, "List").json()["Results"]
    rewst = next(c for c in results if isinstance(c, dict) and c["AppName"] == "Rewst automation")
    body = {
        "ClientId": rewst["ClientId"],
        "Role": {"value": "readonly"},
        "Enabled": True,
        "IPRange": [
            {"value": "2001:db8::/32"},
            {"value": "66.171.40.16/29"},
            {"value": "2001:4860:4801:10:0:0:0:0/64"},
            {"value": "nonsense"},
        ],
    }
    answer = cipp(fresh, "AddUpdate", body)
    assert answer.status_code == 200
    assert answer.json() == [
        "'2001:db8::/32' is not a valid IP address or CIDR range.",
        "'nonsense' is not a valid IP address or CIDR range.",
        "API client updated",
    ]
    updated = next(
        c
        for c in cipp(fresh, "List").json()["Results"]
        if isinstance(c, dict) and c["ClientId"] == rewst["ClientId"]
    )
    assert (
        updated["IPRange"] == ["66.171.40.16/29", "2001:4860:4801:10:0:0:0:0/64"]
        and updated["Role"] == "readonly"
    )

    created = cipp(
        fresh, "AddUpdate", {"AppName": "New tool", "IPRange": [{"value": "20.1.2.3"}], "Enabled": True}
    )
    assert created.json()[0]["state"] == "success"

    assert cipp(fresh, "SaveToAzure", {}).json() == {"Results": "API clients saved to Azure"}
    enabled = {
        c["ClientId"] for c in cipp(fresh, "List").json()["Results"] if isinstance(c, dict) and c["Enabled"]
    }
    assert set(cipp(fresh, "GetAzureConfiguration").json()["Results"]["ClientIDs"]) == enabled
    assert cipp(fresh, "Nonsense").json() == {"Results": "Invalid action"}


def test_cipp_needs_its_own_token(sim):
    url = f"{sim.url}/cipp/api/ExecApiClient?Action=List"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=auth(MSP)).status_code == 401  # a Graph token is not CIPP's audience


# --- determinism -----------------------------------------------------------------------------------


def _snapshot(sim: Simulator) -> list:
    out = []
    for tenant_id in (MSP, SMALL.tenant_id):
        for path in (
            "/v1.0/users?$top=50",
            "/v1.0/identity/conditionalAccess/policies",
            "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=50",
        ):
            out.append(httpx.get(f"{sim.url}{path}", headers=auth(tenant_id)).json()["value"])
        out.append(follow(sim, tenant_id, signins_url(sim, "2026-11-18T15:00:00Z")))
    return out


def test_the_same_seed_gives_the_same_data(sim):
    with Simulator(SimConfig(seed=7, now=NOW, throttle=False)) as twin:
        assert _snapshot(twin) == _snapshot(sim)
    with Simulator(SimConfig(seed=8, now=NOW, throttle=False)) as other:
        assert _snapshot(other)[0] != _snapshot(sim)[0]


# --- the CLI ---------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_cli_bad_arguments_are_one_line_and_exit_2():
    for args in (["--port", "http"], ["--now", "yesterday"], ["--faults", "/nonexistent.json"]):
        proc = _cli(*args)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_serves_until_sigterm():
    proc = _cli("--port", "0", "--now", "2026-11-18T18:00:00Z")
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[-1]
        assert httpx.get(f"{url}/_sim/health").json()["now"] == "2026-11-18T18:00:00Z"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


def test_list_tenants_error_fault_answers_cipps_error_row_with_200(fresh):
    rule = {"path": "/cipp/api/ListTenants", "count": 1, "kind": "listTenantsError", "message": "boom"}
    httpx.post(f"{fresh.url}/_sim/faults", json={"faults": [rule]}).raise_for_status()
    headers = {"Authorization": f"Bearer {Simulator.cipp_token()}"}
    failed = httpx.get(f"{fresh.url}/cipp/api/ListTenants", headers=headers)
    assert failed.status_code == 200
    assert failed.json() == [
        {
            "Results": "Failed to retrieve tenants: boom",
            "defaultDomainName": "",
            "displayName": "Failed to retrieve tenants. Perform a permission check.",
            "customerId": "",
        }
    ]
    again = httpx.get(f"{fresh.url}/cipp/api/ListTenants", headers=headers).json()
    assert len(again) > 1 and all(row["customerId"] for row in again)  # count: 1 fired once
