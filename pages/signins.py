"""Blocked sign-ins: who is blocked, from where and why, across tenants (for investigators).

Filters live in the URL (`?tenant=…&ip=…&code=53003`), so a view can be shared and opens filtered;
`&signin=<id>` opens one sign-in's explanation. Decoding is
investigate/, queries db/signin_scope, db/signin_aggregates and db/signin_lists.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import plotly.graph_objects as go
import streamlit as st

from fixes import FixRequest
from investigate.codes import REASONS, describe
from investigate.explain import explain_signin, fix_for_signin, related_findings
from investigate.filters import PERIOD_LABELS, PERIODS, Filters
from investigate.network import ip_locations
from ui import chrome, data
from ui import signin_data as sd
from ui.chrome import plain
from ui.fix_panel import fix_panel
from ui.output import chart_label, table

chrome.page_identity()
st.title("Blocked sign-ins")
directory = sd.tenant_directory()
if not directory:
    st.info("No tenants collected yet: the collector worker discovers them on its first cycle.")
    st.stop()

now = sd.minute(data.utcnow())
choices = sd.filter_choices(now)
URL_STATE = "_signins_url"  # the query string this page last wrote (anything else came from outside)
W = "signins_f_"  # widget keys


def tenant_label(tenant_id: str) -> str:
    return directory.get(tenant_id, {}).get("name", tenant_id)


# --- filters: the URL sets the widgets when it is new (a shared link), the widgets set the URL ---
url = {key: st.query_params.get_all(key) for key in st.query_params}
if st.session_state.get(URL_STATE) != url:
    from_url = Filters.from_query_params(url)
    st.session_state[W + "problems"] = from_url.problems
    st.session_state[W + "tenants"] = [t for t in from_url.tenants if t in directory]
    st.session_state[W + "period"] = from_url.period
    st.session_state[W + "from"] = from_url.start
    st.session_state[W + "to"] = from_url.end
    for name, moment in (("from", from_url.start), ("to", from_url.end)):  # the custom period's widgets
        st.session_state.pop(W + f"{name}_day", None)
        st.session_state.pop(W + f"{name}_time", None)
        if moment is not None:
            st.session_state[W + f"{name}_day"] = moment.date()
            st.session_state[W + f"{name}_time"] = moment.time()
    for name in ("user", "app", "ip", "country", "policy"):
        st.session_state[W + name] = getattr(from_url, name)
    st.session_state[W + "codes"] = list(from_url.codes)
    st.session_state[W + "interactive"] = {None: "any", True: "interactive", False: "non-interactive"}[
        from_url.interactive
    ]
    st.session_state[W + "sp"] = from_url.service_provider
    st.session_state[W + "signin"] = (url.get("signin") or [None])[-1] or None
    unknown = [t for t in from_url.tenants if t not in directory]
    if unknown:
        st.session_state[W + "problems"] += (f"unknown tenant(s) ignored: {', '.join(unknown)}",)

for problem in st.session_state.get(W + "problems", ()):
    st.warning(f"Link: {plain(problem)}", icon=":material/link_off:")

with st.container(border=True):
    c1, c2, c3 = st.columns([3, 2, 2])
    c1.multiselect(
        "Tenants", list(directory), format_func=tenant_label, key=W + "tenants", placeholder="All tenants"
    )
    c2.selectbox("Time", [*PERIODS, "custom"], format_func=PERIOD_LABELS.get, key=W + "period")
    if st.session_state[W + "period"] == "custom":
        start = st.session_state.get(W + "from") or now.replace(hour=0, minute=0)
        end = st.session_state.get(W + "to") or now
        d1, t1, d2, t2 = c3.columns(4)
        for name, default in (
            ("from_day", start.date()),
            ("from_time", start.time()),
            ("to_day", end.date()),
            ("to_time", end.time()),
        ):
            st.session_state.setdefault(W + name, default)
        from_day = d1.date_input("From (UTC)", key=W + "from_day")
        from_time = t1.time_input("at", key=W + "from_time")
        to_day = d2.date_input("To (UTC)", key=W + "to_day")
        to_time = t2.time_input("at ", key=W + "to_time")
        st.session_state[W + "from"] = datetime.combine(from_day or date.today(), from_time or time())
        st.session_state[W + "to"] = datetime.combine(to_day or date.today(), to_time or time())
    else:
        c3.selectbox("Interactive", ["any", "interactive", "non-interactive"], key=W + "interactive")
    c4, c5, c6, c7 = st.columns(4)
    c4.text_input("User (part of the UPN)", key=W + "user", max_chars=256)
    c5.text_input("App (part of the name)", key=W + "app", max_chars=256)
    c6.text_input("IP or CIDR", key=W + "ip", max_chars=64, placeholder="198.51.100.7 or 198.51.100.0/24")
    c7.selectbox(
        "Country", ["", *choices.countries], key=W + "country", format_func=lambda c: c or "Any country"
    )
    c8, c9, c10 = st.columns([2, 2, 1])
    codes = sorted({*choices.codes, *st.session_state[W + "codes"]})
    c8.multiselect(
        "Error code",
        codes,
        key=W + "codes",
        placeholder="Every failure",
        format_func=lambda c: f"{c} — {describe(c).meaning}",
    )
    policies = dict(choices.policies)
    if st.session_state[W + "policy"] and st.session_state[W + "policy"] not in policies:
        policies[st.session_state[W + "policy"]] = st.session_state[W + "policy"]
    c9.selectbox(
        "Blocking CA policy",
        ["", *policies],
        key=W + "policy",
        format_func=lambda p: policies.get(p, p) if p else "Any policy",
    )
    c10.toggle(
        "Service-provider users only",
        key=W + "sp",
        help="The MSP's own people (GDAP technicians, CIPP) signing in to client tenants",
    )
    if st.session_state[W + "period"] == "custom":
        st.selectbox("Interactive", ["any", "interactive", "non-interactive"], key=W + "interactive")

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


write_url(st.session_state.get(W + "signin", ""))

# --- what the filters select ---------------------------------------------------------------------
result = sd.investigation(filters, now)
start, end = result["start"], result["end"]
m1, m2, m3, m4 = st.columns(4)
m1.metric("Failed sign-ins", f"{result['count']:,}")
m2.metric("Tenants", result["tenants"])
top_code = result["top"]["code"][0] if result["top"]["code"] else None
m3.metric("Top reason", describe(int(top_code.value)).reason if top_code else "—")
m4.metric(
    "Top blocking policy",
    plain(result["top"]["policy"][0].label) if result["top"]["policy"] else "—",  # Markdown: tenant text
    help="The policy whose failure explains the error code",
)
st.caption(
    f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC. Every failed sign-in counts (status.errorCode "
    "not 0): blocked by Conditional Access, MFA not completed, wrong password, locked, disabled."
)
if result["cidrAddresses"] is not None:
    st.caption(
        f"The CIDR matches {len(result['cidrAddresses'])} address(es) with failed sign-ins in the period."
    )

# --- timeline, stacked by reason ------------------------------------------------------------------
by_reason: dict[str, dict[datetime, int]] = {}
for bucket, code, n in result["timeline"]:
    series = by_reason.setdefault(describe(code).reason, {})
    series[bucket] = series.get(bucket, 0) + n
figure = go.Figure()
for reason in REASONS:
    if reason in by_reason:
        points = sorted(by_reason[reason].items())
        figure.add_trace(go.Bar(x=[p[0] for p in points], y=[p[1] for p in points], name=reason))
figure.update_layout(
    barmode="stack",
    height=280,
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    legend={"orientation": "h"},
    yaxis={"title": "per hour" if result["grain"] == "h" else "per day"},
)
st.plotly_chart(figure, config={"displayModeBar": False}, key="signins_timeline")

# --- top values -----------------------------------------------------------------------------------
TOPS = (
    ("ip", "Top IPs", "IP"),
    ("user", "Top users", "User"),
    ("app", "Top apps", "App"),
    ("policy", "Top blocking policies", "Policy"),
    ("country", "Top countries", "Country"),
    ("code", "Top error codes", "Code"),
)
columns = st.columns(3)
for i, (dim, title, label) in enumerate(TOPS):
    with columns[i % 3]:
        st.markdown(f"**{title}**")
        rows = []
        for top in result["top"][dim]:
            shown = top.value
            if dim == "policy":
                shown = top.label or top.value
            elif dim == "user" and top.label:
                shown = f"{top.label} ({top.value})"
            elif dim == "code":
                shown = f"{top.value} — {describe(int(top.value)).meaning}"
            rows.append({label: shown, "Failed": top.count})
        table(rows, hide_index=True, width="stretch", height=240)
        if dim in result["asOf"]:
            st.caption(f"Ranked by the collector at {result['asOf'][dim]:%H:%M} UTC (every full cycle).")

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

# --- the sign-ins, each saying why it failed ------------------------------------------------------
st.subheader("Sign-ins")
rows = result["rows"]
contexts = sd.tenant_contexts(tuple(sorted({r.tenant_id for r in rows})))


def trusted_words(row) -> str:  # type: ignore[no-untyped-def]
    ctx = contexts.get(row.tenant_id)
    if ctx is None or ctx.named_locations is None:
        return "unknown"
    trusted = {n.get("id") for n in ctx.trusted_locations()}
    inside = [m.name for m in ip_locations(row.ip, ctx.named_locations) if m.id in trusted]
    return f"yes ({', '.join(inside)})" if inside else "no"


signin_rows = [
    {
        "When (UTC)": r.created_at,
        "Tenant": tenant_label(r.tenant_id),
        "User": r.user_principal_name,
        "App": r.app,
        "IP": r.ip,
        "Country": r.country,
        "Code": r.error_code,
        "Why": describe(r.error_code).meaning,
        "Blocked by": f"{r.policy_name} (failure)" if r.policy_name else "",
        "IP in a trusted location": trusted_words(r),
        "Service provider": "yes" if r.service_provider else "",
        "Interactive": "yes" if r.interactive else "no",
    }
    for r in rows
]
event = table(
    signin_rows,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="signins_table",
)
st.caption(f"The newest {len(rows)} of {result['count']:,}. Select a row to see why it failed.")
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

# --- one sign-in: explanation, related findings, the fix, raw JSON --------------------------------
signin_id = st.session_state.get(W + "signin") or ""
if signin_id:
    found = sd.signin(signin_id)
    if found is None:
        st.warning("That sign-in is not stored (older than the retention, or mistyped).")
    else:
        tenant_id, body = found
        ctx = sd.tenant_contexts((tenant_id,))[tenant_id]
        explanation = explain_signin(body, ctx)
        offer = fix_for_signin(body, ctx)
        with st.container(border=True):
            st.markdown(
                f"**{plain(body.get('userPrincipalName') or '?')}** in **{plain(tenant_label(tenant_id))}** "
                f"at {plain(str(body.get('createdDateTime') or ''))}"
            )
            st.markdown(f"**Why:** {plain(explanation.summary)}")
            st.text(
                f"Error {explanation.code}: {explanation.meaning} ({explanation.reason or 'success'})\n"
                f"IP {explanation.ip or '—'}: {explanation.trusted_words}"
            )
            for fact in explanation.facts:
                st.text(f"• {fact}")
            if explanation.blocking:
                table(
                    [
                        {
                            "Policy": p.name,
                            "Result": p.result,
                            "Grant": ", ".join(p.grant),
                            "Because": p.why,
                            "Now": p.state_now or "on",
                        }
                        for p in explanation.blocking
                    ],
                    hide_index=True,
                    width="stretch",
                )
            evaluated_at, findings = data.posture_findings()
            related = related_findings(body, ctx, findings, offer)
            if related:
                st.markdown("**Related posture findings**")
                for finding in related[:6]:
                    st.text(
                        f"{finding.status.upper()} · {finding.check} · "
                        f"{finding.subject.name or finding.subject.id}"
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
            st.json(body, expanded=False)
st.caption(f"As of {datetime.now(UTC):%H:%M:%S} UTC; results are cached for {sd.SIGNIN_TTL_S} s.")
