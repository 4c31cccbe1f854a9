"""D-1..2 (Part D): client tenants' policies must not lock out the MSP's own people."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from graphjson.times import read_graph_datetime
from graphjson.values import as_dict, as_list, lower, lower_set, text
from posture.check import Check, define_check_per_tenant, policy_subject
from posture.findings import Finding
from posture.graph import (
    ALL,
    ENABLED,
    GUESTS_OR_EXTERNAL_USERS,
    REPORT_ONLY,
    SERVICE_PROVIDER,
    applies_to_no_app,
    blocked_by_conditional_access,
    blocking_policies,
    external_tenants_cover,
    external_tenants_words,
    guest_types,
    is_msp_person_elsewhere,
    policy_id,
    policy_name,
    policy_state,
    state_label,
    users_condition,
)
from posture.view import Account, SnapshotView, TenantView


def gdap_reach(policy: dict[str, Any], msp_tenant_id: str) -> list[str]:
    """How the policy could apply to the MSP's service-provider users (empty: it cannot)."""
    users = users_condition(policy)
    include_users = lower_set(users.get("includeUsers"))
    reach = []
    if ALL in include_users:
        reach.append("all users")
    if GUESTS_OR_EXTERNAL_USERS in include_users:
        reach.append("guests and external users")
    roles = as_list(users.get("includeRoles"))
    if roles:
        reach.append(f"{len(roles)} directory role(s), which GDAP grants the MSP's people")
    included_guests = users.get("includeGuestsOrExternalUsers")
    if SERVICE_PROVIDER in guest_types(included_guests) and external_tenants_cover(
        included_guests, msp_tenant_id
    ):
        reach.append("service-provider users")
    return reach


def gdap_exclusion(policy: dict[str, Any], msp_tenant_id: str) -> tuple[bool, str]:
    """(whether the MSP's service-provider users are excluded, the near miss in words).

    The legacy `GuestsOrExternalUsers` in `excludeUsers` excludes every guest and external user,
    service providers included. A field of the wrong type is unreadable: never a pass by accident."""
    users = users_condition(policy)
    if GUESTS_OR_EXTERNAL_USERS in lower_set(users.get("excludeUsers")):
        return True, (
            "it excludes GuestsOrExternalUsers in excludeUsers (every guest and external user, "
            "service-provider users included)"
        )
    excluded = users.get("excludeGuestsOrExternalUsers")
    if excluded is not None and not isinstance(excluded, dict):
        return False, "unreadable excludeGuestsOrExternalUsers"
    written = as_dict(excluded).get("guestOrExternalUserTypes")
    if written is not None and not isinstance(written, str | list):
        return False, "unreadable excludeGuestsOrExternalUsers.guestOrExternalUserTypes"
    tenants = as_dict(excluded).get("externalTenants")
    if tenants is not None and not isinstance(tenants, dict):
        return False, f"unreadable externalTenants ({str(tenants)[:80]!r})"
    types = guest_types(excluded)
    if not types:
        return False, "it has no service-provider exclusion"
    if SERVICE_PROVIDER not in types:
        return False, f"it excludes guest types '{written}' but not serviceProvider"
    if not external_tenants_cover(excluded, msp_tenant_id):
        tenants = external_tenants_words(excluded)
        return False, f"it excludes service providers of {tenants} only, not the MSP ({msp_tenant_id})"
    return True, f"it excludes service-provider users of {external_tenants_words(excluded)}"


@define_check_per_tenant(
    "D-1",
    severity="critical",
    scope="per client policy",
    title="Client policies exclude the MSP's people",
    rationale="A client's policy that catches the MSP's technicians or CIPP's account cuts the MSP off that "
    "client (CIPP's own setup requires the exclusion).",
    fix="client-policy.exclude-service-provider",
    clients_only=True,
)
def client_policies_exclude_msp(
    check: Check, snapshot: SnapshotView, tenant: TenantView
) -> Iterator[Finding]:
    policies = check.collected(tenant, "conditionalAccessPolicies", "Conditional Access policies")
    msp_tenant_id = snapshot.msp_tenant_id
    if not policies:
        yield check.about_tenant(tenant, "pass", "the tenant has no Conditional Access policies")
    elif tenant.access_mode == "direct":
        yield from _direct_tenant(check, tenant, policies)
    elif not msp_tenant_id:
        yield check.about_tenant(tenant, "n/a", "the MSP tenant id is unknown (msp.tenantId)")
    else:
        yield from _each_policy(
            check, tenant, policies, lambda policy: _gdap_verdict(check, tenant, policy, msp_tenant_id)
        )


def _state_gate(check: Check, tenant: TenantView, policy: dict[str, Any]) -> Finding | None:
    state = policy_state(policy)
    if state in (ENABLED, REPORT_ONLY):
        return None
    return check.finding(
        tenant,
        "n/a",
        policy_subject(policy),
        f"'{policy_name(policy)}' is {state_label(policy)}: it applies to nobody",
        {"policyId": policy_id(policy), "state": policy.get("state")},
    )


def _no_app_gate(check: Check, tenant: TenantView, policy: dict[str, Any]) -> Finding | None:
    """`includeApplications: ["None"]` (no user actions or contexts) applies to nobody."""
    if not applies_to_no_app(policy):
        return None
    return check.finding(
        tenant,
        "n/a",
        policy_subject(policy),
        f"'{policy_name(policy)}' includes application None: it applies to nobody",
        {"policyId": policy_id(policy), "state": policy.get("state"), "includeApplications": ["None"]},
    )


def _each_policy(
    check: Check,
    tenant: TenantView,
    policies: list[dict[str, Any]],
    verdict: Callable[[dict[str, Any]], Finding],
) -> Iterator[Finding]:
    """D-1 on each policy: n/a when it applies to nobody, else ``verdict`` (GDAP's or a direct tenant's)."""
    for policy in policies:
        yield _state_gate(check, tenant, policy) or _no_app_gate(check, tenant, policy) or verdict(policy)


def _gdap_verdict(check: Check, tenant: TenantView, policy: dict[str, Any], msp_tenant_id: str) -> Finding:
    """D-1 on a GDAP tenant's policy: the MSP's service-provider users must be excluded."""
    name = policy_name(policy)
    reach = gdap_reach(policy, msp_tenant_id)
    excluded = users_condition(policy).get("excludeGuestsOrExternalUsers")
    evidence = {
        "policyId": policy_id(policy),
        "state": policy.get("state"),
        "accessMode": "gdap",
        "mspTenantId": msp_tenant_id,
        "appliesThrough": reach,
        "excludeGuestsOrExternalUsers": excluded if isinstance(excluded, dict) else None,
    }
    if not reach:
        return check.finding(
            tenant,
            "n/a",
            policy_subject(policy),
            f"'{name}' cannot apply to the MSP's service-provider users",
            evidence,
        )
    ok, words = gdap_exclusion(policy, msp_tenant_id)
    if ok:
        return check.finding(
            tenant,
            "pass",
            policy_subject(policy),
            f"'{name}' applies to {', '.join(reach)}, and {words}",
            evidence,
        )
    state = state_label(policy)
    return check.finding(
        tenant,
        "fail",
        policy_subject(policy),
        f"'{name}' ({state}) applies to {', '.join(reach)}, yet {words}: exclude "
        "service-provider users of the MSP tenant",
        evidence,
    )


def _direct_tenant(check: Check, tenant: TenantView, policies: list[dict[str, Any]]) -> Iterator[Finding]:
    upn = tenant.direct_service_account_upn
    if not upn or tenant.objects("users") is None:
        why = (
            "no service account is known (directTenantUserPrincipalName or msp.serviceAccountUpn)"
            if not upn
            else "the tenant's users were not collected: the service account's id is unknown"
        )
        for policy in policies:
            gate = _state_gate(check, tenant, policy)
            yield gate or check.finding(
                tenant,
                "n/a",
                policy_subject(policy),
                f"direct tenant: {why}",
                {"policyId": policy_id(policy), "accessMode": "direct"},
            )
        return
    account = tenant.account(upn)
    yield from _each_policy(
        check, tenant, policies, lambda policy: _direct_verdict(check, tenant, policy, upn, account)
    )


def _direct_verdict(
    check: Check, tenant: TenantView, policy: dict[str, Any], upn: str, account: Account | None
) -> Finding:
    """D-1 on a direct tenant's policy: the service account CIPP signs in as must be excluded."""
    name = policy_name(policy)
    evidence: dict[str, Any] = {
        "policyId": policy_id(policy),
        "state": policy.get("state"),
        "accessMode": "direct",
        "serviceAccountUpn": upn,
    }
    if account is None:
        return check.finding(
            tenant,
            "n/a",
            policy_subject(policy),
            f"direct tenant: the service account {upn} is not among the tenant's users",
            evidence,
        )
    evidence["serviceAccountId"] = account.id
    reach = tenant.reach(policy, account.id)  # v2: user, group (nested) or role, both ways
    evidence.update(
        included=reach.included,
        excluded=reach.excluded,
        undecided=reach.unknown_include + reach.unknown_exclude,
    )
    if reach.excluded:
        applies = f"applies to it ({reach.included})" if reach.included else "could apply to it"
        return check.finding(
            tenant,
            "pass",
            policy_subject(policy),
            f"'{name}' {applies} but the service account {account.label} is {reach.excluded}",
            evidence,
        )
    if not reach.included:
        why = (
            f"cannot apply to the service account {account.label}"
            if not reach.unknown_include
            else f"may apply to the service account, but {'; '.join(reach.unknown_include)}"
        )
        return check.finding(tenant, "n/a", policy_subject(policy), f"'{name}' {why}", evidence)
    # An exclusion that cannot be confirmed (group members or roles not collected) is not a pass.
    unconfirmed = (
        f" (an exclusion through groups or roles cannot be confirmed: {'; '.join(reach.unknown_exclude)})"
        if reach.unknown_exclude
        else ""
    )
    return check.finding(
        tenant,
        "fail",
        policy_subject(policy),
        f"'{name}' ({state_label(policy)}) applies to the service account "
        f"{account.label} ({reach.included}), yet it does not exclude the service "
        f"account {account.label}{unconfirmed}: add it to the excluded users",
        evidence,
    )


def is_service_provider_signin(signin: dict[str, Any], msp_tenant_id: str) -> bool:
    """v2: one of the MSP's own people in a client (``graph.is_msp_person_elsewhere``)."""
    return is_msp_person_elsewhere(
        signin.get("homeTenantId"),
        signin.get("crossTenantAccessType"),
        signin.get("resourceTenantId"),
        msp_tenant_id,
    )


def signins_collected_in_window(tenant: TenantView) -> tuple[bool | None, dict[str, Any]]:
    """Whether `sourceStatus.signIns.lastSuccess` falls within the window (None: no status recorded)."""
    status = as_dict(tenant.raw.get("sourceStatus")).get("signIns")
    if not isinstance(status, dict):
        return None, {}
    evidence = {"signInsLastSuccess": status.get("lastSuccess"), "signInsLastError": status.get("lastError")}
    success = read_graph_datetime(status.get("lastSuccess"))
    start, end = tenant.snapshot.window
    if success is None:
        return False, evidence
    if start is None or end is None:
        return True, evidence
    return start <= success <= end + timedelta(minutes=5), evidence


@define_check_per_tenant(
    "D-2",
    severity="high",
    scope="per client tenant",
    clients_only=True,
    title="No MSP sign-in was blocked by a client's policy",
    rationale="Proof from the logs: a blocked service-provider sign-in is a technician or CIPP locked out.",
)
def service_provider_signins_not_blocked(
    check: Check, snapshot: SnapshotView, tenant: TenantView
) -> Iterator[Finding]:
    msp_tenant_id = snapshot.msp_tenant_id
    signins = check.require(
        tenant.signins_in_window(), tenant, tenant.not_collected("signIns", "sign-in logs")
    )
    provider = [s for s in signins if is_service_provider_signin(s, msp_tenant_id)]
    blocked = [s for s in provider if blocked_by_conditional_access(s)]
    # Other partners' service providers (co-managing MSPs) are not the MSP's people: named, not counted.
    others = [
        s
        for s in signins
        if lower(s.get("crossTenantAccessType")) == SERVICE_PROVIDER
        and not is_service_provider_signin(s, msp_tenant_id)
    ]
    others_blocked = sum(1 for s in others if blocked_by_conditional_access(s))
    evidence: dict[str, Any] = {
        **snapshot.window_evidence(),
        "signIns": len(signins),
        "serviceProviderSignIns": len(provider),
        "blocked": len(blocked),
        "otherPartnersSignIns": len(others),
        "otherPartnersBlocked": others_blocked,
        "otherPartnerTenants": sorted({text(s.get("homeTenantId")) for s in others}),
    }
    not_counted = (
        (
            f" ({len(others)} sign-in(s) of other partners' service providers, {others_blocked} "
            "blocked, are not the MSP's and not counted)"
        )
        if others
        else ""
    )
    if not blocked:
        collected, status = signins_collected_in_window(tenant)
        evidence.update(status)
        words = (
            "no sign-ins in the window"
            if not signins
            else (
                f"none of {len(provider)} service-provider sign-in(s) in the window was blocked by "
                f"Conditional Access{not_counted}"
            )
        )
        if collected is False:
            last = status.get("signInsLastSuccess") or "never"
            yield check.about_tenant(
                tenant,
                "n/a",
                f"{words}, but the tenant's sign-ins were not "
                f"collected successfully within the window (last success: {last})",
                evidence,
            )
        else:
            yield check.about_tenant(tenant, "pass", words, evidence)
        return
    policies: Counter[tuple[str, str]] = Counter()
    for signin in blocked:
        for applied in blocking_policies(signin):
            policies[(applied["id"], applied["name"])] += 1
    users = sorted({text(s.get("userPrincipalName"), text(s.get("userId"))) for s in blocked})
    evidence.update(
        {
            "blockingPolicies": [
                {"id": pid, "name": name, "signIns": n} for (pid, name), n in policies.most_common()
            ],
            "users": users[:50],
            "signInIds": [text(s.get("id")) for s in blocked[:50]],
        }
    )
    named = (
        ", ".join(f"'{name or pid}' ({n})" for (pid, name), n in policies.most_common())
        or "policies not named in the logs"
    )
    yield check.about_tenant(
        tenant,
        "fail",
        f"{len(blocked)} service-provider sign-in(s) by {len(users)} user(s) were "
        f"blocked by Conditional Access in the window: {named}{not_counted}",
        evidence,
    )
