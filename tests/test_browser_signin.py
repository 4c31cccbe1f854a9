"""Sign-in in a real browser: `st.login` against a small local OpenID Connect provider."""

from __future__ import annotations

import pytest
from browser_support import choose_option, running_dashboard
from oidc_provider import OidcProvider, OidcUser

from support import collect_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def provider():
    idp = OidcProvider(
        "perimeter-test", "test-secret", OidcUser("tech@msp.example", "Tess Tech", ["Operator"])
    ).start()
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def signed_dashboard(simulator, demo_database, provider, tmp_path_factory):
    url, _ = collect_demo(demo_database, tmp_path_factory, "signin")
    secrets_dir = tmp_path_factory.mktemp("secrets")
    with running_dashboard(
        url,
        simulator.url,
        tmp_path_factory.mktemp("logs"),
        secrets=lambda port: provider.secrets_toml(f"http://127.0.0.1:{port}/oauth2callback"),
        secrets_dir=secrets_dir,
    ) as base:
        yield base


def test_an_operator_signs_in_through_openid_connect(signed_dashboard, browser, provider):
    provider.user = OidcUser("tech@msp.example", "Tess Tech", ["Operator"])
    page = browser.new_page()
    try:
        page.goto(signed_dashboard)
        page.get_by_role("button", name="Sign in with Microsoft").click()
        page.get_by_role("heading", name="Tenants").first.wait_for(timeout=30_000)
        page.get_by_text("tech@msp.example · Operator").wait_for(timeout=10_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_an_operator_applies_a_fix_end_to_end_in_the_browser(signed_dashboard, browser, provider):
    provider.user = OidcUser("tech@msp.example", "Tess Tech", ["Operator"])
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    try:
        page.goto(signed_dashboard)
        page.get_by_role("button", name="Sign in with Microsoft").click()
        page.get_by_text("tech@msp.example · Operator").wait_for(timeout=30_000)
        page.goto(f"{signed_dashboard}/posture")
        page.get_by_role("heading", name="Posture").first.wait_for(timeout=30_000)
        # Choose a failing D-1 finding (a client policy that does not exclude the MSP's people).
        choose_option(page, "Evidence and why it matters for", "FAIL · D-1")
        page.get_by_role("button", name="Plan fix").click()
        page.get_by_text("The 1 request(s) that will be sent").wait_for(timeout=60_000)
        # A plan that also excludes others (one exclusion object for every type and tenant) warns first.
        acknowledge = page.get_by_text("I have read the warnings and want to go ahead")
        if acknowledge.count():
            acknowledge.first.click()
        # An exclusion on an enforced policy opens access: the one confirmation rule asks for the word.
        page.wait_for_timeout(1000)
        word = page.get_by_role("textbox", name="Type APPLY to apply this fix")
        if word.count():
            word.fill("APPLY")
            word.press("Enter")
            page.wait_for_timeout(1000)
        page.get_by_role("button", name="Apply fix").click()
        page.get_by_text("applied:").first.wait_for(timeout=60_000)
        page.get_by_role("link", name="Audit entry").first.click()
        page.get_by_role("heading", name="Audit").first.wait_for(timeout=30_000)
        page.get_by_text("by tech@msp.example").first.wait_for(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
