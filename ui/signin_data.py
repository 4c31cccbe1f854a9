"""Cached reads for the investigation, MFA and wall pages (ui.data holds the engine and the rest).

Every function is cached across sessions (`st.cache_data`), keyed by its arguments: pages pass times
rounded to the minute (the investigation) or to the refresh period (the wall), so ten wall screens
cost one set of queries per period.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import streamlit as st
from sqlalchemy import select

from collectors.status import fresh_limits
from db import mfa_store, queries
from db import signin_aggregates as agg
from db import signin_lists as lists
from db import signin_scope as scope_q
from db.models import Tenant
from db.posture_store import current_findings
from investigate.codes import BLOCKED, BLOCKED_MEANING
from investigate.explain import TenantContext
from investigate.filters import Filters
from investigate.wall import freshness, open_api_clients, signin_sources_behind
from ui import data

SIGNIN_TTL_S = 30
CONTEXT_TTL_S = 60
# Wall results are keyed by their refresh period, so an entry is never read again once its period is
# over: a bounded number of entries (every screen's period × tenant) and an hour's TTL only free memory.
WALL_CACHE_ENTRIES = 64
# The rankings the collector stores are used while younger than this (else ranked live).
RANKING_MAX_AGE = timedelta(minutes=30)
DIMS = ("code", "policy", "user", "ip", "app", "country")


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def epoch(moment: datetime) -> float:
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def tenant_directory() -> dict[str, dict[str, str]]:
    """Active tenants (the MSP first, then by name): id → name, role, access mode, domain."""
    with data.engine().connect() as conn:
        rows = conn.execute(
            select(
                Tenant.tenant_id, Tenant.display_name, Tenant.role, Tenant.access_mode, Tenant.default_domain
            )
            .where(Tenant.active)
            .order_by(Tenant.role != "msp", Tenant.display_name)
        ).all()
    return {
        tid: {"name": name or tid, "role": role, "accessMode": mode or "", "domain": domain or ""}
        for tid, name, role, mode, domain in rows
    }


def tenant_name(tenant_id: str) -> str:
    return tenant_directory().get(tenant_id, {}).get("name", tenant_id)


# --- the investigation ----------------------------------------------------------------------------


@st.cache_data(ttl=SIGNIN_TTL_S, show_spinner=False)
def investigation(filters: Filters, now: datetime, limit: int = 200) -> dict[str, Any]:
    """Everything the investigation page draws for ``filters`` at ``now`` (rounded by the caller)."""
    tenants = list(tenant_directory())
    msp = data.settings().msp_tenant_id
    with data.engine().connect() as conn:
        scope = scope_q.resolve_scope(conn, filters, now, tenants, msp)
        tops: dict[str, list[agg.TopValue]] = {}
        as_of: dict[str, datetime] = {}
        for dim in DIMS:
            stored = agg.stored_ranking(conn, scope, dim, RANKING_MAX_AGE)
            if stored is not None:
                as_of[dim], tops[dim] = stored
            else:
                tops[dim] = agg.top_values(conn, scope, dim)
        grain, timeline = agg.timeline(conn, scope)
        per_tenant = agg.counts_by_tenant(conn, scope)
        return {
            "start": scope.start,
            "end": scope.end,
            "tenants": len(scope.tenants),  # searched
            "tenantsWithMatches": len(per_tenant),
            "count": sum(per_tenant.values()),
            "grain": grain,
            "timeline": timeline,
            "top": tops,
            "asOf": as_of,
            "places": agg.places(conn, scope),
            "rows": lists.failed_signins(conn, scope, limit),
            "cidrAddresses": scope.cidr_addresses,
        }


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def filter_choices(now: datetime) -> agg.FilterOptions:
    with data.engine().connect() as conn:
        return agg.filter_options(conn, list(tenant_directory()), now - timedelta(days=30))


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def signin(signin_id: str) -> tuple[str, dict[str, Any]] | None:
    with data.engine().connect() as conn:
        return lists.signin_raw(conn, signin_id)


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def tenant_contexts(tenant_ids: tuple[str, ...]) -> dict[str, TenantContext]:
    """What explains a sign-in of each tenant: its policies and named locations (as collected)."""
    settings = data.settings()
    directory = tenant_directory()
    ids = tuple(dict.fromkeys(tenant_ids))
    with data.engine().connect() as conn:
        objects = queries.tenant_objects(conn, ids, ("conditionalAccessPolicies", "namedLocations"))
        cipp_rows = queries.tenant_objects(conn, [settings.msp_tenant_id], ("cipp.tenants",)).get(
            (settings.msp_tenant_id, "cipp.tenants"), []
        )
    direct_upns = {
        str(r.get("customerId", "")).lower(): str(r.get("directTenantUserPrincipalName") or "")
        for r in cipp_rows
        if isinstance(r, dict)
    }
    out = {}
    for tenant_id in ids:
        entry = directory.get(tenant_id, {})
        out[tenant_id] = TenantContext(
            tenant_id=tenant_id,
            tenant_name=entry.get("name", tenant_id),
            role=entry.get("role", "client"),
            access_mode=entry.get("accessMode") or "gdap",
            msp_tenant_id=settings.msp_tenant_id,
            service_account_upn=direct_upns.get(tenant_id.lower()) or settings.service_account_upn,
            policies=objects.get((tenant_id, "conditionalAccessPolicies")),
            named_locations=objects.get((tenant_id, "namedLocations")),
            trusted_location_names=frozenset(n.lower() for n in settings.trusted_location_names),
        )
    return out


# --- MFA ---------------------------------------------------------------------------------------------

MFA_CHECKS = ("MFA-1", "MFA-2", "MFA-3", "B-8")


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def mfa_overview(now: datetime, trend_days: int = 90) -> dict[str, Any]:
    """Latest coverage rows, the trend, the MFA findings (accepted risks applied) and the service
    account's sign-ins in the posture window."""
    settings = data.settings()
    window = timedelta(hours=settings.signin_window_hours)
    with data.engine().connect() as conn:
        day, rows = mfa_store.mfa_coverage_latest(conn)
        trend = mfa_store.mfa_trend(conn, (now - timedelta(days=trend_days)).date())
        findings = current_findings(conn, now, checks=MFA_CHECKS).findings
        account = lists.account_signins(
            conn,
            settings.msp_tenant_id,
            settings.service_account_upn,
            now - window,
            now + timedelta(minutes=1),
        )
    return {
        "day": day,
        "rows": [
            {
                c: getattr(r, c)
                for c in (
                    "tenant_id",
                    "enabled_members",
                    "mfa_capable",
                    "mfa_registered",
                    "admins",
                    "admins_capable",
                    "enforcement",
                    "enforcement_detail",
                )
            }
            | {"methods": mfa_store.registered_methods(r)}
            for r in rows
        ],
        "trend": trend,
        "findings": findings,
        "account": [asdict(a) for a in account],
    }


@st.cache_data(ttl=CONTEXT_TTL_S, show_spinner=False)
def mfa_tenant_trend(now: datetime, tenant_ids: tuple[str, ...], days: int = 90) -> list[tuple]:
    with data.engine().connect() as conn:
        return mfa_store.mfa_trend(conn, (now - timedelta(days=days)).date(), list(tenant_ids))


# --- the wall ----------------------------------------------------------------------------------------


@st.cache_data(ttl=3600, max_entries=WALL_CACHE_ENTRIES, show_spinner=False)
def wall(period_start: datetime, tenant_id: str | None) -> dict[str, Any]:
    """Every tile of the wall for the refresh period starting at ``period_start`` (shared by all screens
    in that period), for one tenant or (None) all of them. Counts, sparkline and the latest list are of
    blocked sign-ins (investigate.codes.BLOCKED_CODES: not wrong passwords), summed from the counters
    by code."""
    settings = data.settings()
    now = period_start
    tenants = [tenant_id] if tenant_id else list(tenant_directory())
    per_source, default = fresh_limits(settings)
    with data.engine().connect() as conn:
        counts = agg.blocked_counts(conn, tenants, now, BLOCKED)
        hourly = agg.hourly_failed(conn, tenants, now, 24, BLOCKED)
        policies = agg.top_blocking_policies(conn, tenants, now, 24, 5)
        day = scope_q.Scope(Filters(failures=BLOCKED), tuple(tenants), now - timedelta(hours=24), now)
        latest = lists.failed_signins(conn, day, 8)
        critical_now = current_findings(conn, now, statuses=("fail",), severity="critical")
        critical = critical_now.findings
        c1 = current_findings(conn, now, checks=("C-1", "C-2")).findings
        _day, mfa_rows = mfa_store.mfa_coverage_latest(conn)
        clients = queries.tenant_objects(conn, [settings.msp_tenant_id], ("cipp.apiClients",)).get(
            (settings.msp_tenant_id, "cipp.apiClients")
        )
        statuses = [s.as_dict() for s in queries.source_status(conn, now, per_source, default)]
    mine = [r for r in mfa_rows if tenant_id is None or r.tenant_id == tenant_id]
    if tenant_id:
        statuses = [s for s in statuses if s["tenantId"] == tenant_id]
    return {
        "now": now,
        "counts": counts,
        "hourly": hourly,
        "policies": policies,
        "latest": latest,
        "criticalTenants": sorted(
            {f.tenant_id for f in critical if tenant_id is None or f.tenant_id == tenant_id}
        ),
        "criticalFindings": len([f for f in critical if tenant_id is None or f.tenant_id == tenant_id]),
        "evaluatedAt": critical_now.evaluated_at,  # None: posture never evaluated yet
        "openClients": None if clients is None else open_api_clients(clients, c1),
        "mfa": (sum(r.mfa_capable for r in mine), sum(r.enabled_members for r in mine)),
        "freshness": freshness(statuses, settings.signin_interval_seconds),
        "signInSourcesBehind": signin_sources_behind(statuses),
        "blockedMeans": BLOCKED_MEANING,  # what the counts, the sparkline and the latest list count
    }
