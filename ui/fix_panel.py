"""The fix button, shared by every page that offers a fix: inputs → plan (the diff and the exact
requests) → confirmation → apply → the result and its audit entry.

One confirmation rule for a fix and a rollback alike (:func:`confirmed`, from fixes.exposure): a write
that opens access, re-creates a finding or can lock people out needs the typed word, and the page says
why, naming the finding it re-creates; any other write needs a click. Each button says which fix it
plans or applies, so two fixes on one page are never two identical "Plan fix" buttons.

Operators only; the engine re-checks the role itself, so hiding the panel is not the only guard.
"""

from __future__ import annotations

import re
from dataclasses import replace

import streamlit as st

from fixes import (
    CONFLICT,
    FIXES,
    Actor,
    BadInput,
    Confirmation,
    FixEngine,
    FixRequest,
    FixSpec,
    Outcome,
    Plan,
    RangeError,
    parse_range,
)
from settings import get_settings
from ui import data
from ui.auth import current_identity
from ui.chrome import plain

CONFIRM_WORD = "APPLY"


@st.cache_resource
def fix_engine() -> FixEngine:
    return FixEngine(get_settings(), data.engine())


def _lowered(title: str) -> str:
    return title[:1].lower() + title[1:]


def plan_label(spec: FixSpec) -> str:
    """'Plan fix: add a range to the trusted location': one label per fix."""
    return f"Plan fix: {_lowered(spec.title)}"


def apply_label(spec: FixSpec) -> str:
    return f"Apply fix: {_lowered(spec.title)}"


def confirmed(confirmation: Confirmation, key: str, action: str) -> bool:
    """Ask the confirmation a write needs (fixes.exposure): say why, and take the typed word. True when
    the write may go ahead (nothing to confirm, or the word typed)."""
    if not confirmation.required:
        return True
    for reason in confirmation.reasons():
        st.warning(plain(reason), icon=":material/lock_open:")
    typed = st.text_input(f"Type {CONFIRM_WORD} to {action}", key=f"{key}-confirm")
    return typed.strip() == CONFIRM_WORD


def split_ranges(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text.strip()) if part]


def range_feedback(entries: list[str]) -> tuple[list[str], list[str]]:
    """(normalised ranges, one message per entry that is refused) — live validation for forms."""
    normalised, problems = [], []
    for entry in entries:
        try:
            parsed = parse_range(entry)
        except RangeError as error:
            problems.append(f"{entry}: {error}")
            continue
        normalised.append(parsed.text)
    return normalised, problems


def show_plan(plan: Plan) -> None:
    """A plan as a person reads it. Plans quote tenant data: only plain text and code blocks."""
    st.text(plan.summary)
    if plan.refusal:
        st.error(f"Refused: {plain(plan.refusal)}", icon=":material/block:")
    for warning in plan.warnings:
        st.warning(plain(warning), icon=":material/warning:")
    for note in plan.notes:
        st.caption(plain(note))
    if plan.irreversible:
        st.caption(f"Not reversible: {plain(plan.irreversible)}")
    if plan.requests:
        st.code(plan.diff() or "(no visible change)", language="diff")
        with st.expander(f"The {len(plan.requests)} request(s) that will be sent"):
            st.json([call.as_dict() for call in plan.requests], expanded=True)


def fix_panel(request: FixRequest, key: str) -> None:
    """Everything needed to run one fix for ``request`` (inputs the fix needs are asked here)."""
    spec = FIXES[request.fix_id]
    identity = current_identity()
    st.markdown(f"**Fix: {plain(spec.title)}** (`{spec.id}`)")
    if identity is None or not identity.is_operator:
        st.caption("Only an operator can run fixes.")
        return
    state_key = f"fix-plan-{key}"

    if spec.ranges != "none":
        text = st.text_area(
            "Ranges (IPv4/IPv6 CIDR, one per line or comma-separated)",
            value="\n".join(request.ranges),
            key=f"{key}-ranges",
            height=100,
        )
        entries = split_ranges(text)
        normalised, problems = range_feedback(entries)
        for problem in problems:
            st.error(plain(problem))
        if entries and not problems:
            st.caption("Will be saved as: " + plain(", ".join(normalised)))
        request = replace(request, ranges=tuple(entries))
    if spec.needs_egress_ip:
        egress = st.text_input(
            "Your egress IP (the guard refuses a policy that would lock it out)",
            value=request.egress_ip,
            key=f"{key}-egress",
        )
        request = replace(request, egress_ip=egress.strip())

    if st.button(plan_label(spec), key=f"{key}-plan", icon=":material/preview:"):
        try:
            st.session_state[state_key] = fix_engine().plan(request)
        except BadInput as error:
            st.session_state.pop(state_key, None)
            st.error(plain(str(error)))
    plan: Plan | None = st.session_state.get(state_key)
    if plan is None or plan.request != request:
        return
    show_plan(plan)
    if not plan.ready:
        return
    acknowledged = True
    if plan.warnings:
        acknowledged = st.checkbox("I have read the warnings and want to go ahead", key=f"{key}-ack")
    typed_ok = confirmed(fix_engine().confirmation(plan), key, "apply this fix")
    if st.button(
        apply_label(spec),
        key=f"{key}-apply",
        type="primary",
        disabled=not (acknowledged and typed_ok),
        icon=":material/build:",
    ):
        actor = Actor(identity.name, identity.roles)
        try:
            outcome = fix_engine().apply(plan, actor, acknowledge_warnings=acknowledged)
        except PermissionError as error:
            st.error(plain(str(error)))
            return
        except BadInput as error:
            st.error(plain(str(error)))
            return
        st.session_state.pop(state_key, None)
        show_outcome(outcome)


def show_outcome(outcome: Outcome) -> None:
    # A conflict: the change took, but the target also shows a change Perimeter did not make (or lost one):
    # neither a success to forget nor a failure to retry, a state to review.
    show = st.success if outcome.ok else st.warning if outcome.outcome == CONFLICT else st.error
    show(f"{outcome.outcome}: {plain(outcome.message)}")
    if outcome.audit_id is not None:
        st.page_link(
            "pages/audit.py",
            label=f"Audit entry #{outcome.audit_id}",
            icon=":material/history:",
            query_params={"entry": str(outcome.audit_id)},
        )
    st.caption("The next collection cycle shows the effect in posture (or use Collect now).")
