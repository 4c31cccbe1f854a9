"""The dashboard's page scripts, run by dashboard.py through st.navigation (ui.chrome.run_dashboard).
A package only so that the layer contract (.importlinter) reads their imports; Streamlit's own page
discovery skips this file."""
