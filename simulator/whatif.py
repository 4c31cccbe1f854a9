"""Conditional Access what-if: beta ``POST /identity/conditionalAccess/evaluate``, answered by the
simulator's own CA engine (simulator/ca.py) on the tenant's current policies and named locations.

Request (Microsoft Graph beta, conditionalAccessRoot: evaluate)::

    {"signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": "<object id>",
                        "externalTenantId": "<home tenant>", "externalUserType": "serviceProvider"},
     "signInContext": {"@odata.type": "#microsoft.graph.applicationContext",
                       "includeApplications": ["<app id>"]},
     "signInConditions": {"ipAddress": "...", "country": "US", "clientAppType": "browser",
                          "devicePlatform": "windows", ...},
     "appliedPoliciesOnly": false}

Answer: a collection of ``whatIfAnalysisResult`` (each policy's own JSON plus ``policyApplies`` and
``analysisReasons``). Errors as Graph words them: 400 ``BadRequest`` for a body that is not this
shape (v1.0 does not have the action), 404 for an unknown user, 403 without Entra ID P1/P2 (the code
the reports family uses; the simulator's "revoked" fault gives the 403 of a missing permission).
What the simulator does not model (authentication contexts, user actions, workload identities) is a
400 naming it, never a silent "nothing applies". docs/simulator-contract.md has the details.
"""

from __future__ import annotations

import copy
import re
import uuid

from simulator import demo, geo
from simulator.ca import CompiledPolicies, SignInFacts
from simulator.graph_api import GraphError, Handler, Request, Result
from simulator.state import SimState

PATH = "identity/conditionalAccess/evaluate"
USER_SIGN_IN = "#microsoft.graph.usersignin"
APPLICATION_CONTEXT = "#microsoft.graph.applicationcontext"
CLIENT_APP_TYPES = (
    "all",
    "browser",
    "mobileappsanddesktopclients",
    "exchangeactivesync",
    "eassupported",
    "other",
)
PLATFORMS = ("android", "ios", "windows", "windowsphone", "macos", "linux", "all")
EXTERNAL_TYPES = {
    "none": "member",
    "serviceprovider": "serviceProvider",
    "internalguest": "guest",
    "b2bcollaborationguest": "guest",
    "b2bcollaborationmember": "guest",
    "b2bdirectconnectuser": "guest",
    "otherexternaluser": "guest",
}
_KNOWN_APPS = {app.app_id.lower(): app for app in (*geo.LEGACY_APPS[:1], *geo.USER_APPS, *geo.ADMIN_APPS)} | {
    demo.CIPP_APP_ID: geo.App(
        demo.CIPP_APP_ID, demo.CIPP_APP_NAME, demo.CIPP_APP_ID, demo.CIPP_APP_NAME, geo.BROWSER
    ),
    demo.CIPP_SAM_APP_ID: geo.App(
        demo.CIPP_SAM_APP_ID, demo.CIPP_SAM_APP_NAME, *geo.GRAPH_RESOURCE, geo.DESKTOP
    ),
}


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _object(body: dict, key: str) -> dict:
    value = body.get(key)
    if not isinstance(value, dict):
        raise _bad(f"The parameter '{key}' is required and must be an object.")
    return value


def _guid(value: object, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise _bad(f"Invalid value '{value}' for '{where}': expected a GUID.") from None


def _app(app_id: str) -> geo.App:
    """The app as the engine knows it (its Office365 / admin-portal groups); an unknown id is itself."""
    return _KNOWN_APPS.get(app_id.lower()) or geo.App(app_id, app_id, app_id, app_id, geo.BROWSER)


def _identity(state_seed: int, tenant_id: str, identity: dict) -> tuple[str, str, str, frozenset, frozenset]:
    """(user id, kind, home tenant, groups, roles) of the request's signInIdentity."""
    odata_type = str(identity.get("@odata.type", "")).lower()
    if odata_type != USER_SIGN_IN:
        raise _bad(
            f"signInIdentity of type '{identity.get('@odata.type')}' is not supported by the simulator "
            "(only #microsoft.graph.userSignIn)."
        )
    user_id = _guid(identity.get("userId"), "signInIdentity.userId")
    external = str(identity.get("externalUserType") or "none").lower()
    if external not in EXTERNAL_TYPES:
        raise _bad(f"Invalid value '{identity.get('externalUserType')}' for 'externalUserType'.")
    kind = EXTERNAL_TYPES[external]
    if kind != "member":
        home = _guid(identity.get("externalTenantId"), "signInIdentity.externalTenantId")
        # The MSP's people hold CIPP's GDAP roles in a client (as its sign-ins do: simulator/signins.py).
        roles = frozenset(demo.GDAP_ROLE_TEMPLATE_IDS) if kind == "serviceProvider" else frozenset()
        return user_id, kind, home, frozenset(), roles
    person = demo.directory(state_seed, tenant_id).by_id.get(user_id)
    if person is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{user_id}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    kind = "guest" if person.user_type.lower() == "guest" else "member"
    return user_id, kind, tenant_id, frozenset(person.groups), frozenset(person.roles)


def evaluate(state: SimState, req: Request) -> Result:
    if req.version != "beta":
        raise _bad("Resource not found for the segment 'evaluate'.")
    if not demo.licensed_for_reports(req.tenant_id):
        # Conditional Access needs Entra ID P1/P2; the simulator answers as Graph does for reports.
        raise GraphError(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    body = req.json_body()
    identity = _object(body, "signInIdentity")
    context = _object(body, "signInContext")
    conditions = _object(body, "signInConditions")
    if str(context.get("@odata.type", "")).lower() != APPLICATION_CONTEXT:
        raise _bad(
            f"signInContext of type '{context.get('@odata.type')}' is not supported by the simulator "
            "(only #microsoft.graph.applicationContext)."
        )
    apps = context.get("includeApplications")
    if not isinstance(apps, list) or not apps or not all(isinstance(a, str) and a for a in apps):
        raise _bad("signInContext.includeApplications must list at least one application id.")
    only_applied = body.get("appliedPoliciesOnly", False)
    if not isinstance(only_applied, bool):
        raise _bad("appliedPoliciesOnly must be a boolean.")
    client_type = str(conditions.get("clientAppType") or "all")
    if client_type.lower() not in {c.lower() for c in CLIENT_APP_TYPES}:
        raise _bad(f"Invalid value '{client_type}' for 'clientAppType'.")
    platform = str(conditions.get("devicePlatform") or "")
    if platform and platform.lower() not in PLATFORMS:
        raise _bad(f"Invalid value '{platform}' for 'devicePlatform'.")
    ip = str(conditions.get("ipAddress") or "")
    country = str(conditions.get("country") or "").upper()
    unknown = {
        name
        for name, missing in (
            ("devicePlatform", not platform or platform.lower() == "all"),
            ("clientApps", client_type.lower() == "all"),
            ("ipAddress", not ip),
            ("country", not country),
        )
        if missing
    }
    user_id, kind, home, groups, roles = _identity(state.seed, req.tenant_id, identity)
    with state.lock:
        config = state.tenants[req.tenant_id].config
        compiled = CompiledPolicies(copy.deepcopy(config.policies), copy.deepcopy(config.named_locations))
    per_policy: dict[int, tuple[dict, bool, str]] = {}
    for app_id in apps:  # a policy applies when it applies to any of the applications asked about
        facts = SignInFacts(
            user_id=user_id, user_kind=kind, home_tenant=home, groups=groups, roles=roles,
            app=_app(app_id), client_app_type=client_type, ip=ip, country=country, platform=platform,
            device_compliant=False, device_hybrid=False, mfa_outcome="claim",
        )  # fmt: skip
        for index, (policy, applies, reason) in enumerate(compiled.what_if(facts, frozenset(unknown))):
            if index not in per_policy or (applies and not per_policy[index][1]):
                per_policy[index] = (policy, applies, reason)
    value = [
        {**policy, "policyApplies": applies, "analysisReasons": reason}
        for policy, applies, reason in (per_policy[i] for i in sorted(per_policy))
        if applies or not only_applied
    ]
    return Result(
        body={
            "@odata.context": f"{req.context_base}Collection(microsoft.graph.whatIfAnalysisResult)",
            "value": value,
        }
    )


_ROUTE = re.compile(re.escape(PATH), re.IGNORECASE)


def resolve(method: str, path: str) -> tuple[Handler, re.Match] | None:
    """The evaluate action's handler (POST only, as Graph: other methods are 405)."""
    match = _ROUTE.fullmatch(path.strip("/"))
    if match is None:
        return None
    if method != "POST":
        raise GraphError(
            405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource."
        )
    return evaluate, match
