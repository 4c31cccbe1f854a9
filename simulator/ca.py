"""A small Conditional Access engine: which policies apply to a sign-in and what they decide.

It covers what the demo and Perimeter's fixes exercise: users/groups/roles/guests and service-provider
users (with their exclusions), applications (All, Office365, MicrosoftAdminPortals, ids), client app
types, named locations (IP and country, AllTrusted), platforms, risk levels, and the grant controls
block / mfa / authentication strength / compliant or hybrid-joined device / approved or compliant app,
with report-only results. Malformed policy JSON (anything a client could POST) never raises: the
affected condition is simply treated as not matching.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from simulator import geo

ENABLED = "enabled"
REPORT_ONLY = "enabledForReportingButNotEnforced"

GRANT_NAMES = {
    "block": "Block",
    "mfa": "Mfa",
    "compliantdevice": "RequireCompliantDevice",
    "domainjoineddevice": "RequireDomainJoinedDevice",
    "approvedapplication": "RequireApprovedApp",
    "compliantapplication": "RequireCompliantApp",
    "passwordchange": "RequirePasswordChange",
}
MFA_OUTCOMES = ("claim", "ok", "denied", "interrupted", "unregistered", "impossible")
# The error a sign-in ends with when MFA was required and did not happen, by outcome.
MFA_FAILURE_CODES = {"denied": 500121, "interrupted": 50074, "unregistered": 50079, "impossible": 50076}


# The engine's first unmet condition, as what-if's analysisReasons names it.
WHAT_IF_REASONS = {"clientType": "clientApps"}

_ip = functools.lru_cache(maxsize=8192)(ipaddress.ip_address)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _lower_set(value: Any) -> set[str]:
    return {str(v).lower() for v in _list(value)}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass
class NamedLocation:
    id: str
    name: str
    trusted: bool
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    countries: set[str] = field(default_factory=set)
    include_unknown: bool = False
    is_country: bool = False

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, country: str) -> bool:
        if self.is_country:
            return country.upper() in self.countries if country else self.include_unknown
        return any(ip.version == n.version and ip in n for n in self.networks)


def compile_location(obj: dict) -> NamedLocation:
    odata_type = str(obj.get("@odata.type", ""))
    loc = NamedLocation(
        id=str(obj.get("id")), name=str(obj.get("displayName") or ""), trusted=bool(obj.get("isTrusted"))
    )
    if odata_type.endswith("countryNamedLocation"):
        loc.is_country = True
        loc.countries = {str(c).upper() for c in _list(obj.get("countriesAndRegions"))}
        loc.include_unknown = bool(obj.get("includeUnknownCountriesAndRegions"))
    for r in _list(obj.get("ipRanges")):
        try:
            loc.networks.append(ipaddress.ip_network(str(_dict(r).get("cidrAddress")), strict=False))
        except ValueError:
            continue
    return loc


@dataclass
class SignInFacts:
    """What CA needs to know about one sign-in attempt."""

    user_id: str
    user_kind: str  # member | guest | serviceProvider
    home_tenant: str
    groups: frozenset[str]
    roles: frozenset[str]
    app: geo.App
    client_app_type: str
    ip: str
    country: str
    platform: str  # DeviceDetail.operatingSystem
    device_compliant: bool
    device_hybrid: bool
    mfa_outcome: str  # see MFA_OUTCOMES: what happens if MFA is asked for


@dataclass
class Evaluation:
    status: str  # conditionalAccessStatus: success | failure | notApplied
    error_code: int  # 0 when CA let the sign-in through
    # authenticationRequirement: an enforced policy that applies asks for MFA (as Entra logs it, whether or
    # not the attempt then completed MFA).
    mfa_required: bool
    applied: list[dict]  # appliedConditionalAccessPolicies
    network_names: list[tuple[str, bool]]  # (named location, trusted) the IP falls into
    sign_in_frequency_every_time: bool = False
    failed_device_state: str = ""


@dataclass
class _Policy:
    """A policy's JSON boiled down to sets, once per configuration snapshot."""

    id: Any
    name: Any
    state: str
    risk_condition: bool
    include_apps: set[str]
    exclude_apps: set[str]
    include_users: set[str]
    exclude_users: set[str]
    include_groups: set[str]
    exclude_groups: set[str]
    include_roles: set[str]
    exclude_roles: set[str]
    include_guests: dict
    exclude_guests: dict
    client_types: set[str]
    platforms: dict
    include_locations: list
    exclude_locations: list
    controls: list[str]
    strength: bool
    operator: str
    grant_names: list[str]
    session_names: list[str]
    every_time: bool

    @property
    def active(self) -> bool:
        return self.state in (ENABLED, REPORT_ONLY)

    @property
    def asks_mfa(self) -> bool:
        return ("mfa" in self.controls or self.strength) and "block" not in self.controls

    @classmethod
    def compile(cls, policy: dict) -> _Policy:
        cond = _dict(policy.get("conditions"))
        users = _dict(cond.get("users"))
        apps = _dict(cond.get("applications"))
        locations = _dict(cond.get("locations"))
        grant = _dict(policy.get("grantControls"))
        session = _dict(policy.get("sessionControls"))
        controls = [str(c).lower() for c in _list(grant.get("builtInControls"))]
        strength = bool(_dict(grant.get("authenticationStrength")))
        grant_names = [GRANT_NAMES.get(c, c) for c in controls]
        if strength:
            grant_names.append("RequireAuthenticationStrength")
        session_names = [
            name
            for key, name in (
                ("signInFrequency", "SignInFrequency"),
                ("persistentBrowser", "PersistentBrowserSessionMode"),
                ("cloudAppSecurity", "CloudAppSecurity"),
                ("applicationEnforcedRestrictions", "AppEnforcedRestrictions"),
            )
            if _dict(session.get(key)).get("isEnabled")
        ]
        frequency = _dict(session.get("signInFrequency"))
        return cls(
            id=policy.get("id"),
            name=policy.get("displayName"),
            state=str(policy.get("state") or "disabled"),
            risk_condition=bool(_list(cond.get("signInRiskLevels")) or _list(cond.get("userRiskLevels"))),
            include_apps=_lower_set(apps.get("includeApplications")),
            exclude_apps=_lower_set(apps.get("excludeApplications")),
            include_users=_lower_set(users.get("includeUsers")),
            exclude_users=_lower_set(users.get("excludeUsers")),
            include_groups={str(g) for g in _list(users.get("includeGroups"))},
            exclude_groups={str(g) for g in _list(users.get("excludeGroups"))},
            include_roles={str(r) for r in _list(users.get("includeRoles"))},
            exclude_roles={str(r) for r in _list(users.get("excludeRoles"))},
            include_guests=_dict(users.get("includeGuestsOrExternalUsers")),
            exclude_guests=_dict(users.get("excludeGuestsOrExternalUsers")),
            client_types=_lower_set(cond.get("clientAppTypes")),
            platforms=_dict(cond.get("platforms")),
            include_locations=_list(locations.get("includeLocations")),
            exclude_locations=_list(locations.get("excludeLocations")),
            controls=controls,
            strength=strength,
            operator=str(grant.get("operator") or "OR").upper(),
            grant_names=grant_names,
            session_names=session_names,
            every_time=bool(frequency.get("isEnabled"))
            and str(frequency.get("frequencyInterval", "")).lower() == "everytime",
        )


class CompiledPolicies:
    """One tenant's named locations and policies, as they were at one moment."""

    def __init__(self, policies: list[dict], named_locations: list[dict]):
        self.raw = [p for p in policies if isinstance(p, dict)]  # as written: what what-if returns
        self.policies = [_Policy.compile(p) for p in self.raw]
        self.locations = {
            str(n.get("id")): compile_location(n) for n in named_locations if isinstance(n, dict)
        }

    # --- conditions -------------------------------------------------------------------------------

    @staticmethod
    def _guest_types_match(cond: dict, facts: SignInFacts) -> bool:
        if not cond or facts.user_kind == "member":
            return False
        types = {t.strip().lower() for t in str(cond.get("guestOrExternalUserTypes") or "").split(",")}
        wanted = "serviceprovider" if facts.user_kind == "serviceProvider" else "b2bcollaborationguest"
        if wanted not in types:
            return False
        tenants = _dict(cond.get("externalTenants"))
        if str(tenants.get("membershipKind", "all")).lower() == "all":
            return True
        return facts.home_tenant.lower() in _lower_set(tenants.get("members"))

    def _users_match(self, p: _Policy, facts: SignInFacts) -> bool:
        external = facts.user_kind != "member"
        user_id = facts.user_id.lower()
        included = (
            "all" in p.include_users
            or (external and "guestsorexternalusers" in p.include_users)
            or user_id in p.include_users
            or bool(facts.groups & p.include_groups)
            or bool(facts.roles & p.include_roles)
            or self._guest_types_match(p.include_guests, facts)
        )
        if not included:
            return False
        excluded = (
            user_id in p.exclude_users
            or (external and "guestsorexternalusers" in p.exclude_users)
            or bool(facts.groups & p.exclude_groups)
            or bool(facts.roles & p.exclude_roles)
            or self._guest_types_match(p.exclude_guests, facts)
        )
        return not excluded

    @staticmethod
    def _app_in(values: set[str], app: geo.App) -> bool:
        return bool(
            "all" in values
            or (app.office365 and "office365" in values)
            or (app.admin_portal and "microsoftadminportals" in values)
            or app.app_id.lower() in values
            or app.resource_id.lower() in values
        )

    def _location_in(self, values: list, ip, country: str) -> bool:
        for v in values:
            key = str(v)
            if key.lower() == "all":
                return True
            if key.lower() == "alltrusted":
                if any(
                    loc.trusted and not loc.is_country and loc.contains(ip, country)
                    for loc in self.locations.values()
                ):
                    return True
            elif key in self.locations and self.locations[key].contains(ip, country):
                return True
        return False

    def _applies(self, p: _Policy, facts: SignInFacts, ip) -> tuple[bool, list[str], str]:
        """(applies, conditions satisfied, first condition not satisfied)."""
        satisfied: list[str] = []
        if p.risk_condition:
            # Demo sign-ins carry no risk the policy's levels would match.
            return False, satisfied, "signInRisk"
        if not (self._app_in(p.include_apps, facts.app) and not self._app_in(p.exclude_apps, facts.app)):
            return False, satisfied, "application"
        satisfied.append("application")
        if not self._users_match(p, facts):
            return False, satisfied, "users"
        satisfied.append("users")
        if p.client_types and "all" not in p.client_types:
            if facts.client_app_type.lower() not in p.client_types:
                return False, satisfied, "clientType"
            satisfied.append("clientType")
        if p.platforms:
            include = _lower_set(p.platforms.get("includePlatforms"))
            exclude = _lower_set(p.platforms.get("excludePlatforms"))
            platform = facts.platform.lower().replace("windows10", "windows")
            if not (("all" in include or platform in include) and platform not in exclude):
                return False, satisfied, "devicePlatform"
            satisfied.append("devicePlatform")
        if p.include_locations:
            if not self._location_in(p.include_locations, ip, facts.country) or self._location_in(
                p.exclude_locations, ip, facts.country
            ):
                return False, satisfied, "location"
            satisfied.append("location")
        return True, satisfied, "none"

    # --- what-if ---------------------------------------------------------------------------------

    def _needs_unknown(self, p: _Policy, unknown: frozenset[str]) -> bool:
        """Whether a condition of ``p`` needs a sign-in detail the what-if request left out."""
        if "devicePlatform" in unknown and p.platforms:
            return True
        if "clientApps" in unknown and p.client_types and "all" not in p.client_types:
            return True
        if p.include_locations:
            ids = [str(v) for v in (*p.include_locations, *p.exclude_locations)]
            named = [self.locations[i] for i in ids if i in self.locations]
            if "ipAddress" in unknown and (
                any(i.lower() == "alltrusted" for i in ids) or any(not n.is_country for n in named)
            ):
                return True
            if "country" in unknown and any(n.is_country for n in named):
                return True
        return False

    def what_if(
        self, facts: SignInFacts, unknown: frozenset[str] = frozenset()
    ) -> list[tuple[dict, bool, str]]:
        """Graph's what-if answer for one sign-in: per policy (its JSON, whether it applies, and
        ``analysisReasons``: ``notSet`` when it applies, else the first condition not met, Graph's
        names). ``unknown`` names the details the request did not give (``devicePlatform``,
        ``clientApps``, ``ipAddress``, ``country``): a policy whose condition needs one is
        ``notEnoughInformation`` once its application and users match, as the What If tool says."""
        try:
            ip = _ip(facts.ip)
        except ValueError:
            ip = _ip("0.0.0.0")
        out = []
        for raw, p in zip(self.raw, self.policies, strict=True):
            if not p.active:
                out.append((raw, False, "policyNotEnabled"))
                continue
            applies, satisfied, not_satisfied = self._applies(p, facts, ip)
            if "users" in satisfied and self._needs_unknown(p, unknown):
                out.append((raw, False, "notEnoughInformation"))
            elif applies:
                out.append((raw, True, "notSet"))
            else:
                out.append((raw, False, WHAT_IF_REASONS.get(not_satisfied, not_satisfied)))
        return out

    # --- grants -----------------------------------------------------------------------------------

    @staticmethod
    def _control_ok(control: str, facts: SignInFacts, mfa_done: bool) -> bool:
        if control == "mfa":
            return mfa_done
        if control == "compliantdevice":
            return facts.device_compliant
        if control == "domainjoineddevice":
            return facts.device_hybrid
        if control in ("approvedapplication", "compliantapplication"):
            return facts.platform.lower() in ("ios", "android")
        return control not in ("block", "passwordchange")

    def _grant_ok(self, p: _Policy, facts: SignInFacts, mfa_done: bool) -> tuple[bool, str]:
        """(satisfied, the kind of control that failed: block | device | mfa | other)."""
        results = [(c, self._control_ok(c, facts, mfa_done)) for c in p.controls]
        if p.strength:
            results.append(("mfa", mfa_done))
        if not results:
            return True, ""
        ok = any(r for _, r in results) if p.operator == "OR" else all(r for _, r in results)
        if ok:
            return True, ""
        failed = [c for c, r in results if not r]
        for kind, names in (
            ("block", ("block",)),
            ("device", ("compliantdevice", "domainjoineddevice")),
            ("mfa", ("mfa",)),
        ):
            if any(c in names for c in failed):
                return False, kind
        return False, "other"

    # --- evaluation -------------------------------------------------------------------------------

    def evaluate(self, facts: SignInFacts) -> Evaluation:
        try:
            ip = _ip(facts.ip)
        except ValueError:
            ip = _ip("0.0.0.0")
        network_names = [
            (loc.name, loc.trusted) for loc in self.locations.values() if loc.contains(ip, facts.country)
        ]
        evaluated = []
        for p in self.policies:
            if not p.active:
                evaluated.append((p, False, [], "none"))
            else:
                evaluated.append((p, *self._applies(p, facts, ip)))

        # The user is asked for MFA when an enforced policy that applies wants it (and does not block).
        mfa_asked = any(p.state == ENABLED and applies and p.asks_mfa for p, applies, _, _ in evaluated)
        outcome = facts.mfa_outcome
        mfa_done = outcome == "claim" or (mfa_asked and outcome == "ok")

        applied: list[dict] = []
        status, failed_kind, device_state, every_time = "notApplied", "", "", False
        for p, applies, satisfied, not_satisfied in evaluated:
            if not p.active:
                result = "notEnabled"
            elif not applies:
                result = "notApplied" if p.state == ENABLED else "reportOnlyNotApplied"
            else:
                ok, kind = self._grant_ok(p, facts, mfa_done)
                if p.state == ENABLED:
                    result = "success" if ok else "failure"
                    if ok:
                        if status == "notApplied":
                            status = "success"
                        every_time = every_time or p.every_time
                    else:
                        status = "failure"
                        if _rank(kind) > _rank(failed_kind):
                            failed_kind = kind
                            if kind == "device":
                                device_state = (
                                    "compliant" if "compliantdevice" in p.controls else "domainJoined"
                                )
                elif ok:
                    result = "reportOnlySuccess"
                elif kind == "mfa" and outcome in ("ok", "denied", "interrupted"):
                    result = "reportOnlyInterrupted"  # the user would have been prompted
                else:
                    result = "reportOnlyFailure"
            applied.append(
                {
                    "id": p.id,
                    "displayName": p.name,
                    "enforcedGrantControls": list(p.grant_names),
                    "enforcedSessionControls": list(p.session_names),
                    "result": result,
                    "conditionsSatisfied": ",".join(satisfied) if satisfied and p.active else "none",
                    "conditionsNotSatisfied": not_satisfied if p.active and not applies else "none",
                }
            )
        error = 0
        if failed_kind == "block":
            error = 53003
        elif failed_kind == "device":
            error = 53000
        elif failed_kind == "mfa":
            error = MFA_FAILURE_CODES.get(outcome, 50076)
        elif failed_kind:
            error = 53003
        return Evaluation(
            status=status,
            error_code=error,
            mfa_required=mfa_asked,
            applied=applied,
            network_names=network_names,
            sign_in_frequency_every_time=every_time,
            failed_device_state=device_state,
        )


def _rank(kind: str) -> int:
    return {"": 0, "other": 1, "mfa": 2, "device": 3, "block": 4}[kind]
