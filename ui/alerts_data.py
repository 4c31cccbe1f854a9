"""The Alerts page's reads and writes. Writes re-check the Operator role and are audited in the same
transaction (fixes.audit.record_change, as ui.actions does for accepted risks); a channel is only ever
named and masked here (alerts.channels.masked), never read back in full."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from alerts.channels import SendResult, masked, send
from alerts.delivery import quiet_until
from alerts.rules import RULES_BY_ID, threshold_error
from alerts.state import TEST, RuleSettings, open_alerts, rule_settings, save_rule_settings
from db import write_transaction
from db.models import AlertAttempt, AlertOutbox, AlertState
from fixes.audit import ALERT_RULE_CHANGED, record_change
from ui import data
from ui.auth import require_operator

ALERT_RULE = "alertRule"
HISTORY_ROWS = 200


@dataclass(frozen=True)
class Channel:
    name: str
    shown: str  # scheme://host/… only


def channels() -> list[Channel]:
    configured = data.settings().alert_channels
    return [Channel(name, masked(configured[name].get_secret_value())) for name in sorted(configured)]


def rules() -> list[RuleSettings]:
    with data.engine().connect() as conn:
        return rule_settings(conn, data.settings())


def current_alerts() -> list[AlertState]:
    with data.engine().connect() as conn:
        return open_alerts(conn)


def quiet_hours_words() -> str:
    s = data.settings()
    if s.alert_quiet_start_hour == s.alert_quiet_end_hour:
        return "No quiet hours: messages go out at once."
    critical = "held too" if s.alert_quiet_hours_hold_critical else "sent at once all the same"
    now = " (quiet now)" if quiet_until(s, data.utcnow()) else ""
    return (
        f"Quiet hours {s.alert_quiet_start_hour:02d}:00–{s.alert_quiet_end_hour:02d}:00 "
        f"{s.alert_timezone}{now}: messages wait until they end; critical alerts are {critical}."
    )


def history(limit: int = HISTORY_ROWS) -> list[dict[str, Any]]:
    """What was sent, is waiting or failed, the newest first, in words."""
    with data.engine().connect() as conn:
        rows = conn.execute(select(AlertOutbox).order_by(AlertOutbox.id.desc()).limit(limit)).all()
    return [
        {
            "Queued (UTC)": row.created_at,
            "Kind": row.kind,
            "Rule": row.rule_id,
            "Channel": row.channel,
            "Message": row.title,
            "State": _state_words(row),
            "Attempts": row.attempts,
            "Sent (UTC)": row.sent_at,
            "Last error": row.error or "",
        }
        for row in rows
    ]


def _state_words(row: Any) -> str:
    if row.sent_at is not None:
        return "sent"
    if row.folded:
        return "in a digest" if row.digest_id else "held by the rate limit"
    if row.attempts >= data.settings().alert_max_attempts:
        return "gave up"
    if row.error:
        return f"failing, next try {row.next_attempt_at:%Y-%m-%d %H:%M}"
    return f"waiting until {row.next_attempt_at:%Y-%m-%d %H:%M}"


def save_rule(rule_id: str, enabled: bool, threshold: str, channel_names: Sequence[str]) -> str | None:
    """Store a rule's settings (operator only) and audit the change; the reason it was refused, or None."""
    identity = require_operator()
    rule = RULES_BY_ID[rule_id]
    threshold = threshold.strip()
    problem = threshold_error(rule, threshold)
    if problem:
        return f"Threshold: {problem}"
    unknown = [c for c in channel_names if c not in data.settings().alert_channels]
    if unknown:
        return f"No such channel: {', '.join(unknown)}"
    now = data.utcnow()
    with write_transaction(data.engine()) as conn:
        before = next(r for r in rule_settings(conn, data.settings()) if r.rule.id == rule_id)
        save_rule_settings(conn, rule_id, enabled, threshold, channel_names, identity.name, now)
        record_change(
            conn,
            at=now,
            actor=identity.name,
            kind=ALERT_RULE_CHANGED,
            tenant_id=data.settings().msp_tenant_id,
            target_type=ALERT_RULE,
            target_id=rule_id,
            target_name=rule.title,
            message=f"Changed the alert rule '{rule.title}'",
            before=_rule_state(before.enabled, before.threshold, before.channels),
            after=_rule_state(enabled, threshold, tuple(channel_names)),
        )
    return None


def _rule_state(enabled: bool, threshold: str, channel_names: Sequence[str]) -> dict[str, Any]:
    """What the audit keeps of a rule: never a channel's URL, only its name."""
    return {"enabled": enabled, "threshold": threshold, "channels": list(channel_names) or "all"}


def test_send(channel: str) -> SendResult:
    """Send a test message to ``channel`` now (operator only); kept in the history with its result."""
    identity = require_operator()
    settings, now = data.settings(), data.utcnow()
    result = send(
        settings,
        channel,
        "Perimeter test message",
        f"A test of the alert channel '{channel}', sent by {identity.name} from the Alerts page.",
    )
    with write_transaction(data.engine()) as conn:
        outbox_id = conn.execute(
            insert(AlertOutbox).values(
                created_at=now,
                kind=TEST,
                rule_id="",
                key="",
                channel=channel,
                severity="low",
                title="Perimeter test message",
                body=f"sent by {identity.name}",
                attempts=1,
                next_attempt_at=now,
                sent_at=now if result.ok else None,
                error=result.error,
                folded=False,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(AlertAttempt).values(
                outbox_id=outbox_id, at=now, channel=channel, ok=result.ok, error=result.error
            )
        )
    return result


def as_of(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
