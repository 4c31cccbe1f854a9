"""Tolerant readers of Conditional Access and CIPP shapes (on graphjson's value readers).

Real data varies (enum casing, nulls where lists are documented, odd types), so every accessor here
returns a safe empty value instead of raising, and every enum comparison is case-insensitive.
"""

from __future__ import annotations

from typing import Any

from graphjson.values import as_dict, as_list, lower, lower_set, text

ENABLED = "enabled"
REPORT_ONLY = "enabledforreportingbutnotenforced"
DISABLED = "disabled"

ALL = "all"
NONE = "none"
ALL_TRUSTED = "alltrusted"
GUESTS_OR_EXTERNAL_USERS = "guestsorexternalusers"
SERVICE_PROVIDER = "serviceprovider"

GLOBAL_ADMIN_TEMPLATE_ID = "62e90394-69f5-4237-9190-012177145e10"
PREMIUM_PLANS = {  # servicePlanName -> servicePlanId (REFERENCE.md)
    "AAD_PREMIUM": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    "AAD_PREMIUM_P2": "eec0eb4f-6444-4f95-aba0-50c24d67f998",
}


def is_msp_person_elsewhere(
    home_tenant_id: Any, cross_tenant_access_type: Any, tenant_id: Any, msp_tenant_id: str
) -> bool:
    """Catalogue v2 (D-2): a sign-in of one of the MSP's own people in another tenant. `homeTenantId`
    decides when present (the MSP tenant; another home tenant is another partner, even with
    `crossTenantAccessType` `serviceProvider`); without it, `serviceProvider` alone counts.
    ``db.signin_scope`` applies the same rule in SQL."""
    home = lower(home_tenant_id)
    if home:
        return bool(msp_tenant_id) and home == lower(msp_tenant_id) and lower(tenant_id) != home
    return lower(cross_tenant_access_type) == SERVICE_PROVIDER


# --- policies ------------------------------------------------------------------------------------

TEMPLATE_SUBJECT_KEY = "__perimeterSubjectId"  # set by TenantView on a policy without an id
TEMPLATE_ID_PREFIX = "no id #"


def policy_id(policy: dict[str, Any]) -> str:
    """The policy's id; for a policy without one (a template), a subject id from its display name and
    position in the tenant ("no id #3: CA001 ..."), which no fix accepts."""
    return text(policy.get("id"), text(policy.get(TEMPLATE_SUBJECT_KEY)))


def is_template_id(subject_id: str) -> bool:
    return subject_id.startswith(TEMPLATE_ID_PREFIX)


def policy_name(policy: dict[str, Any]) -> str:
    return text(policy.get("displayName"), policy_id(policy) or "(unnamed policy)")


def policy_state(policy: dict[str, Any]) -> str:
    return lower(policy.get("state"))


def is_enabled(policy: dict[str, Any]) -> bool:
    """The policy is on (state `enabled`): a report-only or off policy enforces nothing."""
    return policy_state(policy) == ENABLED


def state_words(state: str) -> str:
    return {ENABLED: "on", REPORT_ONLY: "report-only", DISABLED: "off"}.get(state, f"in state '{state}'")


def state_label(policy: dict[str, Any]) -> str:
    """The state in words; one outside Graph's set (e.g. `reportOnly`) is named as written, not enforced."""
    state = policy_state(policy)
    if state in (ENABLED, REPORT_ONLY, DISABLED):
        return state_words(state)
    return f"in state '{policy.get('state')}' (not a Graph state: not enforced)"


def conditions(policy: dict[str, Any]) -> dict[str, Any]:
    return as_dict(policy.get("conditions"))


def users_condition(policy: dict[str, Any]) -> dict[str, Any]:
    return as_dict(conditions(policy).get("users"))


def included_applications(policy: dict[str, Any]) -> set[str]:
    return lower_set(as_dict(conditions(policy).get("applications")).get("includeApplications"))


def excluded_applications(policy: dict[str, Any]) -> set[str]:
    return lower_set(as_dict(conditions(policy).get("applications")).get("excludeApplications"))


def location_lists(policy: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(includeLocations, excludeLocations) as written; both empty when `conditions.locations` is null."""
    locations = as_dict(conditions(policy).get("locations"))
    include = [str(v) for v in as_list(locations.get("includeLocations")) if isinstance(v, str)]
    exclude = [str(v) for v in as_list(locations.get("excludeLocations")) if isinstance(v, str)]
    return include, exclude


def grant_controls(policy: dict[str, Any]) -> set[str]:
    return lower_set(as_dict(policy.get("grantControls")).get("builtInControls"))


def authentication_strength(policy: dict[str, Any]) -> dict[str, Any] | None:
    strength = as_dict(policy.get("grantControls")).get("authenticationStrength")
    return strength if isinstance(strength, dict) and strength else None


BUILT_IN_MFA_STRENGTHS = {  # Multifactor authentication, Passwordless MFA, Phishing-resistant MFA
    "00000000-0000-0000-0000-000000000002",
    "00000000-0000-0000-0000-000000000003",
    "00000000-0000-0000-0000-000000000004",
}


def strength_is_mfa(strength: dict[str, Any]) -> bool:
    """An authentication strength whose `requirementsSatisfied` is `mfa` (a built-in MFA strength when
    the field is missing)."""
    satisfied = strength.get("requirementsSatisfied")
    if satisfied is not None:
        return lower(satisfied) == "mfa"
    return lower(strength.get("id")) in BUILT_IN_MFA_STRENGTHS


def mfa_requirement(policy: dict[str, Any]) -> tuple[bool, str]:
    """Whether the grant requires Microsoft MFA (catalogue v2's rule), and why in words.

    `AND`: `mfa`, or an MFA authentication strength, is among the controls. `OR`: every alternative is
    one of those. `block` never requires MFA; custom controls (third-party MFA) and terms of use are
    alternatives that are not Microsoft MFA. A field of the wrong type is unreadable: never MFA.
    """
    grant = policy.get("grantControls")
    if grant is None:
        return False, "it has no grant controls"
    if not isinstance(grant, dict):
        return False, "unreadable grantControls"
    raw_controls = grant.get("builtInControls")
    if raw_controls is not None and not isinstance(raw_controls, list):
        return False, "unreadable grantControls.builtInControls"
    controls = lower_set(raw_controls)
    if "block" in controls:
        return False, "it blocks access (block never requires MFA)"
    raw_strength = grant.get("authenticationStrength")
    if raw_strength is not None and not isinstance(raw_strength, dict):
        return False, "unreadable grantControls.authenticationStrength"
    strength = authentication_strength(policy)
    alternatives: list[tuple[str, bool]] = [(str(c), lower(c) == "mfa") for c in as_list(raw_controls)]
    if strength is not None:
        name = text(strength.get("displayName"), text(strength.get("id"), "(unnamed)"))
        alternatives.append((f"authentication strength '{name}'", strength_is_mfa(strength)))
    for key, words in (("customAuthenticationFactors", "custom control"), ("termsOfUse", "terms of use")):
        value = grant.get(key)
        if value is not None and not isinstance(value, list):
            return False, f"unreadable grantControls.{key}"
        alternatives += [(f"{words} '{v}' (not Microsoft MFA)", False) for v in as_list(value)]
    if not alternatives:
        return False, "it has no grant control"
    operator = lower(grant.get("operator")) or "or"
    mfa = [name for name, is_mfa in alternatives if is_mfa]
    if operator == "and":
        if mfa:
            return True, f"operator AND with {mfa[0]}"
        return False, "operator AND without mfa or an MFA authentication strength"
    if operator != "or":
        return False, f"unreadable grantControls.operator '{grant.get('operator')}'"
    others = [name for name, is_mfa in alternatives if not is_mfa]
    if not others:
        return True, f"operator OR, every alternative is MFA ({', '.join(mfa)})"
    if mfa:
        return False, f"operator OR lets {', '.join(others)} stand in for {', '.join(mfa)}"
    return False, f"its grant ({', '.join(others)}) is not MFA"


def requires_mfa(policy: dict[str, Any]) -> bool:
    """The grant requires Microsoft MFA by catalogue v2's rule (see ``mfa_requirement``)."""
    return mfa_requirement(policy)[0]


# --- full coverage -------------------------------------------------------------------------------

CLIENT_APP_TYPES = {"browser", "mobileappsanddesktopclients", "exchangeactivesync", "other"}
RISK_LISTS = ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels", "insiderRiskLevels")


def applies_to_no_app(policy: dict[str, Any]) -> bool:
    """`includeApplications: ["None"]` with no user actions or authentication contexts: nobody."""
    applications = as_dict(conditions(policy).get("applications"))
    return (
        included_applications(policy) == {NONE}
        and not as_list(applications.get("includeUserActions"))
        and not as_list(applications.get("includeAuthenticationContextClassReferences"))
    )


def _present(value: Any) -> bool:
    """A condition that is set: not null, and not an object or list of only empty values."""
    if isinstance(value, dict):
        return any(_present(v) for k, v in value.items() if not str(k).startswith("@odata"))
    if isinstance(value, list | str):
        return bool(value)
    return value is not None and value is not False


def narrowings(policy: dict[str, Any], app_ids: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every way the policy narrows the sign-ins it covers (empty: full coverage, catalogue v2).

    ``app_ids`` are application ids a check accepts in place of `All` (e.g. the CIPP app).
    """
    cond = policy.get("conditions")
    if not isinstance(cond, dict):
        return ["unreadable conditions"]
    out: list[str] = []
    applications = cond.get("applications")
    if not isinstance(applications, dict):
        out.append("unreadable conditions.applications")
    else:
        include = applications.get("includeApplications")
        if not isinstance(include, list):
            out.append("unreadable includeApplications")
        else:
            apps = lower_set(include)
            if apps == {NONE} or not apps:
                out.append("it includes no application (None)")
            elif not (ALL in apps or apps & {lower(a) for a in app_ids}):
                out.append("it includes only application(s) " + ", ".join(str(a) for a in include))
        for key, words in (
            ("excludeApplications", "it excludes application(s)"),
            ("includeUserActions", "it applies to user actions"),
            ("includeAuthenticationContextClassReferences", "it applies to authentication contexts"),
        ):
            value = applications.get(key)
            if value is not None and not isinstance(value, list):
                out.append(f"unreadable {key}")
            elif value:
                out.append(f"{words} {', '.join(str(v) for v in value)}")
        if _present(applications.get("applicationFilter")):
            rule = as_dict(applications.get("applicationFilter")).get("rule")
            out.append(f"application filter '{rule}'" if rule else "an application filter")
    client_apps = cond.get("clientAppTypes")
    if client_apps is not None and not isinstance(client_apps, list):
        out.append("unreadable clientAppTypes")
    else:
        types = lower_set(client_apps)
        if types and ALL not in types and not CLIENT_APP_TYPES <= types:
            out.append("client apps only " + ", ".join(str(t) for t in as_list(client_apps)))
    platforms = cond.get("platforms")
    if platforms is not None:
        if not isinstance(platforms, dict):
            out.append("unreadable platforms")
        else:
            included = lower_set(platforms.get("includePlatforms"))
            excluded = [str(p) for p in as_list(platforms.get("excludePlatforms"))]
            if ALL not in included:
                listed = ", ".join(str(p) for p in as_list(platforms.get("includePlatforms"))) or "none"
                out.append(f"platforms only {listed}")
            if excluded:
                out.append(f"it excludes platform(s) {', '.join(excluded)}")
    for key in RISK_LISTS:
        value = cond.get(key)
        if value is not None and not isinstance(value, list):
            out.append(f"unreadable {key}")
        elif value:
            out.append(f"{key} {', '.join(str(v) for v in value)}")
    devices = cond.get("devices")
    if devices is not None and not isinstance(devices, dict):
        out.append("unreadable devices")
    elif _present(as_dict(devices).get("deviceFilter")):
        rule = as_dict(as_dict(devices).get("deviceFilter")).get("rule")
        out.append(f"device filter '{rule}'" if rule else "a device filter")
    if _present(cond.get("authenticationFlows")):
        flows = as_dict(cond.get("authenticationFlows")).get("transferMethods")
        out.append(f"authentication flows {flows}" if flows else "authentication flows")
    if _present(cond.get("clientApplications")):
        out.append("client applications (workload identities)")
    return out


def grant_words(policy: dict[str, Any]) -> str:
    controls = [str(c) for c in as_list(as_dict(policy.get("grantControls")).get("builtInControls"))]
    strength = authentication_strength(policy)
    if strength is not None:
        name = text(strength.get("displayName"), text(strength.get("id")))
        controls.append(f"authentication strength '{name}'")
    return ", ".join(controls) if controls else "no grant control"


def guest_types(condition: Any) -> set[str]:
    """`guestOrExternalUserTypes` is ONE comma-separated string of flags (a list is tolerated too)."""
    raw = as_dict(condition).get("guestOrExternalUserTypes")
    parts = raw.split(",") if isinstance(raw, str) else [str(v) for v in as_list(raw)]
    return {lower(p) for p in parts if lower(p)}


def external_tenants_cover(condition: Any, tenant_id: str) -> bool:
    """Whether `externalTenants` is `all` or enumerates ``tenant_id`` (missing means all, as in Graph)."""
    raw = as_dict(condition).get("externalTenants")
    if raw is not None and not isinstance(raw, dict):
        return False  # unreadable (e.g. a PowerShell-stringified object): never covered by accident
    tenants = as_dict(raw)
    kind = lower(tenants.get("membershipKind"))
    if kind == ALL or (not kind and lower(tenants.get("@odata.type")).endswith("allexternaltenants")):
        return True
    if not tenants:
        return True
    return lower(tenant_id) in lower_set(tenants.get("members"))


def external_tenants_words(condition: Any) -> str:
    tenants = as_dict(as_dict(condition).get("externalTenants"))
    members = [str(m) for m in as_list(tenants.get("members"))]
    if lower(tenants.get("membershipKind")) == "enumerated" or members:
        return "tenant(s) " + (", ".join(members) if members else "(none listed)")
    return "all external tenants"


# --- sign-ins ------------------------------------------------------------------------------------


def signin_error_code(signin: dict[str, Any]) -> int:
    """`status.errorCode`; `status: {}` (or no status) means success."""
    code = as_dict(signin.get("status")).get("errorCode")
    try:
        return int(code) if code is not None and not isinstance(code, bool) else 0
    except (TypeError, ValueError):
        return 0


def blocked_by_conditional_access(signin: dict[str, Any]) -> bool:
    # Any conditionalAccessStatus outside the documented set is simply "not failure".
    return signin_error_code(signin) == 53003 or lower(signin.get("conditionalAccessStatus")) == "failure"


def blocking_policies(signin: dict[str, Any]) -> list[dict[str, str]]:
    """The applied policies whose (enforced) result was failure."""
    out = []
    for applied in as_list(signin.get("appliedConditionalAccessPolicies")):
        applied = as_dict(applied)
        if lower(applied.get("result")) == "failure":
            out.append({"id": text(applied.get("id")), "name": text(applied.get("displayName"))})
    return out
