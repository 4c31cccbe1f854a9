"""Alerts end to end against real receivers: Apprise posting to a local json:// webhook and mailing
through aiosmtpd; state and outbox in a real database; the worker's delivery killed with SIGKILL."""

from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alerts_support import CLIENT, MSP, add_tenants, finding, store
from sqlalchemy import select

from alerts.channels import MESSAGE_ID_HEADER, send
from alerts.delivery import backoff, deliver_due
from alerts.state import evaluate_alerts, purge_alert_history
from db import write_transaction
from db.models import AlertAttempt, AlertOutbox
from settings import load_settings
from support import ROOT

NOW = datetime(2026, 11, 22, 12, 0, 0)
BLOCKED = finding("D-2", CLIENT, "fail")
FIXED = finding("D-2", CLIENT, "pass")
OPEN_CLIENT = finding("C-1", MSP, "fail", "high", IPRange=["Any"])


@pytest.fixture(autouse=True)
def tenants(engine) -> None:  # type: ignore[no-untyped-def]
    add_tenants(engine, NOW)


def settings_for(database_url: str, channel_url: str, **more):  # type: ignore[no-untyped-def]
    return load_settings(database_url=database_url, alert_channels={"noc": channel_url}, **more)


def cycle(engine, settings, now: datetime, *findings: dict) -> None:  # type: ignore[no-untyped-def]
    """What the worker does after a full cycle, then its delivery job."""
    store(engine, now, *findings)
    evaluate_alerts(engine, settings, now)
    deliver_due(engine, settings, now)


def test_alert_reaches_the_receiver_once_while_its_condition_holds(engine, url, receiver):
    settings = settings_for(url, receiver.url)
    for minutes in (0, 5, 10, 15):
        cycle(engine, settings, NOW + timedelta(minutes=minutes), BLOCKED)
    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert "CIPP service account blocked" in message["title"]
    assert "Contoso <b>Ltd</b>" in message["message"]  # where, as plain text
    assert "Since: 2026-11-22 12:00 UTC" in message["message"]
    assert f"http://127.0.0.1:8501/posture?tenant={CLIENT}" in message["message"]


def test_resolved_message_follows_the_fix(engine, url, receiver):
    settings = settings_for(url, receiver.url)
    cycle(engine, settings, NOW, BLOCKED)
    cycle(engine, settings, NOW + timedelta(minutes=5), FIXED)
    cycle(engine, settings, NOW + timedelta(minutes=10), FIXED)
    assert len(receiver.messages) == 2
    assert receiver.messages[1]["title"].startswith("Resolved: ")


def test_message_carries_its_outbox_id_for_receivers_to_deduplicate(engine, url, receiver):
    settings = settings_for(url, receiver.url)
    cycle(engine, settings, NOW, BLOCKED)
    assert receiver.headers[0][MESSAGE_ID_HEADER].startswith("perimeter-")


CHILD = """
import sys, time
from datetime import datetime
from alerts.delivery import deliver_due
from alerts.state import evaluate_alerts
from db import open_database
from settings import load_settings
database_url, channel_url, stage, flag = sys.argv[1:5]
now = datetime.fromisoformat(sys.argv[5])
settings = load_settings(database_url=database_url, alert_channels={"noc": channel_url})
engine = open_database(database_url)
if stage == "detected":
    evaluate_alerts(engine, settings, now)
    open(flag, "w").close()
    time.sleep(120)
def pause(outbox_id):
    open(flag, "w").close()
    time.sleep(120)
deliver_due(engine, settings, now, before_send=pause)
"""


def run_child_until_flag(
    tmp_path: Path, database_url: str, channel_url: str, stage: str, now: datetime
) -> None:
    """Run the worker's step in a process of its own and SIGKILL it once it reaches ``stage``."""
    flag = tmp_path / f"{stage}.flag"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, channel_url, stage, str(flag), now.isoformat()],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert child.poll() is None, "the child ended before its kill point"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def test_worker_killed_between_claim_and_send_neither_loses_nor_repeats(engine, url, receiver, tmp_path):
    settings = settings_for(url, receiver.url)
    store(engine, NOW, BLOCKED)
    evaluate_alerts(engine, settings, NOW)
    run_child_until_flag(tmp_path, url, receiver.url, "claimed", NOW)
    assert receiver.messages == []
    deliver_due(engine, settings, NOW + timedelta(seconds=30))  # the dead worker's claim still holds
    assert receiver.messages == []
    after_lease = NOW + timedelta(seconds=settings.alert_claim_seconds + 1)
    deliver_due(engine, settings, after_lease)
    deliver_due(engine, settings, after_lease + timedelta(minutes=5))
    assert len(receiver.messages) == 1


def test_worker_killed_between_detection_and_delivery_neither_loses_nor_repeats(
    engine, url, receiver, tmp_path
):
    settings = settings_for(url, receiver.url)
    store(engine, NOW, BLOCKED)
    run_child_until_flag(tmp_path, url, receiver.url, "detected", NOW)
    later = NOW + timedelta(minutes=5)
    cycle(engine, settings, later, BLOCKED)  # the restarted worker: evaluates again, then delivers
    cycle(engine, settings, later + timedelta(minutes=5), BLOCKED)
    assert len(receiver.messages) == 1


def test_quiet_hours_hold_messages_and_deliver_after(engine, url, receiver):
    settings = settings_for(url, receiver.url, alert_quiet_start_hour=22, alert_quiet_end_hour=7)
    night = datetime(2026, 11, 22, 23, 0)
    cycle(engine, settings, night, OPEN_CLIENT)
    deliver_due(engine, settings, night + timedelta(hours=3))
    assert receiver.messages == []
    deliver_due(engine, settings, datetime(2026, 11, 23, 7, 0))
    assert len(receiver.messages) == 1


def test_quiet_hours_let_critical_alerts_through(engine, url, receiver):
    settings = settings_for(url, receiver.url, alert_quiet_start_hour=22, alert_quiet_end_hour=7)
    cycle(engine, settings, datetime(2026, 11, 22, 23, 0), BLOCKED)
    assert len(receiver.messages) == 1


def test_rate_limit_folds_the_rest_into_one_digest(engine, url, receiver):
    settings = settings_for(url, receiver.url, alert_rate_limit_per_hour=1)
    # The service account blocked in one tenant, resolved, blocked again: three messages in an hour.
    cycle(engine, settings, NOW, BLOCKED)
    cycle(engine, settings, NOW + timedelta(minutes=5), FIXED)
    cycle(engine, settings, NOW + timedelta(minutes=10), BLOCKED)
    assert len(receiver.messages) == 1
    deliver_due(engine, settings, NOW + timedelta(minutes=61))
    assert len(receiver.messages) == 2
    digest = receiver.messages[1]
    assert digest["title"].startswith("2 more alerts of service-account-blocked")
    deliver_due(engine, settings, NOW + timedelta(minutes=200))
    assert len(receiver.messages) == 2


def test_failing_channel_retries_with_backoff_and_records_the_error(engine, url, receiver):
    settings = settings_for(url, receiver.url)
    receiver.fail_with = 503
    cycle(engine, settings, NOW, BLOCKED)
    deliver_due(engine, settings, NOW + backoff(1) - timedelta(seconds=1))  # not due yet
    with engine.connect() as conn:
        row = conn.execute(select(AlertOutbox)).one()
        attempts = conn.execute(select(AlertAttempt)).all()
    assert (row.attempts, row.sent_at, row.next_attempt_at) == (1, None, NOW + backoff(1))
    assert "503" in (row.error or "") and len(attempts) == 1 and not attempts[0].ok
    receiver.fail_with = None
    deliver_due(engine, settings, NOW + backoff(1))
    assert len(receiver.messages) == 1
    assert backoff(3) == 4 * backoff(1)


def test_mail_channel_delivers_once_through_a_real_smtp_server_as_plain_text(engine, url):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Keep(Sink):
        def __init__(self) -> None:
            self.mails: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            self.mails.append(envelope.content)
            return "250 OK"

    handler = Keep()
    with socket.socket() as probe:  # a free port (aiosmtpd's readiness check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = f"mailto://127.0.0.1:{port}?from=perimeter@example.com&to=noc@example.com&mode=insecure"
        settings = settings_for(url, url)
        cycle(engine, settings, NOW, BLOCKED)
        cycle(engine, settings, NOW + timedelta(minutes=5), BLOCKED)
    finally:
        controller.stop()
    assert len(handler.mails) == 1
    mail = email.message_from_bytes(handler.mails[0])
    assert "CIPP service account blocked" in mail["Subject"]
    # Plain text: the tenant's name as written, never HTML a mail client would render.
    assert [p.get_content_type() for p in mail.walk()] == ["text/plain"]
    assert b"blocked in Contoso <b>Ltd</b>" in mail.get_payload(decode=True)


def test_bad_channel_url_is_a_result_without_the_url(url):
    settings = load_settings(database_url=url, alert_channels={"x": "nosuch://user:hunter2@host/tok"})
    result = send(settings, "x", "t", "b")
    assert not result.ok and result.error and "hunter2" not in result.error


def test_retention_drops_what_is_done_and_keeps_what_is_still_to_send(engine, url, receiver):
    settings = settings_for(url, receiver.url)
    cycle(engine, settings, NOW, BLOCKED)  # sent
    receiver.fail_with = 503
    cycle(engine, settings, NOW, BLOCKED, OPEN_CLIENT)  # a new alert, failing: still to send
    with write_transaction(engine) as conn:
        purge_alert_history(conn, NOW + timedelta(days=1))
    with engine.connect() as conn:
        left = conn.execute(select(AlertOutbox.rule_id, AlertOutbox.sent_at)).all()
    assert left == [("api-client-any-ip", None)]
