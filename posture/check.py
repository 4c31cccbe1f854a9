"""A check of the catalogue: its identity, why it matters, the fix it offers, and how it is evaluated."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from posture.findings import ACTIONABLE, Finding, Severity, Status, Subject
from posture.graph import is_template_id, policy_id, policy_name
from posture.view import SnapshotView, TenantView

T = TypeVar("T")

CheckFunction = Callable[["Check", SnapshotView], Iterable[Finding]]
# A per-policy check (define_check_per_policy): what it judges, in which tenant, and its verdict on one.
PolicyGate = Callable[["Check", SnapshotView], tuple[TenantView, Sequence[T]]]
PolicyJudge = Callable[["Check", TenantView, T], Finding]
# A per-tenant check (define_check_per_tenant): its findings in one tenant.
TenantJudge = Callable[["Check", SnapshotView, TenantView], Iterable[Finding]]


class NotApplicable(Exception):
    """Ends a check (or one tenant of it) with an n/a saying why: one raise for every check's early return."""

    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


def _until_not_applicable(findings: Iterable[Finding]) -> Iterator[Finding]:
    """The findings, ended by the n/a of a :class:`NotApplicable` raised while they are produced."""
    try:
        yield from findings
    except NotApplicable as stop:
        yield stop.finding


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
        return list(_until_not_applicable(self.function(self, snapshot)))

    def finding(
        self,
        tenant: TenantView | str,
        status: Status,
        subject: Subject,
        message: str,
        evidence: dict[str, Any] | None = None,
        *,
        fixable: bool = True,
    ) -> Finding:
        """A finding of this check; only a failing or warning one carries the check's fix (and not when
        ``fixable`` is false: the check's fix does not cure this case)."""
        tenant_id = tenant if isinstance(tenant, str) else tenant.id
        offered = fixable and status in ACTIONABLE and not _without_real_id(subject)
        return Finding(
            check=self.id,
            tenant_id=tenant_id,
            status=status,
            severity=self.severity,
            subject=subject,
            message=message,
            evidence=evidence or {},
            fix=self.fix if offered else None,
        )

    def about_tenant(
        self, tenant: TenantView, status: Status, message: str, evidence: dict[str, Any] | None = None
    ) -> Finding:
        return self.finding(tenant, status, tenant.subject, message, evidence)

    def msp_missing(self, snapshot: SnapshotView) -> Finding:
        return self.finding(
            snapshot.msp_tenant_id,
            "n/a",
            snapshot.msp_subject,
            "the MSP tenant (role 'msp') is not in the snapshot",
        )

    # --- ending a check early (see NotApplicable) ---------------------------------------------------

    def not_applicable(self, tenant: TenantView, why: str) -> NotApplicable:
        """The n/a about ``tenant`` that ends this check, saying why (to ``raise``)."""
        return NotApplicable(self.about_tenant(tenant, "n/a", why))

    def require(self, value: T | None, tenant: TenantView, why: str) -> T:
        """``value``; when it is None (not collected), the check ends with an n/a about ``tenant``."""
        if value is None:
            raise self.not_applicable(tenant, why)
        return value

    def collected(self, tenant: TenantView, source: str, words: str) -> list[dict[str, Any]]:
        """The tenant's ``source`` objects; not collected, the check ends with an n/a saying why not."""
        return self.require(tenant.objects(source), tenant, tenant.not_collected(source, words))

    def require_msp(self, snapshot: SnapshotView) -> TenantView:
        """The MSP tenant; without one, the check ends with the n/a saying it is not in the snapshot."""
        if snapshot.msp_tenant is None:
            raise NotApplicable(self.msp_missing(snapshot))
        return snapshot.msp_tenant


def _without_real_id(subject: Subject) -> bool:
    """A policy without an id (a template) gets no fix: a fix needs the real id."""
    return subject.type == "policy" and (not subject.id or is_template_id(subject.id))


def policy_subject(policy: dict[str, Any]) -> Subject:
    """What a finding about one Conditional Access policy is about: the same subject in every check."""
    return Subject("policy", policy_id(policy), policy_name(policy))


def define_check(
    check_id: str, *, severity: Severity, scope: str, title: str, rationale: str, fix: str | None = None
) -> Callable[[CheckFunction], Check]:
    """Decorator turning ``function(check, snapshot) -> findings`` into a catalogue entry."""

    def register(function: CheckFunction) -> Check:
        return Check(check_id, severity, scope, title, rationale, fix, function)

    return register


def define_check_per_policy(
    check_id: str,
    *,
    policies: PolicyGate[T],
    severity: Severity,
    scope: str,
    title: str,
    rationale: str,
    fix: str | None = None,
) -> Callable[[PolicyJudge[T]], Check]:
    """Decorator for A-2..A-5 and B-2..B-6: ``judge(check, tenant, policy)`` on each policy of the gate."""

    def register(judge: PolicyJudge[T]) -> Check:
        def function(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
            tenant, judged = policies(check, snapshot)
            for policy in judged:
                yield judge(check, tenant, policy)

        return define_check(
            check_id, severity=severity, scope=scope, title=title, rationale=rationale, fix=fix
        )(function)

    return register


def define_check_per_tenant(
    check_id: str,
    *,
    severity: Severity,
    scope: str,
    title: str,
    rationale: str,
    fix: str | None = None,
    clients_only: bool = False,
) -> Callable[[TenantJudge], Check]:
    """Decorator for a check tenant by tenant, ``judge(check, snapshot, tenant)``: an n/a ends one tenant."""

    def register(judge: TenantJudge) -> Check:
        def function(check: Check, snapshot: SnapshotView) -> Iterator[Finding]:
            for tenant in snapshot.client_tenants if clients_only else snapshot.tenants:
                yield from _until_not_applicable(judge(check, snapshot, tenant))

        return define_check(
            check_id, severity=severity, scope=scope, title=title, rationale=rationale, fix=fix
        )(function)

    return register
