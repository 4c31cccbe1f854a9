"""The home page's data (pages/tenants.py): one row per tenant with what a manager asks first — the
posture score in words, failing critical findings, blocked sign-ins in the last 24 hours, MFA
coverage, data freshness — worst first, with links to the tenant on every page.

:func:`tenant_health` is pure (tested on its own); the loaders around it are cached like ui.data's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from db.mfa_store import mfa_coverage_latest
from db.signin_aggregates import counts_by_tenant
from db.signin_scope import Scope
from investigate.filters import Filters
from posture import Finding
from posture.scoring import score_band, score_in_words
from posture.summary import tenant_scores
from ui import data
from ui.chrome import humanize_age

HOME_TTL_S = 30
DAY = timedelta(hours=24)

# The pages a tenant's row links to, each filtered to that tenant by ?tenant=<id>: (page, link text).
# The Collectors page has no tenant filter yet, so a row does not pretend to link to its part of it.
TENANT_PAGES = (
    ("signins", "Sign-ins"),
    ("posture", "Posture"),
    ("mfa", "MFA"),
    ("changes", "Changes"),
    ("collectors", "Collectors"),
)


@dataclass(frozen=True)
class TenantHealth:
    tenant_id: str
    name: str
    domain: str
    role: str  # 'msp' or 'client'
    access_mode: str  # 'gdap' or 'direct' ('—' for the MSP)
    score: float | None  # posture score (accepted risks count half), None: not scored
    critical: int  # failing critical findings (an accepted one is not failing)
    blocked_24h: int  # blocked sign-ins in the last 24 hours (investigate.codes.BLOCKED_CODES)
    mfa_capable: float | None  # share of enabled members who are MFA capable; None: not recorded
    freshness: str  # the tenant's data freshness in words
    failing_sources: int

    @property
    def score_words(self) -> str:
        return score_in_words(self.score)

    @property
    def band(self) -> str:
        return score_band(self.score)


def freshness_words(row: Mapping[str, Any]) -> str:
    """A tenant's freshness from its ui.data.tenant_rows row: failing sources first (a failing source is
    never fresh), then standing states, then the oldest source's age; sources a tenant without Entra ID
    P1 cannot serve are said after it."""
    not_licensed = f" · {row['notLicensed']} not licensed" if row.get("notLicensed") else ""
    if row["failing"]:
        return f"{row['failing']} source(s) failing{not_licensed}"
    if row["consentNeeded"]:
        return "consent needed"
    if row["oldestAgeSeconds"] is None:
        return "never collected" + not_licensed
    oldest = f"oldest {humanize_age(row['oldestAgeSeconds'])} ago"
    if row["fresh"] == row["sources"]:
        return f"fresh ({oldest}){not_licensed}"
    if not row["fresh"]:
        return f"stale ({oldest}){not_licensed}"
    return f"{row['fresh']}/{row['sources']} sources fresh ({oldest}){not_licensed}"


def tenant_health(
    tenants: Sequence[Mapping[str, Any]],
    findings: Sequence[Finding],
    mfa: Mapping[str, tuple[int, int]],
    blocked: Mapping[str, int],
) -> list[TenantHealth]:
    """One row per tenant, worst first: most failing critical findings, then lowest score (not scored
    after scored), then name. ``mfa``: tenant → (enabled members, MFA capable); ``blocked``: tenant →
    blocked sign-ins in 24 h."""
    scores = tenant_scores(findings)
    critical: dict[str, int] = {}
    for finding in findings:
        if finding.status == "fail" and finding.severity == "critical":
            critical[finding.tenant_id] = critical.get(finding.tenant_id, 0) + 1
    rows = []
    for tenant in tenants:
        tenant_id = tenant["tenantId"]
        members, capable = mfa.get(tenant_id, (0, 0))
        rows.append(
            TenantHealth(
                tenant_id=tenant_id,
                name=tenant["name"],
                domain=tenant["domain"],
                role=tenant["role"],
                access_mode=tenant["accessMode"],
                score=scores.get(tenant_id),
                critical=critical.get(tenant_id, 0),
                blocked_24h=blocked.get(tenant_id, 0),
                mfa_capable=capable / members if members else None,
                freshness=freshness_words(tenant),
                failing_sources=int(tenant["failing"]),
            )
        )
    return sorted(
        rows,
        key=lambda r: (-r.critical, r.score is None, r.score if r.score is not None else 0, r.name.lower()),
    )


def tenant_link(page: str, tenant_id: str) -> str:
    """A link to ``page`` filtered to one tenant, relative to the app's root (where every page is)."""
    return f"./{page}?{urlencode({'tenant': tenant_id})}"


@st.cache_data(ttl=HOME_TTL_S, show_spinner=False)
def mfa_latest() -> dict[str, tuple[int, int]]:
    """tenant → (enabled members, MFA capable) of the latest recorded day."""
    with data.engine().connect() as conn:
        _, rows = mfa_coverage_latest(conn)
    return {r.tenant_id: (int(r.enabled_members), int(r.mfa_capable)) for r in rows}


@st.cache_data(ttl=HOME_TTL_S, show_spinner=False)
def blocked_last_day(tenant_ids: tuple[str, ...], now: datetime) -> dict[str, int]:
    """tenant → blocked sign-ins in the 24 hours before ``now``, as the Blocked sign-ins page counts
    them (its default filter; whole hours from the counters)."""
    with data.engine().connect() as conn:
        return counts_by_tenant(conn, Scope(Filters(), tenant_ids, now - DAY, now))


def home_rows() -> list[TenantHealth]:
    tenants = data.tenant_rows()
    _, findings = data.posture_findings()
    now = data.utcnow().replace(second=0, microsecond=0)  # one cache entry a minute
    blocked = blocked_last_day(tuple(t["tenantId"] for t in tenants), now)
    return tenant_health(tenants, findings, mfa_latest(), blocked)
