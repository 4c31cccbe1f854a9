"""Data of the Report-only impact page (pages/report_only.py): the report-only policies across tenants
and one policy's impact (db.policy_outcomes.policy_impact, the same answer the switch-on fixes read),
cached briefly; and the rows the page's tables show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from db.policy_outcomes import ReportOnlyPolicy, policy_impact, report_only_policies
from investigate.impact import DEFAULT_DAYS, Count, Impact, People
from ui import data
from ui import signin_data as sd

CACHE_TTL_S = 60


def people() -> People:
    settings = data.settings()
    return People(
        settings.msp_tenant_id,
        settings.service_account_upn,
        frozenset(u.lower() for u in settings.break_glass_upns),
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def policies() -> list[ReportOnlyPolicy]:
    """Every collected report-only policy, the MSP's first, then by tenant name and policy name."""
    with data.engine().connect() as conn:
        return report_only_policies(conn, list(sd.tenant_directory()))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def impact(tenant_id: str, policy_id: str, now: datetime, days: int = DEFAULT_DAYS) -> Impact | None:
    settings = data.settings()
    with data.engine().connect() as conn:
        return policy_impact(
            conn,
            tenant_id,
            policy_id,
            now,
            people(),
            days,
            trusted_names={n.lower() for n in settings.trusted_location_names},
        )


def count_rows(counts: tuple[Count, ...], label: str, with_role: bool = False) -> list[dict[str, Any]]:
    rows = []
    for c in counts:
        row: dict[str, Any] = {label: c.value, "Sign-ins": c.count}
        if with_role:
            row["Who"] = c.role or ""
        rows.append(row)
    return rows


def signin_rows(found: Impact, limit: int = 500) -> list[dict[str, Any]]:
    return [
        {
            "Time (UTC)": s.created_at.strftime("%Y-%m-%d %H:%M"),
            "Would have": "blocked" if s.result == "reportOnlyFailure" else "interrupted",
            "User": s.user_principal_name,
            "Who": s.role or "",
            "App": s.app,
            "IP": s.ip,
            "Country": s.country,
        }
        for s in found.newest[:limit]
    ]
