"""A-1..5 (Part A): the policy that blocks CIPP technicians outside the trusted location."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphjson.values import as_dict, as_list, lower, lower_set
from posture.check import Check, define_check, define_check_per_policy, policy_subject
from posture.findings import Finding, Subject
from posture.graph import (
    ALL,
    ALL_TRUSTED,
    ENABLED,
    NONE,
    REPORT_ONLY,
    RISK_LISTS,
    excluded_applications,
    grant_controls,
    grant_words,
    included_applications,
    location_lists,
    narrowings,
    policy_id,
    policy_name,
    policy_state,
    state_label,
    users_condition,
)
from posture.view import Account, SnapshotView, TenantView

POLICIES_MISSING = "the MSP tenant's Conditional Access policies were not collected"


@dataclass
class TechnicianPolicyAssessment:
    policy: dict[str, Any]
    shortfalls: list[str] = field(default_factory=list)  # why it does not satisfy A-1
    undecided: list[str] = field(default_factory=list)  # what the snapshot lacks to tell

    @property
    def qualifies(self) -> bool:
        return not self.shortfalls and not self.undecided

    @property
    def subject(self) -> Subject:
        return policy_subject(self.policy)


def _applies_to_someone(policy: dict[str, Any]) -> bool:
    users = users_condition(policy)
    include_users = lower_set(users.get("includeUsers")) - {NONE}
    return bool(
        include_users
        or as_list(users.get("includeGroups"))
        or as_list(users.get("includeRoles"))
        or users.get("includeGuestsOrExternalUsers")
    )


def assess_technician_policy(
    policy: dict[str, Any],
    msp: TenantView,
    cipp_app_ids: set[str],
    api_client_ids: set[str] | frozenset[str] = frozenset(),
) -> TechnicianPolicyAssessment:
    assessment = TechnicianPolicyAssessment(policy)
    shortfalls = assessment.shortfalls
    if "block" not in grant_controls(policy):
        shortfalls.append(f"its grant is {grant_words(policy)}, not block")
    if not _applies_to_someone(policy):
        shortfalls.append("it includes no users")
    apps = included_applications(policy)
    if excluded_applications(policy) & cipp_app_ids:
        shortfalls.append("it excludes the CIPP app")
    elif not (ALL in apps or apps & cipp_app_ids) and apps & set(api_client_ids):
        shortfalls.append(
            "it targets a CIPP-API client id, not the CIPP app technicians sign in to (msp.cippAppIds)"
        )
    elif not (ALL in apps or apps & cipp_app_ids):
        listed = ", ".join(sorted(apps)) or "no application"
        hint = (
            ""
            if cipp_app_ids
            else " (the CIPP app id is not configured, so a CIPP-only policy is not recognised)"
        )
        shortfalls.append(f"it targets {listed}, not all cloud apps or the CIPP app{hint}")
    include, exclude = location_lists(policy)
    if not include and not exclude:
        shortfalls.append("it has no location condition")
        return assessment
    if ALL not in {lower(v) for v in include}:
        included = ", ".join(msp.location_label(v) for v in include) or "no location"
        shortfalls.append(f"it includes {included}, not any location (All)")
    trusted = msp.trusted_locations()
    trusted_ids = {lower(n.get("id")) for n in trusted or []}
    if any(lower(v) == ALL_TRUSTED or lower(v) in trusted_ids for v in exclude):
        return assessment
    if not exclude:
        shortfalls.append("it excludes no location, so it would block the office too")
    elif trusted is None:
        assessment.undecided.append(
            "named locations were not collected, so the excluded location cannot be recognised as trusted"
        )
    else:
        names = ", ".join(msp.location_label(v) for v in exclude)
        shortfalls.append(f"it excludes {names}, which is not the trusted location")
    return assessment


def technician_policies(snapshot: SnapshotView) -> list[TechnicianPolicyAssessment] | None:
    """Every MSP policy assessed against A-1 (None when the MSP's policies were not collected)."""

    def compute() -> list[TechnicianPolicyAssessment] | None:
        msp = snapshot.msp_tenant
        policies = msp.objects("conditionalAccessPolicies") if msp else None
        if msp is None or policies is None:
            return None
        return [
            assess_technician_policy(p, msp, snapshot.cipp_app_ids, snapshot.api_client_ids) for p in policies
        ]

    return snapshot.memo("technician_policies", compute)


def _is_candidate(assessment: TechnicianPolicyAssessment) -> bool:
    """A near miss worth explaining: it blocks, or it has the technician policy's location shape."""
    include, exclude = location_lists(assessment.policy)
    return "block" in grant_controls(assessment.policy) or (
        ALL in {lower(v) for v in include} and bool(exclude)
    )


@define_check(
    "A-1",
    severity="critical",
    scope="MSP",
    title="Technicians are blocked from CIPP outside the trusted location",
    rationale="Stolen technician credentials are useless from anywhere but the MSP's own network.",
    fix="technician-policy.create",
)
def technician_policy_exists(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
    msp = check.require_msp(snapshot)
    assessments = check.require(technician_policies(snapshot), msp, POLICIES_MISSING)
    qualifying = [a for a in assessments if a.qualifies]
    if qualifying:
        names = ", ".join(f"'{policy_name(a.policy)}' ({state_label(a.policy)})" for a in qualifying)
        label = "policies" if len(qualifying) > 1 else "policy"
        yield check.about_tenant(
            msp,
            "pass",
            f"technician block {label}: {names}",
            {"policies": [_policy_evidence(a) for a in qualifying]},
        )
        return
    undecided = [a for a in assessments if not a.shortfalls and a.undecided]
    if undecided:
        first = undecided[0]
        yield check.about_tenant(
            msp,
            "n/a",
            f"'{policy_name(first.policy)}' may be the technician block policy, but {first.undecided[0]}",
            {"policies": [_policy_evidence(a) for a in undecided]},
        )
        return
    near = sorted((a for a in assessments if _is_candidate(a)), key=lambda a: len(a.shortfalls))
    message = "no policy blocks all cloud apps (or CIPP) from every location except the trusted one"
    if near:
        message += ". Closest: " + "; ".join(
            f"'{policy_name(a.policy)}' would satisfy A-1 but {' and '.join(a.shortfalls)}" for a in near[:3]
        )
    yield check.about_tenant(msp, "fail", message, {"nearMisses": [_policy_evidence(a) for a in near]})


def _policy_evidence(assessment: TechnicianPolicyAssessment) -> dict[str, Any]:
    include, exclude = location_lists(assessment.policy)
    return {
        "id": policy_id(assessment.policy),
        "name": policy_name(assessment.policy),
        "state": assessment.policy.get("state"),
        "includeLocations": include,
        "excludeLocations": exclude,
        "shortfalls": assessment.shortfalls,
        "undecided": assessment.undecided,
    }


def _qualifying_policies(
    check: Check, snapshot: SnapshotView
) -> tuple[TenantView, list[TechnicianPolicyAssessment]]:
    """What A-2…A-5 judge: the MSP tenant and A-1's qualifying policies, at least one (else the check
    ends with a single n/a for the MSP tenant saying why there is nothing to judge)."""
    msp = check.require_msp(snapshot)
    assessments = check.require(technician_policies(snapshot), msp, POLICIES_MISSING)
    qualifying = [a for a in assessments if a.qualifies]
    if not qualifying:
        raise check.not_applicable(msp, "there is no technician block policy (see A-1)")
    return msp, qualifying


def exclusion_route(policy: dict[str, Any], account: Account, msp: TenantView) -> tuple[str | None, bool]:
    """How the policy excludes the account ('directly', "through group 'A' → 'B'", 'through role X'),
    and whether the answer is certain (group or role membership may not have been collected).
    The shared rule of who a policy reaches (``TenantView.reach``), so A-2 and the fix guards agree."""
    reach = msp.reach(policy, account.id)
    if reach.excluded:
        return reach.excluded.removeprefix("excluded "), True
    return None, not reach.unknown_exclude


@define_check_per_policy(
    "A-2",
    severity="critical",
    scope="MSP, per A-1 policy",
    title="The block policy excludes every break-glass account",
    rationale="A mistake in the block policy must never lock out the accounts that can undo it.",
    policies=_qualifying_policies,
)
def technician_policy_excludes_break_glass(
    check: Check, msp: TenantView, assessment: TechnicianPolicyAssessment
) -> Finding:
    break_glass = msp.snapshot.break_glass
    name = policy_name(assessment.policy)
    if break_glass is None or not break_glass.accounts:
        why = (
            "the MSP's users were not collected" if break_glass is None else "no break-glass account is known"
        )
        return check.finding(msp, "n/a", assessment.subject, f"{why} (see PRE-3)")
    routes = {a.label: exclusion_route(assessment.policy, a, msp) for a in break_glass.accounts}
    not_excluded = [label for label, (route, certain) in routes.items() if route is None and certain]
    unknown = [label for label, (route, certain) in routes.items() if route is None and not certain]
    evidence = {
        "policyId": policy_id(assessment.policy),
        "breakGlass": [{**a.as_evidence(), "excluded": routes[a.label][0]} for a in break_glass.accounts],
    }
    if not_excluded:
        return check.finding(
            msp,
            "fail",
            assessment.subject,
            f"'{name}' satisfies A-1 but does not exclude {', '.join(not_excluded)}: if "
            "the policy misfires, the break-glass account is locked out too",
            evidence,
        )
    if unknown:
        return check.finding(
            msp,
            "n/a",
            assessment.subject,
            f"'{name}' does not exclude {', '.join(unknown)} directly, and the group or "
            "role membership that may exclude it was not collected",
            evidence,
        )
    how = "; ".join(f"{label} {route}" for label, (route, _) in routes.items())
    return check.finding(
        msp, "pass", assessment.subject, f"'{name}' excludes every break-glass account: {how}", evidence
    )


@define_check_per_policy(
    "A-3",
    severity="high",
    scope="MSP, per A-1 policy",
    title="The block policy is on",
    rationale="A report-only or disabled block policy protects nothing.",
    fix="technician-policy.enable",
    policies=_qualifying_policies,
)
def technician_policy_enabled(
    check: Check, msp: TenantView, assessment: TechnicianPolicyAssessment
) -> Finding:
    name, state = policy_name(assessment.policy), policy_state(assessment.policy)
    evidence = {"policyId": policy_id(assessment.policy), "state": assessment.policy.get("state")}
    if state == ENABLED:
        return check.finding(msp, "pass", assessment.subject, f"'{name}' is on", evidence)
    if state == REPORT_ONLY:
        return check.finding(
            msp,
            "warn",
            assessment.subject,
            f"'{name}' is report-only: validate it in the sign-in logs, then switch it on",
            evidence,
        )
    return check.finding(
        msp,
        "fail",
        assessment.subject,
        f"'{name}' is {state_label(assessment.policy)}: it blocks nobody",
        evidence,
    )


@define_check_per_policy(
    "A-5",
    severity="high",
    scope="MSP, per A-1 policy",
    title="The block policy covers every sign-in",
    rationale="A block policy narrowed by client app, platform, risk, device filter or flow lets technicians "
    "through from anywhere.",
    policies=_qualifying_policies,
)
def technician_policy_full_coverage(
    check: Check, msp: TenantView, assessment: TechnicianPolicyAssessment
) -> Finding:
    policy = assessment.policy
    name = policy_name(policy)
    narrowed = narrowings(policy, msp.snapshot.cipp_app_ids)
    cond = as_dict(policy.get("conditions"))
    evidence = {
        "policyId": policy_id(policy),
        "narrowings": narrowed,
        "read": {
            "applications": cond.get("applications"),
            "clientAppTypes": cond.get("clientAppTypes"),
            "platforms": cond.get("platforms"),
            "devices": cond.get("devices"),
            **{key: cond.get(key) for key in RISK_LISTS if key in cond},
        },
    }
    if narrowed:
        return check.finding(
            msp,
            "fail",
            assessment.subject,
            f"'{name}' blocks only some sign-ins: {'; '.join(narrowed)}. Technicians "
            "outside the trusted location get through everywhere else",
            evidence,
        )
    return check.finding(
        msp,
        "pass",
        assessment.subject,
        f"'{name}' covers every sign-in: all cloud apps (or the CIPP app) with none "
        "excluded, every client app and platform, no risk, device or flow condition",
        evidence,
    )


@define_check_per_policy(
    "A-4",
    severity="critical",
    scope="MSP, per A-1 policy",
    title="The block policy does not reach the CIPP service account",
    rationale="CIPP's back end signs in as the service account from Azure's addresses, outside the trusted "
    "IPs: blocking it stops CIPP (Part B is its control).",
    policies=_qualifying_policies,
)
def technician_policy_spares_service_account(
    check: Check, msp: TenantView, assessment: TechnicianPolicyAssessment
) -> Finding:
    upn = msp.snapshot.service_account_upn
    account = msp.account(upn) if upn else None
    name = policy_name(assessment.policy)
    if account is None:
        why = (
            "no service account is configured (msp.serviceAccountUpn)"
            if not upn
            else "the MSP tenant's users were not collected"
            if msp.objects("users") is None
            else f"the service account {upn} is not among the MSP tenant's users"
        )
        return check.finding(msp, "n/a", assessment.subject, why, {"policyId": policy_id(assessment.policy)})
    reach = msp.reach(assessment.policy, account.id)
    evidence = {
        "policyId": policy_id(assessment.policy),
        "serviceAccount": account.as_evidence(),
        "included": reach.included,
        "excluded": reach.excluded,
        "undecided": reach.unknown_include + reach.unknown_exclude,
    }
    if reach.reaches is False:
        how = (
            f"the service account {account.label} is {reach.excluded}"
            if reach.excluded
            else f"it does not include the service account {account.label}"
        )
        return check.finding(msp, "pass", assessment.subject, f"'{name}' spares CIPP: {how}", evidence)
    if reach.reaches is True:
        return check.finding(
            msp,
            "fail",
            assessment.subject,
            f"'{name}' reaches the CIPP service account {account.label} "
            f"({reach.included}): CIPP signs in from Azure's addresses outside the "
            "trusted location, so enforcing it stops CIPP. Exclude the service account "
            "(its own policy, Part B, protects it)",
            evidence,
        )
    return check.finding(
        msp,
        "n/a",
        assessment.subject,
        f"whether '{name}' reaches the service account {account.label} is unknown: {reach.words}",
        evidence,
    )
