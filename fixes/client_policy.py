"""D-1: a client tenant's policy must exclude the MSP's own people.

GDAP tenants: `excludeGuestsOrExternalUsers` gets the `serviceProvider` flag, and its `externalTenants`
must cover the MSP tenant. What is there is kept: `guestOrExternalUserTypes` is ONE comma-separated
string, so the flag is appended to the existing ones; an `externalTenants` of `all` stays `all`
(narrowing it would stop excluding guests the policy excludes today); an enumerated list gains the
MSP tenant id. Direct tenants: the service account's object id in that tenant joins `excludeUsers`.
Either way the whole `conditions.users` object is sent, built from the policy just read.
"""

from __future__ import annotations

import copy
from typing import Any

from fixes.context import POLICIES, FixContext
from fixes.model import BadInput, FixRequest, FixSpec, Plan
from fixes.plans import patch_plan, policy_target, read_policy, unchanged
from posture.checks.clients import gdap_exclusion
from posture.graph import (
    as_dict,
    as_list,
    external_tenants_cover,
    guest_types,
    lower,
    lower_set,
    policy_name,
    text,
    users_condition,
)

TITLE = "Exclude the MSP's people from a client policy"
SERVICE_PROVIDER_FLAG = "serviceProvider"
ENUMERATED = "#microsoft.graph.conditionalAccessEnumeratedExternalTenants"


def with_flag(types: Any, flag: str) -> str:
    """The comma-separated flags with ``flag`` appended unless present (existing order kept)."""
    parts = types.split(",") if isinstance(types, str) else [str(v) for v in as_list(types)]
    kept = [p.strip() for p in parts if p.strip()]
    if flag.lower() not in {p.lower() for p in kept}:
        kept.append(flag)
    return ",".join(kept)


def with_service_provider(excluded: Any, msp_tenant_id: str) -> dict[str, Any]:
    """`excludeGuestsOrExternalUsers` that also excludes service-provider users of the MSP tenant."""
    if not guest_types(excluded):
        return {"guestOrExternalUserTypes": SERVICE_PROVIDER_FLAG,
                "externalTenants": {"@odata.type": ENUMERATED, "membershipKind": "enumerated",
                                    "members": [msp_tenant_id]}}
    updated = copy.deepcopy(as_dict(excluded))
    updated["guestOrExternalUserTypes"] = with_flag(updated.get("guestOrExternalUserTypes"),
                                                    SERVICE_PROVIDER_FLAG)
    if not external_tenants_cover(updated, msp_tenant_id):
        tenants = as_dict(updated.get("externalTenants"))
        updated["externalTenants"] = {**tenants, "members": [*as_list(tenants.get("members")), msp_tenant_id]}
    return updated


async def plan_exclusion(ctx: FixContext, request: FixRequest) -> Plan:
    facts = await ctx.client_tenant(request.tenant_id)
    policy = await read_policy(ctx, request)
    target, name = policy_target(policy), policy_name(policy)
    users = copy.deepcopy(users_condition(policy))
    if facts.access_mode == "direct":
        account = await ctx.user(request.tenant_id, facts.service_account_upn)
        if account is None:
            raise BadInput(f"the service account {facts.service_account_upn} does not exist in {facts.name}")
        account_id = text(account.get("id"))
        excluded = [str(v) for v in as_list(users.get("excludeUsers"))]
        if lower(account_id) in lower_set(excluded):
            return unchanged(request, TITLE, target, policy,
                             f"'{name}' already excludes the service account {facts.service_account_upn}")
        users["excludeUsers"] = [*excluded, account_id]
        summary = (f"Exclude the service account {facts.service_account_upn} from '{name}' in {facts.name} "
                   "(direct tenant)")
    else:
        msp = ctx.msp_tenant_id
        done, words = gdap_exclusion(policy, msp)
        if done:
            return unchanged(request, TITLE, target, policy, f"'{name}' already excludes them: {words}")
        users["excludeGuestsOrExternalUsers"] = with_service_provider(
            users.get("excludeGuestsOrExternalUsers"), msp)
        summary = f"Exclude service-provider users of the MSP tenant from '{name}' in {facts.name} (GDAP)"
    return patch_plan(ctx, request, TITLE, summary, target, f"{POLICIES}/{target.id}", policy,
                      {("conditions", "users"): users})


EXCLUDE_SERVICE_PROVIDER = FixSpec(
    id="client-policy.exclude-service-provider", title=TITLE, checks=("D-1",), scope="client",
    target="policy", target_required=True, ranges="none", needs_egress_ip=False, risky=False,
    planner=plan_exclusion)
