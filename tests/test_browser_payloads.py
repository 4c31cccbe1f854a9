"""Hostile tenant text through every page and export, in a real browser (`streamlit run dashboard.py`,
Debian's headless Chromium).

Every payload of tests/payloads.py is put into the data a collection reads: the simulator's client
tenant names (CIPP ListTenants), their Conditional Access policy and named-location names, the CIPP API
client names; then one collection; then sign-ins carrying payloads as UPN, app, blocking policy, failure
reason and city go in through the collectors' own ingest path (the simulator's users are generated),
and audit entries and a kiosk link through their own writers. Each page is then opened (as the local
demo operator) and must show no element pointing at a payload's address (href/src/action/formaction/
xlink:href containing "evil"), no script/iframe/object/embed from a payload, no Streamlit exception;
the payload text must be visible as text where pages render Markdown. The CSV of a dataframe (Streamlit's
own "Download as CSV") and the posture page's own findings CSV must hold no cell a spreadsheet runs.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import payloads
import pytest
from browser_support import running_dashboard, wait_until_idle

from support import FIXED_NOW

pytestmark = pytest.mark.browser

MSP_ID = "4f4e31f0-e773-47c1-a231-9b911d163077"
N = len(payloads.ALL)
AUTO = payloads.AUTO_LINKS[0]  # "Reauth at www.evil.example/cipp"
WORD_JOINER = "\u2060"

BAD_ELEMENTS_JS = """() => {
  const bad = [];
  const attrs = ['href', 'src', 'srcset', 'action', 'formaction', 'xlink:href', 'data', 'poster',
                 'background'];
  const XLINK = 'http://www.w3.org/1999/xlink';
  for (const el of document.querySelectorAll('*')) {
    for (const name of attrs) {
      const value = el.getAttribute(name);
      if (value && value.toLowerCase().includes('evil')) bad.push(`${el.tagName} ${name}=${value}`);
    }
    const xlink = el.getAttributeNS(XLINK, 'href');
    if (xlink && xlink.toLowerCase().includes('evil')) bad.push(`${el.tagName} xlink:href=${xlink}`);
  }
  for (const el of document.querySelectorAll('script, iframe, object, embed, frame')) {
    if (el.outerHTML.toLowerCase().includes('evil')) bad.push(`element ${el.outerHTML.slice(0, 120)}`);
  }
  for (const el of document.querySelectorAll('img')) {
    if ((el.getAttribute('onerror') || '').length) bad.push(`img onerror ${el.outerHTML.slice(0, 120)}`);
  }
  if (window.evil !== undefined) bad.push('a payload script ran (window.evil)');
  return bad;
}"""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def payload(i: int) -> str:
    return payloads.ALL[i % N]


def crafted_signin(k: int, tenant_id: str, policy_id: str, when: datetime) -> dict:
    """A failed sign-in with payloads in every text field a page shows."""
    return {
        "id": f"payload-signin-{k:02d}",
        "createdDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userPrincipalName": payload(k),
        "userDisplayName": payload(k + 4),
        "appDisplayName": payload(k + 1),
        "ipAddress": f"198.51.100.{10 + k}",
        "isInteractive": True,
        "conditionalAccessStatus": "failure",
        "status": {"errorCode": 53003, "failureReason": payload(k + 3)},
        "location": {
            "city": payload(k + 5),
            "state": "",
            "countryOrRegion": "NL",
            "geoCoordinates": {"latitude": 52.37, "longitude": 4.89},
        },
        "appliedConditionalAccessPolicies": [
            {
                "id": policy_id if k == 0 else f"p-payload-{k}",
                "displayName": payload(k + 2),
                "result": "failure",
                "enforcedGrantControls": ["Block"],
            }
        ],
    }


def poison_simulator(sim) -> None:  # type: ignore[no-untyped-def]
    """Payloads in what the collection reads: tenant, CA policy, named-location and API client names."""
    from simulator.state import _snapshot

    state = sim.state
    with state.lock:
        for i, row in enumerate(state.cipp_tenants):
            row["displayName"] = payload(i)
        for i, tenant_id in enumerate(t for t in state.tenants if t != MSP_ID):
            tenant = state.tenants[tenant_id]
            for j, policy in enumerate(tenant.config.policies):
                policy["displayName"] = payload(i + j + 1)
            for j, location in enumerate(tenant.config.named_locations):
                location["displayName"] = payload(i + j + 2)
            # The configuration as it has always been (no sign-in has been generated yet).
            tenant.history = [_snapshot(tenant.config)]
            tenant.history_times = [float("-inf")]
            state.signins.invalidate(tenant_id, 0.0)
        names = {1: AUTO, 7: payloads.AUTO_LINKS[2], 2: payloads.HTML[2]}  # Rewst ["Any"], Zapier 0.0.0.0/0
        for i, client in enumerate(state.api_clients):
            client.app_name = names.get(i, payload(i + 3))


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """(database URL, engine, simulator URL, facts) of one collection of a poisoned simulator."""
    from sqlalchemy import select

    from collectors.run import collect_once
    from db import open_database, write_transaction
    from db.kiosk import create_kiosk_link
    from db.models import Tenant
    from db.store import ingest_signin_page
    from fixes import audit
    from settings import load_settings
    from simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW))
    sim.start()
    try:
        poison_simulator(sim)
        url = f"sqlite:///{tmp_path_factory.mktemp('payloads') / 'perimeter.db'}"
        engine = open_database(url)
        settings = load_settings(database_url=url, simulator_url=sim.url)
        report = collect_once(settings, engine, clock=lambda: FIXED_NOW)
        assert not report.errors, report.errors
        with engine.connect() as conn:
            tenant_id, tenant_name = conn.execute(
                select(Tenant.tenant_id, Tenant.display_name)
                .where(Tenant.role == "client")
                .order_by(Tenant.tenant_id)
                .limit(1)
            ).one()
        assert tenant_name in payloads.ALL
        policy_id = sim.state.tenants[tenant_id].config.policies[0]["id"]
        moment = now()
        # Newest first: sign-in k is k+1 minutes old, so the wall's latest five are k = 0..4.
        ingest_signin_page(
            engine,
            tenant_id,
            [crafted_signin(k, tenant_id, policy_id, moment - timedelta(minutes=k + 1)) for k in range(N)],
        )
        ingest_signin_page(
            engine,
            MSP_ID,
            [
                {
                    "id": f"payload-sa-{k:02d}",
                    "createdDateTime": (moment - timedelta(minutes=k + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "userPrincipalName": settings.service_account_upn,
                    "appDisplayName": payload(k),
                    "ipAddress": "66.171.40.17",
                    "isInteractive": False,
                    "authenticationRequirement": "multiFactorAuthentication",
                    "status": {"errorCode": 0},
                }
                for k in range(N)
            ],
        )
        audit_ids = [
            audit.append(
                engine,
                at=moment,
                actor=payload(k),
                tenant_id=tenant_id,
                fix_id="api-client.set-ranges",
                target_type="apiClient",
                target_id=f"client-{k}",
                target_name=payload(k + 1),
                outcome="refused",
                message=payload(k + 2),
                before={"AppName": payload(k)},
                after={"AppName": payload(k + 1)},
                requests=[],
                rollback_of=None,
            )
            for k in range(N)
        ]
        with write_transaction(engine) as conn:
            for k in range(3):
                create_kiosk_link(conn, payload(k + 7), "test", moment)
        facts = {
            "tenant": tenant_id,
            "tenantName": tenant_name,
            "audit": audit_ids,
            "signin": "payload-signin-07",
        }
        yield url, engine, sim.url, facts
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def dashboard(poisoned, tmp_path_factory):
    url, _engine, sim_url, _facts = poisoned
    with running_dashboard(url, sim_url, tmp_path_factory.mktemp("logs")) as base:
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    # Streamlit's "Download as CSV" prefers the File System Access API: without it, it downloads.
    context.add_init_script("delete window.showSaveFilePicker; delete Window.prototype.showSaveFilePicker;")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def open_page(page, base: str, path: str, heading: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    wait_until_idle(page)
    page.wait_for_timeout(1500)
    wait_until_idle(page)


def shown_text(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("() => document.body.innerText").replace(WORD_JOINER, "")


def assert_inert(page, where: str) -> None:  # type: ignore[no-untyped-def]
    bad = page.evaluate(BAD_ELEMENTS_JS)
    assert bad == [], f"{where}: {bad}"
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()}"


def assert_cells_safe(text: str, where: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) > 1, f"{where}: an empty CSV"
    bad = [cell for row in rows for cell in row if cell.startswith(payloads.FORMULA_STARTS)]
    assert bad == [], f"{where}: cells a spreadsheet runs: {bad}"
    return rows


def download_dataframe_csv(page, frame=None) -> str:  # type: ignore[no-untyped-def]
    """The CSV of a st.dataframe (the page's first unless ``frame``) through Streamlit's own toolbar."""
    frame = frame or page.locator("[data-testid='stDataFrame']").first
    frame.scroll_into_view_if_needed()
    frame.hover()
    button = frame.get_by_role("button", name="Download as CSV")
    button.wait_for(timeout=10_000)
    with page.expect_download(timeout=30_000) as info:
        # The toolbar sits over the grid, whose scroller can take the pointer while the toolbar fades in
        # (seen under load): the click goes to the button itself, as the user's click does.
        button.dispatch_event("click")
    return open(info.value.path(), encoding="utf-8").read()


# --- the pages ---------------------------------------------------------------------------------------


def test_tenants_page_and_its_csv_export(dashboard, page):
    open_page(page, dashboard, "", "Tenants")
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    assert_inert(page, "Tenants")
    rows = assert_cells_safe(download_dataframe_csv(page), "Tenants: Download as CSV")
    names = {row[0] for row in rows[1:]}
    # The payloads arrived (a formula-looking name is there, neutralised) and are otherwise unchanged.
    assert "'" + payloads.FORMULAS[0] in names
    assert AUTO in names and payloads.HTML[1] in names


def test_blocked_signins_page_explanation_and_csv(dashboard, page, poisoned):
    facts = poisoned[3]
    open_page(page, dashboard, f"signins?period=24h&signin={facts['signin']}", "Blocked sign-ins")
    page.get_by_text("Why:").first.wait_for(timeout=30_000)
    assert_inert(page, "Blocked sign-ins with an explanation")
    text = shown_text(page)
    assert AUTO in text  # the sign-in's UPN, in the explanation's Markdown
    assert " ".join(facts["tenantName"].split()) in " ".join(text.split())  # its tenant's (payload) name
    table = page.locator(".st-key-signins_table [data-testid='stDataFrame']")
    rows = assert_cells_safe(download_dataframe_csv(page, table), "Blocked sign-ins: Download as CSV")
    cells = {cell for row in rows for cell in row}
    assert AUTO in cells and "'" + payloads.FORMULAS[1] in cells


@pytest.mark.parametrize("key", ["tenant", "user", "code", "period", "policy"])
def test_a_crafted_signins_link_puts_no_link_on_the_page(dashboard, page, key):
    value = payloads.AUTO_LINKS[1] if key != "user" else payloads.AUTO_LINKS[4]
    open_page(page, dashboard, f"signins?{key}={quote(value)}", "Blocked sign-ins")
    assert_inert(page, f"Blocked sign-ins ?{key}=")
    if key in ("tenant", "code", "period"):
        assert value in shown_text(page)  # named in the "Link:" warning, as text


def test_every_payload_in_a_crafted_tenant_link(dashboard, page):
    query = "&".join(f"tenant={quote(p)}" for p in payloads.ALL)
    open_page(page, dashboard, f"signins?{query}", "Blocked sign-ins")
    assert_inert(page, "Blocked sign-ins, every payload as ?tenant=")
    assert "Link:" in shown_text(page) and payloads.AUTO_LINKS[3] in shown_text(page)


def test_mfa_page(dashboard, page):
    open_page(page, dashboard, "mfa", "MFA coverage")
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    assert_inert(page, "MFA coverage")
    page.get_by_text("sign-in(s) in the last").wait_for(timeout=30_000)
    account = page.locator("[data-testid='stDataFrame']").last  # the service account's sign-ins
    rows = assert_cells_safe(download_dataframe_csv(page, account), "MFA: service account CSV")
    assert "'" + payloads.FORMULAS[2] in {cell for row in rows for cell in row}


def test_posture_page_evidence_and_its_own_csv(dashboard, page):
    from browser_support import choose_option

    open_page(page, dashboard, "posture", "Posture")
    assert_inert(page, "Posture")
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Download findings (CSV)").click()
    rows = assert_cells_safe(open(info.value.path(), encoding="utf-8").read(), "Posture findings CSV")
    tenants = {row[3] for row in rows[1:]}
    assert any(t.startswith("'=") for t in tenants), tenants  # the payload tenant names arrived

    choose_option(page, "Evidence and why it matters for", "C-1")
    page.get_by_text("Why it matters:").first.wait_for(timeout=30_000)
    wait_until_idle(page)
    page.wait_for_timeout(1000)
    assert_inert(page, "Posture with a finding's evidence")
    assert "Subject: apiClient" in shown_text(page)


def test_api_clients_page(dashboard, page):
    open_page(page, dashboard, "api_clients", "API clients")
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    assert_inert(page, "API clients")
    rows = assert_cells_safe(download_dataframe_csv(page), "API clients CSV")
    assert AUTO in {row[0] for row in rows}


def test_audit_page(dashboard, page, poisoned):
    facts = poisoned[3]
    entry = facts["audit"][7]  # actor AUTO_LINKS[0], target AUTO_LINKS[1], message AUTO_LINKS[2]
    open_page(page, dashboard, f"audit?entry={entry}", "Audit")
    page.get_by_text(f"#{entry} refused").first.wait_for(timeout=30_000)
    assert_inert(page, "Audit")
    text = shown_text(page)
    assert AUTO in text and payloads.AUTO_LINKS[1] in text
    rows = assert_cells_safe(download_dataframe_csv(page), "Audit CSV")
    assert "'" + payloads.FORMULAS[0] in {cell for row in rows for cell in row}


def test_kiosk_links_page(dashboard, page):
    open_page(page, dashboard, "kiosk_links", "Kiosk links")
    assert_inert(page, "Kiosk links")
    assert AUTO in shown_text(page)  # a screen name is shown as text


def test_collectors_page(dashboard, page):
    open_page(page, dashboard, "collectors", "Collectors")
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    assert_inert(page, "Collectors")
    assert_cells_safe(download_dataframe_csv(page), "Collectors CSV")


@pytest.mark.parametrize("query", ["", "?kiosk=1", "?kiosk=1&rotate=5"])
def test_wall(dashboard, page, query):
    open_page(page, dashboard, f"wall{query}", "Perimeter wall")
    page.locator("[data-testid='stTable']").first.wait_for(timeout=30_000)
    page.get_by_text("Latest blocked sign-ins").wait_for(timeout=30_000)
    wait_until_idle(page)
    assert_inert(page, f"Wall {query}")
    text = shown_text(page)
    if "rotate" not in query:
        # The latest five blocked sign-ins (the wall's rows: UPNs payloads 0..4) in st.table's Markdown
        # cells, and the API clients open to any IP in a caption. (Every payload through the same cell
        # rule: tests/test_safetext.py.)
        for upn in payloads.ALL[:5]:
            shown = " ".join(upn.split())
            assert shown in " ".join(text.split()), upn
        assert AUTO in text  # the open API client's name, in the all-tenants view's caption
    else:  # one tenant's tiles at a time: its name in the title, as text
        assert page.get_by_role("heading", name="Perimeter wall · ").count() == 1
