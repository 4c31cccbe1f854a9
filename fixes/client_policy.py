"""D-1: a client tenant's policy must exclude the MSP's own people.

GDAP tenants: `excludeGuestsOrExternalUsers` gets the `serviceProvider` flag, and its `externalTenants`
must cover the MSP tenant. What is there is kept: `guestOrExternalUserTypes` is ONE comma-separated
string, so the flag is appended to the existing ones; an `externalTenants` of `all` stays `all`
(narrowing it would stop excluding guests the policy excludes today); an enumerated list gains the
MSP tenant id. The exclusion is ONE object: every listed type is excluded for every listed tenant, so
adding the flag or the tenant can exclude others too. The plan computes the (type, tenant) pairs
excluded before and after (:func:`excluded_pairs`) and warns, naming each pair that becomes excluded
besides (serviceProvider, the MSP tenant): the operator acknowledges it before the apply. Direct
tenants: the service account's object id in that tenant joins `excludeUsers`.
Either way the whole `conditions.users` object is sent, built from the policy just read.
"""

from __future__ import annotations

import copy
from typing import Any

from fixes.context import POLICIES, FixContext
from fixes.model import BadInput, FixRequest, FixSpec, Plan
from fixes.plans import patch_plan, policy_target, read_policy, unchanged
from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.checks.clients import gdap_exclusion
from posture.graph import ALL, external_tenants_cover, guest_types, policy_name, users_condition

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
        return {
            "guestOrExternalUserTypes": SERVICE_PROVIDER_FLAG,
            "externalTenants": {
                "@odata.type": ENUMERATED,
                "membershipKind": "enumerated",
                "members": [msp_tenant_id],
            },
        }
    updated = copy.deepcopy(as_dict(excluded))
    updated["guestOrExternalUserTypes"] = with_flag(
        updated.get("guestOrExternalUserTypes"), SERVICE_PROVIDER_FLAG
    )
    if not external_tenants_cover(updated, msp_tenant_id):
        tenants = as_dict(updated.get("externalTenants"))
        updated["externalTenants"] = {**tenants, "members": [*as_list(tenants.get("members")), msp_tenant_id]}
    return updated


EVERY_TENANT = "*"
TENANT_INDEPENDENT = {"internalguest"}  # the tenant's own guests: externalTenants does not apply to them


def excluded_pairs(excluded: Any) -> set[tuple[str, str]]:
    """The (type, tenant) pairs an `excludeGuestsOrExternalUsers` object excludes: every type for every
    tenant ("*": every external tenant; also for a type externalTenants does not apply to)."""
    if not isinstance(excluded, dict):
        return set()
    raw = as_dict(excluded.get("externalTenants"))
    kind = lower(raw.get("membershipKind"))
    if not raw or kind == ALL or (not kind and lower(raw.get("@odata.type")).endswith("allexternaltenants")):
        tenants = {EVERY_TENANT}
    else:
        tenants = lower_set(raw.get("members"))
    written = {
        lower(p.strip()): p.strip()
        for p in with_flag(excluded.get("guestOrExternalUserTypes"), "").split(",")
        if p.strip()
    }
    return {
        (name, EVERY_TENANT if key in TENANT_INDEPENDENT else tenant)
        for key, name in written.items()
        for tenant in tenants
    }


def _pair_words(pair: tuple[str, str], msp_tenant_id: str) -> str:
    kind, tenant = pair
    if tenant == EVERY_TENANT:
        return f"{kind} users of every external tenant"
    return f"{kind} users of tenant {tenant}" + (" (the MSP)" if tenant == lower(msp_tenant_id) else "")


def widening_warnings(before: Any, after: Any, msp_tenant_id: str) -> list[str]:
    """A warning naming each (type, tenant) pair excluded after but not before, besides the MSP's
    service-provider users (the exclusion is one object, so its types and tenants combine)."""
    had = excluded_pairs(before)
    wanted = (lower(SERVICE_PROVIDER_FLAG), lower(msp_tenant_id))
    extra = sorted(pair for pair in excluded_pairs(after) - had if (lower(pair[0]), pair[1]) != wanted)
    if not extra:
        return []
    return [
        "excludeGuestsOrExternalUsers is one object (every listed type for every listed tenant), so "
        "besides the MSP's service-provider users this also excludes "
        + ", ".join(_pair_words(p, msp_tenant_id) for p in extra)
        + ": they would no longer get this policy"
    ]


async def plan_exclusion(ctx: FixContext, request: FixRequest) -> Plan:
    facts = await ctx.client_tenant(request.tenant_id)
    policy = await read_policy(ctx, request)
    target, name = policy_target(policy), policy_name(policy)
    users = copy.deepcopy(users_condition(policy))
    warnings: list[str] = []
    if facts.access_mode == "direct":
        account = await ctx.user(request.tenant_id, facts.service_account_upn)
        if account is None:
            raise BadInput(f"the service account {facts.service_account_upn} does not exist in {facts.name}")
        account_id = text(account.get("id"))
        excluded = [str(v) for v in as_list(users.get("excludeUsers"))]
        if lower(account_id) in lower_set(excluded):
            return unchanged(
                request,
                TITLE,
                target,
                policy,
                f"'{name}' already excludes the service account {facts.service_account_upn}",
            )
        users["excludeUsers"] = [*excluded, account_id]
        summary = (
            f"Exclude the service account {facts.service_account_upn} from '{name}' in {facts.name} "
            "(direct tenant)"
        )
    else:
        msp = ctx.msp_tenant_id
        done, words = gdap_exclusion(policy, msp)
        if done:
            return unchanged(request, TITLE, target, policy, f"'{name}' already excludes them: {words}")
        previous = users.get("excludeGuestsOrExternalUsers")
        users["excludeGuestsOrExternalUsers"] = with_service_provider(previous, msp)
        warnings = widening_warnings(previous, users["excludeGuestsOrExternalUsers"], msp)
        summary = f"Exclude service-provider users of the MSP tenant from '{name}' in {facts.name} (GDAP)"
    return patch_plan(
        ctx,
        request,
        TITLE,
        summary,
        target,
        f"{POLICIES}/{target.id}",
        policy,
        {("conditions", "users"): users},
        warnings=warnings,
    )


EXCLUDE_SERVICE_PROVIDER = FixSpec(
    id="client-policy.exclude-service-provider",
    title=TITLE,
    checks=("D-1",),
    scope="client",
    target="policy",
    target_required=True,
    planner=plan_exclusion,
)
