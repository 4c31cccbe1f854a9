"""CIPP-API's ExecApiClient and ListTenants, reproducing CIPP's own storage and (de)serialisation quirks.

CIPP keeps IPRange in Azure Table storage as a string written by PowerShell's ConvertTo-Json (an array
of one element collapses to a bare string, an empty list to nothing) and reads it back in
Get-CippApiClient, which turns an unreadable value into ["Any"] and - a PowerShell pipeline leak -
emits a stray "Any" into Results for a row holding a literal `[]`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from simulator import demo
from simulator.state import SimState

# CIPP's save validation (Invoke-ExecApiClient): IPv4 with optional prefix, IPv6 only as 2-8 full groups.
CIPP_RANGE_RE = re.compile(
    r"^(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:/\d{1,2})?|(?:[0-9A-Fa-f]{1,4}:){1,7}[0-9A-Fa-f]{1,4}(?:/\d{1,3})?)$"
)


def _powershell_json(ranges: list[str]) -> str:
    """What `"$(@($IpRange) | ConvertTo-Json -Compress)"` stores."""
    if not ranges:
        return ""
    if len(ranges) == 1:
        return json.dumps(ranges[0])
    return json.dumps(ranges, separators=(",", ":"))


def list_clients(state: SimState) -> dict | None:
    """`ExecApiClient?Action=List`: None (an empty body) when the table is empty."""
    with state.lock:
        rows = list(state.api_clients)
    if not rows:
        return None
    results: list[Any] = []
    for row in rows:
        ip_range: list[Any]
        if row.ip_range:
            try:
                parsed = json.loads(row.ip_range)
                ip_range = parsed if isinstance(parsed, list) else [parsed]
                if not ip_range:
                    results.append("Any")  # the leaked pipeline output of `@('Any')`
            except ValueError:
                ip_range = ["Any"]
        else:
            ip_range = ["Any"]
        results.append(
            {
                "ClientId": row.client_id,
                "AppName": row.app_name,
                "Role": row.role or None,
                "IPRange": ip_range,
                "Enabled": row.enabled,
                "MCPAllowed": row.mcp_allowed,
            }
        )
    return {"Results": results}


def azure_configuration(state: SimState) -> dict:
    with state.lock:
        ids = list(state.azure_client_ids)
    return {
        "Results": {
            "ApiUrl": demo.CIPP_API_URL,
            "TenantID": demo.MSP_TENANT_ID,
            "ClientIDs": ids,
            "Enabled": True,
        }
    }


def save_to_azure(state: SimState) -> dict:
    with state.lock:
        state.azure_client_ids = [r.client_id for r in state.api_clients if r.enabled]
        state.writes += 1
    return {"Results": "API clients saved to Azure"}


def _value(field: Any) -> Any:
    """CIPP's form fields arrive as {"value": x} or as x."""
    return field.get("value") if isinstance(field, dict) else field


def add_update(state: SimState, body: dict) -> Any:
    """`ExecApiClient?Action=AddUpdate`: answers a bare array (or nothing), HTTP 200 in every case."""
    client_id = _value(body.get("ClientId"))
    app_name = body.get("AppName")
    if not client_id and not app_name:
        return None
    results: list[Any] = []
    valid: list[str] = []
    for entry in body.get("IPRange") or body.get("IpRange") or []:
        value = str(_value(entry) if isinstance(entry, dict) else entry).strip()
        if CIPP_RANGE_RE.match(value):
            valid.append(value)
        else:
            results.append(f"'{value}' is not a valid IP address or CIDR range.")
    role = _value(body.get("Role"))
    enabled = bool(body.get("Enabled", False))
    mcp = bool(body.get("MCPAllowed", False))
    with state.lock:
        existing = next((r for r in state.api_clients if client_id and r.client_id == client_id), None)
        if existing is not None:
            existing.role = str(role or "")
            existing.ip_range = _powershell_json(valid)
            existing.enabled = enabled
            existing.mcp_allowed = mcp
            results.append("API client updated")
        else:
            # A new app registration: CIPP creates it and hands the secret back once.
            new_id = str(client_id or uuid.uuid4())
            picked = body.get("ClientId") if isinstance(body.get("ClientId"), dict) else {}
            added = picked.get("addedFields") if isinstance(picked.get("addedFields"), dict) else {}
            name = str(app_name or added.get("displayName") or "")
            state.api_clients.append(
                demo.ApiClientRow(new_id, name, str(role or ""), _powershell_json(valid), enabled, mcp)
            )
            results.append(
                {
                    "resultText": f"API Client created with the name '{name}'. "
                    "Use the Copy to Clipboard button to "
                    "retrieve the secret.",
                    "copyField": uuid.uuid4().hex + uuid.uuid4().hex[:8],
                    "state": "success",
                }
            )
        state.writes += 1
    return results


def list_tenants(state: SimState) -> list[dict]:
    with state.lock:
        return [dict(row) for row in state.cipp_tenants]


def list_tenants_error(message: str) -> list[dict]:
    """What `ListTenants` answers when it fails inside (Invoke-ListTenants' catch): HTTP 200 and a
    single row with an empty customerId whose text fields carry the error."""
    return [
        {
            "Results": f"Failed to retrieve tenants: {message}",
            "defaultDomainName": "",
            "displayName": "Failed to retrieve tenants. Perform a permission check.",
            "customerId": "",
        }
    ]
