"""The Changes page in a real browser (`streamlit run dashboard.py` on the demo, headless Chromium): the
demo's drift — a client admin removes the service-provider exclusion from a policy — forced in the
simulator and collected once, then shown with its diff and the admin who made it."""

from __future__ import annotations

import pytest
from browser_support import running_dashboard, wait_until_idle

from collectors.run import collect_once
from graphjson.times import utcnow
from settings import load_settings
from support import FIXED_NOW

pytestmark = pytest.mark.browser


def visible(text: str) -> str:
    """Text as read: without the word joiners plain() puts after colons (ui.chrome.plain)."""
    return text.replace("\u2060", "")


@pytest.fixture(scope="module")
def drifted(demo, simulator, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The demo drift forced in the simulator a minute after the demo's collection, one collection cycle
    that reads it, and the dashboard on that database: (base URL, the admin's UPN, the policy's name).
    Collected before Chromium starts (Playwright's sync API holds this thread's event loop)."""
    url, engine = demo
    now = simulator.advance(60).replace(tzinfo=None)
    entry = simulator.drift_now()
    assert entry is not None
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    report = collect_once(settings, engine, clock=lambda: now)
    assert not report.errors, report.errors
    with running_dashboard(url, simulator.url, tmp_path_factory.mktemp("logs-changes")) as base:
        yield (
            base,
            entry["initiatedBy"]["user"]["userPrincipalName"],
            entry["targetResources"][0]["displayName"],
        )


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    yield page
    page.close()


def test_the_changes_page_shows_the_demo_drift_with_its_diff_and_who_made_it(drifted, page):
    base, admin, policy = drifted
    # The simulated clock is fixed at FIXED_NOW; the dashboard reads the real one: a range that reaches back.
    days = (utcnow() - FIXED_NOW).days + 2
    page.goto(f"{base}/changes?days={days}")
    detail = page.locator(".st-key-change-detail")
    detail.get_by_text("Who:").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    shown = visible(detail.inner_text())
    assert policy in shown
    assert f"Who: {admin}" in shown
    assert "serviceProvider removed" in shown
    assert page.locator("[data-testid='stException']").count() == 0
