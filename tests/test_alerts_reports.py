"""The weekly report: due on the configured day and hour, once per week per audience, through the same
outbox and channels, with the HTML report attached."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alerts_support import CLIENT, add_tenants, finding, store

from alerts.delivery import deliver_due
from alerts.reports import queue_weekly_reports, report_week, weekly_report
from settings import load_settings

MONDAY_8 = datetime(2026, 11, 23, 8, 0)  # a Monday, after the default 07:00


@pytest.fixture(autouse=True)
def tenants(engine) -> None:  # type: ignore[no-untyped-def]
    add_tenants(engine, MONDAY_8 - timedelta(days=30))
    store(engine, MONDAY_8 - timedelta(days=3), finding("D-2", CLIENT, "pass"))
    store(engine, MONDAY_8 - timedelta(days=1), finding("D-2", CLIENT, "fail"))


def test_the_report_is_due_from_the_configured_hour_of_the_configured_day(url):
    settings = load_settings(
        database_url=url, report_weekday=0, report_hour=7, alert_timezone="Europe/Amsterdam"
    )
    assert report_week(settings, datetime(2026, 11, 23, 5, 59)) is None  # 06:59 in Amsterdam
    assert report_week(settings, datetime(2026, 11, 23, 6, 0)) == "2026-W48"
    assert report_week(settings, datetime(2026, 11, 24, 6, 0)) is None  # Tuesday


def test_the_weekly_report_is_sent_once_per_week_per_audience(engine, url, receiver):
    settings = load_settings(
        database_url=url, alert_channels={"noc": receiver.url}, report_audiences=["msp", CLIENT]
    )
    for minutes in (0, 5, 60, 300):  # the worker's cycles through the day, restarts included
        moment = MONDAY_8 + timedelta(minutes=minutes)
        queue_weekly_reports(engine, settings, moment)
        deliver_due(engine, settings, moment)
    assert len(receiver.messages) == 2
    assert sorted(m["title"].split(":")[1].split("(")[0].strip() for m in receiver.messages) == [
        "Contoso <b>Ltd</b>",
        "Northwind MSP",
    ]
    next_week = MONDAY_8 + timedelta(days=7)
    queue_weekly_reports(engine, settings, next_week)
    deliver_due(engine, settings, next_week)
    assert len(receiver.messages) == 4


def test_the_report_says_score_new_findings_and_attaches_the_html_report(engine, url, receiver):
    settings = load_settings(database_url=url, alert_channels={"noc": receiver.url})
    queue_weekly_reports(engine, settings, MONDAY_8)
    deliver_due(engine, settings, MONDAY_8)
    (message,) = receiver.messages
    assert "Posture score:" in message["message"]
    assert "New findings this week: 1" in message["message"] and "D-2 fail" in message["message"]
    assert "Accepted risks expiring within 14 days: 0" in message["message"]
    assert message["attachments"] and message["attachments"][0]["filename"] == "perimeter-report.html"


def test_the_reports_text_and_html_keep_tenant_text_inert(engine, url):
    settings = load_settings(database_url=url)
    with engine.connect() as conn:
        _title, body, html = weekly_report(conn, settings, CLIENT, MONDAY_8)
    assert "<b>Ltd</b>" not in html and "&lt;b&gt;Ltd&lt;/b&gt;" in html
    assert "\n  D-2 fail · Contoso <b>Ltd</b>" in body  # plain text: one line per finding
