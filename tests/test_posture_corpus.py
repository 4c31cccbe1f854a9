"""Every reader of policies takes the 151 real published policies of ../shared/ca-policy-corpus/.

They go through the posture engine (in the MSP tenant, a GDAP client and a direct client) and through
catalogue v2's shared rules one by one: no traceback, and the verdicts Graph's semantics give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from posture_fixtures import (
    CLIENT_ID,
    DIRECT_ID,
    MSP_ID,
    SA_ID,
    STAFF_ID,
    client,
    good_snapshot,
    msp,
    tenant,
    with_direct_tenant,
)

from posture import PostureOptions, evaluate
from posture.graph import mfa_requirement, narrowings
from posture.snapshot import SnapshotError, decode_json_text
from posture.view import SnapshotView

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "ca-policy-corpus" / "policies"
if not CORPUS.is_dir():  # a checkout beside ../shared (the team's layout) or the shared copy itself
    CORPUS = Path("/work/shared/ca-policy-corpus/policies")


def load_corpus() -> tuple[dict[str, Any], list[str]]:
    """{file name: policy} of every readable file, and the files that are not valid JSON."""
    policies, unreadable = {}, []
    for path in sorted(CORPUS.glob("*.json")):
        try:
            doc = json.loads(decode_json_text(path.read_bytes(), path.name))  # the snapshot loader's reader
        except (SnapshotError, json.JSONDecodeError):
            unreadable.append(path.name)
            continue
        if isinstance(doc, dict) and isinstance(doc.get("PolicyConfig"), dict):  # an export wrapper
            doc = doc["PolicyConfig"]
        policies[path.name] = doc
    return policies, unreadable


POLICIES, UNREADABLE = load_corpus()


def by_name(fragment: str) -> dict[str, Any]:
    return next(p for name, p in POLICIES.items() if fragment in name)


def test_the_whole_corpus_is_read():
    assert len(POLICIES) + len(UNREADABLE) == 151
    assert len(UNREADABLE) == 1  # the file with a stray ']'


def test_every_corpus_policy_goes_through_the_posture_engine():
    snapshot = with_direct_tenant(good_snapshot())
    policies = list(POLICIES.values())
    for tenant_id in (MSP_ID, CLIENT_ID, DIRECT_ID):
        tenant(snapshot, tenant_id)["conditionalAccessPolicies"] += json.loads(json.dumps(policies))
    findings = evaluate(snapshot, PostureOptions())
    d1 = [f for f in findings if f.check == "D-1"]
    assert len(d1) >= 2 * len(policies)
    subjects = [f.subject.id for f in d1 if f.tenant_id == CLIENT_ID]
    assert all(subjects), "every policy has a subject id, templates included"
    templates = [s for s in subjects if s.startswith("no id #")]
    assert len(templates) == sum(1 for p in policies if not p.get("id")) > 100
    assert len(set(templates)) == len(templates)
    assert not [f for f in findings if f.subject.id in templates and f.fix], "a template never gets a fix"
    assert all(f.as_dict() for f in findings)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_corpus_policy_through_the_shared_rules(name):
    policy = POLICIES[name]
    view = SnapshotView(good_snapshot(), PostureOptions())
    assert view.msp_tenant is not None
    ok, why = mfa_requirement(policy)
    assert isinstance(ok, bool) and why
    assert all(isinstance(n, str) and n for n in narrowings(policy))
    for user_id in (SA_ID, STAFF_ID):
        reach = view.msp_tenant.reach(policy, user_id)
        assert reach.reaches in (True, False, None) and reach.words


def test_corpus_verdicts_of_the_shared_rules():
    # CIPP's own template: block, All apps, all four client app types -> full coverage, never MFA
    prevent = by_name("0b29acec-PreventExternalAccess")
    assert narrowings(prevent) == [] and mfa_requirement(prevent)[0] is False


def _d1_in_a_client(policy: dict[str, Any], **changes: Any):
    snapshot = good_snapshot()
    doc = {**json.loads(json.dumps(policy)), "id": "corpus-policy", **changes}
    client(snapshot)["conditionalAccessPolicies"] = [doc]
    return next(
        f for f in evaluate(snapshot, PostureOptions()) if f.check == "D-1" and f.tenant_id == CLIENT_ID
    )


def test_corpus_stringified_external_tenants_is_unreadable_never_a_pass():
    finding = _d1_in_a_client(by_name("0b29acec-PreventExternalAccess"))
    assert finding.status == "fail" and "unreadable externalTenants" in finding.message


def test_corpus_report_only_state_outside_graphs_set_is_not_enforced():
    reports = [p for p in POLICIES.values() if isinstance(p, dict) and p.get("state") == "reportOnly"]
    assert reports
    finding = _d1_in_a_client(reports[0])
    assert finding.status == "n/a" and "'reportOnly'" in finding.message


def test_corpus_application_none_applies_to_nobody():
    nones = [
        p
        for p in POLICIES.values()
        if isinstance(p, dict)
        and "None" in json.dumps(p.get("conditions", {}).get("applications", {}).get("includeApplications"))
    ]
    for policy in nones:
        finding = _d1_in_a_client(policy, state="enabled")
        assert finding.status == "n/a", finding.message


def test_corpus_mfa_for_everyone_policies_are_read_by_the_rule():
    snapshot = good_snapshot()
    client(snapshot)["conditionalAccessPolicies"] = [
        {**json.loads(json.dumps(p)), "state": "enabled"} for p in POLICIES.values() if isinstance(p, dict)
    ]
    finding = next(
        f for f in evaluate(snapshot, PostureOptions()) if f.check == "MFA-3" and f.tenant_id == CLIENT_ID
    )
    assert finding.status in ("pass", "warn", "fail") and isinstance(finding.evidence["notCounted"], list)
    assert msp(good_snapshot())
