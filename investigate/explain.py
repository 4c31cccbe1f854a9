"""A failed sign-in explained in words: what the error code means, which Conditional Access policy
blocked it and why, whether its IP lies in a trusted named location of the tenant — and what can be
done about it (the related posture findings and the fix the fix engine offers).

Everything here is a pure function of the sign-in's Graph JSON and a :class:`TenantContext` (the
tenant's collected policies and named locations); the sign-in's own ``appliedConditionalAccessPolicies``
are the authority for what happened, the policy definitions only add the "because".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphjson.values import as_dict, as_list, lower, text
from investigate.advice import failure_advice, result_meaning, result_rank, result_words
from investigate.codes import describe
from investigate.network import (
    LocationMatch,
    ip_locations,
    parse_ip,
    single_address_range,
    trusted_ip_locations,
)
from posture.graph import (
    ALL,
    ALL_TRUSTED,
    ENABLED,
    blocked_by_conditional_access,
    is_msp_person_elsewhere,
    signin_error_code,
    state_words,
)

# Grant controls (as sign-ins write them in enforcedGrantControls) by the error code they cause.
_BLOCK = {"block"}
_DEVICE = {
    "requirecompliantdevice",
    "requiredomainjoineddevice",
    "compliantdevice",
    "domainjoineddevice",
    "requireapprovedapp",
    "requirecompliantapp",
}
_MFA = {"mfa", "requiremfa", "requireauthenticationstrength", "authenticationstrength"}
_DEVICE_CODES = {53000, 53001, 53002}
_MFA_CODES = {50074, 50076, 50079, 500121, 50158, 53004}

FIX_D1 = "client-policy.exclude-service-provider"
FIX_TRUSTED_RANGE = "trusted-location.add-range"


@dataclass(frozen=True)
class TenantContext:
    """What is known about the sign-in's tenant (from the database) to explain it."""

    tenant_id: str
    tenant_name: str = ""
    role: str = "client"  # 'msp' | 'client'
    access_mode: str = "gdap"  # 'gdap' | 'direct' (client tenants)
    msp_tenant_id: str = ""
    # The CIPP service account as it signs in to this tenant (direct tenants may have their own).
    service_account_upn: str = ""
    policies: list[dict[str, Any]] | None = None  # None: not collected
    named_locations: list[dict[str, Any]] | None = None
    trusted_location_names: frozenset[str] = frozenset()  # lower-case; empty: every trusted IP location

    @property
    def policies_by_id(self) -> dict[str, dict[str, Any]]:
        return {lower(p.get("id")): p for p in self.policies or [] if isinstance(p, dict) and p.get("id")}

    @property
    def locations_by_id(self) -> dict[str, dict[str, Any]]:
        return {
            lower(n.get("id")): n for n in self.named_locations or [] if isinstance(n, dict) and n.get("id")
        }

    def trusted_locations(self) -> list[dict[str, Any]]:
        return trusted_ip_locations(self.named_locations or [], set(self.trusted_location_names))


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy applied to the sign-in, with what it did and why."""

    id: str
    name: str
    result: str
    grant: tuple[str, ...]
    why: str  # "because …" without the word, or ''
    state_now: str | None = None  # the policy's current state when it differs from 'on' (or None)


@dataclass(frozen=True)
class Explanation:
    code: int
    meaning: str
    reason: str
    summary: str
    blocking: tuple[PolicyOutcome, ...]
    ip: str
    locations: tuple[LocationMatch, ...]  # IP named locations of the tenant that contain the IP
    in_trusted_location: bool | None  # None: the tenant's named locations were not collected
    service_provider: bool
    facts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trusted_words(self) -> str:
        if self.in_trusted_location is None:
            return "named locations not collected"
        trusted = [m.name for m in self.locations if m.trusted]
        if trusted:
            return "in trusted " + ", ".join(f"'{name}'" for name in trusted)
        return "not in a trusted location"


@dataclass(frozen=True)
class FixOffer:
    """What the fix engine should be asked to do (the dashboard's fix button hooks in here)."""

    fix_id: str
    check: str  # the catalogue check whose fix this is
    tenant_id: str
    target_type: str  # 'policy' | 'namedLocation'
    target_id: str
    target_name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    caution: str = ""


# --- the sign-in's own facts -------------------------------------------------------------------


def applied_policies(signin: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        as_dict(p) for p in as_list(signin.get("appliedConditionalAccessPolicies")) if isinstance(p, dict)
    ]


def _grant(applied: dict[str, Any]) -> set[str]:
    return {lower(c) for c in as_list(applied.get("enforcedGrantControls")) if isinstance(c, str)}


def _relevance(applied: dict[str, Any], code: int) -> int:
    """How well a failing policy's grant explains the error (the most relevant one "blocked" it)."""
    grant = _grant(applied)
    if code == 53003 and grant & _BLOCK:
        return 3
    if code in _DEVICE_CODES and grant & _DEVICE:
        return 3
    if code in _MFA_CODES and grant & _MFA:
        return 3
    return 2 if grant & _BLOCK else 1


def blocking_policies(signin: dict[str, Any]) -> list[dict[str, Any]]:
    """The applied policies whose result was ``failure``, the one that explains the error code first."""
    code = signin_error_code(signin)
    failing = [p for p in applied_policies(signin) if lower(p.get("result")) == "failure"]
    return sorted(failing, key=lambda p: -_relevance(p, code))  # stable: Graph's order otherwise


def primary_blocking_policy(signin: dict[str, Any]) -> tuple[str, str]:
    """(id, name) of the policy that blocked, or ('', '') (hot path: called once per failed sign-in)."""
    policies = blocking_policies(signin)
    if not policies:
        return "", ""
    first = policies[0]
    return text(first.get("id")), text(first.get("displayName"), text(first.get("id")))


def is_service_provider(signin: dict[str, Any], msp_tenant_id: str, tenant_id: str = "") -> bool:
    """The MSP's own people in another tenant, as D-2 reads them (``graph.is_msp_person_elsewhere``):
    another partner's service providers are not the MSP's."""
    return is_msp_person_elsewhere(
        signin.get("homeTenantId"), signin.get("crossTenantAccessType"), tenant_id, msp_tenant_id
    )


def coordinates(signin: dict[str, Any]) -> tuple[float | None, float | None]:
    geo = as_dict(as_dict(signin.get("location")).get("geoCoordinates"))
    lat, lon = geo.get("latitude"), geo.get("longitude")
    if isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool):
        return float(lat), float(lon)
    return None, None


# --- why a policy blocked ------------------------------------------------------------------------


def _quoted(names: Iterable[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _location_name(location_id: str, ctx: TenantContext) -> str:
    key = lower(location_id)
    if key == ALL_TRUSTED:
        return "any trusted location"
    return text(ctx.locations_by_id.get(key, {}).get("displayName"), location_id)


def _location_why(signin: dict[str, Any], policy: dict[str, Any], ctx: TenantContext) -> str:
    locations = as_dict(as_dict(policy.get("conditions")).get("locations"))
    include = [str(v) for v in as_list(locations.get("includeLocations")) if isinstance(v, str)]
    exclude = [str(v) for v in as_list(locations.get("excludeLocations")) if isinstance(v, str)]
    ip = text(signin.get("ipAddress"), "its IP")
    country = text(as_dict(signin.get("location")).get("countryOrRegion"))
    if exclude:
        return f"{ip} is not in {_quoted(_location_name(v, ctx) for v in exclude)}"
    specific = [v for v in include if lower(v) != ALL]
    if specific:
        named = []
        for value in specific:
            location = ctx.locations_by_id.get(lower(value), {})
            countries = {lower(c) for c in as_list(location.get("countriesAndRegions")) if isinstance(c, str)}
            if countries and lower(country) in countries:
                named.append(f"the sign-in came from {country}, which is in '{_location_name(value, ctx)}'")
        if named:
            return named[0]
        where = f" ({country})" if country else ""
        return f"{ip}{where} is in {_quoted(_location_name(v, ctx) for v in specific)}"
    return ""


def _device_words(signin: dict[str, Any]) -> str:
    device = as_dict(signin.get("deviceDetail"))
    what = " ".join(filter(None, (text(device.get("operatingSystem")), text(device.get("browser")))))
    state = "compliant" if device.get("isCompliant") is True else "not compliant"
    managed = "managed" if device.get("isManaged") is True else "not managed"
    return f"the device{f' ({what})' if what else ''} is {state} and {managed}"


def _mfa_words(signin: dict[str, Any], code: int) -> str:
    if code in (50079, 53004):
        return f"{text(signin.get('userPrincipalName'), 'the user')} has not registered an MFA method"
    steps = [as_dict(s) for s in as_list(signin.get("authenticationDetails"))]
    failed = [s for s in steps if s.get("succeeded") is False]
    detail = text((failed or steps or [{}])[-1].get("authenticationStepResultDetail"))
    if code in (50074, 500121, 50158):
        return "the MFA challenge was not completed" + (f" ({detail})" if detail else "")
    client = text(signin.get("clientAppUsed"))
    if code == 53003 and client:
        return f"the client app '{client}' cannot do MFA"
    return "MFA was not satisfied"


def _policy_why(
    signin: dict[str, Any], applied: dict[str, Any], policy: dict[str, Any] | None, ctx: TenantContext
) -> str:
    code = signin_error_code(signin)
    grant = _grant(applied)
    satisfied = {lower(c).strip() for c in str(applied.get("conditionsSatisfied") or "").split(",")}
    if grant & _BLOCK:
        if "location" in satisfied and policy is not None:
            why = _location_why(signin, policy, ctx)
            if why:
                return why
        if "clienttype" in satisfied:
            return f"it blocks the client app '{text(signin.get('clientAppUsed'), 'used')}'"
        if "location" in satisfied:
            return f"{text(signin.get('ipAddress'), 'its IP')} matched its location condition"
        return "it blocks every sign-in of its users to its apps"
    if grant & _DEVICE:
        return f"it requires a compliant or hybrid-joined device and {_device_words(signin)}"
    if grant & _MFA:
        return f"it requires MFA and {_mfa_words(signin, code)}"
    return ""


def _outcome(signin: dict[str, Any], applied: dict[str, Any], ctx: TenantContext) -> PolicyOutcome:
    pid = text(applied.get("id"))
    policy = ctx.policies_by_id.get(lower(pid))
    state_now = None
    if policy is not None and lower(policy.get("state")) != ENABLED:
        state_now = state_words(lower(policy.get("state")))
    elif policy is None and ctx.policies is not None and pid:
        state_now = "deleted"
    name = text(applied.get("displayName"), text(policy.get("displayName")) if policy else pid)
    return PolicyOutcome(
        pid,
        name,
        text(applied.get("result")),
        tuple(str(c) for c in as_list(applied.get("enforcedGrantControls"))),
        _policy_why(signin, applied, policy, ctx),
        state_now,
    )


# --- the explanation ------------------------------------------------------------------------------


def explain_signin(signin: dict[str, Any], ctx: TenantContext) -> Explanation:
    code = signin_error_code(signin)
    status = as_dict(signin.get("status"))
    described = describe(code, text(status.get("failureReason")))
    ip = text(signin.get("ipAddress"))
    matches = tuple(ip_locations(ip, ctx.named_locations or []))
    trusted_ids = {lower(n.get("id")) for n in ctx.trusted_locations()}
    in_trusted = None if ctx.named_locations is None else any(lower(m.id) in trusted_ids for m in matches)
    blocking = tuple(_outcome(signin, p, ctx) for p in blocking_policies(signin))
    provider = is_service_provider(signin, ctx.msp_tenant_id, ctx.tenant_id)

    if code == 0 and not blocking:
        summary = "succeeded"
    elif blocking:
        first = blocking[0]
        verb = "blocked" if code == 53003 or "block" in {lower(g) for g in first.grant} else "stopped"
        summary = f"{verb} by '{first.name}'" + (f" because {first.why}" if first.why else "")
        if len(blocking) > 1:
            others = ", ".join(f"'{p.name}'" for p in blocking[1:])
            summary += f" (also failed: {others})"
    elif code in (50074, 500121, 50158, 50079):
        summary = f"{described.meaning}: {_mfa_words(signin, code)}"
    else:
        summary = described.meaning
        reason_text = text(status.get("failureReason"))
        if reason_text and reason_text.rstrip(".").lower() not in summary.lower():
            summary += f" — Graph says: {reason_text}"

    facts = []
    if ip and parse_ip(ip) is None:
        facts.append(f"'{ip}' is not a valid IP address")
    if ctx.named_locations is not None:
        if matches:
            facts.append(
                f"{ip} is in "
                + ", ".join(
                    f"'{m.name}' ({'trusted' if m.trusted else 'not trusted'}, {m.range})" for m in matches
                )
            )
        elif ip:
            facts.append(f"{ip} is in none of the tenant's IP named locations")
    if provider:
        facts.append("a service-provider sign-in: one of the MSP's people (or CIPP) in this client tenant")
    for outcome in blocking:
        if outcome.state_now:
            facts.append(
                f"'{outcome.name}' is {outcome.state_now} now (it was on at the time of the sign-in)"
            )
    if lower(signin.get("conditionalAccessStatus")) == "failure" and not blocking:
        facts.append(
            "Conditional Access failed, but the sign-in names no failing policy (the app lacks "
            "Policy.Read.All?)"
        )
    return Explanation(
        code=code,
        meaning=described.meaning,
        reason=described.reason,
        summary=summary,
        blocking=blocking,
        ip=ip,
        locations=matches,
        in_trusted_location=in_trusted,
        service_provider=provider,
        facts=tuple(facts),
    )


# --- what to do about it -------------------------------------------------------------------------


def _excluded_trusted_location(
    policy: dict[str, Any] | None, ctx: TenantContext, ip: str
) -> dict[str, Any] | None:
    """The trusted location a technician block policy exempts, when the IP is not in it."""
    if policy is None:
        return None
    locations = as_dict(as_dict(policy.get("conditions")).get("locations"))
    excluded = {lower(v) for v in as_list(locations.get("excludeLocations")) if isinstance(v, str)}
    trusted = ctx.trusted_locations()
    candidates = (
        trusted if ALL_TRUSTED in excluded else [n for n in trusted if lower(n.get("id")) in excluded]
    )
    containing = {m.id.lower() for m in ip_locations(ip, candidates)}
    outside = [n for n in candidates if lower(n.get("id")) not in containing]
    return outside[0] if outside and not containing else None


def fix_for_signin(signin: dict[str, Any], ctx: TenantContext) -> FixOffer | None:
    """The fix that would stop this sign-in from being blocked, when it is one Perimeter offers:

    * the MSP's people (or CIPP's service account in a direct tenant) blocked by a client tenant's
      policy: add the service-provider (direct: service-account) exclusion to that policy (D-1);
    * a technician of the MSP blocked by a block policy that exempts the trusted location, from an IP
      outside it: add that IP to the trusted location (LOC-1's fix) — only if it is an office egress IP.
    """
    if not blocked_by_conditional_access(signin):
        return None
    failing = blocking_policies(signin)
    if not failing:
        return None
    policies = ctx.policies_by_id
    upn = lower(signin.get("userPrincipalName"))
    if ctx.role == "client":
        direct_account = ctx.access_mode == "direct" and bool(upn) and upn == lower(ctx.service_account_upn)
        if not (is_service_provider(signin, ctx.msp_tenant_id, ctx.tenant_id) or direct_account):
            return None
        applied = failing[0]
        name = text(applied.get("displayName"), text(applied.get("id")))
        who = "the CIPP service account" if direct_account else "the MSP's service-provider users"
        return FixOffer(
            FIX_D1,
            "D-1",
            ctx.tenant_id,
            "policy",
            text(applied.get("id")),
            name,
            f"exclude {who} from '{name}' in {ctx.tenant_name or ctx.tenant_id}",
            {"accessMode": "direct" if direct_account else "gdap"},
        )
    if ctx.role != "msp":
        return None
    ip = text(signin.get("ipAddress"))
    cidr = single_address_range(ip)
    if cidr is None:
        return None
    for applied in failing:
        if not _grant(applied) & _BLOCK:
            continue
        location = _excluded_trusted_location(policies.get(lower(applied.get("id"))), ctx, ip)
        if location is None:
            continue
        name = text(location.get("displayName"), text(location.get("id")))
        return FixOffer(
            FIX_TRUSTED_RANGE,
            "LOC-1",
            ctx.tenant_id,
            "namedLocation",
            text(location.get("id")),
            name,
            f"add {cidr} to the trusted location '{name}'",
            {"range": cidr},
            caution=f"Only if {ip} is an egress IP of your office: every sign-in from it would "
            f"then pass '{text(applied.get('displayName'))}'.",
        )
    return None


def related_findings(
    signin: dict[str, Any], ctx: TenantContext, findings: Iterable[Any], offer: FixOffer | None = None
) -> list[Any]:
    """Posture findings (``posture.Finding``) about what blocked the sign-in: findings on its blocking
    policies, D-2 for a service-provider sign-in, and the finding whose fix is offered. Most urgent first."""
    ids = {lower(p.get("id")) for p in blocking_policies(signin)}
    provider = is_service_provider(signin, ctx.msp_tenant_id, ctx.tenant_id)
    chosen = []
    for finding in findings:
        if lower(finding.tenant_id) != lower(ctx.tenant_id):
            continue
        if finding.subject.type == "policy" and lower(finding.subject.id) in ids:
            chosen.append(finding)
        elif provider and finding.check == "D-2":
            chosen.append(finding)
        elif offer is not None and finding.check == offer.check and finding.status in ("fail", "warn"):
            chosen.append(finding)
    rank = {"fail": 0, "warn": 1, "accepted": 2, "pass": 3, "n/a": 4}
    return sorted(chosen, key=lambda f: (rank.get(f.status, 5), f.check))


# --- every policy, as Entra's Conditional Access tab lists them ---------------------------------------


@dataclass(frozen=True)
class PolicyResult:
    """One policy evaluated for the sign-in: its result as Entra words it and what to do about it."""

    id: str
    name: str
    result: str  # as Graph writes it: failure, success, notApplied, notEnabled, reportOnly…
    result_words: str  # as Entra's Conditional Access tab shows it
    grant: tuple[str, ...]
    why: str  # a failure's "because …" (without the word), or ''
    what_to_do: str  # one line
    state_now: str | None = None  # the policy's state now when it is not 'on' (or 'deleted')


def evaluated_policies(signin: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy the sign-in names with its result: appliedConditionalAccessPolicies, or the 2018
    beta shape's conditionalAccessPolicies (enforcedAccessControls) in sign-ins of that age."""
    current = applied_policies(signin)
    if current:
        return current
    legacy = [as_dict(p) for p in as_list(signin.get("conditionalAccessPolicies")) if isinstance(p, dict)]
    return [
        {**p, "enforcedGrantControls": p.get("enforcedGrantControls") or p.get("enforcedAccessControls")}
        for p in legacy
    ]


def policy_results(signin: dict[str, Any], ctx: TenantContext) -> tuple[PolicyResult, ...]:
    """Every policy with its result, failures first (the one that explains the error code first), then
    report-only failures, successes, not applied, disabled; Graph's order within each."""
    code = signin_error_code(signin)
    offer = fix_for_signin(signin, ctx)
    ip, client = text(signin.get("ipAddress")), text(signin.get("clientAppUsed"))
    out = []
    for applied in evaluated_policies(signin):
        outcome = _outcome(signin, applied, ctx)
        satisfied = str(applied.get("conditionsSatisfied") or "").split(",")
        if lower(outcome.result) == "failure":
            todo = failure_advice(code, outcome.grant, satisfied, ip=ip, client_app=client)
            if (
                offer is not None
                and offer.target_type == "policy"
                and lower(offer.target_id) == lower(outcome.id)
            ):
                todo = f"Fix offered below: {offer.description}."
            elif offer is not None and offer.fix_id == FIX_TRUSTED_RANGE and _grant(applied) & _BLOCK:
                todo = f"If {ip} is your office's egress IP: {offer.description} (fix offered below)."
            if outcome.state_now:
                todo = f"It is {outcome.state_now} now: it no longer stops this sign-in. {todo}"
        else:
            todo = result_meaning(outcome.result, outcome.grant)
        out.append(
            PolicyResult(
                outcome.id,
                outcome.name,
                outcome.result,
                result_words(outcome.result),
                outcome.grant,
                outcome.why if lower(outcome.result) == "failure" else "",
                todo,
                outcome.state_now,
            )
        )
    failing_first = {lower(p.get("id")): i for i, p in enumerate(blocking_policies(signin))}
    return tuple(sorted(out, key=lambda r: (result_rank(r.result), failing_first.get(lower(r.id), 0))))
