"""Delivery: drains the outbox, each message exactly once as far as the channel allows.

A row is *claimed* in its own committed transaction before anything is sent (``claimed_by``,
``claimed_until`` = now + the lease, ``attempts`` + 1, only if unsent and unclaimed or its claim
expired), then sent, then marked sent in the same row right after. So:

- a worker killed after detection and before delivery: the row is in the outbox, unclaimed, and the
  next delivery run sends it (nothing lost);
- killed between claim and send: nothing was sent; the row is retried only once its claim expires
  (nothing lost, nothing repeated);
- killed between send and "sent" (a few milliseconds): the message was delivered but not recorded, and
  is sent again when the claim expires. This residual window cannot be closed from our side; where the
  channel takes headers (json://, mailto://) the message carries ``X-Perimeter-Message-Id`` (the
  outbox id), so a receiver can drop the duplicate.

A failing channel is retried with exponential backoff (30 s, 1, 2, 4 ... min, at most 6 h) up to
``alert_max_attempts``; each attempt is recorded (alert_attempts) with its redacted error. Quiet hours
hold messages (the row's next attempt moves to the end of the quiet period) except critical ones unless
``alert_quiet_hours_hold_critical``."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Row, insert, or_, select, update

from alerts.channels import send
from alerts.state import TEST, queue_digests
from db import write_transaction
from db.models import AlertAttempt, AlertOutbox
from settings import Settings

log = logging.getLogger("perimeter.alerts")

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)
BATCH = 50


def worker_id() -> str:
    """Who holds a claim: host and process (for the page and for reading a stuck claim)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s doubling, at most 6 h."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def quiet_until(settings: Settings, now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` (naive UTC) is in, as naive UTC; None outside quiet hours."""
    start, end = settings.alert_quiet_start_hour, settings.alert_quiet_end_hour
    if start == end:
        return None
    zone = ZoneInfo(settings.alert_timezone)
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    ends = datetime.combine(day, time(end), tzinfo=zone)
    return ends.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def held_by_quiet_hours(settings: Settings, severity: str) -> bool:
    return severity != "critical" or settings.alert_quiet_hours_hold_critical


def deliver_due(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    worker: str | None = None,
    before_send: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Send every due message once (digests of folded messages queued first). ``before_send`` runs
    after a row is claimed and before it is sent (tests kill the process there). Returns counts."""
    worker = worker or worker_id()
    queue_digests(engine, settings, now)
    quiet_end = quiet_until(settings, now)
    sent = failed = held = 0
    with engine.connect() as conn:
        due = conn.execute(
            select(AlertOutbox.id, AlertOutbox.severity)
            .where(
                AlertOutbox.sent_at.is_(None),
                AlertOutbox.folded.is_(False),
                AlertOutbox.kind != TEST,  # the page's test sends are sent there, once, never retried
                AlertOutbox.next_attempt_at <= now,
                AlertOutbox.attempts < settings.alert_max_attempts,
                or_(AlertOutbox.claimed_until.is_(None), AlertOutbox.claimed_until < now),
            )
            .order_by(AlertOutbox.id)
            .limit(BATCH)
        ).all()
    for outbox_id, severity in due:
        if quiet_end is not None and held_by_quiet_hours(settings, severity):
            with write_transaction(engine) as conn:
                conn.execute(
                    update(AlertOutbox)
                    .where(AlertOutbox.id == outbox_id, AlertOutbox.sent_at.is_(None))
                    .values(next_attempt_at=quiet_end)
                )
            held += 1
            continue
        row = claim(engine, settings, outbox_id, worker, now)
        if row is None:
            continue  # another worker has it, or it was sent meanwhile
        if before_send is not None:
            before_send(outbox_id)
        result = send(
            settings,
            row.channel,
            row.title,
            row.body,
            message_id=f"perimeter-{outbox_id}",
            attachment_html=row.attachment,
        )
        finish(engine, outbox_id, worker, row.channel, row.attempts, result.ok, result.error, now)
        if result.ok:
            sent += 1
        else:
            failed += 1
            log.warning("alert %d to channel %s failed: %s", outbox_id, row.channel, result.error)
    return {"sent": sent, "failed": failed, "held": held}


def claim(engine: Engine, settings: Settings, outbox_id: int, worker: str, now: datetime) -> Row[Any] | None:
    """Claim one unsent row for ``worker`` (committed before returning), or None when it is not free."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(AlertOutbox)
            .where(
                AlertOutbox.id == outbox_id,
                AlertOutbox.sent_at.is_(None),
                or_(AlertOutbox.claimed_until.is_(None), AlertOutbox.claimed_until < now),
            )
            .values(
                claimed_by=worker,
                claimed_until=now + timedelta(seconds=settings.alert_claim_seconds),
                attempts=AlertOutbox.attempts + 1,
            )
        )
        if done.rowcount != 1:
            return None
        return conn.execute(select(AlertOutbox.__table__).where(AlertOutbox.id == outbox_id)).first()


def finish(
    engine: Engine,
    outbox_id: int,
    worker: str,
    channel: str,
    attempts: int,
    ok: bool,
    error: str | None,
    now: datetime,
) -> None:
    """Record the attempt; mark the row sent, or schedule its retry after the backoff."""
    with write_transaction(engine) as conn:
        mine = (AlertOutbox.id == outbox_id) & (AlertOutbox.claimed_by == worker)
        if ok:
            conn.execute(update(AlertOutbox).where(mine).values(sent_at=now, claimed_until=None, error=None))
        else:
            conn.execute(
                update(AlertOutbox)
                .where(mine)
                .values(claimed_until=None, error=error, next_attempt_at=now + backoff(attempts))
            )
        conn.execute(
            insert(AlertAttempt).values(outbox_id=outbox_id, at=now, channel=channel, ok=ok, error=error)
        )
