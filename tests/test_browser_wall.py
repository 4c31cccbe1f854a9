"""Real-browser tests of the investigation, MFA and wall pages: `streamlit run dashboard.py` in Debian's
headless Chromium. The kiosk wall shows a sign-in that arrives after it loaded, without a reload; a
URL with filters opens the investigation already filtered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from browser_support import running_dashboard
from sqlalchemy import select, update

from db import signin_aggregates as agg
from db import signin_scope as scope_q
from db.models import CollectionState, SignIn, Tenant
from db.store import ingest_signin_page
from investigate.filters import Filters
from support import collect_demo

pytestmark = pytest.mark.browser
MSP_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"


@pytest.fixture(scope="module")
def dashboard(demo, simulator, tmp_path_factory):
    with running_dashboard(
        demo[0],
        simulator.url,
        tmp_path_factory.mktemp("logs"),
        extra_env={"PERIMETER_WALL_REFRESH_SECONDS": "5"},
    ) as base:
        yield base


def metric_value(page, label: str) -> str:  # type: ignore[no-untyped-def]
    tile = page.locator("[data-testid='stMetric']").filter(has_text=label).first
    return tile.locator("[data-testid='stMetricValue']").inner_text()


@pytest.mark.parametrize(
    ("path", "title"), [("signins", "Blocked sign-ins"), ("mfa", "MFA coverage"), ("wall", "Perimeter wall")]
)
def test_the_new_pages_open_without_an_exception(dashboard, browser, path, title):
    page = browser.new_page()
    try:
        page.goto(f"{dashboard}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.get_by_text("Demo data").first.wait_for(timeout=10_000)
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_the_kiosk_wall_shows_a_sign_in_that_arrives_after_it_loaded_without_a_reload(
    dashboard, browser, demo
):
    _url, engine = demo
    page = browser.new_page()
    try:
        page.goto(f"{dashboard}/wall?kiosk=1&refresh=5")
        page.get_by_role("heading", name="Perimeter wall").wait_for(timeout=60_000)
        page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins, last hour").wait_for()
        # Kiosk: no navigation, no sidebar.
        assert page.get_by_role("link", name="Tenants").count() == 0
        assert (
            page.locator("[data-testid='stSidebar']").count() == 0
            or not page.locator("[data-testid='stSidebar']").is_visible()
        )
        page.evaluate("window.__loadedOnce = 'yes'")  # gone if the page reloads

        with engine.connect() as conn:
            tenant_id = conn.execute(
                select(Tenant.tenant_id).where(Tenant.role == "client").order_by(Tenant.display_name).limit(1)
            ).scalar()
        arrived = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
        ingest_signin_page(
            engine,
            tenant_id,
            [
                {
                    "id": "late-arrival-0001",
                    "createdDateTime": arrived.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "userPrincipalName": "late.arrival@tailspintoys.example",
                    "appDisplayName": "Azure Portal",
                    "ipAddress": "198.51.100.77",
                    "isInteractive": True,
                    "conditionalAccessStatus": "failure",
                    "status": {
                        "errorCode": 53003,
                        "failureReason": "Access has been blocked by Conditional Access",
                    },
                    "appliedConditionalAccessPolicies": [
                        {
                            "id": "p-late",
                            "displayName": "Block everything late",
                            "result": "failure",
                            "enforcedGrantControls": ["Block"],
                        }
                    ],
                }
            ],
        )

        # As a reader sees it (tenant text on the wall carries invisible word joiners: safetext.markdown).
        page.get_by_text(re.compile(r"late\.arrival@\u2060?tailspintoys\.example")).wait_for(timeout=45_000)
        assert page.evaluate("window.__loadedOnce") == "yes"
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_a_url_with_filters_opens_the_investigation_already_filtered(dashboard, browser, demo):
    _url, engine = demo
    with engine.connect() as conn:
        tenant_id, tenant_name = conn.execute(
            select(SignIn.tenant_id, Tenant.display_name)
            .join(Tenant, Tenant.tenant_id == SignIn.tenant_id)
            .where(SignIn.error_code == 53003, SignIn.tenant_id != MSP_ID)
            .limit(1)
        ).one()
        tenants = [t for (t,) in conn.execute(select(Tenant.tenant_id).where(Tenant.active))]

    def expected(filters: Filters) -> set[int]:
        """The count at the minute before and after the page loaded (the page rounds its clock)."""
        out = set()
        for moment in (before, datetime.now(UTC).replace(tzinfo=None)):
            with engine.connect() as conn:
                scope = scope_q.resolve_scope(
                    conn, filters, moment.replace(second=0, microsecond=0), tenants, MSP_ID
                )
                out.add(agg.count_failed(conn, scope))
        return out

    page = browser.new_page()
    try:
        before = datetime.now(UTC).replace(tzinfo=None)
        page.goto(f"{dashboard}/signins?tenant={tenant_id}&code=53003&period=30d")
        page.get_by_role("heading", name="Blocked sign-ins").wait_for(timeout=60_000)
        page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        filters = page.get_by_test_id("stMultiSelect")
        assert filters.filter(has_text="Tenants").get_by_text(tenant_name).count() == 1
        assert filters.filter(has_text="Error code").get_by_text(re.compile("^53003")).count() == 1
        shown = int(metric_value(page, "Blocked sign-ins").replace(",", ""))
        assert shown in expected(Filters(tenants=(tenant_id,), codes=(53003,), period="30d"))
        assert shown not in expected(Filters(period="30d"))
        assert "code=53003" in page.url and f"tenant={tenant_id}" in page.url
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


# --- the wall on a TV: one screen, the worst thing loudest, changes pointing the right way ----------

MAIN_OVERFLOW_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return [main.scrollHeight - main.clientHeight, document.documentElement.scrollHeight - innerHeight];
}"""


def blocked_signin(signin_id: str, at: datetime, upn: str) -> dict:
    return {
        "id": signin_id,
        "createdDateTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userPrincipalName": upn,
        "appDisplayName": "Azure Portal",
        "ipAddress": "198.51.100.78",
        "isInteractive": True,
        "conditionalAccessStatus": "failure",
        "status": {"errorCode": 53003, "failureReason": "Access has been blocked by Conditional Access"},
        "appliedConditionalAccessPolicies": [],
    }


@pytest.fixture(scope="module")
def quiet_hour(demo_database, simulator, tmp_path_factory):
    """The demo with every collectable source fresh right now, three blocked sign-ins 90 minutes ago and
    none since: the last hour has fewer blocked sign-ins than the hour before."""
    url, engine = collect_demo(demo_database, tmp_path_factory, "browser-wall-quiet")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            update(CollectionState)
            .where(CollectionState.state.is_(None))
            .values(last_success_at=now, last_attempt_at=now, last_error_at=None)
        )
        tenant_id = conn.execute(
            select(Tenant.tenant_id).where(Tenant.role == "client").order_by(Tenant.display_name).limit(1)
        ).scalar()
    earlier = now - timedelta(minutes=90)
    ingest_signin_page(
        engine,
        tenant_id,
        [
            blocked_signin(f"quiet-hour-{n}", earlier + timedelta(seconds=n), f"u{n}@tailspintoys.example")
            for n in range(3)
        ],
    )
    with running_dashboard(url, simulator.url, tmp_path_factory.mktemp("logs-quiet")) as base:
        yield base


@pytest.mark.parametrize("size", [(1920, 1080), (1600, 1000)])
def test_the_kiosk_wall_fits_a_tv_screen_without_scrolling(dashboard, browser, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    try:
        page.goto(f"{dashboard}/wall?kiosk=1")
        page.get_by_text("Latest blocked sign-ins").wait_for(timeout=60_000)
        page.locator("[data-testid='stTable']").nth(1).wait_for()
        page.wait_for_timeout(1500)
        main_overflow, document_overflow = page.evaluate(MAIN_OVERFLOW_JS)
        assert main_overflow <= 0 and document_overflow <= 0, (main_overflow, document_overflow)
    finally:
        page.close()


def test_a_failing_critical_finding_makes_its_tile_red_and_names_are_plain_text(dashboard, browser):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(f"{dashboard}/wall?kiosk=1")
        critical = page.locator("[class*='st-key-wall-critical-']")
        critical.wait_for(timeout=60_000)
        assert "st-key-wall-critical-red" in critical.get_attribute("class")
        assert int(critical.locator("[data-testid='stMetricValue']").inner_text()) > 0
        page.locator("[data-testid='stTable']").nth(1).wait_for()
        assert page.locator("a[href^='mailto:']").count() == 0  # a UPN is text, not a link
    finally:
        page.close()


def test_fewer_blocked_sign_ins_than_the_hour_before_point_down_in_green(quiet_hour, browser):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(f"{quiet_hour}/wall?kiosk=1")
        tile = page.locator("[data-testid='stMetric']").filter(has_text="Blocked sign-ins, last hour")
        tile.wait_for(timeout=60_000)
        assert tile.locator("[data-testid='stMetricValue']").inner_text() == "0"
        delta = tile.locator("[data-testid='stMetricDelta']")
        assert delta.inner_text().strip().endswith("−3 (−100%)")
        assert delta.get_by_test_id("stMetricDeltaIcon-Down").count() == 1
        assert delta.get_by_test_id("stMetricDeltaIcon-Up").count() == 0
    finally:
        page.close()


def test_the_mfa_method_chart_shows_method_names_in_the_browser(dashboard, browser):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(f"{dashboard}/mfa")
        chart = page.locator(".st-key-mfa_methods_chart")
        chart.locator(".ytick text").first.wait_for(timeout=60_000)
        labels = chart.locator(".ytick text").all_text_contents()  # SVG text: no innerText
        assert "Email" in labels or "Mobile phone (SMS/voice)" in labels, labels
        assert labels and all(re.fullmatch(r"[A-Za-z0-9 ()/+\-]+", label) for label in labels), labels
        assert not any(label.isdigit() for label in labels)  # never characters of a JSON string
    finally:
        page.close()
