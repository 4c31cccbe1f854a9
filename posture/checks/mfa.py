"""MFA-1..3: MFA registration and enforcement in every tenant, the MSP's included."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.check import Check, define_check_per_tenant
from posture.findings import Finding, Status
from posture.graph import (
    ALL,
    GUESTS_OR_EXTERNAL_USERS,
    authentication_strength,
    grant_controls,
    is_enabled,
    location_lists,
    mfa_requirement,
    narrowings,
    policy_id,
    policy_name,
    requires_mfa,
    state_label,
    users_condition,
)
from posture.view import SnapshotView, TenantView


def _label(registration: dict[str, Any]) -> str:
    return text(registration.get("userPrincipalName"), text(registration.get("id")))


def enabled_ids(tenant: TenantView) -> set[str]:
    """The tenant's enabled users' ids (read once per evaluation: MFA-1 and MFA-2 both ask)."""
    return tenant.snapshot.memo(
        f"enabled_ids {id(tenant)}",
        lambda: {key for key, user in tenant.users_by_id.items() if user.get("accountEnabled") is not False},
    )


def is_member(registration: dict[str, Any], tenant: TenantView) -> bool:
    user_type = lower(registration.get("userType")) or lower(
        tenant.users_by_id.get(lower(registration.get("id")), {}).get("userType")
    )
    return user_type == "member"


@define_check_per_tenant(
    "MFA-1",
    severity="high",
    scope="per tenant, the MSP included",
    title="Users are MFA capable",
    rationale="A user who has not registered MFA cannot be asked for it: policies requiring MFA then lock "
    "them out or get weakened.",
)
def users_mfa_capable(check: Check, snapshot: SnapshotView, tenant: TenantView) -> Iterator[Finding]:
    pass_ratio, warn_ratio = snapshot.options.mfa_pass_ratio, snapshot.options.mfa_warn_ratio
    registrations = check.collected(tenant, "userRegistrationDetails", "user registration details")
    if tenant.objects("users") is None:
        yield check.about_tenant(tenant, "n/a", "users were not collected: enabled accounts are unknown")
        return
    enabled = enabled_ids(tenant)
    members = [r for r in registrations if lower(r.get("id")) in enabled and is_member(r, tenant)]
    if not members:
        yield check.about_tenant(tenant, "n/a", "no enabled member user has registration details")
        return
    incapable = [r for r in members if r.get("isMfaCapable") is not True]
    ratio = (len(members) - len(incapable)) / len(members)
    evidence = {
        "enabledMembers": len(members),
        "mfaCapable": len(members) - len(incapable),
        "ratio": round(ratio, 4),
        "passRatio": pass_ratio,
        "warnRatio": warn_ratio,
        "notCapable": [_label(r) for r in incapable[:50]],
    }
    summary = (
        f"{len(members) - len(incapable)} of {len(members)} enabled member users "
        f"({ratio:.1%}) are MFA capable"
    )
    if ratio >= pass_ratio:
        yield check.about_tenant(tenant, "pass", summary, evidence)
    else:
        status: Status = "warn" if ratio >= warn_ratio else "fail"
        yield check.about_tenant(tenant, status, f"{summary}, below {pass_ratio:.0%}", evidence)


@define_check_per_tenant(
    "MFA-2",
    severity="critical",
    scope="per tenant",
    title="Every admin is MFA capable",
    rationale="An administrator without MFA is the easiest way into a tenant.",
)
def admins_mfa_capable(check: Check, snapshot: SnapshotView, tenant: TenantView) -> Iterator[Finding]:
    registrations = check.collected(tenant, "userRegistrationDetails", "user registration details")
    # A disabled account cannot sign in: skip it when the users tell us (they are optional here).
    enabled = enabled_ids(tenant) if tenant.objects("users") is not None else None
    admins = [
        r
        for r in registrations
        if r.get("isAdmin") is True and (enabled is None or lower(r.get("id")) in enabled)
    ]
    if not admins:
        yield check.about_tenant(tenant, "n/a", "no enabled admin in the registration details")
        return
    incapable = [_label(r) for r in admins if r.get("isMfaCapable") is not True]
    evidence = {"admins": len(admins), "notCapable": incapable}
    if incapable:
        named = ", ".join(incapable[:5]) + ("…" if len(incapable) > 5 else "")
        summary = f"{len(incapable)} of {len(admins)} admin(s) are not MFA capable"
        yield check.about_tenant(tenant, "fail", f"{summary}: {named}", evidence)
    else:
        yield check.about_tenant(tenant, "pass", f"all {len(admins)} admin(s) are MFA capable", evidence)


def _counts(policy: dict[str, Any]) -> bool:
    """v2: a policy for users `All` with full coverage that requires MFA by the rule."""
    return (
        ALL in lower_set(users_condition(policy).get("includeUsers"))
        and not narrowings(policy)
        and requires_mfa(policy)
    )


def _near_miss(policy: dict[str, Any]) -> str | None:
    """Why a policy that looks like "MFA for everyone" does not count (None: it does not look like one)."""
    if ALL not in lower_set(users_condition(policy).get("includeUsers")):
        return None
    ok, why = mfa_requirement(policy)
    if not ok:
        looks_like_mfa = "mfa" in grant_controls(policy) or authentication_strength(policy) is not None
        return f"'{policy_name(policy)}': {why}" if looks_like_mfa else None
    narrowed = narrowings(policy)
    return f"'{policy_name(policy)}' is narrowed: {'; '.join(narrowed)}" if narrowed else None


def _break_glass_ids(snapshot: SnapshotView, tenant: TenantView) -> set[str]:
    """The MSP's break-glass accounts; in a client tenant, its users named like one."""
    if tenant.is_msp:
        found = snapshot.break_glass
        return {lower(a.id) for a in found.accounts} if found else set()
    pattern = re.compile(snapshot.options.break_glass_pattern, re.IGNORECASE)
    return {
        lower(u.get("id"))
        for u in tenant.objects("users") or []
        if pattern.search(text(u.get("userPrincipalName"))) or pattern.search(text(u.get("displayName")))
    }


def _group_users(tenant: TenantView, group_id: str) -> set[str] | None:
    """The user ids in a group, nested groups followed (None: the group or its members are unknown)."""
    seen: set[str] = set()
    users: set[str] = set()

    def walk(gid: str) -> bool:
        if gid in seen:
            return True
        seen.add(gid)
        group = tenant.groups_by_id.get(gid)
        if group is None or not isinstance(group.get("members"), list):
            return False
        for member in group["members"]:
            mid = lower(as_dict(member).get("id"))
            if mid in tenant.groups_by_id:
                if not walk(mid):
                    return False
            elif mid:
                users.add(mid)
        return True

    return users if walk(lower(group_id)) else None


def _exceptions(policy: dict[str, Any], tenant: TenantView, allowed: Callable[[str], bool]) -> list[str]:
    """Who and where an enforcing policy leaves out, beyond break-glass accounts and accounts another
    enforcing MFA policy reaches. Guest and external-user exclusions are not named: D-1 requires the
    service-provider one, and MFA-3 is about the tenant's own users."""
    users = users_condition(policy)
    out = []
    for value in as_list(users.get("excludeUsers")):
        if lower(value) != GUESTS_OR_EXTERNAL_USERS and not allowed(lower(value)):
            out.append(f"user {tenant.user_label(str(value))}")
    for group_id in as_list(users.get("excludeGroups")):
        members = _group_users(tenant, str(group_id))
        if members is None:
            out.append(f"group '{tenant.group_name(str(group_id))}' (members not collected)")
        elif not members or not all(allowed(m) for m in members):
            others = [tenant.user_label(m) for m in sorted(members) if not allowed(m)]
            out.append(
                f"group '{tenant.group_name(str(group_id))}'"
                + (f" ({', '.join(others[:5])})" if others else "")
            )
    for role_id in as_list(users.get("excludeRoles")):
        holders = {
            lower(as_dict(m).get("id"))
            for r in tenant.objects("directoryRoles") or []
            if lower(r.get("roleTemplateId")) == lower(role_id)
            for m in as_list(r.get("members"))
        }
        if not holders or not all(allowed(h) for h in holders):
            out.append(f"role {tenant.role_name(str(role_id))}")
    include, exclude = location_lists(policy)
    if exclude:
        out.append(
            "location(s) "
            + ", ".join(tenant.location_label(v) for v in exclude)
            + " (MFA is enforced only elsewhere)"
        )
    if include and ALL not in {lower(v) for v in include}:
        out.append(
            "every location but "
            + ", ".join(tenant.location_label(v) for v in include)
            + " (MFA is enforced only there)"
        )
    return out


@define_check_per_tenant(
    "MFA-3",
    severity="high",
    scope="per tenant",
    title="MFA is enforced for all users",
    rationale="Registered MFA protects only when it is required: security defaults or a policy for everyone.",
)
def mfa_enforced(check: Check, snapshot: SnapshotView, tenant: TenantView) -> Iterator[Finding]:
    defaults = tenant.raw.get("securityDefaults")
    defaults_on = defaults.get("isEnabled") if isinstance(defaults, dict) else None
    if defaults_on is True:
        yield check.about_tenant(tenant, "pass", "security defaults are on", {"securityDefaults": True})
        return
    policies = check.collected(tenant, "conditionalAccessPolicies", "Conditional Access policies")
    candidates = [p for p in policies if _counts(p)]
    enforced = [p for p in candidates if is_enabled(p)]
    near = [n for p in policies if (n := _near_miss(p))]
    evidence: dict[str, Any] = {
        "securityDefaults": defaults_on,
        "policies": [
            {
                "id": policy_id(p),
                "name": policy_name(p),
                "state": p.get("state"),
                "grant": mfa_requirement(p)[1],
            }
            for p in candidates
        ],
        "notCounted": near,
    }
    if enforced:
        yield _judge_exceptions(check, snapshot, tenant, policies, enforced, evidence)
    elif defaults_on is None:
        yield check.about_tenant(
            tenant,
            "n/a",
            "no policy enforces MFA for all users, and security defaults were not collected",
            evidence,
        )
    else:
        states = [f"'{policy_name(p)}' is {state_label(p)}" for p in candidates]
        detail = f" ({'; '.join(states + near)})" if states or near else ""
        yield check.about_tenant(
            tenant,
            "fail",
            "MFA is not enforced for all users: security defaults "
            "are off and no enabled policy requires MFA for all users and all cloud "
            f"apps with full coverage{detail}",
            evidence,
        )


def _judge_exceptions(
    check: Check,
    snapshot: SnapshotView,
    tenant: TenantView,
    policies: list[dict[str, Any]],
    enforced: list[dict[str, Any]],
    evidence: dict[str, Any],
) -> Finding:
    break_glass = _break_glass_ids(snapshot, tenant)
    # Any enabled full-coverage MFA policy (e.g. the service account's own) covers whom it reaches.
    enforcing = [p for p in policies if is_enabled(p) and not narrowings(p) and requires_mfa(p)]
    judged = []
    for policy in enforced:

        def allowed(user_id: str, policy: dict[str, Any] = policy) -> bool:
            return user_id in break_glass or any(
                tenant.reach(other, user_id).reaches is True for other in enforcing if other is not policy
            )

        judged.append((policy, _exceptions(policy, tenant, allowed)))
    judged.sort(key=lambda pair: len(pair[1]))
    policy, exceptions = judged[0]
    evidence.update(
        enforcing=policy_id(policy),
        exceptions=exceptions,
        state=policy.get("state"),
        grant=mfa_requirement(policy)[1],
    )
    if not exceptions:
        return check.about_tenant(
            tenant,
            "pass",
            f"'{policy_name(policy)}' requires MFA for all users and "
            f"all cloud apps with full coverage ({mfa_requirement(policy)[1]}); it "
            "excludes only break-glass accounts or accounts another MFA policy covers",
            evidence,
        )
    return check.about_tenant(
        tenant,
        "warn",
        f"'{policy_name(policy)}' requires MFA for all users except: {'; '.join(exceptions)}",
        evidence,
    )
