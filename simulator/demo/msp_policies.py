"""The MSP's own Conditional Access configuration: the policies catalogue v2's A, B and LOC checks read,
each built to pass or fail somewhere (docs/simulator-contract.md, "Demo MSP")."""

from __future__ import annotations

from datetime import datetime

from simulator import geo
from simulator.demo.ca_objects import ConfigBuilder, TenantConfig
from simulator.demo.ids import (
    BREAK_GLASS_UPNS,
    CIPP_APP_ID,
    EMERGENCY_ACCESS_UPN,
    GLOBAL_ADMIN_TEMPLATE_ID,
    MSP_OFFICE_IPV6_RANGE,
    MSP_OFFICE_RANGE,
    MSP_TENANT_ID,
    SERVICE_ACCOUNT_UPN,
    TRUSTED_LOCATION_NAME,
)
from simulator.demo.people import directory


def msp_config(seed: int, now: datetime) -> TenantConfig:
    d = directory(seed, MSP_TENANT_ID)
    c = ConfigBuilder(seed, MSP_TENANT_ID, now)
    by_upn = d.by_upn
    sa, bg, ea = by_upn[SERVICE_ACCOUNT_UPN], by_upn[BREAK_GLASS_UPNS[0]], by_upn[EMERGENCY_ACCESS_UPN]
    bg_group = d.group_named("CA Exclusions - Break Glass")
    techs = d.group_named("CIPP Technicians")
    cipp_admins = d.group_named("CIPP Admins")
    automation = d.group_named("CA Exclusions - Automation")

    office = [MSP_OFFICE_RANGE, MSP_OFFICE_IPV6_RANGE, "10.0.0.0/8"]
    trusted = c.ip_location(TRUSTED_LOCATION_NAME, True, office, 400)
    anywhere = c.ip_location("Trusted - Temporary (remote work)", True, ["0.0.0.0/0"], 95)
    vpn = c.ip_location("Partner VPN concentrator", False, ["52.174.22.0/28"], 300)
    countries = c.country_location("Blocked countries", ["RU", "CN", "KP", "IR", "NG"], 380)
    locations = [trusted, anywhere, vpn, countries]

    # c.policy(name, state, created that many days ago, then the conditions and controls).
    policies = [
        # A-1 good: enforced, targets CIPP, excludes the trusted location by id, both break-glass excluded
        # (bg-admin directly, emergency-access through a nested group).
        c.policy(
            "CIPP - Block technicians outside trusted location",
            "enabled",
            200,
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            apps=[CIPP_APP_ID],
            locations=(["All"], [trusted["id"]]),
            grant=["block"],
            modified=120,
        ),
        # A-1 in report-only: excludes AllTrusted (which the 0.0.0.0/0 location makes meaningless);
        # the break-glass accounts are excluded only through their Global Administrator role (A-2 passes
        # through the role), the service account directly (A-4 passes).
        c.policy(
            "CIPP - Block outside office (pilot)",
            "enabledForReportingButNotEnforced",
            60,
            users={
                "includeUsers": ["All"],
                "excludeUsers": [sa.id],
                "excludeRoles": [GLOBAL_ADMIN_TEMPLATE_ID],
            },
            locations=(["All"], ["AllTrusted"]),
            grant=["block"],
        ),
        # A-1 disabled: an old attempt that excludes only the emergency account (misses bg-admin) and
        # applies to browsers on Windows and macOS only (A-5 fails: the CIPP app from a phone, or any
        # desktop client, is let through).
        c.policy(
            "OLD - Block CIPP off-network",
            "disabled",
            500,
            users={"includeGroups": [techs.id], "excludeUsers": [ea.id]},
            apps=[CIPP_APP_ID],
            client_app_types=["browser"],
            platforms=["windows", "macOS"],
            locations=(["All"], [trusted["id"]]),
            grant=["block"],
            modified=210,
        ),
        # B good: only the service account, all apps, MFA, every time, no location condition, on.
        c.policy(
            "CIPP - Service account MFA every time",
            "enabled",
            190,
            users={"includeUsers": [sa.id]},
            grant=["mfa"],
            sign_in_frequency={
                "value": None,
                "type": None,
                "authenticationType": "primaryAndSecondaryAuthentication",
                "frequencyInterval": "everyTime",
                "isEnabled": True,
            },
        ),
        # B legacy: also a group, and excludes the automation group the account sits in (B-1 fails);
        # selected apps, trusted-location exclusion, a device or a third-party custom control instead of
        # MFA (B-2 and B-9 fail until service-account-policy.require-mfa), 12-hour frequency, report-only.
        c.policy(
            "CIPP service account (legacy)",
            "enabledForReportingButNotEnforced",
            700,
            users={
                "includeUsers": [sa.id],
                "includeGroups": [cipp_admins.id],
                "excludeGroups": [automation.id],
            },
            apps=[geo.ARM_RESOURCE[0], geo.GRAPH_RESOURCE[0]],
            locations=(["All"], ["AllTrusted"]),
            grant=["compliantDevice", "domainJoinedDevice"],
            custom_controls=["DuoSecurityMFA"],
            sign_in_frequency={
                "value": 12,
                "type": "hours",
                "authenticationType": "primaryAndSecondaryAuthentication",
                "frequencyInterval": "timeBased",
                "isEnabled": True,
            },
            modified=340,
        ),
        c.policy(
            "Require MFA for all users",
            "enabled",
            650,
            users={"includeUsers": ["All"], "excludeUsers": [bg.id, sa.id], "excludeGroups": [bg_group.id]},
            grant=["mfa"],
        ),
        c.policy(
            "Block high-risk countries",
            "enabled",
            380,
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            locations=([countries["id"]], []),
            grant=["block"],
        ),
        c.policy(
            "Block legacy authentication",
            "enabled",
            640,
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            client_app_types=["exchangeActiveSync", "other"],
            grant=["block"],
        ),
    ]
    return TenantConfig(locations, policies, security_defaults=False)
