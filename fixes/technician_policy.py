"""A-1 and A-3: the policy that blocks CIPP technicians outside the trusted location.

A-1 creates it in report-only, to be validated in the sign-in logs first: every user, the CIPP app
(all cloud apps when PERIMETER_CIPP_APP_ID is not set, with a warning), any location except the
trusted location, grant block. Break-glass accounts are excluded, and so is the CIPP service account:
CIPP's own sign-ins come from its Function App, never from the office.

A-3 switches it on, guarded against lockouts: every break-glass account must be excluded (directly,
through a nested excluded group, or a role: A-2's own rule), and the operator's stated egress IP must
be inside a location the policy excludes. :func:`lockout_refusal` is that guard; the engine runs it
(fixes.guards) on every write whose after-state is an enabled block policy in the MSP tenant, this
fix's and any rollback's alike, on data read just before the write. So does A-4's rule
(:func:`service_account_refusal`): a technician block policy that reaches the CIPP service account is
never switched (or left) on. "The CIPP app" is read as posture reads it (``SnapshotView.cipp_app_ids``:
the configured sign-in app ids, never a CIPP-API client id).
"""

from __future__ import annotations

from typing import Any

from fixes.cidr import parse_address
from fixes.context import POLICIES, FixContext
from fixes.model import FixRequest, FixSpec, Plan, Target
from fixes.plans import (
    create_plan,
    patch_plan,
    policy_target,
    read_policy,
    require_msp,
    unchanged,
)
from fixes.trusted_location import trusted_candidates
from graphjson.values import lower, lower_set, text
from posture.checks.technicians import assess_technician_policy, exclusion_route
from posture.graph import (
    ALL,
    ALL_TRUSTED,
    ENABLED,
    REPORT_ONLY,
    included_applications,
    location_lists,
    policy_name,
    policy_state,
    users_condition,
)
from posture.ranges import address_covered, parse_network
from posture.view import SnapshotView, TenantView, is_ip_location, location_ranges

CREATE_TITLE = "Create the technician block policy (report-only)"
ENABLE_TITLE = "Switch the technician block policy on"
POLICY_NAME = "CIPP - Block technicians outside trusted location (Perimeter)"
REPORT_ONLY_STATE = "enabledForReportingButNotEnforced"


async def plan_create(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    view = await ctx.msp_view(with_policies=True)
    msp = view.msp_tenant
    assert msp is not None
    target = Target("policy", "", POLICY_NAME)
    summary = f"Create '{POLICY_NAME}' in report-only"
    existing = [
        p
        for p in msp.objects("conditionalAccessPolicies") or []  # posture's own app ids
        if assess_technician_policy(p, msp, view.cipp_app_ids, view.api_client_ids).qualifies
    ]
    if existing:
        return unchanged(
            request,
            CREATE_TITLE,
            target,
            None,
            f"'{policy_name(existing[0])}' already blocks technicians outside the trusted location (A-1)",
        )
    break_glass = view.break_glass.accounts if view.break_glass else []
    locations = [n for n in trusted_candidates(msp) if location_ranges(n)]
    missing = (
        "no break-glass account is known (PRE-3): create one, so the block policy can exclude it, before "
        "adding the policy"
        if not break_glass
        else "there is no trusted location with a range for the policy to exempt: add one first "
        "(trusted-location.add-range)"
        if not locations
        else None
    )
    if missing:
        return Plan(request, CREATE_TITLE, summary, target, None, None, refusal=missing)
    excluded = [a.id for a in break_glass]
    upn = ctx.settings.service_account_upn
    service_account = msp.account(upn) if upn else None
    if service_account is not None:
        excluded.append(service_account.id)
    # The app technicians sign in to (CIPP's Static Web App registration), as A-1 reads it: never the
    # CIPP-API client, which technicians do not sign in to.
    app_ids = sorted(view.cipp_app_ids)
    warnings = (
        []
        if app_ids
        else [
            "PERIMETER_CIPP_SIGNIN_APP_IDS is not set, so the policy targets all cloud apps: it will block "
            "every app outside the trusted location, not only CIPP"
        ]
    )
    body = {
        "displayName": POLICY_NAME,
        "state": REPORT_ONLY_STATE,
        "conditions": {
            "clientAppTypes": ["all"],
            "users": {"includeUsers": ["All"], "excludeUsers": excluded},
            "applications": {"includeApplications": app_ids or ["All"]},
            "locations": {
                "includeLocations": ["All"],
                "excludeLocations": [text(n.get("id")) for n in locations],
            },
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    notes = [
        "excludes the break-glass account(s) "
        + ", ".join(a.label for a in break_glass)
        + (f" and the service account {service_account.label}" if service_account else ""),
        "exempts " + ", ".join(f"'{text(n.get('displayName'))}'" for n in locations),
        "report-only: check the sign-in logs, then switch it on (technician-policy.enable)",
    ]
    return create_plan(
        ctx, request, CREATE_TITLE, summary, target, POLICIES, body, warnings=warnings, notes=notes
    )


def excluded_ip_locations(policy: dict[str, Any], msp: TenantView) -> list[dict[str, Any]]:
    """The IP locations the policy exempts (AllTrusted: every trusted one)."""
    _, exclude = location_lists(policy)
    wanted = {lower(v) for v in exclude}
    return [
        n
        for n in msp.objects("namedLocations") or []
        if is_ip_location(n)
        and (lower(n.get("id")) in wanted or (ALL_TRUSTED in wanted and n.get("isTrusted") is True))
    ]


def lockout_refusal(view: SnapshotView, policy: dict[str, Any], egress_ip: str) -> str | None:
    """Why ``policy`` (as it would read after a write: an enabled block policy) could lock people out,
    or None."""
    msp = view.msp_tenant
    assert msp is not None
    name = policy_name(policy)
    break_glass = view.break_glass.accounts if view.break_glass else []
    if not break_glass:
        return (
            f"no break-glass account is known (PRE-3), so enforcing '{name}' risks a lockout: configure "
            "or create one first"
        )
    for account in break_glass:
        route, certain = exclusion_route(policy, account, msp)  # A-2's rule, so guard and check agree
        if route is None:
            why = "" if certain else " (its group or role membership could not be read)"
            return f"'{name}' does not exclude the break-glass account {account.label}{why}: exclude it first"
    if not egress_ip.strip():
        return (
            f"'{name}' would be an enforced block policy: state your egress IP (the public IP your "
            "network reaches Microsoft from) so Perimeter can check that you stay inside a location it "
            "exempts"
        )
    address = parse_address(egress_ip)
    locations = excluded_ip_locations(policy, msp)
    # The union of every exempted location; an IPv4 address and its IPv4-mapped IPv6 form are the same.
    if address_covered(address, [parse_network(r) for n in locations for r in location_ranges(n)]):
        return None
    exempt = ", ".join(f"'{text(n.get('displayName'))}'" for n in locations) or "no IP location"
    return (
        f"your egress IP {address} is not inside {exempt}, which '{name}' exempts: with '{name}' on, it "
        "would block you; add your range to a location it exempts first, or state the IP you really use"
    )


def service_account_refusal(view: SnapshotView, policy: dict[str, Any]) -> str | None:
    """Why ``policy`` (as it would read after a write: an enabled block policy) must not be on because
    it is a technician block policy (A-1) that reaches the CIPP service account (A-4 fails: the rule is
    A-4's own, ``TenantView.reach``), or None."""
    msp = view.msp_tenant
    assert msp is not None
    upn = view.service_account_upn
    account = msp.account(upn) if upn else None
    if (
        account is None
        or not assess_technician_policy(policy, msp, view.cipp_app_ids, view.api_client_ids).qualifies
    ):
        return None
    reach = msp.reach(policy, account.id)
    if reach.reaches is not True:
        return None
    return (
        f"'{policy_name(policy)}' reaches the CIPP service account {account.label} ({reach.included}) "
        "and CIPP signs in from Azure's addresses outside the trusted location, so with it on CIPP "
        "stops (A-4): exclude the service account first"
    )


def _service_account_warning(ctx: FixContext, view: SnapshotView, policy: dict[str, Any]) -> list[str]:
    """A block of all cloud apps for every user catches CIPP's own service account too."""
    upn, users = ctx.settings.service_account_upn, users_condition(policy)
    account = view.msp_tenant.account(upn) if view.msp_tenant is not None and upn else None
    catches_it = (
        account is not None
        and ALL in included_applications(policy)
        and ALL in lower_set(users.get("includeUsers"))
        and lower(account.id) not in lower_set(users.get("excludeUsers"))
    )
    if not catches_it:
        return []
    return [
        f"'{policy_name(policy)}' blocks all cloud apps for every user, the CIPP service account "
        f"{upn} included: CIPP signs in from its Function App, outside the trusted location"
    ]


async def plan_enable(ctx: FixContext, request: FixRequest) -> Plan:
    require_msp(ctx, request)
    if request.egress_ip.strip():
        parse_address(request.egress_ip)  # bad input is told before anything is read
    policy = await read_policy(ctx, request)
    target, name = policy_target(policy), policy_name(policy)
    if policy_state(policy) == ENABLED:
        return unchanged(request, ENABLE_TITLE, target, policy, f"'{name}' is already on")
    view = await ctx.msp_view(with_policies=True)  # with the CIPP-API client ids, as posture reads them
    assert view.msp_tenant is not None
    was = "report-only" if policy_state(policy) == REPORT_ONLY else "off"
    plan = patch_plan(
        ctx,
        request,
        ENABLE_TITLE,
        f"Switch '{name}' on (it is {was})",
        target,
        f"{POLICIES}/{target.id}",
        policy,
        {("state",): ENABLED},
        warnings=_service_account_warning(ctx, view, policy),
    )
    assessment = assess_technician_policy(policy, view.msp_tenant, view.cipp_app_ids, view.api_client_ids)
    if not assessment.qualifies:
        why = "; ".join(assessment.shortfalls or assessment.undecided)
        plan.refusal = f"'{name}' is not a technician block policy ({why}), which is all this fix switches on"
    # The lockout guard and the switch-on evidence run in the engine (fixes.writes.guard) on the
    # plan's after-state, as for every write.
    return plan


CREATE = FixSpec(
    id="technician-policy.create",
    title=CREATE_TITLE,
    checks=("A-1",),
    planner=plan_create,
)
ENABLE = FixSpec(
    id="technician-policy.enable",
    title=ENABLE_TITLE,
    checks=("A-3",),
    target="policy",
    target_required=True,
    needs_egress_ip=True,
    risky=True,
    planner=plan_enable,
)
