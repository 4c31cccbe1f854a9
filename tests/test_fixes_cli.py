"""`python -m fixes`: exit statuses, one-line messages, and a fix applied and rolled back from a shell."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import datetime

import httpx
import pytest

from db import open_database, write_transaction
from db.posture_store import store_evaluation
from simulator import SimConfig, Simulator, demo
from support import FIXED_NOW, ROOT

MSP = demo.MSP_TENANT_ID
POLICIES = "identity/conditionalAccess/policies"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False))
    sim.start()
    url = f"sqlite:///{tmp_path_factory.mktemp('fixes-cli') / 'perimeter.db'}"
    open_database(url)
    try:
        yield {"PERIMETER_DATABASE_URL": url, "PERIMETER_SIMULATOR_URL": sim.url}
    finally:
        sim.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    return subprocess.run(
        [sys.executable, "-m", "fixes", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def graph_get(env: dict[str, str], tenant: str, path: str) -> dict:
    headers = {"Authorization": f"Bearer {Simulator.token(tenant)}"}
    return httpx.get(f"{env['PERIMETER_SIMULATOR_URL']}/v1.0/{path}", headers=headers).json()


def policy_id(env: dict[str, str], tenant: str, prefix: str) -> str:
    policies = graph_get(env, tenant, POLICIES)["value"]
    return next(p["id"] for p in policies if p["displayName"].startswith(prefix))


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *fragments: str) -> None:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fixes: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_plan_shows_the_request_and_the_diff_and_changes_nothing(env):
    tid = next(c.tenant_id for c in demo.client_tenants() if c.profile == "device_wrong_excl")
    pid = policy_id(env, tid, "CA005")
    result = cli(env, "plan", "client-policy.exclude-service-provider", "--tenant", tid, "--target", pid)
    assert result.returncode == 0, result.stderr
    assert f"Request: PATCH {env['PERIMETER_SIMULATOR_URL']}/v1.0/{POLICIES}/{pid}" in result.stdout
    flags = "b2bCollaborationGuest,b2bCollaborationMember,serviceProvider"
    assert f'+        "guestOrExternalUserTypes": "{flags}"' in result.stdout
    as_json = cli(
        env,
        "plan",
        "client-policy.exclude-service-provider",
        "--tenant",
        tid,
        "--target",
        pid,
        "--format",
        "json",
    )
    plan = json.loads(as_json.stdout)["plan"]
    assert plan["requests"][0]["method"] == "PATCH" and plan["refusal"] is None
    users = graph_get(env, tid, f"{POLICIES}/{pid}")["conditions"]["users"]
    assert "serviceProvider" not in users["excludeGuestsOrExternalUsers"]["guestOrExternalUserTypes"]


def test_apply_then_rollback_from_the_shell_and_both_are_in_the_audit_log(env):
    pid = policy_id(env, MSP, "CIPP service account (legacy)")
    # No sign-in history here: thin evidence for a switch-on, acknowledged (tests/test_switch_on_gate.py).
    applied = cli(
        env,
        "apply",
        "service-account-policy.enable",
        "--target",
        pid,
        "--yes",
        "--acknowledge-warnings",
        "--actor",
        "ops@msp",
    )
    assert applied.returncode == 0, applied.stderr
    last = applied.stdout.strip().splitlines()[-1]
    assert last.startswith("applied: Switch 'CIPP service account (legacy)' on")
    assert graph_get(env, MSP, f"{POLICIES}/{pid}")["state"] == "enabled"
    audit = json.loads(cli(env, "list", "--audit", "--format", "json").stdout)["audit"]
    record = next(a for a in audit if a["target"]["id"] == pid and a["outcome"] == "applied")
    assert record["actor"] == f"cli:{getpass.getuser()} as ops@msp"
    assert record["rollbackRefusal"] is None
    undone = cli(env, "rollback", str(record["id"]), "--yes", "--format", "json")
    assert undone.returncode == 0, undone.stderr
    outcome = json.loads(undone.stdout)["outcome"]
    assert outcome["outcome"] == "rolled-back" and outcome["rollbackOf"] == record["id"]
    assert graph_get(env, MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"
    text = cli(env, "list", "--audit").stdout
    assert f"rolled-back [rollback of #{record['id']}]" in text and " cli:" in text


def test_a_refusal_exits_1_with_the_reason_and_is_recorded(env):
    pid = policy_id(env, MSP, "OLD - Block CIPP")
    result = cli(
        env,
        "apply",
        "technician-policy.enable",
        "--target",
        pid,
        "--egress-ip",
        demo.MSP_OFFICE_IPS[0],
        "--yes",
    )
    assert result.returncode == 1
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("refused: 'OLD - Block CIPP off-network' does not exclude the break-glass account")
    assert "(audit #" in last
    assert graph_get(env, MSP, f"{POLICIES}/{pid}")["state"] == "disabled"
    plan = cli(env, "plan", "technician-policy.enable", "--target", pid)
    assert plan.returncode == 1 and "Refused: " in plan.stdout


def test_warnings_need_the_acknowledgement_flag(env):
    result = cli(env, "apply", "trusted-location.add-range", "--range", "100.0.0.0/8", "--yes")
    assert result.returncode == 1
    assert result.stdout.strip().endswith("(--acknowledge-warnings)")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ("apply", "api-client.set-ranges", "--target", "x", "--range", "203.0.113.5/24", "--yes"),
            ("'203.0.113.5/24' has host bits set: write 203.0.113.0/24",),
        ),
        (
            ("plan", "trusted-location.add-range", "--range", "0.0.0.0/0"),
            ("'0.0.0.0/0' allows every address",),
        ),
        (("plan", "no-such-fix"), ("unknown fix 'no-such-fix'",)),
        (("plan", "client-policy.exclude-service-provider", "--target", "x"), ("needs --tenant",)),
        (("plan",), ("the following arguments are required: fix",)),
        (("rollback", "abc"), ("invalid int value: 'abc'",)),
        (("rollback", "999", "--yes"), ("there is no audit record #999",)),
        (
            ("plan", "technician-policy.enable", "--target", "x", "--egress-ip", "home"),
            ("'home' is not a valid IP address",),
        ),
        (
            ("plan", "technician-policy.enable", "--target", "0000-dead"),
            ("no Conditional Access policy 0000-dead",),
        ),
        (
            ("plan", "service-account-policy.enable", "--target", "../users"),
            ("'../users' is not a valid policy id",),
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(env, args, fragments):
    result = cli(env, *args)
    assert_one_line_error(result, 2, *fragments)
    assert result.stdout == ""


def test_apply_without_yes_needs_a_terminal(env):
    pid = policy_id(env, MSP, "CIPP service account (legacy)")
    result = cli(env, "apply", "service-account-policy.enable", "--target", pid, "--acknowledge-warnings")
    assert_one_line_error(result, 2, "stdin is not a terminal: pass --yes")
    assert graph_get(env, MSP, f"{POLICIES}/{pid}")["state"] == "enabledForReportingButNotEnforced"


def test_unusable_settings_are_one_line(env):
    result = cli({**env, "PERIMETER_DATABASE_URL": "not a url"}, "list")
    assert_one_line_error(result, 2, "PERIMETER_DATABASE_URL")


def test_list_shows_what_the_latest_findings_offer(env):
    finding = {
        "check": "A-3",
        "tenantId": MSP,
        "status": "warn",
        "severity": "high",
        "subject": {"type": "policy", "id": "p-1", "name": "CIPP - Block outside office (pilot)"},
        "message": "report-only",
        "evidence": {},
        "fix": "technician-policy.enable",
    }
    engine = open_database(env["PERIMETER_DATABASE_URL"])
    with write_transaction(engine) as conn:
        store_evaluation(
            conn,
            evaluated_at=datetime(2026, 11, 22),
            collected_at=datetime(2026, 11, 22),
            raw=[finding],
            with_accepted=[finding],
        )
    result = cli(env, "list")
    assert result.returncode == 0, result.stderr
    assert "A-3 warn" in result.stdout
    assert "python -m fixes apply technician-policy.enable --target p-1 --egress-ip YOUR_IP" in result.stdout
    offers = json.loads(cli(env, "list", "--format", "json").stdout)["offers"]
    assert offers[0]["fix"]["needsEgressIp"] is True and offers[0]["request"]["targetId"] == "p-1"


def test_the_cli_actor_is_the_os_user_plus_what_it_claims(env):
    pid = policy_id(env, MSP, "CIPP - Service account MFA every time")
    result = cli(
        env, "apply", "service-account-policy.enable", "--target", pid, "--yes", "--actor", "tech@msp"
    )  # already on: nothing to change, nothing recorded
    assert result.returncode == 0, result.stderr
    location = next(
        n
        for n in graph_get(env, MSP, "identity/conditionalAccess/namedLocations")["value"]
        if n["displayName"] == demo.TRUSTED_LOCATION_NAME
    )
    applied = cli(
        env,
        "apply",
        "trusted-location.add-range",
        "--target",
        location["id"],
        "--range",
        "66.171.43.9",
        "--yes",
        "--actor",
        "tech@msp",
        "--format",
        "json",
    )
    assert applied.returncode == 0, applied.stderr
    audit_id = json.loads(applied.stdout)["outcome"]["auditId"]
    audit = json.loads(cli(env, "list", "--audit", "--format", "json").stdout)["audit"]
    assert next(a for a in audit if a["id"] == audit_id)["actor"] == f"cli:{getpass.getuser()} as tech@msp"


def test_a_claimed_actor_cannot_hide_the_os_user_or_inject_control_characters(env):
    from fixes.model import Actor

    actor = Actor.cli("tech@msp\x1b[2J\nforged line")
    assert actor.name == f"cli:{getpass.getuser()} as tech@msp\\x1b[2J\\nforged line"
    assert Actor.cli(None).name == Actor.cli("  ").name == f"cli:{getpass.getuser()}"
    assert len(Actor.cli("x" * 1000).name) < 200


def test_rollback_takes_the_egress_ip_and_the_audit_json_says_which_records_cannot_be_rolled_back(env):
    location = next(
        n
        for n in graph_get(env, MSP, "identity/conditionalAccess/namedLocations")["value"]
        if n["displayName"] == demo.TRUSTED_LOCATION_NAME
    )
    applied = cli(
        env,
        "apply",
        "trusted-location.add-range",
        "--target",
        location["id"],
        "--range",
        "66.171.43.10",
        "--yes",
        "--format",
        "json",
    )
    audit_id = json.loads(applied.stdout)["outcome"]["auditId"]
    refused = cli(env, "rollback", str(audit_id), "--yes")
    assert refused.returncode == 1 and "state your egress IP" in refused.stdout
    undone = cli(env, "rollback", str(audit_id), "--yes", "--egress-ip", demo.MSP_OFFICE_IPS[0])
    assert undone.returncode == 0, (undone.stdout, undone.stderr)
    audit = {a["id"]: a for a in json.loads(cli(env, "list", "--audit", "--format", "json").stdout)["audit"]}
    assert audit[audit_id]["rollbackRefusal"].startswith(f"#{audit_id} was already rolled back by #")
    refusal = next(a for a in audit.values() if a["outcome"] == "refused")
    assert "changed nothing" in refusal["rollbackRefusal"]
