"""Licences: the service plans and SKUs the demo's tenants hold (Entra ID P1 decides what Graph answers)."""

from __future__ import annotations

SERVICE_PLANS = {
    "AAD_PREMIUM": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    "AAD_PREMIUM_P2": "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    "EXCHANGE_S_STANDARD": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    "EXCHANGE_S_ENTERPRISE": "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "SHAREPOINTSTANDARD": "c7699d2e-19aa-44de-8edf-1736da088ca1",
    "SHAREPOINTENTERPRISE": "5dbe027f-2339-4123-9542-606e4d348a72",
    "TEAMS1": "57ff2da0-773e-42df-b2af-ffb7a2317929",
    "INTUNE_A": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
    "MFA_PREMIUM": "8a256a2b-b617-496d-b51b-e76466e88db0",
    "OFFICESUBSCRIPTION": "43de0ff5-c92c-492b-9116-175376d08c38",
}
# Teams, Intune, MFA and the Office apps: what Business Premium, E3 and E5 hold after their directory,
# mail and files plans (E3 and E5 the enterprise mail and files plans).
_M365_APPS_AND_DEVICES = ("TEAMS1", "INTUNE_A", "MFA_PREMIUM", "OFFICESUBSCRIPTION")
_ENTERPRISE = ("EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE", *_M365_APPS_AND_DEVICES)
# skuPartNumber -> (skuId, service plans)
SKUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SPB": (
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        ("AAD_PREMIUM", "EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD", *_M365_APPS_AND_DEVICES),
    ),
    "SPE_E3": ("05e9a617-0261-4cee-bb44-138d3ef5d965", ("AAD_PREMIUM", *_ENTERPRISE)),
    "SPE_E5": ("06ebc4ee-1bb5-47dd-8120-11324bc54e06", ("AAD_PREMIUM", "AAD_PREMIUM_P2", *_ENTERPRISE)),
    "O365_BUSINESS_PREMIUM": (
        "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        ("EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD", "TEAMS1", "OFFICESUBSCRIPTION"),
    ),
    "O365_BUSINESS_ESSENTIALS": (
        "3b555118-da6a-4418-894f-7df1e2096870",
        ("EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD", "TEAMS1"),
    ),
}


def has_premium(sku: str) -> bool:
    return "AAD_PREMIUM" in SKUS[sku][1]
