"""The frame around every page (dashboard.py runs it): the navigation by role, the sign-in gate, the
demo-data marker and data freshness; and small helpers pages share."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from safetext.markdown import markdown_text
from settings import SettingsError, describe_database_error, get_settings
from ui import data
from ui.auth import Identity, current_identity, sign_in_gate, uses_kiosk_link
from ui.heap import freeze_startup_heap

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
WALL = "wall.py"


@dataclass(frozen=True)
class PageEntry:
    file: str  # in pages/
    title: str
    icon: str
    operator_only: bool = False  # left out of a Viewer's navigation (and refused if opened)
    default: bool = False


PAGES: tuple[PageEntry, ...] = (
    PageEntry("tenants.py", "Tenants", ":material/domain:", default=True),
    PageEntry("signins.py", "Blocked sign-ins", ":material/block:"),
    PageEntry("mfa.py", "MFA coverage", ":material/phonelink_lock:"),
    PageEntry("posture.py", "Posture", ":material/verified_user:"),
    PageEntry("report_only.py", "Report-only impact", ":material/preview:"),
    PageEntry("changes.py", "Changes", ":material/difference:"),
    PageEntry("api_clients.py", "API clients", ":material/key:"),
    PageEntry("audit.py", "Audit", ":material/history:"),
    PageEntry("alerts.py", "Alerts", ":material/notifications:", operator_only=True),
    PageEntry("kiosk_links.py", "Kiosk links", ":material/tv:", operator_only=True),
    PageEntry("collectors.py", "Collectors", ":material/sync:"),
    PageEntry(WALL, "Wall", ":material/tv:"),
)

# Who the run in progress is for, set by run_dashboard around the page it runs (a script run has its
# own thread; the value is cleared when the page returns or stops).
_current = threading.local()


def wall_display() -> bool:
    """``?kiosk=1``: the wall for a screen across the room, without navigation or chrome."""
    return st.query_params.get("kiosk", "").lower() in ("1", "true", "yes")


def run_dashboard() -> None:
    """dashboard.py: one frame for every page, drawn once per run, around the page the navigation
    selects — settings and database checks, the sign-in gate, the navigation (by role; none for the
    wall's ``?kiosk=1`` or a kiosk link), the demo marker, who is signed in, data freshness."""
    st.set_page_config(page_title="Perimeter", page_icon=":material/shield:", layout="wide")
    try:
        settings = get_settings()
    except SettingsError as error:
        st.error(f"Perimeter cannot start: {error}")
        st.stop()
    try:
        data.engine()
    except (SQLAlchemyError, ImportError, OSError) as error:  # one line, password masked; no traceback
        st.error(
            "Perimeter cannot open its database: "
            + plain(describe_database_error(error, settings.database_url, settings.secret_values()))
        )
        st.stop()
    kiosk_link = uses_kiosk_link()
    viewer = None if kiosk_link else current_identity()
    operator = viewer is not None and viewer.is_operator
    pages = {
        e.file: st.Page(str(PAGES_DIR / e.file), title=e.title, icon=e.icon, default=e.default)
        for e in PAGES
        if operator or not e.operator_only
    }
    bare = kiosk_link or wall_display()
    selected = st.navigation(list(pages.values()), position="hidden" if bare else "sidebar")
    on_wall = selected.url_path == pages[WALL].url_path
    identity = sign_in_gate(kiosk_allowed=on_wall)
    if bare and on_wall:
        kiosk_chrome()
    else:
        demo_marker()
        identity_banner(identity)
        sidebar_freshness()
    failing_banner()
    _current.identity = identity
    try:
        selected.run()
    finally:
        _current.identity = None
        freeze_startup_heap()  # once per process, after a first page has loaded what the process keeps


def page_identity() -> Identity:
    """Who the page is for (call first in every page). A page file run on its own — Streamlit's legacy
    pages/ mode, which a fresh server is in until a run calls st.navigation (a deep link as its first
    request), or a test running the file — is routed through run_dashboard, so it gets the same frame
    and navigation, and this bare run ends."""
    identity = getattr(_current, "identity", None)
    if identity is None:
        run_dashboard()
        st.stop()
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
        st.sidebar.caption(
            ":material/person: Local demo mode: no sign-in; you act as an operator. "
            "Only for a browser on this machine, at 127.0.0.1, with no proxy in between."
        )


def demo_marker() -> None:
    if data.settings().demo_mode:
        st.warning(
            "**Demo data** — Perimeter is reading a simulated MSP, not Microsoft Graph. "
            "Configure Graph credentials to audit a real tenant.",
            icon=":material/science:",
        )


def failing_banner() -> None:
    """On every page while collection fails: how many sources, since when, what the data rests on and
    where to look. Pages built on that data may be incomplete; the banner says so before any number."""
    health = data.collection_health()
    if not health.failing:
        return
    st.error(
        f"{health.failing} source(s) of {health.failing_tenants} tenant(s) failing"
        + (f" (latest error {utc_text(health.latest_error_at)})" if health.latest_error_at else "")
        + (f"; data complete up to {utc_text(health.data_up_to)}" if health.data_up_to else "")
        + ": what the pages show may be incomplete (Collectors page for the errors).",
        icon=":material/sync_problem:",
    )


def utc_text(iso: str) -> str:
    """'2026-12-02T02:41:00Z' → '2026-12-02 02:41:00 UTC'."""
    return iso.replace("T", " ").removesuffix("Z") + " UTC"


def sidebar_freshness() -> None:
    health = data.collection_health()
    with st.sidebar:
        if data.settings().demo_mode:
            st.caption(":material/science: DEMO DATA (simulated MSP)")
        if not health.tenants:
            st.caption("No data collected yet.")
            return
        # The newest data source, never the posture run after it (that is a run over the data).
        st.caption(f"Newest data {humanize_age(health.newest_age_seconds)} old · {health.words()}")
