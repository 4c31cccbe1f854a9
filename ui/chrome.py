"""What every page shows: the demo-data marker and data freshness."""

from __future__ import annotations

import streamlit as st

from ui import data


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
