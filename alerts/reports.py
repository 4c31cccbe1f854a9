"""The weekly posture report, per audience: the MSP (every tenant) or one client tenant.

Score and trend, the findings that regressed and resolved in the week, accepted risks expiring soon and
the top blocking policies, as text, with the self-contained HTML report (posture.html_report) attached;
queued in the same outbox as alerts (kind 'report') on the configured weekday and hour. A report_runs
row per audience and ISO week, written in the transaction that queues the messages, makes it once a
week whatever the worker's restarts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select

from alerts.state import REPORT, plain, queue
from db import write_transaction
from db.history import finding_transitions
from db.models import ReportRun
from db.posture_store import accepted_risks, current_findings, daily_history, regressed
from db.queries import active_tenants
from db.signin_aggregates import top_blocking_policies
from posture.findings import ACTIONABLE
from posture.html_report import render_html_report
from posture.scoring import score, score_in_words
from posture.summary import daily_scores
from settings import Settings

MSP_AUDIENCE = "msp"
EXPIRING_WITHIN = timedelta(days=14)
LISTED = 10  # findings listed per section (the attachment has them all)


def report_week(settings: Settings, now: datetime) -> str | None:
    """The ISO week ('2026-W48') whose report is due at ``now`` (naive UTC): on the configured weekday
    from the configured hour on, local time; None on other days and earlier hours."""
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(settings.alert_timezone))
    if local.weekday() != settings.report_weekday or local.hour < settings.report_hour:
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def queue_weekly_reports(engine: Engine, settings: Settings, now: datetime) -> int:
    """Queue this week's report for every audience that has not had it; returns how many were queued."""
    week = report_week(settings, now)
    channels = sorted(settings.alert_channels)
    if week is None or not channels:
        return 0
    queued = 0
    for audience in settings.report_audiences:
        with write_transaction(engine) as conn:
            done = conn.execute(
                select(ReportRun.week).where(ReportRun.audience == audience, ReportRun.week == week)
            ).first()
            if done is not None:
                continue
            # The key (audience, week) also stops a second worker racing this one: its insert fails and
            # its transaction, messages included, rolls back.
            conn.execute(insert(ReportRun).values(audience=audience, week=week, queued_at=now))
            title, body, html = weekly_report(conn, settings, audience, now)
            queue(
                conn,
                settings,
                now,
                REPORT,
                "",
                f"report:{audience}:{week}",
                "low",
                title,
                body,
                channels,
                html,
            )
            queued += 1
    return queued


def weekly_report(conn: Connection, settings: Settings, audience: str, now: datetime) -> tuple[str, str, str]:
    """(title, text body, HTML attachment) of the week up to ``now`` for ``audience``."""
    names = {t.tenant_id: t.display_name for t in active_tenants(conn)}
    tenants = list(names) if audience == MSP_AUDIENCE else [audience]
    who = settings.msp_display_name if audience == MSP_AUDIENCE else names.get(audience, audience)
    week_ago = now - timedelta(days=7)
    findings = [f for f in current_findings(conn, now).findings if f.tenant_id in tenants]
    lines = [f"Posture score: {score_in_words(score(findings))}{_trend(conn, tenants, week_ago)}"]
    lines += _transitions(conn, tenants, names, week_ago, now)
    lines += _expiring(conn, tenants, names, now)
    lines += _blocking(conn, tenants, names, now)
    lines.append(f"Dashboard: {settings.dashboard_base_url.rstrip('/')}/posture")
    title = f"Perimeter weekly report: {plain(who)} (week to {now:%Y-%m-%d})"
    html = render_html_report(findings, names, now, title=title, demo=settings.demo_mode)
    return title, "\n".join(lines), html


def _trend(conn: Connection, tenants: Sequence[str], week_ago: datetime) -> str:
    rows = [r for r in daily_history(conn, week_ago.date()) if r["tenant_id"] in tenants]
    overall, _ = daily_scores(rows)
    scored = [(day, value) for day, value in sorted(overall.items()) if value is not None]
    if len(scored) < 2:
        return ""
    (first_day, first), (_, last) = scored[0], scored[-1]
    return f" ({last - first:+.1f} since {first_day:%Y-%m-%d})"


def _transitions(
    conn: Connection, tenants: Sequence[str], names: dict[str, str], since: datetime, now: datetime
) -> list[str]:
    moved = [t for t in finding_transitions(conn, since, now) if t.tenant_id in tenants]
    new = [t for t in moved if regressed(t.from_status, t.to_status)]
    resolved = [t for t in moved if t.from_status in ACTIONABLE and t.to_status not in ACTIONABLE]
    lines = [f"New findings this week: {len(new)}"]
    lines += [
        _line(t.check_id, t.to_status, names.get(t.tenant_id, t.tenant_id), t.subject_name or t.subject_id)
        for t in new[:LISTED]
    ]
    lines.append(f"Resolved this week: {len(resolved)}")
    lines += [
        _line(t.check_id, t.to_status, names.get(t.tenant_id, t.tenant_id), t.subject_name or t.subject_id)
        for t in resolved[:LISTED]
    ]
    return lines


def _line(check: str, state: str, tenant: str, subject: str) -> str:
    return f"  {check} {state} · {plain(tenant)} · {plain(subject)}"


def _expiring(conn: Connection, tenants: Sequence[str], names: dict[str, str], now: datetime) -> list[str]:
    soon = [
        r
        for r in accepted_risks(conn)
        if r.tenant_id in tenants and now <= r.expires_at <= now + EXPIRING_WITHIN
    ]
    lines = [f"Accepted risks expiring within {EXPIRING_WITHIN.days} days: {len(soon)}"]
    lines += [
        _line(
            r.check_id,
            f"expires {r.expires_at:%Y-%m-%d}",
            names.get(r.tenant_id, r.tenant_id),
            r.subject_name or r.subject_id,
        )
        for r in sorted(soon, key=lambda r: r.expires_at)[:LISTED]
    ]
    return lines


def _blocking(conn: Connection, tenants: Sequence[str], names: dict[str, str], now: datetime) -> list[str]:
    top = top_blocking_policies(conn, tenants, now, hours=7 * 24, limit=5)
    lines = ["Top causes of blocked sign-ins (blocking policies, 7 days):"]
    lines += [
        f"  {count} · {plain(policy_name or policy_id)} · {plain(names.get(tenant_id, tenant_id))}"
        for tenant_id, policy_id, policy_name, count in top
    ] or ["  none"]
    return lines
