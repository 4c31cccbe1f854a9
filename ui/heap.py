"""The dashboard process's long-lived objects, set aside from Python's cycle collector once.

A full collection walks every object the process holds. Streamlit, plotly, SQLAlchemy and the app's
modules are ~150,000 objects: a full collection took 120 ms on the 2-core benchmark machine, and it
lands on whatever page run is under way. On PostgreSQL with 2.5 M sign-ins, a report-only impact
usually took 45 ms, but one call in a few took 130-230 ms (bench/queries.py), and the wall's source
status had the same kind of slow run.

gc.freeze() moves everything alive into a generation the collector never walks. Reference counting
still frees those objects; only reference cycles among them are never collected. So this runs once per
process, after a first page run has imported what the process keeps, and after a full collection, so
that no garbage is frozen with them.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_settled = False


def freeze_startup_heap() -> bool:
    """Collect, then freeze what the process holds: the first call only (later calls return False)."""
    global _settled
    with _lock:
        if _settled:
            return False
        gc.collect()
        gc.freeze()
        _settled = True
        return True
