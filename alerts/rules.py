"""Alert rules: each a small named unit with an id, a one-line rationale, a threshold and the condition it
reads from the database. A rule returns the conditions holding now; a condition's key (with the rule id)
identifies one alert, e.g. ("service-account-blocked", <tenant id>).

State rules hold while something is wrong and resolve when it is fixed; event rules (a sign-in, a
change) fire once per event and have nothing to resolve. alerts.state turns the conditions into alerts
and messages; nothing here writes."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import Connection, func, select

from connectors.sources import SIGNINS
from db.history import changes, finding_transitions
from db.models import SignIn
from db.posture_store import regressed
from db.queries import POSTURE_SOURCE, SourceStatus, failing_since, source_status
from db.signin_aggregates import hourly_failed
from investigate.diff import diff_words
from posture.checks.cipp import client_ranges, is_any
from posture.findings import SEVERITIES, Finding
from settings import Settings

CRITICAL, HIGH, MEDIUM = "critical", "high", "medium"
SPIKE_FACTOR = 3  # the last hour must be this many times the tenant's hourly median (and above the floor)
BASELINE_DAYS = 7
EVENT_LOOKBACK = timedelta(hours=24)  # an event rule's first evaluation reads this far back


@dataclass(frozen=True)
class Condition:
    """One alert's condition holding now: what, where (tenant), since when, and the page that shows it."""

    rule_id: str
    key: str  # identifies the alert within its rule
    tenant_id: str
    what: str  # one line, tenant text included as plain text
    since: datetime
    link: str


@dataclass(frozen=True)
class RuleContext:
    """What every rule may read besides the database: the clock, the previous evaluation's time (event
    rules read what happened since), tenant names, the current findings and the rule's threshold."""

    settings: Settings
    now: datetime
    since: datetime
    tenant_names: dict[str, str]
    findings: Sequence[Finding]
    findings_at: datetime | None
    threshold: str = ""

    def name(self, tenant_id: str) -> str:
        return self.tenant_names.get(tenant_id, tenant_id)

    def link(self, page: str, **params: str) -> str:
        """``<dashboard>/<page>?tenant=<id>``: only our own ids go into a link, never tenant text."""
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.settings.dashboard_base_url.rstrip('/')}/{page}{query}"


Reader = Callable[[Connection, RuleContext], list[Condition]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    rationale: str
    severity: str  # critical rules may go through quiet hours (settings.alert_quiet_hours_hold_critical)
    event: bool  # fires once per event; nothing to resolve
    threshold_label: str  # what the threshold means ('' : the rule has none)
    default_threshold: Callable[[Settings], str]
    read: Reader = field(repr=False)


def _no_threshold(_: Settings) -> str:
    return ""


# --- the rules ----------------------------------------------------------------------------------------


def service_account_blocked(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """D-2 or D-3 failing in a tenant: the CIPP service account is (or will be) blocked there."""
    out: dict[str, Condition] = {}
    for f in ctx.findings:
        if f.check in ("D-2", "D-3") and f.status == "fail" and f.tenant_id not in out:
            out[f.tenant_id] = Condition(
                SERVICE_ACCOUNT_BLOCKED,
                f.tenant_id,
                f.tenant_id,
                f"The CIPP service account is blocked in {ctx.name(f.tenant_id)} ({f.check}: {f.message})",
                ctx.findings_at or ctx.now,
                ctx.link("posture", tenant=f.tenant_id),
            )
    return list(out.values())


def api_client_any_ip(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """C-1 failing with IPRange ["Any"]: a CIPP-API client can be called from any address."""
    out = []
    for f in ctx.findings:
        ranges = client_ranges({"IPRange": f.evidence.get("IPRange")}) if f.check == "C-1" else None
        if f.status == "fail" and ranges is not None and is_any(ranges):
            out.append(
                Condition(
                    API_CLIENT_ANY_IP,
                    f.subject.id,
                    f.tenant_id,
                    f"CIPP-API client {f.subject.name or f.subject.id} accepts calls from any IP",
                    ctx.findings_at or ctx.now,
                    ctx.link("api_clients"),
                )
            )
    return out


def break_glass_signin(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """Any sign-in of a break-glass account (settings.break_glass_upns) since the previous evaluation."""
    upns = [u.lower() for u in ctx.settings.break_glass_upns if u]
    if not upns:
        return []
    rows = conn.execute(
        select(SignIn.id, SignIn.tenant_id, SignIn.created_at, SignIn.user_principal_name, SignIn.ip_address)
        .where(
            SignIn.created_at >= ctx.since,
            SignIn.created_at < ctx.now,
            func.lower(SignIn.user_principal_name).in_(upns),
        )
        .order_by(SignIn.created_at)
    )
    return [
        Condition(
            BREAK_GLASS_SIGNIN,
            signin_id,
            tenant_id,
            f"Break-glass account {upn} signed in to {ctx.name(tenant_id)} from {ip or 'an unknown IP'}",
            created,
            ctx.link("signins", tenant=tenant_id),
        )
        for signin_id, tenant_id, created, upn, ip in rows
    ]


def blocked_signin_spike(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """A tenant's blocked sign-ins in the last complete hour against its own hourly median over the
    previous 7 days (hours without any count as 0): at least SPIKE_FACTOR times it, and the floor."""
    floor = int(ctx.threshold or 50)
    out = []
    for tenant_id in ctx.tenant_names:
        # The hourly counters the wall reads, oldest first, ending with the current (partial) hour.
        hours = hourly_failed(conn, [tenant_id], ctx.now, hours=BASELINE_DAYS * 24 + 2)
        (hour, last), baseline = hours[-2], [n for _, n in hours[:-2]]
        median = statistics.median(baseline)
        if last >= floor and last >= SPIKE_FACTOR * median:
            out.append(
                Condition(
                    BLOCKED_SIGNIN_SPIKE,
                    tenant_id,
                    tenant_id,
                    f"{last} blocked sign-ins in {ctx.name(tenant_id)} in the hour from {hour:%H:%M} UTC "
                    f"(hourly median of the previous {BASELINE_DAYS} days: {median:g})",
                    hour,
                    ctx.link("signins", tenant=tenant_id),
                )
            )
    return out


def collector_failing(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """A data source failing or stale for longer than N of its cycles (standing states such as "not
    licensed" and the posture run beside the sources are not collection problems)."""
    cycles = int(ctx.threshold or 3)
    s = ctx.settings
    rows = source_status(conn, ctx.now, {}, float("inf"))  # freshness is judged here, by cycles
    first_failure = failing_since(conn)
    out = []
    for row in rows:
        if row.standing or row.source == POSTURE_SOURCE:
            continue
        interval = s.signin_interval_seconds if row.source == SIGNINS else s.collect_interval_seconds
        since = _trouble_since(row, first_failure, timedelta(seconds=interval))
        if since is None or ctx.now - since < timedelta(seconds=interval * cycles):
            continue
        state = "failing" if row.failing else "stale"
        out.append(
            Condition(
                COLLECTOR_FAILING,
                f"{row.tenant_id}|{row.source}",
                row.tenant_id,
                f"{row.source} of {row.tenant_name} is {state} for more than {cycles} cycles",
                since,
                ctx.link("collectors", tenant=row.tenant_id),
            )
        )
    return out


def _trouble_since(
    row: SourceStatus, first_failure: dict[tuple[str, str], datetime], interval: timedelta
) -> datetime | None:
    """Since when a source is failing (its first failed run after the last success) or stale (one
    interval after its last success); None when it is neither."""
    if row.failing:
        return first_failure.get((row.tenant_id, row.source)) or row.last_error_at
    if row.last_success_at is None:
        return None
    return row.last_success_at + interval


# The rule ids, also the keys of stored rule settings (alert_rules) and outbox rows.
SERVICE_ACCOUNT_BLOCKED = "service-account-blocked"
BREAK_GLASS_SIGNIN = "break-glass-signin"
API_CLIENT_ANY_IP = "api-client-any-ip"
BLOCKED_SIGNIN_SPIKE = "blocked-signin-spike"
COLLECTOR_FAILING = "collector-failing"

BASE_RULES: tuple[Rule, ...] = (
    Rule(
        SERVICE_ACCOUNT_BLOCKED,
        "CIPP service account blocked",
        "CIPP cannot manage a tenant whose policies block its service account (D-2, D-3 failing).",
        CRITICAL,
        False,
        "",
        _no_threshold,
        service_account_blocked,
    ),
    Rule(
        BREAK_GLASS_SIGNIN,
        "Break-glass account signed in",
        "Emergency accounts are for emergencies: every sign-in must be explained.",
        CRITICAL,
        True,
        "",
        _no_threshold,
        break_glass_signin,
    ),
    Rule(
        API_CLIENT_ANY_IP,
        "API client open to any IP",
        "A CIPP-API client without IP ranges is reachable by anyone holding its secret (C-1).",
        HIGH,
        False,
        "",
        _no_threshold,
        api_client_any_ip,
    ),
    Rule(
        BLOCKED_SIGNIN_SPIKE,
        "Spike of blocked sign-ins",
        "Far more blocked sign-ins than a tenant's usual hour: an attack or a policy locking people out.",
        HIGH,
        False,
        f"at least this many in an hour (and {SPIKE_FACTOR}× the tenant's hourly median)",
        lambda _s: "50",
        blocked_signin_spike,
    ),
    Rule(
        COLLECTOR_FAILING,
        "Collector source failing or stale",
        "Findings and the wall are only as new as the data: a source down for long hides changes.",
        MEDIUM,
        False,
        "cycles a source may fail or be stale before it alerts",
        lambda _s: "3",
        collector_failing,
    ),
)


def severity_at_least(severity: str, threshold: str) -> bool:
    """``severity`` is ``threshold`` or more severe (critical > high > medium > low)."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return order.get(severity, len(order)) <= order.get(threshold, len(order))


# --- the change-history rules (db.history) ---------------------------------------------------------


def finding_regressed(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """A finding at or above the threshold severity went to fail or warn since the previous evaluation,
    with the change judged to have caused it when one is known."""
    threshold = ctx.threshold or HIGH
    out = []
    for t in finding_transitions(conn, ctx.since, ctx.now):
        if not regressed(t.from_status, t.to_status) or not severity_at_least(t.severity, threshold):
            continue
        cause = ""
        if t.cause is not None:
            who = t.cause.who or "someone unknown"
            cause = f"; caused by a change to {t.cause.name or t.cause.object_id} by {who}"
        out.append(
            Condition(
                FINDING_REGRESSED,
                str(t.id),
                t.tenant_id,
                f"{t.check_id} ({t.severity}) went {t.from_status} → {t.to_status} in "
                f"{ctx.name(t.tenant_id)} for {t.subject_name or t.subject_id}{cause}",
                t.at,
                ctx.link("posture", tenant=t.tenant_id),
            )
        )
    return out


PERIMETER_KINDS = ("conditionalAccessPolicies", "namedLocations")


def msp_perimeter_change(conn: Connection, ctx: RuleContext) -> list[Condition]:
    """A Conditional Access policy or named location of the MSP's own tenant changed: the perimeter
    every technician and CIPP itself passes through."""
    msp = ctx.settings.msp_tenant_id
    out = []
    for kind in PERIMETER_KINDS:
        for change in changes(conn, ctx.since, ctx.now, tenant_id=msp, kind=kind):
            who = change.who or "someone unknown"
            where = f" from {change.from_ip}" if change.from_ip else ""
            what = "; ".join(diff_words(change.diff)[:3]) or ("deleted" if change.deleted else "changed")
            out.append(
                Condition(
                    MSP_PERIMETER_CHANGE,
                    str(change.version_id),
                    msp,
                    f"{kind} '{change.name or change.object_id}' of {ctx.name(msp)} changed by {who}{where}: "
                    f"{what}",
                    change.changed_at or change.seen_at,
                    ctx.link("changes", tenant=msp),
                )
            )
    return out


FINDING_REGRESSED = "finding-regressed"
MSP_PERIMETER_CHANGE = "msp-perimeter-change"

HISTORY_RULES: tuple[Rule, ...] = (
    Rule(
        FINDING_REGRESSED,
        "Finding regressed",
        "A check that passed now fails: something changed, and the change is named when known.",
        HIGH,
        True,
        "lowest severity that alerts (critical, high, medium, low)",
        lambda _s: HIGH,
        finding_regressed,
    ),
    Rule(
        MSP_PERIMETER_CHANGE,
        "MSP perimeter policy changed",
        "The MSP tenant's Conditional Access policies and named locations guard every client.",
        HIGH,
        True,
        "",
        _no_threshold,
        msp_perimeter_change,
    ),
)

# The rules evaluated after each full cycle, in the order the Alerts page lists them.
RULES: tuple[Rule, ...] = (HISTORY_RULES[0], *BASE_RULES, HISTORY_RULES[1])

RULES_BY_ID = {rule.id: rule for rule in RULES}


def threshold_error(rule: Rule, value: str) -> str | None:
    """Why ``value`` is not a threshold of ``rule`` (None: it is). Severity thresholds name a severity;
    the others are whole numbers of at least 1."""
    if not rule.threshold_label:
        return None if not value else "this rule has no threshold"
    if rule.id == FINDING_REGRESSED:
        return None if value in SEVERITIES else f"one of {', '.join(SEVERITIES)}"
    return None if value.isdigit() and int(value) >= 1 else "a whole number of at least 1"
