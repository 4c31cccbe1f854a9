"""Perimeter dashboard: `streamlit run dashboard.py`. Pages read the database only; the frame around
them (navigation by role, sign-in, demo marker, freshness) is drawn here once per run."""

from ui.chrome import run_dashboard

run_dashboard()
