"""Reads of every sign-in's Conditional Access outcomes (``signin_policy_outcomes``, written with the
sign-ins by db.signin_index.index_outcomes): by tenant, policy, result and time from the postings'
key, by user, app and IP from the sign-ins they name (joined by id).

Times are [start, end) in naive UTC. Postings are per hour: a query reads the hours the window
touches and keeps the sign-ins whose own createdDateTime is inside it, so answers are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from db.models import SignIn, SignInPolicyOutcome
from db.queries import tenant_objects
from db.signin_index import OUTCOME_SEPARATOR
from investigate.impact import DEFAULT_DAYS, Impact, People, WouldBlock, summarise

REPORT_ONLY_FAILURE = "reportOnlyFailure"
REPORT_ONLY_INTERRUPTED = "reportOnlyInterrupted"
# What a report-only policy would have done to a sign-in had it been On: block it, or stop it for a
# control (MFA, terms) the user was not asked for.
WOULD_BLOCK = (REPORT_ONLY_FAILURE, REPORT_ONLY_INTERRUPTED)
# Results that say the policy did not apply to the sign-in (its conditions did not match, or it was off).
NOT_APPLIED = ("notApplied", "reportOnlyNotApplied", "notEnabled")

_CHUNK = 500  # ids per IN (...) look-up
MAX_IDS = 200_000  # sign-ins read per query at most (newest hours first)


@dataclass(frozen=True)
class OutcomeQuery:
    """Which outcomes: tenants and window always; policy, results, user (UPN), app and IP optional
    (user and app compared case-insensitively, IP exactly)."""

    tenants: tuple[str, ...]
    start: datetime
    end: datetime
    policy_id: str | None = None
    results: tuple[str, ...] | None = None
    user: str | None = None
    app: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy's result in one sign-in, with the sign-in's own columns."""

    signin_id: str
    tenant_id: str
    created_at: datetime
    policy_id: str
    result: str
    user_principal_name: str
    user_display_name: str
    app_display_name: str
    ip_address: str
    country: str
    city: str
    error_code: int
    cross_tenant_access_type: str
    home_tenant_id: str


def _postings(conn: Connection, query: OutcomeQuery) -> Sequence[tuple[str, str, str, str]]:
    first_hour = query.start.replace(minute=0, second=0, microsecond=0)
    o = SignInPolicyOutcome
    statement = select(o.tenant_id, o.policy_id, o.result, o.signin_ids).where(
        o.tenant_id.in_(query.tenants), o.hour >= first_hour, o.hour < query.end
    )
    if query.policy_id is not None:
        statement = statement.where(o.policy_id == query.policy_id)
    if query.results is not None:
        statement = statement.where(o.result.in_(query.results))
    return conn.execute(statement.order_by(o.hour.desc())).all()  # type: ignore[return-value]


def policy_outcomes(conn: Connection, query: OutcomeQuery, limit: int = 5000) -> list[PolicyOutcome]:
    """The outcomes matching ``query``, newest first, at most ``limit`` (and at most MAX_IDS sign-ins
    read: the newest hours' first)."""
    if not query.tenants or query.start >= query.end or limit <= 0:
        return []
    wanted: dict[str, list[tuple[str, str, str]]] = {}
    for tenant_id, policy_id, result, ids in _postings(conn, query):
        for signin_id in ids.split(OUTCOME_SEPARATOR):
            wanted.setdefault(signin_id, []).append((tenant_id, policy_id, result))
        if len(wanted) >= MAX_IDS:
            break
    found: list[PolicyOutcome] = []
    ids = list(wanted)
    s = SignIn
    for start in range(0, len(ids), _CHUNK):
        statement = select(
            s.id,
            s.created_at,
            s.user_principal_name,
            s.user_display_name,
            s.app_display_name,
            s.ip_address,
            s.country,
            s.city,
            s.error_code,
            s.cross_tenant_access_type,
            s.home_tenant_id,
        ).where(
            s.id.in_(ids[start : start + _CHUNK]),
            s.created_at >= query.start,
            s.created_at < query.end,
        )
        if query.user is not None:
            statement = statement.where(func.lower(s.user_principal_name) == query.user.lower())
        if query.app is not None:
            statement = statement.where(func.lower(s.app_display_name) == query.app.lower())
        if query.ip is not None:
            statement = statement.where(s.ip_address == query.ip)
        for row in conn.execute(statement):
            for tenant_id, policy_id, result in wanted[row.id]:
                found.append(
                    PolicyOutcome(
                        signin_id=row.id,
                        tenant_id=tenant_id,
                        created_at=row.created_at,
                        policy_id=policy_id,
                        result=result,
                        user_principal_name=row.user_principal_name,
                        user_display_name=row.user_display_name,
                        app_display_name=row.app_display_name,
                        ip_address=row.ip_address,
                        country=row.country,
                        city=row.city,
                        error_code=row.error_code,
                        cross_tenant_access_type=row.cross_tenant_access_type,
                        home_tenant_id=row.home_tenant_id,
                    )
                )
    found.sort(key=lambda o: (o.created_at, o.signin_id, o.policy_id), reverse=True)
    return found[:limit]


def result_counts(
    conn: Connection, tenant_id: str, policy_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """How many sign-ins had each result for the policy, in the hours [start's hour, end): to the hour
    (the postings' grain), for evidence counts that need no sign-in read."""
    o = SignInPolicyOutcome
    rows = conn.execute(
        select(o.result, func.sum(o.count))
        .where(
            o.tenant_id == tenant_id,
            o.policy_id == policy_id,
            o.hour >= start.replace(minute=0, second=0, microsecond=0),
            o.hour < end,
        )
        .group_by(o.result)
    )
    return {result: int(count or 0) for result, count in rows}


def first_outcome_hour(
    conn: Connection, tenant_id: str, policy_id: str, results: Sequence[str] | None = None
) -> datetime | None:
    """The hour of the policy's oldest kept outcome (of ``results``, if given): how long the evidence
    goes back."""
    o = SignInPolicyOutcome
    statement = select(func.min(o.hour)).where(o.tenant_id == tenant_id, o.policy_id == policy_id)
    if results is not None:
        statement = statement.where(o.result.in_(tuple(results)))
    return conn.execute(statement).scalar()


def policy_impact(
    conn: Connection,
    tenant_id: str,
    policy_id: str,
    now: datetime,
    people: People,
    days: int = DEFAULT_DAYS,
    trusted_names: set[str] | None = None,
    limit: int = 20_000,
    policy: dict[str, Any] | None = None,
    named_locations: list[dict[str, Any]] | None = None,
) -> Impact | None:
    """What the tenant's policy would have blocked or interrupted in the last ``days`` days (its
    reportOnlyFailure and reportOnlyInterrupted outcomes), with the people who matter flagged; None
    when the policy is not among the tenant's collected policies. ``policy`` and ``named_locations``:
    as just read from Graph (the fixes), instead of the collected ones."""
    objects = tenant_objects(conn, [tenant_id], ("conditionalAccessPolicies", "namedLocations"))
    if policy is None:
        policies = objects.get((tenant_id, "conditionalAccessPolicies"), [])
        wanted = policy_id.lower()
        policy = next(
            (p for p in policies if isinstance(p, dict) and str(p.get("id", "")).lower() == wanted), None
        )
    if policy is None:
        return None
    start = now - timedelta(days=days)
    query = OutcomeQuery((tenant_id,), start, now, policy_id=str(policy.get("id")), results=WOULD_BLOCK)
    signins = [
        WouldBlock(
            signin_id=o.signin_id,
            created_at=o.created_at,
            result=o.result,
            user_principal_name=o.user_principal_name,
            app=o.app_display_name,
            ip=o.ip_address,
            country=o.country,
            role=people.role(tenant_id, o.user_principal_name, o.cross_tenant_access_type, o.home_tenant_id),
        )
        for o in policy_outcomes(conn, query, limit)
    ]
    counts = result_counts(conn, tenant_id, query.policy_id or "", start, now)
    applied = sum(count for result, count in counts.items() if result not in NOT_APPLIED)
    return summarise(
        tenant_id=tenant_id,
        policy=policy,
        start=start,
        end=now,
        signins=signins,
        applied=applied,
        first_outcome=first_outcome_hour(conn, tenant_id, query.policy_id or ""),
        named_locations=named_locations
        if named_locations is not None
        else [n for n in objects.get((tenant_id, "namedLocations"), []) if isinstance(n, dict)],
        trusted_names=trusted_names,
    )


@dataclass(frozen=True)
class ReportOnlyPolicy:
    tenant_id: str
    policy_id: str
    name: str
    modified: str  # modifiedDateTime as collected ('' when absent)


def report_only_policies(conn: Connection, tenant_ids: Sequence[str]) -> list[ReportOnlyPolicy]:
    """Every collected policy in report-only, in the tenants' order then by name."""
    objects = tenant_objects(conn, tenant_ids, ("conditionalAccessPolicies",))
    found = []
    for tenant_id in tenant_ids:
        for p in objects.get((tenant_id, "conditionalAccessPolicies"), []):
            if not isinstance(p, dict) or not p.get("id"):
                continue
            if str(p.get("state", "")).lower() != "enabledforreportingbutnotenforced":
                continue
            found.append(
                ReportOnlyPolicy(
                    tenant_id,
                    str(p["id"]),
                    str(p.get("displayName") or p["id"]),
                    str(p.get("modifiedDateTime") or p.get("createdDateTime") or ""),
                )
            )
    return sorted(found, key=lambda r: (list(tenant_ids).index(r.tenant_id), r.name.lower()))
