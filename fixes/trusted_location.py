"""LOC-1: add a range (e.g. a blocked technician's IP as /32) to the trusted IP named location, or
create that location when the MSP has none.

Which location: the one named by ``target_id``; else the trusted IP locations that count
(PERIMETER_TRUSTED_LOCATION_NAMES, else every trusted IP location) without a /0 range (a location
that trusts everything is no place to add to). Exactly one must remain, else the request must name
one. The PATCH sends the whole `ipRanges` list (existing ranges as read, then the new ones) with the
location's `@odata.type`, which Graph requires on named-location writes.

The guards of every write to a named location (rollbacks included) live in fixes.guards, which the
engine runs on every plan: a trusted location is never left without a range (:func:`emptied_refusal`),
never covers every address, and never leaves the operator outside an enabled block policy's exemption.
"""

from __future__ import annotations

from typing import Any

from fixes.cidr import Range, parse_ranges, warnings_for
from fixes.context import NAMED_LOCATIONS, FixContext
from fixes.model import BadInput, FixRequest, FixSpec, Plan, Target
from fixes.plans import create_plan, patch_plan, require_msp, require_target, unchanged
from graphjson.values import as_list, text
from posture.ranges import covers_every_address, parse_network, unmapped
from posture.view import TenantView, is_ip_location, location_ranges

TITLE = "Add a range to the trusted location"
IP_LOCATION = "#microsoft.graph.ipNamedLocation"
NEW_LOCATION_NAME = "Trusted - MSP egress (Perimeter)"


def ip_range(item: Range) -> dict[str, str]:
    kind = "iPv4CidrRange" if item.network.version == 4 else "iPv6CidrRange"
    return {"@odata.type": f"#microsoft.graph.{kind}", "cidrAddress": item.text}


def _trusts_everything(location: dict[str, Any]) -> bool:
    """Whether the union of the location's ranges is every IPv4 or every IPv6 address."""
    return bool(covers_every_address(parse_network(r) for r in location_ranges(location)))


def trusted_candidates(msp: TenantView) -> list[dict[str, Any]]:
    """The trusted IP locations that count (settings' names, else all), leaving out any whose ranges
    together cover every address."""
    return [n for n in msp.trusted_locations() or [] if not _trusts_everything(n)]


def emptied_refusal(location: Any, before: Any = None) -> str | None:
    """A write must not leave a trusted location without ranges: ``location`` as it would read after
    the write (None when deleted), ``before`` as it reads now."""
    trusted = isinstance(location, dict) and location.get("isTrusted") is True
    if trusted and not as_list(location.get("ipRanges")):
        return (
            f"this would leave the trusted location '{text(location.get('displayName'))}' without any "
            "range: everyone it exempts from the block policy would be locked out"
        )
    if location is None and isinstance(before, dict) and before.get("isTrusted") is True:
        return (
            f"deleting the trusted location '{text(before.get('displayName'))}' would take away every "
            "range it trusts, locking out everyone it exempts from the block policy: remove it by hand "
            "once nothing relies on it"
        )
    return None


async def _location(ctx: FixContext, request: FixRequest, msp: TenantView) -> dict[str, Any] | None:
    """The location to add to (read fresh), or None when a new one must be created."""
    if request.target_id.strip():
        wanted = require_target(request, "named location")
        location = await ctx.named_location(request.tenant_id, wanted)
        if location is None:
            raise BadInput(f"no named location {wanted} in the MSP tenant")
        if not is_ip_location(location) or location.get("isTrusted") is not True:
            raise BadInput(f"'{text(location.get('displayName'))}' is not a trusted IP named location")
        return location
    candidates = trusted_candidates(msp)
    if len(candidates) > 1:
        names = ", ".join(f"'{text(n.get('displayName'))}' ({n.get('id')})" for n in candidates)
        raise BadInput(f"several trusted locations could take the range ({names}): name one (--target)")
    if not candidates:
        return None
    return await ctx.named_location(request.tenant_id, text(candidates[0].get("id")))


async def plan_add_range(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    ranges, warnings, notes = parse_ranges(request.ranges, "trusted")
    view = await ctx.msp_view()
    assert view.msp_tenant is not None
    location = await _location(ctx, request, view.msp_tenant)
    listed = ", ".join(r.text for r in ranges)
    if location is None:
        name = (
            ctx.settings.trusted_location_names[0]
            if ctx.settings.trusted_location_names
            else NEW_LOCATION_NAME
        )
        body = {
            "@odata.type": IP_LOCATION,
            "displayName": name,
            "isTrusted": True,
            "ipRanges": [ip_range(r) for r in ranges],
        }
        notes.append("the MSP tenant has no trusted IP location: a new one is created")
        return create_plan(
            ctx,
            request,
            TITLE,
            f"Create the trusted location '{name}' with {listed}",
            Target("namedLocation", "", name),
            NAMED_LOCATIONS,
            body,
            warnings=warnings,
            notes=notes,
        )
    name = text(location.get("displayName"))
    target = Target("namedLocation", text(location.get("id")), name)
    present = {unmapped(n) for n in map(parse_network, location_ranges(location)) if n is not None}
    new = [r for r in ranges if r.network not in present]
    notes += [f"{r.text} is already in '{name}'" for r in ranges if r.network in present]
    if not new:
        return unchanged(request, TITLE, target, location, f"'{name}' already holds {listed}")
    changes = {
        ("@odata.type",): location.get("@odata.type") or IP_LOCATION,
        ("ipRanges",): [*as_list(location.get("ipRanges")), *map(ip_range, new)],
    }
    summary = f"Add {', '.join(r.text for r in new)} to the trusted location '{name}'"
    return patch_plan(
        ctx,
        request,
        TITLE,
        summary,
        target,
        f"{NAMED_LOCATIONS}/{target.id}",
        location,
        changes,
        warnings=[w for r in new for w in warnings_for(r, "trusted")],
        notes=notes,
    )


ADD_RANGE = FixSpec(
    id="trusted-location.add-range",
    title=TITLE,
    checks=("LOC-1",),
    target="namedLocation",
    ranges="required",
    planner=plan_add_range,
)
