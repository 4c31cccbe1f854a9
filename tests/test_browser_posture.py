"""The posture page in a real browser at 1920×1080 (`streamlit run dashboard.py` in Debian's headless
Chromium) on the demo: a click in the client matrix lists that cell's findings, and a link with
?check=&tenant= opens the same view."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import wait_until_idle

from db.posture_store import current_findings
from db.queries import active_tenants
from posture.summary import (
    cell_findings,
    client_columns,
    client_rows,
    msp_tenant_ids,
    perimeter_rows,
    split_perimeter,
)
from support import FIXED_NOW

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def worst_client(demo):
    """(tenant id, its name, the first client check column, that cell's findings) of the matrix's top row."""
    _, engine = demo
    with engine.connect() as conn:
        findings = current_findings(conn, FIXED_NOW).findings
        names = {t.tenant_id: t.display_name for t in active_tenants(conn)}
    _, clients = split_perimeter(findings, msp_tenant_ids(findings))
    top = client_rows(clients, names)[0]
    check = client_columns(clients)[0]
    return top.tenant_id, names[top.tenant_id], check, cell_findings(findings, top.tenant_id, check)


def _open(browser, url: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.get_by_role("heading", name="Client tenants").wait_for(timeout=90_000)
    wait_until_idle(page)
    return page


def _cell_heading(page, name: str, check: str):  # type: ignore[no-untyped-def]
    """The line above the findings table that names the listed cell."""
    return page.locator("[data-testid='stMarkdown']").filter(
        has_text=re.compile(rf"{re.escape(name)} × {check} · ")
    )


def test_a_click_on_a_client_matrix_cell_lists_that_cells_findings(dashboard, browser, worst_client):
    tenant_id, name, check, expected = worst_client
    page = _open(browser, f"{dashboard}/posture")
    try:
        matrix = page.locator(".js-plotly-plot").nth(1)
        # The top row is the worst tenant; its cells are the score, then the client checks in order.
        assert matrix.locator(".ytick text").first.text_content() == name
        point = matrix.locator(".scatterlayer .point").nth(1)
        box = point.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

        heading = _cell_heading(page, name, check)
        heading.wait_for(timeout=60_000)
        wait_until_idle(page)
        assert f": {len(expected)} findings" in heading.inner_text()
        assert parse_qs(urlparse(page.url).query) == {"tenant": [tenant_id], "check": [check]}
        # The cell's worst finding is open: its evidence and why it matters, without another click.
        worst = expected[0]
        page.get_by_text("Why it matters:").first.wait_for(timeout=30_000)
        assert page.get_by_text(worst.subject.name or worst.subject.id).count() >= 1
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_a_link_with_check_and_tenant_opens_the_posture_page_filtered(dashboard, browser, worst_client):
    tenant_id, name, check, expected = worst_client
    page = _open(browser, f"{dashboard}/posture?check={check}&tenant={tenant_id}")
    try:
        _cell_heading(page, name, check).wait_for(timeout=60_000)
        page.get_by_text(f"Filtered by tenant: {name}; check: {check}.").wait_for(timeout=30_000)
        # One client row (the linked tenant) with its score and the one linked check.
        matrix = page.locator(".js-plotly-plot").nth(0)
        matrix.locator(".ytick text").first.wait_for(state="attached", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == 1  # no MSP check matches D-1: no perimeter grid
        assert matrix.locator(".ytick text").all_text_contents() == [name]
        columns = [t for t in matrix.locator(".xtick text").all_text_contents() if t.strip()]
        assert len(columns) == 2 and columns[0] == "Score" and columns[1].startswith(check)
        page.get_by_text("Why it matters:").first.wait_for(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_a_click_on_the_msp_perimeter_lists_that_checks_findings(dashboard, browser, demo):
    _, engine = demo
    with engine.connect() as conn:
        findings = current_findings(conn, FIXED_NOW).findings
        names = {t.tenant_id: t.display_name for t in active_tenants(conn)}
    perimeter, _ = split_perimeter(findings, msp_tenant_ids(findings))
    worst = perimeter_rows(perimeter)[0]
    page = _open(browser, f"{dashboard}/posture")
    try:
        grid = page.locator(".js-plotly-plot").nth(0)
        assert grid.locator(".ytick text").first.text_content().startswith(f"{worst.check} · ")
        box = grid.locator(".scatterlayer .point").first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        heading = _cell_heading(page, names[worst.tenant_id], worst.check)
        heading.wait_for(timeout=60_000)
        assert f": {worst.subjects} findings" in heading.inner_text()
        assert parse_qs(urlparse(page.url).query) == {"tenant": [worst.tenant_id], "check": [worst.check]}
    finally:
        page.close()
