"""Rendering findings: the SPEC's JSON document and a plain-text table for a person."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from posture.findings import Finding, Status
from safetext.terminal import terminal_output, terminal_value

STATUS_ORDER: tuple[Status, ...] = ("fail", "warn", "accepted", "n/a", "pass")


def findings_document(findings: Iterable[Finding]) -> dict[str, Any]:
    return {"findings": [f.as_dict() for f in findings]}


def render_json(findings: Iterable[Finding]) -> str:
    # ASCII-only output: valid JSON whatever the terminal's or pipe's encoding; the terminal rule's
    # final pass keeps it so (and parses back to the same strings).
    return terminal_output(json.dumps(findings_document(findings), indent=2))


def _printable(value: object) -> str:
    """Tenant-supplied text for a line of the table: the one terminal rule (controls shown escaped)."""
    return terminal_value(value)


def _cut(value: str, width: int) -> str:
    value = _printable(value)
    return value if len(value) <= width else value[: width - 1] + "…"


def summary_line(findings: Sequence[Finding], hidden_accepted: int = 0) -> str:
    counts = Counter(f.status for f in findings)
    tenants = len({f.tenant_id.lower() for f in findings})
    parts = [f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s]]
    line = f"{len(findings)} findings in {tenants} tenant(s): {', '.join(parts) or 'none'}"
    if hidden_accepted:
        line += f"; {hidden_accepted} accepted not shown (--include-accepted shows them)"
    return line


def render_table(findings: Sequence[Finding], tenant_names: dict[str, str], hidden_accepted: int = 0) -> str:
    """Grouped by tenant (in the given order): status, check, subject, message; then a summary line."""
    lines: list[str] = []
    by_tenant: dict[str, list[Finding]] = {}
    for finding in findings:
        by_tenant.setdefault(finding.tenant_id, []).append(finding)
    for tenant_id, group in by_tenant.items():
        name = tenant_names.get(tenant_id.lower(), "")
        counts = Counter(f.status for f in group)
        lines.append(
            f"{_printable(name) or _printable(tenant_id)} ({_printable(tenant_id)}): "
            + ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])
        )
        for finding in group:
            subject = f"{finding.subject.type} {finding.subject.name or finding.subject.id}"
            lines.append(
                f"  {_printable(finding.status.upper()):8} {_printable(finding.check):6} "
                f"{_cut(subject, 44):44} {_printable(finding.message)}"
            )
        lines.append("")
    lines.append(summary_line(findings, hidden_accepted))
    return terminal_output("\n".join(lines))
