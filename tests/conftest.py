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

# Tests never read the developer's .env or environment.
for key in list(os.environ):
    if key.startswith("PERIMETER_"):
        del os.environ[key]

FIXED_NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'perimeter.db'}"


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    from db import open_database

    return open_database(db_url)


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
