"""Who may use the dashboard: the local demo operator only for a provably local request; with Graph
credentials, sign-in or nothing; kiosk links that expire; roles compared one way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db import open_database, write_transaction
from db.kiosk import create_kiosk_link, kiosk_link_for
from ui.auth import Identity, bind_is_loopback, local_request_refusal

NOW = datetime(2026, 11, 22, 12, 0)
LOCAL = {
    "host": "127.0.0.1:8501",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "origin": "http://127.0.0.1:8501",
}
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "microsoft": {
        "client_id": "a",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    },
}


def refusal(
    headers: dict[str, str] = LOCAL, peer: str | None = None, bind: str = "127.0.0.1", served: bool = True
) -> str | None:
    return local_request_refusal(headers, peer, bind, served)


# --- the local demo operator -------------------------------------------------------------------------


def test_a_browser_on_this_machine_at_127_0_0_1_is_the_demo_operator():
    assert refusal() is None


@pytest.mark.parametrize("host", ["localhost:8501", "LOCALHOST", "[::1]:8501", "127.0.0.1", "127.0.0.2:80"])
def test_loopback_host_names_are_local(host):
    assert refusal({**LOCAL, "host": host, "origin": f"http://{host}"}) is None


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "via"])
def test_a_forwarded_request_is_not_local(header):
    assert "proxy" in refusal({**LOCAL, header: "203.0.113.9"})


@pytest.mark.parametrize(
    "host",
    [
        "rebind.example:8501",
        "evil.example",
        "127.0.0.1.evil.example:8501",
        "localhost.evil.example",
        "192.168.1.10:8501",
        "",
    ],
)
def test_a_foreign_host_name_is_not_local_dns_rebinding(host):
    headers = {**LOCAL, "host": host}
    headers.pop("origin")
    assert "host name" in refusal(headers)


def test_a_request_from_another_site_is_not_local():
    assert "another site" in refusal({**LOCAL, "origin": "https://evil.example"})


def test_a_connection_from_another_machine_is_not_local():
    assert "another machine" in refusal(peer="192.0.2.15")


@pytest.mark.parametrize("bind", ["0.0.0.0", "", "::", "192.168.1.10", "perimeter.msp.example"])
def test_a_listener_beyond_loopback_has_no_demo_operator(bind):
    assert not bind_is_loopback(bind)
    assert "not only on loopback" in refusal(bind=bind)


def test_a_script_run_without_a_server_has_no_peer_to_judge():
    assert refusal({}, served=False) is None
    assert refusal({}, served=False, bind="0.0.0.0") is not None


def test_refusals_never_repeat_the_requesters_text():
    assert "evil" not in refusal({**LOCAL, "host": "evil.example", "x-forwarded-for": "evil"})


# --- roles -------------------------------------------------------------------------------------------


def test_roles_are_compared_exactly_as_entra_defines_them():
    assert Identity("a", ("Operator",), local_demo=False).is_operator
    assert not Identity("a", ("operator",), local_demo=False).is_operator
    assert not Identity("a", ("OPERATOR", "viewer"), local_demo=False).may_read


# --- the dashboard -----------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, app_test):
    return app_test(f"sqlite:///{tmp_path / 'a.db'}")


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("PERIMETER_GRAPH_CLIENT_ID", "11111111-1111-1111-1111-111111111111")
    monkeypatch.setenv("PERIMETER_GRAPH_CLIENT_SECRET", "not-a-real-secret")
    monkeypatch.setenv("PERIMETER_MSP_TENANT_ID", "22222222-2222-2222-2222-222222222222")


@pytest.mark.parametrize("page", ["pages/tenants.py", "pages/posture.py", "pages/audit.py", "pages/wall.py"])
def test_with_graph_credentials_and_no_sign_in_the_dashboard_refuses_to_start(credentials, app, page):
    import ui.auth

    at = app.run()
    if page != "pages/tenants.py":
        at = at.switch_page(page).run()
    assert "Perimeter refuses to start" in at.error[0].value
    assert "not-a-real-secret" not in at.error[0].value
    assert not at.dataframe and not at.button and not at.warning  # no demo banner either
    with pytest.raises(PermissionError):
        ui.auth.require_operator()


def test_with_graph_credentials_and_sign_in_the_sign_in_page_shows(credentials, app):
    app.secrets["auth"] = AUTH
    at = app.run()
    assert [b for b in at.button if b.label == "Sign in with Microsoft"]
    assert not at.error


# --- kiosk links -------------------------------------------------------------------------------------


def test_a_kiosk_link_stops_opening_when_it_expires(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'k.db'}")
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC", "op", NOW, valid_for=timedelta(days=30))
    with engine.connect() as conn:
        assert kiosk_link_for(conn, token, NOW + timedelta(days=29)) is not None
        assert kiosk_link_for(conn, token, NOW + timedelta(days=30)) is None


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _kiosk_wall(app, tmp_path, valid_for: timedelta, created: datetime):
    engine = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC", "op", created, valid_for=valid_for)
    app.secrets["auth"] = AUTH
    app.query_params["token"] = token
    app.query_params["kiosk"] = "1"
    return app.switch_page("pages/wall.py").run()


def test_an_expired_kiosk_link_opens_no_wall(app, tmp_path):
    at = _kiosk_wall(app, tmp_path, timedelta(days=7), _utcnow() - timedelta(days=8))
    assert "not valid (revoked, expired" in at.error[0].value
    assert not at.metric


def test_a_wall_says_when_its_link_expires_within_a_week(app, tmp_path):
    at = _kiosk_wall(app, tmp_path, timedelta(days=7), _utcnow() - timedelta(days=2))
    assert not at.exception
    assert any("This kiosk link expires on" in w.value for w in at.warning)
    assert at.metric


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://perimeter:S3cretPw@127.0.0.1:1/x",
        "mysql+pymysql://perimeter:S3cretPw@127.0.0.1:1/x",
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line_without_its_password(app_test, url):
    at = app_test(url).run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith("Perimeter cannot open its database")
    assert "S3cretPw" not in error.value and "\n" not in error.value
