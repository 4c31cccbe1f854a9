"""What the tests share besides fixtures (those are in conftest.py): the repository's paths, the fixed
clock of the demo, the graph samples, a copy of the demo MSP's collected database, and the AppTest
harness of the dashboard's pages."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "graph-samples"
if not SAMPLES.is_dir():  # CI clones the repo with shared/ beside it; keep a fallback copy
    SAMPLES = ROOT / "tests" / "graph-samples"

FIXED_NOW = datetime(2026, 11, 22, 12, 0, 0)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


# --- the demo MSP, collected ------------------------------------------------------------------------


def collect_into(url: str, simulator_url: str):  # type: ignore[no-untyped-def]
    """One full collection cycle of the simulator at ``simulator_url`` into a fresh database: its engine."""
    from collectors.run import collect_once
    from db import open_database
    from settings import load_settings

    engine = open_database(url)
    report = collect_once(
        load_settings(database_url=url, simulator_url=simulator_url), engine, clock=lambda: FIXED_NOW
    )
    assert not report.errors, report.errors
    return engine


def collect_demo(demo_database: Path, tmp_path_factory, name: str):  # type: ignore[no-untyped-def]
    """A database of its own holding one full collection cycle of the demo simulator (seed 7, clock at
    FIXED_NOW): (url, engine). ``demo_database`` is the session's collection (conftest.py), made once per
    test process against a simulator no test touches; this is a copy of it, so a test may write to it."""
    from db import open_database

    path = tmp_path_factory.mktemp(name) / "perimeter.db"
    source, copy = sqlite3.connect(demo_database), sqlite3.connect(path)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    url = f"sqlite:///{path}"
    return url, open_database(url)


# --- the dashboard under AppTest --------------------------------------------------------------------


def dashboard_app(
    monkeypatch,
    db_url: str,
    simulator_url: str | None = None,
    *,
    timeout: int = 60,
    now: datetime | None = None,
):  # type: ignore[no-untyped-def]
    """An AppTest of dashboard.py on ``db_url`` with settings and Streamlit caches reset; ``now`` pins the
    pages' clock (ui.data.utcnow). The ``dashboard`` fixture (conftest.py) calls this and clears the
    settings again afterwards."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from settings import get_settings

    monkeypatch.setenv("PERIMETER_DATABASE_URL", db_url)
    if simulator_url:
        monkeypatch.setenv("PERIMETER_SIMULATOR_URL", simulator_url)
    if now is not None:
        import ui.data

        monkeypatch.setattr(ui.data, "utcnow", lambda: now)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)


def run_page(app: Any, page: str, *, from_the_start: bool = False, **params: str) -> Any:
    """Run the dashboard, switch to ``page`` with ``params`` in its URL and run it; no exception allowed.
    ``from_the_start``: the first run has the parameters too (as when the URL is opened directly)."""
    if from_the_start:
        for key, value in params.items():
            app.query_params[key] = value
    at = app.run()
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at
