"""The clients' Conditional Access configuration, and the starting configuration of every demo tenant.

Each client has a profile: one way an MSP's client is configured in practice. CLIENT_PROFILES maps a
profile's name to the policies it builds (adding a profile is adding a row there and a function here).
A profile builds its policies with a PolicyKit, which draws every id and timestamp from the tenant's
own random stream in call order: the order in which a profile calls the kit is part of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from simulator import geo
from simulator.demo.ca_objects import ConfigBuilder, TenantConfig, guests_condition
from simulator.demo.ids import (
    ADMIN_ROLE_IDS_FOR_POLICIES,
    MSP_TENANT_ID,
    OTHER_PARTNER_TENANT_ID,
)
from simulator.demo.msp_policies import msp_config
from simulator.demo.people import directory
from simulator.demo.tenants import ClientTenant, client_by_id, office_range


class PolicyKit(ConfigBuilder):
    """One client's locations, people and service-provider exclusions, and a builder for each policy
    several profiles share."""

    def __init__(self, seed: int, spec: ClientTenant, now: datetime):
        super().__init__(seed, spec.tenant_id, now)
        self.spec = spec
        self.directory = d = directory(seed, spec.tenant_id)
        office_net, _ = office_range(seed, spec)
        self.office = self.ip_location(f"{spec.display_name} Office", True, [office_net], 420)
        self.allowed: dict | None = None  # allow_countries() adds it where the profile uses CA
        self.admin = d.by_upn[f"admin@{spec.default_domain}"]
        self.it_admins = d.group_named("IT Admins")
        self.remote = d.group_named("Remote Workers")
        self.finance = d.group_named("Finance")
        # Service-provider exclusions (includeGuestsOrExternalUsers shapes). Each is one object shared
        # by every policy of the tenant that uses it, as it always was.
        self.sp_all = guests_condition("internalGuest,serviceProvider", None)
        self.sp_msp = guests_condition("serviceProvider", [MSP_TENANT_ID])
        self.sp_wrong_types = guests_condition("b2bCollaborationGuest,b2bCollaborationMember", None)
        self.sp_other_partner = guests_condition("serviceProvider", [OTHER_PARTNER_TENANT_ID])

    def allow_countries(self) -> dict:
        """The "Allowed countries" location: the client's own country, the US and Canada."""
        countries = sorted({"US", "CA", geo.PLACES[self.spec.city].country})
        self.allowed = self.country_location("Allowed countries", countries, 410)
        return self.allowed

    def users(self, exclude_sp: dict | None = None, **extra) -> dict:
        u = {
            "includeUsers": ["All"],
            "excludeUsers": [self.admin.id],
            "excludeGuestsOrExternalUsers": exclude_sp,
        }
        u.update(extra)
        return u

    def mfa_all(self, state: str, exclude_sp: dict | None, strength: bool = False) -> dict:
        return self.policy(
            "CA001: Require MFA for all users",
            state,
            330,
            users=self.users(exclude_sp),
            grant=[] if strength else ["mfa"],
            strength=strength,
        )

    def legacy(self, state: str, exclude_sp: dict | None) -> dict:
        return self.policy(
            "CA002: Block legacy authentication",
            state,
            329,
            users=self.users(exclude_sp),
            client_app_types=["exchangeActiveSync", "other"],
            grant=["block"],
        )

    def enforced_baseline(self) -> list[dict]:
        """MFA for all users and the legacy-authentication block, both on and excluding every service
        provider: the pair several profiles start from or add to."""
        return [self.mfa_all("enabled", self.sp_all), self.legacy("enabled", self.sp_all)]

    def office_only(
        self, state: str, exclude_sp: dict | None, exclude_groups: list[str] | None = None
    ) -> dict:
        u = self.users(exclude_sp, excludeGroups=[self.remote.id, *(exclude_groups or [])])
        return self.policy(
            "CA010: Block access from outside the office",
            state,
            120,
            users=u,
            locations=(["All"], [self.office["id"]]),
            grant=["block"],
        )

    def countries(self, state: str, exclude_sp: dict | None) -> dict:
        assert self.allowed is not None, "allow_countries() first"
        return self.policy(
            "CA003: Block sign-ins outside allowed countries",
            state,
            300,
            users=self.users(exclude_sp),
            locations=(["All"], [self.allowed["id"]]),
            grant=["block"],
        )

    def admins_mfa(self, state: str, exclude_sp: dict | None) -> dict:
        return self.policy(
            "CA004: Require MFA for administrators",
            state,
            310,
            users={
                "includeRoles": list(ADMIN_ROLE_IDS_FOR_POLICIES),
                "excludeUsers": [self.admin.id],
                "excludeGuestsOrExternalUsers": exclude_sp,
            },
            grant=["mfa"],
        )

    def finance_mfa(self, state: str) -> dict:
        # Targets a group only: cannot apply to the MSP's people.
        return self.policy(
            "CA020: Finance apps require MFA",
            state,
            200,
            users={"includeGroups": [self.finance.id]},
            apps=["Office365"],
            grant=["mfa"],
        )


# --- The profiles ------------------------------------------------------------------------------


def baseline_good(k: PolicyKit) -> list[dict]:
    return [*k.enforced_baseline(), k.countries("enabled", k.sp_msp), k.finance_mfa("disabled")]


def baseline_strength(k: PolicyKit) -> list[dict]:
    return [
        k.mfa_all("enabled", k.sp_msp, strength=True),
        k.admins_mfa("enabled", k.sp_all),
        k.legacy("enabled", k.sp_msp),
        k.countries("enabledForReportingButNotEnforced", k.sp_all),
    ]


def office_only_no_excl(k: PolicyKit) -> list[dict]:
    return [
        k.office_only("enabled", None),
        k.mfa_all("enabledForReportingButNotEnforced", None),
        k.legacy("enabled", k.sp_all),
    ]


def device_wrong_excl(k: PolicyKit) -> list[dict]:
    compliant = k.policy(
        "CA005: Require compliant or hybrid joined device",
        "enabled",
        150,
        users=k.users(k.sp_wrong_types, excludeGroups=[k.it_admins.id]),
        grant=["compliantDevice", "domainJoinedDevice"],
        operator="OR",
    )
    return [compliant, *k.enforced_baseline()]


def admins_roles_no_excl(k: PolicyKit) -> list[dict]:
    # MFA for all users applies to browsers and modern clients only, with legacy authentication not
    # blocked (disabled): MFA-3 fails naming the narrowing. Built first, listed second.
    narrowed = k.mfa_all("enabled", k.sp_all)
    narrowed["conditions"]["clientAppTypes"] = ["browser", "mobileAppsAndDesktopClients"]
    return [
        k.admins_mfa("enabled", None),
        narrowed,
        k.legacy("disabled", None),
        k.finance_mfa("enabled"),
    ]


def wrong_tenant_excl(k: PolicyKit) -> list[dict]:
    return [
        k.countries("enabled", k.sp_other_partner),
        k.office_only("enabledForReportingButNotEnforced", None),
        k.mfa_all("enabled", k.sp_msp),
    ]


def guests_mfa_no_excl(k: PolicyKit) -> list[dict]:
    everyone_external = guests_condition(
        "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser,"
        "otherExternalUser,serviceProvider",
        None,
    )
    guests = k.policy(
        "CA006: Require MFA for guests and external users",
        "enabled",
        90,
        users={"includeGuestsOrExternalUsers": everyone_external},
        grant=["mfa"],
    )
    return [guests, *k.enforced_baseline()]


def weak(k: PolicyKit) -> list[dict]:
    return [
        k.mfa_all("enabledForReportingButNotEnforced", None),
        k.legacy("disabled", None),
        k.finance_mfa("enabled"),
    ]


def direct_excludes_sa(k: PolicyKit) -> list[dict]:
    sa = k.directory.service_account
    assert sa is not None
    return [
        # The service account is excluded through the "CA Exclusions" group (D-1 passes through it);
        # the MFA policy excludes it directly.
        k.office_only("enabled", None, exclude_groups=[k.directory.group_named("CA Exclusions").id]),
        k.policy(
            "CA001: Require MFA for all users",
            "enabled",
            330,
            users={"includeUsers": ["All"], "excludeUsers": [k.admin.id, sa.id]},
            grant=["mfa"],
        ),
    ]


def direct_missing_sa(k: PolicyKit) -> list[dict]:
    return [k.office_only("enabled", None), k.mfa_all("enabled", None)]


@dataclass(frozen=True)
class Profile:
    summary: str
    # The client's Conditional Access policies; None: security defaults instead (and no CA but a
    # disabled leftover of a trial). A client without Entra ID P1 gets security defaults whatever its
    # profile.
    policies: Callable[[PolicyKit], list[dict]] | None


# fmt: off
CLIENT_PROFILES: dict[str, Profile] = {
    "baseline_good": Profile(
        "MFA for all + legacy block + country block, all excluding service providers", baseline_good),
    "baseline_strength": Profile(
        "MFA via authentication strength; role-targeted policy; enumerated exclusion", baseline_strength),
    "office_only_no_excl": Profile(
        "enforced block outside the office, no service-provider exclusion", office_only_no_excl),
    "device_wrong_excl": Profile(
        "compliant device required; exclusion lists the wrong guest types", device_wrong_excl),
    "admins_roles_no_excl": Profile(
        "role-targeted MFA without exclusion (no block, still D-1 fail)", admins_roles_no_excl),
    "wrong_tenant_excl": Profile(
        "exclusion enumerates another partner; office block in report-only", wrong_tenant_excl),
    "guests_mfa_no_excl": Profile(
        "MFA for guests and external users incl. service providers, no exclusion", guests_mfa_no_excl),
    "weak": Profile(
        "only report-only and disabled policies: MFA not enforced", weak),
    "secdefaults": Profile(
        "security defaults, no CA policies", None),
    "direct_excludes_sa": Profile(
        "direct tenant: block outside office excludes the local CIPP account", direct_excludes_sa),
    "direct_missing_sa": Profile(
        "direct tenant: block outside office without excluding it", direct_missing_sa),
}
# fmt: on


def client_config(seed: int, spec: ClientTenant, now: datetime) -> TenantConfig:
    profile = CLIENT_PROFILES.get(spec.profile)
    if profile is None:
        raise ValueError(f"unknown profile {spec.profile}")
    kit = PolicyKit(seed, spec, now)
    if not spec.premium or profile.policies is None:
        # Security defaults instead of CA; what is left of an earlier Conditional Access trial stays
        # (Entra keeps disabled policies and named locations).
        leftover = kit.policy(
            "CA001: Require MFA for all users (trial)",
            "disabled",
            700,
            users={"includeUsers": ["All"]},
            grant=["mfa"],
        )
        return TenantConfig([kit.office], [leftover], security_defaults=True)
    allowed = kit.allow_countries()
    policies = profile.policies(kit)
    return TenantConfig([kit.office, allowed], policies, security_defaults=spec.security_defaults)


def initial_config(seed: int, tenant_id: str, now: datetime) -> TenantConfig:
    if tenant_id == MSP_TENANT_ID:
        return msp_config(seed, now)
    spec = client_by_id(tenant_id)
    if spec is None:
        raise KeyError(tenant_id)
    return client_config(seed, spec, now)
