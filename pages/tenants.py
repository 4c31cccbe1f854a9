"""Tenants, the home page: per tenant its posture score in words, failing critical findings, blocked
sign-ins in the last 24 hours, MFA coverage and data freshness, worst first, with links to that tenant
on the other pages."""

from __future__ import annotations

import streamlit as st

from investigate.codes import BLOCKED_MEANING
from ui import chrome, home_data
from ui.chrome import plain
from ui.output import table

chrome.page_identity()
st.title("Tenants")
rows = home_data.home_rows()
if not rows:
    st.info(
        "No tenants collected yet. The collector worker discovers them from CIPP "
        "(ListTenants) or from GDAP relationships on its first cycle."
    )
    st.stop()

clients = [r for r in rows if r.role == "client"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Client tenants", len(clients))
c2.metric("With failing critical findings", sum(r.critical > 0 for r in rows))
c3.metric("Blocked sign-ins (24 h)", sum(r.blocked_24h for r in rows), help=BLOCKED_MEANING)
c4.metric("With failing sources", sum(r.failing_sources > 0 for r in rows))

# Results first; the filter stays one collapsed line (on a phone it would push the table down).
with st.expander("Filter tenants", icon=":material/filter_list:"):
    query = st.text_input("Name or domain", placeholder="contoso", key="tenants-query")
shown = [r for r in rows if not query or query.lower() in r.name.lower() or query.lower() in r.domain.lower()]

PAGES = home_data.TENANT_PAGES
links = {label: f"{page}_link" for page, label in PAGES}
# A dataframe shows tenant names as plain text; the link columns show a constant text, never tenant text.
event = table(
    [
        {
            "Tenant": r.name,
            "Role": "MSP" if r.role == "msp" else "client",
            "Access mode": r.access_mode,
            "Posture": r.score_words,
            "Critical failing": r.critical,
            "Blocked sign-ins 24 h": r.blocked_24h,
            "MFA capable": None if r.mfa_capable is None else round(100 * r.mfa_capable, 1),
            "Freshness": r.freshness,
            **{links[label]: home_data.tenant_link(page, r.tenant_id) for page, label in PAGES},
            "Tenant id": r.tenant_id,
        }
        for r in shown
    ],
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="tenants-table",
    column_config={
        "Posture": st.column_config.TextColumn(
            "Posture", help="Posture score out of 100 and its band (good ≥ 90, fair ≥ 75, poor ≥ 50)"
        ),
        "Critical failing": st.column_config.NumberColumn(
            help="Failing findings of critical severity (accepted risks are not counted)"
        ),
        "Blocked sign-ins 24 h": st.column_config.NumberColumn(
            help="In the last 24 hours, as the Blocked sign-ins page counts them. " + BLOCKED_MEANING
        ),
        "MFA capable": st.column_config.NumberColumn(
            "MFA capable", format="%.1f %%", help="Enabled members who are MFA capable (MFA-1)"
        ),
        **{
            links[label]: st.column_config.LinkColumn(label, display_text=label)
            for _, label in home_data.TENANT_PAGES
        },
    },
)
st.caption(
    f"{len(shown)} of {len(rows)} tenants, worst first (failing critical findings, then score). "
    "Select a row for its links; each link opens that page filtered to the tenant."
)

selected = event.selection.rows if event is not None else []
if selected and selected[0] < len(shown):
    chosen = shown[selected[0]]
    with st.container(border=True):
        st.markdown(f"**{plain(chosen.name)}** · {plain(chosen.score_words)} · {plain(chosen.freshness)}")
        cols = st.columns(len(home_data.TENANT_PAGES))
        for col, (page, label) in zip(cols, home_data.TENANT_PAGES, strict=True):
            col.page_link(f"pages/{page}.py", label=label, query_params={"tenant": chosen.tenant_id})
