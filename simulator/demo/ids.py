"""The demo's fixed identities: the MSP, CIPP, the other partner, Perimeter's own apps, directory roles.

None of these depend on the seed. `new_guid` and `iso` are the two formats every builder of the demo
uses for object ids and timestamps.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime

# --- The MSP -------------------------------------------------------------------------------------

MSP_TENANT_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"
MSP_NAME = "Northwind MSP"
MSP_DOMAIN = "northwindmsp.onmicrosoft.com"
SERVICE_ACCOUNT_UPN = f"cipp@{MSP_DOMAIN}"
# The configured break-glass account. A second one exists that only name-based detection finds.
BREAK_GLASS_UPNS: tuple[str, ...] = (f"bg-admin@{MSP_DOMAIN}",)
EMERGENCY_ACCESS_UPN = f"emergency-access@{MSP_DOMAIN}"
# CIPP's app registration: technicians' sign-ins to the CIPP front end carry this appId (what the
# technician block policy targets). Tokens for the CIPP-API name a client: api://<client id>.
CIPP_APP_ID = "962b8fc5-58cc-4194-8042-4b58129f9a95"
CIPP_APP_NAME = "CIPP"
# CIPP's SAM app: the service account's delegated (refresh-token) sign-ins use it.
CIPP_SAM_APP_ID = "768d1f14-efdc-4477-a485-bf66e295e522"
CIPP_SAM_APP_NAME = "CIPP-SAM"
CIPP_API_URL = "https://cipp-northwind.azurewebsites.net"
TRUSTED_LOCATION_NAME = "Trusted - MSP Office"
MSP_CITY = "Portland"
# The office egress: a /29 of which .17-.22 are used by the firewall cluster.
MSP_OFFICE_RANGE = "66.171.40.16/29"
MSP_OFFICE_IPS: tuple[str, ...] = tuple(f"66.171.40.{i}" for i in range(17, 23))
MSP_OFFICE_IPV6_RANGE = "2600:1700:5d30:1f0::/64"
# CIPP's Function App egress (Azure East US): where the service account's sign-ins come from.
CIPP_EGRESS_IP = "20.119.8.45"
CIPP_EGRESS_PLACE = "Ashburn"
# Another partner's tenant: used by a client policy whose service-provider exclusion names the wrong MSP.
# Its people co-manage a few clients (an offshore helpdesk): service-provider sign-ins that are not the
# MSP's own (D-2 must not count them).
OTHER_PARTNER_TENANT_ID = "0c4c936b-0527-4964-af24-aa6eef3d292a"
OTHER_PARTNER_NAME = "Fabrikam Support Partners"
OTHER_PARTNER_DOMAIN = "fabrikamsupport.onmicrosoft.com"
OTHER_PARTNER_CITY = "Bengaluru"
CO_MANAGED_DOMAINS: tuple[str, ...] = ("tailspintoys.com", "humongousinsurance.com", "vanarsdelltd.com")

# Perimeter's own multi-tenant Graph app in the demo (what the collectors' token requests name, and
# what an admin-consent link carries). Equal to settings.DEMO_GRAPH_CLIENT_ID.
PERIMETER_APP_ID = "95e8008c-0f15-46d9-b57b-ae59a234826d"
# Perimeter's own CIPP-API client ("Perimeter collector" in ApiClients): CIPP makes each enabled
# client's allowed audience api://<its client id>, so Perimeter asks for api://<this>/.default.
# Equal to settings.DEMO_CIPP_CLIENT_ID.
PERIMETER_CIPP_CLIENT_ID = "5f0c3d6e-8a4b-4c7e-9d21-3b6a7e1f4c90"

GLOBAL_ADMIN_TEMPLATE_ID = "62e90394-69f5-4237-9190-012177145e10"
MFA_STRENGTH_ID = "00000000-0000-0000-0000-000000000002"
SECURITY_DEFAULTS_ID = "00000000-0000-0000-0000-000000000005"
GRAPH_AUDIENCES = (
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
)

# --- Directory roles -----------------------------------------------------------------------------

# Directory roles: (template id, display name, description).
ROLES: dict[str, tuple[str, str]] = {
    GLOBAL_ADMIN_TEMPLATE_ID: (
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use "
        "Microsoft Entra identities.",
    ),
    "fe930be7-5e62-47db-91af-98c3a49a38b1": (
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    "29232cdf-9323-42fd-ade2-1d097af3e4de": (
        "Exchange Administrator",
        "Can manage all aspects of the Exchange product.",
    ),
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": (
        "Helpdesk Administrator",
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
    ),
    "194ae4cb-b126-40b2-bd5b-6091b380977d": (
        "Security Administrator",
        "Can read security information and reports, and manage "
        "configuration in Microsoft Entra ID and Office 365.",
    ),
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": (
        "Conditional Access Administrator",
        "Can manage Conditional Access capabilities.",
    ),
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": (
        "Global Reader",
        "Can read everything that a Global Administrator can, but not update anything.",
    ),
}
# GDAP roles CIPP's onboarding requests: the MSP's people hold these in every GDAP client.
GDAP_ROLE_TEMPLATE_IDS: tuple[str, ...] = (
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",  # Application Administrator
    "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
    "729827e3-9c14-49f7-bb1b-9608f156bbb8",  # Helpdesk Administrator
    "3a2c62db-5318-420d-8d74-23affee5d9d5",  # Intune Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",  # Privileged Authentication Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814",  # Privileged Role Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",  # SharePoint Administrator
    "69091246-20e8-4a56-aa4d-066075b2a7a8",  # Teams Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
)
ADMIN_ROLE_IDS_FOR_POLICIES: tuple[str, ...] = (
    GLOBAL_ADMIN_TEMPLATE_ID,
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8",
)

# --- Formats -------------------------------------------------------------------------------------


def new_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"
