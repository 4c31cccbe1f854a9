"""People and directories: the users, groups and role holders of each tenant, from the seed.

Every directory is a pure function of (seed, tenant): the same people, ids, devices and MFA methods
whenever it is built.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

from simulator import geo
from simulator.demo.ids import (
    BREAK_GLASS_UPNS,
    EMERGENCY_ACCESS_UPN,
    GLOBAL_ADMIN_TEMPLATE_ID,
    MSP_CITY,
    MSP_DOMAIN,
    MSP_TENANT_ID,
    OTHER_PARTNER_CITY,
    OTHER_PARTNER_DOMAIN,
    OTHER_PARTNER_TENANT_ID,
    ROLES,
    SERVICE_ACCOUNT_UPN,
    new_guid,
)
from simulator.demo.tenants import ClientTenant, client_by_id


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
        _person(
            rng,
            f"{given.lower()}.{surname.lower()}@{OTHER_PARTNER_DOMAIN}",
            given,
            surname,
            "Helpdesk Analyst",
            OTHER_PARTNER_CITY,
            "technician",
        )
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
    service_accounts = Group(
        new_guid(extra), "Service Accounts", "Accounts used by automation", [sa.id], created
    )
    automation = Group(
        new_guid(extra),
        "CA Exclusions - Automation",
        "Automation excluded from interactive-user policies",
        [service_accounts.id],
        created,
    )
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
