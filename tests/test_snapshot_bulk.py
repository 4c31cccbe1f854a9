"""The snapshot is read in bulk (one query per kind of data for all tenants) and says exactly what the
per-tenant reading it replaced said: the same tenants, objects, sign-ins and order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, or_, select, update

from collectors.snapshot import build_snapshot
from connectors.sources import CIPP_WHAT_IF, SIGNINS, TENANT_SOURCES
from db import write_transaction
from db.models import SignIn, Tenant
from db.queries import active_tenants, collected_sources, graph_objects, latest_collection_at
from db.signin_raw import raw_json
from settings import load_settings
from support import collect_demo


@pytest.fixture(scope="module")
def collected(demo_database, simulator, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The demo's collection with one client tenant switched off: (settings, engine, that tenant)."""
    url, engine = collect_demo(demo_database, tmp_path_factory, "snapshot_bulk")
    with engine.connect() as conn:
        clients = conn.execute(
            select(Tenant.tenant_id).where(Tenant.role == "client").order_by(Tenant.display_name)
        ).scalars()
        inactive = next(iter(clients))
    with write_transaction(engine) as conn:
        conn.execute(update(Tenant).where(Tenant.tenant_id == inactive).values(active=False))
    return load_settings(database_url=url, simulator_url=simulator.url), engine, inactive


def per_tenant_tenants(settings, engine, signins: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The tenants as the snapshot read them before: a query per tenant and source, sign-ins per tenant
    (those of the same second by id: the order the bulk read defines, where the plan decided before).
    Names and the collection status are left out: they are read the same way as before."""
    with engine.connect() as conn:
        collected_at = latest_collection_at(conn)
        window_start = collected_at - timedelta(hours=settings.signin_window_hours)
        kinds = collected_sources(conn)
        tenants = []
        for tenant in active_tenants(conn):
            entry: dict[str, Any] = {"tenantId": tenant.tenant_id}
            for source in TENANT_SOURCES:
                if (tenant.tenant_id, source.name) in kinds:
                    objects = graph_objects(conn, tenant.tenant_id, source.name)
                    entry[source.name] = (objects[0] if objects else {}) if source.single else objects
            what_if = graph_objects(conn, tenant.tenant_id, CIPP_WHAT_IF)
            if what_if and isinstance(what_if[0], dict):
                entry[CIPP_WHAT_IF] = what_if[0]
            if (tenant.tenant_id, SIGNINS) in kinds:
                query = (
                    select(SignIn.raw)
                    .where(
                        SignIn.tenant_id == tenant.tenant_id,
                        SignIn.created_at >= window_start,
                        SignIn.created_at <= collected_at,
                    )
                    .order_by(SignIn.created_at.desc(), SignIn.id.desc())
                )
                if signins == "posture":  # the service account and the MSP's people
                    query = query.where(
                        or_(
                            func.lower(SignIn.home_tenant_id) == settings.msp_tenant_id.lower(),
                            func.lower(SignIn.cross_tenant_access_type) == "serviceprovider",
                            func.lower(SignIn.user_principal_name) == settings.service_account_upn.lower(),
                        )
                    )
                entry["signIns"] = [orjson.loads(raw_json(conn, raw)) for (raw,) in conn.execute(query)]
            tenants.append(entry)
    return tenants


def _without_names_and_status(tenant: dict[str, Any]) -> dict[str, Any]:
    left_out = {"displayName", "defaultDomainName", "role", "accessMode", "sourceStatus"}
    return {k: v for k, v in tenant.items() if k not in left_out}


@pytest.mark.parametrize("signins", ["window", "posture"])
def test_the_snapshot_read_in_bulk_equals_the_one_read_tenant_by_tenant(collected, signins):
    settings, engine, _ = collected
    bulk = build_snapshot(settings, engine, signins=signins)["tenants"]
    assert [_without_names_and_status(t) for t in bulk] == per_tenant_tenants(settings, engine, signins)
    assert sum(len(t.get("signIns", [])) for t in bulk) > 0  # the comparison covered sign-ins
    assert sum(len(t.get("users", [])) for t in bulk) > 0


def test_a_tenant_switched_off_is_left_out_of_the_bulk_read(collected):
    settings, engine, inactive = collected
    assert inactive not in {t["tenantId"] for t in build_snapshot(settings, engine)["tenants"]}


def test_each_tenant_s_sign_ins_stay_newest_first_those_of_one_second_by_id(collected):
    settings, engine, _ = collected
    for tenant in build_snapshot(settings, engine)["tenants"]:
        keys = [(s["createdDateTime"], s["id"]) for s in tenant.get("signIns", [])]
        assert keys == sorted(keys, reverse=True)
