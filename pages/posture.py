"""Posture for a manager: the score in words, the MSP's own perimeter and the client tenants as two
clickable grids (worst first, check titles), the findings of the clicked cell with their evidence and fix,
accepted risks, the trend and the exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import plotly.graph_objects as go
import streamlit as st

from fixes import fix_for_finding
from posture import CATALOGUE, CHECKS_BY_ID
from posture.findings import ACTIONABLE, SEVERITIES
from posture.freshness import data_age_caption
from posture.html_report import render_html_report
from posture.scoring import SCORE_EXPLANATION, STATUS_RANK, score, score_band, score_in_words
from posture.summary import (
    band_counts,
    cell_findings,
    check_label,
    client_columns,
    client_rows,
    daily_scores,
    msp_tenant_ids,
    perimeter_rows,
    short_title,
    split_perimeter,
)
from safetext.cells import formula_safe
from ui import actions, chrome, data
from ui import changes_data as cdata
from ui.auth import current_identity
from ui.chrome import plain
from ui.fix_panel import fix_panel
from ui.output import chart_label, table
from ui.posture_view import (
    BAND_METRIC_COLOUR,
    LEGEND,
    cause_text,
    clicked_cell,
    client_figure,
    evidence_text,
    perimeter_figure,
)

PARTS = ("PRE", "LOC", "A", "B", "C", "D", "MFA")
STATUSES = ("fail", "warn", "accepted", "pass", "n/a")
MAX_ACCEPT_DAYS = 365
GRIDS = ("posture_perimeter", "posture_clients")
SHOWN_CELL = "posture_shown_cell"  # the cell listed in the previous run: a new one opens its worst finding

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


def grid_key(grid: str) -> str:
    """A grid's widget key; its generation changes to clear its selection (Streamlit cannot unselect)."""
    return f"{grid}-{st.session_state.get(f'{grid}-generation', 0)}"


def clear_grid(grid: str) -> None:
    st.session_state[f"{grid}-generation"] = st.session_state.get(f"{grid}-generation", 0) + 1


def remember_click(grid: str) -> None:
    """A click in a grid (on_select callback, before the rerun) writes its cell to the URL
    (?tenant=<id>&check=<id>; a score cell: the tenant alone), which says which cell's findings are
    listed: a link opens the same view. The other grid's selection is cleared."""
    cell = clicked_cell(st.session_state.get(grid_key(grid)))
    for param in ("tenant", "check"):
        st.query_params.pop(param, None)
    if cell is None:
        return
    st.query_params["tenant"] = cell[0]
    if cell[1]:
        st.query_params["check"] = cell[1]
    for other in GRIDS:
        if other != grid:
            clear_grid(other)


def show_all() -> None:
    for grid in GRIDS:
        clear_grid(grid)
    for param in ("tenant", "check"):
        st.query_params.pop(param, None)


# --- scores ---------------------------------------------------------------------------------
msp_tenants = msp_tenant_ids(findings)
perimeter_all, clients_all = split_perimeter(findings, msp_tenants)
overall = score(findings)
perimeter_score = score(perimeter_all)
tenants_all = client_rows(clients_all, names)
weak = sum(r.band in ("critical", "poor") for r in tenants_all)
# A wrapping row rather than columns: on a phone the six figures sit two or three a line, not one each.
with st.container(horizontal=True, gap="large"):
    for label, value in (("Overall score", overall), ("MSP perimeter score", perimeter_score)):
        band = score_band(value)
        st.metric(
            label,
            "—" if value is None else f"{value:.1f}",
            band,
            delta_color=BAND_METRIC_COLOUR.get(band, "gray"),  # type: ignore[arg-type]
            delta_arrow="off",
            help=SCORE_EXPLANATION + " Bands: good ≥ 90, fair ≥ 75, poor ≥ 50, below: critical.",
            width="content",
        )
    st.metric("Clients poor or critical", f"{weak} of {len(tenants_all)}", width="content")
    st.metric("Failing findings", sum(f.status == "fail" for f in findings), width="content")
    st.metric(
        "Critical failing",
        sum(f.status == "fail" and f.severity == "critical" for f in findings),
        width="content",
    )
    st.metric("Accepted risks", sum(f.status == "accepted" for f in findings), width="content")
bands = ", ".join(f"{n} {band}" for band, n in band_counts(tenants_all).items())
st.markdown(
    f"**Overall {score_in_words(overall)}.** MSP perimeter {score_in_words(perimeter_score)}; "
    f"client tenants: {bands or 'none'}."
)
# What the evaluation rests on: during an outage it judged data collected before it.
latest = data.latest_evaluation()
if latest.sources_failing:
    st.warning(
        latest.basis_words() + ": findings may not reflect changes since then.",
        icon=":material/sync_problem:",
    )
else:
    st.caption(latest.basis_words() + ".")

# --- filters (collapsed: on a phone the results come first) -----------------------------------
# A link may carry its context (`?tenant=<id>&check=<id>`, e.g. from a blocked sign-in's explanation):
# known values preselect the filters when the page opens, anything else is said and ignored. The filters
# are keyed, so a click that writes the same parameters (to link to its cell) does not narrow them.
tenant_ids = sorted({f.tenant_id for f in findings}, key=tenant_label)
linked_tenant = st.query_params.get("tenant", "")
linked_check = st.query_params.get("check", "").upper()
tenant_by_key = {t.lower(): t for t in tenant_ids}
if linked_tenant and linked_tenant.lower() not in tenant_by_key:
    st.warning("The link names a tenant with no findings here: showing every tenant.")
if linked_check and linked_check not in CHECKS_BY_ID:
    st.warning(f"The link names an unknown check ({plain(linked_check[:20])}): showing every check.")
# The cell whose findings are listed is the URL's: a click writes it, a link opens the same view.
cell: tuple[str, str | None] | None = None
if linked_tenant.lower() in tenant_by_key:
    cell = (tenant_by_key[linked_tenant.lower()], linked_check if linked_check in CHECKS_BY_ID else None)
with st.expander("Filters", icon=":material/filter_list:"):
    f1, f2, f3, f4, f5 = st.columns(5)
    chosen_tenants = f1.multiselect(
        "Tenant",
        tenant_ids,
        default=[tenant_by_key[linked_tenant.lower()]] if linked_tenant.lower() in tenant_by_key else [],
        format_func=tenant_label,
        placeholder="All tenants",
        key="posture_tenants",
    )
    chosen_checks = f2.multiselect(
        "Check",
        [c.id for c in CATALOGUE],
        default=[linked_check] if linked_check in CHECKS_BY_ID else [],
        format_func=lambda c: f"{c} — {CHECKS_BY_ID[c].title}",
        placeholder="All checks",
        key="posture_checks",
    )
    chosen_parts = f3.multiselect("Part", PARTS, placeholder="All parts")
    chosen_severities = f4.multiselect("Severity", SEVERITIES, placeholder="All severities")
    chosen_statuses = f5.multiselect(
        "Status", STATUSES, default=["fail", "warn", "accepted"], help="Of the findings listed below"
    )
active = [
    f"{label}: {', '.join(values)}"
    for label, values in (
        ("tenant", [plain(tenant_label(t)) for t in chosen_tenants]),
        ("check", chosen_checks),
        ("part", chosen_parts),
        ("severity", chosen_severities),
    )
    if values
]
if active:
    st.caption("Filtered by " + "; ".join(active) + ".")  # tenant names made plain above

shown = [
    f
    for f in findings
    if (not chosen_tenants or f.tenant_id in chosen_tenants)
    and (not chosen_checks or f.check in chosen_checks)
    and (not chosen_parts or CHECKS_BY_ID[f.check].part in chosen_parts)
    and (not chosen_severities or f.severity in chosen_severities)
]

# --- the MSP's perimeter and the client matrix -----------------------------------------------
perimeter_shown, clients_shown = split_perimeter(shown, msp_tenants)
left, right = st.columns([2, 3], gap="medium")
with left:
    st.subheader("MSP perimeter")
    st.caption(
        f"Score {score_in_words(perimeter_score)}. Your own tenant and CIPP (prerequisites, Step 1, "
        "parts A, B, C), worst first."
    )
    rows = perimeter_rows(perimeter_shown)
    if rows:
        st.plotly_chart(
            perimeter_figure(rows, tenant_label),
            on_select=lambda: remember_click(GRIDS[0]),
            selection_mode="points",
            key=grid_key(GRIDS[0]),
            config={"displayModeBar": False},
        )
    else:
        st.info("No check of the MSP perimeter matches the filters.")
with right:
    st.subheader("Client tenants")
    st.caption(
        "Client checks only (part D and MFA), worst tenant first: lowest score, then critical failures."
    )
    tenants_shown = client_rows(clients_shown, names)
    if tenants_shown:
        st.plotly_chart(
            client_figure(tenants_shown, client_columns(clients_shown), tenant_label),
            on_select=lambda: remember_click(GRIDS[1]),
            selection_mode="points",
            key=grid_key(GRIDS[1]),
            config={"displayModeBar": False},
        )
    else:
        st.info("No client tenant matches the filters.")
st.caption(LEGEND)

# --- findings -------------------------------------------------------------------------------
st.subheader("Findings")
if cell:
    tenant_id, check_id = cell
    listed = cell_findings(shown, tenant_id, check_id)
    what = check_label(check_id, 60) if check_id else "every check"
    st.markdown(f"**{plain(tenant_label(tenant_id))} × {plain(what)}**: {len(listed)} findings, worst first.")
    if not listed:
        st.info("The filters leave none of this cell's findings.")
    st.button("Show all findings", on_click=show_all, icon=":material/close:")
else:
    listed = [f for f in shown if (not chosen_statuses or f.status in chosen_statuses)]
    listed.sort(
        key=lambda f: (
            -STATUS_RANK[f.status],
            SEVERITIES.index(f.severity),
            f.check,
            tenant_label(f.tenant_id),
        )
    )
    st.caption(f"{len(listed)} findings. Click a cell above to list only its findings.")
findings_table = [
    {
        "Status": f.status,
        "Severity": f.severity,
        "Tenant": tenant_label(f.tenant_id),
        "Check": f.check,
        "Title": short_title(f.check, 40),
        "Subject": f.subject.name or f.subject.id,
        "Finding": f.message,
        "Evidence": evidence_text(f.evidence),
        "Fix offered": f.fix or "",
    }
    for f in listed
]
table(findings_table, hide_index=True, width="stretch")

# Keyed by identity (check, tenant, subject), so a choice survives filter changes.
by_key = {f"{f.check}|{f.tenant_id}|{f.subject.id}": f for f in listed}
if cell != st.session_state.get(SHOWN_CELL):
    # A newly chosen cell opens its worst actionable finding: evidence and fix one click away. Set before
    # the widget is drawn in this run, which Streamlit allows.
    st.session_state[SHOWN_CELL] = cell
    worst = next((f for f in listed if f.status in ACTIONABLE), None) if cell else None
    if worst is not None:
        st.session_state["posture_detail"] = f"{worst.check}|{worst.tenant_id}|{worst.subject.id}"
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
        # A regression names the change the evaluation judged to have caused it (db.posture_store).
        cause = (
            cdata.regression_change(
                finding.tenant_id, finding.check, finding.subject.type, finding.subject.id
            )
            if finding.status in ACTIONABLE
            else None
        )
        if cause is not None:
            with st.container(border=True, key="posture-cause"):
                st.markdown("**Caused by this change**")
                st.text(cause_text(cause))
                st.page_link(
                    "pages/changes.py",
                    label="This change and the object's timeline on the Changes page",
                    icon=":material/difference:",
                    query_params={"tenant": cause.tenant_id, "change": str(cause.version_id)},
                )
                if cause.fix_audit_id is not None:
                    # Perimeter's own fix made it: undo it where every rollback is planned and guarded.
                    st.page_link(
                        "pages/audit.py",
                        label=f"Plan the rollback of audit entry #{cause.fix_audit_id} on the Audit page",
                        icon=":material/undo:",
                        query_params={"entry": str(cause.fix_audit_id)},
                    )
                elif fix_request is not None:
                    st.caption("The fix below puts it right.")
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
