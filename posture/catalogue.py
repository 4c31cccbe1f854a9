"""Catalogue v2 (v1's checks with v2's rules, plus A-4, A-5, B-9 and D-3): every check, in the SPEC's
order (IDs, severities and subjects are a contract)."""

from __future__ import annotations

from posture.check import Check
from posture.checks import (
    cipp,
    clients,
    locations,
    lockout,
    mfa,
    prerequisites,
    service_account,
    service_account_itself,
    technicians,
)

CATALOGUE_VERSION = 2

CATALOGUE: tuple[Check, ...] = (
    prerequisites.premium_licence,
    prerequisites.security_defaults_disabled,
    prerequisites.break_glass_account,
    locations.trusted_location,
    locations.trusted_ranges,
    technicians.technician_policy_exists,
    technicians.technician_policy_excludes_break_glass,
    technicians.technician_policy_enabled,
    technicians.technician_policy_spares_service_account,
    technicians.technician_policy_full_coverage,
    service_account.service_account_policy,
    service_account.service_account_mfa,
    service_account.service_account_sign_in_frequency,
    service_account.service_account_no_locations,
    service_account.service_account_policy_enabled,
    service_account.service_account_all_apps,
    service_account_itself.service_account_roles,
    service_account_itself.service_account_signins_mfa,
    service_account_itself.service_account_microsoft_mfa,
    cipp.api_client_has_ranges,
    cipp.api_client_ranges_valid,
    cipp.azure_configuration_matches,
    clients.client_policies_exclude_msp,
    clients.service_provider_signins_not_blocked,
    lockout.cipp_not_locked_out,
    mfa.users_mfa_capable,
    mfa.admins_mfa_capable,
    mfa.mfa_enforced,
)

CHECKS_BY_ID: dict[str, Check] = {check.id: check for check in CATALOGUE}
assert len(CHECKS_BY_ID) == len(CATALOGUE), "duplicate check id in the catalogue"

# What each check reads: the snapshot's sources whose collection times (tenants[].sourceStatus) date its
# findings (posture.freshness). Tenant sources are the finding's tenant's; "cipp.*" sources are recorded
# on the MSP tenant (the collectors read CIPP as the MSP).
_POLICIES = "conditionalAccessPolicies"
_REACH = (_POLICIES, "users", "groups", "directoryRoles")  # who a policy reaches
CHECK_SOURCES: dict[str, tuple[str, ...]] = {
    "PRE-1": ("subscribedSkus",),
    "PRE-2": ("securityDefaults",),
    "PRE-3": ("users",),
    "LOC-1": ("namedLocations",),
    "LOC-2": ("namedLocations",),
    "A-1": (_POLICIES, "namedLocations"),
    "A-2": _REACH,
    "A-3": (_POLICIES,),
    "A-4": _REACH,
    "A-5": (_POLICIES,),
    "B-1": _REACH,
    "B-2": (_POLICIES,),
    "B-3": (_POLICIES,),
    "B-4": (_POLICIES,),
    "B-5": (_POLICIES,),
    "B-6": (_POLICIES,),
    "B-7": ("users", "groups", "directoryRoles"),
    "B-8": ("signIns",),
    "B-9": ("userRegistrationDetails", _POLICIES),
    "C-1": ("cipp.apiClients",),
    "C-2": ("cipp.apiClients",),
    "C-3": ("cipp.apiClients", "cipp.azureConfiguration"),
    "D-1": (_POLICIES, "users", "groups", "cipp.tenants"),
    "D-2": ("signIns",),
    # The prediction runs right after the tenant's policies are read: their collection dates it.
    "D-3": (lockout.SNAPSHOT_KEY, _POLICIES),
    "MFA-1": ("userRegistrationDetails", "users"),
    "MFA-2": ("userRegistrationDetails",),
    "MFA-3": ("securityDefaults", _POLICIES),
}
assert set(CHECK_SOURCES) == set(CHECKS_BY_ID), "every check names the sources it reads"
