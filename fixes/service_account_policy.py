"""B-1..B-5: the CIPP service account's dedicated Conditional Access policy.

B-1 creates it: only the service account, all cloud apps, grant MFA, sign-in frequency every time, no
location condition. It is created in report-only, like the technician policy: validate it in the
sign-in logs, then switch it on with B-5 (a report-only policy fails B-5, so the operator is told).
B-2..B-5 change one property each of a policy that includes the service account directly:

- B-2 require MFA: the grant becomes exactly "require MFA" (operator OR, `mfa`). Other built-in
  controls are dropped, and the plan names them: OR-ing MFA with e.g. a compliant device would let
  the device alone satisfy it, and a cloud service account has no device anyway. Custom controls
  (third-party MFA, which B-9 refuses), terms of use and a non-MFA authentication strength go too.
- B-3 sign-in frequency every time (`sessionControls.signInFrequency`).
- B-4 remove the location condition (`conditions.locations` becomes null).
- B-5 switch it on.
"""

from __future__ import annotations

import copy
from typing import Any

from fixes.context import POLICIES, FixContext
from fixes.model import BadInput, FixRequest, FixSpec, Plan, Target
from fixes.plans import (
    create_plan,
    patch_plan,
    policy_target,
    read_policy,
    require_msp,
    unchanged,
)
from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.graph import (
    ALL,
    ENABLED,
    location_lists,
    policy_name,
    policy_state,
    requires_mfa,
    strength_is_mfa,
    users_condition,
)

CREATE_TITLE = "Create the service-account policy (report-only)"
MFA_TITLE = "Require MFA in the service-account policy"
FREQUENCY_TITLE = "Sign-in frequency every time for the service account"
LOCATIONS_TITLE = "Remove location conditions from the service-account policy"
ENABLE_TITLE = "Switch the service-account policy on"
POLICY_NAME = "CIPP - Service account: MFA every time (Perimeter)"
REPORT_ONLY_STATE = "enabledForReportingButNotEnforced"
EVERY_TIME = {
    "isEnabled": True,
    "frequencyInterval": "everyTime",
    "authenticationType": "primaryAndSecondaryAuthentication",
    "type": None,
    "value": None,
}


async def _service_account(ctx: FixContext) -> dict[str, Any]:
    upn = ctx.settings.service_account_upn
    if not upn:
        raise BadInput("no service account is configured (PERIMETER_SERVICE_ACCOUNT_UPN)")
    account = await ctx.user(ctx.msp_tenant_id, upn)
    if account is None:
        raise BadInput(f"the service account {upn} does not exist in the MSP tenant")
    return account


def _includes(policy: dict[str, Any], account: dict[str, Any]) -> bool:
    return lower(account.get("id")) in lower_set(users_condition(policy).get("includeUsers"))


def _only_for(policy: dict[str, Any], account: dict[str, Any]) -> bool:
    """Whether the policy includes the account and nobody else (what B-1 passes)."""
    users = users_condition(policy)
    return (
        lower_set(users.get("includeUsers")) == {lower(account.get("id"))}
        and not as_list(users.get("includeGroups"))
        and not as_list(users.get("includeRoles"))
        and not users.get("includeGuestsOrExternalUsers")
    )


async def _service_account_policy(ctx: FixContext, request: FixRequest) -> tuple[dict[str, Any], Target]:
    """The target policy, which must include the service account directly (B-1's definition)."""
    require_msp(ctx, request)
    policy = await read_policy(ctx, request)
    account = await _service_account(ctx)
    if not _includes(policy, account):
        raise BadInput(
            f"'{policy_name(policy)}' does not include the service account "
            f"{account.get('userPrincipalName')} directly: it is not the service-account policy"
        )
    return policy, policy_target(policy)


def _patch(
    ctx: FixContext,
    request: FixRequest,
    title: str,
    summary: str,
    policy: dict[str, Any],
    target: Target,
    changes: dict[tuple[str, ...], Any],
    notes: list[str] | None = None,
) -> Plan:
    return patch_plan(
        ctx, request, title, summary, target, f"{POLICIES}/{target.id}", policy, changes, notes=notes
    )


async def plan_create(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    account = await _service_account(ctx)
    upn, account_id = text(account.get("userPrincipalName")), text(account.get("id"))
    target = Target("policy", "", POLICY_NAME)
    policies = await ctx.all(ctx.msp_tenant_id, POLICIES)
    dedicated = [p for p in policies if _only_for(p, account)]
    if dedicated:
        return unchanged(
            request,
            CREATE_TITLE,
            target,
            None,
            f"'{policy_name(dedicated[0])}' is already the service account's own policy",
        )
    body = {
        "displayName": POLICY_NAME,
        "state": REPORT_ONLY_STATE,
        "conditions": {
            "clientAppTypes": ["all"],
            "users": {"includeUsers": [account_id]},
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "sessionControls": {"signInFrequency": EVERY_TIME},
    }
    return create_plan(
        ctx,
        request,
        CREATE_TITLE,
        f"Create '{POLICY_NAME}' for {upn} in report-only",
        target,
        POLICIES,
        body,
        notes=["report-only: check the sign-in logs, then switch it on (service-account-policy.enable)"],
    )


async def plan_require_mfa(ctx: FixContext, request: FixRequest) -> Plan:
    policy, target = await _service_account_policy(ctx, request)
    if requires_mfa(policy):
        return unchanged(request, MFA_TITLE, target, policy, f"'{target.name}' already requires MFA")
    grant = copy.deepcopy(as_dict(policy.get("grantControls")))
    dropped = [str(c) for c in as_list(grant.get("builtInControls")) if lower(c) != "mfa"]
    dropped += [f"custom control '{c}'" for c in as_list(grant.get("customAuthenticationFactors"))]
    dropped += [f"terms of use '{t}'" for t in as_list(grant.get("termsOfUse"))]
    strength = grant.get("authenticationStrength")
    keep_strength = isinstance(strength, dict) and strength_is_mfa(strength)
    if strength is not None and not keep_strength:
        dropped.append(f"authentication strength '{text(as_dict(strength).get('displayName'), 'unnamed')}'")
    # Graph refuses `mfa` beside an authentication strength: an MFA strength stays, alone.
    grant.update(
        operator="OR",
        builtInControls=[] if keep_strength else ["mfa"],
        customAuthenticationFactors=[],
        termsOfUse=[],
        authenticationStrength=strength if keep_strength else None,
    )
    notes = (
        [
            f"the grant becomes 'require MFA' alone; {', '.join(dropped)} "
            f"{'is' if len(dropped) == 1 else 'are'} dropped"
        ]
        if dropped
        else []
    )
    return _patch(
        ctx,
        request,
        MFA_TITLE,
        f"Require MFA in '{target.name}'",
        policy,
        target,
        {("grantControls",): grant},
        notes,
    )


async def plan_every_time(ctx: FixContext, request: FixRequest) -> Plan:
    policy, target = await _service_account_policy(ctx, request)
    frequency = as_dict(as_dict(policy.get("sessionControls")).get("signInFrequency"))
    if frequency.get("isEnabled") is True and lower(frequency.get("frequencyInterval")) == "everytime":
        return unchanged(request, FREQUENCY_TITLE, target, policy, f"'{target.name}' already asks every time")
    return _patch(
        ctx,
        request,
        FREQUENCY_TITLE,
        f"Set sign-in frequency to every time in '{target.name}'",
        policy,
        target,
        {("sessionControls", "signInFrequency"): EVERY_TIME},
    )


async def plan_remove_locations(ctx: FixContext, request: FixRequest) -> Plan:
    policy, target = await _service_account_policy(ctx, request)
    include, exclude = location_lists(policy)
    if {lower(v) for v in include} <= {ALL} and not exclude:
        return unchanged(
            request, LOCATIONS_TITLE, target, policy, f"'{target.name}' has no location condition"
        )
    return _patch(
        ctx,
        request,
        LOCATIONS_TITLE,
        f"Remove the location condition of '{target.name}'",
        policy,
        target,
        {("conditions", "locations"): None},
    )


async def plan_enable(ctx: FixContext, request: FixRequest) -> Plan:
    policy, target = await _service_account_policy(ctx, request)
    if policy_state(policy) == ENABLED:
        return unchanged(request, ENABLE_TITLE, target, policy, f"'{target.name}' is already on")
    notes = (
        []
        if requires_mfa(policy)
        else [f"'{target.name}' does not require MFA yet (service-account-policy.require-mfa)"]
    )
    plan = _patch(
        ctx, request, ENABLE_TITLE, f"Switch '{target.name}' on", policy, target, {("state",): ENABLED}, notes
    )
    return plan


def _spec(fix_id: str, title: str, check: str, planner: Any, target: bool = True) -> FixSpec:
    return FixSpec(
        id=fix_id,
        title=title,
        checks=(check,),
        planner=planner,
        target="policy" if target else "",
        target_required=target,
    )


CREATE = _spec("service-account-policy.create", CREATE_TITLE, "B-1", plan_create, target=False)
REQUIRE_MFA = _spec("service-account-policy.require-mfa", MFA_TITLE, "B-2", plan_require_mfa)
SIGN_IN_EVERY_TIME = _spec(
    "service-account-policy.sign-in-every-time", FREQUENCY_TITLE, "B-3", plan_every_time
)
REMOVE_LOCATIONS = _spec(
    "service-account-policy.remove-locations", LOCATIONS_TITLE, "B-4", plan_remove_locations
)
ENABLE = _spec("service-account-policy.enable", ENABLE_TITLE, "B-5", plan_enable)
