"""The deterministic demo MSP: "Northwind MSP" and its 25 client tenants.

Everything here is a pure function of the seed (and, for timestamps of configuration objects, of the
simulator's start time). The data is built so that every posture check of catalogue v1 has a passing
and a failing subject somewhere (see DEMO_CASES at the end of this module).

Tenants, their names and ids do not depend on the seed; people, ids of objects, devices and sign-ins do.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulator import geo

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

# --- Licences ------------------------------------------------------------------------------------

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
# skuPartNumber -> (skuId, service plans)
SKUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SPB": (
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        (
            "AAD_PREMIUM",
            "EXCHANGE_S_STANDARD",
            "SHAREPOINTSTANDARD",
            "TEAMS1",
            "INTUNE_A",
            "MFA_PREMIUM",
            "OFFICESUBSCRIPTION",
        ),
    ),
    "SPE_E3": (
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        (
            "AAD_PREMIUM",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE",
            "TEAMS1",
            "INTUNE_A",
            "MFA_PREMIUM",
            "OFFICESUBSCRIPTION",
        ),
    ),
    "SPE_E5": (
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        (
            "AAD_PREMIUM",
            "AAD_PREMIUM_P2",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE",
            "TEAMS1",
            "INTUNE_A",
            "MFA_PREMIUM",
            "OFFICESUBSCRIPTION",
        ),
    ),
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


# --- Client tenants ------------------------------------------------------------------------------

# Each profile is one way an MSP's client is configured in practice (see client_policies()).
PROFILES = (
    "baseline_good",  # MFA for all + legacy block + country block, all excluding service providers
    "baseline_strength",  # MFA via authentication strength; role-targeted policy; enumerated exclusion
    "office_only_no_excl",  # enforced block outside the office, no service-provider exclusion
    "device_wrong_excl",  # compliant device required; exclusion lists the wrong guest types
    "admins_roles_no_excl",  # role-targeted MFA without exclusion (no block, still D-1 fail)
    "wrong_tenant_excl",  # exclusion enumerates another partner; office block in report-only
    "guests_mfa_no_excl",  # MFA for guests and external users incl. service providers, no exclusion
    "weak",  # only report-only and disabled policies: MFA not enforced
    "secdefaults",  # security defaults, no CA policies
    "direct_excludes_sa",  # direct tenant: block outside office excludes the local CIPP account
    "direct_missing_sa",  # direct tenant: block outside office without excluding it
)


@dataclass(frozen=True)
class ClientTenant:
    tenant_id: str
    display_name: str
    default_domain: str
    user_count: int
    access_mode: str  # "gdap" | "direct"
    profile: str
    city: str
    sku: str
    security_defaults: bool
    mfa_rate: float  # share of enabled members that are MFA capable
    admin_gap: bool  # one admin is not MFA capable (MFA-2 fails)
    direct_sa_upn: str | None = None  # directTenantUserPrincipalName in ListTenants

    @property
    def initial_domain(self) -> str:
        return self.default_domain.split(".")[0].replace("-", "") + ".onmicrosoft.com"

    @property
    def premium(self) -> bool:
        return has_premium(self.sku)


def _tid(name: str) -> str:
    # Stable tenant ids independent of the seed: the same demo tenants across runs and seeds.
    return str(uuid.uuid5(uuid.UUID(MSP_TENANT_ID), name))


# fmt: off
_CLIENTS: tuple[tuple, ...] = (
    # name, domain, users, mode, profile, city, sku, security defaults, MFA rate, admin gap[, direct UPN]
    ("Tailspin Toys", "tailspintoys.com", 3000, "gdap", "baseline_good", "Seattle", "SPE_E3", False, 0.97,
     False),
    ("Woodgrove Credit Union", "woodgrovecu.com", 2200, "gdap", "baseline_strength", "Chicago", "SPE_E5",
     False, 0.99, False),
    ("Adventure Works Cycles", "adventure-works.com", 1500, "gdap", "device_wrong_excl", "Denver", "SPB",
     False, 0.88, False),
    ("Lamna Healthcare", "lamnahealthcare.com", 1100, "gdap", "admins_roles_no_excl", "Boston", "SPE_E3",
     False, 0.96, True),
    ("Wide World Importers", "wideworldimporters.com", 800, "gdap", "baseline_good", "San Diego", "SPB",
     False, 0.84, False),
    ("Humongous Insurance", "humongousinsurance.com", 650, "gdap", "wrong_tenant_excl", "Hartford", "SPE_E3",
     False, 0.93, False),
    ("Litware Inc", "litwareinc.com", 520, "gdap", "weak", "Austin", "SPB", False, 0.58, True),
    ("Proseware", "proseware.com", 420, "gdap", "baseline_good", "Atlanta", "SPB", False, 0.98, False),
    ("Alpine Ski House", "alpineskihouse.com", 350, "gdap", "guests_mfa_no_excl", "Salt Lake City", "SPB",
     False, 0.91, False),
    ("Coho Winery", "cohowinery.com", 300, "gdap", "secdefaults", "Napa", "O365_BUSINESS_PREMIUM", True,
     0.90, False),
    ("Fourth Coffee", "fourthcoffee.com", 240, "gdap", "baseline_strength", "Vancouver", "SPB", False, 0.97,
     False),
    ("Trey Research", "treyresearch.net", 190, "gdap", "office_only_no_excl", "Minneapolis", "SPB", False,
     0.97, False),
    ("Blue Yonder Airlines", "blueyonderairlines.com", 160, "gdap", "baseline_good", "Phoenix", "SPB", False,
     0.72, True),
    ("Margie's Travel", "margiestravel.com", 140, "gdap", "weak", "London", "SPB", False, 0.81, False),
    ("Lucerne Publishing", "lucernepublishing.com", 120, "gdap", "device_wrong_excl", "Toronto", "SPB", False,
     0.99, False),
    ("Relecloud", "relecloud.com", 110, "gdap", "office_only_no_excl", "Boise", "SPB", False, 0.96, False),
    ("Graphic Design Institute", "graphicdesigninstitute.com", 85, "gdap", "secdefaults", "Eugene", "SPB",
     True, 0.86, False),
    ("Southridge Video", "southridgevideo.com", 75, "gdap", "baseline_good", "Sacramento", "SPB", False, 1.0,
     False),
    ("Bellows College", "bellowscollege.com", 60, "direct", "direct_excludes_sa", "Spokane", "SPB", False,
     0.93, False, "cipp-svc@bellowscollege.com"),
    ("Munson's Pickles and Preserves", "munsonspickles.com", 52, "gdap", "admins_roles_no_excl", "Bend",
     "SPB", False, 0.77, False),
    ("VanArsdel Ltd", "vanarsdelltd.com", 45, "gdap", "wrong_tenant_excl", "Dublin", "SPB", False, 0.98,
     False),
    ("Wingtip Toys", "wingtiptoys.com", 38, "direct", "direct_missing_sa", "Tacoma", "SPB", False, 0.97,
     False, "cipp-svc@wingtiptoys.com"),
    ("Consolidated Messenger", "consolidatedmessenger.com", 32, "gdap", "guests_mfa_no_excl", "Amsterdam",
     "SPB", False, 0.94, False),
    ("City Power & Light", "citypowerlight.com", 25, "gdap", "secdefaults", "Portland",
     "O365_BUSINESS_ESSENTIALS", True, 0.64, True),
    ("Best For You Organics", "bestforyouorganics.com", 20, "direct", "secdefaults", "Eugene", "SPB", True,
     0.95, False),
)
# fmt: on


@functools.cache
def client_tenants() -> tuple[ClientTenant, ...]:
    """The 25 client tenants, in a fixed order (largest first)."""
    out = []
    for row in _CLIENTS:
        name, domain, users, mode, profile, city, sku, secdef, mfa_rate, admin_gap, *rest = row
        out.append(
            ClientTenant(
                _tid(domain),
                name,
                domain,
                users,
                mode,
                profile,
                city,
                sku,
                secdef,
                mfa_rate,
                admin_gap,
                rest[0] if rest else None,
            )
        )
    return tuple(out)


def client_by_id(tenant_id: str) -> ClientTenant | None:
    return next((c for c in client_tenants() if c.tenant_id == tenant_id), None)


# A client onboarded in CIPP (listed by ListTenants, with a GDAP relationship) where Perimeter's app
# was never consented: the token request for it fails with AADSTS700016, as Entra answers.
UNCONSENTED_DOMAINS: tuple[str, ...] = ("graphicdesigninstitute.com",)


def consented(tenant_id: str) -> bool:
    """Whether Perimeter's app has a service principal (admin consent) in this tenant."""
    spec = client_by_id(tenant_id.lower())
    return spec is None or spec.default_domain not in UNCONSENTED_DOMAINS


def licensed_for_reports(tenant_id: str) -> bool:
    """Whether sign-in logs and the reports/ endpoints answer: Entra ID P1 or P2 in the tenant (the
    MSP has it). Without it Graph answers 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant."""
    spec = client_by_id(tenant_id.lower())
    return spec is None or spec.premium


def co_managed(tenant_id: str) -> bool:
    """Whether the other partner's people also sign in to this client as service providers."""
    spec = client_by_id(tenant_id.lower())
    return spec is not None and spec.default_domain in CO_MANAGED_DOMAINS


def all_tenant_ids() -> tuple[str, ...]:
    return (MSP_TENANT_ID, *(c.tenant_id for c in client_tenants()))


# --- People --------------------------------------------------------------------------------------


@dataclass
class Person:
    """A user as the simulator needs it: the Graph object is built from this."""

    id: str
    upn: str
    display_name: str
    given_name: str | None
    surname: str | None
    job_title: str | None
    enabled: bool = True
    user_type: str = "Member"
    roles: tuple[str, ...] = ()  # role template ids
    groups: set[str] = field(default_factory=set)  # transitive group ids
    methods: tuple[str, ...] = ()
    home_ip: str = ""
    home_asn: int = 0
    device: int = 0  # index into geo.DEVICES
    device_id: str = ""
    kind: str = "staff"  # staff | technician | service | breakglass | admin | guest
    byod: bool = False  # a personal device: never compliant

    @property
    def is_admin(self) -> bool:
        return bool(self.roles)

    @property
    def mfa_capable(self) -> bool:
        return any(m not in ("email", "securityQuestion") for m in self.methods)


@dataclass
class Group:
    id: str
    display_name: str
    description: str
    member_ids: list[str]  # users and groups, direct members
    created: str
    role_assignable: bool = False


@dataclass
class Directory:
    tenant_id: str
    domain: str
    people: list[Person]
    groups: list[Group]
    role_ids: dict[str, str]  # role template id -> directoryRole object id (per tenant)
    service_account: Person | None  # the CIPP account signing in to this tenant as a member, if any

    @functools.cached_property
    def by_id(self) -> dict[str, Person]:
        return {p.id: p for p in self.people}

    @functools.cached_property
    def by_upn(self) -> dict[str, Person]:
        return {p.upn.lower(): p for p in self.people}

    @functools.cached_property
    def group_by_id(self) -> dict[str, Group]:
        return {g.id: g for g in self.groups}

    def group_named(self, name: str) -> Group:
        return next(g for g in self.groups if g.display_name == name)

    @functools.cached_property
    def active_members(self) -> list[Person]:
        """Enabled member users that sign in day to day (not service or break-glass accounts)."""
        return [p for p in self.people if p.enabled and p.kind in ("staff", "technician", "admin")]

    @functools.cached_property
    def guests(self) -> list[Person]:
        return [p for p in self.people if p.kind == "guest"]

    @functools.cached_property
    def disabled(self) -> list[Person]:
        return [p for p in self.people if not p.enabled]


def new_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_STRONG_METHODS = (
    ("microsoftAuthenticatorPush", "softwareOneTimePasscode"),
    ("microsoftAuthenticatorPush",),
    ("mobilePhone",),
    ("mobilePhone", "microsoftAuthenticatorPush", "softwareOneTimePasscode"),
    ("windowsHelloForBusiness", "microsoftAuthenticatorPush"),
    ("microsoftAuthenticatorPasswordless", "microsoftAuthenticatorPush"),
    ("fido2", "microsoftAuthenticatorPush"),
    ("email", "mobilePhone"),
)
_WEAK_METHODS = ((), (), ("email",))

# fmt: off
_MSP_TECHNICIANS = (
    ("Megan", "Bowen", "Service Desk Manager"), ("Alex", "Wilber", "Senior Engineer"),
    ("Priya", "Raman", "Cloud Engineer"), ("Diego", "Siciliani", "Engineer"),
    ("Lynne", "Robbins", "Engineer"), ("Johanna", "Lorenz", "Service Desk Analyst"),
    ("Isaiah", "Langer", "Service Desk Analyst"), ("Lee", "Gu", "Security Engineer"),
    ("Nestor", "Wilke", "Engineer"), ("Pradeep", "Gupta", "Engineer"),
    ("Grady", "Archie", "Service Desk Analyst"), ("Irvin", "Sayers", "Network Engineer"),
    ("Joni", "Sherman", "Service Desk Analyst"), ("Henrietta", "Mueller", "Projects Lead"),
)
# fmt: on
# fmt: off
_MSP_STAFF = (
    ("Daniel", "Okafor", "Managing Director"), ("Patti", "Fernandez", "Finance Manager"),
    ("Miriam", "Graham", "Account Manager"), ("Adele", "Vance", "Sales Lead"),
    ("Lidia", "Holloway", "Office Manager"), ("Christie", "Cline", "Bookkeeper"),
    ("Enrico", "Cattaneo", "Account Manager"),
)
# fmt: on


def _person(
    rng: random.Random,
    upn: str,
    given: str | None,
    surname: str | None,
    title: str | None,
    home_city: str,
    kind: str = "staff",
    display: str | None = None,
) -> Person:
    prefix, asn = rng.choice(geo.HOME_NETWORKS)
    return Person(
        id=new_guid(rng),
        upn=upn,
        display_name=display or f"{given} {surname}",
        given_name=given,
        surname=surname,
        job_title=title,
        home_ip=geo.public_ip(rng, prefix),
        home_asn=asn,
        device=rng.randrange(len(geo.DEVICES)),
        device_id=new_guid(rng),
        kind=kind,
        byod=rng.random() < 0.06,
    )


@functools.cache
def partner_technicians(seed: int) -> tuple[Person, ...]:
    """The other partner's helpdesk: people of another home tenant, seen only in sign-in logs."""
    rng = random.Random(f"{seed}:{OTHER_PARTNER_TENANT_ID}:people")
    return tuple(
        _person(rng, f"{given.lower()}.{surname.lower()}@{OTHER_PARTNER_DOMAIN}", given, surname,
                "Helpdesk Analyst", OTHER_PARTNER_CITY, "technician")
        for given, surname in (("Ananya", "Iyer"), ("Rahul", "Menon"), ("Kavya", "Reddy"))
    )


@functools.lru_cache(maxsize=64)
def directory(seed: int, tenant_id: str) -> Directory:
    """The users, groups and role holders of one tenant (immutable: cached across simulators)."""
    if tenant_id == MSP_TENANT_ID:
        return _msp_directory(seed)
    spec = client_by_id(tenant_id)
    if spec is None:
        raise KeyError(tenant_id)
    return _client_directory(seed, spec)


def _msp_directory(seed: int) -> Directory:
    rng = random.Random(f"{seed}:{MSP_TENANT_ID}:people")
    people: list[Person] = []
    techs = []
    for given, surname, title in _MSP_TECHNICIANS:
        p = _person(
            rng,
            f"{given.lower()}.{surname.lower()}@{MSP_DOMAIN}",
            given,
            surname,
            title,
            MSP_CITY,
            "technician",
        )
        p.methods = rng.choice(_STRONG_METHODS[:7])
        techs.append(p)
    staff = []
    for given, surname, title in _MSP_STAFF:
        p = _person(rng, f"{given.lower()}.{surname.lower()}@{MSP_DOMAIN}", given, surname, title, MSP_CITY)
        p.methods = rng.choice(_STRONG_METHODS)
        staff.append(p)
    staff[-1].methods = ("email",)  # one bookkeeper never registered MFA: MSP stays just above 95 %
    owner = staff[0]
    owner.roles = (GLOBAL_ADMIN_TEMPLATE_ID,)
    techs[0].roles = ("fe930be7-5e62-47db-91af-98c3a49a38b1",)
    techs[7].roles = ("194ae4cb-b126-40b2-bd5b-6091b380977d", "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9")
    sa = _person(
        rng,
        SERVICE_ACCOUNT_UPN,
        "CIPP",
        "Service",
        "Service account",
        MSP_CITY,
        "service",
        display="CIPP Service Account",
    )
    sa.methods = ("microsoftAuthenticatorPush", "softwareOneTimePasscode")
    bg = _person(
        rng, BREAK_GLASS_UPNS[0], None, None, None, MSP_CITY, "breakglass", display="Break Glass Admin"
    )
    bg.methods = ("fido2",)
    bg.roles = (GLOBAL_ADMIN_TEMPLATE_ID,)
    ea = _person(
        rng,
        EMERGENCY_ACCESS_UPN,
        None,
        None,
        None,
        MSP_CITY,
        "breakglass",
        display="Emergency Access Account",
    )
    ea.methods = ("fido2",)
    ea.roles = (GLOBAL_ADMIN_TEMPLATE_ID,)
    people = [*techs, *staff, sa, bg, ea]

    created = "2022-03-14T09:12:44Z"
    emergency = Group(
        new_guid(rng), "Emergency Access Accounts", "Cloud-only emergency accounts", [ea.id], created
    )
    bg_excl = Group(
        new_guid(rng),
        "CA Exclusions - Break Glass",
        "Excluded from every Conditional Access policy",
        [emergency.id],
        created,
    )
    admin_agents = Group(
        new_guid(rng),
        "AdminAgents",
        "AdminAgents",
        [sa.id, *(t.id for t in techs[:6])],
        "2019-05-02T17:40:11Z",
    )
    helpdesk = Group(
        new_guid(rng), "HelpdeskAgents", "HelpdeskAgents", [t.id for t in techs[6:]], "2019-05-02T17:40:12Z"
    )
    cipp_techs = Group(
        new_guid(rng), "CIPP Technicians", "People allowed into CIPP", [t.id for t in techs], created
    )
    cipp_admins = Group(
        new_guid(rng), "CIPP Admins", "CIPP admin role holders", [techs[0].id, techs[7].id], created
    )
    all_staff = Group(
        new_guid(rng), "All Staff", "Everyone at Northwind", [p.id for p in (*techs, *staff)], created
    )
    groups = [admin_agents, helpdesk, cipp_techs, cipp_admins, bg_excl, emergency, all_staff]
    role_ids = {t: new_guid(rng) for t in ROLES}
    # A catch-all exclusion group for automation, nesting the group that holds the service account:
    # the legacy service-account policy excludes it, so the account is excluded through two groups
    # (B-1 fails). Its own random stream keeps every other id as it was.
    extra = random.Random(f"{seed}:{MSP_TENANT_ID}:automation")
    service_accounts = Group(new_guid(extra), "Service Accounts", "Accounts used by automation", [sa.id],
                             created)
    automation = Group(new_guid(extra), "CA Exclusions - Automation",
                       "Automation excluded from interactive-user policies", [service_accounts.id], created)
    groups += [automation, service_accounts]
    _assign_transitive_groups(people, groups)
    return Directory(MSP_TENANT_ID, MSP_DOMAIN, people, groups, role_ids, sa)


def _assign_transitive_groups(people: list[Person], groups: list[Group]) -> None:
    by_id = {g.id: g for g in groups}
    person_ids = {p.id for p in people}

    def members(group: Group, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for m in group.member_ids:
            if m in person_ids:
                out.add(m)
            elif m in by_id and m not in seen:
                out |= members(by_id[m], seen | {m})
        return out

    for g in groups:
        for pid in members(g, {g.id}):
            next(p for p in people if p.id == pid).groups.add(g.id)


def _client_directory(seed: int, spec: ClientTenant) -> Directory:
    rng = random.Random(f"{seed}:{spec.tenant_id}:people")
    domain = spec.default_domain
    people: list[Person] = []
    used: set[str] = set()

    def unique_upn(local: str, dom: str) -> str:
        candidate, n = local, 1
        while f"{candidate}@{dom}" in used:
            n += 1
            candidate = f"{local}{n}"
        used.add(f"{candidate}@{dom}")
        return f"{candidate}@{dom}"

    # Administrators first: a break-glass style admin account and the IT lead.
    admin = _person(
        rng,
        unique_upn("admin", domain),
        None,
        None,
        None,
        spec.city,
        "admin",
        display=f"{spec.display_name} Admin",
    )
    admin.roles = (GLOBAL_ADMIN_TEMPLATE_ID,)
    people.append(admin)
    n_admins = 2 if spec.user_count < 100 else 4
    style = rng.choice(("dot", "initial"))
    for i in range(spec.user_count - 1):
        given, surname = rng.choice(geo.FIRST_NAMES), rng.choice(geo.LAST_NAMES)
        local = f"{given}.{surname}".lower() if style == "dot" else f"{given[0]}{surname}".lower()
        p = _person(rng, unique_upn(local, domain), given, surname, rng.choice(geo.JOB_TITLES), spec.city)
        if i < n_admins:
            p.kind, p.job_title = "admin", "IT Administrator"
            p.roles = (
                (GLOBAL_ADMIN_TEMPLATE_ID,)
                if i == 0
                else (
                    rng.choice(
                        (
                            "fe930be7-5e62-47db-91af-98c3a49a38b1",
                            "29232cdf-9323-42fd-ade2-1d097af3e4de",
                            "729827e3-9c14-49f7-bb1b-9608f156bbb8",
                        )
                    ),
                )
            )
        people.append(p)

    # Guests (about 2 %) and disabled leavers (about 3 %).
    for _ in range(max(1, spec.user_count // 50)):
        given, surname = rng.choice(geo.FIRST_NAMES), rng.choice(geo.LAST_NAMES)
        partner = rng.choice(("contoso.com", "fabrikam.com", "litwareinc.com", "gmail.com", "outlook.com"))
        local = f"{given}.{surname}".lower()
        upn = unique_upn(f"{local}_{partner}#EXT#", spec.initial_domain)
        g = _person(rng, upn, given, surname, None, spec.city, "guest", display=f"{given} {surname}")
        g.user_type = "Guest"
        g.methods = rng.choice(_STRONG_METHODS + _WEAK_METHODS)
        people.append(g)
    staff = [p for p in people if p.kind == "staff"]
    for p in rng.sample(staff, k=max(1, len(staff) * 3 // 100)):
        p.enabled = False

    # MFA registration: the tenant's rate over enabled members; admins are capable unless admin_gap.
    members = [p for p in people if p.kind in ("staff", "admin") and p.enabled]
    n_capable = round(spec.mfa_rate * len(members))
    order = sorted(members, key=lambda p: (p.kind != "admin", rng.random()))
    for i, p in enumerate(order):
        p.methods = rng.choice(_STRONG_METHODS) if i < n_capable else rng.choice(_WEAK_METHODS)
    for p in people:
        if not p.enabled and not p.methods:
            p.methods = rng.choice(_STRONG_METHODS + _WEAK_METHODS)
    if spec.admin_gap:
        gap = [p for p in people if p.kind == "admin"][-1]
        gap.methods = ()

    service_account = None
    if spec.access_mode == "direct":
        # Direct tenants: CIPP signs in with a local account of the client.
        upn = spec.direct_sa_upn or f"cipp@{domain}"
        service_account = _person(
            rng,
            upn.lower(),
            "CIPP",
            "Service",
            "Service account",
            spec.city,
            "service",
            display="CIPP Service Account",
        )
        service_account.methods = ("microsoftAuthenticatorPush",)
        service_account.roles = (GLOBAL_ADMIN_TEMPLATE_ID,)
        people.append(service_account)

    created = "2021-08-19T15:03:27Z"
    admins = [p for p in people if p.kind == "admin"]
    remote = rng.sample(staff, k=min(len(staff), max(2, spec.user_count // 40), 25))
    finance = rng.sample(staff, k=min(len(staff), 6))
    groups = [
        Group(new_guid(rng), "IT Admins", "IT administrators", [p.id for p in admins], created),
        Group(
            new_guid(rng),
            "Remote Workers",
            "Staff allowed to work away from the office",
            [p.id for p in remote],
            created,
        ),
        Group(new_guid(rng), "Finance", "Finance team", [p.id for p in finance], created),
        Group(
            new_guid(rng),
            "CA Exclusions",
            "Emergency exclusions from Conditional Access",
            [admin.id, *([service_account.id] if service_account else [])],
            created,
        ),
    ]
    _assign_transitive_groups(people, groups)
    role_ids = {t: new_guid(rng) for t in ROLES}
    return Directory(spec.tenant_id, domain, people, groups, role_ids, service_account)


# --- Graph objects built from the directory ------------------------------------------------------

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


# --- Conditional Access: named locations and policies --------------------------------------------


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


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


def msp_config(seed: int, now: datetime) -> TenantConfig:
    d = directory(seed, MSP_TENANT_ID)
    rng = random.Random(f"{seed}:{MSP_TENANT_ID}:config")
    by_upn = d.by_upn
    sa, bg, ea = by_upn[SERVICE_ACCOUNT_UPN], by_upn[BREAK_GLASS_UPNS[0]], by_upn[EMERGENCY_ACCESS_UPN]
    bg_group = d.group_named("CA Exclusions - Break Glass")
    techs = d.group_named("CIPP Technicians")
    cipp_admins = d.group_named("CIPP Admins")
    automation = d.group_named("CA Exclusions - Automation")
    t = lambda days: iso(now - timedelta(days=days, seconds=rng.randint(0, 86000)))  # noqa: E731

    trusted = ip_location(
        new_guid(rng),
        TRUSTED_LOCATION_NAME,
        True,
        [MSP_OFFICE_RANGE, MSP_OFFICE_IPV6_RANGE, "10.0.0.0/8"],
        t(400),
    )
    anywhere = ip_location(new_guid(rng), "Trusted - Temporary (remote work)", True, ["0.0.0.0/0"], t(95))
    vpn = ip_location(new_guid(rng), "Partner VPN concentrator", False, ["52.174.22.0/28"], t(300))
    countries = country_location(new_guid(rng), "Blocked countries", ["RU", "CN", "KP", "IR", "NG"], t(380))
    locations = [trusted, anywhere, vpn, countries]

    policies = [
        # A-1 good: enforced, targets CIPP, excludes the trusted location by id, both break-glass excluded
        # (bg-admin directly, emergency-access through a nested group).
        policy(
            new_guid(rng),
            "CIPP - Block technicians outside trusted location",
            "enabled",
            t(200),
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            apps=[CIPP_APP_ID],
            locations=(["All"], [trusted["id"]]),
            grant=["block"],
            modified=t(120),
        ),
        # A-1 in report-only: excludes AllTrusted (which the 0.0.0.0/0 location makes meaningless);
        # the break-glass accounts are excluded only through their Global Administrator role (A-2 passes
        # through the role), the service account directly (A-4 passes).
        policy(
            new_guid(rng),
            "CIPP - Block outside office (pilot)",
            "enabledForReportingButNotEnforced",
            t(60),
            users={"includeUsers": ["All"], "excludeUsers": [sa.id],
                   "excludeRoles": [GLOBAL_ADMIN_TEMPLATE_ID]},
            locations=(["All"], ["AllTrusted"]),
            grant=["block"],
        ),
        # A-1 disabled: an old attempt that excludes only the emergency account (misses bg-admin) and
        # applies to browsers on Windows and macOS only (A-5 fails: the CIPP app from a phone, or any
        # desktop client, is let through).
        policy(
            new_guid(rng),
            "OLD - Block CIPP off-network",
            "disabled",
            t(500),
            users={"includeGroups": [techs.id], "excludeUsers": [ea.id]},
            apps=[CIPP_APP_ID],
            client_app_types=["browser"],
            platforms=["windows", "macOS"],
            locations=(["All"], [trusted["id"]]),
            grant=["block"],
            modified=t(210),
        ),
        # B good: only the service account, all apps, MFA, every time, no location condition, on.
        policy(
            new_guid(rng),
            "CIPP - Service account MFA every time",
            "enabled",
            t(190),
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
        policy(
            new_guid(rng),
            "CIPP service account (legacy)",
            "enabledForReportingButNotEnforced",
            t(700),
            users={"includeUsers": [sa.id], "includeGroups": [cipp_admins.id],
                   "excludeGroups": [automation.id]},
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
            modified=t(340),
        ),
        policy(
            new_guid(rng),
            "Require MFA for all users",
            "enabled",
            t(650),
            users={"includeUsers": ["All"], "excludeUsers": [bg.id, sa.id], "excludeGroups": [bg_group.id]},
            grant=["mfa"],
        ),
        policy(
            new_guid(rng),
            "Block high-risk countries",
            "enabled",
            t(380),
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            locations=([countries["id"]], []),
            grant=["block"],
        ),
        policy(
            new_guid(rng),
            "Block legacy authentication",
            "enabled",
            t(640),
            users={"includeUsers": ["All"], "excludeUsers": [bg.id], "excludeGroups": [bg_group.id]},
            client_app_types=["exchangeActiveSync", "other"],
            grant=["block"],
        ),
    ]
    return TenantConfig(locations, policies, security_defaults=False)


def office_range(seed: int, spec: ClientTenant) -> tuple[str, list[str]]:
    """A client's office egress /29 and the addresses its firewall uses."""
    rng = random.Random(f"{seed}:{spec.tenant_id}:office")
    prefix, _ = rng.choice(geo.OFFICE_NETWORKS)
    ip = geo.public_ip(rng, prefix)
    net = ipaddress.ip_network(f"{ip}/29", strict=False)
    hosts = [str(h) for h in list(net.hosts())[:3]]
    return str(net), hosts


def client_config(seed: int, spec: ClientTenant, now: datetime) -> TenantConfig:
    d = directory(seed, spec.tenant_id)
    rng = random.Random(f"{seed}:{spec.tenant_id}:config")
    t = lambda days: iso(now - timedelta(days=days, seconds=rng.randint(0, 86000)))  # noqa: E731
    office_net, _ = office_range(seed, spec)
    office = ip_location(new_guid(rng), f"{spec.display_name} Office", True, [office_net], t(420))
    if not spec.premium or spec.profile == "secdefaults":
        # Security defaults instead of CA; what is left of an earlier Conditional Access trial stays
        # (Entra keeps disabled policies and named locations).
        leftover = policy(
            new_guid(rng),
            "CA001: Require MFA for all users (trial)",
            "disabled",
            t(700),
            users={"includeUsers": ["All"]},
            grant=["mfa"],
        )
        return TenantConfig([office], [leftover], security_defaults=True)

    allowed = country_location(
        new_guid(rng), "Allowed countries", sorted({"US", "CA", geo.PLACES[spec.city].country}), t(410)
    )
    locations = [office, allowed]
    admin = d.by_upn[f"admin@{spec.default_domain}"]
    it_admins = d.group_named("IT Admins")
    remote = d.group_named("Remote Workers")
    finance = d.group_named("Finance")

    sp_all = guests_condition("internalGuest,serviceProvider", None)
    sp_msp = guests_condition("serviceProvider", [MSP_TENANT_ID])
    sp_wrong_types = guests_condition("b2bCollaborationGuest,b2bCollaborationMember", None)
    sp_other_partner = guests_condition("serviceProvider", [OTHER_PARTNER_TENANT_ID])

    def users(exclude_sp: dict | None = None, **extra) -> dict:
        u = {"includeUsers": ["All"], "excludeUsers": [admin.id], "excludeGuestsOrExternalUsers": exclude_sp}
        u.update(extra)
        return u

    def mfa_all(state: str, exclude_sp: dict | None, strength: bool = False) -> dict:
        return policy(
            new_guid(rng),
            "CA001: Require MFA for all users",
            state,
            t(330),
            users=users(exclude_sp),
            grant=[] if strength else ["mfa"],
            strength=strength,
        )

    def legacy(state: str, exclude_sp: dict | None) -> dict:
        return policy(
            new_guid(rng),
            "CA002: Block legacy authentication",
            state,
            t(329),
            users=users(exclude_sp),
            client_app_types=["exchangeActiveSync", "other"],
            grant=["block"],
        )

    def office_only(state: str, exclude_sp: dict | None, exclude_groups: list[str] | None = None) -> dict:
        u = users(exclude_sp, excludeGroups=[remote.id, *(exclude_groups or [])])
        return policy(
            new_guid(rng),
            "CA010: Block access from outside the office",
            state,
            t(120),
            users=u,
            locations=(["All"], [office["id"]]),
            grant=["block"],
        )

    def countries(state: str, exclude_sp: dict | None) -> dict:
        return policy(
            new_guid(rng),
            "CA003: Block sign-ins outside allowed countries",
            state,
            t(300),
            users=users(exclude_sp),
            locations=(["All"], [allowed["id"]]),
            grant=["block"],
        )

    def admins_mfa(state: str, exclude_sp: dict | None) -> dict:
        return policy(
            new_guid(rng),
            "CA004: Require MFA for administrators",
            state,
            t(310),
            users={
                "includeRoles": list(ADMIN_ROLE_IDS_FOR_POLICIES),
                "excludeUsers": [admin.id],
                "excludeGuestsOrExternalUsers": exclude_sp,
            },
            grant=["mfa"],
        )

    def finance_mfa(state: str) -> dict:
        # Targets a group only: cannot apply to the MSP's people.
        return policy(
            new_guid(rng),
            "CA020: Finance apps require MFA",
            state,
            t(200),
            users={"includeGroups": [finance.id]},
            apps=["Office365"],
            grant=["mfa"],
        )

    p = spec.profile
    if p == "baseline_good":
        policies = [
            mfa_all("enabled", sp_all),
            legacy("enabled", sp_all),
            countries("enabled", sp_msp),
            finance_mfa("disabled"),
        ]
    elif p == "baseline_strength":
        policies = [
            mfa_all("enabled", sp_msp, strength=True),
            admins_mfa("enabled", sp_all),
            legacy("enabled", sp_msp),
            countries("enabledForReportingButNotEnforced", sp_all),
        ]
    elif p == "office_only_no_excl":
        policies = [
            office_only("enabled", None),
            mfa_all("enabledForReportingButNotEnforced", None),
            legacy("enabled", sp_all),
        ]
    elif p == "device_wrong_excl":
        compliant = policy(
            new_guid(rng),
            "CA005: Require compliant or hybrid joined device",
            "enabled",
            t(150),
            users=users(sp_wrong_types, excludeGroups=[it_admins.id]),
            grant=["compliantDevice", "domainJoinedDevice"],
            operator="OR",
        )
        policies = [compliant, mfa_all("enabled", sp_all), legacy("enabled", sp_all)]
    elif p == "admins_roles_no_excl":
        # MFA for all users applies to browsers and modern clients only, with legacy authentication not
        # blocked (disabled): MFA-3 fails naming the narrowing.
        narrowed = mfa_all("enabled", sp_all)
        narrowed["conditions"]["clientAppTypes"] = ["browser", "mobileAppsAndDesktopClients"]
        policies = [
            admins_mfa("enabled", None),
            narrowed,
            legacy("disabled", None),
            finance_mfa("enabled"),
        ]
    elif p == "wrong_tenant_excl":
        policies = [
            countries("enabled", sp_other_partner),
            office_only("enabledForReportingButNotEnforced", None),
            mfa_all("enabled", sp_msp),
        ]
    elif p == "guests_mfa_no_excl":
        guests = policy(
            new_guid(rng),
            "CA006: Require MFA for guests and external users",
            "enabled",
            t(90),
            users={
                "includeGuestsOrExternalUsers": guests_condition(
                    "internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser,"
                    "otherExternalUser,serviceProvider",
                    None,
                )
            },
            grant=["mfa"],
        )
        policies = [guests, mfa_all("enabled", sp_all), legacy("enabled", sp_all)]
    elif p == "weak":
        policies = [
            mfa_all("enabledForReportingButNotEnforced", None),
            legacy("disabled", None),
            finance_mfa("enabled"),
        ]
    elif p == "direct_excludes_sa":
        sa = d.service_account
        assert sa is not None
        policies = [
            # The service account is excluded through the "CA Exclusions" group (D-1 passes through it);
            # the MFA policy excludes it directly.
            office_only("enabled", None, exclude_groups=[d.group_named("CA Exclusions").id]),
            policy(
                new_guid(rng),
                "CA001: Require MFA for all users",
                "enabled",
                t(330),
                users={"includeUsers": ["All"], "excludeUsers": [admin.id, sa.id]},
                grant=["mfa"],
            ),
        ]
    elif p == "direct_missing_sa":
        policies = [office_only("enabled", None), mfa_all("enabled", None)]
    else:
        raise ValueError(f"unknown profile {p}")
    return TenantConfig(locations, policies, security_defaults=spec.security_defaults)


def initial_config(seed: int, tenant_id: str, now: datetime) -> TenantConfig:
    if tenant_id == MSP_TENANT_ID:
        return msp_config(seed, now)
    spec = client_by_id(tenant_id)
    if spec is None:
        raise KeyError(tenant_id)
    return client_config(seed, spec, now)


# --- GDAP and CIPP -------------------------------------------------------------------------------


def delegated_admin_relationships(now: datetime) -> list[dict]:
    out = []
    for c in client_tenants():
        if c.access_mode != "gdap":
            continue
        rng = random.Random(f"gdap:{c.tenant_id}")
        created = now - timedelta(days=rng.randint(120, 600), seconds=rng.randint(0, 86000))
        activated = created + timedelta(minutes=rng.randint(3, 600))
        out.append(
            {
                "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
                "@odata.etag": f'W/"JyIw{rng.getrandbits(64):016x}Jw=="',
                "id": f"{new_guid(rng)}-{new_guid(rng)}",
                "displayName": f"CIPP_{c.display_name[:30]}_{activated:%Y%m%d}".replace(" ", "_"),
                "duration": "P730D",
                "customer": {"tenantId": c.tenant_id, "displayName": c.display_name},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in GDAP_ROLE_TEMPLATE_IDS]},
                "status": "active",
                "autoExtendDuration": "P180D",
                "createdDateTime": iso(created),
                "lastModifiedDateTime": iso(activated),
                "activatedDateTime": iso(activated),
                "endDateTime": iso(created + timedelta(days=730)),
            }
        )
    return out


def cipp_tenants() -> list[dict]:
    """ListTenants rows."""
    rows = []
    for c in client_tenants():
        row = {
            "customerId": c.tenant_id,
            "displayName": c.display_name,
            "defaultDomainName": c.default_domain,
            "initialDomainName": c.initial_domain,
            "delegatedPrivilegeStatus": "directTenant"
            if c.access_mode == "direct"
            else "granularDelegatedAdminPrivileges",
            "GraphErrorCount": 0,
            "LastGraphError": "",
        }
        if c.direct_sa_upn:
            row["directTenantUserPrincipalName"] = c.direct_sa_upn
        rows.append(row)
    # One tenant whose Graph calls have been failing (CIPP keeps count).
    rows[12]["GraphErrorCount"] = 3
    rows[12]["LastGraphError"] = (
        "AADSTS50076: Due to a configuration change made by your administrator, or "
        "because you moved to a new location, you must use multi-factor authentication "
        "to access '00000003-0000-0000-c000-000000000000'."
    )
    return rows


@dataclass
class ApiClientRow:
    """A row of CIPP's ApiClients table, stored the way CIPP stores it (IPRange is a JSON *string*)."""

    client_id: str
    app_name: str
    role: str  # "" means the fallback role (List shows null)
    ip_range: str
    enabled: bool
    mcp_allowed: bool = False


def initial_api_clients(seed: int) -> tuple[list[ApiClientRow], list[str]]:
    """The ApiClients table and the client ids the Function App's authentication accepts."""
    rng = random.Random(f"{seed}:cipp")
    ids = [new_guid(rng) for _ in range(10)]
    ids[0] = PERIMETER_CIPP_CLIENT_ID  # Perimeter's own client: a fixed id its demo settings name
    rows = [
        ApiClientRow(
            ids[0],
            "Perimeter collector",
            "readonly",
            f'["{MSP_OFFICE_RANGE}","2600:1700:5d30:1f0:0:0:0:0/64"]',
            True,
            False,
        ),
        ApiClientRow(ids[1], "Rewst automation", "", "", True, True),  # no range stored: ["Any"]
        ApiClientRow(ids[2], "Old PowerShell reporting", "readonly", "[]", True),  # literal []: broken
        ApiClientRow(ids[3], "HaloPSA integration", "editor", '"20.105.3.44/32"', True),  # single string
        ApiClientRow(ids[4], "Office IPv6 tooling", "readonly", '["2001:4860:4801:10::/64"]', True),  # '::'
        ApiClientRow(ids[5], "Partner portal sync", "readonly", '["52.174.22.7/24"]', True),  # host bits set
        ApiClientRow(ids[6], "Legacy RMM", "", '["20.0.0.0/8"]', True),  # far too broad
        ApiClientRow(ids[7], "Zapier (test)", "readonly", '["0.0.0.0/0"]', True),  # open to all
        ApiClientRow(ids[8], "Decommissioned BI export", "readonly", '["40.112.0.0/16"]', False),
    ]
    # Azure still accepts the disabled client and an id the table no longer has; the newest clients
    # (Legacy RMM re-enabled, Old PowerShell reporting) were never saved to Azure.
    azure = [ids[0], ids[1], ids[3], ids[4], ids[5], ids[7], ids[8], ids[9]]
    return rows, azure


# --- Which demo objects exercise which check (for people reading the data) -----------------------

DEMO_CASES: dict[str, str] = {
    "PRE-1": "pass: MSP has SPB with AAD_PREMIUM Success (single MSP subject)",
    "PRE-2": "pass: MSP security defaults disabled (single MSP subject)",
    "PRE-3": "pass: bg-admin and emergency-access exist and are enabled (single MSP subject)",
    "LOC-1": "pass: 'Trusted - MSP Office' (single MSP subject)",
    "LOC-2": "pass 66.171.40.16/29 and the IPv6 /64; warn 10.0.0.0/8; "
    "fail 0.0.0.0/0 in 'Trusted - Temporary (remote work)'",
    "A-1": "pass: three block policies qualify (single MSP subject)",
    "A-2": "pass: 'CIPP - Block technicians...' (group nested), '(pilot)' through the Global Administrator "
    "role; fail: 'OLD - Block CIPP off-network' misses bg-admin",
    "A-3": "pass enabled / warn '(pilot)' report-only / fail 'OLD ...' disabled",
    "A-4": "fail 'CIPP - Block technicians...' (reaches the service account through 'All'); pass the others",
    "A-5": "fail 'OLD - Block CIPP off-network' (browsers on Windows and macOS only); pass the others",
    "B-1": "pass 'CIPP - Service account MFA every time'; fail 'CIPP service account (legacy)' (excludes "
    "the account through 'CA Exclusions - Automation' → 'Service Accounts')",
    "B-2..B-6": "pass the first, fail the legacy one",
    "B-9": "fail: the legacy policy lets custom control DuoSecurityMFA stand in for MFA; pass after "
    "service-account-policy.require-mfa on it (single MSP subject)",
    "B-7": "pass: service account in AdminAgents, not Global Administrator (single MSP subject)",
    "B-8": "pass: its MSP sign-ins satisfy MFA through its policy (single MSP subject)",
    "C-1": "pass Perimeter collector; fail Rewst (['Any']) and Old PowerShell ([]); n/a the disabled one",
    "C-2": "pass the collector's ranges; fail '::' form and 0.0.0.0/0; warn host bits (52.174.22.7/24), /8",
    "C-3": "fail disabled id and an unknown id in Azure; warn Legacy RMM / Old PowerShell not saved; "
    "the single pass appears after SaveToAzure",
    "D-1": "pass baseline_* and direct_excludes_sa (through group 'CA Exclusions' and directly); fail "
    "office_only_no_excl, device_wrong_excl, admins_roles_no_excl, wrong_tenant_excl, guests_mfa_no_excl, "
    "weak, direct_missing_sa",
    "D-2": "fail Trey Research, Relecloud (office block), Adventure Works, Lucerne (device); pass others; "
    "Tailspin Toys passes although the other partner's sign-ins from Bengaluru are blocked (not the MSP's)",
    "MFA-1": "pass e.g. Tailspin Toys; warn Wide World Importers; fail Litware; n/a Coho Winery and "
    "City Power & Light (no Entra ID P1: registration details answer 403)",
    "MFA-2": "fail Lamna Healthcare, Litware, Blue Yonder; pass others; n/a without P1 as MFA-1",
    "(collection)": "Coho Winery, City Power & Light: not licensed (sign-ins, registration details); "
    "Graphic Design Institute: consent needed (AADSTS700016 at the token request)",
    "MFA-3": "pass security defaults or enforced MFA-for-all; warn with exclusions; fail office_only_no_excl "
    "and weak profiles, and admins_roles_no_excl (MFA for browsers and modern clients only)",
}
