"""Changes: every change to a configuration object (CA policies, named locations, security defaults, CIPP
API clients and Azure configuration) across tenants in a time range — when, where, what (the diff in the
posture page's words, the JSON paths before → after), who and from where, the findings it moved — and any
object's timeline with the diff between two of its versions (db.history through ui.changes_data).

Shareable: ?days=, ?tenant=, ?kind=, ?who= preset the filters; ?change=<version id> opens one change (the
posture page links a regressed finding's cause here)."""

from __future__ import annotations

import streamlit as st

from ui import changes_data as cdata
from ui import chrome, data
from ui.chrome import plain
from ui.output import table

chrome.page_identity()
st.title("Changes")
st.caption(
    "Every change Perimeter's collections have seen to a Conditional Access policy, named location, "
    "security defaults or CIPP API client, newest first: what changed, who made it (from the tenant's "
    "directory audit log, or Perimeter's own fix) and the findings it moved."
)
names = data.tenant_names()
history_days = data.settings().posture_history_days


def tenant_label(tenant_id: str) -> str:
    return names.get(tenant_id, tenant_id)


# --- filters, preset from the URL (anything unknown is said and ignored) ----------------------------------
wanted_days = st.query_params.get("days", "")
day_choices = list(cdata.DAY_CHOICES)
if wanted_days.isdigit() and 1 <= int(wanted_days) <= history_days and int(wanted_days) not in day_choices:
    day_choices = sorted([*day_choices, int(wanted_days)])
elif wanted_days and not (wanted_days.isdigit() and int(wanted_days) in day_choices):
    st.warning(f"The link asks for a period of {plain(wanted_days[:12])} days: showing the last 7.")
days_default = (
    int(wanted_days) if wanted_days.isdigit() and int(wanted_days) in day_choices else cdata.DEFAULT_DAYS
)
wanted_tenant = st.query_params.get("tenant", "")
tenant_by_key = {t.lower(): t for t in names}
if wanted_tenant and wanted_tenant.lower() not in tenant_by_key:
    st.warning(
        f"The link names a tenant not collected here ({plain(wanted_tenant[:40])}): showing every tenant."
    )
wanted_kind = st.query_params.get("kind", "")
if wanted_kind and wanted_kind not in cdata.KIND_NAMES:
    st.warning(f"The link names an unknown kind of object ({plain(wanted_kind[:40])}): showing every kind.")

with st.container(horizontal=True):
    days = st.selectbox(
        "Last", day_choices, index=day_choices.index(days_default), format_func=lambda d: f"{d} days"
    )
    tenant_options: list[str | None] = [None, *names]
    tenant = st.selectbox(
        "Tenant",
        tenant_options,
        index=tenant_options.index(tenant_by_key.get(wanted_tenant.lower())),
        format_func=lambda t: "All tenants" if t is None else tenant_label(t),
    )
    kind_options: list[str | None] = [None, *cdata.KIND_NAMES]
    kind = st.selectbox(
        "Kind",
        kind_options,
        index=kind_options.index(wanted_kind) if wanted_kind in cdata.KIND_NAMES else 0,
        format_func=lambda k: "Every kind" if k is None else cdata.kind_name(k),
    )
    who = st.text_input(
        "Who", value=st.query_params.get("who", ""), placeholder="part of a UPN, app or operator"
    ).strip()
st.query_params["days"] = str(days)
for param, value in (("tenant", tenant), ("kind", kind), ("who", who)):
    if value:
        st.query_params[param] = value
    else:
        st.query_params.pop(param, None)

now = data.utcnow().replace(second=0, microsecond=0)  # one cache entry a minute
found = cdata.recent_changes(cdata.since(now, days), tenant, kind, who)

# --- the list ---------------------------------------------------------------------------------------------
if not found:
    filtered = " matching the filters" if (tenant or kind or who) else ""
    st.info(
        f"No change{filtered} in the last {days} days. History starts with the first collection: "
        "a tenant's first collection of each kind is its baseline, and every change after it is listed here.",
        icon=":material/check_circle:",
    )
else:
    more = " (the newest shown; narrow the filters for the rest)" if len(found) >= cdata.LIMIT else ""
    st.caption(f"{len(found)} change{'' if len(found) == 1 else 's'} in the last {days} days{more}.")
    table(cdata.change_rows(found, names), hide_index=True, width="stretch", key="changes_table")

# --- one change -------------------------------------------------------------------------------------------
by_id = {c.version_id: c for c in found}
wanted_change = st.query_params.get("change", "")
linked = int(wanted_change) if wanted_change.isdigit() else None
if wanted_change and linked is None:
    st.warning(f"The link names no change ({plain(wanted_change[:20])}).")
if linked is not None and linked not in by_id:
    outside = cdata.change(linked)
    if outside is None:
        st.warning(f"There is no change {linked} (it may have been purged with the history).")
    else:
        st.caption("The linked change is outside the filters above: it is listed first below.")
        by_id = {linked: outside, **by_id}
chosen = None
if by_id:
    choice = st.selectbox(
        "Details of",
        list(by_id),
        index=list(by_id).index(linked) if linked in by_id else 0,
        format_func=lambda i: (
            f"{by_id[i].seen_at:%Y-%m-%d %H:%M} · {tenant_label(by_id[i].tenant_id)} · "
            f"{cdata.kind_name(by_id[i].kind)} · {by_id[i].name}"
        ),
        key="changes_detail",
    )
    chosen = by_id[choice]
if chosen is None:
    st.stop()
st.query_params["change"] = str(chosen.version_id)

with st.container(border=True, key="change-detail"):
    st.subheader(f"{cdata.kind_name(chosen.kind)}: {plain(chosen.name)}")
    st.text(
        f"Tenant: {tenant_label(chosen.tenant_id)}\n"
        f"Object: {chosen.object_id} (version {chosen.version})\n"
        f"When: {cdata.when_text(chosen)}"
        + (f" (collected at {chosen.seen_at:%Y-%m-%d %H:%M:%S} UTC)" if chosen.changed_at else "")
        + f"\nWho: {cdata.who_text(chosen)}"
        + (f"\nFrom IP: {chosen.from_ip}" if chosen.from_ip else "")
    )
    if chosen.fix_audit_id is not None:
        st.page_link(
            "pages/audit.py",
            label=f"Perimeter's fix: audit entry #{chosen.fix_audit_id}",
            icon=":material/history:",
            query_params={"entry": str(chosen.fix_audit_id)},
        )
    st.markdown("**What changed**")
    st.text("\n".join(line.words for line in chosen.diff) or cdata.words_text(chosen))
    if chosen.diff:
        with st.expander("JSON paths, before → after"):
            table(cdata.diff_rows(chosen.diff), hide_index=True, width="stretch", key="change_paths")
    st.markdown("**Findings it moved**")
    if chosen.moved:
        table(cdata.moved_rows(chosen.moved), hide_index=True, width="stretch", key="change_moved")
    else:
        st.caption("None: no finding changed status because of it at the next evaluation.")

# --- the object's timeline ---------------------------------------------------------------------------------
versions = cdata.timeline(chosen.tenant_id, chosen.kind, chosen.object_id)
st.subheader("Timeline of this object")
st.caption(
    f"Every kept version of {plain(chosen.name)}, oldest first (a new version only when its content changes)."
)
table(cdata.timeline_rows(versions), hide_index=True, width="stretch", key="changes_timeline")
if len(versions) >= 2:
    by_version = {v.version: v for v in versions}
    numbers = list(by_version)
    left, right = st.columns(2)
    first = left.selectbox("From version", numbers, index=len(numbers) - 2, key="changes_from")
    second = right.selectbox("To version", numbers, index=len(numbers) - 1, key="changes_to")
    lines = cdata.diff_between(by_version[first].version_id, by_version[second].version_id)
    if lines:
        st.text("\n".join(line.words for line in lines))
        table(cdata.diff_rows(lines), hide_index=True, width="stretch", key="changes_between")
    else:
        st.caption(f"Versions {first} and {second} have the same content.")
else:
    st.caption("Only one version kept: nothing to compare yet.")
