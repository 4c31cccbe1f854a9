"""The benchmarks (README, "Commands"). Streamlit logs at ERROR in all of them: the pages' cached data
functions, imported outside a page, would each log "No runtime found" (and run_pages' AppTest too)."""

import streamlit.logger

streamlit.logger.set_log_level("error")
