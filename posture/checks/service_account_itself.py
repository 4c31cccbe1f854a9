"""B-7..B-9 (Part B): the CIPP service account itself — its roles, the MFA of its sign-ins, the Microsoft
MFA it has registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphjson.values import as_dict, as_list, lower, text
from posture.check import Check, define_check
from posture.checks.service_account import service_account_or_na, service_account_policies
from posture.findings import Finding
from posture.graph import (
    GLOBAL_ADMIN_TEMPLATE_ID,
    policy_name,
    requires_mfa,
    signin_error_code,
)
from posture.view import SnapshotView


@define_check(
    "B-7",
    severity="medium",
    scope="MSP",
    title="The service account is in AdminAgents, not Global Administrator",
    rationale="AdminAgents gives CIPP its partner access; a standing Global Administrator role is more than "
    "it needs.",
)
def service_account_roles(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp, account = service_account_or_na(check, snapshot)
    groups = check.require(msp.objects("groups"), msp, "the MSP tenant's groups were not collected")
    admin_agents = [g for g in groups if lower(g.get("displayName")) == "adminagents"]
    evidence: dict[str, Any] = {
        "serviceAccount": account.as_evidence(),
        "adminAgentsGroupIds": [text(g.get("id")) for g in admin_agents],
    }
    if not admin_agents:
        yield check.about_tenant(msp, "fail", "the MSP tenant has no AdminAgents group", evidence)
        return
    if not all(isinstance(g.get("members"), list) for g in admin_agents):
        yield check.about_tenant(msp, "n/a", "AdminAgents was collected without its members", evidence)
        return
    direct = any(lower(as_dict(m).get("id")) == lower(account.id) for g in admin_agents for m in g["members"])
    if not direct:
        nested = next(
            (path for g in admin_agents if (path := msp.group_path(account.id, text(g.get("id"))))), None
        )
        detail = (
            f": it is only a nested member (through {' > '.join(repr(p) for p in nested[1:])}), which "
            "Partner Center ignores"
            if nested
            else ""
        )
        yield check.about_tenant(
            msp, "fail", f"{account.label} is not a member of AdminAgents{detail}", evidence
        )
        return
    roles = msp.role_template_ids_of(account.id)
    if roles is None:
        yield check.about_tenant(
            msp,
            "n/a",
            f"{account.label} is in AdminAgents, but directory roles were "
            "not collected to check Global Administrator",
            evidence,
        )
        return
    evidence["roleTemplateIds"] = sorted(roles)
    if GLOBAL_ADMIN_TEMPLATE_ID in roles:
        yield check.about_tenant(
            msp,
            "warn",
            f"{account.label} is in AdminAgents but still holds Global Administrator: remove the role",
            evidence,
        )
    else:
        yield check.about_tenant(
            msp, "pass", f"{account.label} is in AdminAgents and is not Global Administrator", evidence
        )


@define_check(
    "B-8",
    severity="high",
    scope="MSP",
    title="The service account's sign-ins satisfied MFA",
    rationale="Proof from the logs that the service-account policy really enforces MFA.",
)
def service_account_signins_mfa(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp, account = service_account_or_na(check, snapshot)
    signins = check.require(msp.signins_in_window(), msp, "the MSP tenant's sign-ins were not collected")
    mine = [
        s
        for s in signins
        if lower(s.get("userId")) == lower(account.id)
        or (account.upn and lower(s.get("userPrincipalName")) == lower(account.upn))
    ]
    successful = [s for s in mine if signin_error_code(s) == 0]
    evidence: dict[str, Any] = {
        "serviceAccount": account.as_evidence(),
        **snapshot.window_evidence(),
        "signIns": len(mine),
        "successful": len(successful),
    }
    if not successful:
        yield check.about_tenant(
            msp, "n/a", f"no successful sign-in of {account.label} in the window", evidence
        )
        return
    requirements = [(s, lower(s.get("authenticationRequirement"))) for s in successful]
    single = [
        s for s, requirement in requirements if requirement and requirement != "multifactorauthentication"
    ]
    known = [s for s, requirement in requirements if requirement]
    evidence["singleFactor"] = [
        {
            "id": text(s.get("id")),
            "createdDateTime": s.get("createdDateTime"),
            "appDisplayName": s.get("appDisplayName"),
            "ipAddress": s.get("ipAddress"),
        }
        for s in single[:20]
    ]
    if single:
        first = single[0]
        yield check.about_tenant(
            msp,
            "fail",
            f"{len(single)} of {len(successful)} successful sign-in(s) of {account.label} in "
            f"the window did not satisfy MFA (first: {first.get('appDisplayName') or 'an app'} from "
            f"{first.get('ipAddress')} at {first.get('createdDateTime')})",
            evidence,
        )
    elif not known:
        yield check.about_tenant(
            msp,
            "n/a",
            "the sign-ins carry no authenticationRequirement (collect them from the beta endpoint)",
            evidence,
        )
    else:
        yield check.about_tenant(
            msp,
            "pass",
            f"all {len(known)} successful sign-in(s) of {account.label} in the window satisfied MFA",
            evidence,
        )


def _custom_mfa(policy: dict[str, Any]) -> list[str]:
    """Custom controls through which the policy lets MFA be satisfied (not when AND with Microsoft MFA)."""
    grant = as_dict(policy.get("grantControls"))
    custom = [str(c) for c in as_list(grant.get("customAuthenticationFactors"))]
    if custom and lower(grant.get("operator")) == "and" and requires_mfa(policy):
        return []
    return custom


@define_check(
    "B-9",
    severity="high",
    scope="MSP",
    title="The service account uses Microsoft MFA",
    rationale="CIPP's service account must prove itself with Microsoft MFA it has registered, not with a "
    "third-party custom control.",
)
def service_account_microsoft_mfa(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp, account = service_account_or_na(check, snapshot)
    registrations = check.require(
        msp.objects("userRegistrationDetails"),
        msp,
        "the MSP tenant's user registration details were not collected",
    )
    row = next(
        (
            r
            for r in registrations
            if lower(r.get("id")) == lower(account.id)
            or (account.upn and lower(r.get("userPrincipalName")) == lower(account.upn))
        ),
        None,
    )
    if row is None:
        yield check.about_tenant(
            msp,
            "n/a",
            f"no registration details for {account.label}",
            {"serviceAccount": account.as_evidence()},
        )
        return
    methods: Any = row.get("methodsRegistered")  # untyped Graph JSON: a list when registered
    found, _ = service_account_policies(snapshot)
    custom = {policy_name(p): _custom_mfa(p) for p in (found.policies if found else [])}
    custom = {name: controls for name, controls in custom.items() if controls}
    evidence: dict[str, Any] = {
        "serviceAccount": account.as_evidence(),
        "isMfaRegistered": row.get("isMfaRegistered"),
        "methodsRegistered": methods,
        "customControls": custom,
    }
    problems = []
    if row.get("isMfaRegistered") is not True:
        problems.append("it has not registered MFA (isMfaRegistered is not true)")
    if not isinstance(methods, list):
        problems.append("unreadable methodsRegistered" if methods is not None else "no methods registered")
    elif not methods:
        problems.append("no authentication method is registered")
    problems += [
        f"'{name}' lets custom control(s) {', '.join(controls)} satisfy MFA (not Microsoft MFA)"
        for name, controls in custom.items()
    ]
    if problems:
        yield check.about_tenant(msp, "fail", f"{account.label}: {'; '.join(problems)}", evidence)
    else:
        yield check.about_tenant(
            msp,
            "pass",
            f"{account.label} has registered Microsoft MFA "
            f"({', '.join(str(m) for m in methods)}) and no service-account policy "
            "accepts a custom control instead",
            evidence,
        )
