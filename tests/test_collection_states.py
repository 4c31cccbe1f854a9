"""Tenant and source states besides ok / failing: "not licensed" (no Entra ID P1: 403
Authentication_RequestFromNonPremiumTenantOrB2CTenant on sign-ins and the reports/ endpoints) and
"consent needed" (the token request fails with AADSTS700016 / 7000229 / 65001), against the simulator's
demo tenants that answer so (Coho Winery, City Power & Light; Graphic Design Institute)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from collectors.run import collect_once
from collectors.states import CONSENT_NEEDED, NOT_LICENSED, admin_consent_url, classify
from collectors.status import status_rows
from connectors.graph import GraphError
from connectors.sources import DIRECTORY_AUDITS, SIGNINS
from db import open_database
from db.models import CollectionRun
from settings import DEMO_GRAPH_CLIENT_ID, load_settings
from simulator import demo
from support import ROOT

CLIENTS = {c.display_name: c.tenant_id for c in demo.client_tenants()}
UNLICENSED = CLIENTS["Coho Winery"]
UNCONSENTED = CLIENTS["Graphic Design Institute"]
LICENCE_BOUND = {SIGNINS, DIRECTORY_AUDITS, "userRegistrationDetails"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _reports_requests(sim, tenant_id: str) -> int:
    stats = httpx.get(f"{sim.url}/_sim/stats").json()
    return stats["requests"].get(tenant_id, {}).get("reports", 0)


def _settings(sim, tmp_path):
    url = f"sqlite:///{tmp_path / 'perimeter.db'}"
    return load_settings(database_url=url, simulator_url=sim.url), open_database(url)


def _rows(settings, engine, tenant_id: str) -> dict[str, dict]:
    return {r["source"]: r for r in status_rows(settings, engine) if r["tenantId"] == tenant_id}


def test_an_unlicensed_tenant_is_not_licensed_not_an_error_and_not_asked_every_cycle(sim, tmp_path):
    settings, engine = _settings(sim, tmp_path)
    now = _now()
    first = collect_once(settings, engine, only_tenants={UNLICENSED}, clock=lambda: now)
    assert first.errors == []
    rows = _rows(settings, engine, UNLICENSED)
    assert {s for s, r in rows.items() if r["state"] == "not licensed"} == LICENCE_BOUND
    assert {r["state"] for s, r in rows.items() if s not in LICENCE_BOUND} == {"fresh"}
    assert not any(r["failing"] for r in rows.values())
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in rows[SIGNINS]["stateDetail"]
    with engine.connect() as conn:
        statuses = set(
            conn.execute(select(CollectionRun.status).where(CollectionRun.tenant_id == UNLICENSED)).scalars()
        )
    assert statuses == {"ok", NOT_LICENSED}  # never recorded as an error

    asked = _reports_requests(sim, UNLICENSED)
    later = now + timedelta(hours=1)  # the next cycles of the day do not ask again
    again = collect_once(settings, engine, only_tenants={UNLICENSED}, clock=lambda: later)
    assert again.errors == [] and again.skipped == len(LICENCE_BOUND)
    assert _reports_requests(sim, UNLICENSED) == asked
    assert _rows(settings, engine, UNLICENSED)[SIGNINS]["state"] == "not licensed"

    next_day = now + timedelta(days=1)  # re-checked once a day
    collect_once(settings, engine, only_tenants={UNLICENSED}, clock=lambda: next_day)
    assert _reports_requests(sim, UNLICENSED) > asked


def test_an_unconsented_tenant_shows_consent_needed_with_its_consent_link(sim, tmp_path):
    settings, engine = _settings(sim, tmp_path)
    now = _now()
    report = collect_once(settings, engine, only_tenants={UNCONSENTED}, clock=lambda: now)
    assert report.errors == []
    rows = _rows(settings, engine, UNCONSENTED)
    assert SIGNINS in rows and "conditionalAccessPolicies" in rows
    assert {r["state"] for r in rows.values()} == {"consent needed"}
    link = f"https://login.microsoftonline.com/{UNCONSENTED}/adminconsent?client_id={DEMO_GRAPH_CLIENT_ID}"
    assert {r["adminConsentUrl"] for r in rows.values()} == {link}
    assert "AADSTS700016" in rows[SIGNINS]["stateDetail"]
    # The whole tenant waits for its re-check: the next cycle does not ask it at all
    with engine.connect() as conn:
        runs = len(conn.execute(select(CollectionRun.id).where(CollectionRun.tenant_id == UNCONSENTED)).all())
    later = now + timedelta(minutes=5)
    again = collect_once(settings, engine, only_tenants={UNCONSENTED}, clock=lambda: later)
    assert again.errors == [] and again.skipped == len(rows)
    with engine.connect() as conn:
        assert (
            len(conn.execute(select(CollectionRun.id).where(CollectionRun.tenant_id == UNCONSENTED)).all())
            == runs
        )


def test_the_simulators_token_endpoint_refuses_an_unconsented_tenant_as_entra_does(sim):
    form = {
        "grant_type": "client_credentials",
        "client_id": DEMO_GRAPH_CLIENT_ID,
        "client_secret": "x",
        "scope": "https://graph.microsoft.com/.default",
    }
    refused = httpx.post(f"{sim.url}/{UNCONSENTED}/oauth2/v2.0/token", data=form)
    assert refused.status_code == 400
    assert refused.json()["error_codes"] == [700016]
    assert refused.json()["error_description"].startswith("AADSTS700016: ")
    granted = httpx.post(f"{sim.url}/{UNLICENSED}/oauth2/v2.0/token", data=form)
    assert granted.status_code == 200 and granted.json()["token_type"] == "Bearer"


def test_the_401_form_of_the_licence_answer_is_not_licensed_for_licence_bound_sources_only():
    error = GraphError(
        "HTTP 401: Authentication_RequestFromNonPremiumTenantOrB2CTenant: Neither "
        "tenant is B2C or tenant doesn't have premium license",
        401,
    )
    assert classify(error, SIGNINS) == NOT_LICENSED
    assert classify(error, "userRegistrationDetails") == NOT_LICENSED
    assert classify(error, "users") is None  # any other source: a plain error
    assert (
        classify(GraphError("HTTP 403: Authorization_RequestDenied: Insufficient privileges", 403), SIGNINS)
        is None
    )
    for code in ("700016", "7000229", "65001"):
        assert classify(RuntimeError(f"Authentication failed: AADSTS{code}: ..."), "users") == CONSENT_NEEDED
    assert (
        classify(RuntimeError("Authentication failed: AADSTS7000215: Invalid client secret"), "users") is None
    )


def test_the_consent_link_is_built_only_from_guids():
    tenant = "4E52EDCC-0BDC-5410-95FA-0AD1AC9AC6CA"
    assert admin_consent_url(tenant, DEMO_GRAPH_CLIENT_ID) == (
        f"https://login.microsoftonline.com/{tenant.lower()}/adminconsent?client_id={DEMO_GRAPH_CLIENT_ID}"
    )
    for bad in (
        "contoso.onmicrosoft.com",
        "evil.example/x?",
        f"{UNCONSENTED}#x",
        "",
        None,
        "4e52edcc0bdc541095fa0ad1ac9ac6ca0000",
    ):
        assert admin_consent_url(bad, DEMO_GRAPH_CLIENT_ID) is None
    assert admin_consent_url(UNCONSENTED, "not-a-guid") is None


@pytest.fixture(scope="module")
def both(simulator, tmp_path_factory):
    """A database where the MSP, an unlicensed and an unconsented client were collected."""
    url = f"sqlite:///{tmp_path_factory.mktemp('states') / 'perimeter.db'}"
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    engine = open_database(url)
    now = _now()
    report = collect_once(
        settings, engine, clock=lambda: now, only_tenants={settings.msp_tenant_id, UNLICENSED, UNCONSENTED}
    )
    assert report.errors == []
    return settings, engine


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(
        {"PERIMETER_DATABASE_URL": settings.database_url, "PERIMETER_SIMULATOR_URL": settings.simulator_url}
    )
    return subprocess.run(
        [sys.executable, "-m", "collectors", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_json_and_table_show_each_sources_state(both):
    settings, _ = both
    result = _cli(settings, "status", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    states = {(r["tenantId"], r["source"]): r["state"] for r in data["sources"]}
    assert states[(UNLICENSED, SIGNINS)] == "not licensed"
    assert states[(UNLICENSED, "conditionalAccessPolicies")] == "fresh"
    assert states[(UNCONSENTED, "users")] == "consent needed"
    assert set(states.values()) <= {"fresh", "stale", "failing", "not licensed", "consent needed"}
    summary = data["summary"]
    assert summary["failing"] == 0
    assert summary["states"]["not licensed"] == len(LICENCE_BOUND)
    assert summary["states"]["consent needed"] >= 7

    table = _cli(settings, "status")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    coho = [line for line in lines if line.startswith("Coho Winery") and " signIns " in line]
    assert coho and "not licensed" in coho[0] and "ERROR" not in table.stdout
    link = f"https://login.microsoftonline.com/{UNCONSENTED}/adminconsent?client_id={DEMO_GRAPH_CLIENT_ID}"
    assert any(
        line.startswith("Graphic Design Institute") and line.endswith(f"consent needed: {link}")
        for line in lines
    )
    assert f"{len(LICENCE_BOUND)} not licensed" in lines[-1] and "consent needed" in lines[-1]


def test_the_snapshot_says_why_a_source_is_missing(both):
    from collectors.snapshot import build_snapshot

    settings, engine = both
    tenants = {t["tenantId"]: t for t in build_snapshot(settings, engine)["tenants"]}
    coho, gdi = tenants[UNLICENSED], tenants[UNCONSENTED]
    assert "signIns" not in coho and "userRegistrationDetails" not in coho
    assert coho["sourceStatus"][SIGNINS]["state"] == NOT_LICENSED
    assert coho["sourceStatus"]["conditionalAccessPolicies"]["state"] == "ok"
    assert coho["sourceStatus"][SIGNINS]["lastError"] is None  # a state, not an error
    assert {s["state"] for s in gdi["sourceStatus"].values()} == {CONSENT_NEEDED}


def test_the_collectors_page_shows_not_licensed_and_consent_needed_apart_from_failing(both, app_test):
    settings, _ = both
    at = app_test(settings.database_url, settings.simulator_url).run()
    at.switch_page("pages/collectors.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Failing"] == "0"
    assert metrics["Not licensed"] == str(len(LICENCE_BOUND))
    assert metrics["Consent needed"] == "1"  # one tenant
    table = at.dataframe[0].value
    states = set(table["State"])
    assert {"not licensed", "consent needed"} <= states and "failing" not in states
    [button] = at.get("link_button")
    assert button.proto.label == "Grant admin consent"
    assert button.proto.url == (
        f"https://login.microsoftonline.com/{UNCONSENTED}/adminconsent?client_id={DEMO_GRAPH_CLIENT_ID}"
    )
    assert any("Consent needed" == s.value for s in at.subheader)


def test_the_demo_app_id_is_the_simulators():
    assert DEMO_GRAPH_CLIENT_ID == demo.PERIMETER_APP_ID


def test_the_tenants_page_says_consent_needed_and_counts_not_licensed_sources(both, app_test):
    settings, _ = both
    at = app_test(settings.database_url, settings.simulator_url).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("Tenant")
    assert table.loc["Graphic Design Institute", "Freshness"] == "consent needed"
    coho = table.loc["Coho Winery", "Freshness"]
    assert coho.endswith(f" · {len(LICENCE_BOUND)} not licensed") and "failing" not in coho
