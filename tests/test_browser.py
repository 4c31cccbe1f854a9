"""Real-browser smoke test: `streamlit run dashboard.py` driven by Playwright in Debian's
Chromium (headless, no browser download). Every page opens without an exception."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# A deep link first: on a fresh server Streamlit would run that page file without dashboard.py.
PAGES = [("posture", "Posture"), ("", "Tenants"), ("collectors", "Collectors")]


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_every_page_opens_without_an_exception(dashboard, browser, path, title):
    page = browser.new_page()
    try:
        page.goto(f"{dashboard}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
        page.get_by_text("Demo data").first.wait_for(timeout=10_000)
        # The navigation is dashboard.py's (titled pages), not one made from file names.
        assert page.get_by_role("link", name="Tenants").count() == 1
        assert page.get_by_role("link", name="dashboard").count() == 0
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
        # Let the page finish its run, then look for Streamlit's exception block.
        page.wait_for_timeout(1000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
