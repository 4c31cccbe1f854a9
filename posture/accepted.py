"""Accepted risks: an operator's decision to live with a failing or warning finding until a date.

The seam: :func:`posture.evaluate` returns raw findings; :func:`apply_accepted` (pure) turns the matching
ones into ``accepted``. Storage is not here: :func:`db.posture_store.load_accepted` is the one place that
reads acceptances, :func:`db.posture_store.current_findings` the one that answers "the current
findings".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from posture.findings import ACCEPTED, ACTIONABLE, Finding


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (how the database stores them)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class AcceptedRisk:
    """One acceptance of a finding, identified as the SPEC identifies findings: check, tenant, subject."""

    check: str
    tenant_id: str
    subject_id: str
    reason: str
    accepted_by: str
    expires_at: datetime
    accepted_at: datetime | None = None

    def covers(self, finding: Finding, now: datetime) -> bool:
        # Graph ids are GUIDs whose case varies between sources; ranges compare as written (also caseless).
        return (
            finding.check == self.check
            and finding.tenant_id.lower() == self.tenant_id.lower()
            and finding.subject.id.lower() == self.subject_id.lower()
            and _utc(now) < _utc(self.expires_at)
        )

    def as_evidence(self, original_status: str) -> dict[str, Any]:
        return {
            "acceptedFrom": original_status,
            "acceptedReason": self.reason,
            "acceptedBy": self.accepted_by,
            "acceptedAt": _utc(self.accepted_at).isoformat() if self.accepted_at else None,
            "acceptedExpires": _utc(self.expires_at).isoformat(),
        }


def apply_accepted(
    findings: Iterable[Finding], accepted: Iterable[AcceptedRisk], now: datetime
) -> list[Finding]:
    """Findings with every failing or warning one that an unexpired acceptance covers turned ``accepted``.

    The original status and the acceptance (reason, by, at, expires) go into the evidence; passing and
    n/a findings are never changed. When several acceptances cover a finding, the latest-expiring wins.
    """
    acceptances = sorted(accepted, key=lambda a: _utc(a.expires_at), reverse=True)
    out = []
    for finding in findings:
        match = (
            next((a for a in acceptances if a.covers(finding, now)), None)
            if finding.status in ACTIONABLE
            else None
        )
        if match is None:
            out.append(finding)
        else:
            out.append(
                replace(
                    finding,
                    status=ACCEPTED,
                    evidence={**finding.evidence, **match.as_evidence(finding.status)},
                )
            )
    return out
