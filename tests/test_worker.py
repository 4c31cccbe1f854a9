"""The worker process: APScheduler collects on start, answers "collect now", stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from sqlalchemy import func, insert, select

from db import open_database, write_transaction
from db.models import CollectionRun, CollectRequest
from support import ROOT


def _wait(predicate, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"worker exited early ({process.returncode}) while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_collects_answers_collect_now_and_stops_cleanly(simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'perimeter.db'}"
    engine = open_database(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(
        PERIMETER_DATABASE_URL=url,
        PERIMETER_SIMULATOR_URL=simulator.url,
        PERIMETER_COLLECT_INTERVAL_SECONDS="3600",
        PERIMETER_SIGNIN_INTERVAL_SECONDS="3600",
        PERIMETER_MAX_CONCURRENT_TENANTS="8",
    )
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "collectors", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def cycles() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count(func.distinct(CollectionRun.cycle_id)))).scalar()

    try:
        _wait(lambda: cycles() >= 1, 120, "the first cycle", worker)
        with write_transaction(engine) as conn:
            conn.execute(insert(CollectRequest).values(requested_at=datetime.utcnow(), requested_by="test"))

        def answered() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(CollectRequest.done_at)).scalar() is not None

        _wait(answered, 180, "the collect-now request", worker)
        assert cycles() >= 2
        with engine.connect() as conn:
            result = conn.execute(select(CollectRequest.result)).scalar()
        assert "sources collected" in result
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=60)
        finally:
            log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()[-2000:]
