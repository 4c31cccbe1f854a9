"""During an outage every page says so (issue 14, item 1), in a real browser: the demo collected, then a
collection cycle with its simulator gone (every request refused), then `streamlit run dashboard.py`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from browser_support import running_dashboard

from bench.browser import free_port, wait_until_settled
from collectors.run import collect_once
from settings import load_settings
from support import FIXED_NOW, collect_demo
from ui.chrome import PAGES

pytestmark = pytest.mark.browser
BANNER = "tenant(s) failing"


@pytest.fixture(scope="module")
def outage_dashboard(demo_database, simulator, tmp_path_factory):
    url, engine = collect_demo(demo_database, tmp_path_factory, "browser-outage")
    gone = f"http://127.0.0.1:{free_port()}"
    report = collect_once(
        load_settings(database_url=url, simulator_url=gone),
        engine,
        clock=lambda: FIXED_NOW + timedelta(minutes=5),
    )
    assert report.errors
    with running_dashboard(url, simulator.url, tmp_path_factory.mktemp("logs-outage")) as base:
        yield base


@pytest.mark.parametrize("entry", PAGES, ids=lambda e: e.title)
def test_every_page_shows_the_failing_banner_during_an_outage(outage_dashboard, browser, entry):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(f"{outage_dashboard}/{Path(entry.file).stem}")
        wait_until_settled(page)
        banner = page.get_by_test_id("stAlertContentError").filter(has_text=BANNER)
        banner.wait_for(timeout=30_000)
        assert banner.count() == 1
        assert "data complete up to" in banner.inner_text()
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_during_an_outage_no_source_is_fresh_and_the_wall_is_red(outage_dashboard, browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(f"{outage_dashboard}/collectors")
        wait_until_settled(page)
        fresh = page.locator("[data-testid='stMetric']").filter(has_text="Sources fresh")
        assert fresh.locator("[data-testid='stMetricValue']").inner_text().startswith("0/")
        page.goto(f"{outage_dashboard}/wall?kiosk=1")
        wait_until_settled(page)
        tile = page.locator("[class*='st-key-wall-fresh-']")
        assert "st-key-wall-fresh-red" in tile.get_attribute("class")
        assert "source(s) failing" in tile.inner_text()
        blocked = page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins, 24 h")
        assert "incomplete" in blocked.locator("[data-testid='stMetricDelta']").inner_text()
    finally:
        page.close()
