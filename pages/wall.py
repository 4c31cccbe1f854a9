"""The NOC wall: big tiles that refresh themselves. `?kiosk=1` hides navigation and chrome,
`?refresh=N` sets the refresh (seconds, bounded), `?rotate=N` rotates through tenants every N seconds.

Tiles are computed once per refresh period and cached across sessions (ui.signin_data.wall), so any
number of screens cost one set of queries per period. Only the fragment reruns, never the page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import streamlit as st

from investigate.codes import describe
from investigate.wall import (
    AMBER,
    RED,
    alert_level,
    blocked_change,
    period_start,
    refresh_seconds,
    rotate_seconds,
    rotation_index,
    target_level,
)
from posture.options import PostureOptions
from ui import chrome, data
from ui import signin_data as sd
from ui.auth import still_allowed
from ui.chrome import humanize_age, plain
from ui.output import markdown_table

KIOSK_EXPIRY_NOTICE = timedelta(days=7)  # a wall says so this long before its link stops working

kiosk = chrome.wall_display()
viewer = chrome.page_identity()
refresh = refresh_seconds(st.query_params.get("refresh"), data.settings().wall_refresh_seconds)
rotate = rotate_seconds(st.query_params.get("rotate"))

# Constant CSS (no tenant text): large type for a screen across the room; tile colours by state.
st.html("""<style>
[data-testid="stMetricValue"] { font-size: 3.4rem !important; line-height: 1.1; }
[data-testid="stMetricLabel"] p { font-size: 1.15rem !important; }
[data-testid="stMetricDelta"] { font-size: 1.1rem !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.1rem !important; }
.st-key-wall-fresh-amber { background: #6b4f00; border-radius: 0.5rem; }
.st-key-wall-fresh-red { background: #7a1a1a; border-radius: 0.5rem; }
.st-key-wall-fresh-ok { background: #12361f; border-radius: 0.5rem; }
[class*="st-key-wall-"][class*="-red"] { background: #7a1a1a; border-radius: 0.5rem; }
[class*="st-key-wall-"][class*="-amber"] { background: #6b4f00; border-radius: 0.5rem; }
</style>""")
st.title("Perimeter wall")
expires = viewer.expires_at if viewer.kiosk else None
if expires is not None and expires - data.utcnow() < KIOSK_EXPIRY_NOTICE:
    st.warning(
        f"This kiosk link expires on {expires:%Y-%m-%d %H:%M} UTC: ask an operator for a new one "
        "(Kiosk links page).",
        icon=":material/timer:",
    )


def sparkline(points: list[tuple[datetime, int]]) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            mode="lines",
            fill="tozeroy",
            line={"width": 2, "color": "#ff7b72"},
        )
    )
    figure.update_layout(
        height=90,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return figure


def blocked_metric(label: str, now: int, before: int, sources_behind: int) -> None:
    """A count of blocked sign-ins beside the period before it: fewer is green and points down; while
    sign-in sources are behind, the count is marked incomplete instead (missing data is not a drop)."""
    change = blocked_change(now, before, sources_behind)
    st.metric(label, f"{now:,}", delta=change.words, delta_color=change.colour, delta_arrow=change.arrow)


def tile_key(name: str, level: str | None) -> str:
    """The tile's container key: its CSS colours the worst thing loudest (red, amber; none unknown)."""
    return f"wall-{name}-{level or 'unknown'}"


@st.fragment(run_every=refresh)
def tiles() -> None:
    # A wall runs for weeks without a reload: its kiosk link (or sign-in) is checked on every refresh,
    # so a revoked or expired link blanks the screen within one refresh interval.
    refusal = still_allowed()
    if refusal:
        st.error(refusal, icon=":material/lock:")
        return
    now = data.utcnow()
    seconds = sd.epoch(now)
    period = datetime.fromtimestamp(period_start(seconds, refresh), UTC).replace(tzinfo=None)
    directory = sd.tenant_directory()
    tenant_id = None
    if rotate and directory:
        tenant_id = list(directory)[rotation_index(seconds, rotate, len(directory))]
    wall = sd.wall(period, tenant_id)
    scope = plain(directory[tenant_id]["name"]) if tenant_id else f"All {len(directory)} tenants"
    st.subheader(scope, anchor=False)  # no anchor: its slug (an in-page link) would be built from tenant text
    st.caption(
        f"As of {period:%H:%M:%S} UTC · refreshes every {refresh} s"
        + (f" · next tenant every {rotate} s" if rotate else "")
    )

    counts = wall["counts"]
    row1 = st.columns(3)
    with row1[0].container(border=True):
        blocked_metric(
            "Blocked sign-ins, last hour", counts.last_hour, counts.previous_hour, wall["signInSourcesBehind"]
        )
    with row1[1].container(border=True):
        blocked_metric(
            "Blocked sign-ins, 24 h", counts.last_day, counts.previous_day, wall["signInSourcesBehind"]
        )
        st.plotly_chart(
            sparkline(wall["hourly"]),
            config={"displayModeBar": False, "staticPlot": True},
            key="wall_sparkline",
        )
    fresh = wall["freshness"]
    with row1[2].container(border=True, key=f"wall-fresh-{fresh.level}"):
        st.metric(
            "Data freshness",
            f"{humanize_age(fresh.age_seconds)} old" if fresh.age_seconds is not None else "no data",
        )
        words = {RED: "collectors are far behind", AMBER: "collectors are falling behind"}.get(
            fresh.level, "collectors are keeping up"
        )
        st.caption(f"{words} · {fresh.stale} stale · {fresh.failing} failing source(s)")

    row2 = st.columns(3)
    evaluated = wall["evaluatedAt"] is not None
    critical = len(wall["criticalTenants"]) if evaluated else None
    with row2[0].container(border=True, key=tile_key("critical", alert_level(critical))):
        st.metric(
            "Tenants with critical findings",
            "—" if critical is None else critical,
            help="Failing critical posture findings, accepted risks excluded",
        )
        st.caption(
            f"{wall['criticalFindings']} failing critical finding(s)"
            if evaluated
            else "posture not evaluated yet"
        )
    clients = wall["openClients"]
    with row2[1].container(
        border=True, key=tile_key("clients", alert_level(None if clients is None else len(clients.names)))
    ):
        st.metric("API clients open to any IP", "—" if clients is None else len(clients.names))
        if clients is not None and clients.names:
            st.caption(
                ", ".join(plain(n) for n in clients.names[:4]) + (" …" if len(clients.names) > 4 else "")
            )
        elif clients is not None and clients.accepted:
            st.caption(f"{clients.accepted} accepted as a risk")
        elif clients is None:
            st.caption("CIPP API clients not collected")
    capable, members = wall["mfa"]
    ratio = capable / members if members else None
    with row2[2].container(
        border=True, key=tile_key("mfa", target_level(ratio, PostureOptions().mfa_pass_ratio))
    ):
        st.metric("MFA capable", f"{capable / members:.1%}" if members else "—")
        st.caption(f"{capable:,} of {members:,} enabled members")

    # st.table reads Markdown in cells: ui.output.markdown_table puts every cell through plain()'s rule.
    left, right = st.columns(2)
    with left:
        st.markdown("**Top blocking policies, 24 h**")
        markdown_table(
            [
                {"Policy": name, "Tenant": directory.get(t, {}).get("name", t), "Blocked": n}
                for t, _pid, name, n in wall["policies"]
            ]
            or [{"Policy": "none", "Tenant": "", "Blocked": 0}],
            hide_index=True,
        )
    with right:
        st.markdown("**Latest blocked sign-ins**")
        markdown_table(
            [
                {
                    "When (UTC)": f"{r.created_at:%H:%M:%S}",
                    "Tenant": directory.get(r.tenant_id, {}).get("name", r.tenant_id),
                    "User": r.user_principal_name,
                    "Why": describe(r.error_code).reason,
                }
                for r in wall["latest"]
            ]
            or [{"When (UTC)": "", "Tenant": "", "User": "none", "Why": ""}],
            hide_index=True,
        )


tiles()
if not kiosk:
    st.caption("For a NOC screen: add `?kiosk=1` (no navigation), `&refresh=30` and `&rotate=20`.")
