"""The what-if form in a real browser (`streamlit run dashboard.py` on the demo, headless Chromium): from
a blocked sign-in's explanation, "What if…" opens the form filled in from that sign-in, and evaluating it
shows the policy that blocks (Graph's what-if, answered by the simulator's CA engine)."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from browser_support import wait_until_idle
from sqlalchemy import select

from db.models import SignIn
from db.signin_raw import raw_json
from simulator import demo
from support import FIXED_NOW

pytestmark = pytest.mark.browser
RELECLOUD = next(c.tenant_id for c in demo.client_tenants() if c.display_name == "Relecloud")
BLOCKER = "CA010: Block access from outside the office"
START, END = FIXED_NOW - timedelta(days=1), FIXED_NOW
PERIOD = f"period=custom&from={START:%Y-%m-%dT%H:%M}&to={END:%Y-%m-%dT%H:%M}"


def blocked_by_office_policy(engine) -> dict:  # type: ignore[no-untyped-def]
    """A member's sign-in to Relecloud that CA010 blocked, as stored."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SignIn.raw).where(SignIn.tenant_id == RELECLOUD).order_by(SignIn.created_at.desc())
        )
        for (raw,) in rows:
            signin = orjson.loads(raw_json(conn, raw))
            failed = [
                p["displayName"]
                for p in signin.get("appliedConditionalAccessPolicies") or []
                if p.get("result") == "failure"
            ]
            if failed == [BLOCKER] and signin.get("homeTenantId", RELECLOUD) == RELECLOUD:
                return signin
    raise AssertionError("the demo has no sign-in blocked by CA010 in Relecloud")


def visible(text: str) -> str:
    """Text as read: without the word joiners plain() puts after colons (ui.chrome.plain)."""
    return text.replace("\u2060", "")


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    yield page
    page.close()


def test_what_if_from_a_blocked_sign_in_opens_filled_in_and_shows_the_blocking_policy(dashboard, demo, page):
    signin = blocked_by_office_policy(demo[1])
    page.goto(f"{dashboard}/signins?{PERIOD}&signin={signin['id']}")
    panel = page.locator(".st-key-signins-explanation")
    panel.get_by_text("Why:").first.wait_for(timeout=60_000)
    wait_until_idle(page)

    panel.get_by_role("button", name="What if…").click()
    form = page.locator(".st-key-whatif-form")
    form.wait_for(timeout=30_000)
    wait_until_idle(page)
    assert form.get_by_label("User (UPN or object id)").input_value() == signin["userPrincipalName"]
    assert form.get_by_label("IP address").input_value() == signin["ipAddress"]
    assert form.get_by_label("Application id").input_value() == signin["appId"]
    assert form.get_by_label("Country (two letters)").input_value() == signin["location"]["countryOrRegion"]

    form.get_by_role("button", name="Evaluate").click()
    verdict = form.get_by_text("would block this sign-in")
    verdict.wait_for(timeout=60_000)
    assert visible(verdict.inner_text()).startswith(f"Blocked: '{BLOCKER}'")
    first_row = form.locator("[data-testid='stTable'] tbody tr").first
    cells = [visible(c).strip() for c in first_row.locator("td, th").all_inner_texts()]
    assert cells[-5:] == [BLOCKER, "enabled", "yes", "blocks", "block"]
    assert page.locator("[data-testid='stException']").count() == 0
