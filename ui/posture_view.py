"""The posture page's clickable grids (Plotly): the MSP's perimeter (one row per check) and the client
matrix (one row per client tenant, its score first, one column per client check), and which cell a click
chose.

Why Plotly heatmaps with a transparent scatter on top: a heatmap draws filled cells but Plotly cannot
select a heatmap point (Streamlit's on_select saw nothing: "click a cell" did nothing), while a scatter
point can be selected by a click. Every string Plotly draws goes through ``chart_label`` (tenant names
are tenant text).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from db.history import ChangeRow
from posture.catalogue import CHECKS_BY_ID
from posture.summary import PerimeterRow, TenantRow, short_title
from ui.changes_data import kind_name, when_text, who_text
from ui.output import chart_label

# Status colours, worst last as STATUS_RANK orders them (n/a 0 … fail 4).
STATUS_COLOURS = {
    "n/a": "#6e7781",
    "pass": "#2da44e",
    "accepted": "#8250df",
    "warn": "#d4a72c",
    "fail": "#cf222e",
}
STATUS_ORDER = tuple(STATUS_COLOURS)
BAND_COLOURS = {
    "critical": "#cf222e",
    "poor": "#e16f24",
    "fair": "#d4a72c",
    "good": "#2da44e",
    "not scored": "#6e7781",
}
BAND_ORDER = tuple(BAND_COLOURS)
# st.metric's delta colour for a band (Streamlit's named colours).
BAND_METRIC_COLOUR = {"critical": "red", "poor": "orange", "fair": "yellow", "good": "green"}
# A caption under the grids: what the colours mean (Streamlit colour markup).
LEGEND = (
    ":red[■] fail · :orange[■] warn · :violet[■] accepted risk · :green[■] pass · :gray[■] n/a — "
    "click a cell to list its findings below (a score cell: the tenant's whole row)"
)
ROW_PX = 26
EVIDENCE_CHARS = 240


def _discrete(colours: Sequence[str]) -> list[list[Any]]:
    """A colour scale giving integer z = i the i-th colour (with zmin -0.5, zmax n - 0.5)."""
    n = len(colours)
    scale: list[list[Any]] = []
    for i, colour in enumerate(colours):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    return scale


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in reversed(STATUS_ORDER) if counts.get(s))


def cell_text(worst: str, counts: Mapping[str, int]) -> str:
    """What a cell says: how many subjects fail (or warn), else its status."""
    if worst in ("fail", "warn"):
        return f"{counts.get(worst, 0)} {worst}"
    return worst


def perimeter_text(row: PerimeterRow) -> str:
    """'fail · 2 of 9 subjects' (how many of the check's subjects are at its worst status), or 'pass'."""
    if row.worst in ("fail", "warn"):
        return f"{row.worst} · {row.counts.get(row.worst, 0)} of {row.subjects} subjects"
    return row.worst


def _grid(
    column_labels: Sequence[str],
    row_labels: Sequence[str],
    layers: Sequence[tuple[list[int], list[list[int | None]], list[list[str]], Sequence[str]]],
    keys: list[list[tuple[str, str]]],
    hovers: list[list[str]],
) -> go.Figure:
    """Heatmap layers (x positions, z as colour indices, cell texts, colours) under one transparent
    scatter point per cell carrying its (tenant id, check id) and hover text: the point a click selects."""
    figure = go.Figure()
    for xs, z, texts, colours in layers:
        figure.add_trace(
            go.Heatmap(
                x=xs,
                y=list(range(len(row_labels))),
                z=z,
                text=texts,
                texttemplate="%{text}",
                textfont={"size": 13},
                colorscale=_discrete(colours),
                zmin=-0.5,
                zmax=len(colours) - 0.5,
                showscale=False,
                hoverinfo="skip",
                xgap=2,
                ygap=2,
            )
        )
    points = [(x, y) for y, row in enumerate(keys) for x in range(len(row))]
    figure.add_trace(
        go.Scatter(
            x=[x for x, _ in points],
            y=[y for _, y in points],
            customdata=[list(keys[y][x]) for x, y in points],
            hovertext=[hovers[y][x] for x, y in points],
            hoverinfo="text",
            mode="markers",
            marker={"symbol": "square", "size": ROW_PX - 6, "color": "rgba(0,0,0,0)"},
            selected={"marker": {"color": "rgba(255,255,255,0.35)"}},
            unselected={"marker": {"opacity": 0}},
            showlegend=False,
        )
    )
    figure.update_layout(
        height=110 + ROW_PX * max(len(row_labels), 1),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        hovermode="closest",
        hoverdistance=-1,  # a click anywhere in a wide cell selects that cell's point
        clickmode="event+select",
        dragmode=False,
        xaxis={
            "side": "top",
            "tickangle": 0,
            "tickvals": list(range(len(column_labels))),
            "ticktext": list(column_labels),
            "range": [-0.5, len(column_labels) - 0.5],
            "fixedrange": True,
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={
            "tickvals": list(range(len(row_labels))),
            "ticktext": list(row_labels),
            "range": [len(row_labels) - 0.5, -0.5],  # the first row (the worst) on top
            "fixedrange": True,
            "automargin": True,
            "showgrid": False,
            "zeroline": False,
        },
    )
    return figure


def _column_label(check_id: str, line: int = 14) -> str:
    """'D-1' over its short title wrapped in lines of about ``line`` characters: columns stay narrow and
    labels level (a long label made Plotly tilt them all)."""
    lines: list[str] = []
    for word in short_title(check_id, 3 * line).split():
        if lines and len(lines[-1]) + 1 + len(word) <= line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(chart_label(text) for text in [check_id, *lines])


def _full_title(check_id: str) -> str:
    return chart_label(CHECKS_BY_ID[check_id].title) if check_id in CHECKS_BY_ID else chart_label(check_id)


def perimeter_figure(rows: Sequence[PerimeterRow], tenant_label: Callable[[str], str]) -> go.Figure:
    """The MSP's perimeter: one row per check (worst first) labelled with its ID and title, one cell with
    its worst status and how many of its subjects fail."""
    labels = []
    for row in rows:
        label = f"{chart_label(row.check)} · {chart_label(short_title(row.check, 48))}"
        if row.check in CHECKS_BY_ID and CHECKS_BY_ID[row.check].part in ("MFA", "D"):
            label += " (MSP tenant)"  # a per-tenant check, here about the MSP's own tenant
        labels.append(label)
    z: list[list[int | None]] = [[STATUS_ORDER.index(r.worst)] for r in rows]
    texts = [[perimeter_text(r)] for r in rows]
    hovers = [
        [
            f"{_full_title(r.check)}<br>{chart_label(tenant_label(r.tenant_id))}<br>"
            f"{_counts_text(r.counts)}<br>Click to list its findings"
        ]
        for r in rows
    ]
    keys = [[(r.tenant_id, r.check)] for r in rows]
    return _grid(
        ["Status · failing subjects"], labels, [([0], z, texts, list(STATUS_COLOURS.values()))], keys, hovers
    )


def client_figure(
    rows: Sequence[TenantRow], columns: Sequence[str], tenant_label: Callable[[str], str]
) -> go.Figure:
    """The client matrix: one row per client tenant (worst first) with its score and band, one column
    per client check labelled with its ID and short title (the full title on hover)."""
    names = [tenant_label(r.tenant_id) for r in rows]
    twice = {n for n in names if names.count(n) > 1}
    labels = [
        chart_label(n if n not in twice else f"{n} ({r.tenant_id[:8]})")
        for n, r in zip(names, rows, strict=True)
    ]
    band_z: list[list[int | None]] = [[BAND_ORDER.index(r.band)] for r in rows]
    band_text = [["—" if r.score is None else f"{r.score:.0f} {r.band}"] for r in rows]
    status_z: list[list[int | None]] = []
    status_text: list[list[str]] = []
    keys: list[list[tuple[str, str]]] = []
    hovers: list[list[str]] = []
    for row, label in zip(rows, labels, strict=True):
        cells = [row.cells.get(c) for c in columns]
        status_z.append([STATUS_ORDER.index(c.worst) if c else None for c in cells])
        status_text.append([cell_text(c.worst, c.counts) if c else "" for c in cells])
        keys.append([(row.tenant_id, "")] + [(row.tenant_id, c) for c in columns])
        score_words = "not scored" if row.score is None else f"{row.score:.1f} / 100 — {row.band}"
        hovers.append(
            [f"{label}<br>Score {score_words}<br>{row.failing} failing, {row.critical_failing} critical"]
            + [
                f"{label}<br>{chart_label(c)} — {_full_title(c)}<br>"
                + (_counts_text(cell.counts) if cell else "no finding")
                for c, cell in zip(columns, cells, strict=True)
            ]
        )
    return _grid(
        ["Score"] + [_column_label(c) for c in columns],
        labels,
        [
            ([0], band_z, band_text, list(BAND_COLOURS.values())),
            (list(range(1, len(columns) + 1)), status_z, status_text, list(STATUS_COLOURS.values())),
        ],
        keys,
        hovers,
    )


def clicked_cell(state: Any) -> tuple[str, str | None] | None:
    """(tenant id, check id or None for a whole row) of the point a grid's selection holds; None when
    nothing (or nothing of ours) is selected. ``state`` is the chart's on_select state."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or ():
        data = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(data, Sequence) and not isinstance(data, str) and len(data) == 2 and data[0]:
            return str(data[0]), (str(data[1]) or None)
    return None


def evidence_text(evidence: Mapping[str, Any], limit: int = EVIDENCE_CHARS) -> str:
    """A finding's evidence on one line for a table cell (the whole of it is in the detail below)."""
    text = json.dumps(evidence, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cause_text(change: ChangeRow) -> str:
    """What a regressed finding's cause says on the posture page (plain text, for st.text): the object,
    who changed it from where, when, and the diff in words."""
    where = f" from {change.from_ip}" if change.from_ip else ""
    words = "\n".join(f"  {line.words}" for line in change.diff) or "  (no difference recorded)"
    return (
        f"Object: {kind_name(change.kind)} {change.name} (version {change.version})\n"
        f"Changed by: {who_text(change)}{where}\n"
        f"When: {when_text(change)}\n"
        f"What changed:\n{words}"
    )
