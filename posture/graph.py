"""Tolerant readers of Graph and CIPP shapes.

Real data varies (enum casing, nulls where lists are documented, odd types), so every accessor here
returns a safe empty value instead of raising, and every enum comparison is case-insensitive.
"""

from __future__ import annotations

from typing import Any

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


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def lower(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def lower_set(values: Any) -> set[str]:
    return {lower(v) for v in as_list(values) if isinstance(v, str | int) and lower(v)}


def text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default


# --- policies ------------------------------------------------------------------------------------

def policy_id(policy: dict[str, Any]) -> str:
    return text(policy.get("id"))


def policy_name(policy: dict[str, Any]) -> str:
    return text(policy.get("displayName"), policy_id(policy) or "(unnamed policy)")


def policy_state(policy: dict[str, Any]) -> str:
    return lower(policy.get("state"))


def state_words(state: str) -> str:
    return {ENABLED: "on", REPORT_ONLY: "report-only", DISABLED: "off"}.get(state, f"in state '{state}'")


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


def requires_mfa(policy: dict[str, Any]) -> bool:
    """Grant `mfa`, or any authentication strength (every built-in one is multifactor)."""
    return "mfa" in grant_controls(policy) or authentication_strength(policy) is not None


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
    tenants = as_dict(as_dict(condition).get("externalTenants"))
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
