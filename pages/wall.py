"""The NOC wall: big tiles that refresh themselves. `?kiosk=1` hides navigation and chrome,
`?refresh=N` sets the refresh (seconds, bounded), `?rotate=N` rotates through tenants every N seconds.

Tiles are computed once per refresh period and cached across sessions (ui.signin_data.wall), so any
number of screens cost one set of queries per period. Only the fragment reruns, never the page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import streamlit as st

from investigate.codes import BLOCKED_MEANING, describe
from investigate.wall import (
    alert_level,
    blocked_change,
    freshness_words,
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

# Constant CSS (no tenant text): large type for a screen across the room, tight spacing so the whole wall
# fits one 1920×1080 or 1600×1000 screen without scrolling; tile colours by state.
st.html("""<style>
[data-testid="stMainBlockContainer"] { padding-top: 0.75rem !important; padding-bottom: 0.5rem !important; }
[data-testid="stMain"] [data-testid="stVerticalBlock"] { gap: 0.55rem; }
[data-testid="stMain"] h1 { font-size: 2.1rem !important; padding: 0.1rem 0 0 0 !important; }
[data-testid="stMain"] h3 { font-size: 1.7rem !important; padding: 0.1rem 0 0 0 !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] p {
  font-size: 3.2rem !important; line-height: 1.05; }
[data-testid="stMetricLabel"] p { font-size: 1.25rem !important; }
[data-testid="stMetricDelta"] { font-size: 1.2rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.1rem !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong { font-size: 1.2rem; }
[data-testid="stTable"] td, [data-testid="stTable"] th {
  font-size: 1.15rem !important; padding: 0.2rem 0.5rem !important; }
[class*="st-key-wall-"][class*="-red"] { background: #7a1a1a; border-radius: 0.5rem; }
[class*="st-key-wall-"][class*="-amber"] { background: #6b4f00; border-radius: 0.5rem; }
[class*="st-key-wall-"][class*="-ok"] { background: #12361f; border-radius: 0.5rem; }
</style>""")
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
    st.metric(
        label,
        f"{now:,}",
        delta=change.words,
        delta_color=change.colour,
        delta_arrow=change.arrow,
        help=BLOCKED_MEANING,  # blocked, not every failure: wrong passwords are not counted
    )


def tile_key(name: str, level: str | None) -> str:
    """The tile's container key: its CSS colours the worst thing loudest (red, amber; none unknown)."""
    return f"wall-{name}-{level or 'unknown'}"


LATEST_ROWS = 5  # rows per table: the wall must fit one screen


@st.fragment(run_every=min(refresh, rotate or refresh))  # a rotation faster than refresh still moves on
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
    head, when = st.columns([3, 2], vertical_alignment="center")
    # No anchor: its slug (an in-page link) would be built from tenant text.
    head.title(f"Perimeter wall · {scope}", anchor=False)
    when.caption(
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
    with row1[2].container(border=True, key=tile_key("fresh", fresh.level)):
        st.metric(
            "Data freshness",
            f"{humanize_age(fresh.age_seconds)} old" if fresh.age_seconds is not None else "no data",
        )
        st.caption(freshness_words(fresh))

    # In rotation every tile is about the tenant on screen: the CIPP-wide API clients tile stays out.
    row2 = st.columns(3 if tenant_id is None else 2)
    evaluated = wall["evaluatedAt"] is not None
    with row2[0].container(
        border=True, key=tile_key("critical", alert_level(critical_count(wall, tenant_id)))
    ):
        if tenant_id is None:
            critical = critical_count(wall, tenant_id)
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
        else:
            st.metric("Critical findings", wall["criticalFindings"] if evaluated else "—")
            st.caption("failing, accepted risks excluded" if evaluated else "posture not evaluated yet")
    if tenant_id is None:
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
            else:
                st.caption("every enabled client has an IP allowlist")
    capable, members = wall["mfa"]
    ratio = capable / members if members else None
    with row2[-1].container(
        border=True, key=tile_key("mfa", target_level(ratio, PostureOptions().mfa_pass_ratio))
    ):
        st.metric("MFA capable", f"{ratio:.1%}" if ratio is not None else "—")
        st.caption(
            f"{capable:,} of {members:,} enabled members · target {PostureOptions().mfa_pass_ratio:.0%}"
        )

    # st.table reads Markdown in cells: ui.output.markdown_table puts every cell through plain()'s rule,
    # which also keeps a UPN from becoming a mailto: link.
    left, right = st.columns([5, 7])
    with left:
        st.markdown("**Top blocking policies, 24 h**")
        markdown_table(
            [
                {"Policy": name, "Tenant": directory.get(t, {}).get("name", t), "Blocked": n}
                for t, _pid, name, n in wall["policies"][:LATEST_ROWS]
            ]
            or [{"Policy": "none", "Tenant": "", "Blocked": 0}],
            hide_index=True,
        )
    with right:
        st.markdown("**Latest blocked sign-ins**")
        markdown_table(
            [
                {
                    "UTC": f"{r.created_at:%H:%M}",
                    "Tenant": directory.get(r.tenant_id, {}).get("name", r.tenant_id),
                    "User": r.user_principal_name,
                    "Why": describe(r.error_code).reason,
                }
                for r in wall["latest"][:LATEST_ROWS]
            ]
            or [{"UTC": "", "Tenant": "", "User": "none", "Why": ""}],
            hide_index=True,
        )


def critical_count(wall: dict, tenant_id: str | None) -> int | None:
    """What the critical tile counts: tenants with failing critical findings (all tenants) or that
    tenant's failing critical findings (rotation); None before the first posture evaluation."""
    if wall["evaluatedAt"] is None:
        return None
    return len(wall["criticalTenants"]) if tenant_id is None else wall["criticalFindings"]


tiles()
if not kiosk:
    st.caption("For a NOC screen: add `?kiosk=1` (no navigation), `&refresh=30` and `&rotate=20`.")
