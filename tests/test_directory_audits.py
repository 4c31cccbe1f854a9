"""The directoryAudits source (issue 16): Graph's directory audit entries of category Policy, read
incrementally like sign-ins, and what they say about a change: who made it and from where. The mapping
is tested on entries in Graph's documented shape; the collection against the simulator, whose writes
and demo drift are logged as audit entries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from collectors.run import collect_once
from connectors.pacing import LIMITS, Pacer
from db import open_database, write_transaction
from db.history import changes, directory_audit_row, store_directory_audits
from db.models import CollectionState, DirectoryAudit, PostureFinding
from fixes import Actor, FixEngine, FixRequest
from graphjson.times import parse_graph_datetime, utcnow
from investigate.diff import diff_words
from settings import load_settings
from simulator import SimConfig, Simulator
from simulator.audits import drift_tenants
from support import FIXED_NOW

TENANT = "11111111-2222-3333-4444-555555555555"
POLICIES = "identity/conditionalAccess/policies"
FIRST = FIXED_NOW
SECOND = FIXED_NOW + timedelta(minutes=15)
D1 = "client-policy.exclude-service-provider"
OPERATOR = Actor("alice@northwindmsp.onmicrosoft.com", ["Operator"])


def _entry(**overrides: Any) -> dict[str, Any]:
    """An entry as Microsoft's "List directoryAudits" reference shows one, for a CA policy update."""
    entry: dict[str, Any] = {
        "id": "Directory_0b5a1c2e-7f0d-4e1b-9a1f-31c7b2f1e2aa_ABC12_123456",
        "category": "Policy",
        "correlationId": "da159bfb-54fa-4092-8a38-6e1fa7870e30",
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "Update conditional access policy",
        "activityDateTime": "2026-11-22T12:02:31.3846817Z",
        "loggedByService": "Conditional Access",
        "operationType": "Update",
        "initiatedBy": {
            "app": None,
            "user": {
                "id": "728309ae-5a2e-4daa-9a30-3d2e6f2d2f1b",
                "displayName": None,
                "userPrincipalName": "pat@contoso.example",
                "ipAddress": "198.51.100.7",
            },
        },
        "targetResources": [
            {
                "id": "1A2B3C4D-0000-4000-8000-00000000000A",
                "displayName": "CA001 Require MFA",
                "type": "Policy",
                "modifiedProperties": [
                    {"displayName": "ConditionalAccessPolicy", "oldValue": "{}", "newValue": "{}"}
                ],
            }
        ],
        "additionalDetails": [],
    }
    entry.update(overrides)
    return entry


# --- the mapping ---


def test_a_users_entry_keeps_who_from_where_and_its_targets():
    row = directory_audit_row(TENANT, _entry())
    assert row is not None
    assert (row["initiated_by"], row["initiated_by_type"], row["initiated_from_ip"]) == (
        "pat@contoso.example",
        "user",
        "198.51.100.7",
    )
    assert row["target_ids"] == "1a2b3c4d-0000-4000-8000-00000000000a"
    assert (row["activity"], row["operation_type"], row["category"]) == (
        "Update conditional access policy",
        "Update",
        "Policy",
    )
    assert row["activity_at"].isoformat() == "2026-11-22T12:02:31.384681"


def test_an_apps_entry_is_attributed_to_the_app_by_name():
    app = {"appId": "a1", "displayName": "Contoso Automation", "servicePrincipalId": "sp1"}
    row = directory_audit_row(TENANT, _entry(initiatedBy={"user": None, "app": app}))
    assert row is not None
    assert (row["initiated_by"], row["initiated_by_type"], row["initiated_from_ip"]) == (
        "Contoso Automation",
        "app",
        "",
    )


@pytest.mark.parametrize(
    "broken", [{"id": None}, {"activityDateTime": "yesterday"}, {"activityDateTime": None}]
)
def test_an_entry_without_an_id_or_time_is_skipped(broken):
    assert directory_audit_row(TENANT, _entry(**broken)) is None


def test_an_entry_read_twice_is_stored_once(engine):
    with write_transaction(engine) as conn:
        store_directory_audits(conn, TENANT, [_entry()])
        offered, skipped, newest = store_directory_audits(conn, TENANT, [_entry(), _entry(id="other")])
        stored = conn.execute(select(func.count()).select_from(DirectoryAudit)).scalar()
    assert (offered, skipped, stored) == (2, 0, 2)
    assert newest is not None and newest.isoformat().startswith("2026-11-22T12:02:31")


# --- against the simulator ---


@pytest.fixture(scope="module")
def drifted(tmp_path_factory) -> Any:
    """Two full collections of the demo with, between them, a client admin's drift (the service-provider
    exclusion removed from a policy, logged with the admin's UPN) in one tenant and a PATCH through
    the Graph API with another tenant's token: (simulator, engine, drift tenant, drift entry, patched
    tenant, patched policy id)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('audits') / 'perimeter.db'}"
    with Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False)) as sim:
        engine = open_database(url)
        settings = load_settings(database_url=url, simulator_url=sim.url)
        first = collect_once(settings, engine, clock=lambda: FIRST)
        assert not first.errors, first.errors
        drift_tenant, patched_tenant = drift_tenants(7)[:2]
        sim.advance(300)
        entry = sim.drift_now(drift_tenant)
        assert entry is not None
        headers = {"Authorization": f"Bearer {Simulator.token(patched_tenant)}"}
        listed = httpx.get(f"{sim.url}/v1.0/{POLICIES}", headers=headers).json()["value"]
        policy = next(p for p in listed if p["state"] == "enabled")
        response = httpx.patch(
            f"{sim.url}/v1.0/{POLICIES}/{policy['id']}", json={"state": "disabled"}, headers=headers
        )
        assert response.status_code == 204, response.text
        sim.advance(300)
        second = collect_once(settings, engine, clock=lambda: SECOND)
        assert not second.errors, second.errors
        yield sim, engine, drift_tenant, entry, patched_tenant, policy
        engine.dispose()


def _change(engine, tenant_id: str) -> Any:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        [change] = changes(conn, FIRST, tenant_id=tenant_id)
    return change


def test_a_client_admins_change_becomes_a_version_with_its_diff(drifted):
    _sim, engine, tenant, entry, _patched, _policy = drifted
    change = _change(engine, tenant)
    assert change.version == 2 and change.seen_at == SECOND
    assert change.object_id == entry["targetResources"][0]["id"]
    assert "excluded guest/external types: internalGuest, serviceProvider removed" in diff_words(change.diff)


def test_the_admins_change_names_the_admin_and_where_from(drifted):
    _sim, engine, tenant, entry, _patched, _policy = drifted
    change = _change(engine, tenant)
    user = entry["initiatedBy"]["user"]
    assert (change.who, change.who_type, change.from_ip) == (
        user["userPrincipalName"],
        "user",
        user["ipAddress"],
    )


def test_a_write_through_the_graph_api_is_attributed_to_the_app(drifted):
    _sim, engine, _tenant, _entry, patched, policy = drifted
    change = _change(engine, patched)
    assert change.object_id == policy["id"]
    assert change.who_type == "app" and change.who
    assert diff_words(change.diff) == ["state: on → off"]


def test_the_regressed_d1_finding_names_the_admins_change(drifted):
    _sim, engine, tenant, entry, _patched, _policy = drifted
    policy_id = entry["targetResources"][0]["id"]
    with engine.connect() as conn:
        bodies = [orjson.loads(b) for b in conn.execute(select(PostureFinding.body)).scalars()]
    [d1] = [
        b
        for b in bodies
        if b["check"] == "D-1" and b["tenantId"] == tenant and b["subject"]["id"] == policy_id
    ]
    assert d1["status"] == "fail"
    assert d1["change"]["who"] == entry["initiatedBy"]["user"]["userPrincipalName"]
    assert d1["change"]["objectId"] == policy_id


def test_the_collection_stores_every_entry_of_its_window_once(drifted):
    sim, engine, tenant, _entry, _patched, _policy = drifted
    headers = {"Authorization": f"Bearer {Simulator.token(tenant)}"}
    served = httpx.get(
        f"{sim.url}/v1.0/auditLogs/directoryAudits", params={"$top": "1000"}, headers=headers
    ).json()["value"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(DirectoryAudit).where(DirectoryAudit.tenant_id == tenant)
        ).scalar()
    since = FIRST - timedelta(hours=load_settings().signin_initial_lookback_hours)  # the first read's start
    read = [e for e in served if parse_graph_datetime(e["activityDateTime"]) >= since]
    assert stored == len(read) >= 1


def test_a_tenant_without_p1_is_not_licensed_for_audits_as_for_sign_ins(drifted):
    _sim, engine, *_ = drifted

    def not_licensed(source: str) -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.execute(
                    select(CollectionState.tenant_id).where(
                        CollectionState.source == source, CollectionState.state == "not-licensed"
                    )
                ).scalars()
            )

    assert not_licensed("directoryAudits") == not_licensed("signIns") != set()


# --- Perimeter's own fix (after the tests above: it undoes the drift) ---


@pytest.fixture(scope="module")
def fixed(drifted) -> Any:
    """The D-1 fix applied by an operator to the drifted policy, then a third collection on the real
    clock (the fix engine stamps its audit record with it): (engine, tenant, the fix's audit id)."""
    sim, engine, tenant, entry, _patched, _policy = drifted
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(database_url=url, simulator_url=sim.url)
    fast = Pacer({family: ((10_000, 1.0), (10_000, 1.0)) for family in LIMITS})
    fx = FixEngine(settings, engine, pacer=fast)
    policy_id = entry["targetResources"][0]["id"]
    outcome = fx.apply(fx.plan(FixRequest(D1, tenant, policy_id)), OPERATOR, acknowledge_warnings=True)
    assert outcome.ok, outcome.message
    third = collect_once(settings, engine, clock=utcnow)
    assert not third.errors, third.errors
    return engine, tenant, outcome.audit_id


def test_a_change_made_by_perimeters_fix_names_the_operator(fixed):
    engine, tenant, audit_id = fixed
    with engine.connect() as conn:
        [change] = changes(conn, SECOND + timedelta(seconds=1), tenant_id=tenant)
    assert (change.who, change.who_type, change.fix_audit_id) == (
        f"Perimeter (operator {OPERATOR.name})",
        "perimeter",
        audit_id,
    )
    assert "excluded guest/external types: serviceProvider added" in diff_words(change.diff)
