"""Conditional Access building blocks: named locations, policies in Graph v1.0's full shape, a tenant's
mutable configuration (what fixes change), and ConfigBuilder, which the MSP's and the clients' starting
configurations are built with (ids and timestamps from the tenant's own random stream)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.demo.ids import MFA_STRENGTH_ID, iso, new_guid


def ip_location(loc_id: str, name: str, trusted: bool, ranges: list[str], created: str) -> dict:
    return {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": loc_id,
        "displayName": name,
        "modifiedDateTime": created,
        "createdDateTime": created,
        "isTrusted": trusted,
        "ipRanges": [ip_range(r) for r in ranges],
    }


def ip_range(cidr: str) -> dict:
    kind = "iPv6CidrRange" if ":" in cidr else "iPv4CidrRange"
    return {"@odata.type": f"#microsoft.graph.{kind}", "cidrAddress": cidr}


def country_location(
    loc_id: str, name: str, countries: list[str], created: str, unknown: bool = False
) -> dict:
    return {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "id": loc_id,
        "displayName": name,
        "modifiedDateTime": created,
        "createdDateTime": created,
        "countriesAndRegions": countries,
        "includeUnknownCountriesAndRegions": unknown,
        "countryLookupMethod": "clientIpAddress",
    }


def empty_policy() -> dict:
    """Every key Graph v1.0 returns for a conditionalAccessPolicy, with its empty value."""
    return {
        "id": None,
        "templateId": None,
        "displayName": None,
        "createdDateTime": None,
        "modifiedDateTime": None,
        "state": "disabled",
        "sessionControls": None,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": ["all"],
            "servicePrincipalRiskLevels": [],
            "insiderRiskLevels": None,
            "platforms": None,
            "devices": None,
            "clientApplications": None,
            "authenticationFlows": None,
            "applications": {
                "includeApplications": [],
                "excludeApplications": [],
                "includeUserActions": [],
                "includeAuthenticationContextClassReferences": [],
                "applicationFilter": None,
            },
            "users": {
                "includeUsers": [],
                "excludeUsers": [],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
                "includeGuestsOrExternalUsers": None,
                "excludeGuestsOrExternalUsers": None,
            },
            "locations": None,
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": [],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
            "authenticationStrength": None,
        },
    }


def empty_session_controls() -> dict:
    return {
        "disableResilienceDefaults": None,
        "applicationEnforcedRestrictions": None,
        "cloudAppSecurity": None,
        "persistentBrowser": None,
        "signInFrequency": None,
    }


def mfa_strength() -> dict:
    return {
        "id": MFA_STRENGTH_ID,
        "createdDateTime": "2021-12-01T00:00:00Z",
        "modifiedDateTime": "2021-12-01T00:00:00Z",
        "displayName": "Multifactor authentication",
        "description": "Combinations of methods that satisfy strong authentication, such as a password + SMS",
        "policyType": "builtIn",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": [
            "windowsHelloForBusiness",
            "fido2",
            "x509CertificateMultiFactor",
            "deviceBasedPush",
            "temporaryAccessPassOneTime",
            "temporaryAccessPassMultiUse",
            "password,microsoftAuthenticatorPush",
            "password,softwareOath",
            "password,hardwareOath",
            "password,sms",
            "password,voice",
            "federatedMultiFactor",
            "microsoftAuthenticatorPush,federatedSingleFactor",
            "softwareOath,federatedSingleFactor",
            "hardwareOath,federatedSingleFactor",
            "sms,federatedSingleFactor",
            "voice,federatedSingleFactor",
        ],
    }


def guests_condition(types: str, tenants: list[str] | None) -> dict:
    """includeGuestsOrExternalUsers/excludeGuestsOrExternalUsers: types is ONE comma-separated string."""
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


def policy(
    pid: str,
    name: str,
    state: str,
    created: str,
    *,
    users: dict | None = None,
    apps: list[str] | None = None,
    client_app_types: list[str] | None = None,
    platforms: list[str] | None = None,
    locations: tuple[list[str], list[str]] | None = None,
    grant: list[str] | None = None,
    custom_controls: list[str] | None = None,
    operator: str = "OR",
    strength: bool = False,
    sign_in_frequency: dict | None = None,
    modified: str | None = None,
) -> dict:
    p = empty_policy()
    p.update(id=pid, displayName=name, state=state, createdDateTime=created, modifiedDateTime=modified)
    p["conditions"]["users"].update(users or {})
    p["conditions"]["applications"]["includeApplications"] = apps or ["All"]
    if client_app_types:
        p["conditions"]["clientAppTypes"] = client_app_types
    if platforms:
        p["conditions"]["platforms"] = {"includePlatforms": platforms, "excludePlatforms": []}
    if locations is not None:
        p["conditions"]["locations"] = {"includeLocations": locations[0], "excludeLocations": locations[1]}
    p["grantControls"]["operator"] = operator
    p["grantControls"]["builtInControls"] = grant or []
    p["grantControls"]["customAuthenticationFactors"] = custom_controls or []
    if strength:
        p["grantControls"]["authenticationStrength"] = mfa_strength()
    if sign_in_frequency is not None:
        p["sessionControls"] = empty_session_controls()
        p["sessionControls"]["signInFrequency"] = sign_in_frequency
    return p


@dataclass
class TenantConfig:
    """The mutable part of a tenant: what fixes change."""

    named_locations: list[dict]
    policies: list[dict]
    security_defaults: bool


class ConfigBuilder:
    """Named locations and policies of one tenant's starting configuration, their ids and timestamps drawn
    from the tenant's own random stream in call order: the order of the calls is part of the data."""

    def __init__(self, seed: int, tenant_id: str, now: datetime):
        self.now = now
        self.rng = random.Random(f"{seed}:{tenant_id}:config")

    def ago(self, days: int) -> str:
        """A timestamp `days` before now, within that day."""
        return iso(self.now - timedelta(days=days, seconds=self.rng.randint(0, 86000)))

    def ip_location(self, name: str, trusted: bool, ranges: list[str], days: int) -> dict:
        """An IP named location created `days` ago."""
        return ip_location(new_guid(self.rng), name, trusted, ranges, self.ago(days))

    def country_location(self, name: str, countries: list[str], days: int) -> dict:
        """A country named location created `days` ago."""
        return country_location(new_guid(self.rng), name, countries, self.ago(days))

    def policy(self, name: str, state: str, days: int, modified: int | None = None, **options) -> dict:
        """A policy created `days` ago (last modified `modified` days ago, if given); see policy() for the
        options."""
        pid, created = new_guid(self.rng), self.ago(days)
        changed = None if modified is None else self.ago(modified)
        return policy(pid, name, state, created, modified=changed, **options)
