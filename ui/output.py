"""Tables and chart labels for pages: the only way tenant text reaches a Streamlit table or a Plotly chart.

- ``table(data, **kwargs)`` instead of ``st.dataframe``: every cell through safetext.cells (Streamlit's
  own "Download as CSV" exports the values the table holds, so the formula rule applies to them).
- ``markdown_table(rows, **kwargs)`` instead of ``st.table``: st.table renders each cell (and header) as
  Markdown, so every string also goes through safetext.markdown (the rule ``ui.chrome.plain`` uses).
- ``chart_label(text)`` for every string Plotly draws (axis labels, legend names, hover text): Plotly
  renders a subset of HTML there, ``<a href>`` included.

A test (tests/test_safetext.py) fails if a page or ui module calls st.dataframe, st.table or
st.data_editor itself.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import streamlit as st

from safetext.cells import formula_safe, formula_safe_rows
from safetext.markdown import WORD_JOINER, markdown_text


def table(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe(data, **kwargs)`` with every cell safe to export; returns what st.dataframe does
    (the selection event with ``on_select``)."""
    return st.dataframe(formula_safe_rows(data), **kwargs)


def _markdown_cell(value: Any) -> Any:
    return markdown_text(formula_safe(value)) if isinstance(value, str) else value


def markdown_table(rows: list[Mapping[str, Any]], **kwargs: Any) -> Any:
    """``st.table`` of row dicts with every string cell and header as inert Markdown text."""
    return st.table(
        [{_markdown_cell(k): _markdown_cell(v) for k, v in row.items()} for row in rows], **kwargs
    )


def chart_label(text: Any) -> str:
    """A string as Plotly shows it literally: HTML escaped (no tags, links or entities), and a leading
    '$' broken, since Plotly typesets a label that starts and ends with '$' as LaTeX."""
    escaped = html.escape(str(text), quote=False)  # Plotly shows &quot; as written: quotes stay quotes
    return WORD_JOINER + escaped if escaped.startswith("$") else escaped
