"""The posture engine: a pure function from a snapshot to findings."""

from __future__ import annotations

from typing import Any

from posture.catalogue import CATALOGUE
from posture.findings import Finding
from posture.freshness import with_data_age
from posture.options import PostureOptions
from posture.snapshot import validate_snapshot
from posture.view import SnapshotView


def evaluate(snapshot: dict[str, Any], options: PostureOptions | None = None) -> list[Finding]:
    """Every check of the catalogue over ``snapshot``: raw findings (accepted risks not applied).

    Raises :class:`posture.snapshot.SnapshotError` when the snapshot is unusable. Findings come grouped by
    tenant (the MSP first, then the snapshot's order), in catalogue order within a tenant. Each finding is
    dated by the collection status of the sources its check reads, when the snapshot records it.
    """
    with SnapshotView(validate_snapshot(snapshot), options or PostureOptions()) as view:
        findings = [finding for check in CATALOGUE for finding in check.evaluate(view)]
        ordered = sorted(findings, key=lambda f: view.tenant_order(f.tenant_id))  # stable: catalogue order
        return with_data_age(ordered, view)
