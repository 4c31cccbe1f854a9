"""Storage: the engine factory, models, migrations, and the queries pages and CLIs use."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from db.engine import (
    checkpoint_in_background,
    drain_checkpoints,
    get_engine,
    read_connection,
    write_transaction,
)
from db.migrate import upgrade
from db.partitions import ensure_partitions_now

__all__ = [
    "open_database",
    "get_engine",
    "read_connection",
    "write_transaction",
    "checkpoint_in_background",
    "drain_checkpoints",
]

_migrated: set[str] = set()


def open_database(url: str) -> Engine:
    """The engine for ``url`` with migrations applied (once per process)."""
    engine = get_engine(url)
    if url not in _migrated:
        upgrade(engine)
        ensure_partitions_now(engine, datetime.now(UTC).replace(tzinfo=None))  # PostgreSQL's coming days
        _migrated.add(url)
    return engine
