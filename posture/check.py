"""A check of the catalogue: its identity, why it matters, the fix it offers, and how it is evaluated."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from posture.findings import ACTIONABLE, Finding, Severity, Status, Subject
from posture.graph import is_template_id
from posture.view import SnapshotView, TenantView

CheckFunction = Callable[["Check", SnapshotView], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    scope: str  # as in the SPEC's table: "MSP", "MSP policy", "per client policy", ...
    title: str
    rationale: str  # one line: why it matters (for a manager's report)
    fix: str | None  # the fix id a failing or warning finding offers
    function: CheckFunction

    @property
    def part(self) -> str:
        """The SPEC's layer: PRE, LOC, A, B, C, D or MFA."""
        return self.id.split("-")[0]

    def evaluate(self, snapshot: SnapshotView) -> list[Finding]:
        return list(self.function(self, snapshot))

    def finding(self, tenant: TenantView | str, status: Status, subject: Subject, message: str,
                evidence: dict[str, Any] | None = None, *, fixable: bool = True) -> Finding:
        """A finding of this check; only a failing or warning one carries the check's fix (and not when
        ``fixable`` is false: the check's fix does not cure this case)."""
        tenant_id = tenant if isinstance(tenant, str) else tenant.id
        offered = fixable and status in ACTIONABLE and not _without_real_id(subject)
        return Finding(check=self.id, tenant_id=tenant_id, status=status, severity=self.severity,
                       subject=subject, message=message, evidence=evidence or {},
                       fix=self.fix if offered else None)

    def about_tenant(self, tenant: TenantView, status: Status, message: str,
                     evidence: dict[str, Any] | None = None) -> Finding:
        return self.finding(tenant, status, tenant.subject, message, evidence)

    def msp_missing(self, snapshot: SnapshotView) -> Finding:
        return self.finding(snapshot.msp_tenant_id, "n/a", snapshot.msp_subject,
                            "the MSP tenant (role 'msp') is not in the snapshot")


def _without_real_id(subject: Subject) -> bool:
    """A policy without an id (a template) gets no fix: a fix needs the real id."""
    return subject.type == "policy" and (not subject.id or is_template_id(subject.id))


def define_check(check_id: str, *, severity: Severity, scope: str, title: str, rationale: str,
                 fix: str | None = None) -> Callable[[CheckFunction], Check]:
    """Decorator turning ``function(check, snapshot) -> findings`` into a catalogue entry."""
    def register(function: CheckFunction) -> Check:
        return Check(check_id, severity, scope, title, rationale, fix, function)
    return register
