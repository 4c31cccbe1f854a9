"""Cached access to the database for pages. Results are cached across sessions (`st.cache_data`),
so ten wall screens cost one query per TTL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from collectors.status import CollectionHealth, ErrorGroup, error_groups, status_rows
from collectors.status import collection_health as summarize_collection
from db import open_database
from db.kiosk import kiosk_links as kiosk_link_list
from db.models import CollectRequest, KioskLink
from db.posture_store import CurrentFindings, accepted_risks, current_findings, daily_history
from db.queries import (
    active_tenants,
    graph_objects,
    pending_collect_request,
    recent_errors,
    signin_counts_by_tenant,
)
from graphjson.times import utcnow
from posture import Finding
from settings import Settings, get_settings

STATUS_TTL_S = 10
# Counting every stored sign-in reads the whole sign-in index (~0.25 s warm for 2.5 M sign-ins, seconds
# cold and at 10 M): only the Collectors page shows the counts, refreshed this often.
STORED_COUNTS_TTL_S = 300


@st.cache_resource
def engine() -> Engine:
    """One engine per dashboard process (migrations applied once)."""
    return open_database(get_settings().database_url)


def settings() -> Settings:
    return get_settings()


@st.cache_data(ttl=STORED_COUNTS_TTL_S, show_spinner=False)
def stored_signin_counts() -> dict[str, int]:
    """tenant → sign-ins stored (the Collectors page)."""
    with engine().connect() as conn:
        return signin_counts_by_tenant(conn)


@st.cache_data(ttl=STATUS_TTL_S, show_spinner=False)
def source_status_rows() -> list[dict[str, Any]]:
    return status_rows(get_settings(), engine(), utcnow())  # the pages' clock (pinned in tests)


def collection_health() -> CollectionHealth:
    """The one summary of collection (collectors.status.collection_health) of the cached status rows."""
    return summarize_collection(source_status_rows())


@st.cache_data(ttl=STATUS_TTL_S, show_spinner=False)
def tenant_rows() -> list[dict[str, Any]]:
    """One row per active tenant with its collection health."""
    statuses = source_status_rows()
    with engine().connect() as conn:
        tenants = active_tenants(conn)
    out = []
    for tenant in tenants:
        mine = [s for s in statuses if s["tenantId"] == tenant.tenant_id]
        health = summarize_collection(mine)  # the one rule: data sources only, standing states apart
        out.append(
            {
                "tenantId": tenant.tenant_id,
                "name": tenant.display_name,
                "domain": tenant.default_domain,
                "role": tenant.role,
                "accessMode": tenant.access_mode or ("—" if tenant.role == "msp" else "gdap"),
                "sources": health.sources,
                "fresh": health.fresh,
                "failing": health.failing,
                "oldestAgeSeconds": health.oldest_age_seconds,
                "lastError": next((s["lastError"] for s in mine if s["failing"]), None),
                # Standing states (collectors.states): the tenant refuses our app, or lacks Entra ID P1
                "consentNeeded": any(s["state"] == "consent needed" for s in mine),
                "notLicensed": sum(s["state"] == "not licensed" for s in mine),
            }
        )
    return out


@st.cache_data(ttl=STATUS_TTL_S, show_spinner=False)
def recent_error_groups(hours: int = 24) -> list[ErrorGroup]:
    """Collection errors of the last ``hours``, grouped by cause and host."""
    with engine().connect() as conn:
        return error_groups(recent_errors(conn, utcnow() - timedelta(hours=hours)))


def pending_request() -> CollectRequest | None:
    with engine().connect() as conn:
        return pending_collect_request(conn)


# --- posture ---------------------------------------------------------------------------------
POSTURE_TTL_S = 30


@st.cache_data(ttl=POSTURE_TTL_S, show_spinner=False)
def _current_findings(at: datetime) -> CurrentFindings:
    with engine().connect() as conn:
        return current_findings(conn, at)


def forget_findings() -> None:
    """After an acceptance or a revocation: the next read applies it."""
    _current_findings.clear()


def latest_evaluation() -> CurrentFindings:
    """The latest evaluation: its findings (accepted risks applied) and what it rests on, read at most
    every POSTURE_TTL_S; an acceptance or revocation clears the cache (ui.actions)."""
    now = utcnow()
    return _current_findings(now.replace(second=now.second - now.second % POSTURE_TTL_S, microsecond=0))


def posture_findings() -> tuple[datetime | None, list[Finding]]:
    """(evaluated at, the current findings: accepted risks applied): see latest_evaluation."""
    current = latest_evaluation()
    return current.evaluated_at, current.findings


@st.cache_data(ttl=POSTURE_TTL_S, show_spinner=False)
def posture_history(days: int) -> list[dict[str, Any]]:
    with engine().connect() as conn:
        return daily_history(conn, (utcnow() - timedelta(days=days)).date())


def kiosk_links() -> list[KioskLink]:
    with engine().connect() as conn:
        return kiosk_link_list(conn)


def tenant_names() -> dict[str, str]:
    return {r["tenantId"]: r["name"] for r in tenant_rows()}


def accepted_risk_rows() -> list[dict[str, Any]]:
    with engine().connect() as conn:
        return [
            {
                "id": r.id,
                "check": r.check_id,
                "tenantId": r.tenant_id,
                "subject": r.subject_name or r.subject_id,
                "reason": r.reason,
                "acceptedBy": r.accepted_by,
                "acceptedAt": r.accepted_at,
                "expiresAt": r.expires_at,
                "expired": r.expires_at <= utcnow(),
            }
            for r in accepted_risks(conn)
        ]


@st.cache_data(ttl=POSTURE_TTL_S, show_spinner=False)
def cipp_api_clients() -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """(API clients, Azure configuration) as CIPP returned them; None when never collected."""
    msp = get_settings().msp_tenant_id
    with engine().connect() as conn:
        clients = graph_objects(conn, msp, "cipp.apiClients")
        azure = graph_objects(conn, msp, "cipp.azureConfiguration")
    if not clients and not azure:
        return None, None
    return [c for c in clients if isinstance(c, dict)], (azure[0] if azure else None)
