"""Tenant text as spreadsheet cells: no cell a spreadsheet would run as a formula (OWASP's CSV injection
rule), for every table a person can export (Streamlit's own "Download as CSV" of st.dataframe exports the
raw cell values, so the rule is applied to the values the table is given) and every CSV we write.

A string that starts with '=', '+', '-', '@', TAB or CR gets a leading apostrophe: spreadsheets show it as
text (the apostrophe is visible in the grid, which is how the reader sees that the cell was neutralised).
Numbers, dates, booleans and None are left as they are (a negative number is a number, not a formula).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """``value`` with a leading apostrophe if it is a string a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def formula_safe_row(row: Mapping[Any, Any]) -> dict[Any, Any]:
    """One row (column → value): its values and its column names made safe."""
    return {formula_safe(key): formula_safe(value) for key, value in row.items()}


def formula_safe_rows(rows: Any) -> Any:
    """Table data as pages hand it to Streamlit, made safe cell by cell: a list of row dicts, a list of
    lists, a dict of columns, or a pandas DataFrame (values and column names); anything else unchanged."""
    if _is_frame(rows):
        frame = rows.copy()
        frame.columns = [formula_safe(c) for c in frame.columns]
        for column in range(frame.shape[1]):
            series = frame.iloc[:, column]
            if series.dtype == object or str(series.dtype) in ("string", "str", "category"):
                frame.iloc[:, column] = series.astype(object).map(formula_safe)
        return frame
    if isinstance(rows, Mapping):
        return {
            formula_safe(k): [formula_safe(v) for v in column]
            if isinstance(column, list | tuple)
            else formula_safe(column)
            for k, column in rows.items()
        }
    if isinstance(rows, list | tuple):
        out: list[Any] = []
        for row in rows:
            if isinstance(row, Mapping):
                out.append(formula_safe_row(row))
            elif isinstance(row, list | tuple):
                out.append([formula_safe(v) for v in row])
            else:
                out.append(formula_safe(row))
        return out
    return rows


def _is_frame(value: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas (this package imports nothing heavy)."""
    return type(value).__name__ == "DataFrame" and hasattr(value, "iloc") and hasattr(value, "columns")
