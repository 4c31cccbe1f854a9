"""D-3 (Part D): would a client tenant's Conditional Access block CIPP right now?

Graph's what-if evaluation (beta ``POST identity/conditionalAccess/evaluate``) of CIPP's identity — the
MSP's service-provider user (GDAP) or the direct-mode service account — signing in to the apps CIPP
uses from CIPP's egress addresses, run by the collectors after each full collection and kept in the
snapshot as ``tenants[].cippWhatIf``::

    {"evaluatedAt": ISO,
     "identity": {"type": "serviceProvider" | "serviceAccount", "userId", "userPrincipalName",
                  "externalTenantId"},
     "evaluations": [{"appId", "ipAddress", "country", "clientAppType",
                      "results": [whatIfAnalysisResult, ...]}],
     "error": null | {"reason": "not-licensed" | "no-permission" | "no-identity" | ..., "message"}}

A policy blocks CIPP when it applies and its grant cannot be met by CIPP's unattended sign-in: ``block``,
or device and app controls (CIPP's back end has no compliant or joined device, no approved client app,
cannot change a password or accept terms). MFA can be met: CIPP's account completes MFA in the MSP
tenant (Part B), and its token carries it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphjson.values import as_dict, as_list, lower, text
from posture.check import Check, define_check_per_tenant, policy_subject
from posture.findings import Finding
from posture.graph import (
    ENABLED,
    REPORT_ONLY,
    authentication_strength,
    grant_controls,
    grant_words,
    policy_id,
    policy_name,
    policy_state,
    strength_is_mfa,
)
from posture.view import SnapshotView, TenantView

SNAPSHOT_KEY = "cippWhatIf"
# What CIPP's unattended sign-in can satisfy: MFA (done in the MSP tenant, carried by its token).
CIPP_SATISFIES = frozenset({"mfa"})
# What a person at a managed device could satisfy (the investigator's form: only `block` blocks).
PERSON_SATISFIES = frozenset(
    {
        "mfa",
        "compliantdevice",
        "domainjoineddevice",
        "approvedapplication",
        "compliantapplication",
        "passwordchange",
        "termsofuse",
        "custom",
    }
)
IDENTITY_WORDS = {
    "serviceprovider": "the MSP's service-provider user",
    "serviceaccount": "the direct-mode service account",
}
ERROR_WORDS = {
    "not-licensed": "not licensed (the tenant has no Entra ID P1/P2: Graph offers no what-if there)",
    "no-permission": "no permission (Perimeter's app needs Policy.Read.ConditionalAccess or "
    "Policy.Read.All in the tenant)",
    "consent-needed": "Perimeter's app is not consented in the tenant",
    "no-identity": "CIPP's identity is unknown",
    "not-configured": "the apps CIPP uses or its egress addresses are not configured",
}


def unmet_controls(policy: dict[str, Any], satisfiable: frozenset[str]) -> list[str]:
    """The grant controls of ``policy`` a sign-in that can satisfy ``satisfiable`` cannot meet, when
    they stop it (``operator`` AND: any; OR: every alternative); empty when the grant lets it in."""
    grant = as_dict(policy.get("grantControls"))
    controls = sorted(grant_controls(policy))
    strength = authentication_strength(policy)
    if strength is not None:
        controls.append("mfa" if strength_is_mfa(strength) else "authenticationStrength")
    if as_list(grant.get("termsOfUse")):
        controls.append("termsofuse")
    if as_list(grant.get("customAuthenticationFactors")):
        controls.append("custom")
    unmet = [c for c in controls if c == "block" or c not in satisfiable]
    if not unmet:
        return []
    if "block" in unmet or lower(grant.get("operator")) != "or":
        return unmet
    return unmet if len(unmet) == len(controls) else []


@dataclass
class Blocker:
    """One policy that would stop the sign-in, with where (apps, addresses) it would."""

    policy: dict[str, Any]
    unmet: list[str]
    apps: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    def as_evidence(self) -> dict[str, Any]:
        return {
            "id": policy_id(self.policy),
            "name": policy_name(self.policy),
            "state": self.policy.get("state"),
            "grant": grant_words(self.policy),
            "unmetControls": self.unmet,
            "appIds": self.apps,
            "ipAddresses": self.addresses,
        }


def blockers(evaluations: list[Any], satisfiable: frozenset[str]) -> tuple[list[Blocker], list[Blocker]]:
    """(enforced policies that would block, report-only ones that would once On), in answer order."""
    found: dict[str, Blocker] = {}
    for evaluation in evaluations:
        row = as_dict(evaluation)
        for result in as_list(row.get("results")):
            policy = as_dict(result)
            state = policy_state(policy)
            if policy.get("policyApplies") is not True or state not in (ENABLED, REPORT_ONLY):
                continue
            unmet = unmet_controls(policy, satisfiable)
            if not unmet:
                continue
            key = f"{state}:{policy_id(policy)}"
            blocker = found.setdefault(key, Blocker(policy, unmet))
            for value, into in (
                (text(row.get("appId")), blocker.apps),
                (text(row.get("ipAddress")), blocker.addresses),
            ):
                if value and value not in into:
                    into.append(value)
    enforced = [b for b in found.values() if policy_state(b.policy) == ENABLED]
    report_only = [b for b in found.values() if policy_state(b.policy) == REPORT_ONLY]
    return enforced, report_only


def undecided(evaluations: list[Any]) -> list[dict[str, Any]]:
    """Enforced policies what-if could not judge for lack of a detail (``notEnoughInformation``)."""
    out: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        for result in as_list(as_dict(evaluation).get("results")):
            policy = as_dict(result)
            if (
                lower(policy.get("analysisReasons")) == "notenoughinformation"
                and policy_state(policy) == ENABLED
            ):
                out.setdefault(policy_id(policy), {"id": policy_id(policy), "name": policy_name(policy)})
    return list(out.values())


def _who(identity: dict[str, Any]) -> str:
    words = IDENTITY_WORDS.get(lower(identity.get("type")), "CIPP's identity")
    upn = text(identity.get("userPrincipalName"))
    return f"{words} {upn}" if upn else words


def _where(blocker: Blocker) -> str:
    apps = ", ".join(blocker.apps) or "CIPP's apps"
    addresses = ", ".join(blocker.addresses) or "CIPP's egress"
    return f"signing in to {apps} from {addresses}"


@define_check_per_tenant(
    "D-3",
    severity="critical",
    scope="per client tenant",
    clients_only=True,
    title="CIPP would not be locked out (what-if)",
    rationale="Graph's what-if says now, before any real sign-in fails, whether a client's policy would "
    "block CIPP's own identity from CIPP's addresses.",
    fix="client-policy.exclude-service-provider",
)
def cipp_not_locked_out(check: Check, snapshot: SnapshotView, tenant: TenantView) -> Iterator[Finding]:
    raw = tenant.raw.get(SNAPSHOT_KEY)
    if not isinstance(raw, dict):
        yield check.about_tenant(
            tenant, "n/a", "no what-if result: the lockout prediction has not run for this tenant"
        )
        return
    identity = as_dict(raw.get("identity"))
    evaluations = as_list(raw.get("evaluations"))
    evidence: dict[str, Any] = {
        "evaluatedAt": raw.get("evaluatedAt"),
        "identity": identity,
        "signIns": [
            {k: as_dict(e).get(k) for k in ("appId", "ipAddress", "country", "clientAppType")}
            for e in evaluations
        ],
        "policiesEvaluated": max((len(as_list(as_dict(e).get("results"))) for e in evaluations), default=0),
    }
    error = raw.get("error")
    if isinstance(error, dict) or not evaluations:
        problem = as_dict(error)
        reason = ERROR_WORDS.get(lower(problem.get("reason")), "the evaluation failed")
        detail = text(problem.get("message"))
        evidence["error"] = problem or None
        yield check.about_tenant(
            tenant,
            "n/a",
            f"the what-if evaluation could not run: {reason}" + (f" — {detail}" if detail else ""),
            evidence,
        )
        return
    enforced, report_only = blockers(evaluations, CIPP_SATISFIES)
    unclear = undecided(evaluations)
    evidence.update(
        blockingPolicies=[b.as_evidence() for b in enforced],
        reportOnlyBlocking=[b.as_evidence() for b in report_only],
        notEnoughInformation=unclear,
    )
    who = _who(identity)
    for blocker in enforced:
        yield check.finding(
            tenant,
            "fail",
            policy_subject(blocker.policy),
            f"CIPP would be blocked: '{policy_name(blocker.policy)}' (enabled; "
            f"{grant_words(blocker.policy)}) applies to {who} {_where(blocker)}: exclude the MSP's "
            "people from it",
            {**evidence, "policyId": policy_id(blocker.policy)},
        )
    for blocker in report_only:
        yield check.finding(
            tenant,
            "warn",
            policy_subject(blocker.policy),
            f"CIPP would be blocked once '{policy_name(blocker.policy)}' (report-only; "
            f"{grant_words(blocker.policy)}) is switched On: it applies to {who} {_where(blocker)}",
            {**evidence, "policyId": policy_id(blocker.policy)},
        )
    if enforced or report_only:
        return
    if unclear:
        names = ", ".join(f"'{p['name']}'" for p in unclear)
        yield check.about_tenant(
            tenant,
            "warn",
            f"no policy blocks {who} from CIPP's addresses, but what-if could not judge {names} "
            "(not enough information: set PERIMETER_CIPP_EGRESS_COUNTRY)",
            evidence,
        )
        return
    yield check.about_tenant(
        tenant,
        "pass",
        f"what-if: no policy would block {who} signing in to CIPP's apps from CIPP's addresses "
        f"({evidence['policiesEvaluated']} policies evaluated)",
        evidence,
    )
