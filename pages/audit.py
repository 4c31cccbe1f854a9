"""Audit: every change Perimeter made or refused, who did it and when, with rollback."""

from __future__ import annotations

import streamlit as st

from fixes import Actor, BadInput
from fixes.audit import UNDONE
from ui import chrome, data
from ui.auth import current_identity
from ui.chrome import plain
from ui.fix_panel import CONFIRM_WORD, fix_engine, show_outcome, show_plan
from ui.output import table

chrome.page_identity()
st.title("Audit")

names = data.tenant_names()
entries = fix_engine().audit_log(limit=500)
if not entries:
    st.info(
        "No change has been made through Perimeter yet. Fixes are offered on the Posture and "
        "API clients pages."
    )
    st.stop()

rolled_back = {e.rollback_of for e in entries if e.rollback_of is not None and e.outcome in UNDONE}
table(
    [
        {
            "#": e.id,
            "When (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"),
            "Who": e.actor,
            "Tenant": names.get(e.tenant_id, e.tenant_id),
            "Fix": e.fix_id,
            "Target": e.target_name or e.target_id,
            "Outcome": e.outcome,
            "Rolled back": "yes" if e.id in rolled_back else "",
            "Undoes": e.rollback_of or "",
            "Message": e.message,
        }
        for e in entries
    ],
    hide_index=True,
    width="stretch",
)

by_id = {e.id: e for e in entries}
wanted = st.query_params.get("entry")
default = int(wanted) if wanted and wanted.isdigit() and int(wanted) in by_id else None
choice = st.selectbox(
    "Details of",
    list(by_id),
    index=list(by_id).index(default) if default else None,
    placeholder="Choose an audit entry",
    format_func=lambda i: (
        f"#{i} · {by_id[i].fix_id} · {by_id[i].outcome} · {by_id[i].target_name or by_id[i].target_id}"
    ),
)
if choice is None:
    st.stop()
entry = by_id[choice]
st.query_params["entry"] = str(entry.id)
st.text(
    f"#{entry.id} {entry.outcome} by {entry.actor} at {entry.at:%Y-%m-%d %H:%M:%S} UTC\n"
    f"Tenant: {names.get(entry.tenant_id, entry.tenant_id)}\n"
    f"Target: {entry.target_type} {entry.target_name} ({entry.target_id})\n{entry.message}"
)
before, after = st.columns(2)
with before:
    st.caption("Before")
    st.json(entry.before, expanded=False)
with after:
    st.caption("After")
    st.json(entry.after, expanded=False)
with st.expander(f"Requests sent ({len(entry.requests)})"):
    st.json(entry.requests, expanded=True)

identity = current_identity()
# Rollback is offered only where it can run: the engine's one reason a record cannot be rolled back.
cannot = fix_engine().rollback_reason(entry)
if cannot:
    st.caption(f"No rollback: {plain(cannot)}")
    st.stop()
if identity is None or not identity.is_operator:
    st.caption("Only an operator can roll a change back.")
    st.stop()
state_key = f"rollback-plan-{entry.id}"
# The rollback is guarded like a forward fix: taking ranges from a location an enabled block policy
# exempts, or leaving a block policy on, needs the operator's own egress IP.
egress_ip = st.text_input(
    "Your egress IP",
    key=f"rollback-egress-{entry.id}",
    placeholder="the public IP your network reaches Microsoft from",
    help="Needed when undoing this would take ranges from a trusted location a "
    "block policy exempts, or leave a block policy on: Perimeter checks you stay "
    "inside.",
)
if st.button("Plan rollback", icon=":material/undo:"):
    try:
        st.session_state[state_key] = fix_engine().plan_rollback(entry.id, egress_ip.strip())
    except BadInput as error:
        st.error(plain(str(error)))
plan = st.session_state.get(state_key)
if plan is not None:
    show_plan(plan)
    if plan.ready:
        # Warnings are acknowledged as for a forward fix: a rollback passes the same guards.
        acknowledged = not plan.warnings or st.checkbox(
            "I have read the warnings and want to go ahead", key=f"rollback-ack-{entry.id}"
        )
        typed = st.text_input(f"Type {CONFIRM_WORD} to roll back", key=f"confirm-{entry.id}")
        if st.button("Roll back", type="primary", disabled=typed.strip() != CONFIRM_WORD or not acknowledged):
            outcome = fix_engine().apply(
                plan, Actor(identity.name, identity.roles), acknowledge_warnings=acknowledged
            )
            st.session_state.pop(state_key, None)
            show_outcome(outcome)
