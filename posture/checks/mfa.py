"""MFA-1..3: MFA registration and enforcement in every tenant, the MSP's included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from posture.check import Check, define_check
from posture.findings import Finding
from posture.graph import (
    ALL,
    ENABLED,
    REPORT_ONLY,
    included_applications,
    lower,
    lower_set,
    policy_id,
    policy_name,
    policy_state,
    requires_mfa,
    text,
    users_condition,
)
from posture.view import SnapshotView, TenantView


def _label(registration: dict[str, Any]) -> str:
    return text(registration.get("userPrincipalName"), text(registration.get("id")))


def _enabled_ids(tenant: TenantView) -> set[str]:
    return {key for key, user in tenant.users_by_id.items() if user.get("accountEnabled") is not False}


def _is_member(registration: dict[str, Any], tenant: TenantView) -> bool:
    user_type = lower(registration.get("userType")) or lower(
        tenant.users_by_id.get(lower(registration.get("id")), {}).get("userType"))
    return user_type == "member"


@define_check(
    "MFA-1", severity="high", scope="per tenant, the MSP included", title="Users are MFA capable",
    rationale="A user who has not registered MFA cannot be asked for it: policies requiring MFA then lock "
              "them out or get weakened.")
def users_mfa_capable(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    pass_ratio, warn_ratio = snapshot.options.mfa_pass_ratio, snapshot.options.mfa_warn_ratio
    for tenant in snapshot.tenants:
        registrations = tenant.objects("userRegistrationDetails")
        if registrations is None:
            yield check.about_tenant(tenant, "n/a", "user registration details were not collected")
            continue
        if tenant.objects("users") is None:
            yield check.about_tenant(tenant, "n/a", "users were not collected: enabled accounts are unknown")
            continue
        enabled = _enabled_ids(tenant)
        members = [r for r in registrations if lower(r.get("id")) in enabled and _is_member(r, tenant)]
        if not members:
            yield check.about_tenant(tenant, "n/a", "no enabled member user has registration details")
            continue
        incapable = [r for r in members if r.get("isMfaCapable") is not True]
        ratio = (len(members) - len(incapable)) / len(members)
        evidence = {"enabledMembers": len(members), "mfaCapable": len(members) - len(incapable),
                    "ratio": round(ratio, 4), "passRatio": pass_ratio, "warnRatio": warn_ratio,
                    "notCapable": [_label(r) for r in incapable[:50]]}
        summary = (f"{len(members) - len(incapable)} of {len(members)} enabled member users "
                   f"({ratio:.1%}) are MFA capable")
        if ratio >= pass_ratio:
            yield check.about_tenant(tenant, "pass", summary, evidence)
        else:
            status = "warn" if ratio >= warn_ratio else "fail"
            yield check.about_tenant(tenant, status, f"{summary}, below {pass_ratio:.0%}", evidence)


@define_check(
    "MFA-2", severity="critical", scope="per tenant", title="Every admin is MFA capable",
    rationale="An administrator without MFA is the easiest way into a tenant.")
def admins_mfa_capable(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    for tenant in snapshot.tenants:
        registrations = tenant.objects("userRegistrationDetails")
        if registrations is None:
            yield check.about_tenant(tenant, "n/a", "user registration details were not collected")
            continue
        # A disabled account cannot sign in: skip it when the users tell us (they are optional here).
        enabled = _enabled_ids(tenant) if tenant.objects("users") is not None else None
        admins = [r for r in registrations if r.get("isAdmin") is True
                  and (enabled is None or lower(r.get("id")) in enabled)]
        if not admins:
            yield check.about_tenant(tenant, "n/a", "no enabled admin in the registration details")
            continue
        incapable = [_label(r) for r in admins if r.get("isMfaCapable") is not True]
        evidence = {"admins": len(admins), "notCapable": incapable}
        if incapable:
            named = ", ".join(incapable[:5]) + ("…" if len(incapable) > 5 else "")
            summary = f"{len(incapable)} of {len(admins)} admin(s) are not MFA capable"
            yield check.about_tenant(tenant, "fail", f"{summary}: {named}", evidence)
        else:
            yield check.about_tenant(tenant, "pass", f"all {len(admins)} admin(s) are MFA capable", evidence)


def _mfa_for_everyone(policy: dict[str, Any]) -> bool:
    return (ALL in lower_set(users_condition(policy).get("includeUsers"))
            and ALL in included_applications(policy) and requires_mfa(policy))


@define_check(
    "MFA-3", severity="high", scope="per tenant", title="MFA is enforced for all users",
    rationale="Registered MFA protects only when it is required: security defaults or a policy for everyone.")
def mfa_enforced(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    for tenant in snapshot.tenants:
        defaults = tenant.raw.get("securityDefaults")
        defaults_on = defaults.get("isEnabled") if isinstance(defaults, dict) else None
        policies = tenant.objects("conditionalAccessPolicies")
        if defaults_on is True:
            yield check.about_tenant(tenant, "pass", "security defaults are on", {"securityDefaults": True})
            continue
        if policies is None:
            yield check.about_tenant(tenant, "n/a", "Conditional Access policies were not collected")
            continue
        candidates = [p for p in policies if _mfa_for_everyone(p)]
        enforced = [p for p in candidates if policy_state(p) == ENABLED]
        evidence: dict[str, Any] = {"securityDefaults": defaults_on,
                                    "policies": [{"id": policy_id(p), "name": policy_name(p),
                                                  "state": p.get("state")} for p in candidates]}
        if enforced:
            yield check.about_tenant(tenant, "pass", f"'{policy_name(enforced[0])}' requires MFA for all "
                                     "users and all cloud apps", evidence)
        elif defaults_on is None:
            yield check.about_tenant(tenant, "n/a", "no policy enforces MFA for all users, and security "
                                     "defaults were not collected", evidence)
        else:
            near = [f"'{policy_name(p)}' is {'report-only' if policy_state(p) == REPORT_ONLY else 'off'}"
                    for p in candidates]
            detail = f" ({'; '.join(near)})" if near else ""
            yield check.about_tenant(tenant, "fail", "MFA is not enforced for all users: security defaults "
                                     "are off and no enabled policy requires MFA for all users and all cloud "
                                     f"apps{detail}", evidence)
