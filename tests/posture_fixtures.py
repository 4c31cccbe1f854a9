"""Small Graph-shaped factories for the posture tests, and a baseline snapshot where every check passes.

Tests start from ``good_snapshot()`` and change one thing. Objects have Graph's real shapes (v1.0 policy
keys, `@odata.type` on members and locations, beta sign-in fields).
"""

from __future__ import annotations

import copy
from typing import Any

from posture import Finding, PostureOptions, evaluate

MSP_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"
CLIENT_ID = "c0ffee00-1111-4222-8333-444455556666"
DIRECT_ID = "d1rec700-1111-4222-8333-444455556666"
OTHER_PARTNER_ID = "0c4c936b-0527-4964-af24-aa6eef3d292a"
CIPP_APP_ID = "962b8fc5-58cc-4194-8042-4b58129f9a95"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
MFA_STRENGTH = "00000000-0000-0000-0000-000000000002"
COLLECTED_AT = "2026-11-22T12:00:00Z"

SA_ID, BG_ID, EA_ID, TECH_ID, STAFF_ID = (f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 6))
ADMIN_AGENTS_ID, BG_GROUP_ID, EMERGENCY_GROUP_ID, TECHS_GROUP_ID = (
    f"00000000-0000-4000-9000-00000000000{i}" for i in range(1, 5)
)
TRUSTED_ID = "11111111-0000-4000-8000-000000000001"
VPN_ID = "11111111-0000-4000-8000-000000000002"
TECH_POLICY_ID = "22222222-0000-4000-8000-000000000001"
SA_POLICY_ID = "22222222-0000-4000-8000-000000000002"
MSP_MFA_POLICY_ID = "22222222-0000-4000-8000-000000000003"
CLIENT_MFA_POLICY_ID = "33333333-0000-4000-8000-000000000001"
API_CLIENT_ID = "44444444-0000-4000-8000-000000000001"
CLIENT_ADMIN_ID, CLIENT_STAFF_ID, DIRECT_SA_ID = (
    f"55555555-0000-4000-8000-00000000000{i}" for i in range(1, 4)
)

SA_UPN = "cipp@msp.example"
BG_UPN = "bg-admin@msp.example"
EA_UPN = "emergency-access@msp.example"
DIRECT_SA_UPN = "cipp-svc@direct.example"


# --- directory objects ---------------------------------------------------------------------------


def user(
    uid: str, upn: str, name: str | None = None, *, enabled: bool = True, user_type: str = "Member"
) -> dict:
    return {
        "id": uid,
        "userPrincipalName": upn,
        "displayName": name or upn.split("@")[0],
        "accountEnabled": enabled,
        "userType": user_type,
    }


def member_user(uid: str) -> dict:
    return {"@odata.type": "#microsoft.graph.user", "id": uid}


def member_group(gid: str) -> dict:
    return {"@odata.type": "#microsoft.graph.group", "id": gid}


def group(gid: str, name: str, members: list[dict]) -> dict:
    return {"id": gid, "displayName": name, "securityEnabled": True, "members": members}


def directory_role(template_id: str, name: str, member_ids: list[str]) -> dict:
    return {
        "id": f"role-{template_id[:8]}",
        "displayName": name,
        "roleTemplateId": template_id,
        "members": [member_user(m) for m in member_ids],
    }


def registration(
    uid: str,
    upn: str,
    *,
    capable: bool = True,
    admin: bool = False,
    user_type: str = "member",
    methods: list[str] | None = None,
) -> dict:
    return {
        "id": uid,
        "userPrincipalName": upn,
        "userDisplayName": upn,
        "isAdmin": admin,
        "isMfaCapable": capable,
        "isMfaRegistered": capable,
        "methodsRegistered": methods or [],
        "userType": user_type,
    }


def premium_sku(
    *, capability: str = "Enabled", provisioning: str = "Success", plan: str = "AAD_PREMIUM"
) -> dict:
    return {
        "capabilityStatus": capability,
        "skuId": "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        "skuPartNumber": "SPB",
        "servicePlans": [
            {
                "servicePlanId": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
                "servicePlanName": "EXCHANGE_S_STANDARD",
                "provisioningStatus": "Success",
                "appliesTo": "User",
            },
            {
                "servicePlanId": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
                "servicePlanName": plan,
                "provisioningStatus": provisioning,
                "appliesTo": "User",
            },
        ],
    }


# --- named locations and policies ----------------------------------------------------------------


def ip_location(lid: str, name: str, ranges: list[str], *, trusted: bool = True) -> dict:
    return {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": lid,
        "displayName": name,
        "isTrusted": trusted,
        "ipRanges": [
            {
                "@odata.type": "#microsoft.graph.iPv6CidrRange"
                if ":" in r
                else "#microsoft.graph.iPv4CidrRange",
                "cidrAddress": r,
            }
            for r in ranges
        ],
    }


def country_location(lid: str, name: str, countries: list[str]) -> dict:
    return {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "id": lid,
        "displayName": name,
        "countriesAndRegions": countries,
        "includeUnknownCountriesAndRegions": False,
    }


def guests(types: str, tenants: list[str] | None = None) -> dict:
    """include/excludeGuestsOrExternalUsers; ``types`` is ONE comma-separated string; tenants None = all."""
    if tenants is None:
        external = {
            "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants",
            "membershipKind": "all",
        }
    else:
        external = {
            "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
            "membershipKind": "enumerated",
            "members": tenants,
        }
    return {"guestOrExternalUserTypes": types, "externalTenants": external}


def every_time() -> dict:
    return {
        "isEnabled": True,
        "frequencyInterval": "everyTime",
        "type": None,
        "value": None,
        "authenticationType": "primaryAndSecondaryAuthentication",
    }


def policy(
    pid: str,
    name: str,
    state: str = "enabled",
    *,
    users: dict | None = None,
    apps: list[str] | None = None,
    locations: tuple[list[str], list[str]] | None = None,
    grant: list[str] | None = None,
    strength: bool = False,
    sign_in_frequency: dict | None = None,
) -> dict:
    """A conditionalAccessPolicy with every key Graph v1.0 returns."""
    user_condition = {
        "includeUsers": [],
        "excludeUsers": [],
        "includeGroups": [],
        "excludeGroups": [],
        "includeRoles": [],
        "excludeRoles": [],
        "includeGuestsOrExternalUsers": None,
        "excludeGuestsOrExternalUsers": None,
    }
    user_condition.update(users or {})
    return {
        "id": pid,
        "displayName": name,
        "state": state,
        "createdDateTime": "2026-01-01T00:00:00Z",
        "modifiedDateTime": None,
        "templateId": None,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": ["all"],
            "platforms": None,
            "applications": {
                "includeApplications": apps or ["All"],
                "excludeApplications": [],
                "includeUserActions": [],
            },
            "users": user_condition,
            "locations": None
            if locations is None
            else {"includeLocations": locations[0], "excludeLocations": locations[1]},
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": grant or [],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": {"id": MFA_STRENGTH, "displayName": "Multifactor authentication"}
            if strength
            else None,
        },
        "sessionControls": None
        if sign_in_frequency is None
        else {
            "applicationEnforcedRestrictions": None,
            "cloudAppSecurity": None,
            "persistentBrowser": None,
            "signInFrequency": sign_in_frequency,
        },
    }


def signin(
    sid: str,
    uid: str,
    upn: str,
    *,
    at: str = "2026-11-22T10:00:00Z",
    error: int | None = 0,
    ca_status: str = "success",
    requirement: str = "multiFactorAuthentication",
    home_tenant: str | None = None,
    cross_tenant: str = "none",
    applied: list[dict] | None = None,
    app: str = "CIPP",
) -> dict:
    return {
        "id": sid,
        "createdDateTime": at,
        "userId": uid,
        "userPrincipalName": upn,
        "appDisplayName": app,
        "ipAddress": "66.171.40.17",
        "conditionalAccessStatus": ca_status,
        "authenticationRequirement": requirement,
        "homeTenantId": home_tenant,
        "crossTenantAccessType": cross_tenant,
        "status": {} if error is None else {"errorCode": error, "failureReason": None},
        "appliedConditionalAccessPolicies": applied or [],
    }


def applied(pid: str, name: str, result: str = "failure") -> dict:
    return {
        "id": pid,
        "displayName": name,
        "result": result,
        "enforcedGrantControls": ["Block"],
        "enforcedSessionControls": [],
    }


def api_client(cid: str, name: str, ranges: Any, *, enabled: bool = True) -> dict:
    return {
        "ClientId": cid,
        "AppName": name,
        "Role": None,
        "IPRange": ranges,
        "Enabled": enabled,
        "MCPAllowed": False,
    }


# --- the baseline: everything passes -------------------------------------------------------------


def msp_tenant() -> dict:
    users = [
        user(SA_ID, SA_UPN, "CIPP Service Account"),
        user(BG_ID, BG_UPN, "Break Glass Admin"),
        user(EA_ID, EA_UPN, "Emergency Access Account"),
        user(TECH_ID, "alex@msp.example", "Alex Wilber"),
        user(STAFF_ID, "patti@msp.example", "Patti Fernandez"),
    ]
    return {
        "tenantId": MSP_ID,
        "displayName": "Northwind MSP",
        "defaultDomainName": "msp.example",
        "role": "msp",
        "subscribedSkus": [premium_sku()],
        "securityDefaults": {"id": "00000000-0000-0000-0000-000000000005", "isEnabled": False},
        "users": users,
        "groups": [
            group(ADMIN_AGENTS_ID, "AdminAgents", [member_user(SA_ID), member_user(TECH_ID)]),
            group(BG_GROUP_ID, "CA Exclusions - Break Glass", [member_group(EMERGENCY_GROUP_ID)]),
            group(EMERGENCY_GROUP_ID, "Emergency Access Accounts", [member_user(EA_ID)]),
            group(TECHS_GROUP_ID, "CIPP Technicians", [member_user(TECH_ID)]),
        ],
        "directoryRoles": [
            directory_role(GLOBAL_ADMIN, "Global Administrator", [BG_ID, EA_ID]),
            directory_role(USER_ADMIN, "User Administrator", [TECH_ID]),
        ],
        "namedLocations": [
            ip_location(TRUSTED_ID, "Trusted - MSP Office", ["66.171.40.16/29", "2600:1700:5d30:1f0::/64"]),
            ip_location(VPN_ID, "Partner VPN", ["52.174.22.0/28"], trusted=False),
            country_location("11111111-0000-4000-8000-000000000003", "Blocked countries", ["RU", "KP"]),
        ],
        "conditionalAccessPolicies": [
            policy(
                TECH_POLICY_ID,
                "CIPP - Block technicians outside trusted location",
                users={
                    "includeUsers": ["All"],
                    "excludeUsers": [BG_ID, SA_ID],
                    "excludeGroups": [BG_GROUP_ID],
                },
                locations=(["All"], [TRUSTED_ID]),
                grant=["block"],
            ),
            policy(
                SA_POLICY_ID,
                "CIPP - Service account MFA every time",
                users={"includeUsers": [SA_ID]},
                grant=["mfa"],
                sign_in_frequency=every_time(),
            ),
            policy(
                MSP_MFA_POLICY_ID,
                "Require MFA for all users",
                users={
                    "includeUsers": ["All"],
                    "excludeUsers": [BG_ID, SA_ID],
                    "excludeGroups": [BG_GROUP_ID],
                },
                grant=["mfa"],
            ),
        ],
        "userRegistrationDetails": [
            registration(SA_ID, SA_UPN, methods=["microsoftAuthenticatorPush"]),
            registration(BG_ID, BG_UPN, admin=True),
            registration(EA_ID, EA_UPN, admin=True),
            registration(TECH_ID, "alex@msp.example", admin=True),
            registration(STAFF_ID, "patti@msp.example"),
        ],
        "signIns": [
            signin("s-msp-1", SA_ID, SA_UPN, app="CIPP-SAM"),
            signin("s-msp-2", TECH_ID, "alex@msp.example", requirement="singleFactorAuthentication"),
        ],
    }


def cipp_what_if(policies: list[dict], applies: bool = False) -> dict:
    """The collectors' lockout prediction (D-3): Graph's what-if of the MSP's service-provider user
    from CIPP's egress, each policy answered as not applying (``applies``: as applying)."""
    results = [
        {**p, "policyApplies": applies, "analysisReasons": "notSet" if applies else "users"} for p in policies
    ]
    return {
        "evaluatedAt": COLLECTED_AT,
        "identity": {
            "type": "serviceProvider",
            "userId": SA_ID,
            "userPrincipalName": SA_UPN,
            "externalTenantId": MSP_ID,
        },
        "evaluations": [
            {"appId": CIPP_APP_ID, "ipAddress": "20.119.8.45", "country": "US", "results": results}
        ],
        "error": None,
    }


def client_tenant(tenant_id: str = CLIENT_ID, name: str = "Tailspin Toys") -> dict:
    tenant = _client_tenant(tenant_id, name)
    tenant["cippWhatIf"] = cipp_what_if(tenant["conditionalAccessPolicies"])
    return tenant


def _client_tenant(tenant_id: str, name: str) -> dict:
    return {
        "tenantId": tenant_id,
        "displayName": name,
        "defaultDomainName": "tailspintoys.com",
        "role": "client",
        "accessMode": "gdap",
        "securityDefaults": {"isEnabled": False},
        "users": [
            user(CLIENT_ADMIN_ID, "admin@tailspintoys.com"),
            user(CLIENT_STAFF_ID, "ann@tailspintoys.com"),
        ],
        "userRegistrationDetails": [
            registration(CLIENT_ADMIN_ID, "admin@tailspintoys.com", admin=True),
            registration(CLIENT_STAFF_ID, "ann@tailspintoys.com"),
        ],
        "conditionalAccessPolicies": [
            policy(
                CLIENT_MFA_POLICY_ID,
                "CA001: Require MFA for all users",
                users={
                    "includeUsers": ["All"],
                    "excludeUsers": [],
                    "excludeGuestsOrExternalUsers": guests("internalGuest,serviceProvider"),
                },
                grant=["mfa"],
            ),
        ],
        "namedLocations": [],
        "signIns": [
            signin(
                "s-client-1", TECH_ID, "alex@msp.example", home_tenant=MSP_ID, cross_tenant="serviceProvider"
            )
        ],
    }


def direct_tenant() -> dict:
    tenant = client_tenant(DIRECT_ID, "Bellows College")
    del tenant["accessMode"]  # taken from cipp.tenants
    tenant["users"].append(user(DIRECT_SA_ID, DIRECT_SA_UPN, "CIPP Service Account"))
    tenant["conditionalAccessPolicies"] = [
        policy(
            "66666666-0000-4000-8000-000000000001",
            "CA010: Block outside the office",
            users={"includeUsers": ["All"], "excludeUsers": [CLIENT_ADMIN_ID, DIRECT_SA_ID]},
            locations=(["All"], ["AllTrusted"]),
            grant=["block"],
        )
    ]
    return tenant


def good_snapshot() -> dict:
    return {
        "version": 1,
        "collectedAt": COLLECTED_AT,
        "msp": {
            "tenantId": MSP_ID,
            "serviceAccountUpn": SA_UPN,
            "breakGlassUpns": [BG_UPN, EA_UPN],
            "trustedLocationNames": [],
        },
        "tenants": [msp_tenant(), client_tenant()],
        "cipp": {
            "apiClients": [api_client(API_CLIENT_ID, "Perimeter collector", ["66.171.40.16/29"])],
            "azureConfiguration": {
                "ApiUrl": "https://cipp.example",
                "TenantID": MSP_ID,
                "ClientIDs": [API_CLIENT_ID],
                "Enabled": True,
            },
            "tenants": [
                {
                    "customerId": CLIENT_ID,
                    "displayName": "Tailspin Toys",
                    "defaultDomainName": "tailspintoys.com",
                    "delegatedPrivilegeStatus": "granularDelegatedAdminPrivileges",
                }
            ],
        },
    }


def with_direct_tenant(snapshot: dict, *, upn_in_cipp: bool = True) -> dict:
    snapshot["tenants"].append(direct_tenant())
    row = {
        "customerId": DIRECT_ID,
        "displayName": "Bellows College",
        "defaultDomainName": "bellowscollege.com",
        "delegatedPrivilegeStatus": "directTenant",
    }
    if upn_in_cipp:
        row["directTenantUserPrincipalName"] = DIRECT_SA_UPN
    snapshot["cipp"]["tenants"].append(row)
    return snapshot


# --- access and evaluation -----------------------------------------------------------------------


def tenant(snapshot: dict, tenant_id: str) -> dict:
    return next(t for t in snapshot["tenants"] if t["tenantId"] == tenant_id)


def msp(snapshot: dict) -> dict:
    return tenant(snapshot, MSP_ID)


def client(snapshot: dict) -> dict:
    return tenant(snapshot, CLIENT_ID)


def find_policy(tenant_doc: dict, policy_id: str) -> dict:
    return next(p for p in tenant_doc["conditionalAccessPolicies"] if p["id"] == policy_id)


def run(snapshot: dict, check_id: str, **options: Any) -> list[Finding]:
    """The findings of one check (options: PostureOptions fields)."""
    return [f for f in evaluate(copy.deepcopy(snapshot), PostureOptions(**options)) if f.check == check_id]


def one(
    snapshot: dict, check_id: str, subject_id: str | None = None, tenant_id: str | None = None, **options: Any
) -> Finding:
    """The single finding of a check (optionally about one subject or tenant)."""
    found = [
        f
        for f in run(snapshot, check_id, **options)
        if (subject_id is None or f.subject.id == subject_id)
        and (tenant_id is None or f.tenant_id == tenant_id)
    ]
    assert len(found) == 1, [f.as_dict() for f in found]
    return found[0]
