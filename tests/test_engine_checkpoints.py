"""The bulk writer's WAL checkpoints run on a thread of their own (db.engine.checkpoint_in_background)."""

from pathlib import Path

import pytest

import db.engine
from db import checkpoint_in_background, drain_checkpoints, open_database, write_transaction
from db.store import store_signins
from support import sample

TEMPLATE = sample("signins_beta_list_ex1_password_failure_50126.response.json")["value"][0]


@pytest.fixture
def bulk(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = open_database(f"sqlite:///{tmp_path / 'bulk.db'}")
    checkpoint_in_background(engine)
    yield engine
    drain_checkpoints(engine, timeout=30)
    engine.dispose()


def _store_pages(engine, pages: int, first: int = 0) -> None:  # type: ignore[no-untyped-def]
    for page in range(first, first + pages):
        values = [
            {**TEMPLATE, "id": f"{page:06d}-{i:06d}", "createdDateTime": "2026-11-21T10:00:00Z"}
            for i in range(500)
        ]
        with write_transaction(engine) as conn:
            store_signins(conn, "t1", values)


def test_a_bulk_writers_commits_leave_the_checkpoint_to_the_background(bulk):
    with bulk.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0


def test_other_engines_keep_sqlites_automatic_checkpoint(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'plain.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_the_background_checkpointer_copies_the_wal_into_the_database(bulk, tmp_path: Path):
    database = tmp_path / "bulk.db"
    before = database.stat().st_size
    _store_pages(bulk, 4)  # ~1.2 MB of sign-ins: with no checkpoint at all they stay in the WAL only
    assert drain_checkpoints(bulk, timeout=30)
    assert database.stat().st_size > before + 1_000_000


def test_the_checkpointer_stops_when_idle_and_starts_again_on_the_next_write(bulk, monkeypatch):
    monkeypatch.setattr(db.engine, "CHECKPOINTER_IDLE_SECONDS", 0.05)
    checkpointer = db.engine._checkpointers[bulk]
    _store_pages(bulk, 1)
    thread = checkpointer._thread
    assert thread is not None
    assert drain_checkpoints(bulk, timeout=30)
    thread.join(timeout=5)
    assert not thread.is_alive() and checkpointer._thread is None
    _store_pages(bulk, 1, first=1)
    assert checkpointer._thread is not None
    assert drain_checkpoints(bulk, timeout=30)
