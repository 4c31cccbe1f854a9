"""Small builders the fix families share: checking the request, and plans for Graph objects."""

from __future__ import annotations

import re
from typing import Any

from db.policy_outcomes import policy_impact
from fixes.context import FixContext
from fixes.graph_json import Path, merge_patch, patch_body
from fixes.model import BadInput, FixRequest, Plan, Target, shown_text
from graphjson.values import lower, text
from investigate.impact import LOCKOUT_ROLES, SERVICE_PROVIDER, TECHNICIAN, People, evidence
from posture.graph import policy_id, policy_name
from posture.view import SnapshotView

# Graph object ids and CIPP client ids are GUIDs; anything else must never reach a URL path.
_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")


def checked_id(value: str, what: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise BadInput(f"'{shown_text(value)}' is not a valid {what} id")
    return value


def require_msp(ctx: FixContext, request: FixRequest) -> None:
    if lower(request.tenant_id) != lower(ctx.msp_tenant_id):
        raise BadInput(
            f"{request.fix_id} changes the MSP tenant ({ctx.msp_tenant_id}) only, not {request.tenant_id}"
        )


def require_target(request: FixRequest, what: str) -> str:
    if not request.target_id.strip():
        raise BadInput(f"{request.fix_id} needs the {what} id (--target)")
    return checked_id(request.target_id.strip(), what)


def policy_target(policy: dict[str, Any]) -> Target:
    return Target("policy", policy_id(policy), policy_name(policy))


async def read_policy(ctx: FixContext, request: FixRequest) -> dict[str, Any]:
    """The request's target policy, read fresh."""
    wanted = require_target(request, "policy")
    policy = await ctx.policy(request.tenant_id, wanted)
    if policy is None:
        raise BadInput(f"no Conditional Access policy {wanted} in tenant {request.tenant_id}")
    return policy


def patch_plan(
    ctx: FixContext,
    request: FixRequest,
    title: str,
    summary: str,
    target: Target,
    path: str,
    before: dict[str, Any],
    changes: dict[Path, Any],
    *,
    warnings: list[str] | None = None,
    notes: list[str] | None = None,
) -> Plan:
    """A PATCH of only ``changes`` (each path sent as a complete sub-object) to ``path``."""
    body = patch_body(before, changes)
    return Plan(
        request,
        title,
        summary,
        target,
        before,
        merge_patch(before, body),
        [ctx.graph_call(request.tenant_id, "PATCH", path, body)],
        warnings=warnings or [],
        notes=notes or [],
    )


def create_plan(
    ctx: FixContext,
    request: FixRequest,
    title: str,
    summary: str,
    target: Target,
    collection: str,
    body: dict[str, Any],
    *,
    warnings: list[str] | None = None,
    notes: list[str] | None = None,
) -> Plan:
    """A POST creating a new object in ``collection`` (nothing before it)."""
    return Plan(
        request,
        title,
        summary,
        target,
        None,
        body,
        [ctx.graph_call(request.tenant_id, "POST", collection, body)],
        warnings=warnings or [],
        notes=notes or [],
    )


def unchanged(request: FixRequest, title: str, target: Target, before: Any, why: str) -> Plan:
    return Plan(request, title, f"nothing to change: {why}", target, before, before, unchanged=True)


# --- switching a policy on: the evidence of its report-only results ---------------------------------


def _people(ctx: FixContext) -> People:
    settings = ctx.settings
    return People(
        settings.msp_tenant_id,
        settings.service_account_upn,
        frozenset(u.lower() for u in settings.break_glass_upns),
    )


def _excluded_now(view: SnapshotView | None, tenant_id: str, policy: dict[str, Any], upn: str) -> bool:
    """Whether ``policy`` as read now leaves the MSP tenant's account ``upn`` out (A-4's reach rule)."""
    msp = view.msp_tenant if view is not None else None
    if msp is None or lower(tenant_id) != lower(msp.subject.id):
        return False
    account = msp.account(upn)
    return account is not None and msp.reach(policy, account.id).reaches is False


async def switch_on_evidence(ctx: FixContext, plan: Plan, policy: dict[str, Any]) -> None:
    """Judge a plan that switches ``policy`` On by what the policy did in report-only (its results in
    the last 14 days, db.policy_outcomes.policy_impact, as the Report-only impact page shows them):

    - refused when it would have blocked or interrupted the CIPP service account, a break-glass
      account or the MSP's service-provider users (an MSP account the policy as read now excludes
      no longer counts: the exclusion was added since);
    - warned (acknowledgement needed) when it would have blocked a technician, or when the evidence
      is thin (report-only under 24 h since its last change, or no sign-in it applied to).

    The evidence goes into the plan (shown with it) and so into its audit record (fixes.engine)."""
    now = ctx.clock()
    in_msp = lower(plan.tenant_id) == lower(ctx.msp_tenant_id)
    view = await ctx.msp_view(with_policies=True) if in_msp else None
    msp = view.msp_tenant if view is not None else None
    with ctx.db.connect() as conn:
        impact = policy_impact(
            conn,
            plan.tenant_id,
            text(policy.get("id")),
            now,
            _people(ctx),
            trusted_names={n.lower() for n in ctx.settings.trusted_location_names},
            policy=policy,
            named_locations=msp.objects("namedLocations") if msp is not None else None,
        )
    if impact is None:
        return
    plan.evidence = evidence(impact, now)
    plan.notes.append(f"Evidence: {impact.sentence()}")
    name = policy_name(policy)
    blocked = []
    for role in LOCKOUT_ROLES:
        upns = [
            upn
            for upn in impact.flagged.get(role, ())
            if role == SERVICE_PROVIDER or not _excluded_now(view, plan.tenant_id, policy, upn)
        ]
        if upns:
            blocked.append(f"the {role}{'s' if len(upns) > 1 else ''} {', '.join(upns[:3])}")
    if blocked and plan.refusal is None:
        plan.refusal = (
            f"in report-only, '{name}' would have blocked {' and '.join(blocked)} in the last "
            f"{impact.days} days: with it on, they are locked out. Exclude them first (the Report-only "
            "impact page lists their sign-ins)"
        )
    technicians = impact.flagged.get(TECHNICIAN, ())
    if technicians:
        count = impact.role_signins.get(TECHNICIAN, 0)
        offices = ", ".join(o.ip for o in impact.range_offers[:3])
        where = f", from {offices} outside the trusted location: add an office IP there first (LOC-1)"
        plan.warnings.append(
            f"in report-only, '{name}' would have blocked {count} sign-in(s) of {len(technicians)} "
            f"technician(s) ({', '.join(technicians[:3])}) in the last {impact.days} days"
            + (where if offices else "")
        )
    for reason in impact.thin_evidence(now):
        plan.warnings.append(f"thin evidence for switching '{name}' on: {reason}")
