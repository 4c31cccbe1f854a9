"""Catalogue v2 (v1's checks with v2's rules, plus A-4, A-5 and B-9): every check, in the SPEC's order (IDs,
severities and subjects are a contract)."""

from __future__ import annotations

from posture.check import Check
from posture.checks import cipp, clients, locations, mfa, prerequisites, service_account, technicians

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
    service_account.service_account_roles,
    service_account.service_account_signins_mfa,
    service_account.service_account_microsoft_mfa,
    cipp.api_client_has_ranges,
    cipp.api_client_ranges_valid,
    cipp.azure_configuration_matches,
    clients.client_policies_exclude_msp,
    clients.service_provider_signins_not_blocked,
    mfa.users_mfa_capable,
    mfa.admins_mfa_capable,
    mfa.mfa_enforced,
)

CHECKS_BY_ID: dict[str, Check] = {check.id: check for check in CATALOGUE}
assert len(CHECKS_BY_ID) == len(CATALOGUE), "duplicate check id in the catalogue"
