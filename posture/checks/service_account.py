"""B-1..B-6 (Part B): the CIPP service account's dedicated Conditional Access policy (B-7..B-9, the
account itself, are in service_account_itself.py)."""

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


def service_account_or_na(check: Check, snapshot: SnapshotView) -> tuple[TenantView, Account]:
    """The MSP tenant and its service account, which B-7..B-9 judge (unknown: the check ends with an n/a)."""
    msp = check.require_msp(snapshot)
    _, account, why = _resolve(snapshot)
    if account is None:
        raise check.not_applicable(msp, why)
    return msp, account


def found_policies_or_na(check: Check, snapshot: SnapshotView) -> tuple[TenantView, ServiceAccountPolicies]:
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
    msp, found = found_policies_or_na(check, snapshot)
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
    msp, found = found_policies_or_na(check, snapshot)
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
