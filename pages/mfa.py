"""MFA coverage: per tenant, admins who are not MFA capable, registered methods, how MFA is enforced,
the CIPP service account's MFA evidence (B-8), and the trend. Numbers follow posture's MFA-1..3 (the
collector stores a daily row per tenant with each evaluation: investigate/mfa.py)."""

from __future__ import annotations

from collections import Counter

import plotly.graph_objects as go
import streamlit as st

from investigate.mfa import ENFORCEMENT_WORDS, method_name
from ui import chrome, data
from ui import signin_data as sd
from ui.chrome import plain
from ui.output import chart_label, table

chrome.page_identity()
st.title("MFA coverage")
directory = sd.tenant_directory()
now = sd.minute(data.utcnow())
overview = sd.mfa_overview(now)
rows = overview["rows"]
findings = overview["findings"]
if not rows and not findings:
    st.info(
        "No MFA coverage yet: it is recorded with each posture evaluation, after a full collection cycle "
        "(`python -m collectors run --once`)."
    )
    st.stop()


def tenant_label(tenant_id: str) -> str:
    return directory.get(tenant_id, {}).get("name", tenant_id)


# Tenants: from the URL (?tenant=…, as the home page links), shareable like the investigation's filters.
# An id with no coverage here is said and ignored, never a traceback or a silently empty page.
known = [t for t in directory if any(r["tenant_id"] == t for r in rows)] or list(directory)
by_key = {t.lower(): t for t in known}
in_url = st.query_params.get_all("tenant")
if st.session_state.get("_mfa_url") != in_url:  # a new link: it sets the filter
    unknown = [t for t in in_url if t.lower() not in by_key]
    if unknown:
        named = ", ".join(t[:40] for t in unknown[:3]) + (" …" if len(unknown) > 3 else "")
        st.warning(
            f"The link names {len(unknown)} tenant(s) with no MFA coverage here ({plain(named)}): "
            + ("ignored." if len(unknown) < len(in_url) else "showing every tenant.")
        )
    st.session_state["mfa_tenants"] = list(
        dict.fromkeys(by_key[t.lower()] for t in in_url if t.lower() in by_key)
    )
picked = len(st.session_state.get("mfa_tenants") or [])
# Results first: the filter is one collapsed line (on a phone it would fill the screen).
with st.expander(f"Tenants: {picked} chosen" if picked else "Tenants: all", icon=":material/filter_list:"):
    chosen = st.multiselect(
        "Tenants", known, format_func=tenant_label, key="mfa_tenants", placeholder="All tenants"
    )
st.query_params["tenant"] = chosen
st.session_state["_mfa_url"] = list(chosen)
shown = [r for r in rows if not chosen or r["tenant_id"] in chosen]
in_scope = {r["tenant_id"] for r in shown} if shown else set(chosen or directory)
mine = [f for f in findings if f.tenant_id in in_scope or (not chosen)]

# --- headline -------------------------------------------------------------------------------------
members = sum(r["enabled_members"] for r in shown)
capable = sum(r["mfa_capable"] for r in shown)
admins_missing = [
    (f.tenant_id, name)
    for f in mine
    if f.check == "MFA-2" and f.status in ("fail", "accepted")
    for name in f.evidence.get("notCapable") or []
]
unenforced = [r for r in shown if r["enforcement"] == "none"]
m1, m2, m3, m4 = st.columns(4)
m1.metric(
    "MFA capable",
    f"{capable / members:.1%}" if members else "—",
    help="Enabled member users who are MFA capable (posture MFA-1)",
)
m2.metric(
    "Tenants below 95 %",
    sum(1 for r in shown if r["enabled_members"] and r["mfa_capable"] / r["enabled_members"] < 0.95),
)
m3.metric("Admins not MFA capable", len(admins_missing))
m4.metric("Tenants without MFA enforcement", len(unenforced))
if overview["day"]:
    st.caption(f"As recorded by the posture evaluation on {overview['day']:%Y-%m-%d}.")

# --- per tenant ------------------------------------------------------------------------------------
st.subheader("Coverage per tenant")
ordered = sorted(
    shown,
    key=lambda r: (
        r["mfa_capable"] / r["enabled_members"] if r["enabled_members"] else 1,
        tenant_label(r["tenant_id"]),
    ),
)
if ordered:
    figure = go.Figure(
        go.Bar(
            x=[100 * r["mfa_capable"] / r["enabled_members"] if r["enabled_members"] else 0 for r in ordered],
            y=[chart_label(tenant_label(r["tenant_id"])) for r in ordered],
            orientation="h",
            marker={
                "color": [
                    "#cf222e"
                    if r["enabled_members"] and r["mfa_capable"] / r["enabled_members"] < 0.8
                    else "#d4a72c"
                    if r["enabled_members"] and r["mfa_capable"] / r["enabled_members"] < 0.95
                    else "#2da44e"
                    for r in ordered
                ]
            },
        )
    )
    figure.update_layout(
        height=max(240, 22 * len(ordered) + 60),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"range": [0, 100], "title": "% of enabled members MFA capable"},
        yaxis={"automargin": True, "autorange": "reversed"},
    )
    st.plotly_chart(figure, config={"displayModeBar": False}, key="mfa_coverage_chart")
table(
    [
        {
            "Tenant": tenant_label(r["tenant_id"]),
            "Enabled members": r["enabled_members"],
            "MFA capable": r["mfa_capable"],
            "Coverage": f"{r['mfa_capable'] / r['enabled_members']:.1%}" if r["enabled_members"] else "—",
            "MFA registered": r["mfa_registered"],
            "Admins": r["admins"],
            "Admins capable": r["admins_capable"],
            "MFA enforced by": ENFORCEMENT_WORDS.get(r["enforcement"], r["enforcement"]),
            "Detail": r["enforcement_detail"],
        }
        for r in ordered
    ],
    hide_index=True,
    width="stretch",
    key="mfa_tenants_table",
)

left, right = st.columns(2)
with left:
    st.subheader("Admins who are not MFA capable")
    if admins_missing:
        table(
            [{"Tenant": tenant_label(t), "Admin": name} for t, name in admins_missing],
            hide_index=True,
            width="stretch",
        )
    else:
        st.success("Every admin is MFA capable (MFA-2).")
with right:
    st.subheader("Users by registered method")
    methods: Counter[str] = Counter()
    for r in shown:
        methods.update(r["methods"])
    if methods:
        top = methods.most_common()
        chart = go.Figure(
            go.Bar(x=[n for _, n in top], y=[chart_label(method_name(m)) for m, _ in top], orientation="h")
        )
        chart.update_layout(
            height=max(200, 26 * len(top) + 40),
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            yaxis={"autorange": "reversed", "automargin": True},
            xaxis={"title": "enabled members"},
        )
        st.plotly_chart(chart, config={"displayModeBar": False}, key="mfa_methods_chart")
    else:
        st.caption("No registered methods recorded.")

st.subheader("How MFA is enforced")
enforcement = Counter(r["enforcement"] for r in shown)
e1, e2, e3, e4 = st.columns(4)
for column, key in zip(
    (e1, e2, e3, e4), ("securityDefaults", "conditionalAccess", "none", "unknown"), strict=True
):
    column.metric(ENFORCEMENT_WORDS[key][:1].upper() + ENFORCEMENT_WORDS[key][1:], enforcement.get(key, 0))
st.caption(
    "From posture MFA-3: security defaults on, or an enabled policy requiring MFA for all users and all "
    "cloud apps (report-only does not count)."
)

# --- the CIPP service account ----------------------------------------------------------------------
st.subheader("The CIPP service account's MFA evidence")
b8 = next((f for f in findings if f.check == "B-8"), None)
if b8 is None:
    st.caption("B-8 has not been evaluated yet.")
else:
    (st.error if b8.status == "fail" else st.success if b8.status == "pass" else st.info)(
        f"B-8 {b8.status.upper()}: {plain(b8.message)}"
    )
account = overview["account"]
if account:
    successful = [a for a in account if a["error_code"] == 0]
    multi = [a for a in successful if a["authentication_requirement"].lower() == "multifactorauthentication"]
    st.caption(
        f"{plain(data.settings().service_account_upn)}: {len(account)} sign-in(s) in the last "
        f"{data.settings().signin_window_hours} h, {len(successful)} successful, "
        f"{len(multi)} of them with MFA."
    )
    table(
        [
            {
                "When (UTC)": a["created_at"],
                "App": a["app"],
                "IP": a["ip"],
                "Result": "success" if a["error_code"] == 0 else f"failed ({a['error_code']})",
                "Authentication requirement": a["authentication_requirement"] or "—",
            }
            for a in account
        ],
        hide_index=True,
        width="stretch",
        key="mfa_account_table",
    )
else:
    st.caption("No sign-in of the service account in the window.")

# --- trend -----------------------------------------------------------------------------------------
st.subheader("Trend")
trend = sd.mfa_tenant_trend(now, tuple(chosen)) if chosen else overview["trend"]
if len(trend) < 2:
    st.caption("One point is recorded per day: the trend appears from the second day.")
else:
    line = go.Figure(
        go.Scatter(
            x=[d for d, _m, _c in trend],
            y=[100 * c / m if m else None for _d, m, c in trend],
            mode="lines+markers",
        )
    )
    line.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"title": "% MFA capable", "range": [0, 100]},
    )
    st.plotly_chart(line, config={"displayModeBar": False}, key="mfa_trend_chart")
