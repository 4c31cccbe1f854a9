"""Blocked sign-ins: who is blocked, from where and why, across tenants (for investigators).

One screen: the filters in the sidebar (collapsed on a phone, so results come first), the counts, a
timeline beside the Top tables (a click on a row filters by it), and the sign-ins beside the
explanation of the one selected: every Conditional Access policy with its result and what to do.
Filters live in the URL (`?tenant=…&ip=…&code=53003&failures=all`), so a view can be shared and opens
filtered; `&signin=<id>` opens one sign-in's explanation. Decoding is investigate/, queries
db/signin_scope, db/signin_aggregates and db/signin_lists.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import streamlit as st

from fixes import FixRequest
from investigate.codes import (
    BLOCKED,
    BLOCKED_MEANING,
    CODES,
    FAILURE_KINDS,
    REASONS,
    describe,
    is_blocked,
)
from investigate.explain import explain_signin, fix_for_signin, policy_results, related_findings
from investigate.filters import PERIOD_LABELS, PERIODS, Filters
from investigate.network import ip_locations
from investigate.timeline import BUCKETS, PER, TICK_FORMATS
from ui import chrome, data
from ui import signin_data as sd
from ui.chrome import plain
from ui.fix_panel import fix_panel
from ui.output import chart_label, markdown_table, table
from ui.whatif_panel import whatif_button, whatif_form

chrome.page_identity()
# Constant CSS (no tenant text): less empty space above the title, so the list and its explanation fit
# a 1080-pixel screen; the explanation stays in view beside a long list.
st.html("""<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
.st-key-signins-explanation { position: sticky; top: 3.75rem; max-height: calc(100vh - 4.5rem);
  overflow-y: auto; }
</style>""")
st.title("Blocked sign-ins")
directory = sd.tenant_directory()
if not directory:
    st.info("No tenants collected yet: the collector worker discovers them on its first cycle.")
    st.stop()

now = sd.minute(data.utcnow())
choices = sd.filter_choices(now)
URL_STATE = "_signins_url"  # the query string this page last wrote (anything else came from outside)
W = "signins_f_"  # widget keys
TOP_HEIGHT = 212  # five rows: the Top tables stay compact beside the timeline
LIST_HEIGHT = 422  # ten rows


def tenant_label(tenant_id: str) -> str:
    return directory.get(tenant_id, {}).get("name", tenant_id)


# A policy's name recurs in every tenant it was deployed to: options and tables name the tenant too.
policy_tenants: dict[str, list[str]] = {}
policy_names: dict[str, str] = {}
for pid, name, tenant_id in sorted(
    choices.policies, key=lambda p: (p[1].lower(), tenant_label(p[2]).lower())
):
    policy_names.setdefault(pid, name)
    policy_tenants.setdefault(pid, []).append(tenant_id)


def policy_label(pid: str) -> str:
    tenants = ", ".join(tenant_label(t) for t in policy_tenants.get(pid, []))
    return f"{policy_names.get(pid, pid)} — {tenants}" if tenants else policy_names.get(pid, pid)


# --- filters: the URL sets the widgets when it is new (a shared link), the widgets set the URL ---
url = {key: st.query_params.get_all(key) for key in st.query_params}
if st.session_state.get(URL_STATE) != url:
    from_url = Filters.from_query_params(url)
    problems = list(from_url.problems)
    unknown = [t for t in from_url.tenants if t not in directory]
    if unknown:
        problems.append(f"unknown tenant(s) ignored: {', '.join(unknown)}")
    # Values the data has never seen are named, not silently matched against nothing.
    policy = from_url.policy
    if policy and policy not in policy_names:
        problems.append(
            f"policy '{policy}' blocked no sign-in in the last 30 days (or is no policy id): ignored"
        )
        policy = ""
    country = from_url.country
    if country and country not in choices.countries:
        problems.append(f"no failed sign-in came from country '{country}' in the last 30 days: ignored")
        country = ""
    strange = [c for c in from_url.codes if c not in CODES and c not in choices.codes]
    if strange:
        problems.append(
            f"error code(s) {', '.join(map(str, strange))}: not sign-in error codes Perimeter knows, and "
            "no sign-in failed with them in the last 30 days: ignored"
        )
    st.session_state[W + "problems"] = tuple(problems)
    st.session_state[W + "failures"] = from_url.failures
    st.session_state[W + "tenants"] = [t for t in from_url.tenants if t in directory]
    st.session_state[W + "period"] = from_url.period
    st.session_state[W + "from"] = from_url.start
    st.session_state[W + "to"] = from_url.end
    for name in ("from", "to"):  # the custom period's widgets take their value from the link
        st.session_state.pop(W + f"{name}_at", None)
    for name, value in (("user", from_url.user), ("app", from_url.app), ("ip", from_url.ip)):
        st.session_state[W + name] = value
    st.session_state[W + "country"] = country
    st.session_state[W + "policy"] = policy
    st.session_state[W + "codes"] = [c for c in from_url.codes if c not in strange]
    st.session_state[W + "interactive"] = {None: "any", True: "interactive", False: "non-interactive"}[
        from_url.interactive
    ]
    st.session_state[W + "sp"] = from_url.service_provider
    st.session_state[W + "signin"] = (url.get("signin") or [None])[-1] or None

for problem in st.session_state.get(W + "problems", ()):
    st.warning(f"Link: {plain(problem)}", icon=":material/link_off:")


def clear_filters() -> None:
    """Back to the defaults: the URL is emptied, and the next run resets the widgets from it."""
    st.query_params.clear()


with st.sidebar:
    st.subheader("Filters", anchor=False)
    st.radio(
        "Count",
        list(FAILURE_KINDS),
        format_func=FAILURE_KINDS.get,
        key=W + "failures",
        horizontal=True,
        help=BLOCKED_MEANING,
    )
    blocked_only = st.session_state[W + "failures"] == BLOCKED
    st.multiselect(
        "Tenants", list(directory), format_func=tenant_label, key=W + "tenants", placeholder="All tenants"
    )
    st.selectbox("Time", [*PERIODS, "custom"], format_func=PERIOD_LABELS.get, key=W + "period")
    if st.session_state[W + "period"] == "custom":
        st.session_state.setdefault(
            W + "from_at", st.session_state.get(W + "from") or now.replace(hour=0, minute=0)
        )
        st.session_state.setdefault(W + "to_at", st.session_state.get(W + "to") or now)
        step = timedelta(minutes=5)
        st.session_state[W + "from"] = st.datetime_input(
            "From (UTC)", key=W + "from_at", format="YYYY-MM-DD", step=step
        )
        st.session_state[W + "to"] = st.datetime_input(
            "To (UTC)", key=W + "to_at", format="YYYY-MM-DD", step=step
        )
    st.text_input("User (part of the UPN)", key=W + "user", max_chars=256)
    st.text_input("App (part of the name)", key=W + "app", max_chars=256)
    st.text_input("IP or CIDR", key=W + "ip", max_chars=64, placeholder="198.51.100.7 or 198.51.100.0/24")
    st.selectbox(
        "Country", ["", *choices.countries], key=W + "country", format_func=lambda c: c or "Any country"
    )
    if blocked_only:  # codes that are not blocks count nothing here
        st.session_state[W + "codes"] = [c for c in st.session_state[W + "codes"] if is_blocked(c)]
    seen = [c for c in choices.codes if is_blocked(c) or not blocked_only]
    st.multiselect(
        "Error code",
        sorted({*seen, *st.session_state[W + "codes"]}),
        key=W + "codes",
        placeholder="Every blocking code" if blocked_only else "Every failure",
        format_func=lambda c: f"{c} — {describe(c).meaning}",
    )
    st.selectbox(
        "Blocking CA policy",
        ["", *policy_names],
        key=W + "policy",
        format_func=lambda p: policy_label(p) if p else "Any policy",
    )
    st.selectbox("Interactive", ["any", "interactive", "non-interactive"], key=W + "interactive")
    st.toggle(
        "Service-provider users only",
        key=W + "sp",
        help="The MSP's own people (GDAP technicians, CIPP) signing in to client tenants",
    )
    st.button("Clear filters", key=W + "clear", on_click=clear_filters, icon=":material/filter_alt_off:")

filters = Filters(
    tenants=tuple(st.session_state[W + "tenants"]),
    period=st.session_state[W + "period"],
    start=st.session_state.get(W + "from") if st.session_state[W + "period"] == "custom" else None,
    end=st.session_state.get(W + "to") if st.session_state[W + "period"] == "custom" else None,
    user=st.session_state[W + "user"].strip(),
    app=st.session_state[W + "app"].strip(),
    ip=st.session_state[W + "ip"].strip(),
    country=st.session_state[W + "country"],
    codes=tuple(st.session_state[W + "codes"]),
    policy=st.session_state[W + "policy"],
    interactive={"any": None, "interactive": True, "non-interactive": False}[
        st.session_state[W + "interactive"]
    ],
    service_provider=bool(st.session_state[W + "sp"]),
    failures=st.session_state[W + "failures"],
)
if filters.ip and filters.ip_filter is None:
    st.error(f"'{plain(filters.ip)}' is not an IP address or CIDR range: the IP filter is ignored.")
    filters = filters.with_(ip="")
if (
    filters.period == "custom"
    and filters.start is not None
    and filters.end is not None
    and filters.end <= filters.start
):
    st.error("The custom period ends before it starts: showing the last 24 hours.")
    filters = filters.with_(period="24h", start=None, end=None)


def write_url(signin_id: str) -> None:
    params = filters.to_query_params()
    if signin_id:
        params["signin"] = signin_id
    wanted = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    if wanted != url:
        st.query_params.from_dict(params)
    st.session_state[URL_STATE] = wanted


def apply_filters(narrower: Filters) -> None:
    """A click on a Top table: the URL takes the narrower filters, and the run that follows sets the
    widgets from it (they are drawn already in this run)."""
    st.query_params.from_dict(narrower.to_query_params())
    st.rerun()


write_url(st.session_state.get(W + "signin", ""))
# Selections belong to the rows they were made on: new filters, new tables (and no stale selection).
view = hashlib.sha256(repr(sorted(filters.to_query_params().items())).encode()).hexdigest()[:12]

# --- what the filters select ---------------------------------------------------------------------
result = sd.investigation(filters, now)
start, end = result["start"], result["end"]
counted = "Blocked sign-ins" if filters.failures == BLOCKED else "Failed sign-ins"
tops = result["top"]
m1, m2, m3, m4 = st.columns([1, 1, 2, 3])
m1.metric(
    counted,
    f"{result['count']:,}",
    help=BLOCKED_MEANING if filters.failures == BLOCKED else "Every failed sign-in (status.errorCode not 0)",
)
m2.metric(
    "Tenants with matches",
    f"{result['tenantsWithMatches']} of {result['tenants']}",
    help="Tenants with at least one matching sign-in, of the tenants searched",
)
top_code = tops["code"][0] if tops["code"] else None
with m3:
    st.caption("Top reason")
    st.markdown(f"**{plain(describe(int(top_code.value)).reason) if top_code else '—'}**")
with m4:
    st.caption("Top blocking policy", help="The policy whose failure explains the error code")
    top_policy = tops["policy"][0] if tops["policy"] else None
    st.markdown(f"**{plain(policy_label(top_policy.value)) if top_policy else '—'}**")  # tenant text
st.caption(
    f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC. "
    + (
        "Counting blocked sign-ins: Conditional Access, MFA not completed, locked or disabled — not wrong or "
        "expired passwords."
        if filters.failures == BLOCKED
        else "Counting every failed sign-in, wrong passwords included."
    )
)
if result["cidrAddresses"] is not None:
    st.caption(
        f"The CIDR matches {len(result['cidrAddresses'])} address(es) with failed sign-ins in the period."
    )


# --- one sign-in: every policy with its result and what to do, related findings, the fix, raw JSON ---
def explanation_panel(signin_id: str) -> None:
    st.subheader("Why this sign-in failed", anchor=False)
    if not signin_id:
        st.caption(
            "Select a row of the list: every Conditional Access policy with its result, as Entra "
            "shows it, and what to do."
        )
        whatif_form()
        return
    found = sd.signin(signin_id)
    if found is None:
        st.warning("That sign-in is not stored (older than the retention, or mistyped).")
        return
    tenant_id, body = found
    ctx = sd.tenant_contexts((tenant_id,))[tenant_id]
    explanation = explain_signin(body, ctx)
    offer = fix_for_signin(body, ctx)
    st.markdown(
        f"**{plain(body.get('userPrincipalName') or '?')}** in **{plain(tenant_label(tenant_id))}** "
        f"at {plain(str(body.get('createdDateTime') or ''))}"
    )
    st.markdown(f"**Why:** {plain(explanation.summary)}")
    results = policy_results(body, ctx)
    if results:  # first: what Entra's Conditional Access tab shows, with what to do
        markdown_table(  # st.table wraps long text; every cell is inert Markdown
            [
                {
                    "Result": r.result_words,
                    "Conditional Access policy": r.name,
                    "Because": r.why,
                    "What to do": r.what_to_do,
                }
                for r in results
            ],
            hide_index=True,
        )
    else:
        st.caption("No Conditional Access policy evaluated this sign-in.")
    whatif_button(tenant_id, body, key=f"whatif-{signin_id}")
    st.text(
        f"Error {explanation.code}: {explanation.meaning} ({explanation.reason or 'success'})\n"
        f"IP {explanation.ip or '—'}: {explanation.trusted_words}"
    )
    for fact in explanation.facts:
        st.text(f"• {fact}")
    evaluated_at, findings = data.posture_findings()
    related = related_findings(body, ctx, findings, offer)
    if related:
        st.markdown("**Related posture findings**")
        for finding in related[:6]:
            st.text(
                f"{finding.status.upper()} · {finding.check} · {finding.subject.name or finding.subject.id}"
                f"\n{finding.message}"
            )
        st.page_link(
            "pages/posture.py",
            label="Open the Posture page",
            icon=":material/verified_user:",
            query_params={"check": related[0].check, "tenant": tenant_id},
        )
    if offer is not None:
        st.markdown(f"**Fix offered:** `{offer.fix_id}` — {plain(offer.description)}")
        if offer.caution:
            st.warning(plain(offer.caution), icon=":material/warning:")
        ranges = (offer.parameters["range"],) if "range" in offer.parameters else ()
        fix_panel(
            FixRequest(offer.fix_id, offer.tenant_id, offer.target_id, ranges=ranges),
            key=f"signin-fix-{signin_id}",
        )
    elif explanation.blocking:
        st.caption("No one-click fix applies to this sign-in.")
    whatif_form()
    with st.expander("The sign-in as Graph returned it"):
        st.json(body, expanded=False)


if result["count"] == 0:
    # One message and a way out, instead of empty axes and tables.
    with st.container(border=True):
        st.info(
            f"No {counted.lower()} match these filters between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC."
            + (
                " Wrong passwords and other failures are not counted: try 'All failures'."
                if filters.failures == BLOCKED
                else ""
            ),
            icon=":material/search_off:",
        )
        st.button("Clear filters", key=W + "clear_empty", on_click=clear_filters, type="primary")
    if st.session_state.get(W + "signin"):
        with st.container(key="signins-explanation"):
            explanation_panel(st.session_state[W + "signin"])
    st.caption(f"As of {datetime.now(UTC):%H:%M:%S} UTC; results are cached for {sd.SIGNIN_TTL_S} s.")
    st.stop()

# --- timeline by reason, beside the Top tables -------------------------------------------------------
left, right = st.columns([11, 9])
grain = result["grain"]
width = BUCKETS[grain]
by_reason: dict[str, dict[datetime, int]] = {}
for bucket, code, n in result["timeline"]:
    series = by_reason.setdefault(describe(code).reason, {})
    series[bucket] = series.get(bucket, 0) + n
figure = go.Figure()
for reason in REASONS:
    if reason in by_reason:
        points = sorted(by_reason[reason].items())
        figure.add_trace(
            go.Bar(
                x=[p[0] + width / 2 for p in points],  # centred on its bucket, as wide as it
                y=[p[1] for p in points],
                width=width.total_seconds() * 1000 * 0.9,
                name=reason,
            )
        )
figure.update_layout(
    barmode="stack",
    height=TOP_HEIGHT + 40,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
    legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},  # above: ticks stay readable
    xaxis={
        "type": "date",
        "range": [start, end],
        "tickformat": TICK_FORMATS[grain],
        "hoverformat": "%Y-%m-%d %H:%M",
    },
    yaxis={"title": PER[grain]},
)
with left:
    st.plotly_chart(figure, config={"displayModeBar": False}, key="signins_timeline")

TOPS = (
    ("user", "Users", "User"),
    ("app", "Apps", "App"),
    ("ip", "IPs", "IP"),
    ("country", "Countries", "Country"),
    ("policy", "Policies", "Policy"),
    ("code", "Codes", "Code"),
)
with right:
    st.caption("Top values: select a row to filter by it")
    for tab, (dim, _title, label) in zip(st.tabs([t[1] for t in TOPS]), TOPS, strict=True):
        with tab:
            values, rows = [], []
            for top in tops[dim]:
                row: dict[str, object] = {label: top.value}
                if dim == "policy":
                    row = {
                        "Policy": top.label or top.value,
                        "Tenant": ", ".join(tenant_label(t) for t in policy_tenants.get(top.value, [])),
                    }
                elif dim == "user" and top.label:
                    row = {label: top.value, "Name": top.label}
                elif dim == "code":
                    row = {label: top.value, "Meaning": describe(int(top.value)).meaning}
                values.append(top.value)
                rows.append({**row, counted.split()[0]: top.count})
            event = table(
                rows,
                hide_index=True,
                width="stretch",
                height=TOP_HEIGHT,
                on_select="rerun",
                selection_mode="single-row",
                key=f"signins_top_{dim}_{view}",
            )
            chosen = event.selection.rows if event and event.selection else []
            if chosen and chosen[0] < len(values):
                narrower = filters.narrowed(dim, values[chosen[0]])
                if narrower != filters:  # the same filters again would select the same row again
                    apply_filters(narrower)
            if dim in result["asOf"]:
                st.caption(f"Ranked by the collector at {result['asOf'][dim]:%H:%M} UTC (every full cycle).")

# --- the sign-ins, beside the explanation of the one selected --------------------------------------
rows = result["rows"]
contexts = sd.tenant_contexts(tuple(sorted({r.tenant_id for r in rows})))


def trusted_words(row) -> str:  # type: ignore[no-untyped-def]
    ctx = contexts.get(row.tenant_id)
    if ctx is None or ctx.named_locations is None:
        return "unknown"
    trusted = {n.get("id") for n in ctx.trusted_locations()}
    inside = [m.name for m in ip_locations(row.ip, ctx.named_locations) if m.id in trusted]
    return f"yes ({', '.join(inside)})" if inside else "no"


listing, explaining = st.columns([11, 9])
with listing:
    st.subheader("Sign-ins", anchor=False)
    with st.container(key="signins_table"):  # a stable name for the list (its key changes with the view)
        event = table(
            [
                {
                    "When (UTC)": r.created_at,
                    "Tenant": tenant_label(r.tenant_id),
                    "User": r.user_principal_name,
                    "Code": r.error_code,
                    "Why": describe(r.error_code).meaning,
                    "Blocked by": f"{r.policy_name} (failure)" if r.policy_name else "",
                    "App": r.app,
                    "IP": r.ip,
                    "Country": r.country,
                    "IP in a trusted location": trusted_words(r),
                    "Service provider": "yes" if r.service_provider else "",
                    "Interactive": "yes" if r.interactive else "no",
                }
                for r in rows
            ],
            hide_index=True,
            width="stretch",
            height=LIST_HEIGHT,
            on_select="rerun",
            selection_mode="single-row",
            key=f"signins_table_{view}",
        )
    st.caption(f"The newest {len(rows)} of {result['count']:,}. Select a row to see why.")
    selected = event.selection.rows if event and event.selection else []
    picked = rows[selected[0]].id if selected and selected[0] < len(rows) else None
    if picked is not None and picked != st.session_state.get(W + "picked"):  # a new row was selected
        st.session_state[W + "signin"] = picked
    st.session_state[W + "picked"] = picked
    by_id = {r.id: r for r in rows}
    current = st.session_state.get(W + "signin") or None
    options = list(by_id) if current is None or current in by_id else [current, *by_id]
    st.session_state[W + "signin"] = current

    def signin_label(signin_id: str) -> str:
        row = by_id.get(signin_id)
        if row is None:
            return signin_id
        return (
            f"{row.created_at:%m-%d %H:%M:%S} · {tenant_label(row.tenant_id)} · {row.user_principal_name} · "
            f"{row.error_code}"
        )

    st.selectbox(
        "Explain sign-in",
        options,
        key=W + "signin",
        format_func=signin_label,
        placeholder="Choose a sign-in (or select a row above)",
    )
write_url(st.session_state.get(W + "signin") or "")
with explaining, st.container(key="signins-explanation"):
    explanation_panel(st.session_state.get(W + "signin") or "")

# --- map ------------------------------------------------------------------------------------------
located = [p for p in result["places"] if p.latitude is not None]
if located:
    with st.expander("Map of locations", expanded=False):
        biggest = max(p.count for p in located)
        geo = go.Figure(
            go.Scattergeo(
                lat=[p.latitude for p in located],
                lon=[p.longitude for p in located],
                mode="markers",
                marker={
                    "size": [6 + 30 * (p.count / biggest) ** 0.5 for p in located],
                    "color": "#cf222e",
                    "opacity": 0.7,
                },
                text=[
                    f"{chart_label(p.city or '?')}, {chart_label(p.country)}: {p.count:,}" for p in located
                ],
                hoverinfo="text",
            )
        )
        geo.update_layout(
            height=380,
            margin={"l": 0, "r": 0, "t": 0, "b": 0},
            geo={"showcountries": True, "projection": {"type": "natural earth"}},
        )
        st.plotly_chart(geo, config={"displayModeBar": False}, key="signins_map")
st.caption(f"As of {datetime.now(UTC):%H:%M:%S} UTC; results are cached for {sd.SIGNIN_TTL_S} s.")
