"""Report-only impact: what a Conditional Access policy in report-only would have done, had it been
On, from its results in the sign-ins (reportOnlyFailure: blocked; reportOnlyInterrupted: stopped for
a control the user was not asked for). Pure: db.policy_outcomes.policy_impact reads the sign-ins and
hands them here; the Report-only impact page and the switch-on fixes (A-3, B-5) read the answer.

The people who matter are flagged: the CIPP service account, the MSP's break-glass accounts, the MSP's
service-provider users in a client tenant (GDAP: posture.graph.is_msp_person_elsewhere) and the MSP's
technicians (anyone else of the MSP tenant signing in to it: the people a technician block policy is
about).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
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

    def role(
        self, tenant_id: str, upn: str, cross_tenant_access_type: str = "", home_tenant_id: str = ""
    ) -> str | None:
        """The sign-in's person as one of ROLE_ORDER, or None for the tenant's own users."""
        who = lower(upn)
        if who and who == lower(self.service_account_upn):
            return SERVICE_ACCOUNT
        if who and who in self.break_glass_upns:
            return BREAK_GLASS
        in_msp = bool(self.msp_tenant_id) and lower(tenant_id) == lower(self.msp_tenant_id)
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
    signins: tuple[WouldBlock, ...]
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
    range_offers: tuple[RangeOffer, ...] = ()

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
        if not self.signins:
            if self.applied == 0:
                return (
                    f"Switched On, {name} would change nothing anyone saw {period}: it applied to no "
                    "sign-in, so there is no evidence yet of what it would do."
                )
            return (
                f"Switched On, {name} would have blocked none of the {self.applied:,} sign-ins it "
                f"applied to {period}."
            )
        blocked = sum(1 for s in self.signins if s.result == "reportOnlyFailure")
        interrupted = len(self.signins) - blocked
        parts = []
        if blocked:
            parts.append(f"blocked {blocked:,}")
        if interrupted:
            parts.append(f"interrupted {interrupted:,}")
        total, users = len(self.signins), len(self.users)
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


def _counts(values: Iterable[str], limit: int = 20) -> tuple[Count, ...]:
    counter = Counter(v for v in values if v)
    return tuple(Count(value, count) for value, count in counter.most_common(limit))


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


def range_offers(
    signins: Iterable[WouldBlock],
    policy: dict[str, Any],
    named_locations: list[dict[str, Any]],
    trusted_names: set[str] | None = None,
) -> tuple[RangeOffer, ...]:
    """For each IP a technician would have been blocked from outside the trusted location the policy
    exempts: the range that adds it (LOC-1), most sign-ins first."""
    candidates = _exempt_trusted_locations(policy, named_locations, trusted_names or set())
    if not candidates:
        return ()
    by_ip: dict[str, list[WouldBlock]] = {}
    for signin in signins:
        if signin.role == TECHNICIAN and signin.ip:
            by_ip.setdefault(signin.ip, []).append(signin)
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
                users=tuple(sorted({s.user_principal_name for s in found})),
                count=len(found),
            )
        )
    return tuple(sorted(offers, key=lambda o: (-o.count, o.ip)))


def summarise(
    *,
    tenant_id: str,
    policy: dict[str, Any],
    start: datetime,
    end: datetime,
    signins: Iterable[WouldBlock],
    applied: int,
    first_outcome: datetime | None,
    named_locations: list[dict[str, Any]] | None = None,
    trusted_names: set[str] | None = None,
) -> Impact:
    """The impact of ``policy`` from the sign-ins it would have blocked or interrupted in [start, end)."""
    rows = tuple(sorted(signins, key=lambda s: (s.created_at, s.signin_id), reverse=True))
    state = lower(policy.get("state"))
    modified = policy.get("modifiedDateTime") or policy.get("createdDateTime")
    report_only_since = None
    if state == "enabledforreportingbutnotenforced" and isinstance(modified, str):
        report_only_since = _parse_time(modified)
    # One pass over the rows (thousands for a busy policy): each UPN lower-cased once, each sign-in put
    # in its timeline bucket by its date and hour, no datetime built per row.
    roles: dict[str, str | None] = {}
    user_counts: Counter[str] = Counter()
    by_role: dict[str, set[str]] = {}
    hourly = end - start <= HOURLY_UP_TO
    buckets: dict[tuple[date, int], list[int]] = {}
    for s in rows:
        upn = lower(s.user_principal_name)
        if upn:
            user_counts[upn] += 1
        roles.setdefault(upn, s.role)
        if s.role is not None:
            by_role.setdefault(s.role, set()).add(upn)
        moment = s.created_at
        pair = buckets.get(key := (moment.date(), moment.hour if hourly else 0))
        if pair is None:
            pair = buckets[key] = [0, 0]
        pair[0 if s.result == "reportOnlyFailure" else 1] += 1
    users = tuple(Count(upn, count, roles.get(upn)) for upn, count in user_counts.most_common())
    flagged = {role: tuple(sorted(by_role[role])) for role in ROLE_ORDER if by_role.get(role)}
    timeline = tuple(
        (datetime.combine(day, time(hour)), blocked, interrupted)
        for (day, hour), (blocked, interrupted) in sorted(buckets.items())
    )
    return Impact(
        tenant_id=tenant_id,
        policy_id=text(policy.get("id")),
        policy_name=text(policy.get("displayName"), text(policy.get("id"))),
        state=state,
        start=start,
        end=end,
        signins=rows,
        applied=applied,
        report_only_since=report_only_since,
        first_outcome=first_outcome,
        users=users,
        apps=_counts(s.app for s in rows),
        ips=_counts(s.ip for s in rows),
        countries=_counts(s.country for s in rows),
        timeline=timeline,
        hourly=hourly,
        flagged=flagged,
        range_offers=range_offers(rows, policy, named_locations or [], trusted_names),
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
        "wouldBlock": sum(1 for s in impact.signins if s.result == "reportOnlyFailure"),
        "wouldInterrupt": sum(1 for s in impact.signins if s.result != "reportOnlyFailure"),
        "reportOnlyHours": None if hours is None else round(hours, 1),
        "flagged": {role: list(upns) for role, upns in impact.flagged.items()},
        "summary": impact.sentence(),
    }
