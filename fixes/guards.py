"""One guard set for every write, forward fixes and rollbacks alike, judged on the state the write
would produce (the plan's ``after``; None for a delete).

The engine calls :func:`write_refusal` on every plan it makes (a fix's or a rollback's, so a rollback is
judged exactly like a forward fix) and again on the plan rebased onto the target as read just before the
write. No fix module guards these on its own.

Named locations (trusted-location.add-range; a rollback's PATCH, or the DELETE undoing a created one):

- a trusted location is never left without a range (deleting it counts);
- the union of its ranges must not cover every IPv4 or every IPv6 address (``0.0.0.0/1`` plus
  ``128.0.0.0/1`` is refused like ``0.0.0.0/0``; IPv4-mapped IPv6 ranges count as IPv4);
- while an enabled policy in the MSP tenant with grant ``block`` exempts the location (its
  ``excludeLocations`` holds the location's id, or ``AllTrusted`` and the location is trusted), a write
  that takes coverage away needs the operator's stated egress IP, and that IP must still be inside the
  union of the locations the policy exempts after the write. A write that only adds needs no egress IP.

Policies in the MSP tenant: when the after-state is an enabled policy with grant ``block``, the lockout
guard (:func:`fixes.technician_policy.lockout_refusal`: every break-glass account excluded by A-2's rule,
the egress IP inside a location the policy exempts) runs on that after-state, and so does A-4's rule
(:func:`fixes.technician_policy.service_account_refusal`): a technician block policy (A-1) that reaches
the CIPP service account (not excluded through user, group or role, ``TenantView.reach``) is not left on.

Switching a policy On, in any tenant, by any fix or rollback (technician-policy.enable A-3,
service-account-policy.enable B-5, undoing a rollback, any later fix on a client policy): the engine's
guard (fixes.writes.guard) first calls :func:`fixes.plans.switch_on_evidence` on every plan whose
before-state is a policy not on and whose after-state is on. It reads the policy's report-only results
in the last 14 days (db.policy_outcomes.policy_impact, as the Report-only impact page shows them). It
refuses when the policy would have blocked or interrupted the CIPP service account, a break-glass
account or the MSP's service-provider users (unless the policy, as read now, excludes that account); it
warns when it would have blocked a technician, or when the evidence is thin (report-only for under 24 h
since its last change, or no sign-in it applied to). The evidence goes into the plan and its audit
record.

API clients (api-client.set-ranges and its rollback): the ranges after the write must not be ``["Any"]``
(open to any IP) and their union must not cover every address.
"""

from __future__ import annotations

from typing import Any

from fixes import trusted_location
from fixes.cidr import parse_address
from fixes.context import FixContext
from fixes.model import Plan
from fixes.technician_policy import excluded_ip_locations, lockout_refusal, service_account_refusal
from graphjson.values import lower, text
from posture.checks.cipp import client_name, client_ranges, is_any
from posture.graph import ALL_TRUSTED, ENABLED, grant_controls, location_lists, policy_name, policy_state
from posture.ranges import address_covered, covered_by, covers_every_address, parse_network
from posture.view import is_ip_location, location_ranges

STATE_YOUR_EGRESS_IP = (
    "state your egress IP (the public IP your network reaches Microsoft from) so "
    "Perimeter can check that you stay inside a location the policy exempts"
)


async def write_refusal(ctx: FixContext, plan: Plan, egress_ip: str) -> str | None:
    """Why the write of ``plan`` must not happen (one sentence naming the target and what to do), or
    None. Raises RangeError for an egress IP that is not one IP address."""
    if not plan.requests:
        return None
    kind = plan.target.type
    if kind == "namedLocation":
        return await _location_refusal(ctx, plan, egress_ip)
    if kind == "policy":
        return await _policy_refusal(ctx, plan, egress_ip)
    if kind == "apiClient":
        return _client_refusal(plan.after)
    return None


def _versions(versions: list[int]) -> str:
    return " and every ".join(f"IPv{v}" for v in versions)


def _is_msp(ctx: FixContext, plan: Plan) -> bool:
    return lower(plan.tenant_id) == lower(ctx.msp_tenant_id)


# --- named locations -----------------------------------------------------------------------------------


def _exempts(policy: dict[str, Any], location: Any, location_id: str) -> bool:
    """Whether ``policy`` exempts ``location`` (as it reads in one state; None: deleted)."""
    if not isinstance(location, dict) or not is_ip_location(location):
        return False
    _, exclude = location_lists(policy)
    wanted = {lower(v) for v in exclude}
    return lower(location_id) in wanted or (ALL_TRUSTED in wanted and location.get("isTrusted") is True)


def _networks(location: Any) -> list[Any]:
    return [parse_network(r) for r in location_ranges(location)] if isinstance(location, dict) else []


def takes_coverage_away(before: Any, after: Any) -> bool:
    """Whether some address the location held before the write is not held after it (a delete, or a
    range removed, or the location no longer trusted)."""
    if not isinstance(before, dict):
        return False  # created: nothing was covered before
    held = [n for n in _networks(before) if n is not None]
    if not isinstance(after, dict):
        return bool(held) or before.get("isTrusted") is True
    if before.get("isTrusted") is True and after.get("isTrusted") is not True:
        return True
    remaining = _networks(after)
    return any(not covered_by(n, remaining) for n in held)


async def _location_refusal(ctx: FixContext, plan: Plan, egress_ip: str) -> str | None:
    before, after = plan.before, plan.after
    shown = after if isinstance(after, dict) else before if isinstance(before, dict) else {}
    name = text(shown.get("displayName"), plan.target.name)
    refusal = trusted_location.emptied_refusal(after, before)
    if refusal:
        return refusal
    covered = covers_every_address(_networks(after))
    if covered:
        ranges = ", ".join(location_ranges(after))
        return (
            f"this would leave '{name}' covering every {_versions(covered)} address ({ranges} together), "
            "which exempts the whole internet: keep its ranges to the addresses your people use"
        )
    if not _is_msp(ctx, plan) or not takes_coverage_away(before, after):
        return None
    view = await ctx.msp_view(with_policies=True)
    msp = view.msp_tenant
    assert msp is not None
    location_id = plan.target.id
    blocking = [
        p
        for p in msp.objects("conditionalAccessPolicies") or []
        if policy_state(p) == ENABLED
        and "block" in grant_controls(p)
        and (_exempts(p, before, location_id) or _exempts(p, after, location_id))
    ]
    if not blocking:
        return None
    first = policy_name(blocking[0])
    if not egress_ip.strip():
        return (
            f"'{first}' is on and exempts '{name}', and this write takes ranges away from it: "
            f"{STATE_YOUR_EGRESS_IP}"
        )
    address = parse_address(egress_ip)
    for policy in blocking:
        exempt = [n for n in excluded_ip_locations(policy, msp) if lower(n.get("id")) != lower(location_id)]
        if _exempts(policy, after, location_id):
            exempt.append(after)
        if not address_covered(address, [n for location in exempt for n in _networks(location)]):
            names = ", ".join(f"'{text(n.get('displayName'))}'" for n in exempt) or "no IP location"
            return (
                f"after this write your egress IP {address} would be outside every location "
                f"'{policy_name(policy)}' exempts ({names}), and that policy is on, so it would block "
                f"you: keep your own range in '{name}', or state the IP you really reach Microsoft from"
            )
    return None


# --- policies -----------------------------------------------------------------------------------------


async def _policy_refusal(ctx: FixContext, plan: Plan, egress_ip: str) -> str | None:
    after = plan.after
    if not _is_msp(ctx, plan) or not isinstance(after, dict):
        return None
    if policy_state(after) != ENABLED or "block" not in grant_controls(after):
        return None
    view = await ctx.msp_view(with_policies=True)  # with the CIPP-API client ids
    return lockout_refusal(view, after, egress_ip) or service_account_refusal(view, after)


# --- API clients --------------------------------------------------------------------------------------


def _client_refusal(after: Any) -> str | None:
    if not isinstance(after, dict):
        return None
    name, ranges = client_name(after), client_ranges(after)
    if ranges is None:
        return None
    if is_any(ranges):
        return (
            f"this would open the API client '{name}' to any IP (IPRange [\"Any\"]): set its ranges "
            "instead (api-client.set-ranges with the ranges it calls from)"
        )
    covered = covers_every_address(parse_network(r) for r in ranges)
    if covered:
        return (
            f"the ranges of the API client '{name}' would together cover every {_versions(covered)} "
            f"address ({', '.join(ranges)}), which opens it to any IP: set narrower ranges "
            "(api-client.set-ranges with the ranges it calls from)"
        )
    return None
