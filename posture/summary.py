"""Aggregations of findings for the posture page and reports (pure): the tenant × check matrix, the
split between the MSP's own perimeter and the client tenants, worst-first ordering, per-tenant scores
in words, the findings of one cell, and the daily trend."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from posture.catalogue import CATALOGUE, CHECKS_BY_ID
from posture.check import Check
from posture.findings import SEVERITIES, Finding
from posture.scoring import STATUS_RANK, score, score_band, weighted_score, worst_status

DAILY_STATUS_FIELDS = {
    "passed": "pass",
    "failed": "fail",
    "warned": "warn",
    "accepted": "accepted",
    "not_applicable": "n/a",
}


# The SPEC's layers that live in the MSP's own tenant and in CIPP (prerequisites, Step 1, parts A, B and
# C): the MSP's perimeter. Part D and MFA are judged in each client tenant (MFA in the MSP's too).
MSP_PARTS = frozenset({"PRE", "LOC", "A", "B", "C"})


def is_msp_check(check: Check) -> bool:
    """A check of the MSP's own perimeter (MSP tenant or CIPP), not of a client tenant."""
    return check.part in MSP_PARTS


MSP_CHECKS: tuple[Check, ...] = tuple(c for c in CATALOGUE if is_msp_check(c))
CLIENT_CHECKS: tuple[Check, ...] = tuple(c for c in CATALOGUE if not is_msp_check(c))
_CATALOGUE_ORDER = {c.id: i for i, c in enumerate(CATALOGUE)}


def short_title(check_id: str, width: int = 30) -> str:
    """A check's title cut at a word to at most ``width`` characters ('…' when cut): a column label."""
    title = CHECKS_BY_ID[check_id].title if check_id in CHECKS_BY_ID else check_id
    if len(title) <= width:
        return title
    cut = title[: width - 1].rsplit(" ", 1)[0] or title[: width - 1]
    return cut.rstrip(" ,:;") + "…"


def check_label(check_id: str, width: int = 30) -> str:
    """'D-1 · Client policies exclude the MSP's…': the ID a technician quotes and what it means."""
    return f"{check_id} · {short_title(check_id, width)}"


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


# --- the MSP's perimeter and the client tenants ------------------------------------------------------


def msp_tenant_ids(findings: Iterable[Finding]) -> frozenset[str]:
    """The tenants the MSP-perimeter checks judged: the MSP's own tenant (its CIPP included)."""
    return frozenset(
        f.tenant_id for f in findings if f.check in CHECKS_BY_ID and is_msp_check(CHECKS_BY_ID[f.check])
    )


def split_perimeter(
    findings: Iterable[Finding], msp_tenants: Collection[str]
) -> tuple[list[Finding], list[Finding]]:
    """(the MSP's perimeter, the client tenants): the perimeter holds the MSP checks' findings and the
    per-tenant checks' findings about the MSP's own tenant (its MFA), so no client row carries them."""
    perimeter: list[Finding] = []
    clients: list[Finding] = []
    for finding in findings:
        check = CHECKS_BY_ID.get(finding.check)
        mine = finding.tenant_id in msp_tenants or (check is not None and is_msp_check(check))
        (perimeter if mine else clients).append(finding)
    return perimeter, clients


def _failing(counts: Mapping[str, int]) -> int:
    return counts.get("fail", 0)


@dataclass(frozen=True)
class PerimeterRow:
    """One check of the MSP's perimeter (in one MSP tenant): its worst status and its subjects' counts."""

    tenant_id: str
    check: str
    title: str
    severity: str
    worst: str
    counts: dict[str, int]

    @property
    def failing(self) -> int:
        return _failing(self.counts)

    @property
    def subjects(self) -> int:
        return sum(self.counts.values())


def perimeter_rows(perimeter: Iterable[Finding]) -> list[PerimeterRow]:
    """The perimeter's checks, worst first: by worst status, then severity, then failing subjects, then
    the catalogue's order (a tie reads as the SPEC does)."""
    rows = [
        PerimeterRow(
            tenant_id=cell.tenant_id,
            check=cell.check,
            title=CHECKS_BY_ID[cell.check].title if cell.check in CHECKS_BY_ID else cell.check,
            severity=CHECKS_BY_ID[cell.check].severity if cell.check in CHECKS_BY_ID else "low",
            worst=cell.worst,
            counts=cell.counts,
        )
        for cell in matrix(perimeter).values()
    ]
    return sorted(
        rows,
        key=lambda r: (
            -STATUS_RANK.get(r.worst, 0),
            SEVERITIES.index(r.severity) if r.severity in SEVERITIES else len(SEVERITIES),
            -r.failing,
            _CATALOGUE_ORDER.get(r.check, len(_CATALOGUE_ORDER)),
            r.tenant_id,
        ),
    )


@dataclass(frozen=True)
class TenantRow:
    """One client tenant of the matrix: its score, band, failures and a cell per check it was judged on."""

    tenant_id: str
    score: float | None
    band: str
    critical_failing: int
    failing: int
    cells: dict[str, Cell]


def client_rows(clients: Sequence[Finding], names: Mapping[str, str] | None = None) -> list[TenantRow]:
    """The client tenants, worst first: lowest score (unscored last), then most critical failures, then
    most failures, then by name (``names``: tenant id → display name)."""
    names = names or {}
    cells = matrix(clients)
    by_tenant: dict[str, list[Finding]] = defaultdict(list)
    for finding in clients:
        by_tenant[finding.tenant_id].append(finding)
    rows = []
    for tenant_id, items in by_tenant.items():
        value = score(items)
        rows.append(
            TenantRow(
                tenant_id=tenant_id,
                score=value,
                band=score_band(value),
                critical_failing=sum(f.status == "fail" and f.severity == "critical" for f in items),
                failing=sum(f.status == "fail" for f in items),
                cells={check: cell for (tenant, check), cell in cells.items() if tenant == tenant_id},
            )
        )
    return sorted(
        rows,
        key=lambda r: (
            r.score is None,
            r.score if r.score is not None else 0.0,
            -r.critical_failing,
            -r.failing,
            names.get(r.tenant_id, r.tenant_id).casefold(),
            r.tenant_id,
        ),
    )


def client_columns(clients: Iterable[Finding]) -> list[str]:
    """The client checks the client findings hold, in the catalogue's order: the matrix's columns."""
    present = {f.check for f in clients}
    return [c.id for c in CLIENT_CHECKS if c.id in present]


def band_counts(rows: Iterable[TenantRow]) -> dict[str, int]:
    """How many tenants in each band, worst band first (bands without a tenant left out)."""
    counts = Counter(r.band for r in rows)
    order = ("critical", "poor", "fair", "good", "not scored")
    return {band: counts[band] for band in order if counts[band]}


def cell_findings(findings: Iterable[Finding], tenant_id: str, check_id: str | None = None) -> list[Finding]:
    """The findings of one tenant × check cell (``check_id`` None: the tenant's whole row), worst first,
    then by check and subject name."""
    chosen = [f for f in findings if f.tenant_id == tenant_id and (check_id is None or f.check == check_id)]
    return sorted(
        chosen,
        key=lambda f: (
            -STATUS_RANK.get(f.status, 0),
            _CATALOGUE_ORDER.get(f.check, len(_CATALOGUE_ORDER)),
            (f.subject.name or f.subject.id).casefold(),
        ),
    )
