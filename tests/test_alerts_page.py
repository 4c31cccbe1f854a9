"""The Alerts page under AppTest: channels masked, a test send per channel with its result, rule changes
stored and audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from alerts.rules import COLLECTOR_FAILING, RULES
from db import open_database
from db.models import AlertOutbox, AuditRecord

SECRET = "s3cr3t-pw"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "microsoft": {
        "client_id": "a",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    },
}
TOKEN = "T0KENabcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def page(tmp_path, app_test, monkeypatch, receiver):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv(
        "PERIMETER_ALERT_CHANNELS",
        json.dumps(
            {
                "noc": f"json://perimeter:{SECRET}@127.0.0.1:{receiver.port}/hooks/{TOKEN}",
                "broken": f"nosuch://{TOKEN}/{SECRET}",
            }
        ),
    )
    app = app_test(url)
    at = app.run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, at.exception
    return at, url


def shown(at) -> str:  # type: ignore[no-untyped-def]
    """Every text the page shows (tables included)."""
    parts = [
        str(e.value)
        for kind in ("title", "text", "markdown", "caption", "success", "error", "info")
        for e in getattr(at, kind)
    ]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def test_channels_are_shown_by_name_and_host_only(page, receiver):
    at, _ = page
    text = shown(at)
    assert f"noc — json://127.0.0.1:{receiver.port}/…" in text
    assert "broken — nosuch://…/…" in text
    assert SECRET not in text and TOKEN not in text


def test_test_send_reaches_the_channel_and_says_so(page, receiver):
    at, url = page
    at = next(b for b in at.button if b.key == "test-noc").click().run()
    assert not at.exception
    assert "Test message sent to noc" in at.success[0].value
    assert receiver.titles() == ["Perimeter test message"]
    with open_database(url).connect() as conn:
        assert conn.execute(select(AlertOutbox.sent_at)).scalar() is not None


def test_test_send_to_a_bad_url_shows_the_failure_without_the_secret(page):
    at, _ = page
    at = next(b for b in at.button if b.key == "test-broken").click().run()
    assert not at.exception
    assert "Test to broken failed" in at.error[0].value
    assert SECRET not in shown(at) and TOKEN not in shown(at) and "Traceback" not in shown(at)


def test_a_rule_change_is_stored_and_audited(page):
    at, url = page
    threshold = next(t for t in at.text_input if "cycles" in t.label)
    threshold.input("5")
    saves = [b for b in at.button if b.label == "Save"]  # one form per rule, in the rules' order
    at = saves[[r.id for r in RULES].index(COLLECTOR_FAILING)].click().run()
    assert not at.exception and at.success
    with open_database(url).connect() as conn:
        record = conn.execute(
            select(AuditRecord.fix_id, AuditRecord.target_id, AuditRecord.before, AuditRecord.after)
        ).one()
    assert (record.fix_id, record.target_id) == ("alert-rule.change", "collector-failing")
    assert json.loads(record.after)["threshold"] == "5" and json.loads(record.before)["threshold"] == "3"


def test_a_viewer_has_no_alerts_page(tmp_path, app_test):
    app = app_test(f"sqlite:///{tmp_path / 'v.db'}")
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": "viewer@msp.example", "roles": ["Viewer"]}
    at = app.run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not registered for a Viewer
        at.switch_page("pages/alerts.py")
