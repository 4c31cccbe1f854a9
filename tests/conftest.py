"""Fixtures only (helpers are in support.py): a fresh SQLite file per test, the database on SQLite and
PostgreSQL, a running simulator, the demo MSP collected once per test process, the AppTest harness.

Safe under pytest-xdist (`make test` runs `-n auto --dist loadfile`): every path is under the test's or
the worker's own temporary directory, every server takes a free port, every PostgreSQL database a new
name; a module's tests stay on one worker, so module-scoped fixtures are built once."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alerts_support import Receiver, receiving
from browser_support import launch_chromium, running_dashboard

from support import FIXED_NOW, collect_demo, collect_into, dashboard_app

# Tests never read the developer's .env or environment (the test database URL is kept aside, also for
# pytest-xdist's workers: they start with this process's environment, after the clean-up below).
_POSTGRES_KEPT = "PYTEST_PERIMETER_POSTGRES_URL"
POSTGRES_URL = os.environ.get("PERIMETER_TEST_POSTGRES_URL") or os.environ.get(_POSTGRES_KEPT, "")
os.environ[_POSTGRES_KEPT] = POSTGRES_URL
for key in list(os.environ):
    if key.startswith("PERIMETER_"):
        del os.environ[key]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):  # type: ignore[no-untyped-def]
    """--dist loadfile, with the browser test files (tests/test_browser*.py) as one unit: one worker runs
    them one after the other, so at most one `streamlit run` and one Chromium draw pages at a time (two
    side by side, beside the other worker's tests, can slow a first page past the tests' timeouts: seen
    once under load)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "browser tests" if Path(path).name.startswith("test_browser") else path

    return Scheduling(config, log)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perimeter.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, db_url: str):  # type: ignore[no-untyped-def]
    """The database, on SQLite and (where PERIMETER_TEST_POSTGRES_URL is set: `make test` sets it)
    PostgreSQL."""
    from db import open_database

    if request.param == "sqlite":
        yield open_database(db_url)
        return
    if not POSTGRES_URL:
        pytest.skip("PERIMETER_TEST_POSTGRES_URL not set (`make test` starts a PostgreSQL)")
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


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory) -> Path:
    """One full collection cycle of the demo MSP, made once per test process from a simulator configured
    as the ``simulator`` fixture's (seed 7, clock at FIXED_NOW) that no test touches. Tests never open
    it: support.collect_demo gives each caller a copy."""
    from simulator import SimConfig, Simulator

    path = tmp_path_factory.mktemp("demo-database") / "perimeter.db"
    with Simulator(SimConfig(seed=7, now=FIXED_NOW)) as simulator:
        collect_into(f"sqlite:///{path}", simulator.url).dispose()
    return path


@pytest.fixture
def app_test(monkeypatch) -> Iterator[Callable]:
    """The AppTest harness of the dashboard's pages: ``app_test(db_url, simulator_url=None, timeout=60,
    now=None)`` is an AppTest of dashboard.py on that database (support.dashboard_app); the settings
    are cleared again afterwards."""
    from settings import get_settings

    yield functools.partial(dashboard_app, monkeypatch)
    get_settings.cache_clear()


# --- browser tests (tests/test_browser*.py): a module's own copy of the demo, its dashboard, Chromium ---


@pytest.fixture(scope="module")
def demo(request, demo_database, tmp_path_factory):  # type: ignore[no-untyped-def]
    """This module's own copy of the collected demo (its tests may write to it): (url, engine)."""
    return collect_demo(demo_database, tmp_path_factory, request.module.__name__.rpartition(".")[2])


@pytest.fixture(scope="module")
def dashboard(demo, simulator, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`streamlit run dashboard.py` on the module's demo copy: its base URL."""
    with running_dashboard(demo[0], simulator.url, tmp_path_factory.mktemp("logs")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's headless Chromium, one per module."""
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server receiving Apprise's json:// webhook (the alert tests' channel)."""
    with receiving() as r:
        yield r


@pytest.fixture
def url(engine) -> str:  # type: ignore[no-untyped-def]
    """The test database's URL (SQLite, and PostgreSQL where ``engine`` runs there too)."""
    return engine.url.render_as_string(hide_password=False)
