"""Conditional Access what-if, pure: the request Graph's evaluation takes (from a form or from a stored
sign-in) and what its answer means — which policies apply, which block, and why the others do not.

Graph (beta) ``POST /identity/conditionalAccess/evaluate`` takes ``signInIdentity`` (a
``#microsoft.graph.userSignIn``: ``userId``, and for an external user ``externalTenantId`` and
``externalUserType``), ``signInContext`` (a ``#microsoft.graph.applicationContext`` with
``includeApplications``) and ``signInConditions`` (``ipAddress``, ``country``, ``clientAppType``,
``devicePlatform``, risk levels, …), and answers a collection of ``whatIfAnalysisResult``: each policy
as ``GET policies`` returns it plus ``policyApplies`` and ``analysisReasons`` (``notSet`` when it
applies, else the condition that kept it out). Needs Policy.Read.ConditionalAccess (or Policy.Read.All).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphjson.values import as_dict, as_list, lower, text
from posture.checks.lockout import PERSON_SATISFIES, unmet_controls
from posture.graph import ENABLED, REPORT_ONLY, grant_words, policy_id, policy_name, policy_state

USER_SIGN_IN = "#microsoft.graph.userSignIn"
APPLICATION_CONTEXT = "#microsoft.graph.applicationContext"
# clientAppType values (conditionalAccessClientApp) and the sign-in log's clientAppUsed for each.
CLIENT_APP_TYPES = ("browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other")
_CLIENT_APP_USED = {
    "browser": "browser",
    "mobile apps and desktop clients": "mobileAppsAndDesktopClients",
    "exchange activesync": "exchangeActiveSync",
}
# devicePlatform values (conditionalAccessDevicePlatform).
DEVICE_PLATFORMS = ("windows", "macOS", "iOS", "android", "linux", "windowsPhone")
EXTERNAL_USER_TYPES = ("serviceProvider", "b2bCollaborationGuest", "b2bCollaborationMember", "internalGuest")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# analysisReasons in words: why a policy did not apply.
REASON_WORDS = {
    "notset": "it applies",
    "users": "the user is not included, or is excluded",
    "application": "the application is not included, or is excluded",
    "location": "the IP address or country is outside its locations, or excluded",
    "clientapps": "the client app type is not one it covers",
    "deviceplatform": "the device platform is not one it covers",
    "signinrisk": "it needs a sign-in risk level",
    "userrisk": "it needs a user risk level",
    "insiderrisk": "it needs an insider risk level",
    "policynotenabled": "it is off",
    "notenoughinformation": "the request lacks a detail its conditions need",
    "devices": "the device filter does not match",
    "useractions": "it is for a user action",
    "authenticationcontext": "it is for an authentication context",
    "authenticationflow": "it is for an authentication flow",
    "workloadidentities": "it is for workload identities",
    "time": "its time condition does not match",
    "emptypolicy": "it has no conditions",
    "invalidpolicy": "it is invalid",
    "invalidcondition": "a condition is invalid",
}


class WhatIfInputError(ValueError):
    """A value of the form that Graph would refuse; the message names the field."""


@dataclass(frozen=True)
class WhatIfQuery:
    """One sign-in to ask about (empty strings: not given)."""

    user_id: str
    app_ids: tuple[str, ...]
    ip_address: str = ""
    country: str = ""
    client_app_type: str = ""
    device_platform: str = ""
    external_user_type: str = ""  # "": a member of the tenant
    external_tenant_id: str = ""
    user_label: str = ""  # what the form shows (a UPN); not sent


def _guid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise WhatIfInputError(f"{name} must be an object id (a GUID), not {value.strip()[:60]!r}") from None


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if not value:
        return ""
    found = next((a for a in allowed if a.lower() == value.strip().lower()), None)
    if found is None:
        raise WhatIfInputError(f"{name} must be one of {', '.join(allowed)}, not {value.strip()[:40]!r}")
    return found


def validated(query: WhatIfQuery) -> WhatIfQuery:
    """``query`` with its values in Graph's spelling; raises WhatIfInputError naming a bad field."""
    apps = tuple(_guid(a, "Application id") for a in query.app_ids if a.strip())
    if not apps:
        raise WhatIfInputError("Application id is required")
    ip = query.ip_address.strip()
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise WhatIfInputError(f"IP address {ip[:60]!r} is not an IPv4 or IPv6 address") from None
    country = query.country.strip()
    if country and not _COUNTRY.match(country):
        raise WhatIfInputError(f"Country must be a two-letter code (US, GB, …), not {country[:20]!r}")
    external = _choice(query.external_user_type, EXTERNAL_USER_TYPES, "External user type")
    return WhatIfQuery(
        user_id=_guid(query.user_id, "User id"),
        app_ids=apps,
        ip_address=ip,
        country=country.upper(),
        client_app_type=_choice(query.client_app_type, CLIENT_APP_TYPES, "Client app"),
        device_platform=_choice(query.device_platform, DEVICE_PLATFORMS, "Device platform"),
        external_user_type=external,
        external_tenant_id=_guid(query.external_tenant_id, "Home tenant id") if external else "",
        user_label=query.user_label,
    )


def request_body(query: WhatIfQuery) -> dict[str, Any]:
    """The evaluate request for a validated ``query``; details not given are left out (Graph then
    says ``notEnoughInformation`` for a policy that needs them)."""
    identity: dict[str, Any] = {"@odata.type": USER_SIGN_IN, "userId": query.user_id}
    if query.external_user_type:
        identity["externalUserType"] = query.external_user_type
        identity["externalTenantId"] = query.external_tenant_id
    conditions = {
        key: value
        for key, value in (
            ("ipAddress", query.ip_address),
            ("country", query.country),
            ("clientAppType", query.client_app_type),
            ("devicePlatform", query.device_platform),
        )
        if value
    }
    return {
        "signInIdentity": identity,
        "signInContext": {"@odata.type": APPLICATION_CONTEXT, "includeApplications": list(query.app_ids)},
        "signInConditions": conditions,
        "appliedPoliciesOnly": False,
    }


def device_platform_of(operating_system: str) -> str:
    """A sign-in's ``deviceDetail.operatingSystem`` as CA's device platform ("" when unknown)."""
    name = lower(operating_system).replace(" ", "")
    for prefix, platform in (
        ("windowsphone", "windowsPhone"),
        ("windows", "windows"),
        ("ios", "iOS"),
        ("ipados", "iOS"),
        ("android", "android"),
        ("macos", "macOS"),
        ("macosx", "macOS"),
        ("linux", "linux"),
    ):
        if name.startswith(prefix):
            return platform
    return ""


def query_from_signin(signin: dict[str, Any], tenant_id: str) -> WhatIfQuery:
    """The what-if of a stored sign-in (Graph's own JSON): the same user, app, address, country,
    client app and platform; an external user (a service provider) keeps its home tenant."""
    client_used = lower(signin.get("clientAppUsed"))
    client_type = _CLIENT_APP_USED.get(client_used, "other" if client_used else "")
    home = text(signin.get("homeTenantId"))
    cross = lower(signin.get("crossTenantAccessType"))
    external = ""
    if home and lower(home) != lower(tenant_id):
        external = "serviceProvider" if cross == "serviceprovider" else "b2bCollaborationGuest"
    return WhatIfQuery(
        user_id=text(signin.get("userId")),
        app_ids=(text(signin.get("appId")),),
        ip_address=text(signin.get("ipAddress")),
        country=text(as_dict(signin.get("location")).get("countryOrRegion")),
        client_app_type=client_type,
        device_platform=device_platform_of(text(as_dict(signin.get("deviceDetail")).get("operatingSystem"))),
        external_user_type=external,
        external_tenant_id=home if external else "",
        user_label=text(signin.get("userPrincipalName")),
    )


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy of the answer: does it apply, does it block, and why in words."""

    id: str
    name: str
    state: str  # as written
    applies: bool
    reason: str  # analysisReasons as written
    grant: str
    blocks: bool  # applies, enforced, and its grant stops the sign-in
    would_block: bool  # applies, report-only, and would stop it once On
    verdict: str

    @property
    def row(self) -> dict[str, Any]:
        return {
            "Policy": self.name,
            "State": self.state,
            "Applies": "yes" if self.applies else "no",
            "Outcome": self.verdict,
            "Grant": self.grant,
        }


@dataclass(frozen=True)
class WhatIfAnswer:
    policies: list[PolicyOutcome] = field(default_factory=list)

    @property
    def applying(self) -> list[PolicyOutcome]:
        return [p for p in self.policies if p.applies]

    @property
    def blocking(self) -> list[PolicyOutcome]:
        return [p for p in self.policies if p.blocks]

    @property
    def summary(self) -> str:
        blocking = self.blocking
        if blocking:
            names = ", ".join(f"'{p.name}'" for p in blocking)
            return f"Blocked: {names} would block this sign-in ({len(self.applying)} policies apply)."
        would = [p for p in self.policies if p.would_block]
        tail = (
            f"; {', '.join(repr(p.name) for p in would)} would block it once switched On (report-only)"
            if would
            else ""
        )
        return f"Not blocked: {len(self.applying)} of {len(self.policies)} policies apply, none blocks{tail}."


def _outcome(result: dict[str, Any]) -> PolicyOutcome:
    state = policy_state(result)
    applies = result.get("policyApplies") is True
    reason = text(result.get("analysisReasons"))
    unmet = unmet_controls(result, PERSON_SATISFIES) if applies else []
    enforced, report_only = state == ENABLED, state == REPORT_ONLY
    grant = grant_words(result)
    if not applies:
        verdict = f"does not apply: {REASON_WORDS.get(lower(reason), reason or 'no reason given')}"
    elif unmet and enforced:
        verdict = "blocks"
    elif unmet and report_only:
        verdict = "would block once On (report-only)"
    elif report_only:
        verdict = f"applies in report-only: would ask for {grant}"
    elif enforced:
        verdict = (
            f"applies: asks for {grant}" if grant != "no grant control" else "applies (session controls)"
        )
    else:
        verdict = f"applies, but its state is {text(result.get('state')) or 'unknown'}"
    return PolicyOutcome(
        id=policy_id(result),
        name=policy_name(result),
        state=text(result.get("state")),
        applies=applies,
        reason=reason,
        grant=grant,
        blocks=bool(unmet) and enforced and applies,
        would_block=bool(unmet) and report_only and applies,
        verdict=verdict,
    )


def read_answer(results: list[Any]) -> WhatIfAnswer:
    """The answer's policies, blocking ones first, then the others that apply, then the rest."""
    outcomes = [_outcome(as_dict(r)) for r in as_list(results) if isinstance(r, dict)]
    order = {id(o): i for i, o in enumerate(outcomes)}
    outcomes.sort(key=lambda o: (not o.blocks, not o.would_block, not o.applies, order[id(o)]))
    return WhatIfAnswer(outcomes)


def failure_reason(status: int | None, code: str | None) -> str:
    """A refusal of the evaluation as a standing reason: ``not-licensed``, ``no-permission``,
    ``consent-needed``, ``bad-request``, ``not-found``, ``throttled`` or ``error``."""
    code_l = lower(code)
    if "nonpremium" in code_l or "notlicensed" in code_l:
        return "not-licensed"
    if status == 403 or "authorization_requestdenied" in code_l or "accessdenied" in code_l:
        return "no-permission"
    if status == 400:
        return "bad-request"
    if status == 404:
        return "not-found"
    if status == 429:
        return "throttled"
    return "error"


FAILURE_WORDS = {
    "not-licensed": "The tenant has no Entra ID P1/P2: Graph offers no Conditional Access what-if there.",
    "no-permission": "Graph refused: Perimeter's app needs Policy.Read.ConditionalAccess (or "
    "Policy.Read.All) in this tenant.",
    "consent-needed": "Perimeter's app is not consented in this tenant.",
    "bad-request": "Graph refused the request as malformed.",
    "not-found": "Graph does not know this user in the tenant.",
    "throttled": "Graph is throttling this tenant: try again in a minute.",
    "error": "The what-if evaluation failed.",
}
