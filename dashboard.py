"""Perimeter dashboard: `streamlit run dashboard.py`. Pages read the database only."""

from __future__ import annotations

import streamlit as st

from settings import SettingsError, get_settings

st.set_page_config(page_title="Perimeter", page_icon=":material/shield:", layout="wide")

try:
    get_settings()
except SettingsError as error:
    st.error(f"Perimeter cannot start: {error}")
    st.stop()

pages = [
    st.Page("pages/tenants.py", title="Tenants", icon=":material/domain:", default=True),
    st.Page("pages/signins.py", title="Blocked sign-ins", icon=":material/block:"),
    st.Page("pages/mfa.py", title="MFA coverage", icon=":material/phonelink_lock:"),
    st.Page("pages/posture.py", title="Posture", icon=":material/verified_user:"),
    st.Page("pages/api_clients.py", title="API clients", icon=":material/key:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/history:"),
    st.Page("pages/kiosk_links.py", title="Kiosk links", icon=":material/tv:"),
    st.Page("pages/collectors.py", title="Collectors", icon=":material/sync:"),
    st.Page("pages/wall.py", title="Wall", icon=":material/tv:"),
]
# Each page draws the common frame itself (ui.chrome.page_frame): see why there.
# The wall on a NOC screen (`?kiosk=1`) shows no navigation (pages/wall.py hides the rest of the chrome).
kiosk = st.query_params.get("kiosk", "").lower() in ("1", "true", "yes")
st.navigation(pages, position="hidden" if kiosk else "sidebar").run()
