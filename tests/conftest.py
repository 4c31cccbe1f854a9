"""Shared fixtures: a fresh SQLite file per test, settings pointing at it, a running simulator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "graph-samples"
if not SAMPLES.is_dir():  # CI clones the repo with shared/ beside it; keep a fallback copy
    SAMPLES = ROOT / "tests" / "graph-samples"

# Tests never read the developer's .env or environment (the test database URL is kept aside).
_POSTGRES = os.environ.get("PERIMETER_TEST_POSTGRES_URL", "")
for key in list(os.environ):
    if key.startswith("PERIMETER_"):
        del os.environ[key]

FIXED_NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perimeter.db'}"


POSTGRES_URL = _POSTGRES


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, db_url: str):  # type: ignore[no-untyped-def]
    """The database, on SQLite and (where PERIMETER_TEST_POSTGRES_URL is set, as in CI) PostgreSQL."""
    from db import open_database

    if request.param == "sqlite":
        yield open_database(db_url)
        return
    if not POSTGRES_URL:
        pytest.skip("PERIMETER_TEST_POSTGRES_URL not set (.ci/postgres.sh starts one)")
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"perimeter_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = open_database(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def simulator() -> Iterator:
    """A simulator on a free loopback port with a fixed clock; faults reset per test."""
    from simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(simulator) -> Iterator:  # type: ignore[no-untyped-def]
    import httpx

    httpx.post(f"{simulator.url}/_sim/faults", json={"faults": []})
    httpx.post(f"{simulator.url}/_sim/stats/reset")
    yield simulator
    httpx.post(f"{simulator.url}/_sim/faults", json={"faults": []})


@pytest.fixture
def demo_settings(db_url: str, simulator):  # type: ignore[no-untyped-def]
    from settings import load_settings

    return load_settings(database_url=db_url, simulator_url=simulator.url)


def sample(name: str) -> dict:
    import json

    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def collect_demo(simulator, tmp_path_factory, name: str):  # type: ignore[no-untyped-def]
    """A fresh database filled by one full collection cycle of the simulator: (url, engine)."""
    from collectors.run import collect_once
    from db import open_database
    from settings import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'perimeter.db'}"
    engine = open_database(url)
    report = collect_once(load_settings(database_url=url, simulator_url=simulator.url), engine,
                          clock=lambda: FIXED_NOW)
    assert not report.errors, report.errors
    return url, engine


def dashboard_app(monkeypatch, db_url: str, simulator_url: str | None = None, timeout: int = 60):
    """An AppTest of dashboard.py on ``db_url`` with settings and Streamlit caches reset."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from settings import get_settings

    monkeypatch.setenv("PERIMETER_DATABASE_URL", db_url)
    if simulator_url:
        monkeypatch.setenv("PERIMETER_SIMULATOR_URL", simulator_url)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
