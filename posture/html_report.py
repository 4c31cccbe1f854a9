"""A self-contained HTML posture report (no scripts, no external assets) for managers.

Every value that came from a tenant or CIPP is escaped: display names are attacker-controllable.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from html import escape

from posture.catalogue import CATALOGUE_VERSION, CHECKS_BY_ID
from posture.findings import Finding
from posture.scoring import SCORE_EXPLANATION, STATUS_RANK, score

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1f24}
h1{margin-bottom:.2rem} .muted{color:#57606a} table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f6f8fa} .fail{color:#b42318;font-weight:600} .warn{color:#9a6700;font-weight:600}
.pass{color:#1a7f37} .accepted{color:#6639ba} .na{color:#57606a}
"""


def _status_class(status: str) -> str:
    return "na" if status == "n/a" else status


def render_html_report(
    findings: Sequence[Finding],
    tenant_names: dict[str, str],
    generated_at: datetime,
    title: str = "Perimeter posture report",
    demo: bool = False,
) -> str:
    by_tenant: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_tenant[finding.tenant_id].append(finding)
    overall = score(findings)
    counts = Counter(f.status for f in findings)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        *(
            ["<p class='demo'><strong>Demo data</strong> — a simulated MSP, not Microsoft Graph.</p>"]
            if demo
            else []
        ),
        f"<p class='muted'>Generated {escape(generated_at.strftime('%Y-%m-%d %H:%M UTC'))} · "
        f"check catalogue v{CATALOGUE_VERSION} · {len(by_tenant)} tenants · {len(findings)} findings · "
        + " · ".join(f"{escape(s)}: {n}" for s, n in sorted(counts.items()))
        + "</p>",
        f"<p><strong>Overall score: {'—' if overall is None else f'{overall:.1f}'}</strong></p>",
        f"<p class='muted'>{escape(SCORE_EXPLANATION)}</p>",
        "<h2>Scores by tenant</h2><table><tr><th>Tenant</th><th>Score</th><th>Fail</th>"
        "<th>Warn</th><th>Accepted</th></tr>",
    ]
    for tenant_id, items in sorted(by_tenant.items(), key=lambda kv: tenant_names.get(kv[0], kv[0])):
        tally = Counter(f.status for f in items)
        tenant_score = score(items)
        parts.append(
            f"<tr><td>{escape(tenant_names.get(tenant_id, tenant_id))}</td>"
            f"<td>{'—' if tenant_score is None else f'{tenant_score:.1f}'}</td>"
            f"<td>{tally['fail']}</td><td>{tally['warn']}</td><td>{tally['accepted']}</td></tr>"
        )
    parts.append("</table><h2>Findings that need action</h2>")
    actionable = sorted(
        (f for f in findings if f.status in ("fail", "warn", "accepted")),
        key=lambda f: (-STATUS_RANK[f.status], f.severity, f.check),
    )
    if not actionable:
        parts.append("<p>None: every applicable check passes.</p>")
    else:
        parts.append(
            "<table><tr><th>Status</th><th>Severity</th><th>Tenant</th><th>Check</th>"
            "<th>Subject</th><th>Finding</th><th>Why it matters</th></tr>"
        )
        for f in actionable:
            check = CHECKS_BY_ID.get(f.check)
            parts.append(
                f"<tr><td class='{_status_class(f.status)}'>{escape(f.status)}</td>"
                f"<td>{escape(f.severity)}</td>"
                f"<td>{escape(tenant_names.get(f.tenant_id, f.tenant_id))}</td>"
                f"<td>{escape(f.check)}</td><td>{escape(f.subject.name or f.subject.id)}</td>"
                f"<td>{escape(f.message)}</td>"
                f"<td>{escape(check.rationale if check else '')}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
