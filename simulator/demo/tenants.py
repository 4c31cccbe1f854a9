"""The 25 client tenants: who they are, how CIPP reaches them, how they are configured (their profile).

Tenants, their names and ids do not depend on the seed; their offices' addresses do.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import random
import uuid
from dataclasses import dataclass

from simulator import geo
from simulator.demo.ids import CO_MANAGED_DOMAINS, MSP_TENANT_ID
from simulator.demo.licences import has_premium


@dataclass(frozen=True)
class ClientTenant:
    tenant_id: str
    display_name: str
    default_domain: str
    user_count: int
    access_mode: str  # "gdap" | "direct"
    profile: str  # a key of client_profiles.CLIENT_PROFILES
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


DEMO_CLIENTS = len(_CLIENTS)  # the demo MSP's client tenants; a larger count adds copies of them
MAX_CLIENTS = 5000
_by_id: dict[str, ClientTenant] = {}  # every client of every table built, by id (ids never collide)


def _copy(spec: ClientTenant, copy: int) -> ClientTenant:
    """Copy ``copy`` (1-based) of a demo client: its own domain, id, name and people; same profile."""
    head, _, tail = spec.default_domain.partition(".")
    domain = f"{head}{copy + 1}.{tail}"
    upn = spec.direct_sa_upn.replace(f"@{spec.default_domain}", f"@{domain}") if spec.direct_sa_upn else None
    return dataclasses.replace(
        spec,
        tenant_id=_tid(domain),
        display_name=f"{spec.display_name} {copy + 1}",
        default_domain=domain,
        direct_sa_upn=upn,
    )


@functools.cache
def client_tenants(count: int = DEMO_CLIENTS) -> tuple[ClientTenant, ...]:
    """The client tenants, in a fixed order: the demo's 25 (largest first), then, for a larger
    ``count`` (a scale profile), copies of them in the same order until there are ``count``."""
    if not DEMO_CLIENTS <= count <= MAX_CLIENTS:
        raise ValueError(f"client tenants: expected {DEMO_CLIENTS} to {MAX_CLIENTS}, got {count}")
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
    out += [_copy(out[i % DEMO_CLIENTS], 1 + i // DEMO_CLIENTS) for i in range(count - DEMO_CLIENTS)]
    _by_id.update((c.tenant_id, c) for c in out)
    return tuple(out)


def client_by_id(tenant_id: str) -> ClientTenant | None:
    if not _by_id:
        client_tenants()
    return _by_id.get(tenant_id)


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


def all_tenant_ids(clients: int = DEMO_CLIENTS) -> tuple[str, ...]:
    return (MSP_TENANT_ID, *(c.tenant_id for c in client_tenants(clients)))


def office_range(seed: int, spec: ClientTenant) -> tuple[str, list[str]]:
    """A client's office egress /29 and the addresses its firewall uses."""
    rng = random.Random(f"{seed}:{spec.tenant_id}:office")
    prefix, _ = rng.choice(geo.OFFICE_NETWORKS)
    ip = geo.public_ip(rng, prefix)
    net = ipaddress.ip_network(f"{ip}/29", strict=False)
    hosts = [str(h) for h in list(net.hosts())[:3]]
    return str(net), hosts
