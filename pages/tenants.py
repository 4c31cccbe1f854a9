"""Tenants: every tenant Perimeter collects, with its access mode and data freshness."""

from __future__ import annotations

import streamlit as st

from ui import chrome, data
from ui.chrome import humanize_age
from ui.output import table

chrome.page_identity()
st.title("Tenants")
rows = data.tenant_rows()
if not rows:
    st.info(
        "No tenants collected yet. The collector worker discovers them from CIPP "
        "(ListTenants) or from GDAP relationships on its first cycle."
    )
    st.stop()

clients = [r for r in rows if r["role"] == "client"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Client tenants", len(clients))
c2.metric("GDAP", sum(r["accessMode"] == "gdap" for r in clients))
c3.metric("Direct", sum(r["accessMode"] == "direct" for r in clients))
c4.metric("With failing sources", sum(r["failing"] > 0 for r in rows))

query = st.text_input("Filter by name or domain", placeholder="contoso")
shown = [
    r for r in rows if not query or query.lower() in r["name"].lower() or query.lower() in r["domain"].lower()
]

# A dataframe shows tenant text as plain text; ui.output.table makes its CSV export formula-safe.
table(
    [
        {
            "Tenant": r["name"],
            "Domain": r["domain"],
            "Role": "MSP" if r["role"] == "msp" else "client",
            "Access mode": r["accessMode"],
            "Freshness": (
                "consent needed"
                if r["consentNeeded"]
                else "never collected"
                if r["oldestAgeSeconds"] is None
                else f"oldest source {humanize_age(r['oldestAgeSeconds'])} ago"
            ),
            "Sources fresh": f"{r['fresh']}/{r['sources']}",
            "Failing": r["failing"],
            "Not licensed": r["notLicensed"],  # sources a tenant without Entra ID P1 cannot serve
            "Sign-ins stored": r["signIns"],
            "Last error": r["lastError"] or "",
            "Tenant id": r["tenantId"],
        }
        for r in shown
    ],
    hide_index=True,
    width="stretch",
)
st.caption(
    f"{len(shown)} of {len(rows)} tenants. A source is fresh while its last success is "
    "younger than three collection intervals. Not licensed and consent needed are states, "
    "not failures: see the Collectors page."
)
