"""The simulator's scale profile: `python -m simulator --tenants 500` serves 500 distinct client tenants
(the demo's 25 and copies of them), each answering Graph as its original does. Cheap: a few requests,
no collection of them all (bench/collect.py does that)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from simulator import SimConfig, Simulator, demo

CLIENTS = 500
NOW = "2026-11-18T18:00:00Z"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The CLI with the scale profile, on a free loopback port (throttling off: these tests are reads)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--now", NOW, "--no-throttle", "--tenants", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line.startswith("simulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def graph(url: str, tenant_id: str, path: str) -> list[dict]:
    """Every item of a Graph collection of one tenant, following nextLinks."""
    headers = {"Authorization": f"Bearer {Simulator.token(tenant_id)}"}
    items: list[dict] = []
    next_url: str | None = f"{url}/v1.0/{path}"
    while next_url:
        response = httpx.get(next_url, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        next_url = body.get("@odata.nextLink")
    return items


def list_tenants(url: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {Simulator.cipp_token()}"}
    response = httpx.get(f"{url}/cipp/api/ListTenants", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_cipp_lists_500_distinct_client_tenants(url):
    rows = list_tenants(url)
    assert len(rows) == CLIENTS
    for key in ("customerId", "displayName", "defaultDomainName", "initialDomainName"):
        assert len({row[key] for row in rows}) == CLIENTS, key
    assert demo.MSP_TENANT_ID not in {row["customerId"] for row in rows}


def test_the_simulator_serves_the_msp_and_500_clients(url):
    assert httpx.get(f"{url}/_sim/health", timeout=30).json()["tenants"] == CLIENTS + 1


def test_every_gdap_client_has_one_active_relationship(url):
    relationships = graph(url, demo.MSP_TENANT_ID, "tenantRelationships/delegatedAdminRelationships")
    gdap = {
        row["customerId"] for row in list_tenants(url) if row["delegatedPrivilegeStatus"] != "directTenant"
    }
    customers = [r["customer"]["tenantId"] for r in relationships if r["status"] == "active"]
    assert sorted(customers) == sorted(gdap)


def test_a_copy_answers_graph_like_its_original_with_its_own_people(url):
    rows = list_tenants(url)
    last = rows[-1]
    original = next(c for c in demo.client_tenants() if last["displayName"].startswith(c.display_name + " "))
    copy_users = graph(url, last["customerId"], "users")
    original_users = graph(url, original.tenant_id, "users")
    assert len(copy_users) == len(original_users)
    assert all(u["userPrincipalName"].endswith(f"@{last['defaultDomainName']}") for u in copy_users
               if "#EXT#" not in u["userPrincipalName"])  # fmt: skip
    assert not {u["id"] for u in copy_users} & {u["id"] for u in original_users}
    copy_policies = graph(url, last["customerId"], "identity/conditionalAccess/policies")
    original_policies = graph(url, original.tenant_id, "identity/conditionalAccess/policies")
    assert sorted(p["displayName"] for p in copy_policies) == sorted(
        p["displayName"] for p in original_policies
    )


def test_the_demo_default_stays_25_client_tenants():
    assert SimConfig().clients == demo.DEMO_CLIENTS == len(demo.client_tenants()) == 25


def test_cli_refuses_a_tenant_count_below_the_demo_in_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "--tenants", "10"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "--tenants" in proc.stderr
