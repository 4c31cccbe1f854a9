"""Collection health per tenant and source, for `collectors status` and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from collectors.states import CONSENT_NEEDED, FAILING, FRESH, LABELS, STALE, admin_consent_url, reader_state
from connectors.sources import SIGNINS
from db.queries import signin_counts_by_tenant, source_status
from settings import Settings

FRESH_FACTOR = 3  # a source is fresh while its last success is younger than 3 of its intervals


def fresh_limits(settings: Settings) -> tuple[dict[str, float], float]:
    """How old each source may be and still count as fresh."""
    return (
        {SIGNINS: settings.signin_interval_seconds * FRESH_FACTOR},
        settings.collect_interval_seconds * FRESH_FACTOR,
    )


def status_rows(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    per_source, default = fresh_limits(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        rows = [row.as_dict() for row in source_status(conn, now, per_source, default)]
        counts = signin_counts_by_tenant(conn)
    for row in rows:
        # The reader's word lives with the collectors' states vocabulary (db/ knows the stored state only).
        row["state"] = reader_state(row.pop("standing"), row["failing"], row["fresh"])
        if row["source"] == SIGNINS:
            row["storedSignIns"] = counts.get(row["tenantId"], 0)
        # Only from the stored tenant id (checked to be a GUID) and our own client id: never text.
        row["adminConsentUrl"] = (
            admin_consent_url(row["tenantId"], settings.app_client_id)
            if row["state"] == LABELS[CONSENT_NEEDED]
            else None
        )
    return rows


def state_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many sources are in each reader state (fresh, stale, failing, not licensed, consent
    needed), every state present even at zero."""
    counts = dict.fromkeys((FRESH, STALE, FAILING, *LABELS.values()), 0)
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts
