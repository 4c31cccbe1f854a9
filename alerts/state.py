"""Alert state and the outbox, in the database.

:func:`evaluate_alerts` runs after each full collection cycle: every enabled rule's conditions are
compared with the stored alerts in one transaction. A condition that starts holding opens its alert and
queues one "firing" message per channel; while it holds nothing more is queued; when it clears the alert
is resolved and a "resolved" message queued. Detection and queueing share that transaction, so a worker
killed between detection and delivery leaves either both or neither: the next evaluation re-detects, or
the delivery job (alerts.delivery) sends what was queued.

Rate limit: at most ``alert_rate_limit_per_hour`` messages per rule and channel in any hour (digests
included); the rest are stored folded and go out later as one digest (:func:`queue_digests`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from alerts.rules import EVENT_LOOKBACK, RULES, Condition, Rule, RuleContext
from db import write_transaction
from db.models import AlertAttempt, AlertOutbox, AlertRuleConfig, AlertState, PostureEvaluation
from db.posture_store import current_findings
from db.queries import active_tenants
from settings import Settings

OPEN, RESOLVED, EVENT = "open", "resolved", "event"
FIRING, RESOLVED_MESSAGE, DIGEST, REPORT, TEST = "firing", "resolved", "digest", "report", "test"
LAST_EVALUATION_KEY = "last-evaluation"  # an alert_states row of the rule '' holding the previous run's time


@dataclass(frozen=True)
class RuleSettings:
    """A rule as configured: stored choices over its defaults."""

    rule: Rule
    enabled: bool
    threshold: str
    channels: tuple[str, ...]  # configured names; () : every channel


def rule_settings(conn: Connection, settings: Settings) -> list[RuleSettings]:
    stored = {row.rule_id: row for row in conn.execute(select(AlertRuleConfig)).all()}
    out = []
    for rule in RULES:
        row = stored.get(rule.id)
        out.append(
            RuleSettings(
                rule,
                True if row is None else bool(row.enabled),
                (row.threshold if row is not None and row.threshold else rule.default_threshold(settings)),
                tuple(orjson.loads(row.channels)) if row is not None else (),
            )
        )
    return out


def save_rule_settings(
    conn: Connection,
    rule_id: str,
    enabled: bool,
    threshold: str,
    channels: Sequence[str],
    by: str,
    at: datetime,
) -> None:
    """Store an operator's choices for a rule (the caller audits the change in the same transaction)."""
    values = {
        "enabled": enabled,
        "threshold": threshold,
        "channels": orjson.dumps(list(channels)).decode(),
        "updated_at": at,
        "updated_by": by[:256],
    }
    done = conn.execute(update(AlertRuleConfig).where(AlertRuleConfig.rule_id == rule_id).values(**values))
    if not done.rowcount:
        conn.execute(insert(AlertRuleConfig).values(rule_id=rule_id, **values))


def target_channels(configured: Sequence[str], settings: Settings) -> list[str]:
    """The channels a rule's messages go to: the configured ones that exist, or all of them."""
    names = sorted(settings.alert_channels)
    return [c for c in configured if c in settings.alert_channels] if configured else names


def _previous_evaluation(conn: Connection) -> datetime | None:
    return conn.execute(
        select(AlertState.since).where(AlertState.rule_id == "", AlertState.key == LAST_EVALUATION_KEY)
    ).scalar()


def _remember_evaluation(conn: Connection, now: datetime) -> None:
    done = conn.execute(
        update(AlertState)
        .where(AlertState.rule_id == "", AlertState.key == LAST_EVALUATION_KEY)
        .values(since=now, opened_at=now)
    )
    if not done.rowcount:
        conn.execute(
            insert(AlertState).values(
                rule_id="",
                key=LAST_EVALUATION_KEY,
                tenant_id="",
                status=EVENT,
                since=now,
                opened_at=now,
                title="",
                body="",
                link="",
            )
        )


def evaluate_alerts(engine: Engine, settings: Settings, now: datetime) -> dict[str, int]:
    """Open, keep or resolve every alert against the database as of ``now``; queue their messages.
    Returns how many were opened and resolved."""
    opened = resolved = 0
    with write_transaction(engine) as conn:
        since = _previous_evaluation(conn) or now - EVENT_LOOKBACK
        current = current_findings(conn, now)
        names = {t.tenant_id: t.display_name for t in active_tenants(conn)}
        latest = conn.execute(select(func.max(PostureEvaluation.evaluated_at))).scalar()
        for config in rule_settings(conn, settings):
            if not config.enabled:
                # Switched off: its open alerts close without a message (nobody is watching the rule).
                conn.execute(
                    update(AlertState)
                    .where(AlertState.rule_id == config.rule.id, AlertState.status == OPEN)
                    .values(status=RESOLVED, resolved_at=now)
                )
                continue
            ctx = RuleContext(settings, now, since, names, current.findings, latest, config.threshold)
            conditions = {c.key: c for c in config.rule.read(conn, ctx)}
            channels = target_channels(config.channels, settings)
            o, r = _sync_rule(conn, config.rule, conditions, channels, settings, now)
            opened, resolved = opened + o, resolved + r
        _remember_evaluation(conn, now)
    return {"opened": opened, "resolved": resolved}


def _sync_rule(
    conn: Connection,
    rule: Rule,
    conditions: dict[str, Condition],
    channels: list[str],
    settings: Settings,
    now: datetime,
) -> tuple[int, int]:
    stored = {
        row.key: row
        for row in conn.execute(
            select(
                AlertState.key,
                AlertState.status,
                AlertState.since,
                AlertState.title,
                AlertState.body,
                AlertState.link,
                AlertState.tenant_id,
            ).where(AlertState.rule_id == rule.id)
        ).all()
    }
    opened = resolved = 0
    for key, condition in conditions.items():
        row = stored.get(key)
        if row is not None and (rule.event or row.status == OPEN):
            continue  # an event fires once; an open alert says nothing more while it holds
        title, body = firing_text(rule, condition)
        values = {
            "tenant_id": condition.tenant_id,
            "status": EVENT if rule.event else OPEN,
            "since": condition.since,
            "opened_at": now,
            "resolved_at": None,
            "title": title[:512],
            "body": body,
            "link": condition.link[:1024],
        }
        if row is None:
            conn.execute(insert(AlertState).values(rule_id=rule.id, key=key, **values))
        else:  # it had resolved and holds again: a new alert under the same key
            conn.execute(
                update(AlertState)
                .where(AlertState.rule_id == rule.id, AlertState.key == key)
                .values(**values)
            )
        queue(conn, settings, now, FIRING, rule.id, key, rule.severity, title, body, channels)
        opened += 1
    if not rule.event:
        for key, row in stored.items():
            if row.status != OPEN or key in conditions:
                continue
            conn.execute(
                update(AlertState)
                .where(AlertState.rule_id == rule.id, AlertState.key == key)
                .values(status=RESOLVED, resolved_at=now)
            )
            title = f"Resolved: {row.title}"
            body = f"{row.body}\nResolved at {_stamp(now)} (it held since {_stamp(row.since)})."
            queue(conn, settings, now, RESOLVED_MESSAGE, rule.id, key, rule.severity, title, body, channels)
            resolved += 1
    return opened, resolved


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def plain(text: str) -> str:
    """Tenant text as one plain line for a channel (no line breaks to start a block)."""
    return " ".join(str(text).split())


def firing_text(rule: Rule, condition: Condition) -> tuple[str, str]:
    """What, where, since when, and the link to the page that shows it."""
    title = f"[{rule.severity}] {rule.title}"
    body = "\n".join(
        (
            plain(condition.what),
            f"Since: {_stamp(condition.since)}",
            f"Why it matters: {rule.rationale}",
            f"See: {condition.link}",
        )
    )
    return title, body


def recent_count(conn: Connection, rule_id: str, channel: str, now: datetime) -> int:
    """Messages of a rule to a channel queued in the hour before ``now`` (folded ones aside)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(AlertOutbox)
            .where(
                AlertOutbox.rule_id == rule_id,
                AlertOutbox.channel == channel,
                AlertOutbox.created_at > now - timedelta(hours=1),
                AlertOutbox.folded.is_(False),
            )
        ).scalar_one()
    )


def queue(
    conn: Connection,
    settings: Settings,
    now: datetime,
    kind: str,
    rule_id: str,
    key: str,
    severity: str,
    title: str,
    body: str,
    channels: Sequence[str],
    attachment: str | None = None,
) -> list[int]:
    """Put one message per channel in the outbox; over the rule's hourly limit it is stored folded, for
    the rule's next digest. Returns the new rows' ids."""
    ids = []
    for channel in channels:
        folded = (
            bool(rule_id)
            and kind in (FIRING, RESOLVED_MESSAGE)
            and (recent_count(conn, rule_id, channel, now) >= settings.alert_rate_limit_per_hour)
        )
        result = conn.execute(
            insert(AlertOutbox).values(
                created_at=now,
                kind=kind,
                rule_id=rule_id,
                key=key[:512],
                channel=channel,
                severity=severity,
                title=title[:512],
                body=body,
                attachment=attachment,
                attempts=0,
                next_attempt_at=now,
                folded=folded,
            )
        )
        ids.append(int(result.inserted_primary_key[0]))
    return ids


DIGEST_LINES = 50


def queue_digests(engine: Engine, settings: Settings, now: datetime) -> int:
    """One digest per rule and channel for the messages the rate limit folded, once the rule's hour has
    room for it; the folded rows point at it. Returns how many digests were queued."""
    made = 0
    with write_transaction(engine) as conn:
        pending = conn.execute(
            select(AlertOutbox.rule_id, AlertOutbox.channel)
            .where(AlertOutbox.folded.is_(True), AlertOutbox.digest_id.is_(None))
            .group_by(AlertOutbox.rule_id, AlertOutbox.channel)
        ).all()
        for rule_id, channel in pending:
            if recent_count(conn, rule_id, channel, now) >= settings.alert_rate_limit_per_hour:
                continue
            rows = conn.execute(
                select(
                    AlertOutbox.id,
                    AlertOutbox.title,
                    AlertOutbox.body,
                    AlertOutbox.created_at,
                    AlertOutbox.severity,
                )
                .where(
                    AlertOutbox.rule_id == rule_id,
                    AlertOutbox.channel == channel,
                    AlertOutbox.folded.is_(True),
                    AlertOutbox.digest_id.is_(None),
                )
                .order_by(AlertOutbox.id)
            ).all()
            lines = [f"{r.created_at:%H:%M} {r.title}: {r.body.splitlines()[0]}" for r in rows[:DIGEST_LINES]]
            if len(rows) > DIGEST_LINES:
                lines.append(f"… and {len(rows) - DIGEST_LINES} more")
            title = f"{len(rows)} more alerts of {rule_id} (held by the rate limit)"
            severity = min((r.severity for r in rows), key=_severity_rank)
            (digest_id,) = queue(
                conn, settings, now, DIGEST, rule_id, "", severity, title, "\n".join(lines), [channel]
            )
            conn.execute(
                update(AlertOutbox)
                .where(AlertOutbox.id.in_([r.id for r in rows]))
                .values(digest_id=digest_id)
            )
            made += 1
    return made


def _severity_rank(severity: str) -> int:
    order = ("critical", "high", "medium", "low")
    return order.index(severity) if severity in order else len(order)


def open_alerts(conn: Connection) -> list[AlertState]:
    """Alerts whose condition holds now, the newest first."""
    return list(
        conn.execute(
            select(AlertState).where(AlertState.status == OPEN).order_by(AlertState.opened_at.desc())
        ).all()
    )


def purge_alert_history(conn: Connection, before: datetime) -> int:
    """Drop what is done and older than ``before`` (the worker's retention, run_history_days): sent,
    digested and test messages, their attempts, and resolved or event alerts. Messages still to send
    and open alerts stay whatever their age."""
    done = or_(AlertOutbox.sent_at.is_not(None), AlertOutbox.digest_id.is_not(None), AlertOutbox.kind == TEST)
    removed = conn.execute(delete(AlertOutbox).where(AlertOutbox.created_at < before, done)).rowcount
    removed += conn.execute(delete(AlertAttempt).where(AlertAttempt.at < before)).rowcount
    removed += conn.execute(
        delete(AlertState).where(
            AlertState.status.in_([RESOLVED, EVENT]), AlertState.opened_at < before, AlertState.rule_id != ""
        )
    ).rowcount
    return int(removed)
