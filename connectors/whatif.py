"""Conditional Access what-if through the one Graph client factory (connectors.graph.TenantGraph, same
pacing and retry policy as every read): an investigator's question, and the lockout prediction — would
a client tenant's policies block CIPP's own identity signing in from CIPP's egress addresses?"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.graph import GraphError, TenantGraph
from connectors.pacing import Pacer
from graphjson.times import graph_datetime
from investigate.whatif import (
    FAILURE_WORDS,
    WhatIfInputError,
    WhatIfQuery,
    failure_reason,
    request_body,
    validated,
)
from settings import Settings

# What CIPP's back end is taken to sign in with: the app is a web front end (PERIMETER_CIPP_SIGNIN_APP_IDS).
CIPP_CLIENT_APP_TYPE = "browser"
_CONSENT = re.compile(r"AADSTS(700016|7000229|65001)\b")


@dataclass(frozen=True)
class WhatIfCall:
    """The outcome of one evaluation: the results, or why there are none (a reason and one line)."""

    results: list[Any] | None
    reason: str = ""  # investigate.whatif.failure_reason's words, "" on success
    message: str = ""  # for a person: what the reason means, then the answer's own line
    detail: str = ""  # the answer's own line (status, Graph's code and message)

    @property
    def ok(self) -> bool:
        return self.results is not None


def _refusal(error: Exception) -> WhatIfCall:
    if isinstance(error, GraphError):
        reason = failure_reason(error.status, error.code)
    elif _CONSENT.search(str(error)):
        reason = "consent-needed"
    else:
        reason = "error"
    detail = " ".join(str(error).split())[:300]
    words = FAILURE_WORDS[reason]
    return WhatIfCall(None, reason, f"{words} ({detail})" if detail else words, detail)


async def evaluate(graph: TenantGraph, query: WhatIfQuery) -> WhatIfCall:
    """One evaluation of a validated ``query`` in ``graph``'s tenant; a refusal is returned, not raised."""
    try:
        return WhatIfCall(await graph.evaluate_conditional_access(request_body(query)))
    except Exception as error:  # noqa: BLE001 - every refusal (Graph, token, network) becomes a reason
        return _refusal(error)


def run_what_if(settings: Settings, tenant_id: str, query: WhatIfQuery) -> WhatIfCall:
    """An investigator's what-if, start to end (its own event loop and pacing; a page calls this)."""

    try:
        checked = validated(query)
    except WhatIfInputError as error:  # the form's own mistake: said before anything is sent
        return WhatIfCall(None, "bad-input", str(error), str(error))

    async def ask() -> WhatIfCall:
        try:
            async with TenantGraph(settings, tenant_id, Pacer()) as graph:
                return await evaluate(graph, checked)
        except Exception as error:  # noqa: BLE001 - building the client can fail too (credentials)
            return _refusal(error)

    return asyncio.run(ask())


# --- lockout prediction ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutIdentity:
    """CIPP's identity in one client: the MSP's service-provider user (GDAP), or the direct-mode
    service account (a member of the client)."""

    kind: str  # "serviceProvider" | "serviceAccount"
    user_id: str
    user_principal_name: str
    external_tenant_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "type": self.kind,
            "userId": self.user_id,
            "userPrincipalName": self.user_principal_name,
            "externalTenantId": self.external_tenant_id,
        }


def find_user_id(users: list[Any], upn: str) -> str | None:
    """The object id of the user whose UPN is ``upn`` (case-insensitive) among Graph user objects."""
    wanted = upn.strip().lower()
    for user in users:
        if isinstance(user, dict) and str(user.get("userPrincipalName") or "").lower() == wanted:
            object_id = user.get("id")
            return object_id if isinstance(object_id, str) and object_id else None
    return None


def lockout_queries(settings: Settings, identity: LockoutIdentity) -> list[WhatIfQuery]:
    """Every sign-in to ask about: each app CIPP uses from each of CIPP's egress addresses."""
    external = identity.kind == "serviceProvider"
    return [
        WhatIfQuery(
            user_id=identity.user_id,
            app_ids=(app_id,),
            ip_address=ip,
            country=settings.cipp_egress_country,
            client_app_type=CIPP_CLIENT_APP_TYPE,
            external_user_type="serviceProvider" if external else "",
            external_tenant_id=identity.external_tenant_id if external else "",
            user_label=identity.user_principal_name,
        )
        for app_id in settings.cipp_signin_app_ids
        for ip in settings.cipp_egress_ips
    ]


def lockout_error(
    reason: str, message: str, now: datetime, identity: LockoutIdentity | None
) -> dict[str, Any]:
    """A prediction that could not run, as stored (posture.checks.lockout reads ``error``)."""
    return {
        "evaluatedAt": graph_datetime(now),
        "identity": identity.as_dict() if identity else {},
        "evaluations": [],
        "error": {"reason": reason, "message": message},
    }


async def predict_lockout(
    graph: TenantGraph, settings: Settings, identity: LockoutIdentity, now: datetime
) -> dict[str, Any]:
    """The stored lockout prediction of ``graph``'s tenant (snapshot ``tenants[].cippWhatIf``): one
    evaluation per app and egress address, or the first refusal (the others would be refused alike)."""
    queries = lockout_queries(settings, identity)
    if not queries:
        return lockout_error(
            "not-configured",
            "set PERIMETER_CIPP_SIGNIN_APP_IDS and PERIMETER_CIPP_EGRESS_IPS (the apps CIPP uses, "
            "the addresses it signs in from)",
            now,
            identity,
        )
    evaluations = []
    for query in queries:
        try:
            checked = validated(query)
        except ValueError as error:
            return lockout_error("bad-request", str(error), now, identity)
        call = await evaluate(graph, checked)
        if not call.ok:
            return lockout_error(call.reason, call.detail, now, identity)
        evaluations.append(
            {
                "appId": checked.app_ids[0],
                "ipAddress": checked.ip_address,
                "country": checked.country,
                "clientAppType": checked.client_app_type,
                "results": call.results,
            }
        )
    return {
        "evaluatedAt": graph_datetime(now),
        "identity": identity.as_dict(),
        "evaluations": evaluations,
        "error": None,
    }
