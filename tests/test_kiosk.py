"""Kiosk links: revocable, read-only, the wall page only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db import write_transaction
from db.kiosk import create_kiosk_link, kiosk_link_for, kiosk_links, revoke_kiosk_link

NOW = datetime(2026, 11, 22, 12, 0)
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "microsoft": {
        "client_id": "a",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    },
}


def test_a_kiosk_token_opens_its_link_until_revoked(engine):
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC left", "op@msp.example", NOW)
        link = kiosk_link_for(conn, token, NOW)
        assert link is not None and link.label == "NOC left"
        assert revoke_kiosk_link(conn, link.id, "op@msp.example", NOW + timedelta(days=1))
        assert kiosk_link_for(conn, token, NOW + timedelta(days=2)) is None


def test_only_the_tokens_hash_is_stored(engine):
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC right", "op", NOW)
    with engine.connect() as conn:
        [link] = kiosk_links(conn)
    assert token not in link.token_sha256 and len(link.token_sha256) == 64


def test_a_wrong_token_opens_nothing(engine):
    with write_transaction(engine) as conn:
        create_kiosk_link(conn, "NOC", "op", NOW)
        assert kiosk_link_for(conn, "not-the-token", NOW) is None


@pytest.fixture
def app(tmp_path, app_test):
    return app_test(f"sqlite:///{tmp_path / 'k.db'}")


def test_a_kiosk_link_does_not_open_other_pages(app, tmp_path):
    from db import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'k.db'}")
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC", "op", NOW)
    app.secrets["auth"] = AUTH
    app.query_params["token"] = token
    at = app.run()
    assert "opens the wall page only" in at.error[0].value
    assert not at.dataframe


def test_a_revoked_or_unknown_kiosk_link_is_refused(app):
    app.secrets["auth"] = AUTH
    app.query_params["token"] = "unknown"
    at = app.run()
    assert "kiosk link is not valid" in at.error[0].value


def test_an_operator_creates_a_kiosk_link_shown_once(app):
    at = app.run()
    at.switch_page("pages/kiosk_links.py").run()
    at.text_input[0].input("NOC wall")
    at = next(b for b in at.button if b.label == "Create link").click().run()
    assert not at.exception
    url = at.code[0].value
    assert "/wall?kiosk=1&refresh=30&token=" in url  # the setting's refresh, no rotation
    assert any("NOC wall" in t.value for t in at.text)


def test_a_kiosk_link_carries_the_refresh_and_rotation_chosen(app):
    at = app.run()
    at.switch_page("pages/kiosk_links.py").run()
    at.text_input[0].input("NOC wall, rotating")
    refresh = next(s for s in at.selectbox if s.label == "Refresh every")
    rotate = next(s for s in at.selectbox if s.label == "Rotate through tenants")
    refresh.set_value(60)
    rotate.set_value(20)
    at = next(b for b in at.button if b.label == "Create link").click().run()
    assert not at.exception
    assert "/wall?kiosk=1&refresh=60&rotate=20&token=" in at.code[0].value


def test_a_viewers_navigation_has_no_kiosk_links_page_and_it_does_not_open(app):
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": "viewer@msp.example", "roles": ["Viewer"]}
    at = app.run()
    assert not at.exception and [t for t in at.title if t.value == "Tenants"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not registered for a Viewer
        at.switch_page("pages/kiosk_links.py")


def test_an_operators_navigation_has_the_kiosk_links_page(app):
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": "op@msp.example", "roles": ["Operator"]}
    at = app.run()
    at.switch_page("pages/kiosk_links.py").run()
    assert [b for b in at.button if b.label == "Create link"]
