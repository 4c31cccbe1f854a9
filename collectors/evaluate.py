"""After each full collection cycle: evaluate posture on what was collected and keep it (the
latest findings for pages and CLI, and a daily history for trends)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from collectors.snapshot import build_snapshot
from collectors.status import collection_health, status_rows
from db import write_transaction
from db.history import purge_change_history
from db.mfa_store import purge_mfa_coverage, store_mfa_coverage
from db.posture_store import load_accepted, purge_history, store_evaluation
from db.rows import cyclic_gc_paused
from db.signin_aggregates import compute_rankings, store_rankings
from graphjson.times import parse_graph_datetime
from investigate.mfa import coverage
from posture import apply_accepted, evaluate
from settings import Settings, posture_options

log = logging.getLogger("perimeter.collectors")


def evaluate_and_store(settings: Settings, engine: Engine, now: datetime) -> dict[str, Any]:
    """Evaluate the latest collected data and store the findings; returns a small summary."""
    # 500 tenants are ~500,000 parsed objects: with the cycle collector running, its passes over them
    # took as long as the work itself. The snapshot is freed before it resumes.
    with cyclic_gc_paused():
        return _evaluate_and_store(settings, engine, now)


def _evaluate_and_store(settings: Settings, engine: Engine, now: datetime) -> dict[str, Any]:
    snapshot = build_snapshot(settings, engine, signins="posture")
    options = posture_options(settings)
    raw = evaluate(snapshot, options)
    with engine.connect() as conn:
        accepted = load_accepted(conn)
    with_accepted = apply_accepted(raw, accepted, now)
    health = collection_health(status_rows(settings, engine))
    try:  # the MFA page's history (same rules as MFA-1..3); never at the cost of the findings
        mfa = coverage(snapshot, raw, options)
    except Exception:  # noqa: BLE001 - logged; the findings are still stored
        log.exception("MFA coverage could not be computed")
        mfa = None
    with write_transaction(engine) as conn:
        store_evaluation(
            conn,
            evaluated_at=now,
            collected_at=parse_graph_datetime(snapshot["collectedAt"]),
            raw=[f.as_dict() for f in raw],
            with_accepted=[f.as_dict() for f in with_accepted],
            data_up_to=parse_graph_datetime(health.data_up_to) if health.data_up_to else None,
            sources_failing=health.failing,
        )
        purge_history(conn, (now - timedelta(days=settings.posture_history_days)).date())
        purge_change_history(conn, now - timedelta(days=settings.posture_history_days))
        if mfa is not None:
            store_mfa_coverage(conn, now.date(), mfa)
        purge_mfa_coverage(conn, (now - timedelta(days=settings.posture_history_days)).date())
    refresh_signin_rankings(engine, now)
    return {"findings": len(raw), "failing": sum(f.status == "fail" for f in with_accepted)}


def refresh_signin_rankings(engine: Engine, now: datetime) -> None:
    """The month's top IPs and users for the investigation page (too costly to rank per page view)."""
    try:
        with engine.connect() as conn:
            rows = compute_rankings(conn, now)
        with write_transaction(engine) as conn:
            store_rankings(conn, rows)
    except Exception:  # noqa: BLE001 - logged; the page ranks live (slower) without them
        log.exception("sign-in rankings could not be refreshed")
