"""Identity and kiosk links in a real browser against `streamlit run`: the demo operator only for a
browser on this machine (not through a proxy, not under a foreign host name, not on a wider bind), and
a revoked kiosk link blanks an open wall at its next refresh, without a reload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser_support import free_port, launch_chromium, running_dashboard

from db import write_transaction
from db.kiosk import create_kiosk_link, kiosk_links, revoke_kiosk_link
from support import collect_demo

pytestmark = pytest.mark.browser

REBIND_HOST = "rebind.example"  # a foreign name that resolves to 127.0.0.1: DNS rebinding
SIGN_IN_REQUIRED = "Sign-in is required"
OPERATOR_BANNER = "Local demo mode: no sign-in; you act as an operator"


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def demo(demo_database, tmp_path_factory):
    return collect_demo(demo_database, tmp_path_factory, "security")


@pytest.fixture(scope="module")
def dashboard(demo, simulator, tmp_path_factory):
    url, _ = demo
    with running_dashboard(url, simulator.url, tmp_path_factory.mktemp("logs")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    # Chromium resolves the foreign name to loopback, as a rebinding attacker's DNS would.
    with launch_chromium((f"--host-resolver-rules=MAP {REBIND_HOST} 127.0.0.1",)) as chromium:
        yield chromium


def _open(browser, url: str, **context_options):  # type: ignore[no-untyped-def]
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(url)
    return context, page


def _assert_refused(page, why: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_text(SIGN_IN_REQUIRED).first.wait_for(timeout=60_000)
    page.get_by_text(why).first.wait_for(timeout=10_000)
    assert page.get_by_text(OPERATOR_BANNER).count() == 0
    assert page.get_by_role("button", name="Plan fix").count() == 0
    assert page.get_by_role("button", name="Apply fix").count() == 0
    assert page.locator("[data-testid='stDataFrame']").count() == 0
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_browser_on_this_machine_is_the_demo_operator(dashboard, browser):
    context, page = _open(browser, f"{dashboard}/posture")
    try:
        page.get_by_role("heading", name="Posture").first.wait_for(timeout=60_000)
        page.get_by_text(OPERATOR_BANNER).wait_for(timeout=30_000)
        assert page.get_by_text(SIGN_IN_REQUIRED).count() == 0
    finally:
        context.close()


def test_a_request_through_a_reverse_proxy_gets_the_sign_in_page(dashboard, browser):
    # What a proxy in front of the dashboard adds to every request, the websocket's handshake included.
    context, page = _open(
        browser,
        f"{dashboard}/posture",
        extra_http_headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
    )
    try:
        _assert_refused(page, "the request came through a proxy")
    finally:
        context.close()


def test_a_foreign_host_name_resolving_to_loopback_gets_the_sign_in_page(dashboard, browser):
    port = dashboard.rsplit(":", 1)[1]
    context, page = _open(browser, f"http://{REBIND_HOST}:{port}/posture")
    try:
        _assert_refused(page, "opened under a host name other than localhost")
    finally:
        context.close()


def test_a_dashboard_listening_beyond_loopback_has_no_demo_operator(
    demo, simulator, browser, tmp_path_factory
):
    url, _ = demo
    with running_dashboard(url, simulator.url, tmp_path_factory.mktemp("wide"), address="0.0.0.0") as base:
        context, page = _open(browser, f"{base}/posture")  # even from this machine, at 127.0.0.1
        try:
            _assert_refused(page, "the dashboard listens on 0.0.0.0, not only on loopback")
        finally:
            context.close()


AUTH_SECRETS = """[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "kiosk-test-cookie-secret-0123456789abcdef"

[auth.microsoft]
client_id = "kiosk-test"
client_secret = "kiosk-test-secret"
server_metadata_url = "http://127.0.0.1:{idp}/.well-known/openid-configuration"
"""


def test_a_revoked_kiosk_link_blanks_an_open_wall_at_its_next_refresh(
    demo, simulator, browser, tmp_path_factory
):
    url, engine = demo
    with write_transaction(engine) as conn:
        token = create_kiosk_link(conn, "NOC revoke test", "op@msp.example", _utcnow())
    idp = free_port()  # nothing listens there: a kiosk link never signs in
    with running_dashboard(
        url,
        simulator.url,
        tmp_path_factory.mktemp("kiosk"),
        secrets=lambda port: AUTH_SECRETS.format(port=port, idp=idp),
        secrets_dir=tmp_path_factory.mktemp("kiosk-secrets"),
    ) as base:
        context, page = _open(browser, f"{base}/wall?kiosk=1&refresh=5&token={token}")
        try:
            tile = page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins, last hour")
            tile.wait_for(timeout=60_000)
            page.evaluate("window.__loadedOnce = 'yes'")  # gone if the page reloads
            with write_transaction(engine) as conn:
                [link] = [k for k in kiosk_links(conn) if k.label == "NOC revoke test"]
                assert revoke_kiosk_link(conn, link.id, "op@msp.example", _utcnow())
            # refresh=5: blank within one interval (plus the time a loaded CI machine takes to rerun).
            page.get_by_text("This kiosk link is not valid").wait_for(timeout=20_000)
            tile.wait_for(state="detached", timeout=10_000)
            assert page.locator("[data-testid='stMetric']").count() == 0
            assert page.evaluate("window.__loadedOnce") == "yes"  # the fragment did it, not a reload
        finally:
            context.close()
