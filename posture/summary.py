"""Aggregations of findings for the posture page and reports (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from posture.catalogue import CHECKS_BY_ID
from posture.findings import Finding
from posture.scoring import score, weighted_score, worst_status

DAILY_STATUS_FIELDS = {
    "passed": "pass",
    "failed": "fail",
    "warned": "warn",
    "accepted": "accepted",
    "not_applicable": "n/a",
}


@dataclass(frozen=True)
class Cell:
    tenant_id: str
    check: str
    worst: str
    counts: dict[str, int]


def matrix(findings: Iterable[Finding]) -> dict[tuple[str, str], Cell]:
    """Tenant × check: the worst status among the cell's subjects, and how many of each."""
    grouped: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for finding in findings:
        grouped[(finding.tenant_id, finding.check)][finding.status] += 1
    return {key: Cell(key[0], key[1], worst_status(counts), dict(counts)) for key, counts in grouped.items()}


def tenant_scores(findings: Sequence[Finding]) -> dict[str, float | None]:
    by_tenant: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_tenant[finding.tenant_id].append(finding)
    return {tenant_id: score(items) for tenant_id, items in by_tenant.items()}


def daily_scores(
    rows: Iterable[dict[str, Any]],
) -> tuple[dict[date, float | None], dict[tuple[date, str], float | None]]:
    """(overall score per day, score per day and tenant) from the daily history rows."""
    overall: dict[date, list[tuple[str, str, int]]] = defaultdict(list)
    per_tenant: dict[tuple[date, str], list[tuple[str, str, int]]] = defaultdict(list)
    for row in rows:
        check = CHECKS_BY_ID.get(row["check_id"])
        severity = check.severity if check else "low"
        for field, status in DAILY_STATUS_FIELDS.items():
            if row.get(field):
                triple = (severity, status, int(row[field]))
                overall[row["day"]].append(triple)
                per_tenant[(row["day"], row["tenant_id"])].append(triple)
    return (
        {day: weighted_score(t) for day, t in overall.items()},
        {key: weighted_score(t) for key, t in per_tenant.items()},
    )
