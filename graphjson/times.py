"""Graph timestamps and the clock, in one place.

The database stores naive UTC; readers of snapshots and findings compare aware UTC. Graph writes
'2026-11-21T10:00:00Z' with 0 to 7 fractional digits (Python parses at most 6).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """Now, as naive UTC (what the database stores)."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_graph_datetime(value: str) -> datetime:
    """A Graph timestamp as naive UTC; raises ValueError when it is not one (the ingest path's parser:
    the common shapes parse natively, fast)."""
    try:  # the common shapes ('…:32Z', '…:32.123Z') parse natively; UTC 'Z' straight to naive
        parsed = datetime.fromisoformat(value[:-1] if value[-1:] == "Z" else value)
    except ValueError:
        parsed = None
    if parsed is not None:
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1]
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        tail = frac[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def read_graph_datetime(value: Any) -> datetime | None:
    """A Graph timestamp from untrusted JSON (a snapshot, a finding) as aware UTC; None when the value is
    missing or not a timestamp."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_graph_datetime(value.strip()).replace(tzinfo=UTC)
    except ValueError:
        return None


def graph_datetime(value: datetime) -> str:
    """A datetime (naive UTC, or aware) in Graph's ISO form with a Z, to the second."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
