"""Switching a policy On is gated by what it did in report-only (fixes.plans.switch_on_evidence), end to
end against the simulator: the sign-ins' outcomes in the engine's database are the evidence."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from test_fixes_engine import (
    MSP,
    OFFICE_IP,
    OPERATOR,
    POLICIES,
    THIN,
    Sim,
    _engine,
    _spare_service_account,
    tenant,
)

from db.store import ingest_signin_page
from fixes import FixEngine, FixRequest
from fixes.context import FixContext
from fixes.model import Plan, Target
from fixes.writes import guard
from graphjson.times import parse_graph_datetime
from simulator import SimConfig, Simulator, demo
from support import FIXED_NOW

REPORT_ONLY = "enabledForReportingButNotEnforced"
TECHNICIAN = "megan.bowen@northwindmsp.onmicrosoft.com"


@pytest.fixture
def fsim():
    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(fsim) -> Sim:
    return Sim(fsim)


def _report_only(sim: Sim, prefix: str) -> tuple[str, datetime]:
    """Put the MSP policy in report-only: (its id, when it was last changed)."""
    pid = sim.policy_id(MSP, prefix)
    sim.patch(MSP, f"{POLICIES}/{pid}", {"state": REPORT_ONLY})
    return pid, _modified(sim, pid)


def _modified(sim: Sim, pid: str) -> datetime:
    return parse_graph_datetime(sim.get(MSP, f"{POLICIES}/{pid}")["modifiedDateTime"])


def _signins(fx: FixEngine, pid: str, at: datetime, *outcomes: tuple[str, str, str]) -> None:
    """Sign-ins in the MSP tenant at ``at``: (UPN, IP, the policy's result) each."""
    ingest_signin_page(
        fx.db,
        MSP,
        [
            {
                "id": str(uuid.uuid4()),
                "createdDateTime": (at + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "userPrincipalName": upn,
                "appDisplayName": "CIPP",
                "ipAddress": ip,
                "status": {"errorCode": 0},
                "appliedConditionalAccessPolicies": [{"id": pid, "displayName": "p", "result": result}],
            }
            for i, (upn, ip, result) in enumerate(outcomes)
        ],
    )


def _fx(fsim, db_url: str, now: datetime) -> FixEngine:
    fx = _engine(fsim, db_url)
    fx.clock = lambda: now
    return fx


def test_switch_on_is_refused_when_the_policy_would_have_blocked_the_service_account(fsim, sim, db_url):
    pid, since = _report_only(sim, "CIPP - Block technicians")  # excludes break-glass, not CIPP's account
    fx = _fx(fsim, db_url, since + timedelta(days=3))
    _signins(
        fx,
        pid,
        since + timedelta(days=1),
        (demo.SERVICE_ACCOUNT_UPN, "52.160.1.1", "reportOnlyFailure"),
        (TECHNICIAN, OFFICE_IP, "reportOnlySuccess"),
    )
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.refusal.startswith(
        "in report-only, 'CIPP - Block technicians outside trusted location' would have blocked the "
        f"CIPP service account {demo.SERVICE_ACCOUNT_UPN} in the last 14 days"
    )
    assert plan.evidence["flagged"] == {"CIPP service account": [demo.SERVICE_ACCOUNT_UPN]}
    outcome = fx.apply(plan, OPERATOR, acknowledge_warnings=True)
    assert outcome.outcome == "refused"
    assert '"wouldBlock":1' in fx.audit_entry(outcome.audit_id).message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == REPORT_ONLY


def test_switch_on_is_allowed_once_the_service_account_is_excluded(fsim, sim, db_url):
    pid, since = _report_only(sim, "CIPP - Block technicians")
    fx = _fx(fsim, db_url, since + timedelta(days=3))
    _signins(
        fx,
        pid,
        since + timedelta(days=1),
        (demo.SERVICE_ACCOUNT_UPN, "52.160.1.1", "reportOnlyFailure"),
        (TECHNICIAN, OFFICE_IP, "reportOnlySuccess"),
    )
    _spare_service_account(sim, pid)
    fx.clock = lambda: since + timedelta(days=2)  # evidence since the first outcome, a day after
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.ready and not plan.warnings, (plan.refusal, plan.warnings)
    assert any(note.startswith("Evidence: Switched On,") for note in plan.notes)
    outcome = fx.apply(plan, OPERATOR)
    assert outcome.outcome == "applied", outcome.message
    record = fx.audit_entry(outcome.audit_id)
    assert '"signInsApplied":2' in record.message and '"reportOnlyHours":24.0' in record.message
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == "enabled"


def test_the_service_account_policy_is_not_switched_on_while_it_would_block_the_service_account(
    fsim, sim, db_url
):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")  # report-only; a compliant device, not MFA
    # It excludes a group the account is in: without that exclusion it reaches the account.
    sim.patch(MSP, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeGroups": []}}})
    since = _modified(sim, pid)
    fx = _fx(fsim, db_url, since + timedelta(days=5))
    _signins(fx, pid, since, (demo.SERVICE_ACCOUNT_UPN, "52.160.1.1", "reportOnlyFailure"))
    refusal = fx.plan(FixRequest("service-account-policy.enable", MSP, pid)).refusal
    assert refusal.startswith(
        "in report-only, 'CIPP service account (legacy)' would have blocked the CIPP service account "
        f"{demo.SERVICE_ACCOUNT_UPN}"
    )


def test_a_technician_it_would_have_blocked_needs_acknowledging_with_the_office_fix_named(fsim, sim, db_url):
    pid, since = _report_only(sim, "CIPP - Block technicians")
    _spare_service_account(sim, pid)
    since = _modified(sim, pid)
    fx = _fx(fsim, db_url, since + timedelta(days=2))
    _signins(fx, pid, since + timedelta(hours=5), (TECHNICIAN, "198.51.100.23", "reportOnlyFailure"))
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.ready
    assert plan.warnings == [
        "in report-only, 'CIPP - Block technicians outside trusted location' would have blocked 1 "
        f"sign-in(s) of 1 technician(s) ({TECHNICIAN}) in the last 14 days, from 198.51.100.23 outside "
        "the trusted location: add an office IP there first (LOC-1)"
    ]
    assert fx.apply(plan, OPERATOR).outcome == "refused"  # not acknowledged
    assert fx.apply(plan, OPERATOR, acknowledge_warnings=True).outcome == "applied"


def test_report_only_for_less_than_a_day_is_thin_evidence(fsim, sim, db_url):
    pid, since = _report_only(sim, "CIPP - Block technicians")
    _spare_service_account(sim, pid)
    since = _modified(sim, pid)
    fx = _fx(fsim, db_url, since + timedelta(hours=5))
    _signins(fx, pid, since, (TECHNICIAN, OFFICE_IP, "reportOnlySuccess"))
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.ready
    assert plan.warnings == [
        "thin evidence for switching 'CIPP - Block technicians outside trusted location' on: the policy "
        "has been in report-only for 5 h, under 24 h"
    ]


def test_no_signin_the_policy_applied_to_is_thin_evidence(fsim, sim, db_url):
    pid, since = _report_only(sim, "CIPP - Block technicians")
    _spare_service_account(sim, pid)
    fx = _fx(fsim, db_url, _modified(sim, pid) + timedelta(days=3))
    _signins(
        fx, pid, _modified(sim, pid) + timedelta(days=1), (TECHNICIAN, OFFICE_IP, "reportOnlyNotApplied")
    )
    plan = fx.plan(FixRequest("technician-policy.enable", MSP, pid, egress_ip=OFFICE_IP))
    assert plan.warnings == [
        "thin evidence for switching 'CIPP - Block technicians outside trusted location' on: it applied "
        "to no sign-in in the last 14 days"
    ]
    assert plan.evidence["signInsApplied"] == 0


def test_undoing_a_rollback_that_switches_a_policy_on_is_gated_by_its_report_only_evidence(fsim, sim, db_url):
    pid = sim.policy_id(MSP, "CIPP service account (legacy)")
    sim.patch(MSP, f"{POLICIES}/{pid}", {"conditions": {"users": {"excludeGroups": []}}})  # reaches CIPP
    fx = _fx(fsim, db_url, _modified(sim, pid) + timedelta(days=2))
    on = fx.apply(fx.plan(FixRequest("service-account-policy.enable", MSP, pid)), OPERATOR, **THIN)
    off = fx.rollback(on.audit_id, OPERATOR)
    assert (on.outcome, off.outcome) == ("applied", "rolled-back")
    back_in_report_only = _modified(sim, pid)
    _signins(fx, pid, back_in_report_only, (demo.SERVICE_ACCOUNT_UPN, "52.160.1.1", "reportOnlyFailure"))
    fx.clock = lambda: back_in_report_only + timedelta(days=2)
    again = fx.rollback(off.audit_id, OPERATOR, acknowledge_warnings=True)
    assert again.outcome == "refused"
    assert again.message.startswith(
        "in report-only, 'CIPP service account (legacy)' would have blocked the CIPP service account"
    )
    assert sim.get(MSP, f"{POLICIES}/{pid}")["state"] == REPORT_ONLY


def _client_switch_on(fx: FixEngine, tenant_id: str, policy: dict) -> Plan:
    """The engine's guard on a write that switches a client tenant's policy On (no fix does this yet:
    any later one, or a rollback, goes through this same guard)."""

    async def judge() -> Plan:
        async with FixContext(fx.settings, fx.db, fx.pacer, fx.clock) as ctx:
            path = f"{POLICIES}/{policy['id']}"
            plan = Plan(
                FixRequest("client-policy.enable", tenant_id, policy["id"]),
                "Switch a client policy on",
                f"Switch '{policy['displayName']}' on",
                Target("policy", policy["id"], policy["displayName"]),
                policy,
                {**policy, "state": "enabled"},
                [ctx.graph_call(tenant_id, "PATCH", path, {"state": "enabled"})],
            )
            await guard(ctx, plan)
            return plan

    return asyncio.run(judge())


def test_switching_a_client_policy_on_is_refused_when_it_would_have_blocked_the_msps_people(
    fsim, sim, db_url
):
    client = tenant("baseline_good")
    pid = sim.policies(client)[0]["id"]
    sim.patch(client, f"{POLICIES}/{pid}", {"state": REPORT_ONLY})
    policy = sim.get(client, f"{POLICIES}/{pid}")
    since = parse_graph_datetime(policy["modifiedDateTime"])
    fx = _fx(fsim, db_url, since + timedelta(days=3))
    ingest_signin_page(
        fx.db,
        client,
        [
            {
                "id": str(uuid.uuid4()),
                "createdDateTime": (since + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "userPrincipalName": TECHNICIAN,
                "homeTenantId": MSP,
                "crossTenantAccessType": "serviceProvider",
                "appDisplayName": "Microsoft Graph",
                "ipAddress": "52.160.1.1",
                "status": {"errorCode": 0},
                "appliedConditionalAccessPolicies": [{"id": pid, "result": "reportOnlyFailure"}],
            }
        ],
    )
    plan = _client_switch_on(fx, client, policy)
    assert plan.refusal and "would have blocked the MSP service-provider user" in plan.refusal
    assert TECHNICIAN in plan.refusal
    assert plan.evidence["flagged"] == {"MSP service-provider user": [TECHNICIAN]}
