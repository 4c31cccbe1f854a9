"""C-1/C-2 and C-3: CIPP-API clients' Allowed IP Ranges, and the Azure configuration.

set-ranges writes a client's ranges with `ExecApiClient?Action=AddUpdate`, resending the client's
role, enabled flag and MCP flag as read (AddUpdate replaces the row). With ranges given they are
parsed strictly (fixes.cidr); without, the client's current ranges are normalised to a form CIPP
accepts (``::`` written out, host bits dropped to the network CIPP enforces, ``/0`` left out), with a
warning for each change of meaning.

save-to-azure runs `ExecApiClient?Action=SaveToAzure`, which pushes the *enabled client ids* to the
Function App's authentication. It cannot be rolled back: CIPP-API has no way to write an arbitrary
id list, and the list it replaced is the one C-3 flags (ids that skip CIPP's IP check, or disabled
clients still accepted). To change what Azure accepts, enable or disable clients and save again.
"""

from __future__ import annotations

from typing import Any

from fixes.cidr import Range, RangeError, merge_duplicates, parse_range, parse_ranges, warnings_for
from fixes.context import FixContext
from fixes.model import SAVE_IRREVERSIBLE, BadInput, FixRequest, FixSpec, Plan, Target
from fixes.plans import require_msp, require_target, unchanged
from graphjson.values import lower, text
from posture.checks.cipp import azure_client_ids, client_id, client_name, client_ranges, is_any
from posture.ranges import CIPP_RANGE_RE, judge_cipp_range

RANGES_TITLE = "Set an API client's IP ranges"
SAVE_TITLE = "Save the API configuration to Azure"


def add_update_body(client: dict[str, Any], ranges: list[str]) -> dict[str, Any]:
    """AddUpdate replaces the client's row: everything but the ranges is sent back as read."""
    body: dict[str, Any] = {
        "ClientId": client_id(client),
        "AppName": text(client.get("AppName")),
        "Role": {"value": client.get("Role")},
        "IPRange": [{"value": r} for r in ranges],
        "Enabled": client.get("Enabled") is True,
    }
    if "MCPAllowed" in client:  # only CIPP versions from June 2026 have it
        body["MCPAllowed"] = client.get("MCPAllowed") is True
    return body


def restore_refusal(client: dict[str, Any]) -> str | None:
    """Why AddUpdate cannot write ``client``'s ranges back exactly (None: it can)."""
    name, ranges = client_name(client), client_ranges(client) or []
    if ranges == []:
        return (
            f"'{name}' had an empty IPRange ([]), which AddUpdate cannot write: sending no range would "
            "open the client to any IP instead"
        )
    rejected = [r for r in ranges if not is_any([r]) and not CIPP_RANGE_RE.match(r)]
    if rejected:
        return (
            f"CIPP's save validation rejects {', '.join(rejected)}, so the previous ranges of '{name}' "
            "cannot be written back"
        )
    return None


def restore_ranges(client: dict[str, Any]) -> list[str]:
    """The AddUpdate ranges that read back as ``client``'s: none for ["Any"]."""
    ranges = client_ranges(client) or []
    return [] if is_any(ranges) else ranges


async def read_client(ctx: FixContext, wanted: str) -> dict[str, Any] | None:
    return next((c for c in await ctx.api_clients() if lower(client_id(c)) == lower(wanted)), None)


def _normalised_current(client: dict[str, Any]) -> tuple[list[Range], list[str], list[str]]:
    """The client's own ranges in a form CIPP accepts: (ranges, warnings, notes)."""
    name, current = client_name(client), client_ranges(client) or []
    if not current or is_any(current):
        raise BadInput(f"'{name}' has no ranges to normalise: give the ranges it calls from")
    kept, warnings = [], []
    for value in current:
        try:
            item = parse_range(value, host_bits="network")
        except RangeError as error:
            warnings.append(f"{value} is left out: {error}")
            continue
        if item.note:
            warnings.append(item.note)
        kept.append(item)
    ranges, notes = merge_duplicates(kept)
    if not ranges:
        raise BadInput(
            f"none of '{name}''s ranges can be kept ({', '.join(current)}): give the ranges it calls from"
        )
    return ranges, warnings + [w for r in ranges for w in warnings_for(r, "cipp")], notes


async def plan_set_ranges(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    wanted = require_target(request, "API client")
    typed = parse_ranges(request.ranges, "cipp") if request.ranges else None  # bad input before any read
    client = await read_client(ctx, wanted)
    if client is None:
        raise BadInput(f"CIPP has no API client {wanted}")
    name = client_name(client)
    target = Target("apiClient", client_id(client), name)
    ranges, warnings, notes = typed or _normalised_current(client)
    new = [r.text for r in ranges]
    if new == client_ranges(client):
        return unchanged(
            request, RANGES_TITLE, target, client, f"'{name}' is already limited to {', '.join(new)}"
        )
    reopens = (
        (
            f"rolling back would open '{name}' to any IP again, which is refused like any write that "
            "does: set other ranges instead"
        )
        if is_any(client_ranges(client) or [])
        else None
    )
    plan = Plan(
        request,
        RANGES_TITLE,
        f"Limit '{name}' to {', '.join(new)}",
        target,
        client,
        {**client, "IPRange": new},
        [ctx.cipp_call("AddUpdate", add_update_body(client, new))],
        warnings=warnings,
        notes=notes,
        irreversible=restore_refusal(client) or reopens,
    )
    if client.get("Enabled") is not True:
        plan.notes.append(f"'{name}' is disabled: CIPP refuses its calls whatever its ranges")
    return plan


async def read_azure_state(ctx: FixContext) -> dict[str, Any]:
    """C-3's target: the Azure configuration and the client table it should mirror."""
    clients = [
        {
            "ClientId": client_id(c),
            "AppName": c.get("AppName"),
            "Enabled": c.get("Enabled"),
            "IPRange": c.get("IPRange"),
        }
        for c in await ctx.api_clients()
    ]
    return {"azureConfiguration": await ctx.azure_configuration(), "apiClients": clients}


def azure_ids(state: Any) -> set[str]:
    configuration = state.get("azureConfiguration") if isinstance(state, dict) else None
    return {lower(i) for i in azure_client_ids(configuration if isinstance(configuration, dict) else {})}


def _reach(client: dict[str, Any]) -> str | None:
    """How widely a client Azure is about to accept can call CIPP, when that is worth a warning."""
    ranges = client_ranges(client) or []
    if is_any(ranges):
        return "from any IP (it has no ranges)"
    problems = [
        f"{r} ({'; '.join(v.problems)})" for r in ranges if (v := judge_cipp_range(r)).status != "pass"
    ]
    return f"from {', '.join(problems)}" if problems else None


async def plan_save_to_azure(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    before = await read_azure_state(ctx)
    configuration = before["azureConfiguration"]
    target = Target("azureConfiguration", ctx.msp_tenant_id, "CIPP API configuration in Azure")
    if configuration.get("Error") is not None or isinstance(configuration.get("Enabled"), str):
        raise BadInput(f"CIPP could not read its Azure configuration: {configuration.get('Enabled')}")
    enabled = [c for c in before["apiClients"] if c["Enabled"] is True]
    accepted = azure_ids(before)
    if {lower(c["ClientId"]) for c in enabled} == accepted:
        return unchanged(
            request, SAVE_TITLE, target, before, "Azure already accepts exactly the enabled clients"
        )
    after = {**before, "azureConfiguration": {**configuration, "ClientIDs": [c["ClientId"] for c in enabled]}}
    plan = Plan(
        request,
        SAVE_TITLE,
        "Save the enabled API clients to Azure",
        target,
        before,
        after,
        [ctx.cipp_call("SaveToAzure", {"Action": "SaveToAzure"})],
        irreversible=SAVE_IRREVERSIBLE,
    )
    for client in enabled:
        if lower(client["ClientId"]) not in accepted:
            line, reach = f"Azure starts accepting '{client_name(client)}'", _reach(client)
            if reach:
                plan.warnings.append(f"{line}: it can then call CIPP {reach}")
            else:
                plan.notes.append(line)
    known = {lower(c["ClientId"]): c for c in before["apiClients"]}
    for gone in sorted(accepted - {lower(c["ClientId"]) for c in enabled}):
        client = known.get(gone)
        why = "disabled in CIPP" if client else "not in CIPP's client table: its calls skip the IP check"
        plan.notes.append(f"Azure stops accepting {client_name(client) if client else gone} ({why})")
    return plan


SET_RANGES = FixSpec(
    id="api-client.set-ranges",
    title=RANGES_TITLE,
    checks=("C-1", "C-2"),
    target="apiClient",
    target_required=True,
    ranges="optional",
    planner=plan_set_ranges,
)
SAVE_TO_AZURE = FixSpec(
    id="api-config.save-to-azure",
    title=SAVE_TITLE,
    checks=("C-3",),
    planner=plan_save_to_azure,
)
