"""Posture: the tenant × check matrix, scores and their trend, findings with evidence, accepted
risks, and exports (for managers)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import plotly.graph_objects as go
import streamlit as st

from fixes import fix_for_finding
from posture import CATALOGUE, CHECKS_BY_ID
from posture.findings import SEVERITIES
from posture.freshness import data_age_caption
from posture.html_report import render_html_report
from posture.scoring import SCORE_EXPLANATION, STATUS_RANK, score
from posture.summary import daily_scores, matrix, tenant_scores
from safetext.cells import formula_safe
from ui import actions, chrome, data
from ui.auth import current_identity
from ui.chrome import plain
from ui.fix_panel import fix_panel
from ui.output import chart_label, table

PARTS = ("PRE", "LOC", "A", "B", "C", "D", "MFA")
STATUSES = ("fail", "warn", "accepted", "pass", "n/a")
# Heatmap colours by status rank (n/a 0 … fail 4).
COLORSCALE = [
    [0.0, "#3d4451"],
    [0.2, "#3d4451"],
    [0.2, "#2da44e"],
    [0.4, "#2da44e"],
    [0.4, "#8250df"],
    [0.6, "#8250df"],
    [0.6, "#d4a72c"],
    [0.8, "#d4a72c"],
    [0.8, "#cf222e"],
    [1.0, "#cf222e"],
]
MAX_ACCEPT_DAYS = 365

chrome.page_identity()
st.title("Posture")
evaluated_at, findings = data.posture_findings()
if evaluated_at is None:
    st.info(
        "No posture evaluation yet. It runs after each full collection cycle "
        "(`python -m collectors run --once`)."
    )
    st.stop()

names = data.tenant_names()


def tenant_label(tenant_id: str) -> str:
    return names.get(tenant_id, tenant_id)


def chart_tenant(tenant_id: str) -> str:
    """A tenant's name as a Plotly label (Plotly renders a subset of HTML in labels)."""
    return chart_label(tenant_label(tenant_id))


# --- scores ---------------------------------------------------------------------------------
overall = score(findings)
by_tenant = tenant_scores(findings)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Overall score", "—" if overall is None else f"{overall:.1f}")
c2.metric("Failing findings", sum(f.status == "fail" for f in findings))
c3.metric("Critical failing", sum(f.status == "fail" and f.severity == "critical" for f in findings))
c4.metric("Accepted risks", sum(f.status == "accepted" for f in findings))
st.caption(f"Evaluated {evaluated_at:%Y-%m-%d %H:%M} UTC. {SCORE_EXPLANATION}")

# --- filters --------------------------------------------------------------------------------
# A link may carry its context (`?tenant=<id>&check=<id>`, e.g. from a blocked sign-in's explanation):
# known values preselect the filters, anything else is said and ignored.
tenant_ids = sorted({f.tenant_id for f in findings}, key=tenant_label)
linked_tenant = st.query_params.get("tenant", "")
linked_check = st.query_params.get("check", "").upper()
tenant_by_key = {t.lower(): t for t in tenant_ids}
if linked_tenant and linked_tenant.lower() not in tenant_by_key:
    st.warning("The link names a tenant with no findings here: showing every tenant.")
if linked_check and linked_check not in CHECKS_BY_ID:
    st.warning(f"The link names an unknown check ({plain(linked_check[:20])}): showing every check.")
with st.container(border=True):
    f1, f2, f3, f4, f5 = st.columns(5)
    chosen_tenants = f1.multiselect(
        "Tenant",
        tenant_ids,
        default=[tenant_by_key[linked_tenant.lower()]] if linked_tenant.lower() in tenant_by_key else [],
        format_func=tenant_label,
        placeholder="All tenants",
    )
    chosen_checks = f2.multiselect(
        "Check",
        [c.id for c in CATALOGUE],
        default=[linked_check] if linked_check in CHECKS_BY_ID else [],
        format_func=lambda c: f"{c} — {CHECKS_BY_ID[c].title}",
        placeholder="All checks",
    )
    chosen_parts = f3.multiselect("Part", PARTS, placeholder="All parts")
    chosen_severities = f4.multiselect("Severity", SEVERITIES, placeholder="All severities")
    chosen_statuses = f5.multiselect("Status", STATUSES, default=["fail", "warn", "accepted"])

shown = [
    f
    for f in findings
    if (not chosen_tenants or f.tenant_id in chosen_tenants)
    and (not chosen_checks or f.check in chosen_checks)
    and (not chosen_parts or CHECKS_BY_ID[f.check].part in chosen_parts)
    and (not chosen_severities or f.severity in chosen_severities)
]

# --- matrix ---------------------------------------------------------------------------------
st.subheader("Tenant × check")
cells = matrix(shown)
checks = [c.id for c in CATALOGUE if any(key[1] == c.id for key in cells)]
rows = sorted({key[0] for key in cells}, key=lambda t: (by_tenant.get(t) or 0, tenant_label(t)))
z, hover = [], []
for tenant_id in rows:
    z_row, hover_row = [], []
    for check_id in checks:
        cell = cells.get((tenant_id, check_id))
        z_row.append(STATUS_RANK[cell.worst] if cell else None)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(cell.counts.items())) if cell else "no finding"
        hover_row.append(
            f"{chart_tenant(tenant_id)}<br>{check_id}: {cell.worst if cell else '—'}<br>{counts}"
        )
    z.append(z_row)
    hover.append(hover_row)
figure = go.Figure(
    go.Heatmap(
        z=z,
        x=checks,
        y=[chart_tenant(t) for t in rows],
        customdata=[[t] * len(checks) for t in rows],
        text=hover,
        hoverinfo="text",
        zmin=0,
        zmax=4,
        colorscale=COLORSCALE,
        xgap=2,
        ygap=2,
        colorbar={
            "tickvals": [0.4, 1.2, 2.0, 2.8, 3.6],
            "ticktext": ["n/a", "pass", "accepted", "warn", "fail"],
        },
    )
)
figure.update_layout(
    height=max(320, 22 * len(rows) + 120),
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    xaxis={"side": "top"},
    yaxis={"automargin": True},
)
event = st.plotly_chart(
    figure, on_select="rerun", selection_mode="points", key="posture_matrix", config={"displayModeBar": False}
)
st.caption("Click a cell to list its findings below.")

selected_cell = None
points = event.selection.points if event and event.selection else []
if points:
    point = points[0]
    selected_cell = (point["customdata"], point["x"]) if "customdata" in point else None
    if selected_cell is None:
        label_to_id = {chart_tenant(t): t for t in rows}
        selected_cell = (label_to_id.get(point["y"]), point["x"])

# --- trend ----------------------------------------------------------------------------------
with st.expander("Score trend", expanded=False):
    days = st.segmented_control("Period", [30, 90, 365], default=90, format_func=lambda d: f"{d} days")
    overall_by_day, tenant_by_day = daily_scores(data.posture_history(days or 90))
    if not overall_by_day:
        st.info("No history yet: one point is recorded per day.")
    elif len(overall_by_day) == 1:
        ((day, value),) = overall_by_day.items()
        st.info(f"First point: {value:.1f} on {day}. A trend appears from the second day (one point a day).")
    else:
        trend = go.Figure()
        dates = sorted(overall_by_day)
        trend.add_trace(
            go.Scatter(
                x=dates,
                y=[overall_by_day[d] for d in dates],
                name="Overall",
                mode="lines+markers",
                line={"width": 3},
            )
        )
        for tenant_id in chosen_tenants:
            series = sorted((d, s) for (d, t), s in tenant_by_day.items() if t == tenant_id)
            trend.add_trace(
                go.Scatter(
                    x=[d for d, _ in series],
                    y=[s for _, s in series],
                    name=chart_tenant(tenant_id),
                    mode="lines+markers",
                )
            )
        trend.update_layout(
            height=300,
            yaxis={"range": [0, 100], "title": "score"},
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
        )
        st.plotly_chart(trend, config={"displayModeBar": False})

# --- findings -------------------------------------------------------------------------------
listed = [f for f in shown if (not chosen_statuses or f.status in chosen_statuses)]
if selected_cell:
    listed = [f for f in shown if (f.tenant_id, f.check) == selected_cell]
    st.subheader("Findings")
    st.caption(
        f"Cell {plain(tenant_label(selected_cell[0]))} × {plain(selected_cell[1])} "
        "(clear the selection on the chart to see all)."
    )
else:
    st.subheader("Findings")
listed.sort(
    key=lambda f: (-STATUS_RANK[f.status], SEVERITIES.index(f.severity), f.check, tenant_label(f.tenant_id))
)
findings_table = [
    {
        "Status": f.status,
        "Severity": f.severity,
        "Tenant": tenant_label(f.tenant_id),
        "Check": f.check,
        "Subject": f.subject.name or f.subject.id,
        "Finding": f.message,
        "Fix offered": f.fix or "",
    }
    for f in listed
]
table(findings_table, hide_index=True, width="stretch")
st.caption(f"{len(listed)} findings.")

# Keyed by identity (check, tenant, subject), so a choice survives filter changes.
by_key = {f"{f.check}|{f.tenant_id}|{f.subject.id}": f for f in listed}
choice = st.selectbox(
    "Evidence and why it matters for",
    list(by_key),
    index=None,
    placeholder="Choose a finding",
    key="posture_detail",
    format_func=lambda k: (
        f"{by_key[k].status.upper()} · {by_key[k].check} · "
        f"{tenant_label(by_key[k].tenant_id)} · "
        f"{by_key[k].subject.name or by_key[k].subject.id}"
    ),
)
if choice is not None and choice in by_key:
    finding = by_key[choice]
    check = CHECKS_BY_ID[finding.check]
    with st.container(border=True):
        st.markdown(
            f"**{finding.check} — {plain(check.title)}** · {finding.severity} · status **{finding.status}**"
        )
        st.text(
            f"Tenant: {tenant_label(finding.tenant_id)}\n"
            f"Subject: {finding.subject.type} {finding.subject.name or ''} ({finding.subject.id})"
        )
        st.text(finding.message)
        if (age := data_age_caption(finding)) is not None:
            st.caption(plain(age))
        st.markdown(f"**Why it matters:** {plain(check.rationale)}")
        st.json(finding.evidence, expanded=False)
        fix_request = fix_for_finding(finding.as_dict())
        if fix_request is not None:
            with st.container(border=True):
                fix_panel(fix_request, key=f"posture-{choice}")
        identity = current_identity()
        if finding.status in ("fail", "warn") and identity is not None and identity.is_operator:
            with st.form(f"accept-{finding.check}-{finding.tenant_id}-{finding.subject.id}"):
                st.markdown("**Accept this risk**")
                reason = st.text_area("Reason (required)", max_chars=1000)
                today = datetime.utcnow().date()
                expires = st.date_input(
                    "Expires",
                    value=today + timedelta(days=90),
                    min_value=today + timedelta(days=1),
                    max_value=today + timedelta(days=MAX_ACCEPT_DAYS),
                )
                if st.form_submit_button("Accept risk"):
                    if not reason.strip():
                        st.error("Give a reason: it is what the next reviewer reads.")
                    else:
                        actions.accept_risk(finding, reason.strip(), datetime.combine(expires, time()))
                        st.toast("Risk accepted.")
                        st.rerun()
        elif finding.status in ("fail", "warn"):
            st.caption("Only an operator can accept a risk.")

# --- accepted risks -------------------------------------------------------------------------
with st.expander("Accepted risks", expanded=False):
    risks = data.accepted_risk_rows()
    if not risks:
        st.caption("None.")
    for risk in risks:
        cols = st.columns([5, 1])
        state = "expired" if risk["expired"] else f"until {risk['expiresAt']:%Y-%m-%d}"
        cols[0].text(
            f"{risk['check']} · {tenant_label(risk['tenantId'])} · {risk['subject']} — {state}\n"
            f"{risk['reason']}  (accepted by {risk['acceptedBy']} on {risk['acceptedAt']:%Y-%m-%d})"
        )
        identity = current_identity()
        can_revoke = identity is not None and identity.is_operator
        if can_revoke and cols[1].button("Revoke", key=f"revoke-{risk['id']}"):
            actions.revoke_risk(risk["id"])
            st.rerun()

# --- exports --------------------------------------------------------------------------------
buffer = io.StringIO()
writer = csv.writer(buffer)
writer.writerow(
    [
        "status",
        "severity",
        "tenantId",
        "tenant",
        "check",
        "subjectType",
        "subjectId",
        "subject",
        "message",
        "fix",
    ]
)
for f in listed:  # every cell through the one formula rule (safetext.cells), as the tables' own export
    writer.writerow(
        [
            formula_safe(v)
            for v in (
                f.status,
                f.severity,
                f.tenant_id,
                tenant_label(f.tenant_id),
                f.check,
                f.subject.type,
                f.subject.id,
                f.subject.name,
                f.message,
                f.fix or "",
            )
        ]
    )
e1, e2 = st.columns(2)
e1.download_button(
    "Download findings (CSV)",
    buffer.getvalue(),
    file_name="perimeter-findings.csv",
    mime="text/csv",
    icon=":material/download:",
)
e2.download_button(
    "Download report (HTML)",
    render_html_report(findings, names, evaluated_at, demo=data.settings().demo_mode),
    file_name="perimeter-posture-report.html",
    mime="text/html",
    icon=":material/description:",
)
