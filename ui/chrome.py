"""What every page shows: the demo-data marker and data freshness."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from safetext.markdown import markdown_text
from settings import SettingsError, describe_database_error, get_settings
from ui import data
from ui.auth import Identity, sign_in_gate

_SEEN = "_perimeter_session_started"


def page_frame(kiosk_allowed: bool = False, kiosk_display: bool = False) -> Identity:
    """Call first in every page: the settings check, the demo-data marker, who is signed in and
    data freshness; returns who is looking. Pages do this themselves rather than dashboard.py because
    Streamlit can run a page file without dashboard.py: in its legacy pages/ mode, which a server is
    in until the first `st.navigation` call (a deep link as the first request after start), and in
    AppTest."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        # Leave the legacy mode for this process, so runs go through dashboard.py's navigation; a
        # session's first run (no widget event to lose) starts over that way at once.
        PagesManager.uses_pages_directory = False
        if _SEEN not in st.session_state:
            st.session_state[_SEEN] = True
            st.rerun()
    st.session_state[_SEEN] = True
    st.set_page_config(page_title="Perimeter", page_icon=":material/shield:", layout="wide")
    try:
        settings = get_settings()
    except SettingsError as error:
        st.error(f"Perimeter cannot start: {error}")
        st.stop()
    try:
        data.engine()
    except (SQLAlchemyError, ImportError, OSError) as error:  # one line, password masked; no traceback
        st.error("Perimeter cannot open its database: "
                 + plain(describe_database_error(error, settings.database_url, settings.secret_values())))
        st.stop()
    identity = sign_in_gate(kiosk_allowed)
    if kiosk_display:  # the wall with ?kiosk=1: no sidebar, no toolbar, only a small demo marker
        kiosk_chrome()
        return identity
    demo_marker()
    identity_banner(identity)
    sidebar_freshness()
    return identity


# Constant CSS (no tenant text): hide Streamlit's header, toolbar and sidebar on a wall screen.
_KIOSK_CSS = """<style>
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stSidebar"],
[data-testid="stSidebarCollapsedControl"], [data-testid="stDecoration"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 1rem !important; }
</style>"""


def kiosk_chrome() -> None:
    st.html(_KIOSK_CSS)
    if data.settings().demo_mode:
        st.caption(":material/science: **Demo data** — simulated MSP")


def humanize_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(int(seconds), 0)  # a collector clock slightly ahead of ours reads as "now"
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def plain(text: object) -> str:
    """Tenant-supplied text made inert for Streamlit's markdown: no link (auto-links included), image,
    element, emphasis, icon, colour or block markup. The rule itself is safetext.markdown."""
    return markdown_text(text)


def identity_banner(identity: Identity) -> None:
    if identity.local_demo:
        st.sidebar.caption(":material/person: Local demo mode: no sign-in; you act as an operator. "
                           "Only for a browser on this machine, at 127.0.0.1, with no proxy in between.")


def demo_marker() -> None:
    if data.settings().demo_mode:
        st.warning(
            "**Demo data** — Perimeter is reading a simulated MSP, not Microsoft Graph. "
            "Configure Graph credentials to audit a real tenant.",
            icon=":material/science:",
        )


def sidebar_freshness() -> None:
    rows = data.source_status_rows()
    with st.sidebar:
        if data.settings().demo_mode:
            st.caption(":material/science: DEMO DATA (simulated MSP)")
        if not rows:
            st.caption("No data collected yet.")
            return
        ages = [r["ageSeconds"] for r in rows if r["ageSeconds"] is not None]
        failing = sum(r["failing"] for r in rows)
        newest = min(ages) if ages else None
        st.caption(f"Last collection {humanize_age(newest)} ago · "
                   f"{sum(r['fresh'] for r in rows)}/{len(rows)} sources fresh · {failing} failing")
