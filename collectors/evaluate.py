"""After each full collection cycle: evaluate posture on what was collected and keep it (the
latest findings for pages and CLI, and a daily history for trends)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from collectors.snapshot import build_snapshot
from db import write_transaction
from db.posture_store import purge_history, store_evaluation
from db.rows import parse_graph_datetime
from posture import PostureOptions, apply_accepted, evaluate
from posture.accepted import load_accepted
from settings import Settings


def options_from_settings(settings: Settings, cipp_app_ids: list[str] | None = None) -> PostureOptions:
    """The engine's options as this installation is configured (one place for CLI and worker)."""
    configured = [settings.cipp_app_id] if settings.cipp_app_id else []
    return PostureOptions(signin_window_hours=settings.signin_window_hours,
                          cipp_app_ids=tuple(cipp_app_ids or configured))


def evaluate_and_store(settings: Settings, engine: Engine, now: datetime) -> dict[str, Any]:
    """Evaluate the latest collected data and store the findings; returns a small summary."""
    snapshot = build_snapshot(settings, engine, signins="posture")
    raw = evaluate(snapshot, options_from_settings(settings))
    with_accepted = apply_accepted(raw, load_accepted(engine), now)
    with write_transaction(engine) as conn:
        store_evaluation(conn, evaluated_at=now,
                         collected_at=parse_graph_datetime(snapshot["collectedAt"]),
                         raw=[f.as_dict() for f in raw],
                         with_accepted=[f.as_dict() for f in with_accepted])
        purge_history(conn, (now - timedelta(days=settings.posture_history_days)).date())
    return {"findings": len(raw), "failing": sum(f.status == "fail" for f in with_accepted)}
