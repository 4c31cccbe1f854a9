"""The posture score: severity-weighted share of applicable findings that hold.

score = 100 × Σ weight × credit / Σ weight, over findings whose status is pass, warn, fail or
accepted (n/a findings say nothing about posture and are left out). Weights: critical 4, high 3,
medium 2, low 1. Credit: pass 1, warn ½, accepted ½ (a known, consciously carried risk), fail 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from posture.findings import Finding

SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1}
STATUS_CREDIT = {"pass": 1.0, "warn": 0.5, "accepted": 0.5, "fail": 0.0}
# Worst first: what a tenant × check cell shows when its subjects disagree.
STATUS_RANK = {"fail": 4, "warn": 3, "accepted": 2, "pass": 1, "n/a": 0}
SCORE_EXPLANATION = (
    "Score = 100 × Σ(weight × credit) ÷ Σ weight over applicable findings. Weights: critical 4, "
    "high 3, medium 2, low 1. Credit: pass 1, warn ½, accepted risk ½, fail 0; n/a is left out."
)


def weighted_score(pairs: Iterable[tuple[str, str, int]]) -> float | None:
    """Score of (severity, status, count) triples; None when nothing applicable."""
    total = earned = 0.0
    for severity, status, count in pairs:
        if status not in STATUS_CREDIT:
            continue
        weight = SEVERITY_WEIGHT.get(severity, 1) * count
        total += weight
        earned += weight * STATUS_CREDIT[status]
    return None if total == 0 else round(100 * earned / total, 1)


def score(findings: Iterable[Finding]) -> float | None:
    return weighted_score((f.severity, f.status, 1) for f in findings)


# Bands in words, best first: (lowest score in the band, name). A manager reads "78 — fair" at a glance.
SCORE_BANDS = ((90.0, "good"), (75.0, "fair"), (50.0, "poor"), (0.0, "critical"))


def score_band(value: float | None) -> str:
    """The band a score falls in ('good' ≥ 90, 'fair' ≥ 75, 'poor' ≥ 50, else 'critical'); 'not scored'
    when nothing applicable was evaluated."""
    if value is None:
        return "not scored"
    return next(name for low, name in SCORE_BANDS if value >= low)


def score_in_words(value: float | None) -> str:
    """'78.4 / 100 — fair'; '— (not scored)' when nothing applicable was evaluated."""
    return "— (not scored)" if value is None else f"{value:.1f} / 100 — {score_band(value)}"


def worst_status(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 0), default="n/a")
