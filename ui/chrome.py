"""What every page shows: the demo-data marker and data freshness."""

from __future__ import annotations

import streamlit as st

from ui import data


def entered_through_dashboard() -> None:
    """Call first in every page. On a server's very first session Streamlit may run a page file
    straight from pages/ (its legacy multipage mode, which it only leaves once `st.navigation` has
    been called) — skipping dashboard.py's settings check, sign-in and banners. Leave that mode and
    rerun through dashboard.py instead."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


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


_MARKDOWN_SPECIALS = "\\`*_{}[]<>()#+-.!|~$"


def plain(text: str) -> str:
    """Tenant-supplied text made inert for Streamlit's markdown (no links, images or emphasis)."""
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIALS else ch for ch in str(text))


def identity_banner() -> None:
    from ui.auth import current_identity

    identity = current_identity()
    if identity is not None and identity.local_demo:
        st.sidebar.caption(":material/person: Local demo mode: no sign-in; you act as an operator. "
                           "Allowed only while the dashboard listens on loopback.")


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
