"""API clients (Part C): every CIPP-API client, its allowed IP ranges and their validation, who is
open to any IP, drift from the Azure configuration; edit ranges through the fix engine."""

from __future__ import annotations

import streamlit as st

from fixes import FixRequest
from posture.checks.cipp import open_to_any_ip
from ui import chrome, data
from ui.fix_panel import fix_panel
from ui.output import table

chrome.page_identity()
st.title("API clients")

settings = data.settings()
clients, azure = data.cipp_api_clients()
if clients is None:
    st.info("CIPP API clients have not been collected yet (CIPP-API must be configured).")
    st.stop()
_, findings = data.posture_findings()
part_c = [f for f in findings if f.check in ("C-1", "C-2", "C-3")]
azure_ids = {str(i).lower() for i in (azure or {}).get("ClientIDs") or [] if isinstance(i, str)}


def ranges_of(client: dict) -> list[str]:
    value = client.get("IPRange")
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list) else []


rows = []
for client in clients:
    client_id = str(client.get("ClientId") or "")
    mine = [
        f
        for f in part_c
        if f.subject.id == client_id or (f.check == "C-2" and f.evidence.get("clientId") == client_id)
    ]
    range_problems = [f for f in mine if f.check == "C-2" and f.status in ("fail", "warn")]
    ranges = ranges_of(client)
    rows.append(
        {
            "App": client.get("AppName") or "(no name)",
            "Client id": client_id,
            "Role": client.get("Role") or "cipp-api (default)",
            "Enabled": bool(client.get("Enabled")),
            "Allowed IP ranges": ", ".join(ranges) or "(none: CIPP denies every call)",
            "Open to any IP": open_to_any_ip(ranges),
            "Range problems": len(range_problems),
            "In Azure": client_id.lower() in azure_ids,
            "Status": next((f.status for f in mine if f.check == "C-1"), "n/a"),
        }
    )

c1, c2, c3 = st.columns(3)
c1.metric("API clients", len(rows))
c2.metric("Open to any IP", sum(r["Open to any IP"] and r["Enabled"] for r in rows))
c3.metric("Azure drift", sum(f.status in ("fail", "warn") for f in part_c if f.check == "C-3"))
table(rows, hide_index=True, width="stretch")

drift = [f for f in part_c if f.check == "C-3" and f.status in ("fail", "warn")]
if drift:
    st.subheader("Drift from the Azure configuration (C-3)")
    table(
        [{"Status": f.status, "Client id": f.subject.id, "Finding": f.message} for f in drift],
        hide_index=True,
        width="stretch",
    )
    with st.container(border=True):
        fix_panel(FixRequest("api-config.save-to-azure", settings.msp_tenant_id), key="save-to-azure")

st.subheader("Edit a client's allowed IP ranges")
by_id = {r["Client id"]: r for r in rows if r["Client id"]}
chosen = st.selectbox(
    "Client",
    list(by_id),
    index=None,
    placeholder="Choose an API client",
    format_func=lambda cid: f"{by_id[cid]['App']} ({cid})",
)
if chosen:
    client = next(c for c in clients if str(c.get("ClientId")) == chosen)
    current = [r for r in ranges_of(client) if r.lower() != "any"]
    for problem in (
        f
        for f in part_c
        if f.check == "C-2" and f.evidence.get("clientId") == chosen and f.status in ("fail", "warn")
    ):
        st.text(f"{problem.status.upper()}: {problem.message}")
    with st.container(border=True):
        fix_panel(
            FixRequest("api-client.set-ranges", settings.msp_tenant_id, chosen, ranges=tuple(current)),
            key=f"ranges-{chosen}",
        )
