"""Dashboard pages with Streamlit's AppTest (no browser), on a database filled by the collectors."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from collectors.run import collect_once
from conftest import FIXED_NOW, ROOT
from db import open_database
from db.models import CollectRequest

DASHBOARD = str(ROOT / "dashboard.py")


@pytest.fixture(scope="module")
def filled_db(simulator, tmp_path_factory):
    from settings import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'perimeter.db'}"
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    engine = open_database(url)
    client = None
    report = collect_once(settings, engine, clock=lambda: FIXED_NOW)
    assert not report.errors
    return url, simulator.url, engine, client


@pytest.fixture
def app(filled_db, monkeypatch):
    url, sim_url, *_ = filled_db
    monkeypatch.setenv("PERIMETER_DATABASE_URL", url)
    monkeypatch.setenv("PERIMETER_SIMULATOR_URL", sim_url)
    from settings import get_settings

    get_settings.cache_clear()
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield AppTest.from_file(DASHBOARD, default_timeout=60)
    get_settings.cache_clear()


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [t.value for t in at.title] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _sidebar_texts(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.sidebar.caption)


def test_tenants_page_lists_every_tenant_with_demo_marker(app):
    at = app.run()
    assert not at.exception
    assert "Demo data" in _texts(at)
    assert "DEMO DATA" in _sidebar_texts(at)
    table = at.dataframe[0].value
    assert len(table) >= 26
    assert {"Tenant", "Domain", "Access mode", "Freshness"} <= set(table.columns)
    assert set(table["Access mode"]) >= {"gdap", "direct"}


def test_tenants_page_filter_narrows_the_list(app):
    at = app.run()
    first = at.dataframe[0].value["Tenant"].iloc[1]
    at.text_input[0].input(first).run()
    names = list(at.dataframe[0].value["Tenant"])
    assert first in names and len(names) < 26


def test_collectors_page_shows_sources_and_demo_marker(app):
    at = app.run()
    at.switch_page("pages/collectors.py").run()
    assert not at.exception
    # AppTest drops the entry point's elements after switch_page; the demo marker on every page is
    # asserted in a real browser by test_browser.py.
    table = at.dataframe[0].value
    assert {"signIns", "conditionalAccessPolicies"} <= set(table["Source"])
    assert not (table["State"] == "failing").any()


def test_collect_now_queues_a_request_for_the_worker(app, filled_db):
    *_, engine, _ = filled_db
    at = app.run()
    at.switch_page("pages/collectors.py").run()
    button = next(b for b in at.button if b.label == "Collect now")
    button.click().run()
    assert not at.exception
    with engine.connect() as conn:
        pending = conn.execute(select(CollectRequest).where(CollectRequest.done_at.is_(None))).all()
    assert len(pending) == 1
    assert any("Collection requested" in i.value for i in at.info)


def test_a_bad_setting_shows_one_line_instead_of_a_traceback(monkeypatch):
    monkeypatch.setenv("PERIMETER_RETENTION_DAYS", "forever")
    from settings import get_settings

    get_settings.cache_clear()
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    get_settings.cache_clear()
    assert not at.exception
    assert "PERIMETER_RETENTION_DAYS" in at.error[0].value
