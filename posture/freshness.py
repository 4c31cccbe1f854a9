"""How old the data behind each finding is (SPEC "Snapshot v1 additions": ``tenants[].sourceStatus``).

A finding is dated by the sources its check reads (``posture.catalogue.CHECK_SOURCES``): ``dataAsOf``
is the oldest ``lastSuccess`` among them, and ``staleSince`` the earliest failure (``failingSince``, else
``lastError``) of one whose last collection failed after its last success (the finding then shows
data older than the last try).
Without ``sourceStatus`` (a snapshot file) a finding gets neither.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from graphjson.times import read_graph_datetime
from graphjson.values import as_dict, lower
from posture.catalogue import CHECK_SOURCES
from posture.findings import Finding
from posture.view import SnapshotView

CIPP_PREFIX = "cipp."


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


Statuses = dict[str, dict[str, Any]]  # lower-case tenant id -> its sourceStatus


def source_statuses(snapshot: SnapshotView) -> Statuses:
    """Every tenant's ``sourceStatus`` by lower-case tenant id (read once per evaluation)."""
    return {lower(t.id): as_dict(t.raw.get("sourceStatus")) for t in snapshot.tenants}


def data_age(
    snapshot: SnapshotView, check_id: str, tenant_id: str, statuses: Statuses | None = None
) -> tuple[str | None, str | None]:
    """(dataAsOf, staleSince) of a finding of ``check_id`` about ``tenant_id``; (None, None) when the
    snapshot records no collection status for the sources it reads. ``statuses``: the snapshot's
    :func:`source_statuses`, when the caller dates many findings (else read here)."""
    if statuses is None:
        statuses = source_statuses(snapshot)
    msp_status = statuses.get(lower(snapshot.msp_tenant_id), {})
    successes: list[datetime] = []
    stale: list[datetime] = []
    for source in CHECK_SOURCES.get(check_id, ()):
        status = as_dict(
            (msp_status if source.startswith(CIPP_PREFIX) else statuses.get(lower(tenant_id), {})).get(source)
        )
        success = read_graph_datetime(status.get("lastSuccess"))
        if success is None:  # never collected: the check says n/a, not "old"
            continue
        successes.append(success)
        error = read_graph_datetime(status.get("lastError"))
        if error is not None and error > success:
            # The outage's first failure when the collector recorded it, else the latest one.
            stale.append(read_graph_datetime(status.get("failingSince")) or error)
    return (_iso(min(successes)) if successes else None, _iso(min(stale)) if stale else None)


def with_data_age(findings: list[Finding], snapshot: SnapshotView) -> list[Finding]:
    """``findings`` with ``data_as_of`` / ``stale_since`` set where the snapshot says when it was read."""
    statuses = source_statuses(snapshot)  # once, not per finding: 500 tenants x 4,000 findings
    out = []
    for finding in findings:
        as_of, stale = data_age(snapshot, finding.check, finding.tenant_id, statuses)
        out.append(replace(finding, data_as_of=as_of, stale_since=stale) if as_of else finding)
    return out


def data_age_caption(finding: Finding) -> str | None:
    """One line for a person (the posture page's finding detail), or None when the age is unknown."""
    if not finding.data_as_of:
        return None
    line = f"Data as of {_readable(finding.data_as_of)} UTC."
    if finding.stale_since:
        line += (
            f" Stale since {_readable(finding.stale_since)} UTC: the last collection of this data "
            "failed, so this finding may be out of date."
        )
    return line


def _readable(value: Any) -> str:
    moment = read_graph_datetime(value)
    return f"{moment:%Y-%m-%d %H:%M}" if moment else str(value)
