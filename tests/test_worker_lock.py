"""One collecting worker per database (db.worker_lock): a second worker started by mistake waits, says
who holds the lock, and takes over when the first is killed. Real worker processes against the
simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text

from db import write_transaction
from db.models import CollectionRun, CollectRequest
from db.worker_lock import WORKER_LOCK_KEY, WorkerLock
from support import ROOT

WAITING = "another worker already collects into this database"
TOOK_OVER = "this worker holds the lock and collects now"
_HOLDER_PID = text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :key "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class Worker:
    """`python -m collectors worker` on the test database, its output in a log file."""

    def __init__(self, url: str, simulator_url: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
        env.update(
            PERIMETER_DATABASE_URL=url,
            PERIMETER_SIMULATOR_URL=simulator_url,
            PERIMETER_COLLECT_INTERVAL_SECONDS="3600",
            PERIMETER_SIGNIN_INTERVAL_SECONDS="3600",
            PERIMETER_MAX_CONCURRENT_TENANTS="8",
        )
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collectors", "worker"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def _wait(predicate: Callable[[], bool], timeout: float, what: str, *workers: Worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for worker in workers:
            if worker.process.poll() is not None:
                raise AssertionError(
                    f"a worker exited ({worker.process.returncode}) while waiting for {what}:\n"
                    + worker.output()[-2000:]
                )
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _cycles(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count(func.distinct(CollectionRun.cycle_id)))).scalar() or 0)


@pytest.fixture
def workers(url: str, simulator, tmp_path: Path) -> Iterator[Callable[[str], Worker]]:  # type: ignore[no-untyped-def]
    """Start named workers on the test database; every one is stopped afterwards."""
    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(url, simulator.url, tmp_path / f"{name}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_a_second_worker_waits_and_only_the_first_collects_and_answers_collect_now(engine, workers):
    first = workers("first")
    _wait(lambda: _cycles(engine) >= 1, 180, "the first worker's first cycle", first)
    second = workers("second")
    _wait(lambda: WAITING in second.output(), 60, "the second worker to wait", first, second)
    with write_transaction(engine) as conn:
        conn.execute(insert(CollectRequest).values(requested_at=datetime.utcnow(), requested_by="test"))

    def answered() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(CollectRequest.done_at)).scalar() is not None

    _wait(answered, 180, "the collect-now request", first, second)
    # The first worker's start and its answer to "collect now": the second, which would have started a
    # cycle at once, has collected nothing and is still waiting.
    assert _cycles(engine) == 2
    assert "worker started" not in second.output()
    assert "collect-now requested" in first.output()
    assert second.process.poll() is None


def test_a_waiting_worker_takes_over_when_the_first_is_killed(engine, workers):
    first = workers("first")
    _wait(lambda: "worker started" in first.output(), 60, "the first worker to start", first)
    second = workers("second")
    _wait(lambda: WAITING in second.output(), 60, "the second worker to wait", first, second)
    collected = _cycles(engine)
    first.process.kill()  # SIGKILL: no clean-up of its own; the OS or the server releases the lock
    first.process.wait(timeout=20)
    _wait(lambda: TOOK_OVER in second.output(), 60, "the second worker to take over", second)
    _wait(lambda: _cycles(engine) > collected, 180, "the second worker's first cycle", second)


def test_the_waiting_side_is_told_who_holds_the_lock(engine, url):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from db import get_engine\n"
            "from db.worker_lock import WorkerLock\n"
            "lock = WorkerLock(get_engine(sys.argv[1]))\n"
            "print(lock.try_acquire(), flush=True)\n"
            "sys.stdin.read()\n",
            url,
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        lock = WorkerLock(engine)
        assert not lock.try_acquire()
        assert f"pid {holder.pid} on " in lock.holder()
    finally:
        holder.kill()
        holder.wait(timeout=20)


def test_a_worker_whose_lock_session_is_cut_takes_the_lock_again(engine, workers):
    if engine.dialect.name != "postgresql":
        pytest.skip("only a PostgreSQL session can be cut while the worker lives")
    worker = workers("only")
    _wait(lambda: "worker started" in worker.output(), 60, "the worker to start", worker)
    with engine.connect() as conn:
        holder = conn.execute(_HOLDER_PID, {"key": WORKER_LOCK_KEY}).scalar()
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder}).scalar()
    _wait(lambda: "the lock is taken again" in worker.output(), 120, "the lock to be taken again", worker)
    with engine.connect() as conn:
        assert conn.execute(_HOLDER_PID, {"key": WORKER_LOCK_KEY}).scalar() not in (None, holder)
