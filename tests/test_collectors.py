"""Collectors against the simulator: real msgraph-sdk and httpx clients over loopback HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import unittest.mock

import httpx
import pytest
from sqlalchemy import func, select

from collectors.run import collect_once
from collectors.snapshot import build_snapshot
from collectors.status import status_rows
from connectors.graph import TenantGraph
from db import open_database, signin_pipeline
from db.models import CollectionRun, SignIn, Tenant
from db.queries import graph_objects
from db.store import signin_watermark
from support import FIXED_NOW, ROOT


def _clock():
    return FIXED_NOW


def _faults(sim, *faults: dict) -> None:
    httpx.post(f"{sim.url}/_sim/faults", json={"faults": list(faults)}).raise_for_status()


def _stats(sim) -> dict:
    return httpx.get(f"{sim.url}/_sim/stats").json()


def _signin_count(engine, tenant_id: str | None = None) -> int:
    query = select(func.count()).select_from(SignIn)
    if tenant_id:
        query = query.where(SignIn.tenant_id == tenant_id)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


@pytest.fixture(scope="module")
def collected(simulator, tmp_path_factory):
    """One full cycle of the whole demo MSP, shared by the read-only tests below."""
    from settings import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('full') / 'perimeter.db'}"
    settings = load_settings(database_url=url, simulator_url=simulator.url)
    engine = open_database(url)
    httpx.post(f"{simulator.url}/_sim/stats/reset")
    report = collect_once(settings, engine, clock=_clock)
    return settings, engine, report, _stats(simulator)


@pytest.fixture
def small_client(collected) -> str:
    """The smallest client tenant (cheap to collect again)."""
    _, engine, _, _ = collected
    with engine.connect() as conn:
        tenants = conn.execute(select(Tenant.tenant_id).where(Tenant.role == "client")).scalars().all()
        counts = dict(conn.execute(select(SignIn.tenant_id, func.count()).group_by(SignIn.tenant_id)).all())
    return min(tenants, key=lambda t: (counts.get(t, 0) == 0, counts.get(t, 0)))


def test_a_full_cycle_discovers_the_msp_and_every_client(collected):
    _, engine, report, _ = collected
    assert report.errors == []
    with engine.connect() as conn:
        roles = conn.execute(select(Tenant.role, func.count()).group_by(Tenant.role)).all()
    assert dict(roles)["msp"] == 1
    assert dict(roles)["client"] >= 25


def test_every_tenant_has_policies_locations_and_signins(collected):
    from simulator import demo

    _, engine, _, _ = collected
    with engine.connect() as conn:
        tenants = conn.execute(select(Tenant.tenant_id)).scalars().all()
        for tenant_id in tenants:
            if not demo.consented(tenant_id):  # nothing can be read there (test_collection_states)
                assert not graph_objects(conn, tenant_id, "conditionalAccessPolicies"), tenant_id
                continue
            assert graph_objects(conn, tenant_id, "conditionalAccessPolicies"), tenant_id
            assert graph_objects(conn, tenant_id, "securityDefaults"), tenant_id
            # Without Entra ID P1 the reports/ endpoints answer 403: not licensed, nothing stored
            licensed = demo.licensed_for_reports(tenant_id)
            assert bool(graph_objects(conn, tenant_id, "userRegistrationDetails")) == licensed, tenant_id
    assert _signin_count(engine) > 0


def test_cipp_clients_and_azure_configuration_are_collected(collected):
    settings, engine, _, _ = collected
    with engine.connect() as conn:
        clients = graph_objects(conn, settings.msp_tenant_id, "cipp.apiClients")
        config = graph_objects(conn, settings.msp_tenant_id, "cipp.azureConfiguration")
    assert any(isinstance(c, dict) and c.get("IPRange") == ["Any"] for c in clients)
    assert "Any" in clients  # CIPP's stray string is kept verbatim
    assert "ClientIDs" in config[0]


def test_a_full_cycle_stays_within_graphs_limits(collected):
    *_, stats = collected
    throttled = sum(n for per_family in stats["throttled"].values() for n in per_family.values())
    assert throttled == 0


def test_status_lists_every_tenant_fresh(collected):
    settings, engine, _, _ = collected
    rows = status_rows(settings, engine)
    # The cycle ran against a fixed clock in the past: judge freshness from that clock's view.
    assert {r["tenantId"] for r in rows} >= {settings.msp_tenant_id}
    assert not any(r["failing"] for r in rows)
    assert len({r["tenantId"] for r in rows}) >= 26


def test_collecting_twice_stores_each_signin_once(collected, sim, small_client):
    settings, engine, _, _ = collected
    before = _signin_count(engine, small_client)
    report = collect_once(settings, engine, signins_only=True, only_tenants={small_client}, clock=_clock)
    assert report.errors == []
    assert report.signins_stored > 0  # the overlap window was read again...
    assert _signin_count(engine, small_client) == before  # ...and stored nothing twice


def test_new_signins_are_collected_after_the_watermark(collected, sim, small_client):
    settings, engine, _, _ = collected
    before = _signin_count(engine, small_client)
    now = httpx.post(f"{sim.url}/_sim/clock", json={"advanceSeconds": 6 * 3600}).json()["now"]
    from graphjson.times import parse_graph_datetime

    later = parse_graph_datetime(now)
    collect_once(settings, engine, signins_only=True, only_tenants={small_client}, clock=lambda: later)
    assert _signin_count(engine, small_client) > before
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(SignIn.created_at)).where(SignIn.tenant_id == small_client)
        ).scalar()
    assert newest > FIXED_NOW


def _fresh_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    return url, open_database(url)


def _one_tenant_settings(simulator, url):
    from settings import load_settings

    return load_settings(database_url=url, simulator_url=simulator.url)


def _msp_signins_run(simulator, tmp_path, *faults):
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(simulator, url)
    _faults(simulator, *faults)
    report = collect_once(
        settings, engine, signins_only=True, only_tenants={settings.msp_tenant_id}, clock=_clock
    )
    return settings, engine, report


def test_paging_continues_across_an_empty_page_with_a_next_link(sim, tmp_path):
    _, engine_ok, _ = _msp_signins_run(
        sim,
        tmp_path / "a",
    )
    expected = _signin_count(engine_ok)
    settings, engine, report = _msp_signins_run(
        sim, tmp_path / "b", {"path": "/auditLogs/signIns", "count": 1, "kind": "emptyPage"}
    )
    assert report.errors == []
    assert _signin_count(engine) == expected > 0


def test_429_with_retry_after_is_retried(sim, tmp_path):
    settings, engine, report = _msp_signins_run(
        sim,
        tmp_path,
        {"path": "/auditLogs/signIns", "count": 1, "kind": "status", "status": 429, "retryAfter": 1},
    )
    assert report.errors == []
    assert _signin_count(engine) > 0
    assert _stats(sim)["faultsFired"] == 1


def test_503_is_retried(sim, tmp_path):
    settings, engine, report = _msp_signins_run(
        sim,
        tmp_path,
        {"path": "/auditLogs/signIns", "count": 1, "kind": "status", "status": 503, "retryAfter": None},
    )
    assert report.errors == []
    assert _signin_count(engine) > 0


def test_a_truncated_body_is_fetched_again(sim, tmp_path):
    settings, engine, report = _msp_signins_run(
        sim, tmp_path, {"path": "/auditLogs/signIns", "count": 1, "kind": "truncate"}
    )
    assert report.errors == []
    assert _signin_count(engine) > 0


def test_a_failed_page_keeps_what_was_stored_and_the_watermark(sim, tmp_path):
    settings, engine, report = _msp_signins_run(
        sim,
        tmp_path,
        {"path": "/auditLogs/signIns", "count": None, "rate": 1.0, "kind": "status", "status": 500},
    )
    assert len(report.errors) == 1 and "HTTP 500" in report.errors[0]
    with engine.connect() as conn:
        assert signin_watermark(conn, settings.msp_tenant_id) is None


def test_429_without_retry_after_on_conditional_access_is_retried(collected, sim, tmp_path, small_client):
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    _faults(
        sim,
        {
            "path": "/identity/conditionalAccess/policies",
            "tenant": small_client,
            "count": 1,
            "kind": "status",
            "status": 429,
            "retryAfter": None,
        },
    )
    report = collect_once(settings, engine, only_tenants={small_client}, clock=_clock)
    assert report.errors == []
    with engine.connect() as conn:
        assert graph_objects(conn, small_client, "conditionalAccessPolicies")


def test_a_source_failing_for_several_cycles_is_stale_since_its_first_failure(
    collected, sim, tmp_path, small_client
):
    from datetime import timedelta

    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    hours_ago = [lambda h=h: FIXED_NOW - timedelta(hours=h) for h in (2, 1, 0)]
    assert collect_once(settings, engine, only_tenants={small_client}, clock=hours_ago[0]).errors == []
    _faults(
        sim,
        {
            "path": "/identity/conditionalAccess/namedLocations",
            "tenant": small_client,
            "count": None,
            "rate": 1.0,
            "kind": "status",
            "status": 500,
        },
    )
    for clock in hours_ago[1:]:
        assert collect_once(settings, engine, only_tenants={small_client}, clock=clock).errors
    client = next(t for t in build_snapshot(settings, engine)["tenants"] if t["tenantId"] == small_client)
    status = client["sourceStatus"]["namedLocations"]
    assert status["state"] == "failing" and status["lastError"] == "2026-11-22T12:00:00Z"
    assert status["failingSince"] == "2026-11-22T11:00:00Z"  # the outage began then, not at the last retry
    assert "failingSince" not in client["sourceStatus"]["conditionalAccessPolicies"]


def test_a_revoked_tenant_is_isolated_and_recorded(collected, sim, tmp_path):
    _, full_engine, _, _ = collected
    with full_engine.connect() as conn:
        clients = (
            conn.execute(
                select(Tenant.tenant_id).where(Tenant.role == "client").order_by(Tenant.display_name).limit(3)
            )
            .scalars()
            .all()
        )
    revoked, others = clients[0], set(clients[1:])
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    _faults(sim, {"path": "/", "tenant": revoked, "count": None, "rate": None, "kind": "revoked"})
    report = collect_once(settings, engine, only_tenants={revoked, *others}, clock=_clock)
    failed_tenants = {e.split()[0] for e in report.errors}
    assert failed_tenants == {revoked}
    with engine.connect() as conn:
        errors = conn.execute(
            select(CollectionRun.source, CollectionRun.error).where(
                CollectionRun.tenant_id == revoked, CollectionRun.status == "error"
            )
        ).all()
        for other in others:
            assert graph_objects(conn, other, "conditionalAccessPolicies")
    assert errors and all("403" in error for _, error in errors)


def test_snapshot_export_has_format_version_1(collected):
    settings, engine, _, _ = collected
    snapshot = build_snapshot(settings, engine)
    assert snapshot["version"] == 1
    assert snapshot["msp"]["tenantId"] == settings.msp_tenant_id
    assert snapshot["msp"]["serviceAccountUpn"] == settings.service_account_upn
    msp = [t for t in snapshot["tenants"] if t["role"] == "msp"]
    assert len(msp) == 1 and "groups" in msp[0] and "directoryRoles" in msp[0]
    clients = [t for t in snapshot["tenants"] if t["role"] == "client"]
    assert {c["accessMode"] for c in clients} == {"gdap", "direct"}
    for c in clients:  # groups and roles from direct-mode clients only (D-1 direct reads them)
        collected_ok = c["sourceStatus"]["users"]["state"] == "ok"
        assert ("groups" in c and "directoryRoles" in c) == (c["accessMode"] == "direct" and collected_ok)
    for tenant in snapshot["tenants"]:
        for key in (
            "conditionalAccessPolicies",
            "namedLocations",
            "securityDefaults",
            "subscribedSkus",
            "users",
            "userRegistrationDetails",
            "signIns",
        ):
            # A source in a standing state (not licensed, consent needed) is missing, and says why
            state = tenant["sourceStatus"][key]["state"]
            assert (key in tenant) == (state == "ok"), (tenant["displayName"], key, state)
    assert isinstance(snapshot["cipp"]["apiClients"], list)
    assert isinstance(snapshot["cipp"]["azureConfiguration"], dict)
    assert isinstance(snapshot["cipp"]["tenants"], list)
    json.dumps(snapshot)  # serialisable as is


def _cli(*args, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "collectors", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_status_json_and_export_snapshot(collected, tmp_path):
    settings, *_ = collected
    env = {"PERIMETER_DATABASE_URL": settings.database_url, "PERIMETER_SIMULATOR_URL": settings.simulator_url}
    status = _cli("status", "--format", "json", env_extra=env)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["summary"]["tenants"] >= 26 and data["summary"]["failing"] == 0
    out = tmp_path / "snap.json"
    export = _cli("export-snapshot", str(out), env_extra=env)
    assert export.returncode == 0, export.stderr
    assert json.loads(out.read_text())["version"] == 1


def test_cli_bad_setting_is_one_line_and_exit_2():
    result = _cli("status", env_extra={"PERIMETER_RETENTION_DAYS": "forever"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "collectors: setting PERIMETER_RETENTION_DAYS: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_cli_unwritable_snapshot_path_is_one_line(collected):
    settings, *_ = collected
    env = {"PERIMETER_DATABASE_URL": settings.database_url}
    result = _cli("export-snapshot", "/nonexistent/dir/snap.json", env_extra=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot write /nonexistent/dir/snap.json" in result.stderr


# --- members read whole (Graph expands at most 20, with no next link) ------------------------------


def _big_exclusion_group(monkeypatch):
    """The MSP with a 'CIPP Exclusions' group of 45 members whose 37th is the break-glass account,
    and 44 more Global Administrators: both lists are longer than Graph's 20 expanded members."""
    import dataclasses
    import uuid

    import simulator.graph
    from simulator import demo

    base = demo.directory(7, demo.MSP_TENANT_ID)
    template = next(p for p in base.people if p.kind == "staff")
    extra = [
        dataclasses.replace(
            template,
            id=str(uuid.UUID(int=i + 1)),
            upn=f"member{i}@{base.domain}",
            display_name=f"Member {i}",
            roles=(demo.GLOBAL_ADMIN_TEMPLATE_ID,),
            groups=set(),
        )
        for i in range(44)
    ]
    bg = base.by_upn[demo.BREAK_GLASS_UPNS[0]]
    members = [p.id for p in extra[:36]] + [bg.id] + [p.id for p in extra[36:]]
    group = demo.Group(
        str(uuid.UUID(int=4545)),
        "CIPP Exclusions",
        "Excluded from the technician block",
        members,
        "2024-01-01T00:00:00Z",
    )
    big = demo.Directory(
        base.tenant_id,
        base.domain,
        [*base.people, *extra],
        [*base.groups, group],
        base.role_ids,
        base.service_account,
    )
    real = simulator.graph._directory
    monkeypatch.setattr(
        simulator.graph,
        "_directory",
        lambda state, req: big if req.tenant_id == demo.MSP_TENANT_ID else real(state, req),
    )
    return group


@pytest.fixture
def msp_with_big_group(sim, tmp_path, monkeypatch):
    group = _big_exclusion_group(monkeypatch)
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    report = collect_once(settings, engine, only_tenants={settings.msp_tenant_id}, clock=_clock)
    assert report.errors == []
    msp = next(t for t in build_snapshot(settings, engine)["tenants"] if t["role"] == "msp")
    return group, msp


def test_a_group_of_45_is_read_whole_with_its_37th_member(msp_with_big_group):
    from simulator import demo

    group, msp = msp_with_big_group
    stored = next(g for g in msp["groups"] if g["id"] == group.id)
    assert [m["id"] for m in stored["members"]] == group.member_ids
    assert stored["members"][36]["userPrincipalName"] == demo.BREAK_GLASS_UPNS[0]


def test_a_directory_role_of_47_is_read_whole(msp_with_big_group):
    from simulator import demo

    _, msp = msp_with_big_group
    admins = next(r for r in msp["directoryRoles"] if r["roleTemplateId"] == demo.GLOBAL_ADMIN_TEMPLATE_ID)
    upns = {m["userPrincipalName"] for m in admins["members"]}
    assert len(upns) == 47 and demo.BREAK_GLASS_UPNS[0] in upns and "member43@" + demo.MSP_DOMAIN in upns


def test_members_are_never_expanded(sim, tmp_path):
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    requests: list[str] = []
    from connectors import graph as graph_module

    original = graph_module.TenantGraph._get_bytes

    async def logged(self, url):  # type: ignore[no-untyped-def]
        requests.append(url)
        return await original(self, url)

    with unittest.mock.patch.object(graph_module.TenantGraph, "_get_bytes", logged):
        report = collect_once(settings, engine, only_tenants={settings.msp_tenant_id}, clock=_clock)
    assert report.errors == []
    assert not any("expand" in u.lower() for u in requests)
    assert any(u.split("?")[0].endswith("/members") and "/groups/" in u for u in requests)
    assert any(u.split("?")[0].endswith("/members") and "/directoryRoles/" in u for u in requests)


# --- a failed discovery changes nothing ------------------------------------------------------------


def _active_clients(engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(select(Tenant.tenant_id).where(Tenant.role == "client", Tenant.active)).scalars()
        )


@pytest.fixture
def discovered(sim, tmp_path):
    """A database whose last discovery listed every client (the MSP collected once)."""
    url, engine = _fresh_engine(tmp_path)
    settings = _one_tenant_settings(sim, url)
    report = collect_once(settings, engine, only_tenants={settings.msp_tenant_id}, clock=_clock)
    assert not [e for e in report.errors if " tenants: " in e]
    assert len(_active_clients(engine)) >= 25
    return settings, engine


def _discovery_errors(engine, cycle_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(CollectionRun.error).where(
                    CollectionRun.cycle_id == cycle_id,
                    CollectionRun.source == "tenants",
                    CollectionRun.status == "error",
                )
            ).scalars()
        )


def test_cipps_error_row_deactivates_nothing_and_is_recorded(discovered, sim):
    settings, engine = discovered
    before = _active_clients(engine)
    with engine.connect() as conn:
        cipp_rows = graph_objects(conn, settings.msp_tenant_id, "cipp.tenants")
    _faults(sim, {"path": "/cipp/api/ListTenants", "kind": "listTenantsError", "message": "Access denied"})
    client = sorted(before)[0]
    report = collect_once(settings, engine, only_tenants={settings.msp_tenant_id, client}, clock=_clock)
    assert _active_clients(engine) == before
    errors = _discovery_errors(engine, report.cycle_id)
    assert len(errors) == 1 and "Failed to retrieve tenants: Access denied" in errors[0]
    with engine.connect() as conn:
        assert graph_objects(conn, settings.msp_tenant_id, "cipp.tenants") == cipp_rows  # not the error row
        collected = (
            conn.execute(
                select(CollectionRun.source).where(
                    CollectionRun.cycle_id == report.cycle_id, CollectionRun.tenant_id == client
                )
            )
            .scalars()
            .all()
        )
    assert "signIns" in collected  # known tenants are collected as before


def test_a_discovery_listing_no_client_while_some_are_known_changes_nothing(discovered, monkeypatch):
    from connectors.cipp import CippClient

    settings, engine = discovered
    before = _active_clients(engine)

    async def nothing(self):  # type: ignore[no-untyped-def]
        return []

    monkeypatch.setattr(CippClient, "tenants", nothing)
    report = collect_once(settings, engine, only_tenants=set(), clock=_clock)
    assert _active_clients(engine) == before
    assert "no client tenant listed" in _discovery_errors(engine, report.cycle_id)[0]


def test_a_successful_discovery_that_no_longer_lists_a_tenant_deactivates_it(discovered, monkeypatch):
    from connectors.cipp import CippClient

    settings, engine = discovered
    before = _active_clients(engine)
    real = CippClient.tenants
    leaving = sorted(before)[0]

    async def without_one(self):  # type: ignore[no-untyped-def]
        return [row for row in await real(self) if row["customerId"] != leaving]

    monkeypatch.setattr(CippClient, "tenants", without_one)
    report = collect_once(settings, engine, only_tenants=set(), clock=_clock)
    assert _discovery_errors(engine, report.cycle_id) == []
    assert _active_clients(engine) == before - {leaving}


def test_cipp_signin_app_ids_setting_is_a1s_cipp_app_and_a_cipp_api_app_id_alone_is_not(tmp_path):
    from posture_fixtures import MSP_ID, good_snapshot, msp

    from posture import evaluate
    from settings import load_settings, posture_options

    url, engine = _fresh_engine(tmp_path)
    real = {
        "database_url": url,
        "graph_client_id": "graph-app",
        "graph_client_secret": "s",
        "msp_tenant_id": MSP_ID,
        "cipp_api_url": "https://cipp.example",
        "cipp_app_id": "api-app",
        "cipp_client_id": "api-client",
        "cipp_client_secret": "x",
    }
    signin = load_settings(**real, cipp_signin_app_ids="swa-app, swa-app-2")
    assert posture_options(signin).cipp_app_ids == ("swa-app", "swa-app-2")
    assert build_snapshot(signin, engine)["msp"]["cippAppIds"] == ["swa-app", "swa-app-2"]

    api_only = load_settings(**real)
    assert posture_options(api_only).cipp_app_ids == ()
    assert build_snapshot(api_only, engine)["msp"]["cippAppIds"] == []
    snapshot = good_snapshot()
    technician_policy = msp(snapshot)["conditionalAccessPolicies"][0]
    technician_policy["conditions"]["applications"]["includeApplications"] = ["api-app"]
    verdict = next(f for f in evaluate(snapshot, posture_options(api_only)) if f.check == "A-1")
    assert verdict.status == "fail"
    snapshot["msp"]["cippAppIds"] = ["api-app"]  # the same id named as the sign-in app qualifies
    verdict = next(f for f in evaluate(snapshot, posture_options(api_only)) if f.check == "A-1")
    assert verdict.status == "pass"


def test_a_signin_page_the_database_refuses_fails_the_source_keeping_the_other_pages(sim, tmp_path):
    read_pages = TenantGraph.each_signin_page

    async def pages_of_100(graph, params, use):  # several pages from the MSP's few hundred sign-ins
        await read_pages(graph, {**params, "$top": "100"}, use)

    _, engine_ok, _ = _msp_signins_run(sim, tmp_path / "ok")
    everything = _signin_count(engine_ok)
    assert everything > 300
    real = signin_pipeline.write_transaction
    writes = []

    def second_page_refused(engine):
        writes.append(engine)
        if len(writes) == 2:
            raise OSError("disk I/O error")
        return real(engine)

    with (
        unittest.mock.patch.object(TenantGraph, "each_signin_page", pages_of_100),
        unittest.mock.patch.object(signin_pipeline, "write_transaction", second_page_refused),
    ):
        settings, engine, report = _msp_signins_run(sim, tmp_path / "refused")
    assert len(report.errors) == 1 and "disk I/O error" in report.errors[0]
    assert 0 < _signin_count(engine) < everything  # the pages before and after it are kept
    assert len(writes) > 2
    with engine.connect() as conn:
        assert signin_watermark(conn, settings.msp_tenant_id) is None  # read again next cycle
