"""The MSP's side of its clients: GDAP relationships (Graph) and CIPP's tables (ListTenants, ApiClients)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.demo.ids import (
    GDAP_ROLE_TEMPLATE_IDS,
    MSP_OFFICE_RANGE,
    PERIMETER_CIPP_CLIENT_ID,
    iso,
    new_guid,
)
from simulator.demo.tenants import DEMO_CLIENTS, client_tenants


def delegated_admin_relationships(now: datetime, clients: int = DEMO_CLIENTS) -> list[dict]:
    out = []
    for c in client_tenants(clients):
        if c.access_mode != "gdap":
            continue
        rng = random.Random(f"gdap:{c.tenant_id}")
        created = now - timedelta(days=rng.randint(120, 600), seconds=rng.randint(0, 86000))
        activated = created + timedelta(minutes=rng.randint(3, 600))
        out.append(
            {
                "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
                "@odata.etag": f'W/"JyIw{rng.getrandbits(64):016x}Jw=="',
                "id": f"{new_guid(rng)}-{new_guid(rng)}",
                "displayName": f"CIPP_{c.display_name[:30]}_{activated:%Y%m%d}".replace(" ", "_"),
                "duration": "P730D",
                "customer": {"tenantId": c.tenant_id, "displayName": c.display_name},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in GDAP_ROLE_TEMPLATE_IDS]},
                "status": "active",
                "autoExtendDuration": "P180D",
                "createdDateTime": iso(created),
                "lastModifiedDateTime": iso(activated),
                "activatedDateTime": iso(activated),
                "endDateTime": iso(created + timedelta(days=730)),
            }
        )
    return out


def cipp_tenants(clients: int = DEMO_CLIENTS) -> list[dict]:
    """ListTenants rows."""
    rows = []
    for c in client_tenants(clients):
        row = {
            "customerId": c.tenant_id,
            "displayName": c.display_name,
            "defaultDomainName": c.default_domain,
            "initialDomainName": c.initial_domain,
            "delegatedPrivilegeStatus": "directTenant"
            if c.access_mode == "direct"
            else "granularDelegatedAdminPrivileges",
            "GraphErrorCount": 0,
            "LastGraphError": "",
        }
        if c.direct_sa_upn:
            row["directTenantUserPrincipalName"] = c.direct_sa_upn
        rows.append(row)
    # One tenant whose Graph calls have been failing (CIPP keeps count).
    rows[12]["GraphErrorCount"] = 3
    rows[12]["LastGraphError"] = (
        "AADSTS50076: Due to a configuration change made by your administrator, or "
        "because you moved to a new location, you must use multi-factor authentication "
        "to access '00000003-0000-0000-c000-000000000000'."
    )
    return rows


@dataclass
class ApiClientRow:
    """A row of CIPP's ApiClients table, stored the way CIPP stores it (IPRange is a JSON *string*)."""

    client_id: str
    app_name: str
    role: str  # "" means the fallback role (List shows null)
    ip_range: str
    enabled: bool
    mcp_allowed: bool = False


def initial_api_clients(seed: int) -> tuple[list[ApiClientRow], list[str]]:
    """The ApiClients table and the client ids the Function App's authentication accepts."""
    rng = random.Random(f"{seed}:cipp")
    ids = [new_guid(rng) for _ in range(10)]
    ids[0] = PERIMETER_CIPP_CLIENT_ID  # Perimeter's own client: a fixed id its demo settings name
    rows = [
        ApiClientRow(
            ids[0],
            "Perimeter collector",
            "readonly",
            f'["{MSP_OFFICE_RANGE}","2600:1700:5d30:1f0:0:0:0:0/64"]',
            True,
            False,
        ),
        ApiClientRow(ids[1], "Rewst automation", "", "", True, True),  # no range stored: ["Any"]
        ApiClientRow(ids[2], "Old PowerShell reporting", "readonly", "[]", True),  # literal []: broken
        ApiClientRow(ids[3], "HaloPSA integration", "editor", '"20.105.3.44/32"', True),  # single string
        ApiClientRow(ids[4], "Office IPv6 tooling", "readonly", '["2001:4860:4801:10::/64"]', True),  # '::'
        ApiClientRow(ids[5], "Partner portal sync", "readonly", '["52.174.22.7/24"]', True),  # host bits set
        ApiClientRow(ids[6], "Legacy RMM", "", '["20.0.0.0/8"]', True),  # far too broad
        ApiClientRow(ids[7], "Zapier (test)", "readonly", '["0.0.0.0/0"]', True),  # open to all
        ApiClientRow(ids[8], "Decommissioned BI export", "readonly", '["40.112.0.0/16"]', False),
    ]
    # Azure still accepts the disabled client and an id the table no longer has; the newest clients
    # (Legacy RMM re-enabled, Old PowerShell reporting) were never saved to Azure.
    azure = [ids[0], ids[1], ids[3], ids[4], ids[5], ids[7], ids[8], ids[9]]
    return rows, azure
