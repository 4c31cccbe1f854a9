"""The home page in headless Chromium on the demo: the tenant table holds each tenant's score in words,
worst first, with a Sign-ins link per tenant; a selected tenant's Sign-ins link opens the Blocked
sign-ins page filtered to that tenant."""

from __future__ import annotations

import csv
import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import wait_until_idle

pytestmark = pytest.mark.browser
SCORE_IN_WORDS = re.compile(r"^\d+\.\d / 100 — (good|fair|poor|critical)$")
HEADER_PX, ROW_PX = 36, 35  # the data grid's header and row heights (Streamlit's default)


@pytest.fixture
def home(dashboard, browser):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    # Without the File System Access API Streamlit's "Download as CSV" is a plain download Playwright sees.
    page.add_init_script("delete window.showSaveFilePicker")
    page.goto(dashboard)
    page.get_by_role("heading", name="Tenants").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    try:
        yield page
    finally:
        page.close()


def table_rows(page) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The tenant table as the browser holds it (the grid draws on a canvas: its CSV export)."""
    page.locator("[data-testid='stDataFrame']").first.hover()
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download as CSV").first.click()
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_the_tenant_table_shows_each_tenants_score_in_words_worst_first(home):
    rows = table_rows(home)
    assert len(rows) >= 26
    scored = [r for r in rows if SCORE_IN_WORDS.match(r["Posture"])]
    assert len(scored) >= 20, [r["Posture"] for r in rows]
    critical = [int(r["Critical failing"]) for r in rows]
    assert critical == sorted(critical, reverse=True) and critical[0] > 0
    for row in rows:
        assert row["signins_link"] == f"./signins?tenant={row['Tenant id']}"
    assert home.locator("[data-testid='stException']").count() == 0


def test_a_tenants_sign_ins_link_opens_that_page_filtered_to_it(home):
    rows = table_rows(home)
    box = home.locator("[data-testid='data-grid-canvas']").first.bounding_box()
    # Select the second row (its row marker), which shows that tenant's links.
    home.mouse.click(box["x"] + 15, box["y"] + HEADER_PX + ROW_PX + ROW_PX // 2)
    link = home.get_by_role("link", name="Sign-ins", exact=True)
    link.wait_for(timeout=30_000)
    link.click()
    home.get_by_role("heading", name="Blocked sign-ins").first.wait_for(timeout=60_000)
    assert parse_qs(urlparse(home.url).query)["tenant"] == [rows[1]["Tenant id"]]
    wait_until_idle(home)
    tenants = home.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has_text="Tenants"
    )
    tenants.filter(has_text=rows[1]["Tenant"]).first.wait_for(timeout=30_000)
    matches = home.locator("[data-testid='stMetric']").filter(has_text="Tenants with matches").first
    assert matches.locator("[data-testid='stMetricValue']").inner_text().endswith("of 1")
    assert home.locator("[data-testid='stException']").count() == 0
