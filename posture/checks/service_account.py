"""B-1..9 (Part B): the CIPP service account and its dedicated Conditional Access policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.check import Check, define_check, define_check_per_policy, policy_subject
from posture.findings import Finding
from posture.graph import (
    ALL,
    ENABLED,
    GLOBAL_ADMIN_TEMPLATE_ID,
    GUESTS_OR_EXTERNAL_USERS,
    REPORT_ONLY,
    authentication_strength,
    grant_controls,
    grant_words,
    guest_types,
    location_lists,
    mfa_requirement,
    narrowings,
    policy_id,
    policy_name,
    policy_state,
    requires_mfa,
    signin_error_code,
    state_label,
    users_condition,
)
from posture.view import Account, SnapshotView, TenantView


@dataclass
class ServiceAccountPolicies:
    account: Account
    policies: list[dict[str, Any]]  # policies including the account directly


def _resolve(snapshot: SnapshotView) -> tuple[TenantView | None, Account | None, str]:
    """(MSP tenant, service account, why it could not be resolved)."""
    msp = snapshot.msp_tenant
    if msp is None:
        return None, None, "the MSP tenant (role 'msp') is not in the snapshot"
    upn = snapshot.service_account_upn
    if not upn:
        return msp, None, "no service account is configured (msp.serviceAccountUpn)"
    if msp.objects("users") is None:
        return msp, None, "the MSP tenant's users were not collected"
    account = msp.account(upn)
    if account is None:
        return msp, None, f"the service account {upn} is not among the MSP tenant's users"
    return msp, account, ""


def service_account_policies(snapshot: SnapshotView) -> tuple[ServiceAccountPolicies | None, str]:
    """B-1's policies, shared with B-2..B-6; or None and the reason."""

    def compute() -> tuple[ServiceAccountPolicies | None, str]:
        msp, account, why = _resolve(snapshot)
        if msp is None or account is None:
            return None, why
        policies = msp.objects("conditionalAccessPolicies")
        if policies is None:
            return None, "the MSP tenant's Conditional Access policies were not collected"
        including = [
            p for p in policies if lower(account.id) in lower_set(users_condition(p).get("includeUsers"))
        ]
        return ServiceAccountPolicies(account, including), ""

    return snapshot.memo("service_account_policies", compute)


def _service_account(check: Check, snapshot: SnapshotView) -> tuple[TenantView, Account]:
    """The MSP tenant and its service account, which B-7..B-9 judge (unknown: the check ends with an n/a)."""
    msp = check.require_msp(snapshot)
    _, account, why = _resolve(snapshot)
    if account is None:
        raise check.not_applicable(msp, why)
    return msp, account


def _found_policies(check: Check, snapshot: SnapshotView) -> tuple[TenantView, ServiceAccountPolicies]:
    """The MSP tenant and B-1's policies (when they cannot be known, the check ends with an n/a)."""
    msp = check.require_msp(snapshot)
    found, why = service_account_policies(snapshot)
    if found is None:
        raise check.not_applicable(msp, why)
    return msp, found


def _other_members(policy: dict[str, Any], account: Account, msp: TenantView) -> list[str]:
    """Who else the policy includes, in words."""
    users = users_condition(policy)
    others = []
    for value in as_list(users.get("includeUsers")):
        if lower(value) == lower(account.id):
            continue
        if lower(value) == ALL:
            others.append("all users")
        elif lower(value) == GUESTS_OR_EXTERNAL_USERS:
            others.append("guests and external users")
        elif lower(value) != "none":
            others.append(f"user {msp.user_label(str(value))}")
    others += [f"group '{msp.group_name(str(g))}'" for g in as_list(users.get("includeGroups"))]
    others += [f"role '{msp.role_name(str(r))}'" for r in as_list(users.get("includeRoles"))]
    included_guests = users.get("includeGuestsOrExternalUsers")
    if guest_types(included_guests):
        written = as_dict(included_guests).get("guestOrExternalUserTypes")
        others.append(f"guest or external user types '{written}'")
    return others


def _reaching_policies(policies: list[dict[str, Any]], account: Account) -> list[str]:
    """Policies that touch the account without including it directly (for a failing B-1's message)."""
    notes = []
    for policy in policies:
        users = users_condition(policy)
        if lower(account.id) in lower_set(users.get("excludeUsers")):
            notes.append(f"'{policy_name(policy)}' excludes it")
        elif ALL in lower_set(users.get("includeUsers")):
            notes.append(f"'{policy_name(policy)}' reaches it only through 'All'")
    return notes


@define_check(
    "B-1",
    severity="critical",
    scope="MSP",
    title="A dedicated policy for the CIPP service account",
    rationale="CIPP's service account holds delegated admin rights to every client: it needs its own strict "
    "policy.",
    fix="service-account-policy.create",
)
def service_account_policy(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp, found = _found_policies(check, snapshot)
    account = found.account
    if not found.policies:
        notes = _reaching_policies(msp.objects("conditionalAccessPolicies") or [], account)
        detail = f" ({'; '.join(notes)})" if notes else ""
        yield check.about_tenant(
            msp,
            "fail",
            f"no policy includes the service account {account.label} directly{detail}",
            {"serviceAccount": account.as_evidence(), "related": notes},
        )
        return
    for policy in found.policies:
        others = _other_members(policy, account, msp)
        excluded = msp.reach(policy, account.id).excluded
        evidence = {
            "policyId": policy_id(policy),
            "state": policy.get("state"),
            "serviceAccount": account.as_evidence(),
            "alsoIncludes": others,
            "excluded": excluded,
        }
        if excluded:
            yield check.finding(
                msp,
                "fail",
                policy_subject(policy),
                f"'{policy_name(policy)}' includes {account.label} but the service account "
                f"is {excluded}: exclusion wins, so the policy never applies to it. Remove "
                "the service account from that exclusion",
                evidence,
                fixable=False,
            )
        elif others:
            yield check.finding(
                msp,
                "warn",
                policy_subject(policy),
                f"'{policy_name(policy)}' includes {account.label} but also "
                f"{', '.join(others)}: the service account's policy should include only that "
                "account",
                evidence,
                fixable=False,
            )
        else:
            yield check.finding(
                msp,
                "pass",
                policy_subject(policy),
                f"'{policy_name(policy)}' includes only the service account {account.label}",
                evidence,
            )


def _including_policies(check: Check, snapshot: SnapshotView) -> tuple[TenantView, list[dict[str, Any]]]:
    """What B-2..B-6 judge: B-1's policies, at least one (else a single n/a for the MSP tenant says why)."""
    msp, found = _found_policies(check, snapshot)
    if not found.policies:
        raise check.not_applicable(msp, "no policy includes the service account directly (see B-1)")
    return msp, found.policies


@define_check_per_policy(
    "B-2",
    severity="critical",
    scope="MSP, per B-1 policy",
    title="The service-account policy requires MFA",
    rationale="A leaked password or refresh token of the service account must not be enough.",
    fix="service-account-policy.require-mfa",
    policies=_including_policies,
)
def service_account_mfa(check: Check, msp: TenantView, policy: dict[str, Any]) -> Finding:
    ok, why = mfa_requirement(policy)
    name = policy_name(policy)
    strength = authentication_strength(policy)
    grant = as_dict(policy.get("grantControls"))
    evidence = {
        "policyId": policy_id(policy),
        "operator": grant.get("operator"),
        "builtInControls": sorted(grant_controls(policy)),
        "authenticationStrength": text(strength.get("displayName"), text(strength.get("id")))
        if strength
        else None,
        "customAuthenticationFactors": as_list(grant.get("customAuthenticationFactors")),
        "requiresMfa": ok,
        "why": why,
    }
    if ok:
        return check.finding(
            msp,
            "pass",
            policy_subject(policy),
            f"'{name}' requires MFA ({grant_words(policy)}: {why})",
            evidence,
        )
    return check.finding(
        msp,
        "fail",
        policy_subject(policy),
        f"'{name}' grants with {grant_words(policy)}, not MFA ({why}): require multifactor authentication",
        evidence,
    )


@define_check_per_policy(
    "B-3",
    severity="high",
    scope="MSP, per B-1 policy",
    title="Sign-in frequency: every time",
    rationale="Re-authenticating every time keeps a stolen session of the service account from being reused.",
    fix="service-account-policy.sign-in-every-time",
    policies=_including_policies,
)
def service_account_sign_in_frequency(check: Check, msp: TenantView, policy: dict[str, Any]) -> Finding:
    name = policy_name(policy)
    frequency = as_dict(as_dict(policy.get("sessionControls")).get("signInFrequency"))
    evidence = {"policyId": policy_id(policy), "signInFrequency": frequency or None}
    if frequency.get("isEnabled") is True and lower(frequency.get("frequencyInterval")) == "everytime":
        return check.finding(
            msp, "pass", policy_subject(policy), f"'{name}' asks for sign-in every time", evidence
        )
    if not frequency:
        now = "has no sign-in frequency"
    elif frequency.get("isEnabled") is not True:
        now = "has its sign-in frequency switched off"
    elif lower(frequency.get("frequencyInterval")) == "timebased":
        now = f"asks for sign-in every {frequency.get('value')} {frequency.get('type') or ''}".rstrip()
    else:
        now = f"has sign-in frequency '{frequency.get('frequencyInterval')}'"
    return check.finding(
        msp, "fail", policy_subject(policy), f"'{name}' {now}: set sign-in frequency to every time", evidence
    )


@define_check_per_policy(
    "B-4",
    severity="critical",
    scope="MSP, per B-1 policy",
    title="No location condition on the service-account policy",
    rationale="Excluding trusted locations would let the service account skip MFA from any trusted IP.",
    fix="service-account-policy.remove-locations",
    policies=_including_policies,
)
def service_account_no_locations(check: Check, msp: TenantView, policy: dict[str, Any]) -> Finding:
    name = policy_name(policy)
    include, exclude = location_lists(policy)
    evidence = {"policyId": policy_id(policy), "includeLocations": include, "excludeLocations": exclude}
    only_all = {lower(v) for v in include} <= {ALL}
    if only_all and not exclude:
        words = (
            "no location condition"
            if not include
            else "a location condition of 'All' with no exclusion (the same as none)"
        )
        return check.finding(msp, "pass", policy_subject(policy), f"'{name}' has {words}", evidence)
    problems = []
    if exclude:
        names = ", ".join(msp.location_label(v) for v in exclude)
        problems.append(f"excludes location {names}")
    if not only_all:
        names = ", ".join(msp.location_label(v) for v in include if lower(v) != ALL)
        problems.append(f"applies only in location {names}")
    remedy = (
        ("remove it" if len(exclude) == 1 else "remove them") if only_all else "remove the location condition"
    )
    return check.finding(
        msp,
        "fail",
        policy_subject(policy),
        f"the service-account policy '{name}' {' and '.join(problems)}: {remedy}",
        evidence,
    )


@define_check_per_policy(
    "B-5",
    severity="high",
    scope="MSP, per B-1 policy",
    title="The service-account policy is on",
    rationale="Report-only does not enforce MFA: the account is unprotected until the policy is on.",
    fix="service-account-policy.enable",
    policies=_including_policies,
)
def service_account_policy_enabled(check: Check, msp: TenantView, policy: dict[str, Any]) -> Finding:
    name, state = policy_name(policy), policy_state(policy)
    evidence = {"policyId": policy_id(policy), "state": policy.get("state")}
    if state == ENABLED:
        return check.finding(msp, "pass", policy_subject(policy), f"'{name}' is on", evidence)
    why = ": report-only does not enforce MFA" if state == REPORT_ONLY else ""
    return check.finding(
        msp, "fail", policy_subject(policy), f"'{name}' is {state_label(policy)}{why}; switch it on", evidence
    )


@define_check_per_policy(
    "B-6",
    severity="medium",
    scope="MSP, per B-1 policy",
    title="The service-account policy covers every sign-in",
    rationale="CIPP's service account reaches many Microsoft APIs: a policy on selected apps, client apps, "
    "platforms or risk levels leaves the rest open.",
    policies=_including_policies,
)
def service_account_all_apps(check: Check, msp: TenantView, policy: dict[str, Any]) -> Finding:
    name = policy_name(policy)
    apps = [
        str(a)
        for a in as_list(
            as_dict(as_dict(policy.get("conditions")).get("applications")).get("includeApplications")
        )
    ]
    narrowed = narrowings(policy)
    evidence = {"policyId": policy_id(policy), "includeApplications": apps, "narrowings": narrowed}
    if not narrowed:
        return check.finding(
            msp,
            "pass",
            policy_subject(policy),
            f"'{name}' includes all cloud apps and narrows nothing (every client app, "
            "platform and risk level)",
            evidence,
        )
    return check.finding(
        msp,
        "fail",
        policy_subject(policy),
        f"'{name}' does not cover every sign-in: {'; '.join(narrowed)}. Include all "
        "cloud apps and remove the narrowing conditions",
        evidence,
    )


@define_check(
    "B-7",
    severity="medium",
    scope="MSP",
    title="The service account is in AdminAgents, not Global Administrator",
    rationale="AdminAgents gives CIPP its partner access; a standing Global Administrator role is more than "
    "it needs.",
)
def service_account_roles(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp, account = _service_account(check, snapshot)
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
    msp, account = _service_account(check, snapshot)
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
    msp, account = _service_account(check, snapshot)
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
