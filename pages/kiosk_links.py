"""Kiosk links: read-only links for unattended wall screens, created and revoked by operators."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from investigate.wall import REFRESH_CHOICES_S, ROTATE_CHOICES_S, refresh_seconds, wall_link_query
from ui import actions, chrome, data
from ui.auth import KIOSK_TOKEN_PARAM, auth_configured, current_identity

VALIDITY_DAYS = [7, 30, 90, 180, 365]
DEFAULT_VALIDITY_DAYS = 90

chrome.page_identity()
st.title("Kiosk links")
st.caption(
    "A kiosk link opens the wall page read-only, without signing in, so a NOC screen can run "
    "unattended for weeks. Anyone holding the link sees the wall: revoke it when a screen is "
    "retired — an open wall blanks at its next refresh. Links expire; the token is shown once and "
    "only its hash is stored."
)
if not auth_configured():
    st.info(
        "Sign-in is not configured (local demo mode): the wall opens without a link here. Links "
        "matter once [auth] is set in .streamlit/secrets.toml."
    )

identity = current_identity()
if identity is None or not identity.is_operator:
    st.caption("Only an operator can create or revoke kiosk links.")
    st.stop()

with st.form("new-kiosk-link", clear_on_submit=True):
    label = st.text_input("Screen name", max_chars=100, placeholder="NOC wall, left screen")
    days = st.selectbox(
        "Valid for",
        VALIDITY_DAYS,
        index=VALIDITY_DAYS.index(DEFAULT_VALIDITY_DAYS),
        format_func=lambda d: f"{d} days",
        help="The wall stops showing data when the link expires (it warns a week before).",
    )
    left, right = st.columns(2)
    setting = data.settings().wall_refresh_seconds
    refresh_choices = sorted({*REFRESH_CHOICES_S, refresh_seconds(None, setting)})
    refresh = left.selectbox(
        "Refresh every",
        refresh_choices,
        index=refresh_choices.index(refresh_seconds(None, setting)),
        format_func=lambda s: f"{s} s",
        help="How often the wall reads new data (the link carries it: ?refresh=).",
    )
    rotate = right.selectbox(
        "Rotate through tenants",
        ROTATE_CHOICES_S,
        format_func=lambda s: "no: all tenants together" if not s else f"one tenant every {s} s",
        help="Show one tenant's tiles at a time, moving on every N seconds (?rotate=).",
    )
    if st.form_submit_button("Create link", icon=":material/add_link:"):
        if not label.strip():
            st.error("Name the screen, so the link can be recognised and revoked later.")
        else:
            token = actions.create_kiosk(label.strip(), timedelta(days=days))
            base = str(getattr(st.context, "url", "") or "").split("/kiosk_links")[0].rstrip("/")
            st.success("Link created. Copy it now: it is not shown again.")
            st.code(
                f"{base}/wall?{wall_link_query(refresh, rotate)}&{KIOSK_TOKEN_PARAM}={token}", language=None
            )

now = data.utcnow()
links = data.kiosk_links()
for link in links:
    cols = st.columns([5, 1])
    expired = link.expires_at is not None and link.expires_at <= now
    state = (
        f"revoked {link.revoked_at:%Y-%m-%d} by {link.revoked_by}"
        if link.revoked_at
        else f"expired {link.expires_at:%Y-%m-%d %H:%M}"
        if expired
        else f"last used {link.last_used_at:%Y-%m-%d %H:%M}"
        if link.last_used_at
        else "never used"
    )
    if link.expires_at is not None and not link.revoked_at and not expired:
        state += f"; expires {link.expires_at:%Y-%m-%d %H:%M} UTC"
    cols[0].text(f"{link.label} — created {link.created_at:%Y-%m-%d} by {link.created_by}; {state}")
    if link.revoked_at is None and not expired and cols[1].button("Revoke", key=f"revoke-kiosk-{link.id}"):
        actions.revoke_kiosk(link.id)
        st.rerun()
