"""Collectors: freshness, errors and row counts per tenant and source, and "collect now"."""

from __future__ import annotations

import streamlit as st

from ui import chrome, data
from ui.chrome import humanize_age
from ui.output import table

identity = chrome.page_frame()
st.title("Collectors")

rows = data.source_status_rows()
left, right = st.columns([3, 1])
with right:
    pending = data.pending_request()
    if pending is not None:
        st.info(f"Collection requested {humanize_age((data.utcnow() - pending.requested_at).total_seconds())}"
                " ago; the worker picks it up within seconds.", icon=":material/hourglass_top:")
    # Any reader may ask for fresh data (Viewers included): a collection only reads tenants, one
    # request at a time is queued, the worker paces it within Graph's limits, and the request is
    # recorded with the signed-in identity. A kiosk link never reaches this page.
    if st.button("Collect now", icon=":material/sync:", disabled=pending is not None,
                 help="Ask the collector worker for a full cycle now (reads tenants, changes nothing)."):
        data.request_collection(identity.name)
        st.toast("Collection requested.")
        st.rerun()

with left:
    if not rows:
        st.info("Nothing collected yet. Start the worker (`python -m collectors worker`) or run "
                "`python -m collectors run --once`.")
        st.stop()
    tenants = {r["tenantId"] for r in rows}
    ages = [r["ageSeconds"] for r in rows if r["ageSeconds"] is not None]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Tenants", len(tenants))
    c2.metric("Sources fresh", f"{sum(r['fresh'] for r in rows)}/{len(rows)}")
    c3.metric("Failing", sum(r["failing"] for r in rows))
    c4.metric("Newest data", f"{humanize_age(min(ages) if ages else None)} ago")

only_problems = st.toggle("Only stale or failing sources", value=False)
shown = [r for r in rows if not only_problems or r["failing"] or not r["fresh"]]
st.subheader("Per tenant and source")
table(
    [{
        "Tenant": r["tenant"],
        "Source": r["source"],
        "State": "failing" if r["failing"] else ("fresh" if r["fresh"] else "stale"),
        "Last success": r["lastSuccess"] or "never",
        "Age": humanize_age(r["ageSeconds"]),
        "Rows (last run)": r["rows"],
        "Sign-ins stored": r.get("storedSignIns"),
        "Last error": r["lastError"] or "",
    } for r in shown],
    hide_index=True,
    width="stretch",
)

st.subheader("Errors in the last 24 hours")
errors = data.recent_error_rows()
if errors:
    table(errors, hide_index=True, width="stretch")
else:
    st.success("No collection errors in the last 24 hours.")
