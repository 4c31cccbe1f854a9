"""Alerts (operators): the rules with their thresholds, on/off and channels, the delivery settings, the
channels (masked) with a test send each, the open alerts and the history of what was sent."""

from __future__ import annotations

import streamlit as st

from posture.findings import SEVERITIES
from safetext.markdown import markdown_text
from ui import alerts_data, chrome, data
from ui.auth import current_identity
from ui.output import table

chrome.page_identity()
st.title("Alerts")
st.caption(
    "Rules are evaluated after every full collection; an alert is sent once when its condition starts "
    "holding and once more when it clears. Channels are Apprise URLs kept as secrets "
    "(PERIMETER_ALERT_CHANNELS or [perimeter.alert_channels] in .streamlit/secrets.toml): shown here "
    "by name and host only."
)

identity = current_identity()
if identity is None or not identity.is_operator:
    st.caption("Only an operator can configure alerts.")
    st.stop()

settings = data.settings()

st.subheader("Delivery")
st.write(alerts_data.quiet_hours_words())
st.write(
    f"At most {settings.alert_rate_limit_per_hour} messages per rule and channel an hour; the rest go "
    f"out together as one digest. A failing channel is retried with growing pauses, "
    f"{settings.alert_max_attempts} attempts at most. Weekly reports: day {settings.report_weekday} "
    f"(0 = Monday) from {settings.report_hour:02d}:00 {settings.alert_timezone}, for "
    f"{', '.join(settings.report_audiences) or 'nobody'}."
)

st.subheader("Channels")
channel_list = alerts_data.channels()
if not channel_list:
    st.info("No channel is configured: alerts are recorded but sent nowhere.")
for channel in channel_list:
    left, right = st.columns([5, 1])
    left.text(f"{channel.name} — {channel.shown}")
    if right.button("Send test", key=f"test-{channel.name}"):
        result = alerts_data.test_send(channel.name)
        if result.ok:
            st.success(f"Test message sent to {markdown_text(channel.name)}.")
        else:
            st.error(f"Test to {markdown_text(channel.name)} failed: {markdown_text(result.error or '')}")

st.subheader("Rules")
names = [c.name for c in channel_list]
for config in alerts_data.rules():
    rule = config.rule
    with st.form(f"rule-{rule.id}"):
        st.markdown(f"**{rule.title}** ({rule.severity}) · `{rule.id}`")
        st.caption(rule.rationale)
        enabled = st.toggle("Enabled", value=config.enabled)
        threshold = ""
        if rule.threshold_label and rule.id == "finding-regressed":
            threshold = st.selectbox(
                rule.threshold_label,
                SEVERITIES,
                index=SEVERITIES.index(config.threshold) if config.threshold in SEVERITIES else 1,
            )
        elif rule.threshold_label:
            threshold = st.text_input(rule.threshold_label, value=config.threshold)
        chosen = st.multiselect(
            "Channels (none chosen: all)",
            names,
            default=[c for c in config.channels if c in names],
        )
        if st.form_submit_button("Save"):
            problem = alerts_data.save_rule(rule.id, enabled, threshold, chosen)
            if problem:
                st.error(markdown_text(problem))
            else:
                st.success("Saved (recorded in the audit log).")

st.subheader("Open alerts")
current = alerts_data.current_alerts()
if not current:
    st.caption("Nothing is alerting now.")
else:
    tenants = data.tenant_names()
    table(
        [
            {
                "Rule": a.rule_id,
                "Tenant": tenants.get(a.tenant_id, a.tenant_id),
                "What": a.title,
                "Since": alerts_data.as_of(a.since),
                "Opened": alerts_data.as_of(a.opened_at),
            }
            for a in current
        ],
        hide_index=True,
    )

st.subheader("Sent, waiting and failed")
rows = alerts_data.history()
if not rows:
    st.caption("Nothing sent yet.")
else:
    table(rows, hide_index=True)
