"""Report-only impact: what a Conditional Access policy in report-only would have done, had it been
On, from its results in the sign-ins (reportOnlyFailure: blocked; reportOnlyInterrupted: stopped for
a control the user was not asked for). Pure: db.policy_outcomes.policy_impact counts the would-be
blocks in SQL (Tallies: by user, app, IP, country and time bucket and result, plus the newest rows for
the page's table) and hands the counts here; the Report-only impact page and the switch-on fixes (A-3,
B-5) read the answer. ``tally`` is the same counting over rows, in Python: what the SQL must equal.

The people who matter are flagged: the CIPP service account, the MSP's break-glass accounts, the MSP's
service-provider users in a client tenant (GDAP: posture.graph.is_msp_person_elsewhere) and the MSP's
technicians (anyone else of the MSP tenant signing in to it: the people a technician block policy is
about).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from graphjson.times import parse_graph_datetime
from graphjson.values import as_dict, as_list, lower, text
from investigate.network import ip_locations, single_address_range, trusted_ip_locations
from posture.graph import ALL_TRUSTED, is_msp_person_elsewhere

SERVICE_ACCOUNT = "CIPP service account"
BREAK_GLASS = "break-glass account"
SERVICE_PROVIDER = "MSP service-provider user"
TECHNICIAN = "technician"
# Blocking these locks CIPP or the MSP out: a switch-on is refused (fixes.guards).
LOCKOUT_ROLES = (SERVICE_ACCOUNT, BREAK_GLASS, SERVICE_PROVIDER)
ROLE_ORDER = (SERVICE_ACCOUNT, BREAK_GLASS, SERVICE_PROVIDER, TECHNICIAN)

DEFAULT_DAYS = 14
THIN_HOURS = 24  # report-only for less than this is thin evidence
HOURLY_UP_TO = timedelta(days=2)  # a timeline up to this long has hourly bars, beyond it daily


@dataclass(frozen=True)
class People:
    """Who matters, from settings (service account, break-glass) and the tenant directory."""

    msp_tenant_id: str
    service_account_upn: str = ""
    break_glass_upns: frozenset[str] = frozenset()  # lower-case

    def in_msp(self, tenant_id: str) -> bool:
        """Whether ``tenant_id`` is the MSP's own tenant (its technicians sign in there)."""
        return bool(self.msp_tenant_id) and lower(tenant_id) == lower(self.msp_tenant_id)

    def role(
        self, tenant_id: str, upn: str, cross_tenant_access_type: str = "", home_tenant_id: str = ""
    ) -> str | None:
        """The sign-in's person as one of ROLE_ORDER, or None for the tenant's own users."""
        who = lower(upn)
        if who and who == lower(self.service_account_upn):
            return SERVICE_ACCOUNT
        if who and who in self.break_glass_upns:
            return BREAK_GLASS
        in_msp = self.in_msp(tenant_id)
        if not in_msp and is_msp_person_elsewhere(
            home_tenant_id, cross_tenant_access_type, tenant_id, self.msp_tenant_id
        ):
            return SERVICE_PROVIDER
        if in_msp:
            return TECHNICIAN
        return None


@dataclass(frozen=True)
class WouldBlock:
    """One sign-in the policy would have blocked or interrupted."""

    signin_id: str
    created_at: datetime
    result: str
    user_principal_name: str
    app: str
    ip: str
    country: str
    role: str | None
    cross_tenant_access_type: str = ""
    home_tenant_id: str = ""


@dataclass(frozen=True)
class Tally:
    """How many would-be blocks share one value (an app, IP or country)."""

    value: str
    count: int


@dataclass(frozen=True)
class UserTally:
    """How many would-be blocks of one user as the sign-ins name them: the role depends on the UPN, the
    cross-tenant access type and the home tenant. ``ip`` is set in the by-IP tallies only."""

    upn: str
    cross_tenant_access_type: str
    home_tenant_id: str
    count: int
    ip: str = ""


@dataclass(frozen=True)
class Tallies:
    """A policy's would-be blocks in a window, counted: what db.policy_outcomes.policy_impact reads in
    SQL and ``summarise`` turns into an Impact."""

    users: tuple[UserTally, ...] = ()
    apps: tuple[Tally, ...] = ()
    ips: tuple[Tally, ...] = ()
    countries: tuple[Tally, ...] = ()
    # By IP and user, for the LOC-1 range offers: only when the policy is the MSP tenant's (the
    # technicians') and exempts a trusted location (offers_ranges).
    ip_users: tuple[UserTally, ...] = ()
    timeline: tuple[tuple[datetime, str, int], ...] = ()  # bucket start, result, count
    newest: tuple[WouldBlock, ...] = ()  # the newest rows (newest first), for the page's table


@dataclass(frozen=True)
class Count:
    value: str
    count: int
    role: str | None = None  # users only


@dataclass(frozen=True)
class RangeOffer:
    """LOC-1 for a technician's IP outside the trusted location the policy exempts."""

    ip: str
    cidr: str
    location_id: str
    location_name: str
    users: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Impact:
    tenant_id: str
    policy_id: str
    policy_name: str
    state: str  # the policy's state as collected (lower-case)
    start: datetime
    end: datetime
    blocked: int  # sign-ins it would have blocked (reportOnlyFailure) in the window
    interrupted: int  # and interrupted (any other would-be block result)
    newest: tuple[WouldBlock, ...]  # the newest of them, newest first (the page's table): not all
    applied: int  # sign-ins the policy applied to in the window (any result but not applied / off)
    report_only_since: datetime | None  # modifiedDateTime of a report-only policy, else None
    first_outcome: datetime | None  # the hour of its oldest kept outcome
    users: tuple[Count, ...] = ()
    apps: tuple[Count, ...] = ()
    ips: tuple[Count, ...] = ()
    countries: tuple[Count, ...] = ()
    timeline: tuple[tuple[datetime, int, int], ...] = ()  # bucket, blocked, interrupted
    hourly: bool = False
    flagged: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> UPNs, ROLE_ORDER
    role_signins: dict[str, int] = field(default_factory=dict)  # role -> its would-be blocks
    range_offers: tuple[RangeOffer, ...] = ()

    @property
    def total(self) -> int:
        """Every sign-in it would have blocked or interrupted in the window."""
        return self.blocked + self.interrupted

    @property
    def is_report_only(self) -> bool:
        return self.state == "enabledforreportingbutnotenforced"

    @property
    def lockout_roles(self) -> tuple[str, ...]:
        """The roles whose blocking refuses a switch-on."""
        return tuple(role for role in LOCKOUT_ROLES if self.flagged.get(role))

    def evidence_hours(self, now: datetime) -> float | None:
        """How long the evidence has been gathering: since the policy went report-only (its last
        modification) or its first outcome seen, whichever is later; None when neither is known."""
        since = [moment for moment in (self.report_only_since, self.first_outcome) if moment is not None]
        if not since:
            return None
        return (now - max(since)).total_seconds() / 3600

    def thin_evidence(self, now: datetime) -> list[str]:
        """Why the evidence is too thin to trust (empty: enough)."""
        reasons = []
        hours = self.evidence_hours(now)
        if hours is None or hours < THIN_HOURS:
            known = "for an unknown time" if hours is None else f"for {max(hours, 0):.0f} h"
            reasons.append(f"the policy has been in report-only {known}, under {THIN_HOURS} h")
        if self.applied == 0:
            reasons.append(f"it applied to no sign-in in the last {self.days} days")
        return reasons

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86400))

    def sentence(self) -> str:
        """What changes when this goes On, in one sentence."""
        name = f"'{self.policy_name}'"
        period = f"in the last {self.days} days"
        if not self.total:
            if self.applied == 0:
                return (
                    f"Switched On, {name} would change nothing anyone saw {period}: it applied to no "
                    "sign-in, so there is no evidence yet of what it would do."
                )
            return (
                f"Switched On, {name} would have blocked none of the {self.applied:,} sign-ins it "
                f"applied to {period}."
            )
        parts = []
        if self.blocked:
            parts.append(f"blocked {self.blocked:,}")
        if self.interrupted:
            parts.append(f"interrupted {self.interrupted:,}")
        total, users = self.total, len(self.users)
        words = (
            f"Switched On, {name} would have {' and '.join(parts)} sign-in{'s' if total != 1 else ''} "
            f"of {users:,} user{'s' if users != 1 else ''} {period}"
        )
        named = [
            f"{role}{'s' if len(upns) > 1 else ''} {', '.join(upns[:3])}{' …' if len(upns) > 3 else ''}"
            for role in ROLE_ORDER
            if (upns := self.flagged.get(role))
        ]
        if named:
            words += ", among them the " + "; the ".join(named)
        return words + "."


def hourly_timeline(start: datetime, end: datetime) -> bool:
    """Whether the window's timeline has hourly bars (else daily): what the tallies bucket by."""
    return end - start <= HOURLY_UP_TO


def bucket_start(moment: datetime, hourly: bool) -> datetime:
    """The start of the timeline bar ``moment`` falls in."""
    return moment.replace(hour=moment.hour if hourly else 0, minute=0, second=0, microsecond=0)


def tally(
    signins: Iterable[WouldBlock], *, hourly: bool, with_ips_by_user: bool, newest: int = 500
) -> Tallies:
    """``signins`` counted as db.policy_outcomes.would_block_tallies counts them in SQL."""
    rows = sorted(signins, key=lambda s: (s.created_at, s.signin_id), reverse=True)
    users: Counter[tuple[str, str, str]] = Counter()
    ip_users: Counter[tuple[str, str, str, str]] = Counter()
    apps, ips, countries = Counter[str](), Counter[str](), Counter[str]()
    timeline: Counter[tuple[datetime, str]] = Counter()
    for s in rows:
        user = (s.user_principal_name, s.cross_tenant_access_type, s.home_tenant_id)
        users[user] += 1
        if with_ips_by_user:
            ip_users[(*user, s.ip)] += 1
        apps[s.app] += 1
        ips[s.ip] += 1
        countries[s.country] += 1
        timeline[(bucket_start(s.created_at, hourly), s.result)] += 1
    return Tallies(
        users=tuple(UserTally(*user, n) for user, n in users.items()),
        apps=tuple(Tally(value, n) for value, n in apps.items()),
        ips=tuple(Tally(value, n) for value, n in ips.items()),
        countries=tuple(Tally(value, n) for value, n in countries.items()),
        ip_users=tuple(UserTally(u, a, h, n, ip) for (u, a, h, ip), n in ip_users.items()),
        timeline=tuple(sorted((at, result, n) for (at, result), n in timeline.items())),
        newest=tuple(rows[:newest]),
    )


def _top(tallies: Iterable[Tally], limit: int = 20) -> tuple[Count, ...]:
    """The most common values (empty ones left out), ties in the values' order."""
    found = sorted((t for t in tallies if t.value), key=lambda t: (-t.count, t.value))
    return tuple(Count(t.value, t.count) for t in found[:limit])


def _exempt_trusted_locations(
    policy: dict[str, Any], named_locations: list[dict[str, Any]], trusted_names: set[str]
) -> list[dict[str, Any]]:
    """The trusted IP locations the policy exempts (excludeLocations: AllTrusted or their ids)."""
    locations = as_dict(as_dict(policy.get("conditions")).get("locations"))
    excluded = {lower(v) for v in as_list(locations.get("excludeLocations")) if isinstance(v, str)}
    trusted = trusted_ip_locations(named_locations, trusted_names or None)
    if ALL_TRUSTED in excluded:
        return trusted
    return [n for n in trusted if lower(n.get("id")) in excluded]


def offers_ranges(
    policy: dict[str, Any], named_locations: list[dict[str, Any]], trusted_names: set[str] | None = None
) -> bool:
    """Whether a technician blocked from outside the policy's exempt trusted location could be offered
    the range that adds their IP (LOC-1): only when the policy exempts one."""
    return bool(_exempt_trusted_locations(policy, named_locations, trusted_names or set()))


def range_offers(
    ip_users: Iterable[tuple[UserTally, str | None]],
    policy: dict[str, Any],
    named_locations: list[dict[str, Any]],
    trusted_names: set[str] | None = None,
) -> tuple[RangeOffer, ...]:
    """For each IP a technician would have been blocked from outside the trusted location the policy
    exempts: the range that adds it (LOC-1), most sign-ins first. ``ip_users``: the by-IP-and-user
    tallies with each one's role."""
    candidates = _exempt_trusted_locations(policy, named_locations, trusted_names or set())
    if not candidates:
        return ()
    by_ip: dict[str, list[UserTally]] = {}
    for tallied, role in ip_users:
        if role == TECHNICIAN and tallied.ip:
            by_ip.setdefault(tallied.ip, []).append(tallied)
    offers = []
    for ip, found in by_ip.items():
        cidr = single_address_range(ip)
        if cidr is None or ip_locations(ip, candidates):
            continue
        location = candidates[0]
        offers.append(
            RangeOffer(
                ip=ip,
                cidr=cidr,
                location_id=text(location.get("id")),
                location_name=text(location.get("displayName"), text(location.get("id"))),
                users=tuple(sorted({u.upn for u in found})),
                count=sum(u.count for u in found),
            )
        )
    return tuple(sorted(offers, key=lambda o: (-o.count, o.ip)))


def summarise(
    *,
    tenant_id: str,
    policy: dict[str, Any],
    start: datetime,
    end: datetime,
    tallies: Tallies,
    people: People,
    applied: int,
    first_outcome: datetime | None,
    named_locations: list[dict[str, Any]] | None = None,
    trusted_names: set[str] | None = None,
) -> Impact:
    """The impact of ``policy`` from its would-be blocks in [start, end), counted (``tallies``)."""
    state = lower(policy.get("state"))
    modified = policy.get("modifiedDateTime") or policy.get("createdDateTime")
    report_only_since = None
    if state == "enabledforreportingbutnotenforced" and isinstance(modified, str):
        report_only_since = _parse_time(modified)
    known: dict[tuple[str, str, str], str | None] = {}  # a user's role is worked out once

    def role_of(u: UserTally | WouldBlock) -> str | None:
        upn = u.upn if isinstance(u, UserTally) else u.user_principal_name
        key = (upn, u.cross_tenant_access_type, u.home_tenant_id)
        if key not in known:
            known[key] = people.role(tenant_id, *key)
        return known[key]

    # Per UPN (case-insensitive): its count, and its role (as a service provider and as a guest
    # otherwise, the one that matters more: ROLE_ORDER).
    per_user: dict[str, list[Any]] = {}
    by_role: dict[str, set[str]] = {}
    role_signins: Counter[str] = Counter()
    for u in tallies.users:
        upn, role = lower(u.upn), role_of(u)
        if role is not None:
            by_role.setdefault(role, set()).add(upn)
            role_signins[role] += u.count
        if not upn:
            continue
        found = per_user.get(upn)
        if found is None:
            per_user[upn] = [u.count, role]
        else:
            found[0] += u.count
            if _rank(role) < _rank(found[1]):
                found[1] = role
    users = tuple(
        Count(upn, count, role)
        for upn, (count, role) in sorted(per_user.items(), key=lambda item: (-item[1][0], item[0]))
    )
    flagged = {role: tuple(sorted(by_role[role])) for role in ROLE_ORDER if by_role.get(role)}
    hourly = hourly_timeline(start, end)
    buckets: dict[datetime, list[int]] = {}
    for at, result, count in tallies.timeline:
        pair = buckets.setdefault(bucket_start(at, hourly), [0, 0])
        pair[0 if result == "reportOnlyFailure" else 1] += count
    timeline = tuple((at, blocked, interrupted) for at, (blocked, interrupted) in sorted(buckets.items()))
    return Impact(
        tenant_id=tenant_id,
        policy_id=text(policy.get("id")),
        policy_name=text(policy.get("displayName"), text(policy.get("id"))),
        state=state,
        start=start,
        end=end,
        blocked=sum(b for _at, b, _i in timeline),
        interrupted=sum(i for _at, _b, i in timeline),
        newest=tuple(_with_role(s, role_of(s)) for s in tallies.newest),
        applied=applied,
        report_only_since=report_only_since,
        first_outcome=first_outcome,
        users=users,
        apps=_top(tallies.apps),
        ips=_top(tallies.ips),
        countries=_top(tallies.countries),
        timeline=timeline,
        hourly=hourly,
        flagged=flagged,
        role_signins={role: role_signins[role] for role in ROLE_ORDER if role_signins[role]},
        range_offers=range_offers(
            ((u, role_of(u)) for u in tallies.ip_users), policy, named_locations or [], trusted_names
        ),
    )


def _rank(role: str | None) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def _with_role(s: WouldBlock, role: str | None) -> WouldBlock:
    """``s`` with its role (the constructor, not dataclasses.replace: several times faster per row)."""
    return WouldBlock(
        s.signin_id,
        s.created_at,
        s.result,
        s.user_principal_name,
        s.app,
        s.ip,
        s.country,
        role,
        s.cross_tenant_access_type,
        s.home_tenant_id,
    )


def _parse_time(value: str) -> datetime | None:
    try:
        return parse_graph_datetime(value)
    except (TypeError, ValueError, AttributeError, IndexError):
        return None


def evidence(impact: Impact, now: datetime) -> dict[str, Any]:
    """What a switch-on relied on, as the plan shows it and the audit record keeps it (JSON-ready)."""
    hours = impact.evidence_hours(now)
    return {
        "policyId": impact.policy_id,
        "window": f"{impact.start:%Y-%m-%d %H:%M} – {impact.end:%Y-%m-%d %H:%M} UTC",
        "signInsApplied": impact.applied,
        "wouldBlock": impact.blocked,
        "wouldInterrupt": impact.interrupted,
        "reportOnlyHours": None if hours is None else round(hours, 1),
        "flagged": {role: list(upns) for role, upns in impact.flagged.items()},
        "summary": impact.sentence(),
    }
