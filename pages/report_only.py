"""Report-only impact: for any Conditional Access policy in report-only, in any tenant, what it would
have blocked or interrupted had it been On (its reportOnlyFailure / reportOnlyInterrupted results),
with the people who matter flagged, and for a technician blocked from an IP outside the trusted
location the fix that adds it (LOC-1). The switch-on fixes (A-3, B-5) read the same answer
(investigate.impact, db.policy_outcomes.policy_impact)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fixes import FixRequest
from investigate.explain import FIX_TRUSTED_RANGE
from investigate.impact import DEFAULT_DAYS, LOCKOUT_ROLES, ROLE_ORDER, TECHNICIAN
from ui import chrome, data
from ui import impact_data as idata
from ui import signin_data as sd
from ui.chrome import plain
from ui.fix_panel import fix_panel
from ui.output import table

DAY_CHOICES = (1, 3, 7, 14, 30)

chrome.page_identity()
st.title("Report-only impact")
st.caption(
    "What each policy in report-only would have done had it been On, from its results in the sign-in "
    "logs: blocked (reportOnlyFailure) or interrupted for a control nobody was asked for "
    "(reportOnlyInterrupted)."
)
directory = sd.tenant_directory()
found = idata.policies()
if not found:
    st.info("No policy is in report-only in any collected tenant.", icon=":material/check_circle:")
    st.stop()


def tenant_label(tenant_id: str) -> str:
    return directory.get(tenant_id, {}).get("name", tenant_id)


keys = [f"{p.tenant_id}/{p.policy_id}" for p in found]
by_key = {k.lower(): k for k in keys}
labels = {f"{p.tenant_id}/{p.policy_id}": f"{tenant_label(p.tenant_id)} — {p.name}" for p in found}
# ?tenant=&policy= chooses one (shareable); one not in report-only here is said, never a traceback.
wanted = st.query_params.get("tenant", ""), st.query_params.get("policy", "")
if wanted[1] and st.session_state.get("_ro_url") != wanted:
    key = by_key.get(f"{wanted[0]}/{wanted[1]}".lower())
    if key is None:
        st.warning(
            f"The link names a policy that is not in report-only in a collected tenant "
            f"({plain(wanted[1][:64])}): showing the first one."
        )
    else:
        st.session_state["ro_policy"] = key
    st.session_state["_ro_url"] = wanted
with st.container(horizontal=True):
    chosen = st.selectbox(
        f"Report-only policies ({len(keys)})", keys, format_func=lambda k: labels[k], key="ro_policy"
    )
    days = st.selectbox(
        "Last", DAY_CHOICES, index=DAY_CHOICES.index(DEFAULT_DAYS), format_func=lambda d: f"{d} days"
    )
tenant_id, policy_id = chosen.split("/", 1)
st.query_params["tenant"], st.query_params["policy"] = tenant_id, policy_id
st.session_state["_ro_url"] = (tenant_id, policy_id)

now = sd.minute(data.utcnow())
impact = idata.impact(tenant_id, policy_id, now, days)
if impact is None:
    st.warning("That policy is no longer among the tenant's collected policies: collect again.")
    st.stop()

# What changes when this goes On, in one sentence, coloured by who it would lock out.
sentence = plain(impact.sentence())
if impact.lockout_roles:
    st.error(sentence, icon=":material/lock:")
elif impact.flagged.get(TECHNICIAN):
    st.warning(sentence, icon=":material/warning:")
else:
    st.info(sentence, icon=":material/preview:")
for reason in impact.thin_evidence(now):
    st.caption(f"Thin evidence: {plain(reason)}.")

with st.container(horizontal=True):
    st.metric("Would have blocked", f"{impact.blocked:,}")
    st.metric("Would have interrupted", f"{impact.interrupted:,}")
    st.metric("Users", f"{len(impact.users):,}")
    st.metric("Sign-ins it applied to", f"{impact.applied:,}")

flagged_rows = [
    {"Who": role, "User": upn, "Lockout": "yes" if role in LOCKOUT_ROLES else ""}
    for role in ROLE_ORDER
    for upn in impact.flagged.get(role, ())
]
if flagged_rows:
    st.subheader("People who matter")
    table(flagged_rows, hide_index=True, key="ro_flagged")

if impact.range_offers:
    st.subheader("Technicians blocked outside the trusted location")
    for offer in impact.range_offers:
        with st.container(border=True):
            st.markdown(
                f"{offer.count} sign-in(s) of {plain(', '.join(offer.users))} from **{plain(offer.ip)}**, "
                f"outside '{plain(offer.location_name)}'. Only if {plain(offer.ip)} is an office egress IP: "
                f"add {plain(offer.cidr)} to the trusted location."
            )
            fix_panel(
                FixRequest(FIX_TRUSTED_RANGE, tenant_id, offer.location_id, ranges=(offer.cidr,)),
                key=f"ro-loc1-{offer.ip}",
            )

if impact.timeline:
    st.subheader("Timeline" + (" (hourly)" if impact.hourly else " (daily)"))
    st.bar_chart(
        pd.DataFrame([{"When": b, "Blocked": n, "Interrupted": i} for b, n, i in impact.timeline]).set_index(
            "When"
        ),
        height=220,
    )

if impact.total:
    left, right = st.columns(2)
    with left:
        st.markdown("**Users**")
        table(idata.count_rows(impact.users[:20], "User", with_role=True), hide_index=True, key="ro_users")
        st.markdown("**IPs**")
        table(idata.count_rows(impact.ips, "IP"), hide_index=True, key="ro_ips")
    with right:
        st.markdown("**Apps**")
        table(idata.count_rows(impact.apps, "App"), hide_index=True, key="ro_apps")
        st.markdown("**Countries**")
        table(idata.count_rows(impact.countries, "Country"), hide_index=True, key="ro_countries")
    st.subheader("Sign-ins")
    if impact.total > len(impact.newest):
        st.caption(f"The newest {len(impact.newest):,} of {impact.total:,}; every one is counted above.")
    table(idata.signin_rows(impact), hide_index=True, key="ro_signins")
