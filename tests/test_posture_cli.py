"""`python -m posture check`: output shapes, exit statuses, one-line messages for unusable input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from posture_fixtures import API_CLIENT_ID, CLIENT_ID, MSP_ID, good_snapshot, msp

from posture import AcceptedRisk, PostureOptions
from support import ROOT


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "posture", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write(tmp_path, doc, name: str = "snap.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _failing_snapshot() -> dict:
    snapshot = good_snapshot()
    snapshot["cipp"]["apiClients"][0]["IPRange"] = ["Any"]
    return snapshot


def _assert_unusable(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posture: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_json_output_is_the_spec_document_and_exit_0_when_nothing_fails(tmp_path):
    result = _cli("check", _write(tmp_path, good_snapshot()), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["findings"]
    first = document["findings"][0]
    assert list(first) == ["check", "tenantId", "status", "severity", "subject", "message", "evidence", "fix"]
    assert (first["check"], first["tenantId"], first["status"], first["fix"]) == (
        "PRE-1",
        MSP_ID,
        "pass",
        None,
    )
    assert {f["status"] for f in document["findings"]} == {"pass"}


def test_exit_1_when_a_check_fails(tmp_path):
    result = _cli("check", _write(tmp_path, _failing_snapshot()), "--format", "json")
    assert result.returncode == 1, result.stderr
    failing = [f for f in json.loads(result.stdout)["findings"] if f["status"] == "fail"]
    assert [(f["check"], f["subject"]["id"], f["fix"]) for f in failing] == [
        ("C-1", API_CLIENT_ID, "api-client.set-ranges")
    ]


def test_a_warning_alone_exits_0(tmp_path):
    snapshot = good_snapshot()
    msp(snapshot)["conditionalAccessPolicies"][0]["state"] = "enabledForReportingButNotEnforced"
    assert _cli("check", _write(tmp_path, snapshot), "--format", "json").returncode == 0


def test_table_groups_by_tenant_and_ends_with_a_summary(tmp_path):
    result = _cli("check", _write(tmp_path, _failing_snapshot()), "--format", "table")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"Northwind MSP ({MSP_ID}): 1 fail")
    assert any(line.startswith(f"Tailspin Toys ({CLIENT_ID})") for line in lines)
    assert any(line.split()[:2] == ["FAIL", "C-1"] and "Perimeter collector" in line for line in lines)
    # B-9 are new in v2; D-3 (the lockout what-if) after it
    assert lines[-1] == "32 findings in 2 tenant(s): 1 fail, 1 n/a, 30 pass"


def test_cipp_app_id_option_reaches_a1(tmp_path):
    snapshot = good_snapshot()
    technician_policy = msp(snapshot)["conditionalAccessPolicies"][0]
    technician_policy["conditions"]["applications"]["includeApplications"] = ["app-1"]
    path = _write(tmp_path, snapshot)
    assert _cli("check", path, "--format", "json").returncode == 1
    assert _cli("check", path, "--format", "json", "--cipp-app-id", "app-1").returncode == 0


def test_invalid_json_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "tenants": [', encoding="utf-8")
    _assert_unusable(_cli("check", str(path)), str(path), "not valid JSON")


def test_a_missing_file_is_one_line(tmp_path):
    _assert_unusable(_cli("check", str(tmp_path / "absent.json")), "absent.json: no such file")


def test_a_directory_is_one_line(tmp_path):
    _assert_unusable(_cli("check", str(tmp_path)), "is a directory")


def test_a_wrong_version_names_the_field(tmp_path):
    _assert_unusable(_cli("check", _write(tmp_path, {"version": 2})), "snap.json: version: is 2")


def test_tenants_not_a_list_names_the_field(tmp_path):
    _assert_unusable(
        _cli("check", _write(tmp_path, {"version": 1, "tenants": "all"})),
        "snap.json: tenants: expected a list, got a string",
    )


def test_a_tenant_without_id_names_the_field(tmp_path):
    _assert_unusable(
        _cli("check", _write(tmp_path, {"version": 1, "tenants": [{"role": "msp"}]})),
        "tenants[0].tenantId: missing",
    )


def test_a_bad_setting_is_one_line_without_a_snapshot():
    _assert_unusable(
        _cli("check", env_extra={"PERIMETER_SIGNIN_WINDOW_HOURS": "a day"}), "PERIMETER_SIGNIN_WINDOW_HOURS"
    )


def test_an_empty_database_is_one_line_without_a_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _assert_unusable(_cli("check", env_extra={"PERIMETER_DATABASE_URL": url}), "nothing collected yet")


# --- accepted findings (in process: the file mode has no stored acceptances) -----------------------


@pytest.fixture
def accepted_c1(monkeypatch):
    """The CLI reading the failing snapshot with C-1's failure accepted."""
    import posture.__main__ as cli

    risk = AcceptedRisk(
        "C-1",
        MSP_ID,
        API_CLIENT_ID,
        "replaced next week",
        "megan@msp.example",
        datetime.now(UTC) + timedelta(days=7),
    )
    monkeypatch.setattr(cli, "_from_file", lambda path, ids: (_failing_snapshot(), PostureOptions(), [risk]))
    return cli


def test_an_accepted_failure_is_hidden_and_exits_0(accepted_c1, capsys):
    assert accepted_c1.main(["check", "snap.json", "--format", "json"]) == 0
    statuses = {f["status"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert statuses == {"pass", "n/a"}  # C-1 accepted; C-2 has no range to judge


def test_include_accepted_shows_it_and_still_exits_0(accepted_c1, capsys):
    assert accepted_c1.main(["check", "snap.json", "--format", "json", "--include-accepted"]) == 0
    [accepted] = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["status"] == "accepted"]
    assert (accepted["check"], accepted["evidence"]["acceptedFrom"]) == ("C-1", "fail")


def test_table_counts_hidden_accepted_findings(accepted_c1, capsys):
    accepted_c1.main(["check", "snap.json"])
    assert "1 accepted not shown (--include-accepted shows them)" in capsys.readouterr().out
