"""Collection health per tenant and source, for `collectors status` and the dashboard."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from collectors.states import (
    CONSENT_NEEDED,
    FAILING,
    FRESH,
    LABELS,
    NOT_LICENSED,
    STALE,
    admin_consent_url,
    reader_state,
)
from connectors.sources import SIGNINS
from db.queries import source_status
from db.rows import cyclic_gc_paused
from settings import Settings

FRESH_FACTOR = 3  # a source is fresh while its last success is younger than 3 of its intervals


def fresh_limits(settings: Settings) -> tuple[dict[str, float], float]:
    """How old each source may be and still count as fresh."""
    return (
        {SIGNINS: settings.signin_interval_seconds * FRESH_FACTOR},
        settings.collect_interval_seconds * FRESH_FACTOR,
    )


def status_rows(settings: Settings, engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per tenant and source, in a reader's words, as of ``now`` (default: the clock)."""
    per_source, default = fresh_limits(settings)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    # 500 tenants are ~4,000 rows of new objects: without the cycle collector's passes over the whole
    # process on the way (the posture page's p95).
    with engine.connect() as conn, cyclic_gc_paused():
        rows = [row.as_dict() for row in source_status(conn, now, per_source, default)]
    for row in rows:
        # The reader's word lives with the collectors' states vocabulary (db/ knows the stored state only).
        row["state"] = reader_state(row.pop("standing"), row["failing"], row["fresh"])
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


@dataclass(frozen=True)
class CollectionHealth:
    """The one summary of collection every page, the wall and the CLI show. Counts are of data
    sources: the posture run recorded beside them is not data, and a standing state (not licensed,
    consent needed) is what a tenant is, not a collection problem; both are counted apart, so
    fresh + stale + failing = sources and "fresh" never sits beside an unexplained failure."""

    tenants: int
    sources: int  # data sources that can be collected (standing states left out)
    fresh: int
    stale: int
    failing: int
    failing_tenants: int
    not_licensed: int
    consent_needed: int
    newest_age_seconds: int | None  # the youngest data source's last success
    oldest_age_seconds: int | None  # the oldest (sources never collected aside)
    latest_error_at: str | None  # among failing sources
    data_up_to: str | None  # the oldest last success of a collectable source: all data is at least this new

    def words(self) -> str:
        """'184/184 sources fresh · 0 failing · 4 not licensed · 7 consent needed'."""
        standing = "".join(
            f" · {n} {label}"
            for n, label in ((self.not_licensed, "not licensed"), (self.consent_needed, "consent needed"))
            if n
        )
        stale = f" · {self.stale} stale" if self.stale else ""
        return f"{self.fresh}/{self.sources} sources fresh{stale} · {self.failing} failing{standing}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collection_health(rows: list[dict[str, Any]]) -> CollectionHealth:
    """From status_rows(): the counts and ages a reader needs, computed once."""
    data = [r for r in rows if not r.get("derived")]
    states = [r["state"] for r in data]
    collectable = [r for r, state in zip(data, states, strict=True) if state in (FRESH, STALE, FAILING)]
    failing = [r for r in collectable if r["state"] == FAILING]
    ages = [r["ageSeconds"] for r in collectable if r["ageSeconds"] is not None]
    successes = [r["lastSuccess"] for r in collectable if r["lastSuccess"]]
    return CollectionHealth(
        tenants=len({r["tenantId"] for r in rows}),
        sources=len(collectable),
        fresh=states.count(FRESH),
        stale=states.count(STALE),
        failing=len(failing),
        failing_tenants=len({r["tenantId"] for r in failing}),
        not_licensed=states.count(LABELS[NOT_LICENSED]),
        consent_needed=states.count(LABELS[CONSENT_NEEDED]),
        newest_age_seconds=min(ages) if ages else None,
        oldest_age_seconds=max(ages) if ages else None,
        latest_error_at=max((r["lastErrorAt"] for r in failing if r["lastErrorAt"]), default=None),
        data_up_to=min(successes) if successes else None,
    )


@dataclass(frozen=True)
class ErrorGroup:
    """Collection errors with one cause at one host (collectors.run.failure_text writes
    '<cause> at <host>: <detail>')."""

    cause: str
    host: str
    runs: int
    tenants: int  # at most: tenants are counted per distinct text
    first: datetime
    last: datetime
    example: str  # one detail as written (redacted when recorded)
    example_tenant: str


def error_groups(rows: list[tuple[Any, ...]]) -> list[ErrorGroup]:
    """db.queries.recent_errors rows grouped by cause and host, the latest first."""
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        head, _, _detail = str(row[0] or "").partition(": ")
        cause, _, host = head.partition(" at ")
        grouped.setdefault((cause, host or "unknown host"), []).append(row)
    out = []
    for (cause, host), members in grouped.items():
        latest = max(members, key=lambda m: m[5])
        out.append(
            ErrorGroup(
                cause=cause or "unknown error",
                host=host,
                runs=sum(m[1] for m in members),
                tenants=min(sum(m[2] for m in members), sum(m[1] for m in members)),
                first=min(m[4] for m in members),
                last=latest[5],
                example=str(latest[0] or "").partition(": ")[2],
                example_tenant=str(latest[6] or ""),
            )
        )
    return sorted(out, key=lambda g: g.last, reverse=True)
