"""Sign-in generation: deterministic per (seed, tenant, minute), evaluated against CA as it was then.

Nothing is stored per sign-in: a minute of one tenant is regenerated from its seed whenever needed
(an LRU cache keeps the recent minutes), so memory does not grow with time and the same minute always
yields the same sign-ins - unless the tenant's policies changed during or before it, which the caller
signals through `invalidate()`.

Volumes: about one interactive sign-in per user per working day (local time), twice that in silent
token refreshes, the CIPP service account every few minutes (in the MSP tenant and, as a service
provider or a direct tenant's local account, in the clients), the MSP's technicians in client tenants,
guests, leavers trying disabled accounts and password sprays from abroad.

This module decides who signs in, from where and with what, and what Conditional Access makes of it;
signin_render turns each decided attempt into Graph's signIn JSON.
"""

from __future__ import annotations

import functools
import json
import math
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from simulator import demo, geo
from simulator.ca import MFA_FAILURE_CODES, CompiledPolicies, SignInFacts
from simulator.signin_render import Attempt, render

RETENTION_SECONDS = 30 * 86400


class Record(NamedTuple):
    ts: int  # epoch seconds (createdDateTime)
    id: str
    interactive: bool
    body: bytes  # the sign-in's JSON


@dataclass(frozen=True)
class TenantSnapshot:
    """The configuration that CA saw at one moment."""

    policies: CompiledPolicies
    security_defaults: bool


ConfigAt = Callable[[str, float], TenantSnapshot]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation keeps big tenants cheap
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass
class _TenantInfo:
    tenant_id: str
    name: str
    place: geo.Place
    directory: demo.Directory
    office_ips: list[str]
    office_asn: int
    intune: bool
    access_mode: str  # msp | gdap | direct
    technicians: list[demo.Person]
    partners: tuple[demo.Person, ...] = ()  # another partner's people co-managing this client


class SignInSource:
    """Generates, caches and invalidates minute buckets of sign-ins."""

    def __init__(self, seed: int, config_at: ConfigAt, cache_records: int = 40_000):
        self.seed = seed
        self._config_at = config_at
        self._cache: OrderedDict[tuple[str, int], list[Record]] = OrderedDict()
        self._cached_records = 0
        self._cache_limit = cache_records
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- cache ------------------------------------------------------------------------------------

    def bucket(self, tenant_id: str, minute: int) -> list[Record]:
        key = (tenant_id, minute)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            generation = self._generation.get(tenant_id, 0)
        records = self._generate(tenant_id, minute)
        with self._lock:
            # A write that happened while generating makes this result stale: serve it, don't keep it.
            if self._generation.get(tenant_id, 0) == generation and key not in self._cache:
                self._cache[key] = records
                self._cached_records += len(records) + 1
                while self._cached_records > self._cache_limit and self._cache:
                    _, old = self._cache.popitem(last=False)
                    self._cached_records -= len(old) + 1
        return records

    def invalidate(self, tenant_id: str, from_ts: float) -> None:
        """Forget cached minutes from `from_ts` on: the tenant's configuration changed then."""
        first = int(from_ts // 60)
        with self._lock:
            self._generation[tenant_id] = self._generation.get(tenant_id, 0) + 1
            for key in [k for k in self._cache if k[0] == tenant_id and k[1] >= first]:
                self._cached_records -= len(self._cache.pop(key)) + 1

    # --- generation -------------------------------------------------------------------------------

    @functools.cache  # noqa: B019 - one instance per simulator, bounded by the tenant count
    def _tenant(self, tenant_id: str) -> _TenantInfo:
        d = demo.directory(self.seed, tenant_id)
        if tenant_id == demo.MSP_TENANT_ID:
            techs = [p for p in d.people if p.kind == "technician"]
            return _TenantInfo(
                tenant_id,
                demo.MSP_NAME,
                geo.PLACES[demo.MSP_CITY],
                d,
                list(demo.MSP_OFFICE_IPS),
                209,
                True,
                "msp",
                techs,
            )
        spec = demo.client_by_id(tenant_id)
        assert spec is not None
        _, hosts = demo.office_range(self.seed, spec)
        msp = demo.directory(self.seed, demo.MSP_TENANT_ID)
        techs = [p for p in msp.people if p.kind == "technician"] if spec.access_mode == "gdap" else []
        return _TenantInfo(
            tenant_id,
            spec.display_name,
            geo.PLACES[spec.city],
            d,
            hosts,
            random.Random(tenant_id).choice(geo.OFFICE_NETWORKS)[1],
            "INTUNE_A" in demo.SKUS[spec.sku][1],
            spec.access_mode,
            techs,
            demo.partner_technicians(self.seed) if demo.co_managed(tenant_id) else (),
        )

    def _generate(self, tenant_id: str, minute: int) -> list[Record]:
        info = self._tenant(tenant_id)
        rng = random.Random(f"{self.seed}:{tenant_id}:{minute}")
        start = minute * 60
        local = datetime.fromtimestamp(start, UTC) + timedelta(hours=info.place.utc_offset)
        weekday = local.weekday() < 5
        working = weekday and 8 <= local.hour < 18
        # Per user per minute: ~0.9 of a day's single interactive sign-in falls in the 600 working minutes.
        rate_interactive = (0.9 / 600 if working else 0.1 / 840) * (1.0 if weekday else 0.1)
        rate_silent = (1.5 / 600 if working else 0.5 / 840) * (1.0 if weekday else 0.2)
        msp_local = datetime.fromtimestamp(start, UTC) + timedelta(hours=geo.PLACES[demo.MSP_CITY].utc_offset)
        msp_working = msp_local.weekday() < 5 and 8 <= msp_local.hour < 18

        d = info.directory
        n_members = len(d.active_members)
        plan: list[tuple[str, bool]] = []
        plan += [("member", True)] * _poisson(rng, n_members * rate_interactive)
        plan += [("member", False)] * _poisson(rng, n_members * rate_silent)
        plan += [("guest", True)] * _poisson(rng, len(d.guests) * rate_interactive * 0.5)
        plan += [("disabled", True)] * _poisson(rng, len(d.disabled) / 7200)
        plan += [("hostile", True)] * _poisson(rng, 0.004 + n_members * 0.00001)
        if info.access_mode == "msp":
            plan += [("service", False)] * _poisson(rng, 0.2)
        else:
            plan += [("service", False)] * _poisson(rng, 0.05)
        if info.access_mode == "gdap":
            tech_rate = (0.012 if msp_working else 0.0008) * (1 + min(n_members, 3000) / 1000)
            plan += [("technician", True)] * _poisson(rng, tech_rate)
            plan += [("technician", False)] * _poisson(rng, tech_rate * 1.5)

        records = []
        for kind, interactive in plan:
            event_rng = random.Random(rng.getrandbits(64))  # one stream per event: later ones don't shift
            ts = start + event_rng.randrange(60)
            obj = self._sign_in(info, kind, interactive, ts, event_rng)
            if obj is not None:
                records.append(
                    Record(ts, obj["id"], interactive, json.dumps(obj, separators=(",", ":")).encode())
                )
        if info.partners:
            # Their own stream, so that the other sign-ins of the minute stay as they were.
            partner_rng = random.Random(f"{self.seed}:{tenant_id}:{minute}:partner")
            partner_local = datetime.fromtimestamp(start, UTC) + timedelta(
                hours=geo.PLACES[demo.OTHER_PARTNER_CITY].utc_offset
            )
            partner_working = partner_local.weekday() < 5 and 9 <= partner_local.hour < 18
            for _ in range(_poisson(partner_rng, 0.03 if partner_working else 0.002)):
                event_rng = random.Random(partner_rng.getrandbits(64))
                ts = start + event_rng.randrange(60)
                obj = self._sign_in(info, "partner", True, ts, event_rng)
                if obj is not None:
                    body = json.dumps(obj, separators=(",", ":")).encode()
                    records.append(Record(ts, obj["id"], True, body))
        records.sort(key=lambda r: (r.ts, r.id), reverse=True)
        return records

    # --- one sign-in --------------------------------------------------------------------------------

    def _sign_in(
        self, info: _TenantInfo, kind: str, interactive: bool, ts: int, rng: random.Random
    ) -> dict | None:
        d = info.directory
        roles: frozenset[str] = frozenset()
        groups: frozenset[str] = frozenset()
        person: demo.Person | None
        a = Attempt(kind, interactive, ts, home_tenant=info.tenant_id)
        if kind == "member":
            person = rng.choice(d.active_members)
            if not person.mfa_capable and rng.random() < 0.7:
                person = rng.choice(d.active_members)  # people without MFA tend to be the occasional users
            app = self._pick_app(info, person, rng)
        elif kind == "guest":
            if not d.guests:
                return None
            person = rng.choice(d.guests)
            app = rng.choice(geo.USER_APPS[:4])
            a.user_kind, a.cross_tenant = "guest", "b2bCollaboration"
            a.home_tenant = str(uuid.uuid5(uuid.NAMESPACE_DNS, person.upn.split("_")[-1].split("#")[0]))
        elif kind == "disabled":
            if not d.disabled:
                return None
            person, app, a.error = rng.choice(d.disabled), rng.choice(geo.USER_APPS[:3]), 50057
        elif kind == "hostile":
            person = rng.choice(d.active_members)
            app = rng.choice((geo.USER_APPS[0], geo.USER_APPS[1], geo.LEGACY_APPS[1], geo.LEGACY_APPS[2]))
            a.error = rng.choices((50126, 50053, 0), (80, 15, 5))[0]
            a.risky = True
        elif kind == "service":
            if info.access_mode == "gdap":  # CIPP's account enters the client as a service provider
                person = demo.directory(self.seed, demo.MSP_TENANT_ID).service_account
                a.user_kind = a.cross_tenant = "serviceProvider"
                a.home_tenant = demo.MSP_TENANT_ID
                roles = frozenset(demo.GDAP_ROLE_TEMPLATE_IDS)
            else:
                person = d.service_account
            if person is None:
                return None
            resource = rng.choice((geo.GRAPH_RESOURCE, geo.GRAPH_RESOURCE, geo.EXO_RESOURCE))
            app = geo.App(demo.CIPP_SAM_APP_ID, demo.CIPP_SAM_APP_NAME, *resource, geo.DESKTOP)
        elif kind == "partner":  # another partner's helpdesk, also admitted through GDAP
            person = rng.choice(info.partners)
            app = rng.choice(geo.ADMIN_APPS)
            a.user_kind = a.cross_tenant = "serviceProvider"
            a.home_tenant = demo.OTHER_PARTNER_TENANT_ID
            roles = frozenset(demo.GDAP_ROLE_TEMPLATE_IDS)
        else:  # technician of the MSP in a GDAP client
            person = rng.choice(info.technicians)
            app = rng.choice(geo.ADMIN_APPS)
            a.user_kind = a.cross_tenant = "serviceProvider"
            a.home_tenant = demo.MSP_TENANT_ID
            roles = frozenset(demo.GDAP_ROLE_TEMPLATE_IDS)
        a.person, a.app = person, app
        if a.user_kind == "member":
            roles, groups = frozenset(person.roles), frozenset(person.groups)

        a.ip, a.asn, a.place = self._network(info, kind, person, rng)
        if kind == "service":
            a.device = geo.SCRIPT_DEVICE
        elif kind == "hostile":
            a.device = geo.DEVICES[rng.randrange(2)]
        elif app.app_id == "27922004-5251-4030-b22d-91ecd9a37ea4":  # Outlook Mobile runs on a phone
            a.device = geo.DEVICES[3 + person.device % 2]
        else:
            a.device = geo.DEVICES[person.device]
        # Devices are enrolled where the tenant has Intune, except the few personal ones.
        a.managed = a.user_kind == "member" and kind == "member" and info.intune and not person.byod
        client_app_type = geo.CLIENT_APP_TYPE.get(app.client_app, "other")

        # What happens if MFA is asked for.
        if kind in ("service", "technician", "partner"):
            a.mfa_outcome = "claim"  # the token already carries MFA from the home tenant / earlier prompt
        elif client_app_type in ("exchangeActiveSync", "other"):
            a.mfa_outcome = "impossible"
        elif not person.mfa_capable:
            a.mfa_outcome = "unregistered"
        elif not interactive:
            a.mfa_outcome = "claim"
        elif kind == "hostile":
            a.mfa_outcome = "denied"
        else:
            a.mfa_outcome = rng.choices(("ok", "denied", "interrupted"), (95, 2, 3))[0]

        if a.error == 0:  # primary authentication passed: Conditional Access decides
            snapshot = self._config_at(info.tenant_id, ts)
            facts = SignInFacts(
                user_id=person.id, user_kind=a.user_kind, home_tenant=a.home_tenant, groups=groups,
                roles=roles, app=app, client_app_type=client_app_type, ip=a.ip, country=a.place.country,
                platform=a.device.operating_system, device_compliant=a.managed,
                device_hybrid=a.managed and a.device.operating_system == "Windows10",
                mfa_outcome=a.mfa_outcome,
            )  # fmt: skip
            a.evaluation = snapshot.policies.evaluate(facts)
            a.error = a.evaluation.error_code
            if snapshot.security_defaults and a.user_kind == "member" and a.error == 0:
                # Security defaults: MFA for admins always, for others when Entra judges it necessary;
                # legacy protocols are refused.
                if client_app_type in ("exchangeActiveSync", "other"):
                    a.error = 50126 if kind == "hostile" else 50076
                elif interactive and (person.is_admin or rng.random() < 0.25):
                    a.sd_mfa = True
                    a.error = 0 if a.mfa_outcome in ("ok", "claim") else MFA_FAILURE_CODES[a.mfa_outcome]
        return render(info.tenant_id, a, rng)

    @staticmethod
    def _pick_app(info: _TenantInfo, person: demo.Person, rng: random.Random) -> geo.App:
        if info.access_mode == "msp" and person.kind == "technician" and rng.random() < 0.35:
            return geo.App(
                demo.CIPP_APP_ID, demo.CIPP_APP_NAME, demo.CIPP_APP_ID, demo.CIPP_APP_NAME, geo.BROWSER
            )
        if person.kind in ("technician", "admin") and rng.random() < 0.2:
            return rng.choice(geo.ADMIN_APPS)
        if rng.random() < 0.015 and info.access_mode != "msp":
            return rng.choice(geo.LEGACY_APPS)
        return rng.choice(geo.USER_APPS)

    def _network(
        self, info: _TenantInfo, kind: str, person: demo.Person, rng: random.Random
    ) -> tuple[str, int, geo.Place]:
        if kind == "hostile":
            city, prefix, asn = rng.choice(geo.HOSTILE_ORIGINS)
            return geo.public_ip(rng, prefix), asn, geo.PLACES[city]
        if kind == "partner":
            prefix, asn = geo.PARTNER_NETWORK
            return geo.public_ip(rng, prefix), asn, geo.PLACES[demo.OTHER_PARTNER_CITY]
        if kind == "service":  # CIPP runs in Azure: its calls leave from the Function App's egress
            return demo.CIPP_EGRESS_IP, 8075, geo.PLACES[demo.CIPP_EGRESS_PLACE]
        if kind == "technician" or (info.access_mode == "msp" and person.kind == "technician"):
            roll = rng.random()
            if roll < 0.72:
                return rng.choice(demo.MSP_OFFICE_IPS), 209, geo.PLACES[demo.MSP_CITY]
            if roll < 0.97:
                return person.home_ip, person.home_asn, geo.PLACES[demo.MSP_CITY]
            prefix, asn = rng.choice(geo.MOBILE_NETWORKS)
            return geo.public_ip(rng, prefix), asn, geo.PLACES[demo.MSP_CITY]
        if kind == "guest":
            prefix, asn = rng.choice(geo.HOME_NETWORKS)
            return (
                geo.public_ip(rng, prefix),
                asn,
                rng.choice([geo.PLACES[c] for c in ("Chicago", "Toronto", "London", "Denver")]),
            )
        roll = rng.random()
        if roll < 0.70:
            office = info.office_ips if info.access_mode != "msp" else list(demo.MSP_OFFICE_IPS)
            return rng.choice(office), info.office_asn, info.place
        if roll < 0.92:
            return person.home_ip, person.home_asn, info.place
        if roll < 0.985:
            prefix, asn = rng.choice(geo.MOBILE_NETWORKS)
            return geo.public_ip(rng, prefix), asn, info.place
        travel = rng.choice([p for p in geo.PLACES.values() if p.country in ("US", "CA", "GB", "IE", "NL")])
        prefix, asn = rng.choice(geo.HOME_NETWORKS)
        return geo.public_ip(rng, prefix), asn, travel
