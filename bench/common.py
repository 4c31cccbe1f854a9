"""What the benchmarks share: the database argument they take and the peak memory they report."""

from __future__ import annotations

import resource
from pathlib import Path


def database_url(argument: str) -> str:
    """A SQLAlchemy URL as given; anything else is a SQLite file, made absolute."""
    return argument if "://" in argument else f"sqlite:///{Path(argument).resolve()}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
