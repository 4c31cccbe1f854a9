"""Sign-in generation: deterministic per (seed, tenant, minute), evaluated against CA as it was then.

Nothing is stored per sign-in: a minute of one tenant is regenerated from its seed whenever needed
(an LRU cache keeps the recent minutes), so memory does not grow with time and the same minute always
yields the same sign-ins - unless the tenant's policies changed during or before it, which the caller
signals through `invalidate()`.

Volumes: about one interactive sign-in per user per working day (local time), twice that in silent
token refreshes, the CIPP service account every few minutes (in the MSP tenant and, as a service
provider or a direct tenant's local account, in the clients), the MSP's technicians in client tenants,
guests, leavers trying disabled accounts and password sprays from abroad.
"""

from __future__ import annotations

import base64
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
from simulator.ca import MFA_FAILURE_CODES, CompiledPolicies, Evaluation, SignInFacts

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

FAILURES: dict[int, tuple[str | None, str | None]] = {
    0: (None, None),
    50126: (
        "Error validating credentials due to invalid username or password.",
        "The user didn't enter the right credentials. \u00a0It's expected to see some number of these errors "
        "in your logs due to users making mistakes.",
    ),
    50053: (
        "Account is locked because user tried to sign in too many times with an incorrect user ID or "
        "password.",
        "Sign-in was blocked by Smart Lockout after repeated failed attempts from this IP.",
    ),
    50057: ("User account is disabled. The account has been disabled by an administrator.", None),
    50074: (
        "Strong Authentication is required.",
        "The user is required to complete MFA and did not complete it.",
    ),
    50076: (
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must use multi-factor authentication to access '{resource}'.",
        "MFA required in Azure AD",
    ),
    50079: (
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must enroll in multi-factor authentication to access '{resource}'.",
        "User needs to register for MFA",
    ),
    500121: (
        "Authentication failed during strong authentication request.",
        "The user didn't complete the MFA prompt. They may have decided not to authenticate, timed out while "
        "doing other work, or has an issue with their authentication setup.",
    ),
    53000: (
        "Device is not in required device state: {state}. Conditional Access policy requires a compliant "
        "device, and the device is not compliant. The user must enroll their device with an approved MDM "
        "provider like Intune.",
        None,
    ),
    53003: (
        "Access has been blocked by Conditional Access policies. The access policy does not allow token "
        "issuance.",
        "Conditional Access policies blocked this sign-in.",
    ),
}
_MFA_METHOD_TEXT = {
    "microsoftAuthenticatorPush": ("Mobile app notification", "Notification approved"),
    "mobilePhone": ("Text message", "SMS verification"),
    "softwareOneTimePasscode": ("OATH verification code", "OTP code"),
    "fido2": ("FIDO2 security key", "FIDO2"),
    "windowsHelloForBusiness": ("Windows Hello for Business", "Windows Hello"),
    "microsoftAuthenticatorPasswordless": ("Passwordless phone sign-in", "Passwordless phone sign-in"),
}


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


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


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


@dataclass
class _Attempt:
    """One sign-in attempt being built: who, with what, from where, and how it ended."""

    kind: str  # member | guest | disabled | hostile | service | technician | partner
    interactive: bool
    ts: int
    home_tenant: str
    person: demo.Person | None = None
    app: geo.App | None = None
    ip: str = ""
    asn: int = 0
    place: geo.Place | None = None
    device: geo.Device | None = None
    managed: bool = False
    user_kind: str = "member"  # member | guest | serviceProvider (what CA distinguishes)
    cross_tenant: str = "none"  # crossTenantAccessType
    error: int = 0
    evaluation: Evaluation | None = None
    sd_mfa: bool = False  # security defaults asked for MFA
    mfa_outcome: str = "ok"
    risky: bool = False


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
                hours=geo.PLACES[demo.OTHER_PARTNER_CITY].utc_offset)
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
        a = _Attempt(kind, interactive, ts, home_tenant=info.tenant_id)
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
            app = geo.App(
                demo.CIPP_SAM_APP_ID, demo.CIPP_SAM_APP_NAME, *resource, "Mobile Apps and Desktop clients"
            )
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
        return self._render(info, a, rng)

    @staticmethod
    def _pick_app(info: _TenantInfo, person: demo.Person, rng: random.Random) -> geo.App:
        if info.access_mode == "msp" and person.kind == "technician" and rng.random() < 0.35:
            return geo.App(
                demo.CIPP_APP_ID, demo.CIPP_APP_NAME, demo.CIPP_APP_ID, demo.CIPP_APP_NAME, "Browser"
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

    def _render(self, info: _TenantInfo, a: _Attempt, rng: random.Random) -> dict:
        person, app, evaluation, interactive, error = a.person, a.app, a.evaluation, a.interactive, a.error
        assert person is not None and app is not None and a.place is not None and a.device is not None
        place, device, managed = a.place, a.device, a.managed
        sign_in_id = _guid(rng)
        failure, details = FAILURES.get(error, FAILURES[53003])
        if failure:
            failure = failure.replace("{resource}", app.resource_id).replace(
                "{state}", (evaluation.failed_device_state if evaluation else "") or "compliant"
            )
        mfa_required = bool(evaluation and evaluation.mfa_required) or a.sd_mfa
        steps = self._auth_steps(a.ts, interactive, person, error, mfa_required, a.mfa_outcome, a.kind)
        requirement_policies = []
        if evaluation and evaluation.mfa_required:
            requirement_policies.append(
                {"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"}
            )
        if a.sd_mfa:
            requirement_policies.append(
                {"requirementProvider": "securityDefaults", "detail": "Security defaults"}
            )
        network = [
            {"networkType": "trustedNamedLocation" if trusted else "namedNetwork", "networkNames": [name]}
            for name, trusted in (evaluation.network_names if evaluation else [])
        ]
        jitter = (rng.random() - 0.5) / 20
        managed_id = person.device_id if managed else ""
        return {
            "id": sign_in_id,
            "createdDateTime": _iso(a.ts),
            "userDisplayName": person.display_name,
            "userPrincipalName": person.upn,
            "userId": person.id,
            "appId": app.app_id,
            "appDisplayName": app.name,
            "ipAddress": a.ip,
            "clientAppUsed": app.client_app,
            "userAgent": rng.choice(geo.HOSTILE_USER_AGENTS) if a.kind == "hostile" else device.user_agent,
            "correlationId": _guid(rng),
            "conditionalAccessStatus": evaluation.status if evaluation else "notApplied",
            "originalRequestId": sign_in_id,
            "authenticationProtocol": "none" if interactive else "oAuth2",
            "incomingTokenType": "none" if interactive else "refreshToken",
            "isInteractive": interactive,
            "homeTenantId": a.home_tenant,
            "homeTenantName": {demo.MSP_TENANT_ID: demo.MSP_NAME, demo.OTHER_PARTNER_TENANT_ID:
                               demo.OTHER_PARTNER_NAME}.get(a.home_tenant, "")
            if a.user_kind == "serviceProvider" else "",
            "isTenantRestricted": False,
            "tokenIssuerName": "",
            "tokenIssuerType": "AzureAD",
            "processingTimeInMilliseconds": rng.randint(40, 900),
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "medium" if a.risky else "none",
            "riskState": "atRisk" if a.risky else "none",
            "riskEventTypes": ["unfamiliarFeatures"] if a.risky else [],
            "riskEventTypes_v2": ["unfamiliarFeatures"] if a.risky else [],
            "resourceDisplayName": app.resource_name,
            "resourceId": app.resource_id,
            "resourceTenantId": info.tenant_id,
            "authenticationMethodsUsed": [],
            "authenticationRequirement": "multiFactorAuthentication"
            if mfa_required
            else "singleFactorAuthentication",
            "uniqueTokenIdentifier": base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("="),
            "signInIdentifier": person.upn,
            "alternateSignInName": person.upn,
            "signInEventTypes": ["interactiveUser" if interactive else "nonInteractiveUser"],
            "servicePrincipalId": "",
            "servicePrincipalName": None,
            "userType": "guest" if a.user_kind == "guest" else "member",
            "flaggedForReview": False,
            "autonomousSystemNumber": a.asn,
            "crossTenantAccessType": a.cross_tenant,
            "mfaDetail": None,
            "status": {"errorCode": error, "failureReason": failure, "additionalDetails": details},
            "deviceDetail": {
                "deviceId": managed_id,
                "displayName": f"NW-{person.device_id[:6].upper()}" if managed else "",
                "operatingSystem": device.operating_system,
                "browser": device.browser,
                "isCompliant": managed,
                "isManaged": managed,
                "trustType": (
                    "Hybrid Azure AD joined"
                    if device.operating_system == "Windows10"
                    else "Azure AD registered"
                )
                if managed
                else "",
            },
            "location": {
                "city": place.city,
                "state": place.state,
                "countryOrRegion": place.country,
                "geoCoordinates": {
                    "altitude": None,
                    "latitude": round(place.lat + jitter, 6),
                    "longitude": round(place.lon + jitter, 6),
                },
            },
            "appliedConditionalAccessPolicies": evaluation.applied if evaluation else [],
            "authenticationProcessingDetails": [
                {"key": "Legacy TLS (TLS 1.0, 1.1, 3DES)", "value": "False"},
                {"key": "Is CAE Token", "value": "False" if interactive else "True"},
            ],
            "networkLocationDetails": network,
            "authenticationDetails": steps,
            "authenticationRequirementPolicies": requirement_policies,
            "sessionLifetimePolicies": (
                [
                    {
                        "expirationRequirement": "signInFrequencyEveryTime",
                        "detail": "Sign-in frequency every time",
                    }
                ]
                if evaluation and evaluation.sign_in_frequency_every_time
                else []
            ),
        }

    @staticmethod
    def _auth_steps(
        ts: int,
        interactive: bool,
        person: demo.Person,
        error: int,
        mfa_required: bool,
        mfa_outcome: str,
        kind: str,
    ) -> list[dict]:
        when = _iso(ts)
        if error in (50126, 50053, 50057):
            return [
                {
                    "authenticationStepDateTime": when,
                    "authenticationMethod": "Password",
                    "authenticationMethodDetail": "Password in the cloud",
                    "succeeded": False,
                    "authenticationStepResultDetail": "Invalid username or password or Invalid on-premise "
                    "username or password."
                    if error == 50126
                    else "Account locked or disabled",
                    "authenticationStepRequirement": "Primary authentication",
                }
            ]
        if not interactive or mfa_outcome == "claim" and kind in ("service", "technician", "partner"):
            steps = [
                {
                    "authenticationStepDateTime": when,
                    "authenticationMethod": "Previously satisfied",
                    "authenticationMethodDetail": None,
                    "succeeded": True,
                    "authenticationStepResultDetail": (
                        "First factor requirement satisfied by claim in the token"
                    ),
                    "authenticationStepRequirement": "Primary authentication",
                }
            ]
        else:
            steps = [
                {
                    "authenticationStepDateTime": when,
                    "authenticationMethod": "Password",
                    "authenticationMethodDetail": "Password in the cloud",
                    "succeeded": True,
                    "authenticationStepResultDetail": "Correct password",
                    "authenticationStepRequirement": "Primary authentication",
                }
            ]
        if mfa_required:
            if mfa_outcome == "claim":
                steps.append(
                    {
                        "authenticationStepDateTime": when,
                        "authenticationMethod": "Previously satisfied",
                        "authenticationMethodDetail": None,
                        "succeeded": True,
                        "authenticationStepResultDetail": "MFA requirement satisfied by claim in the token",
                        "authenticationStepRequirement": "Multifactor authentication",
                    }
                )
            else:
                method = next(
                    (m for m in person.methods if m in _MFA_METHOD_TEXT), "microsoftAuthenticatorPush"
                )
                name, detail = _MFA_METHOD_TEXT[method]
                ok = mfa_outcome == "ok" and error == 0
                steps.append(
                    {
                        "authenticationStepDateTime": when,
                        "authenticationMethod": name,
                        "authenticationMethodDetail": detail,
                        "succeeded": ok,
                        "authenticationStepResultDetail": "MFA successfully completed"
                        if ok
                        else {
                            "denied": "MFA denied; user declined the authentication",
                            "interrupted": "MFA denied; user did not respond to mobile app notification",
                            "unregistered": "User needs to register for MFA",
                        }.get(mfa_outcome, "Authentication in progress"),
                        "authenticationStepRequirement": "Multifactor authentication",
                    }
                )
        return steps


def sign_in_matches_types(record: Record, types: frozenset[str]) -> bool:
    return ("interactiveUser" if record.interactive else "nonInteractiveUser") in types
