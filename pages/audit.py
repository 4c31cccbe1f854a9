"""Audit: every change Perimeter made or refused — fixes, rollbacks, accepted risks and kiosk links —
who did it and when, each shown as a diff (field: before → after), with rollback."""

from __future__ import annotations

import streamlit as st

from fixes import Actor, BadInput
from fixes.audit import DASHBOARD_CHANGES, UNDONE, Change, changes, shown_value
from ui import chrome, data
from ui.auth import current_identity
from ui.chrome import plain
from ui.fix_panel import confirmed, fix_engine, show_outcome, show_plan
from ui.output import table

SUMMARY_CHANGES = 3  # changes named in the table's one-line summary
SUMMARY_WIDTH = 160
LAST_OUTCOME = "audit-last-outcome"

chrome.page_identity()
st.title("Audit")

# The outcome of the action that made this run (a rollback reruns the page, so the table below is
# read after the write and lists it).
last = st.session_state.pop(LAST_OUTCOME, None)
if last is not None:
    show_outcome(last)

names = data.tenant_names()
entries = fix_engine().audit_log(limit=500)
if not entries:
    st.info(
        "No change has been made through Perimeter yet. Fixes are offered on the Posture and "
        "API clients pages; accepted risks and kiosk links are recorded here too."
    )
    st.stop()


def summary(entry_changes: list[Change]) -> str:
    """The first changes as 'path: before → after', cut to one table cell."""
    parts = [f"{c.path}: {shown_value(c.before)} → {shown_value(c.after)}" for c in entry_changes]
    text = "; ".join(parts[:SUMMARY_CHANGES])
    if len(parts) > SUMMARY_CHANGES:
        text += f"; +{len(parts) - SUMMARY_CHANGES} more"
    return text if len(text) <= SUMMARY_WIDTH else text[: SUMMARY_WIDTH - 1] + "…"


diffs = {e.id: changes(e.before, e.after) for e in entries}
rolled_back = {e.rollback_of for e in entries if e.rollback_of is not None and e.outcome in UNDONE}
# A dataframe shows tenant text (names, policy names, reasons) as plain text.
table(
    [
        {
            "#": e.id,
            "When (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"),
            "Who": e.actor,
            "Tenant": names.get(e.tenant_id, e.tenant_id),
            "Change": e.fix_id,
            "Target": e.target_name or e.target_id,
            "Outcome": e.outcome,
            "What changed": summary(diffs[e.id]) or "(nothing)",
            "Rolled back": "yes" if e.id in rolled_back else "",
            "Undoes": e.rollback_of,  # None: a number column, empty where the entry undoes nothing
            "Message": e.message,
        }
        for e in entries
    ],
    hide_index=True,
    width="stretch",
)

by_id = {e.id: e for e in entries}
wanted = st.query_params.get("entry")
if wanted and not (wanted.isdigit() and int(wanted) in by_id):
    st.warning(f"There is no audit entry {plain(wanted)} among the latest {len(by_id)}: choose one below.")
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
st.markdown("**What changed**")
if diffs[entry.id]:
    table(
        [
            {"Field": c.path, "Before": shown_value(c.before), "After": shown_value(c.after)}
            for c in diffs[entry.id]
        ],
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("Nothing: the target read the same before and after.")
with st.expander("Before and after, whole"):
    before, after = st.columns(2)
    before.caption("Before")
    before.json(entry.before, expanded=False)
    after.caption("After")
    after.json(entry.after, expanded=False)
if entry.requests:
    with st.expander(f"Requests sent ({len(entry.requests)})"):
        st.json(entry.requests, expanded=True)

if entry.fix_id in DASHBOARD_CHANGES:
    st.caption(f"To undo it: {DASHBOARD_CHANGES[entry.fix_id]}.")
    st.stop()
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
if st.button(f"Plan rollback of #{entry.id}", icon=":material/undo:"):
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
        # The same confirmation rule as a forward fix (fixes.exposure): what this rollback opens and
        # the finding it brings back are named above the typed word.
        typed_ok = confirmed(fix_engine().confirmation(plan), f"rollback-{entry.id}", "roll back")
        if st.button(f"Roll back #{entry.id}", type="primary", disabled=not (typed_ok and acknowledged)):
            outcome = fix_engine().apply(
                plan, Actor(identity.name, identity.roles), acknowledge_warnings=acknowledged
            )
            st.session_state.pop(state_key, None)
            st.session_state[LAST_OUTCOME] = outcome
            if outcome.audit_id is not None:
                st.query_params["entry"] = str(outcome.audit_id)
            st.rerun()  # the table and the details are read again, after the write
