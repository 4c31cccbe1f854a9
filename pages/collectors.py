"""Collectors: freshness, errors and row counts per tenant and source, and "collect now"."""

from __future__ import annotations

import streamlit as st

from collectors.states import CONSENT_RECHECK, NOT_LICENSED_RECHECK
from connectors.sources import SIGNINS
from safetext.markdown import markdown_text
from ui import actions, chrome, data
from ui.chrome import humanize_age, plain
from ui.output import table

identity = chrome.page_identity()
st.title("Collectors")

rows = data.source_status_rows()
left, right = st.columns([3, 1])
with right:
    pending = data.pending_request()
    if pending is not None:
        st.info(
            f"Collection requested {humanize_age((data.utcnow() - pending.requested_at).total_seconds())}"
            " ago; the worker picks it up within seconds.",
            icon=":material/hourglass_top:",
        )
    # Any reader may ask for fresh data (Viewers included): a collection only reads tenants, one
    # request at a time is queued, the worker paces it within Graph's limits, and the request is
    # recorded with the signed-in identity. A kiosk link never reaches this page.
    if st.button(
        "Collect now",
        icon=":material/sync:",
        disabled=pending is not None,
        help="Ask the collector worker for a full cycle now (reads tenants, changes nothing).",
    ):
        actions.request_collection()
        st.toast("Collection requested.")
        st.rerun()

with left:
    if not rows:
        st.info(
            "Nothing collected yet. Start the worker (`python -m collectors worker`) or run "
            "`python -m collectors run --once`."
        )
        st.stop()
    health = data.collection_health()
    consent = {r["tenantId"]: r for r in rows if r["state"] == "consent needed"}
    c1, c2, c3, c4, c5, c6 = st.columns(6)
    c1.metric("Tenants", health.tenants)
    c2.metric(
        "Sources fresh",
        f"{health.fresh}/{health.sources}",
        help="Data sources that can be collected; not-licensed and consent-needed ones are counted apart, "
        "and the posture run is not a source of data.",
    )
    c3.metric("Failing", health.failing)
    # Standing states, not errors: counted apart from failing so they never read as an outage.
    c4.metric(
        "Not licensed",
        health.not_licensed,
        help="Sources a tenant without Entra ID P1 cannot serve (sign-ins, registration "
        f"details); asked again every {NOT_LICENSED_RECHECK.days} day(s).",
    )
    c5.metric(
        "Consent needed",
        len(consent),
        help="Tenants where Perimeter's app is not consented (the token request is refused); "
        f"asked again every {int(CONSENT_RECHECK.total_seconds() // 60)} minutes.",
    )
    c6.metric(
        "Newest data",
        f"{humanize_age(health.newest_age_seconds)} old",
        help="The most recently collected data source (the posture run after a cycle is not data).",
    )

if consent:
    st.subheader("Consent needed")
    st.caption(
        "Perimeter's app is not consented in these tenants, so nothing is read from them. "
        "An admin of each tenant grants it with the link (Microsoft's admin-consent page)."
    )
    for r in consent.values():
        name_col, link_col = st.columns([3, 1])
        name_col.markdown(markdown_text(r["tenant"]))
        if r.get("adminConsentUrl"):  # built from the GUID tenant id and our own client id only
            link_col.link_button("Grant admin consent", r["adminConsentUrl"], icon=":material/open_in_new:")
        else:
            link_col.caption("No link: the tenant id is not a GUID.")

# ?tenant=<id> (the Tenants page links here per tenant): that tenant's sources only; unknown ids are said.
names = {r["tenantId"]: r["tenant"] for r in rows}
linked = [t for t in st.query_params.get_all("tenant") if t]
unknown = [t for t in linked if t not in names]
if unknown:
    named = plain(", ".join(u[:40] for u in unknown[:3]))
    st.warning(f"The link names {len(unknown)} tenant(s) not collected here ({named}): showing the others.")
tenants = st.multiselect(
    "Tenants",
    list(names),
    default=[t for t in linked if t in names],
    format_func=lambda t: names[t],
    placeholder="All tenants",
)
st.query_params["tenant"] = tenants
only_problems = st.toggle("Only sources that are not fresh", value=False)
shown = [
    r
    for r in rows
    if (not only_problems or r["state"] != "fresh") and (not tenants or r["tenantId"] in tenants)
]
st.subheader("Per tenant and source")
stored = data.stored_signin_counts()
table(
    [
        {
            "Tenant": r["tenant"],
            "Source": r["source"],
            "State": r["state"],
            "Last success": r["lastSuccess"] or "never",
            "Age": humanize_age(r["ageSeconds"]),
            "Rows (last run)": r["rows"],
            "Sign-ins stored": stored.get(r["tenantId"], 0) if r["source"] == SIGNINS else None,
            "Last error": r["lastError"] or "",
            "State since": r.get("stateSince") or "",
            "Service's answer": r.get("stateDetail") or "",
        }
        for r in shown
    ],
    hide_index=True,
    width="stretch",
)

st.subheader("Errors in the last 24 hours")
errors = data.recent_error_groups()
if errors:
    st.caption("Grouped by cause and host: one outage is one row, however many sources it stopped.")
    table(
        [
            {
                "Cause": g.cause,
                "Host": g.host,
                "Failed runs": g.runs,
                "Tenants": g.tenants,
                "First (UTC)": f"{g.first:%Y-%m-%d %H:%M:%S}",
                "Latest (UTC)": f"{g.last:%Y-%m-%d %H:%M:%S}",
                "Latest message": g.example,
                "e.g. tenant": g.example_tenant,
            }
            for g in errors
        ],
        hide_index=True,
        width="stretch",
    )
else:
    st.success("No collection errors in the last 24 hours.")
