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
    st.Page("pages/posture.py", title="Posture", icon=":material/verified_user:"),
    st.Page("pages/api_clients.py", title="API clients", icon=":material/key:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/history:"),
    st.Page("pages/collectors.py", title="Collectors", icon=":material/sync:"),
]
# Each page draws the common frame itself (ui.chrome.page_frame): see why there.
st.navigation(pages).run()
