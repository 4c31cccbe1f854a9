"""The investigator's what-if form (Blocked sign-ins page): user, app, IP, country, client app and device
platform → Graph's Conditional Access what-if in that tenant → which policies apply, which block, and
why the others do not. Opened from a sign-in's explanation with that sign-in's values filled in.

The evaluation is a live Graph read through the one client factory (connectors.whatif.run_what_if);
the request and answer logic is investigate.whatif. Tenant text (policy names, UPNs) is shown through
markdown_table / plain(), never as markup."""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from connectors.whatif import run_what_if
from db.queries import graph_objects
from investigate.whatif import CLIENT_APP_TYPES, DEVICE_PLATFORMS, WhatIfQuery, query_from_signin, read_answer
from ui import data
from ui.chrome import plain
from ui.output import markdown_table

K = "whatif_"
NOT_GIVEN = "(not given)"
MEMBER = "member of the tenant"
SERVICE_PROVIDER = "serviceProvider"


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


def resolve_user(tenant_id: str, value: str) -> str | None:
    """An object id as typed, or the id of the user with that UPN among the tenant's (or, for the
    MSP's people in a client, the MSP tenant's) collected users; None when unknown."""
    value = value.strip()
    if _is_guid(value):
        return value
    wanted = value.lower()
    with data.engine().connect() as conn:
        for tenant in dict.fromkeys((tenant_id, data.settings().msp_tenant_id)):
            for user in graph_objects(conn, tenant, "users"):
                if isinstance(user, dict) and str(user.get("userPrincipalName") or "").lower() == wanted:
                    return str(user.get("id") or "") or None
    return None


def _fill(tenant_id: str, signin: dict[str, Any]) -> None:
    """Button callback: the form's fields from a stored sign-in, and the form opened."""
    query = query_from_signin(signin, tenant_id)
    st.session_state[K + "open"] = True
    st.session_state[K + "tenant"] = tenant_id
    st.session_state[K + "user"] = query.user_label or query.user_id
    st.session_state[K + "external"] = SERVICE_PROVIDER if query.external_user_type else MEMBER
    st.session_state[K + "home"] = query.external_tenant_id
    st.session_state[K + "app"] = query.app_ids[0] if query.app_ids else ""
    st.session_state[K + "ip"] = query.ip_address
    st.session_state[K + "country"] = query.country
    st.session_state[K + "client"] = query.client_app_type or NOT_GIVEN
    st.session_state[K + "platform"] = query.device_platform or NOT_GIVEN
    st.session_state.pop(K + "answer", None)


def whatif_button(tenant_id: str, signin: dict[str, Any], key: str) -> None:
    """ "What if…" beside a sign-in's explanation: opens the form with that sign-in's values."""
    st.button(
        "What if…",
        key=key,
        icon=":material/science:",
        help="Ask Graph's Conditional Access what-if about this sign-in (change any value first)",
        on_click=_fill,
        args=(tenant_id, signin),
    )


def _tenant_options() -> list[str]:
    names = data.tenant_names()
    current = st.session_state.get(K + "tenant")
    options = list(names)
    if current and current not in names:
        options.insert(0, current)
    return options


def whatif_form() -> None:
    """The form and its answer; shown once opened (by a sign-in's "What if…" or the expander)."""
    names = data.tenant_names()
    # Opened by a sign-in's button: a titled box (an expander would keep the state the browser gave it).
    opened = bool(st.session_state.get(K + "open"))
    box = (
        st.container(border=True, key="whatif-form")
        if opened
        else st.expander("What if… (Conditional Access what-if)", expanded=False)
    )
    with box:
        if opened:
            st.markdown("**What if… (Conditional Access what-if)**")
        options = _tenant_options()
        if not options:
            st.caption("No tenant is collected yet.")
            return
        with st.form(K + "form", border=False):
            st.selectbox("Tenant", options, key=K + "tenant", format_func=lambda t: names.get(t, t))
            st.text_input("User (UPN or object id)", key=K + "user")
            left, right = st.columns(2)
            left.selectbox("Who", [MEMBER, SERVICE_PROVIDER], key=K + "external")
            right.text_input("Home tenant id (service provider)", key=K + "home")
            st.text_input("Application id", key=K + "app")
            left, right = st.columns(2)
            left.text_input("IP address", key=K + "ip")
            right.text_input("Country (two letters)", key=K + "country")
            left, right = st.columns(2)
            left.selectbox("Client app", [NOT_GIVEN, *CLIENT_APP_TYPES], key=K + "client")
            right.selectbox("Device platform", [NOT_GIVEN, *DEVICE_PLATFORMS], key=K + "platform")
            asked = st.form_submit_button("Evaluate", type="primary", icon=":material/play_arrow:")
        if asked:
            st.session_state[K + "answer"] = _evaluate()
        answer = st.session_state.get(K + "answer")
        if answer is not None:
            _show(answer)


def _evaluate() -> dict[str, Any]:
    state = st.session_state
    tenant_id = str(state.get(K + "tenant") or "")
    typed = str(state.get(K + "user") or "")
    user_id = resolve_user(tenant_id, typed) if typed.strip() else None
    if user_id is None:
        return {"error": f"User {typed.strip()!r} is not among the collected users: give the object id."}
    service_provider = state.get(K + "external") == SERVICE_PROVIDER
    home = str(state.get(K + "home") or "").strip() or (
        data.settings().msp_tenant_id if service_provider else ""
    )
    query = WhatIfQuery(
        user_id=user_id,
        app_ids=(str(state.get(K + "app") or ""),),
        ip_address=str(state.get(K + "ip") or ""),
        country=str(state.get(K + "country") or ""),
        client_app_type="" if state.get(K + "client") == NOT_GIVEN else str(state.get(K + "client")),
        device_platform="" if state.get(K + "platform") == NOT_GIVEN else str(state.get(K + "platform")),
        external_user_type=SERVICE_PROVIDER if service_provider else "",
        external_tenant_id=home if service_provider else "",
        user_label=typed,
    )
    with st.spinner("Asking Graph's what-if…"):
        call = run_what_if(data.settings(), tenant_id, query)
    if not call.ok:
        return {"error": call.message}
    return {"results": call.results}


def _show(answer: dict[str, Any]) -> None:
    if "error" in answer:
        st.warning(plain(answer["error"]), icon=":material/error:")
        return
    outcome = read_answer(answer.get("results") or [])
    if outcome.blocking:
        st.error(plain(outcome.summary), icon=":material/block:")
    else:
        st.success(plain(outcome.summary), icon=":material/check_circle:")
    if outcome.policies:
        markdown_table([p.row for p in outcome.policies], hide_index=True)
    else:
        st.caption("The tenant has no Conditional Access policies.")
