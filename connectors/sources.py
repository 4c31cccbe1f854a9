"""What is collected from every tenant: one entry per snapshot key (SPEC "Snapshot format")."""

from __future__ import annotations

from dataclasses import dataclass, field

from db.queries import POSTURE_SOURCE


@dataclass(frozen=True)
class GraphSource:
    name: str  # the snapshot's key, also the `kind` stored in graph_objects
    path: str
    params: dict[str, str] = field(default_factory=dict)
    single: bool = False  # one object, not a collection
    msp_only: bool = False  # only the MSP tenant's is needed by the catalogue
    # ... and a direct-mode client's too: CIPP signs in there as a local account, which a policy may
    # exclude through a group or a role (D-1 direct mode).
    direct_too: bool = False
    # Each object's members, paged from ``{path}/{id}/members`` with these parameters into its
    # ``members`` (None: no members). Never ``$expand=members``: Graph expands at most 20, with no
    # next link (REFERENCE.md), so AdminAgents or a break-glass exclusion group would be cut short.
    member_params: dict[str, str] | None = None


TENANT_SOURCES: tuple[GraphSource, ...] = (
    GraphSource("conditionalAccessPolicies", "identity/conditionalAccess/policies"),
    GraphSource("namedLocations", "identity/conditionalAccess/namedLocations"),
    GraphSource("securityDefaults", "policies/identitySecurityDefaultsEnforcementPolicy", single=True),
    GraphSource("subscribedSkus", "subscribedSkus"),
    GraphSource(
        "users",
        "users",
        {"$select": "id,userPrincipalName,displayName,accountEnabled,userType", "$top": "999"},
    ),
    # Every group's members: the checks follow nesting from any excluded or included group and
    # treat membership as unknown unless every group carries its members (posture/view.py).
    GraphSource(
        "groups", "groups", {"$top": "999"}, msp_only=True, direct_too=True, member_params={"$top": "999"}
    ),
    GraphSource("directoryRoles", "directoryRoles", msp_only=True, direct_too=True, member_params={}),
    GraphSource(
        "userRegistrationDetails", "reports/authenticationMethods/userRegistrationDetails", {"$top": "999"}
    ),
)


def needed_from(source: GraphSource, role: str, access_mode: str | None) -> bool:
    """Whether a tenant of this role ("msp" or "client") and access mode needs the source."""
    if not source.msp_only or role == "msp":
        return True
    return source.direct_too and access_mode == "direct"


SIGNINS = "signIns"
# Who changed a Conditional Access policy or named location (db.history): incremental like sign-ins.
DIRECTORY_AUDITS = "directoryAudits"
DIRECTORY_AUDITS_PATH = "auditLogs/directoryAudits"
DIRECTORY_AUDIT_CATEGORY_FILTER = "category eq 'Policy'"
TENANTS = "tenants"  # discovery (CIPP ListTenants or GDAP relationships), recorded on the MSP
CIPP_API_CLIENTS = "cipp.apiClients"
CIPP_AZURE_CONFIGURATION = "cipp.azureConfiguration"
CIPP_TENANTS = "cipp.tenants"
# The lockout prediction (Graph's what-if of CIPP's identity, connectors.whatif): one object per client
# tenant, run after each full collection; the snapshot's tenants[].cippWhatIf.
CIPP_WHAT_IF = "cippWhatIf"
POSTURE = POSTURE_SOURCE  # the evaluation after a full cycle, recorded beside the sources

# Both interactive and non-interactive: the CIPP service account signs in non-interactively, and
# beta returns interactive sign-ins only unless asked (REFERENCE.md).
SIGNIN_EVENT_FILTER = "(signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser'))"
