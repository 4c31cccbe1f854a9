"""The investigation in one screen, in a real browser (`streamlit run dashboard.py`, headless Chromium at
1920×1080): a sign-in selected in the list is explained beside it, its policies in view without
scrolling; a row selected in a Top table filters the list; on a phone the results come first."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import wait_until_idle
from sqlalchemy import select

from db import signin_aggregates as agg
from db import signin_scope as scope_q
from db.models import Tenant
from investigate.filters import Filters
from support import FIXED_NOW

pytestmark = pytest.mark.browser
MSP_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"
WIDTH, HEIGHT = 1920, 1080
# The demo was collected at FIXED_NOW; the server's clock is today's: a custom period keeps the data in.
START, END = FIXED_NOW - timedelta(days=1), FIXED_NOW
PERIOD = f"period=custom&from={START:%Y-%m-%dT%H:%M}&to={END:%Y-%m-%dT%H:%M}"
HEADER, ROW = 35, 35  # st.dataframe's header and row heights (px)
# Nothing but a panel, a grid or the sidebar scrolled by itself: the page is where it was.
NOT_SCROLLED = """window.scrollY === 0 && [...document.querySelectorAll('*')].every(e => e.scrollTop === 0
  || e.closest('.st-key-signins-explanation, [data-testid=stDataFrame], [data-testid=stSidebar]'))"""


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    yield page
    page.close()


def open_investigation(page, dashboard: str, query: str = PERIOD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{dashboard}/signins?{query}")
    page.get_by_role("heading", name="Blocked sign-ins").first.wait_for(timeout=60_000)
    page.locator(".st-key-signins_table canvas").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    page.wait_for_timeout(1000)  # the grid draws its rows after it is attached


def select_first_row(page, table: str) -> None:  # type: ignore[no-untyped-def]
    """A click on the row marker (the selection column) of the table's first row, where it is on
    screen: the mouse at coordinates, so Playwright scrolls nothing."""
    grid = page.locator(f"[class*='st-key-{table}'] [data-testid='stDataFrame']").first  # by key prefix
    box = grid.bounding_box()
    assert box is not None
    x, y = box["x"] + 14, box["y"] + HEADER + ROW / 2
    assert 0 <= y <= HEIGHT, f"the first row of {table} is off screen at y={y}"
    page.mouse.click(x, y)
    wait_until_idle(page)


def in_view(page, locator) -> bool:  # type: ignore[no-untyped-def]
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= HEIGHT


def test_a_selected_sign_in_is_explained_beside_the_list_without_scrolling(dashboard, page):
    open_investigation(page, dashboard)
    select_first_row(page, "signins_table_")
    page.wait_for_url("**signin=*", timeout=30_000)
    panel = page.locator(".st-key-signins-explanation")
    why = panel.get_by_text("Why:").first
    why.wait_for(timeout=30_000)
    wait_until_idle(page)
    assert in_view(page, panel.get_by_role("heading", name="Why this sign-in failed"))
    assert in_view(page, why)
    policies = panel.locator("[data-testid='stTable']").first
    assert in_view(page, policies.locator("th", has_text="What to do").first)
    assert in_view(page, policies.locator("tbody tr").first)  # the policy that failed, first
    assert page.evaluate(NOT_SCROLLED)
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_row_selected_in_a_top_table_filters_the_list(dashboard, page, demo):
    open_investigation(page, dashboard)
    before = page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins")
    total = int(before.locator("[data-testid='stMetricValue']").inner_text().replace(",", ""))
    select_first_row(page, "signins_top_user_")
    page.wait_for_url("**user=*", timeout=30_000)
    wait_until_idle(page)
    user = parse_qs(urlparse(page.url).query)["user"][0]
    with demo[1].connect() as conn:
        tenants = [t for (t,) in conn.execute(select(Tenant.tenant_id).where(Tenant.active))]
        scope = scope_q.resolve_scope(
            conn, Filters(period="custom", start=START, end=END, user=user), FIXED_NOW, tenants, MSP_ID
        )
        expected = agg.count_failed(conn, scope)
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins")
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=stMetricValue]')].some(e => e.innerText === n)",
        arg=f"{expected:,}",
        timeout=30_000,
    )
    assert metric.locator("[data-testid='stMetricValue']").inner_text() == f"{expected:,}"
    assert 0 < expected < total
    assert page.get_by_role("textbox", name="User (part of the UPN)").input_value() == user
    assert page.locator("[data-testid='stException']").count() == 0


def test_on_a_phone_the_results_come_before_the_filters(browser, dashboard):
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone.goto(f"{dashboard}/signins?{PERIOD}")
        phone.get_by_role("heading", name="Blocked sign-ins").first.wait_for(timeout=60_000)
        metric = phone.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins")
        metric.wait_for(timeout=60_000)
        wait_until_idle(phone)
        assert in_view(phone, metric)
        sidebar = phone.get_by_test_id("stSidebar").bounding_box()  # collapsed: pushed off the screen
        assert sidebar is not None and sidebar["x"] + sidebar["width"] <= 0
    finally:
        phone.close()
