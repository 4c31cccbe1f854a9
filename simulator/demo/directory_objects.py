"""Graph objects built from a directory: users, registration details, groups, directory roles, SKUs and
the security-defaults policy, with every property the simulator can answer."""

from __future__ import annotations

import random
import uuid

from simulator.demo.ids import MSP_TENANT_ID, ROLES, SECURITY_DEFAULTS_ID
from simulator.demo.licences import SERVICE_PLANS, SKUS
from simulator.demo.people import Group, Person

USER_DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)


def user_object(p: Person, spec_city: str) -> dict:
    """Every property the simulator can answer for a user (the server applies $select/the default set)."""
    guest = p.user_type == "Guest"
    mail = (
        None
        if p.kind in ("service", "breakglass")
        else (p.upn.split("#EXT#")[0].replace("_", "@", 1) if guest else p.upn)
    )
    return {
        "businessPhones": [],
        "displayName": p.display_name,
        "givenName": p.given_name,
        "jobTitle": p.job_title,
        "mail": mail,
        "mobilePhone": None,
        "officeLocation": None if guest else spec_city,
        "preferredLanguage": "en-US",
        "surname": p.surname,
        "userPrincipalName": p.upn,
        "id": p.id,
        "accountEnabled": p.enabled,
        "userType": p.user_type,
        "createdDateTime": "2021-09-01T16:20:00Z",
        "usageLocation": "US",
        "companyName": None,
        "department": None,
    }


_PREFERRED = {
    "microsoftAuthenticatorPush": "push",
    "mobilePhone": "sms",
    "softwareOneTimePasscode": "oath",
    "fido2": "push",
    "windowsHelloForBusiness": "push",
    "microsoftAuthenticatorPasswordless": "push",
}


def registration_object(p: Person) -> dict:
    capable = p.mfa_capable
    first = next((m for m in p.methods if m in _PREFERRED), None)
    preferred = _PREFERRED[first] if first and capable else None
    return {
        "id": p.id,
        "userPrincipalName": p.upn,
        "userDisplayName": p.display_name,
        "isAdmin": p.is_admin,
        "isSsprRegistered": bool(p.methods),
        "isSsprEnabled": p.user_type == "Member",
        "isSsprCapable": bool(p.methods) and p.user_type == "Member",
        "isMfaRegistered": capable,
        "isMfaCapable": capable and p.enabled,
        "isPasswordlessCapable": any(
            m in ("fido2", "windowsHelloForBusiness", "microsoftAuthenticatorPasswordless") for m in p.methods
        ),
        "lastUpdatedDateTime": "2026-10-30T04:12:19.6195833Z",
        "methodsRegistered": list(p.methods),
        "isSystemPreferredAuthenticationMethodEnabled": True,
        "systemPreferredAuthenticationMethods": [preferred] if preferred else [],
        "userPreferredMethodForSecondaryAuthentication": preferred or "none",
        "userType": p.user_type.lower(),
    }


def group_object(g: Group) -> dict:
    nickname = "".join(ch for ch in g.display_name if ch.isalnum())
    return {
        "id": g.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": g.created,
        "description": g.description,
        "displayName": g.display_name,
        "expirationDateTime": None,
        "groupTypes": [],
        "isAssignableToRole": g.role_assignable,
        "mail": None,
        "mailEnabled": False,
        "mailNickname": nickname,
        "membershipRule": None,
        "membershipRuleProcessingState": None,
        "onPremisesDomainName": None,
        "onPremisesLastSyncDateTime": None,
        "onPremisesNetBiosName": None,
        "onPremisesSamAccountName": None,
        "onPremisesSecurityIdentifier": None,
        "onPremisesSyncEnabled": None,
        "preferredDataLocation": None,
        "preferredLanguage": None,
        "proxyAddresses": [],
        "renewedDateTime": g.created,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": True,
        "securityIdentifier": "S-1-12-1-"
        + "-".join(str(int(g.id.replace("-", "")[i : i + 8], 16)) for i in range(0, 32, 8)),
        "theme": None,
        "visibility": None,
        "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
    }


def directory_role_object(template_id: str, object_id: str) -> dict:
    name, description = ROLES[template_id]
    return {
        "id": object_id,
        "deletedDateTime": None,
        "description": description,
        "displayName": name,
        "roleTemplateId": template_id,
    }


def subscribed_skus(tenant_id: str, sku: str, users: int) -> list[dict]:
    rng = random.Random(f"skus:{tenant_id}")
    sku_id, plans = SKUS[sku]
    seats = users + max(2, users // 20)
    skus = [(sku_id, sku, plans, seats, users, "Enabled")]
    if tenant_id == MSP_TENANT_ID:
        skus.append(("a403ebcc-fae0-4ca2-8c8c-7a907fd6c235", "POWER_BI_STANDARD", (), 1000000, 4, "Enabled"))
    out = []
    for sid, part, plan_names, enabled, consumed, status in skus:
        out.append(
            {
                "accountName": "",
                "accountId": tenant_id,
                "appliesTo": "User",
                "capabilityStatus": status,
                "consumedUnits": consumed,
                "id": f"{tenant_id}_{sid}",
                "prepaidUnits": {"enabled": enabled, "lockedOut": 0, "suspended": 0, "warning": 0},
                "servicePlans": [
                    {
                        "servicePlanId": SERVICE_PLANS[n],
                        "servicePlanName": n,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                    for n in plan_names
                ],
                "skuId": sid,
                "skuPartNumber": part,
                "subscriptionIds": [str(uuid.UUID(int=rng.getrandbits(128), version=4))],
            }
        )
    return out


def security_defaults_object(enabled: bool) -> dict:
    return {
        "description": "Security defaults is a set of basic identity security mechanisms recommended by "
        "Microsoft. When enabled, these recommendations will be automatically enforced in your "
        "organization. Administrators and users will be better protected from common identity "
        "related attacks.",
        "displayName": "Security Defaults",
        "id": SECURITY_DEFAULTS_ID,
        "isEnabled": enabled,
    }
